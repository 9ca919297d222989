/**
 * S15 of the seed: redis plus the Flask app of examples/flask-redis, built
 * with `docker build`, linked, published on 5000 — through the stock docker
 * client and through berth — then the same app on a user-defined network
 * without --link. Also UDP through a published port (a Python echo server).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { labWithDaemons, type Cmd, type LabEnv } from '../helpers/lab-daemon.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/flask-redis', import.meta.url));
const H1 = '198.51.100.11';
let env: LabEnv;

const seen = (n: number, host?: string) =>
  new RegExp(
    `^Hello Container World! I have been seen ${n} times and my hostname is ${host ?? '[0-9a-f]{12}'}\\.\\n$`,
  );

function curl(where: 'world' | number, url: string): Cmd {
  const r = env.lab.exec(where, ['curl', '-s', '-m', '5', url]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Waits until the app listens (it takes a moment), asking for a page that
 * does not exist: the 404 does not count as a hit.
 */
async function until(url: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (curl(1, `${url}not-counted`).status === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${url} never answered`);
}

const PY_GET =
  'import urllib.request as u; print(u.urlopen("http://127.0.0.1:5000").read().decode(), end="")';

describe('the flask-redis application (S15)', () => {
  before(async () => {
    env = await labWithDaemons({ hosts: 1 });
  });
  after(async () => {
    await env?.destroy();
  });

  it('builds the app with docker build', () => {
    const r = env.docker(['build', '-t', 'flask-redis', EXAMPLE], { timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Step 1\/\d+ : FROM python:3/);
    assert.match(r.stdout, /Successfully tagged flask-redis:latest/);
    const again = env.docker(['build', '-t', 'flask-redis', EXAMPLE]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /Using cache/);
  });

  it('counts hits inside the container, on the host and from the world (--link)', async () => {
    assert.equal(env.docker(['run', '-d', '--name', 'redis', 'redis']).status, 0);
    const r = env.docker([
      'run',
      '-d',
      '--link',
      'redis',
      '--name',
      'flask-redis',
      '-e',
      'REDIS_HOST=redis',
      '-p',
      '5000:5000',
      'flask-redis',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim().slice(0, 12);
    assert.equal(env.docker(['port', 'flask-redis']).stdout, '5000/tcp -> 0.0.0.0:5000\n');
    await until('http://127.0.0.1:5000/');
    const inside = env.docker(['exec', 'flask-redis', 'python3', '-c', PY_GET]);
    assert.match(inside.stdout, seen(1, id), inside.stderr);
    assert.match(curl(1, 'http://127.0.0.1:5000/').stdout, seen(2, id));
    assert.match(curl('world', `http://${H1}:5000/`).stdout, seen(3, id));
  });

  it('works on a user-defined network without --link, driven by berth', async () => {
    assert.equal(env.berth(['network', 'create', 'app']).status, 0);
    assert.equal(
      env.berth(['run', '-d', '--name', 'redis2', '--network', 'app', 'redis']).status,
      0,
    );
    const r = env.berth([
      'run',
      '-d',
      '--name',
      'web2',
      '--network',
      'app',
      '-e',
      'REDIS_HOST=redis2',
      '-p',
      '5001:5000',
      'flask-redis',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(env.berth(['port', 'web2', '5000']).stdout, '0.0.0.0:5001\n');
    await until('http://127.0.0.1:5001/');
    assert.match(curl('world', `http://${H1}:5001/`).stdout, seen(1, r.stdout.trim().slice(0, 12)));
    assert.match(curl(1, `http://${H1}:5001/`).stdout, seen(2));
  });

  it('carries UDP through a published port, from the world and the host', async () => {
    const echo =
      'import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(("", 9999))\nwhile True:\n    d, a = s.recvfrom(100)\n    s.sendto(b"echo " + d, a)\n';
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'udp',
      '-p',
      '9999:9999/udp',
      'python:3',
      'python3',
      '-c',
      echo,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const ask = (where: 'world' | number, ip: string) =>
      env.lab.exec(where, [
        '/usr/bin/python3',
        '-c',
        // A fixed source port: the same flow each time.
        `import socket; s = socket.socket(2, 2); s.settimeout(1); s.bind(("", 40999))\nfor i in range(20):\n    s.sendto(b"hi", ("${ip}", 9999))\n    try:\n        print(s.recvfrom(100)[0].decode()); break\n    except socket.timeout: pass`,
      ]).stdout;
    assert.equal(ask('world', H1), 'echo hi\n');
    assert.equal(ask(1, '127.0.0.1'), 'echo hi\n');
    // A new container (at another address: a filler takes the freed one
    // first) on the same host port gets the same flow at once: the old flow's
    // conntrack entry, NATed to the old address, was dropped with the mapping.
    assert.equal(env.docker(['rm', '-f', 'udp']).status, 0);
    assert.equal(env.docker(['run', '-d', 'busybox', 'sleep', '600']).status, 0);
    const r2 = env.docker([
      'run',
      '-d',
      '--name',
      'udp2',
      '-p',
      '9999:9999/udp',
      'python:3',
      'python3',
      '-c',
      echo.replace('b"echo "', 'b"echo2 "'),
    ]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(ask('world', H1), 'echo2 hi\n');
  });
});
