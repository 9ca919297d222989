import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  ClientError,
  ConnectError,
  EngineClient,
  encodeQuery,
  resolveHost,
} from '../../src/cli/client.js';
import { main } from '../../src/cli/main.js';
import {
  capture,
  DOCKER_PS,
  frame,
  sampleContainers,
  startFake,
  type FakeDaemon,
} from './cli-fake-daemon.js';

async function berth(
  fake: FakeDaemon,
  argv: string[],
  stdin = '',
): Promise<{ code: number; out: string; err: string }> {
  const out = capture();
  const err = capture();
  const input = new PassThrough();
  input.end(stdin);
  const code = await main(['-H', fake.host, ...argv], {
    in: input,
    out: out.stream,
    err: err.stream,
    env: {},
  });
  return { code, out: out.text(), err: err.text() };
}

test('host selection order', () => {
  assert.equal(resolveHost('unix:///a', { BERTH_HOST: 'unix:///b' }), 'unix:///a');
  assert.equal(
    resolveHost(undefined, { BERTH_HOST: 'unix:///b', DOCKER_HOST: 'unix:///c' }),
    'unix:///b',
  );
  assert.equal(
    resolveHost(undefined, { DOCKER_HOST: 'tcp://127.0.0.1:2375' }),
    'tcp://127.0.0.1:2375',
  );
  assert.equal(resolveHost(undefined, {}), 'unix:///run/berth/berth.sock');
  assert.equal(
    encodeQuery({ stream: true, b: 'a b', a: ['x', 'y'], z: undefined }),
    '?a=x&a=y&b=a+b&stream=1',
  );
});

test('client negotiates the version, maps errors, reports a missing daemon', async () => {
  const fake = await startFake();
  try {
    fake.routes.set('GET /containers/x/json', {
      status: 404,
      json: { message: 'No such container: x' },
    });
    const c = new EngineClient(fake.host);
    await assert.rejects(c.json('GET', '/containers/x/json'), (e: unknown) => {
      assert.ok(e instanceof ClientError);
      assert.equal(e.status, 404);
      assert.equal(e.display, 'Error response from daemon: No such container: x');
      return true;
    });
    assert.equal(fake.seen[0]!.method, 'HEAD');
    c.close();
  } finally {
    await fake.close();
  }
  const gone = new EngineClient('unix:///nonexistent/berth.sock');
  await assert.rejects(gone.json('GET', '/version'), (e: unknown) => {
    assert.ok(e instanceof ConnectError);
    assert.equal(
      e.message,
      'Cannot connect to the Berth daemon at unix:///nonexistent/berth.sock. Is berthd running?',
    );
    return true;
  });
});

test('ps output is docker-identical; inspect misses say No such object', async () => {
  const fake = await startFake();
  try {
    fake.routes.set('GET /containers/json', { status: 200, json: sampleContainers(Date.now()) });
    const r = await berth(fake, ['ps']);
    assert.equal(r.code, 0);
    assert.equal(r.out, DOCKER_PS);
    const i = await berth(fake, ['inspect', 'nosuch']);
    assert.deepEqual([i.code, i.out, i.err], [1, '[]\n', 'Error: No such object: nosuch\n']);
    assert.deepEqual(
      fake.seen
        .filter((s) => s.method === 'GET')
        .slice(-4)
        .map((s) => s.url),
      ['/containers/nosuch/json', '/images/nosuch/json', '/networks/nosuch', '/volumes/nosuch'],
    );
  } finally {
    await fake.close();
  }
});

test('attached run: create, attach (upgrade), wait, start; output and exit code', async () => {
  const fake = await startFake();
  const ID = 'f'.repeat(64);
  let started = false;
  let finish: () => void = () => {};
  try {
    fake.routes.set('POST /containers/create', { status: 201, json: { Id: ID, Warnings: [] } });
    fake.routes.set(`POST /containers/${ID}/wait`, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      finish = () => res.end(JSON.stringify({ StatusCode: 3 }) + '\n');
      if (started) finish();
    });
    fake.routes.set(`POST /containers/${ID}/start`, (_req, res) => {
      started = true;
      res.writeHead(204);
      res.end();
      setTimeout(() => {
        fake.onUpgradeSock?.write(
          Buffer.concat([frame(1, 'hello out\n'), frame(2, 'hello err\n')]),
        );
        fake.onUpgradeSock?.end();
        finish();
      }, 20);
    });
    fake.onUpgrade = (_req, sock) => {
      fake.onUpgradeSock = sock;
      sock.on('data', () => undefined);
      sock.on('error', () => undefined);
    };
    const r = await berth(fake, ['run', '--rm', 'busybox', 'echo', 'hi']);
    assert.deepEqual([r.code, r.out, r.err], [3, 'hello out\n', 'hello err\n']);
    const order = fake.seen.filter((s) => s.method !== 'HEAD').map((s) => `${s.method} ${s.url}`);
    assert.deepEqual(order, [
      'POST /containers/create',
      `UPGRADE POST /containers/${ID}/attach?stderr=1&stdout=1&stream=1`,
      `POST /containers/${ID}/wait?condition=removed`,
      `POST /containers/${ID}/start`,
    ]);
    const body = JSON.parse(fake.seen.find((s) => s.url === '/containers/create')!.body) as {
      Cmd: string[];
      HostConfig: { AutoRemove: boolean };
    };
    assert.deepEqual(body.Cmd, ['echo', 'hi']);
    assert.equal(body.HostConfig.AutoRemove, true);
  } finally {
    await fake.close();
  }
});

test('run of a missing image tries a pull and reports its error like docker (exit 125)', async () => {
  const fake = await startFake();
  try {
    fake.routes.set('POST /containers/create', {
      status: 404,
      json: { message: 'No such image: nosuch:latest' },
    });
    fake.routes.set('POST /images/create', {
      status: 200,
      raw:
        JSON.stringify({
          errorDetail: { message: 'pull access denied for nosuch: no registry in Berth' },
          error: 'x',
        }) + '\n',
    });
    const r = await berth(fake, ['run', 'nosuch']);
    assert.equal(r.code, 125);
    assert.equal(
      r.err,
      "Unable to find image 'nosuch:latest' locally\nberth: pull access denied for nosuch: no registry in Berth.\nSee 'berth run --help'.\n",
    );
    assert.ok(fake.seen.some((s) => s.url === '/images/create?fromImage=nosuch&tag=latest'));
    fake.routes.set('POST /containers/create', {
      status: 409,
      json: { message: 'Conflict. The container name "/a" is already in use' },
    });
    const c = await berth(fake, ['run', '-d', '--name', 'a', 'busybox']);
    assert.deepEqual(
      [c.code, c.err],
      [
        125,
        `berth: Error response from daemon: Conflict. The container name "/a" is already in use.\nSee 'berth run --help'.\n`,
      ],
    );
  } finally {
    await fake.close();
  }
});

test('exec: create, hijacked start, exit code from exec inspect', async () => {
  const fake = await startFake();
  try {
    fake.routes.set('GET /containers/test1/json', { status: 200, json: { Id: 'c1' } });
    fake.routes.set('POST /containers/test1/exec', { status: 201, json: { Id: 'e1' } });
    fake.routes.set('GET /exec/e1/json', { status: 200, json: { ExitCode: 7, Running: false } });
    fake.onUpgrade = (_req, sock) => {
      sock.on('error', () => undefined);
      sock.on('data', () => undefined);
      sock.end(frame(1, 'pong\n'));
    };
    const r = await berth(fake, ['exec', 'test1', 'ping', '-c1', 'x']);
    assert.deepEqual([r.code, r.out], [7, 'pong\n']);
    const create = JSON.parse(
      fake.seen.find((s) => s.url === '/containers/test1/exec')!.body,
    ) as Record<string, unknown>;
    assert.deepEqual(create, {
      User: '',
      Privileged: false,
      Tty: false,
      AttachStdin: false,
      AttachStderr: true,
      AttachStdout: true,
      Detach: false,
      DetachKeys: '',
      Env: null,
      WorkingDir: '',
      Cmd: ['ping', '-c1', 'x'],
    });
    fake.routes.set('POST /exec/e1/start', { status: 200, raw: '' });
    const d = await berth(fake, ['exec', '-d', 'test1', 'sh']);
    assert.equal(d.code, 0);
    assert.equal(fake.seen.at(-1)!.body, '{"Detach":true,"Tty":false}\n');
  } finally {
    await fake.close();
  }
});

test('network ls sorts naturally and prints docker columns; network create sends docker body', async () => {
  const fake = await startFake();
  try {
    const id = (p: string): string => p.padEnd(64, '0');
    fake.routes.set('GET /networks', {
      status: 200,
      json: [
        { Name: 'none', Id: id('dddd'), Driver: 'null', Scope: 'local' },
        { Name: 'net10', Id: id('aaaa'), Driver: 'bridge', Scope: 'local' },
        { Name: 'bridge', Id: id('1234567890ab'), Driver: 'bridge', Scope: 'local' },
        { Name: 'net9', Id: id('bbbb'), Driver: 'bridge', Scope: 'local' },
      ],
    });
    const r = await berth(fake, ['network', 'ls']);
    assert.equal(
      r.out,
      'NETWORK ID     NAME      DRIVER    SCOPE\n1234567890ab   bridge    bridge    local\nbbbb00000000   net9      bridge    local\n' +
        'aaaa00000000   net10     bridge    local\ndddd00000000   none      null      local\n',
    );
    fake.routes.set('POST /networks/create', {
      status: 201,
      json: { Id: id('eeee'), Warning: '' },
    });
    const c = await berth(fake, [
      'network',
      'create',
      '-d',
      'bridge',
      '--subnet',
      '172.30.0.0/16',
      'my-bridge',
    ]);
    assert.equal(c.out, id('eeee') + '\n');
    assert.equal(
      fake.seen.at(-1)!.body,
      '{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"172.30.0.0/16"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{},"Name":"my-bridge"}\n',
    );
    const bad = await berth(fake, [
      'network',
      'create',
      '--gateway',
      '10.9.0.1',
      '--subnet',
      '10.1.0.0/24',
      'n',
    ]);
    assert.deepEqual([bad.code, bad.err], [1, 'no matching subnet for gateway 10.9.0.1\n']);
  } finally {
    await fake.close();
  }
});

test('network rm and volume rm: each name in turn, errors on stderr, -f passes over missing ones', async () => {
  const fake = await startFake();
  try {
    const gone = { status: 404, json: { message: 'network nope not found' } };
    const busy = {
      status: 403,
      json: { message: 'error while removing network: network n2 id x has active endpoints' },
    };
    fake.routes.set('DELETE /networks/n1', { status: 204 });
    fake.routes.set('DELETE /networks/n2', busy);
    fake.routes.set('DELETE /networks/nope', gone);
    const r = await berth(fake, ['network', 'rm', 'n1', 'nope', 'n2']);
    assert.deepEqual(
      [r.code, r.out, r.err],
      [
        1,
        'n1\n',
        'Error response from daemon: network nope not found\n' +
          'Error response from daemon: error while removing network: network n2 id x has active endpoints\n',
      ],
    );
    const f = await berth(fake, ['network', 'rm', '-f', 'nope', 'n1']);
    assert.deepEqual([f.code, f.out, f.err], [0, 'n1\n', '']);

    fake.routes.set('DELETE /volumes/v1', { status: 204 });
    fake.routes.set('DELETE /volumes/nov', {
      status: 404,
      json: { message: 'get nov: no such volume' },
    });
    const v = await berth(fake, ['volume', 'rm', 'v1', 'nov']);
    assert.deepEqual(
      [v.code, v.out, v.err],
      [1, 'v1\n', 'Error response from daemon: get nov: no such volume\n'],
    );
    const vf = await berth(fake, ['volume', 'rm', '-f', 'nov', 'v1']);
    assert.deepEqual([vf.code, vf.out, vf.err], [0, 'v1\n', '']);
    assert.match(fake.seen.at(-1)!.url, /\/volumes\/v1\?force=(1|true)$/);
  } finally {
    await fake.close();
  }
});
