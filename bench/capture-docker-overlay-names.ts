/**
 * Captures what Docker 20.10 (Debian docker.io, legacy multi-host mode on
 * etcd, set up as bench/capture-docker-overlay.ts does) does with names
 * that meet across hosts on one overlay network: a container name taken on
 * the other host (`run`, `network connect`, after the other one is gone),
 * an alias shared by containers on both hosts, and what each host's
 * resolver answers for them, also after a rename.
 * Writes docs/reference/docker-20.10-overlay-names-transcript.md (raw).
 *
 *   [BERTH_LAB_NAME=NAME] node dist/bench/capture-docker-overlay-names.js [--out DIR]
 */
import { runCapture } from './lib/capture-run.js';

const LOOP = ['sleep', '3600'];
const SLEEP = (ms: number) => new Promise((r) => setTimeout(r, ms));

runCapture({
  name: 'capture-docker-overlay-names',
  title: 'Docker 20.10 overlay networks: names across hosts (raw capture)',
  hosts: 2,
  steps: async ({ lab, cap: c, dockerd, on, etcd }) => {
    const e = await etcd(0);
    for (const [i, h] of lab.hosts.slice(0, 2).entries()) {
      await dockerd(
        i,
        [
          ...['-H', `tcp://${h.ip}:2375`],
          ...['--cluster-store', `etcd://${e.address}`, '--cluster-advertise', `${h.ip}:2375`],
        ],
        { hostname: `${lab.name}host${i + 1}` },
      );
    }
    await SLEEP(2000);
    /** `docker run -d --name NAME --network ov1 [extra] busybox sleep 3600` on the current host. */
    const run = (name: string, ...extra: string[]) =>
      c.docker(['run', '-d', '--name', name, '--network', 'ov1', ...extra, 'busybox', ...LOOP]);
    on(0);
    c.docker(['network', 'create', '-d', 'overlay', '--attachable', 'ov1']);
    run('c1', '--network-alias', 'al');
    on(1);
    run('c2', '--network-alias', 'al');

    c.sec("A container name the other host's container has on the network");
    run('c1');
    c.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    c.docker(['rm', '-f', 'c1']);
    c.docker(['run', '-d', '--name', 'c1', 'busybox', ...LOOP]);
    c.docker(['network', 'connect', 'ov1', 'c1']);
    c.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'c1']);
    c.docker(['rm', '-f', 'c1']);

    c.sec('An alias on both hosts');
    for (const [i, n] of [
      [0, 'c1'],
      [1, 'c2'],
    ] as const) {
      on(i);
      c.docker(['exec', n, 'nslookup', 'al']);
      c.docker(['exec', n, 'nslookup', 'c1']);
      c.docker(['exec', n, 'nslookup', 'c2']);
    }

    c.sec('The name again once the first container is gone');
    on(0);
    c.docker(['rm', '-f', 'c1']);
    await SLEEP(1000);
    on(1);
    run('c1');
    c.docker(['exec', 'c2', 'nslookup', 'c1']);
    c.docker(['network', 'inspect', '-f', '{{json .Containers}}', 'ov1']);

    c.sec('A container renamed: what the other host resolves');
    c.docker(['rename', 'c2', 'c2x']);
    await SLEEP(1000);
    c.docker(['exec', 'c2x', 'nslookup', 'c2x']);
    on(0);
    run('c3');
    c.docker(['exec', 'c3', 'nslookup', 'c2']);
    c.docker(['exec', 'c3', 'nslookup', 'c2x']);
    c.docker(['network', 'inspect', '-f', '{{json .Containers}}', 'ov1']);
    c.heading("Renamed to the other host's container's name");
    c.docker(['rename', 'c3', 'c1']);
    c.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    on(1);
    c.docker(['exec', 'c2x', 'nslookup', 'c1']);
  },
});
