/**
 * Captures what a real Docker 20.10 (Debian docker.io) does with
 * `-o com.docker.network.bridge.name=X` when a link named X already exists
 * (the loopback, its own docker0, another network's bridge, a veth the user
 * made, a bridge the user made, with and without an address) and at
 * `network rm` of such a network; the names and MTUs the kernel would
 * refuse (`.`, `..`, too long, `/`, spaces; MTU 99999999, 67, 0, -1, abc);
 * and `POST /networks/create` with a null, empty or non-object body.
 * One dockerd in lab host 1. Writes a markdown transcript and the same as
 * JSON; docs/reference/docker-20.10-bridge-name.md is distilled from it.
 *
 *   node dist/bench/capture-docker-bridge-name.js [--out DIR]
 *
 * Nothing leaves the lab. Everything is removed in `finally`, and the
 * machine's own namespace is compared before and after.
 */
import { runCapture } from './lib/capture-run.js';
import type { Capture } from './lib/capture.js';

const LOOP = ['sleep', '3600'];
const NAME = 'com.docker.network.bridge.name';
const MTU = 'com.docker.network.driver.mtu';

/** The links of lab host 1, one line each, and their addresses. */
function links(c: Capture): void {
  c.ns('h1', ['ip', '-o', 'link', 'show']);
  c.ns('h1', ['ip', '-br', 'addr', 'show']);
}

/** `docker network create -o bridge.name=<br> [more] <net>`. */
function createNamed(c: Capture, net: string, br: string, more: string[] = []): boolean {
  return c.docker(['network', 'create', '-o', `${NAME}=${br}`, ...more, net]).status === 0;
}

/** The same create at the API (API 1.41, as the CLI sends it), for its status. */
async function apiCreate(c: Capture, name: string, options: Record<string, string>): Promise<void> {
  await c.api('POST', '/networks/create', {
    Name: name,
    CheckDuplicate: true,
    Driver: 'bridge',
    Options: options,
  });
}

runCapture({
  name: 'capture-docker-bridge-name',
  title:
    'Docker 20.10 network create with an existing bridge name, bad names and MTUs: raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd }) => {
    const ref = await dockerd(0);
    const sock = ref.socket;
    c.sec('The host before');
    links(c);

    c.sec('bridge.name=lo (the loopback)');
    c.ns('h1', ['ip', '-d', 'link', 'show', 'lo']);
    await apiCreate(c, 'n-lo-api', { [NAME]: 'lo' });
    if (createNamed(c, 'n-lo', 'lo')) {
      c.docker(['network', 'inspect', '-f', '{{json .Options}} {{json .IPAM.Config}}', 'n-lo']);
      c.ns('h1', ['ip', '-d', 'addr', 'show', 'lo']);
      c.docker(['run', '-d', '--name', 'c-lo', '--network', 'n-lo', 'busybox', ...LOOP]);
      c.docker(['rm', '-f', 'c-lo']);
      c.docker(['network', 'rm', 'n-lo']);
    }
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'lo']);
    links(c);

    c.sec('bridge.name=docker0 (its own default bridge)');
    if (createNamed(c, 'n-d0', 'docker0')) {
      c.docker(['network', 'inspect', '-f', '{{json .Options}} {{json .IPAM.Config}}', 'n-d0']);
      c.ns('h1', ['ip', 'addr', 'show', 'docker0']);
      c.docker(['network', 'rm', 'n-d0']);
    }
    c.ns('h1', ['ip', 'addr', 'show', 'docker0']);
    c.docker(['run', '-d', '--name', 'c-def', 'busybox', ...LOOP]);
    c.docker(['exec', 'c-def', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    c.docker(['rm', '-f', 'c-def']);

    c.sec("Another docker network's bridge name");
    c.docker(['network', 'create', '-o', `${NAME}=ubr-a`, 'n-a']);
    createNamed(c, 'n-a2', 'ubr-a');
    await apiCreate(c, 'n-a2-api', { [NAME]: 'ubr-a' });
    c.docker(['network', 'create', 'n-b']);
    const bId = c.docker(['network', 'inspect', '-f', '{{.Id}}', 'n-b'], { quiet: true });
    const bBridge = `br-${bId.stdout.trim().slice(0, 12)}`;
    createNamed(c, 'n-b2', bBridge);
    c.docker(['network', 'ls', '--format', '{{.Name}}']);
    links(c);
    c.docker(['network', 'rm', 'n-a', 'n-b']);
    for (const n of ['n-a2', 'n-b2']) c.docker(['network', 'rm', n], { quiet: true });

    c.sec('A veth the user made');
    c.ns('h1', ['ip', 'link', 'add', 'vu0', 'type', 'veth', 'peer', 'name', 'vu1']);
    c.ns('h1', ['ip', 'link', 'set', 'vu0', 'up']);
    await apiCreate(c, 'n-veth-api', { [NAME]: 'vu0' });
    if (createNamed(c, 'n-veth', 'vu0')) {
      c.ns('h1', ['ip', '-d', 'addr', 'show', 'vu0']);
      c.docker(['run', '-d', '--name', 'c-veth', '--network', 'n-veth', 'busybox', ...LOOP]);
      c.docker(['rm', '-f', 'c-veth']);
      c.docker(['network', 'rm', 'n-veth']);
    }
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'vu0']);
    c.ns('h1', ['ip', '-d', 'link', 'show', 'vu1']);
    c.ns('h1', ['ip', 'link', 'del', 'vu0'], true);

    c.sec('A bridge the user made, without an address, down');
    c.ns('h1', ['ip', 'link', 'add', 'ubr0', 'mtu', '1400', 'type', 'bridge']);
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr0']);
    if (createNamed(c, 'n-u0', 'ubr0')) {
      c.docker(['network', 'inspect', '-f', '{{json .Options}} {{json .IPAM.Config}}', 'n-u0']);
      c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr0']);
      c.docker(['run', '-d', '--name', 'c-u0', '--network', 'n-u0', 'busybox', ...LOOP]);
      c.docker(['exec', 'c-u0', 'ip', '-o', 'addr', 'show', 'eth0']);
      c.docker(['exec', 'c-u0', 'ip', 'route']);
      c.ns('h1', ['ip', '-o', 'link', 'show', 'master', 'ubr0']);
      c.docker(['rm', '-f', 'c-u0']);
      c.docker(['network', 'rm', 'n-u0']);
    }
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr0']);
    c.ns('h1', ['ip', 'link', 'del', 'ubr0'], true);

    c.sec('A bridge the user made, up, with an address, a subnet that matches it');
    c.ns('h1', ['ip', 'link', 'add', 'ubr1', 'type', 'bridge']);
    c.ns('h1', ['ip', 'addr', 'add', '10.98.0.1/24', 'dev', 'ubr1']);
    c.ns('h1', ['ip', 'addr', 'add', '10.97.0.1/24', 'dev', 'ubr1']);
    c.ns('h1', ['ip', 'link', 'set', 'ubr1', 'up']);
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr1']);
    if (createNamed(c, 'n-u1', 'ubr1', ['--subnet', '10.98.0.0/24'])) {
      c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr1']);
      c.docker(['run', '-d', '--name', 'c-u1', '--network', 'n-u1', 'busybox', ...LOOP]);
      c.docker(['exec', 'c-u1', 'ping', '-c1', '-W2', '10.98.0.1']);
      c.docker(['rm', '-f', 'c-u1']);
      c.docker(['network', 'rm', 'n-u1']);
    }
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr1']);
    c.ns('h1', ['ip', 'link', 'del', 'ubr1'], true);

    c.sec('A bridge the user made with an address, a network with another subnet');
    c.ns('h1', ['ip', 'link', 'add', 'ubr2', 'type', 'bridge']);
    c.ns('h1', ['ip', 'addr', 'add', '10.96.0.1/24', 'dev', 'ubr2']);
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr2']);
    if (createNamed(c, 'n-u2', 'ubr2')) {
      c.docker(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'n-u2']);
      c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr2']);
      c.docker(['network', 'rm', 'n-u2']);
    }
    c.ns('h1', ['ip', '-d', 'addr', 'show', 'ubr2']);
    c.ns('h1', ['ip', 'link', 'del', 'ubr2'], true);

    c.sec('Bridge names the kernel refuses');
    for (const br of ['.', '..', 'abcdefghijklmnop', 'abcdefghijklmno', 'a/b', 'a b', 'a:b', '']) {
      c.heading(`bridge.name=${JSON.stringify(br)}`);
      if (createNamed(c, 'n-bad', br, ['--subnet', '10.77.0.0/24'])) {
        c.docker(['network', 'inspect', '-f', '{{json .Options}}', 'n-bad']);
        links(c);
        c.docker(['network', 'rm', 'n-bad']);
      }
    }
    for (const br of ['..', 'abcdefghijklmnop', 'a b'])
      await apiCreate(c, 'n-bad-api', { [NAME]: br });
    c.docker(['network', 'ls', '--format', '{{.Name}}']);
    links(c);
    c.heading('the subnet tried by the refused creates is free');
    c.docker(['network', 'create', '--subnet', '10.77.0.0/24', 'n-after']);
    c.docker(['network', 'rm', 'n-after']);

    c.sec('MTU values');
    for (const mtu of ['99999999', '65536', '67', '68', '0', '-1', 'abc', '', '1400']) {
      c.heading(`driver.mtu=${JSON.stringify(mtu)}`);
      const ok =
        c.docker(['network', 'create', '-o', `${MTU}=${mtu}`, '--subnet', '10.78.0.0/24', 'n-mtu'])
          .status === 0;
      if (ok) {
        c.docker(['network', 'inspect', '-f', '{{json .Options}}', 'n-mtu']);
        const id = c.docker(['network', 'inspect', '-f', '{{.Id}}', 'n-mtu'], { quiet: true });
        c.ns('h1', ['ip', '-o', 'link', 'show', `br-${id.stdout.trim().slice(0, 12)}`]);
        c.docker([
          'run',
          '--rm',
          '--network',
          'n-mtu',
          'busybox',
          'ip',
          '-o',
          'link',
          'show',
          'eth0',
        ]);
        c.docker(['network', 'rm', 'n-mtu']);
      } else {
        c.docker(['network', 'ls', '--format', '{{.Name}}']);
      }
    }
    for (const mtu of ['-1', 'abc']) await apiCreate(c, 'n-mtu-api', { [MTU]: mtu });
    await c.api('POST', '/networks/create', { Name: 'n-mtu-api', Options: { [MTU]: '99999999' } });
    await c.api('POST', '/networks/create', { Name: 'n-mtu-api', Options: { [MTU]: 1500 } });
    c.docker(['network', 'rm', 'n-mtu-api'], { quiet: true });
    links(c);
    c.heading('the subnet tried by the refused creates is free');
    c.docker(['network', 'create', '--subnet', '10.78.0.0/24', 'n-after']);
    c.docker(['network', 'rm', 'n-after']);

    c.sec('network create with a body that is not a network');
    await c.api('POST', '/networks/create', null);
    await c.api('POST', '/networks/create');
    await c.api('POST', '/networks/create', {});
    await c.api('POST', '/networks/create', []);
    await c.api('POST', '/networks/create', 'n-str');
    await c.api('POST', '/networks/create', { Name: 'n-opts', Options: null });
    c.docker(['network', 'rm', 'n-opts'], { quiet: true });
    const url = 'http://localhost/v1.41/networks/create';
    const curl = ['curl', '-sS', '-w', '\\nHTTP %{http_code}\\n', '--unix-socket', sock];
    c.ns('h1', [...curl, '-X', 'POST', '-H', 'Content-Type: application/json', url]);
    c.ns('h1', [...curl, '-H', 'Content-Type: application/json', '-d', 'null', url]);
    c.ns('h1', [...curl, '-H', 'Content-Type: application/json', '-d', '{', url]);
    c.docker(['network', 'ls', '--format', '{{.Name}}']);
  },
});
