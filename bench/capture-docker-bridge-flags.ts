/**
 * Captures what a real Docker 20.10 (Debian docker.io) does with the daemon
 * flags that shape the default bridge: `--mtu`, `--icc=false`,
 * `--ip-masq=false` and `--ip` (the default host address of published
 * ports). One dockerd in lab host 1 with all four; the default bridge's
 * inspect, a container's MTU, traffic between two containers and to the lab
 * world, published ports with and without an address, and the same on a
 * user-defined network (which of the flags reach it). Then the flags' own
 * errors and daemon.json's, each from a dockerd that exits while parsing
 * its command line or its configuration file.
 * Writes a markdown transcript and the same as JSON;
 * docs/reference/docker-20.10-bridge-flags.md is distilled from it.
 *
 *   node dist/bench/capture-docker-bridge-flags.js [--out DIR]
 *
 * All traffic goes to addresses inside the lab's namespaces. Everything is
 * removed in `finally`, and the machine's own namespace is compared before
 * and after.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCapture } from './lib/capture-run.js';

const FLAGS = ['--mtu', '1400', '--icc=false', '--ip-masq=false', '--ip', '127.0.0.1'];
const LOOP = ['sh', '-c', 'while true; do sleep 3600; done'];
const HTTPD = ['sh', '-c', 'echo hi > /index.html; exec httpd -f -p 80 -h /'];

runCapture({
  name: 'capture-docker-bridge-flags',
  title: 'Docker 20.10 default-bridge daemon flags: raw capture',
  hosts: 6,
  steps: async ({ lab, cap: c, dockerd, stopDockerd }) => {
    const host = lab.hosts[0]!;
    await dockerd(0, FLAGS);
    c.sec(`dockerd ${FLAGS.join(' ')}`);
    c.docker(['network', 'inspect', '-f', '{{json .Options}}', 'bridge']);
    c.ns('h1', ['ip', '-o', 'link', 'show', 'docker0']);

    c.sec('Two containers on the default bridge');
    c.docker(['run', '-d', '--name', 'ca', 'busybox', ...LOOP]);
    c.docker(['run', '-d', '--name', 'cb', 'busybox', ...LOOP]);
    const bIp = c.docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'cb']).stdout.trim();
    c.docker(['exec', 'ca', 'ip', '-o', 'link', 'show', 'eth0']);
    c.docker(['exec', 'ca', 'ping', '-c1', '-W2', bIp]);
    c.docker(['exec', 'ca', 'ping', '-c1', '-W2', '172.17.0.1']);
    c.docker(['exec', 'ca', 'ping', '-c1', '-W2', lab.world.ip]);
    c.ns('h1', ['iptables-save']);

    c.sec('Published ports on the default bridge');
    c.docker(['run', '-d', '--name', 'p1', '-p', '8080:80', 'busybox', ...HTTPD]);
    c.docker(['run', '-d', '--name', 'p2', '-p', '0.0.0.0:8081:80', 'busybox', ...HTTPD]);
    c.docker(['run', '-d', '--name', 'p3', '-P', '--expose', '80', 'busybox', ...HTTPD]);
    for (const p of ['p1', 'p2', 'p3']) c.docker(['port', p]);
    c.docker(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'p1']);
    c.ns('h1', ['ss', '-ltn']);

    c.sec('A user-defined network under the same flags');
    c.docker(['network', 'create', 'u1']);
    c.docker(['network', 'inspect', '-f', '{{json .Options}}', 'u1']);
    c.docker([
      'run',
      '-d',
      '--name',
      'cu',
      '--network',
      'u1',
      '-p',
      '8082:80',
      'busybox',
      ...HTTPD,
    ]);
    c.docker(['run', '-d', '--name', 'cv', '--network', 'u1', 'busybox', ...LOOP]);
    c.docker(['exec', 'cu', 'ip', '-o', 'link', 'show', 'eth0']);
    c.docker(['exec', 'cv', 'ping', '-c1', '-W2', 'cu']);
    c.docker(['exec', 'cv', 'ping', '-c1', '-W2', lab.world.ip]);
    c.docker(['port', 'cu']);
    c.docker([
      'network',
      'create',
      '-o',
      'com.docker.network.bridge.host_binding_ipv4=127.0.0.2',
      'u2',
    ]);
    c.docker([
      'run',
      '-d',
      '--name',
      'cw',
      '--network',
      'u2',
      '-p',
      '8083:80',
      'busybox',
      ...HTTPD,
    ]);
    c.docker(['port', 'cw']);

    const all = c.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
    if (all.length) c.docker(['rm', '-f', ...all], { quiet: true });
    c.docker(['network', 'rm', 'u1', 'u2'], { quiet: true });
    await stopDockerd();

    // The default bridge's address ranges, one dockerd at a time in its own host.
    for (const [i, args] of [
      [1, ['--ipv6', '--fixed-cidr-v6', 'fd00:9::/64', '--fixed-cidr', '172.17.5.0/24']],
      [2, ['--ipv6']],
      [3, ['--fixed-cidr', '10.9.0.0/24']],
      // Checked after the flags are parsed: a dockerd that might get that far
      // runs only as the others do (startRefDockerd keeps it in the lab).
      [4, ['--fixed-cidr', 'bogus']],
      [5, ['--ipv6', '--fixed-cidr-v6', 'bogus']],
    ] as const) {
      const h = lab.hosts[i]!;
      c.sec(`dockerd ${args.join(' ')} (in ${h.name})`);
      try {
        await dockerd(i, [...args]);
      } catch (e) {
        c.note(`dockerd ${args.join(' ')}`, `did not start: ${(e as Error).message}`);
        await stopDockerd();
        continue;
      }
      c.docker(['network', 'inspect', '-f', '{{.EnableIPv6}} {{json .IPAM}}', 'bridge']);
      c.ns(`h${i + 1}`, ['ip', 'addr', 'show', 'docker0']);
      for (const n of ['c1', 'c2']) c.docker(['run', '-d', '--name', n, 'busybox', ...LOOP]);
      c.docker([
        'inspect',
        '-f',
        '{{.NetworkSettings.IPAddress}}/{{.NetworkSettings.IPPrefixLen}} gw {{.NetworkSettings.Gateway}} v6 {{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} gw6 {{.NetworkSettings.IPv6Gateway}} mac {{.NetworkSettings.MacAddress}}',
        'c1',
        'c2',
      ]);
      c.docker(['exec', 'c1', 'ip', 'addr', 'show', 'eth0']);
      c.docker(['exec', 'c1', 'ip', '-6', 'route']);
      c.docker(['exec', 'c1', 'cat', '/etc/hosts']);
      c.docker(['network', 'inspect', '-f', '{{json .Containers}}', 'bridge']);
      const all2 = c.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
      if (all2.length) c.docker(['rm', '-f', ...all2], { quiet: true });
      await stopDockerd();
    }

    c.sec('Bad values: dockerd exits while parsing its flags');
    // Only values the flag parser itself refuses; the rest of the command
    // line keeps a dockerd that got further inside the lab's directory.
    const d = join(host.dir, 'bad');
    const contained = [
      ...['--data-root', join(d, 'data'), '--exec-root', join(d, 'run')],
      ...['-H', `unix://${join(d, 'sock')}`, '--pidfile', join(d, 'pid')],
    ];
    // daemon.json: a directive given twice, one dockerd does not know.
    const conf = (name: string, doc: object): string => {
      const p = join(host.dir, name);
      writeFileSync(p, JSON.stringify(doc));
      return p;
    };
    const both = conf('both.json', { bip: '10.2.0.1/24', debug: true });
    const unknown = conf('unknown.json', { foo: 1, 'not-a-key': 'x' });
    for (const bad of [
      ['--config-file', both, '--bip', '10.1.0.1/24', '-D'],
      ['--config-file', unknown],
      ['--config-file', join(host.dir, 'missing.json')],
      ['--mtu', 'abc'],
      ['--icc=maybe'],
      ['--ip', 'bogus'],
      ['--ip-masq=nope'],
    ]) {
      c.ns('h1', ['timeout', '10', 'dockerd', ...bad, ...contained]);
    }
  },
});
