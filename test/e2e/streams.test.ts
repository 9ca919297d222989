/**
 * Attach, exec and websocket streams byte for byte as Docker 20.10 frames
 * them (docs/reference/docker-20.10-streams.md): logs of an exited
 * container at once, response heads with and without `Upgrade: tcp`, the
 * content type by API version, detach keys (TTY only; an exec is killed),
 * invalid keys, the websocket endpoint, and docker-py 5.0.3 (Debian's
 * python3-docker) reading them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { rawSession, type RawStep } from '../helpers/raw-http.js';

let env: LabEnv;
const OUT = ['sh', '-c', 'echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2'];
let sock: string;
const ok = (args: string[]): string => {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: tcp\r\n';
const RAW = 'application/vnd.docker.raw-stream';
const MUX = 'application/vnd.docker.multiplexed-stream';
const head101 = (type: string) =>
  `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`;
/** One multiplexed frame, as latin1 text. */
const fr = (stream: 1 | 2, s: string) =>
  String.fromCharCode(stream, 0, 0, 0, 0, 0, 0, s.length) + s;

function post(path: string, o: { upgrade?: boolean; body?: unknown; v?: string } = {}): string {
  const body = o.body === undefined ? '' : JSON.stringify(o.body);
  return (
    `POST ${o.v ?? '/v1.41'}${path} HTTP/1.1\r\nHost: docker\r\n` +
    (o.upgrade === false ? '' : UPGRADE) +
    (body ? `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` : '') +
    `\r\n${body}`
  );
}
const session = (req: string, steps: RawStep[] = [], quietMs = 1000) =>
  rawSession(sock, req, steps, quietMs);

async function execCreate(body: Record<string, unknown>): Promise<string> {
  const r = await session(post('/containers/run1/exec', { upgrade: false, body }), [], 300);
  const m = /"Id":"([0-9a-f]{64})"/.exec(r.text);
  assert.ok(m, r.text);
  return m[1]!;
}
async function execInspect(id: string): Promise<Record<string, unknown>> {
  const r = await session(`GET /v1.41/exec/${id}/json HTTP/1.1\r\nHost: d\r\n\r\n`, [], 300);
  return JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

/** The server's websocket frames after the handshake: `[opcode, payload]`. */
function wsFrames(text: string): Array<[number, string]> {
  const b = Buffer.from(text.slice(text.indexOf('\r\n\r\n') + 4), 'latin1');
  const out: Array<[number, string]> = [];
  let at = 0;
  while (at + 2 <= b.length) {
    assert.equal(b[at + 1]! & 0x80, 0, 'server frames are not masked');
    const len = b[at + 1]! & 0x7f;
    assert.ok(len < 126);
    out.push([b[at]! & 0x0f, b.subarray(at + 2, at + 2 + len).toString('latin1')]);
    assert.equal(b[at]! & 0x80, 0x80, 'FIN');
    at += 2 + len;
  }
  return out;
}
const wsMasked = (opcode: number, s: string): Buffer => {
  const mask = [1, 2, 3, 4];
  const p = Buffer.from(s, 'latin1').map((x, i) => x ^ mask[i % 4]!);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | p.length, ...mask]), p]);
};
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const wsGet = (path: string) =>
  `GET /v1.41${path} HTTP/1.1\r\nHost: d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const WS_HEAD =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';

describe('attach, exec and websocket streams', () => {
  before(async () => {
    env = await labWithDaemons();
    sock = env.daemon.env.DOCKER_HOST!.replace(/^unix:\/\//, '');
    // Pauses between the lines: stdout and stderr are separate pipes, and the
    // log's order of lines written at once is the order they were read.
    ok(['run', '--name', 'ex', 'busybox', 'sh', '-c', OUT[2]!]);
    ok(['run', '-t', '--name', 'ext', 'busybox', 'sh', '-c', 'echo out1; echo err1 >&2']);
    ok(['run', '-d', '-i', '--name', 'cat1', 'busybox', 'cat']);
    ok(['run', '-d', '-i', '-t', '--name', 'cat2', 'busybox', 'cat']);
    ok(['run', '-d', '--name', 'run1', 'busybox', 'sleep', '3600']);
  });
  after(async () => {
    await env?.destroy();
  });

  const A = '/containers/ex/attach';
  const LOG = fr(1, 'out1\n') + fr(2, 'err1\n') + fr(1, 'out2\n');

  it('attach logs=1 stream=0 on an exited container: its output at once, then the end', async () => {
    const r = await session(post(`${A}?stream=0&logs=1&stdout=1&stderr=1`), [], 3000);
    assert.equal(r.text, head101(RAW) + LOG);
    assert.ok(r.closed, 'the server ends the stream');
    const only = await session(post(`${A}?logs=1&stdout=1`), [], 3000);
    assert.equal(only.text, head101(RAW) + fr(1, 'out1\n') + fr(1, 'out2\n'));
    assert.ok(only.closed);
    const tty = await session(post('/containers/ext/attach?logs=1&stdout=1&stderr=1'), [], 3000);
    assert.equal(tty.text, head101(RAW) + 'out1\r\nerr1\r\n');
    assert.ok(tty.closed);
  });

  it('attach logs=1 stream=1 on an exited container: the log, then waits for a start', async () => {
    const r = await session(post(`${A}?stream=1&logs=1&stdout=1&stderr=1`), [], 1000);
    assert.equal(r.text, head101(RAW) + LOG);
    assert.ok(!r.closed);
    const none = await session(post(`${A}?stdout=1&stderr=1`), [], 1000);
    assert.deepEqual([none.text, none.closed], [head101(RAW), true]);
  });

  it('attach heads: without Upgrade a bare 200; the content type by API version', async () => {
    const plain = await session(
      post(`${A}?logs=1&stdout=1&stderr=1`, { upgrade: false }),
      [],
      3000,
    );
    assert.equal(plain.text, `HTTP/1.1 200 OK\r\nContent-Type: ${RAW}\r\n\r\n${LOG}`);
    assert.ok(plain.closed);
    const v142 = await session(post(`${A}?logs=1&stdout=1&stderr=1`, { v: '/v1.42' }), [], 3000);
    assert.equal(v142.text, head101(MUX) + LOG);
    const latest = await session(post(`${A}?logs=1&stdout=1&stderr=1`, { v: '' }), [], 3000);
    assert.equal(latest.text, head101(MUX) + LOG);
    const tty = await session(post('/containers/ext/attach?logs=1&stdout=1', { v: '' }), [], 3000);
    assert.ok(tty.text.startsWith(head101(RAW)), tty.text);
  });

  it('attach errors are written raw on the taken-over connection, as dockerd', async () => {
    const nf = await session(post('/containers/nosuch/attach?logs=1&stdout=1'));
    assert.equal(
      nf.text,
      `HTTP/1.1 404 Not Found\r\nContent-Type: ${RAW}\r\n\r\nNo such container: nosuch\r\n`,
    );
    for (const bad of ['ctrl-', 'foo', 'ctrl-1', 'ctrl-a,,b', 'ctrl-ab']) {
      const r = await session(
        post(`/containers/cat1/attach?stream=1&stdin=1&detachKeys=${encodeURIComponent(bad)}`),
      );
      assert.equal(
        r.text,
        `HTTP/1.1 400 Bad Request\r\nContent-Type: ${RAW}\r\n\r\nInvalid detach keys (${bad}) provided\r\n`,
      );
      assert.ok(r.closed);
    }
  });

  const at = (id: string, q = '') =>
    post(`/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1${q}`);

  it('detach keys end a TTY attach; the container runs on', async () => {
    const r = await session(at('cat2'), [{ send: 'hello\r' }, { send: '\x10\x11' }], 2000);
    assert.equal(r.text, head101(RAW) + 'hello\r\nhello\r\n');
    assert.ok(r.closed, 'ctrl-p ctrl-q closes the stream');
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'cat2']), 'running');
    const not = await session(at('cat2'), [{ send: '\x10x\r' }], 1000);
    assert.equal(not.text, head101(RAW) + '^Px\r\n\x10x\r\n');
    assert.ok(!not.closed);
    const own = await session(
      at('cat2', '&detachKeys=ctrl-x,y'),
      [{ send: '\x10\x11' }, { send: '\x18y' }],
      2000,
    );
    assert.ok(own.closed, 'ctrl-x y detaches');
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'cat2']), 'running');
  });

  it('without a TTY the detach keys are input like any other', async () => {
    const r = await session(at('cat1'), [{ send: 'hello\n' }, { send: '\x10\x11' }], 1000);
    assert.equal(r.text, head101(RAW) + fr(1, 'hello\n') + fr(1, '\x10\x11'));
    assert.ok(!r.closed);
  });

  it('exec: multiplexed without a TTY, raw CRLF with one; heads as dockerd', async () => {
    let id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true });
    let r = await session(
      post(`/exec/${id}/start`, { body: { Detach: false, Tty: false } }),
      [],
      3000,
    );
    assert.equal(r.text, head101(RAW) + LOG);
    assert.ok(r.closed);
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true, Tty: true });
    r = await session(post(`/exec/${id}/start`, { body: { Detach: false, Tty: true } }), [], 3000);
    assert.equal(r.text, head101(RAW) + 'out1\r\nerr1\r\nout2\r\n');
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true });
    r = await session(
      post(`/exec/${id}/start`, { upgrade: false, body: { Detach: false, Tty: false } }),
      [],
      3000,
    );
    assert.equal(r.text, `HTTP/1.1 200 OK\r\nContent-Type: ${RAW}\r\n\r\n${LOG}`);
    assert.ok(r.closed);
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true });
    r = await session(
      post(`/exec/${id}/start`, { v: '', body: { Detach: false, Tty: false } }),
      [],
      3000,
    );
    assert.equal(r.text, head101(MUX) + LOG);
  });

  it('exec detach keys: a TTY exec is left (and killed, code 126), the container runs on', async () => {
    let id = await execCreate({ Cmd: ['cat'], AttachStdin: true, AttachStdout: true, Tty: true });
    const r = await session(
      post(`/exec/${id}/start`, { body: { Detach: false, Tty: true } }),
      [{ send: 'hi\r' }, { send: '\x10\x11' }],
      3000,
    );
    assert.equal(
      r.text,
      head101(RAW) +
        'hi\r\nhi\r\nexec attach failed: error on attach stdin: read escape sequence\r\n',
    );
    assert.ok(r.closed);
    const e = await execInspect(id);
    assert.deepEqual([e.Running, e.ExitCode, e.DetachKeys], [false, 126, '']);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'run1']), 'running');
    id = await execCreate({
      Cmd: ['cat'],
      AttachStdin: true,
      AttachStdout: true,
      DetachKeys: 'ctrl-x',
    });
    assert.equal((await execInspect(id)).DetachKeys, 'GA==');
    const bad = await session(
      post('/containers/run1/exec', { upgrade: false, body: { Cmd: ['cat'], DetachKeys: 'foo' } }),
      [],
      300,
    );
    assert.match(bad.text, /^HTTP\/1\.1 500 /);
    assert.ok(bad.text.endsWith('{"message":"Invalid escape keys (foo) provided"}'), bad.text);
  });

  it('websocket attach: RFC 6455 handshake, binary frames, input, close 1000', async () => {
    ok(['run', '-d', '-i', '--name', 'ws1', 'busybox', 'sh', '-c', 'echo hello; cat']);
    // Its first line in the log before the attach: as dockerd's, an attach
    // replays the log and then joins the stream, and a line written between
    // the two is in neither (this test is about the websocket's framing).
    for (let i = 0; !ok(['logs', 'ws1']).includes('hello'); i++) {
      assert.ok(i < 100, 'ws1 printed nothing in 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await session(
      wsGet('/containers/ws1/attach/ws?logs=1&stream=1&stdin=1&stdout=1&stderr=1'),
      [
        { send: wsMasked(1, 'typed\n') },
        { send: wsMasked(2, 'bin\n') },
        { send: wsMasked(8, '\x03\xe8') },
      ],
      2000,
    );
    assert.ok(r.text.startsWith(WS_HEAD), r.text);
    assert.deepEqual(wsFrames(r.text), [
      [2, 'hello\n'],
      [2, 'typed\n'],
      [2, 'bin\n'],
      [8, '\x03\xe8'],
    ]);
    assert.ok(r.closed);
    const logs = await session(
      wsGet('/containers/ex/attach/ws?logs=1&stdout=1&stderr=1'),
      [],
      2000,
    );
    assert.ok(logs.text.startsWith(WS_HEAD));
    assert.deepEqual(wsFrames(logs.text), [
      [2, 'out1\n'],
      [2, 'err1\n'],
      [2, 'out2\n'],
      [8, '\x03\xe8'],
    ]);
    assert.ok(logs.closed);
    const plain = await session(
      'GET /v1.41/containers/ws1/attach/ws?logs=1&stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n',
    );
    assert.equal(plain.text, 'HTTP/1.1 400 Bad Request\r\n\r\nnot websocket protocol');
    assert.ok(plain.closed);
  });

  it('docker-py 5.0.3 reads attach logs and exec output as from dockerd', (t) => {
    if (!existsSync('/usr/lib/python3/dist-packages/docker')) {
      return t.skip('Debian python3-docker is not installed on this machine');
    }
    const py = `
import docker
c = docker.APIClient(base_url="unix://${sock}", version="1.41")
print(repr(c.attach("ex", stream=False, logs=True)))
e = c.exec_create("run1", ["sh", "-c", "echo a; sleep 0.2; echo b >&2"], tty=True)
print(repr(c.exec_start(e["Id"])))
e = c.exec_create("run1", ["sh", "-c", "echo a; echo b >&2"])
print(repr(c.exec_start(e["Id"], demux=True)))
`;
    const r = spawnSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "b'out1\\nerr1\\nout2\\n'\nb'a\\r\\nb\\r\\n'\n(b'a\\n', b'b\\n')\n");
  });
});
