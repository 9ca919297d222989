/**
 * Captures what a real Docker 20.10 (Debian docker.io) does on `docker
 * rename`: names in the embedded DNS (new, old, aliases), inspect, /etc/hosts,
 * refusals and their messages, --link children and parents renamed, a stopped
 * container, the rename event. One dockerd in lab host 1. Writes a markdown
 * transcript and the same as JSON (docs/reference/docker-20.10-rename*.md).
 *
 *   node dist/bench/capture-docker-rename.js [--out DIR]
 *
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after.
 */
import { runCapture } from './lib/capture-run.js';
runCapture({
  name: 'capture-docker-rename',
  title: 'Docker 20.10 container rename: raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd }) => {
    await dockerd(0);
    const LOOP = ['sleep', '3600'];
    c.sec('A container on a user network, renamed');
    c.docker(['network', 'create', 'rn']);
    c.docker([
      'run',
      '-d',
      '--name',
      'old1',
      '--network',
      'rn',
      '--network-alias',
      'al',
      'busybox',
      ...LOOP,
    ]);
    c.docker(['run', '-d', '--name', 'peer', '--network', 'rn', 'busybox', ...LOOP]);
    c.docker(['exec', 'peer', 'nslookup', 'old1']);
    c.docker(['rename', 'old1', 'new1']);
    c.docker(['exec', 'peer', 'nslookup', 'new1']);
    c.docker(['exec', 'peer', 'nslookup', 'old1']);
    c.docker(['exec', 'peer', 'nslookup', 'al']);
    c.docker(['inspect', '-f', '{{.Name}} {{json .NetworkSettings.Networks.rn.Aliases}}', 'new1']);
    c.docker(['network', 'inspect', '-f', '{{range .Containers}}{{.Name}} {{end}}', 'rn']);
    c.docker(['exec', 'new1', 'cat', '/etc/hosts']);
    c.docker(['exec', 'new1', 'hostname']);
    c.sec('Refusals');
    c.docker(['rename', 'new1', 'new1']);
    c.docker(['rename', 'new1', 'peer']);
    c.docker(['rename', 'new1', 'bad name!']);
    c.docker(['rename', 'nosuch', 'x2']);
    await c.api('POST', '/containers/new1/rename');
    await c.api('POST', '/containers/new1/rename?name=');
    c.sec('Links: the child renamed, then the parent');
    c.docker(['run', '-d', '--name', 'child', 'busybox', ...LOOP]);
    c.docker(['run', '-d', '--name', 'parent', '--link', 'child:ch', 'busybox', ...LOOP]);
    c.docker(['rename', 'child', 'child2']);
    c.docker(['exec', 'parent', 'cat', '/etc/hosts']);
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']);
    c.docker(['restart', 'parent']);
    c.docker(['exec', 'parent', 'cat', '/etc/hosts']);
    c.docker(['rename', 'parent', 'parent2']);
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent2']);
    c.sec('A stopped container; events');
    c.docker(['create', '--name', 'stopped1', 'busybox', 'true']);
    c.docker(['rename', 'stopped1', 'stopped2']);
    c.docker(['ps', '-a', '--format', '{{.Names}}']);
    c.docker([
      'events',
      '--since',
      '0',
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      'event=rename',
    ]);
  },
});
