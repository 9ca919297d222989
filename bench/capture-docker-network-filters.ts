/**
 * Captures how a real Docker 20.10 (Debian docker.io) filters networks:
 * `network ls --filter dangling=...` and `network prune --filter` with
 * until, label, label! and a filter prune does not take. One dockerd in lab
 * host 1. Writes a markdown transcript and the same as JSON; the findings are
 * in docs/reference/docker-20.10-networking.md ("Network filters").
 *
 *   node dist/bench/capture-docker-network-filters.js [--out DIR]
 *
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after.
 */
import { runCapture } from './lib/capture-run.js';
runCapture({
  name: 'capture-docker-network-filters',
  title: 'Docker 20.10 network filters: raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd }) => {
    await dockerd(0);
    c.sec('Networks: keepme (label keep=yes), unused, used (a container on it)');
    c.docker(['network', 'create', '--label', 'keep=yes', 'keepme']);
    c.docker(['network', 'create', 'unused']);
    c.docker(['network', 'create', 'used']);
    c.docker(['network', 'create', 'stopped']);
    c.docker(['run', '-d', '--name', 'user', '--network', 'used', 'busybox', 'sleep', '600']);
    c.docker(['create', '--name', 'idle', '--network', 'stopped', 'busybox', 'true']);
    const fmt = ['--format', '{{.Name}}'];
    c.sec('network ls --filter dangling');
    for (const v of ['true', '1', 'false', '0', 'maybe']) {
      c.docker(['network', 'ls', '--filter', `dangling=${v}`, ...fmt]);
    }
    await c.api('GET', '/networks?filters=' + encodeURIComponent('{"dangling":["true","false"]}'));
    c.sec('network prune --filter');
    c.docker(['network', 'prune', '-f', '--filter', 'until=1h']);
    c.docker(['network', 'prune', '-f', '--filter', 'until=yesterday']);
    c.docker(['network', 'prune', '-f', '--filter', 'until=1h', '--filter', 'until=2h']);
    c.docker(['network', 'prune', '-f', '--filter', 'name=unused']);
    c.docker(['network', 'prune', '-f', '--filter', 'dangling=true']);
    c.docker(['network', 'prune', '-f', '--filter', 'label!=keep=yes']);
    c.docker(['network', 'ls', ...fmt]);
    c.docker(['network', 'prune', '-f']);
    c.docker(['network', 'ls', ...fmt]);
  },
});
