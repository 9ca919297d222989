/**
 * Captures which host addresses a real Docker 20.10 (Debian docker.io)
 * publishes a port on for a container on a dual-stack network, by how the
 * binding names its address: none, 0.0.0.0, or :: — with the userland proxy
 * (the default) and without it. Writes a markdown transcript and the same as
 * JSON (docs/reference/docker-20.10-ipv6.md, "Published ports").
 *
 *   node dist/bench/capture-docker-v4-binding.js [--out DIR]
 */
import { runCapture } from './lib/capture-run.js';

const HTTPD = ['sh', '-c', 'echo hi > /index.html; exec httpd -f -p 80 -h /'];

runCapture({
  name: 'capture-docker-v4-binding',
  title: 'Docker 20.10 published addresses on a dual-stack network: raw capture',
  hosts: 2,
  steps: async ({ cap: c, dockerd, stopDockerd }) => {
    for (const [i, args] of [
      [0, []],
      [1, ['--userland-proxy=false']],
    ] as const) {
      await dockerd(i, [...args]);
      c.sec(`dockerd ${args.join(' ') || '(default flags)'}`);
      c.docker(['network', 'create', '--ipv6', '--subnet', 'fd00:1::/64', 'v6a']);
      const binds = [['8080:80'], ['0.0.0.0:8081:80'], ['[::]:8082:80'], ['127.0.0.1:8083:80']];
      for (const [k, [p]] of binds.entries()) {
        c.docker([
          'run',
          '-d',
          '--name',
          `p${k}`,
          '--network',
          'v6a',
          '-p',
          p!,
          'busybox',
          ...HTTPD,
        ]);
        c.docker(['port', `p${k}`]);
      }
      c.ns(`h${i + 1}`, ['ss', '-Hltn']);
      const all = c.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
      if (all.length) c.docker(['rm', '-f', ...all], { quiet: true });
      c.docker(['network', 'rm', 'v6a'], { quiet: true });
      await stopDockerd();
    }
  },
});
