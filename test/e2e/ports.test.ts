/**
 * S12 of the seed: published ports, with the stock docker client and berth.
 * A reachability matrix (the world, a second lab host, the host's own address
 * and 127.0.0.1, other containers and the container itself through the host's
 * address), the negatives (unpublished ports, ports bound to 127.0.0.1 seen
 * from outside, internal networks), conflicts and bad input (Docker's
 * messages, nothing changed), and release on stop.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type Cmd, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const H1 = '198.51.100.11';
// Two pages: port 80 is published, 81 is not.
const WEB = [
  'sh',
  '-c',
  'mkdir -p /www; echo "hello from $(hostname)" > /www/index.html; httpd -p 81 -h /www; exec httpd -f -p 80 -h /www',
];

/** An HTTP GET with curl inside a lab namespace ('world' or a host number). */
function curl(where: 'world' | number, url: string): Cmd {
  const r = env.lab.exec(where, ['curl', '-s', '-m', '3', url]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Waits until a URL answers from the lab host (httpd starts after `run -d` returns). */
async function until(url: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (curl(1, url).status === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An HTTP GET with busybox nc from inside a container. */
function fromContainer(args: string[], ip: string, port: number): Cmd {
  const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} ${port} | tail -1`;
  return env.docker([...args, 'busybox', 'sh', '-c', get]);
}

const nftPorts = () => env.inHost(['nft', 'list', 'map', 'inet', 'berth', 'ports4']).stdout;

describe('published ports (S12)', () => {
  let id = '';
  before(async () => {
    env = await labWithDaemons({ hosts: 2 });
    const r = env.docker(['run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', ...WEB]);
    assert.equal(r.status, 0, r.stderr);
    id = r.stdout.trim().slice(0, 12);
    await until('http://127.0.0.1:8080/');
  });
  after(async () => {
    await env?.destroy();
  });

  it('reaches the container from the world, another host, the host itself and 127.0.0.1', () => {
    for (const [where, url] of [
      ['world', `http://${H1}:8080/`],
      [2, `http://${H1}:8080/`],
      [1, `http://${H1}:8080/`],
      [1, 'http://127.0.0.1:8080/'],
    ] as const) {
      const r = curl(where, url);
      assert.equal(r.status, 0, `${where} ${url}: ${r.stderr}`);
      assert.equal(r.stdout, `hello from ${id}\n`, `${where} ${url}`);
    }
  });

  it('reaches it from other containers and from itself through the host address (hairpin)', () => {
    assert.equal(env.docker(['network', 'create', 'other']).status, 0);
    for (const args of [
      ['run', '--rm'],
      ['run', '--rm', '--network', 'other'],
    ]) {
      assert.equal(fromContainer(args, H1, 8080).stdout, `hello from ${id}\n`, args.join(' '));
    }
    const self = env.docker([
      'exec',
      'web',
      'sh',
      '-c',
      `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${H1} 8080 | tail -1`,
    ]);
    assert.equal(self.stdout, `hello from ${id}\n`, self.stderr);
  });

  it('keeps unpublished ports unreachable from outside', () => {
    assert.equal(fromContainer(['run', '--rm'], '172.17.0.2', 81).stdout, `hello from ${id}\n`);
    assert.notEqual(curl('world', `http://${H1}:81/`).status, 0);
    assert.notEqual(curl(1, `http://${H1}:81/`).status, 0);
  });

  it('shows the mapping in port, ps and inspect as Docker does', () => {
    assert.equal(env.docker(['port', 'web']).stdout, '80/tcp -> 0.0.0.0:8080\n');
    assert.equal(env.docker(['port', 'web', '80']).stdout, '0.0.0.0:8080\n');
    const none = env.docker(['port', 'web', '81']);
    assert.equal(none.status, 1);
    assert.equal(none.stderr, "Error: No public port '81' published for web\n");
    assert.match(env.docker(['ps']).stdout, /0\.0\.0\.0:8080->80\/tcp\s+web$/m);
    const [insp] = JSON.parse(env.docker(['inspect', 'web']).stdout) as Array<{
      NetworkSettings: { Ports: unknown };
      HostConfig: { PortBindings: unknown };
    }>;
    assert.deepEqual(insp!.NetworkSettings.Ports, {
      '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }],
    });
    assert.deepEqual(insp!.HostConfig.PortBindings, {
      '80/tcp': [{ HostIp: '', HostPort: '8080' }],
    });
  });

  it('binds 127.0.0.1 only there; -P and --expose take ephemeral ports', async () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'local',
      '-p',
      '127.0.0.1:8081:80',
      '--expose',
      '90',
      '-P',
      'busybox',
      ...WEB,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const lines = env.docker(['port', 'local']).stdout.trim().split('\n');
    assert.equal(lines[0], '80/tcp -> 127.0.0.1:8081');
    assert.match(lines[1] ?? '', /^90\/tcp -> 0\.0\.0\.0:(\d+)$/);
    const eph = Number(/:(\d+)$/.exec(lines[1]!)![1]);
    const [lo, hi] = env
      .inHost(['cat', '/proc/sys/net/ipv4/ip_local_port_range'])
      .stdout.trim()
      .split(/\s+/)
      .map(Number);
    assert.ok(eph >= lo! && eph <= hi!, `${eph} in ${lo}-${hi}`);
    await until('http://127.0.0.1:8081/');
    assert.equal(curl(1, 'http://127.0.0.1:8081/').status, 0);
    assert.notEqual(curl('world', `http://${H1}:8081/`).status, 0);
  });

  it('refuses a port another container holds, with Docker’s message, changing nothing', () => {
    const before = nftPorts();
    const r = env.docker(['run', '-d', '--name', 'web2', '-p', '8080:80', 'busybox', ...WEB]);
    assert.equal(r.status, 125);
    assert.match(
      r.stderr,
      /^docker: Error response from daemon: driver failed programming external connectivity on endpoint web2 \([0-9a-f]{64}\): Bind for 0\.0\.0\.0:8080 failed: port is already allocated\.?$/m,
    );
    assert.equal(env.docker(['inspect', '-f', '{{.State.Status}}', 'web2']).stdout, 'created\n');
    assert.equal(nftPorts(), before);
    assert.equal(curl('world', `http://${H1}:8080/`).stdout, `hello from ${id}\n`);
    assert.equal(env.docker(['rm', 'web2']).status, 0);
  });

  it('refuses a port a host process listens on', () => {
    const server = env.lab.spawn(1, ['busybox', 'nc', '-l', '-p', '8090']);
    try {
      for (let i = 0; i < 50; i++) {
        if (/:8090\b/.test(env.inHost(['ss', '-ltn']).stdout)) break;
        env.inHost(['sleep', '0.1']);
      }
      const r = env.docker(['run', '-d', '--name', 'web3', '-p', '8090:80', 'busybox', ...WEB]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /listen tcp4 0\.0\.0\.0:8090: bind: address already in use/);
      assert.equal(env.docker(['rm', 'web3']).status, 0);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('refuses bad specs in the client and in the API with Docker’s errors', () => {
    for (const [spec, msg] of [
      ['0:80', null],
      ['70000:80', 'Invalid hostPort: 70000'],
      ['80:0', 'Error response from daemon: invalid port specification: "0"'],
      ['8000-7000:80', 'Invalid hostPort: 8000-7000'],
      [
        '8000-8001:80-82',
        'Invalid ranges specified for container and host Ports: 80-82 and 8000-8001',
      ],
      ['80/foo', 'Invalid proto: foo'],
    ] as const) {
      const r = env.docker(['create', '-p', spec, 'busybox']);
      if (msg === null) {
        // Docker 20.10 takes host port 0 as "any": accepted.
        assert.equal(r.status, 0, r.stderr);
        env.docker(['rm', r.stdout.trim()]);
        continue;
      }
      // The client's own checks exit 125; the daemon's refusal exits 1.
      assert.equal(r.status, msg.startsWith('Error response') ? 1 : 125, spec);
      assert.match(r.stderr, new RegExp(msg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i'), spec);
    }
    const count = env.docker(['ps', '-aq']).stdout;
    const api = env.lab.exec(1, [
      'curl',
      '-s',
      '--unix-socket',
      env.daemon.env.DOCKER_HOST.replace('unix://', ''),
      '-H',
      'Content-Type: application/json',
      '-d',
      JSON.stringify({
        Image: 'busybox',
        HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '70000' }] } },
      }),
      '-w',
      '\n%{http_code}',
      'http://d/v1.41/containers/create',
    ]);
    assert.equal(api.stdout, '{"message":"invalid port specification: \\"70000\\""}\n400');
    assert.equal(env.docker(['ps', '-aq']).stdout, count, 'no container was created');
  });

  it('publishes nothing on internal or host networks, and refuses it with container:', () => {
    const host = env.docker(['run', '-d', '--network', 'host', '-p', '8096:80', 'busybox', 'true']);
    assert.equal(host.status, 0, host.stderr);
    assert.match(
      host.stderr,
      /WARNING: Published ports are discarded when using host network mode/,
    );
    const shared = env.docker([
      'run',
      '-d',
      '--network',
      'container:web',
      '-p',
      '8097:80',
      'busybox',
    ]);
    assert.equal(shared.status, 125);
    assert.match(
      shared.stderr,
      /conflicting options: port publishing and the container type network mode/,
    );
    assert.equal(env.docker(['network', 'create', '--internal', 'inner']).status, 0);
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'hidden',
      '--network',
      'inner',
      '-p',
      '8095:80',
      'busybox',
      ...WEB,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(env.docker(['port', 'hidden']).stdout, '');
    assert.notEqual(curl('world', `http://${H1}:8095/`).status, 0);
    assert.notEqual(curl(1, 'http://127.0.0.1:8095/').status, 0);
  });

  it('releases the ports when the container stops, and takes them again on start', async () => {
    assert.equal(env.docker(['stop', '-t', '1', 'web']).status, 0);
    assert.equal(env.docker(['port', 'web']).stdout, '');
    assert.equal(
      env.docker(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'web']).stdout,
      '{}\n',
    );
    assert.doesNotMatch(nftPorts(), /8080/);
    assert.notEqual(curl('world', `http://${H1}:8080/`).status, 0);
    assert.equal(env.docker(['start', 'web']).status, 0);
    assert.equal(env.docker(['port', 'web']).stdout, '80/tcp -> 0.0.0.0:8080\n');
    await until('http://127.0.0.1:8080/');
    assert.equal(curl('world', `http://${H1}:8080/`).stdout, `hello from ${id}\n`);
  });

  it('works the same through berth run -p and berth port', async () => {
    const r = env.berth(['run', '-d', '--name', 'bweb', '-p', '8088:80', 'busybox', ...WEB]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(env.berth(['port', 'bweb']).stdout, '80/tcp -> 0.0.0.0:8088\n');
    assert.match(env.berth(['ps']).stdout, /0\.0\.0\.0:8088->80\/tcp\s+bweb$/m);
    await until('http://127.0.0.1:8088/');
    assert.equal(
      curl('world', `http://${H1}:8088/`).stdout,
      `hello from ${r.stdout.trim().slice(0, 12)}\n`,
    );
    const dup = env.berth(['run', '-d', '-p', '8088:80', 'busybox', ...WEB]);
    assert.equal(dup.status, 125);
    assert.match(dup.stderr, /Bind for 0\.0\.0\.0:8088 failed: port is already allocated/);
  });
});
