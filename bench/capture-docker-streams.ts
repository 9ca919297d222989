/**
 * Captures the exact bytes a real Docker 20.10 (Debian docker.io) sends on
 * its streams, which the docker CLI hides: attach with logs on an exited
 * container, attach and exec with and without a TTY (with and without the
 * `Upgrade: tcp` handshake), detach keys (default, `detachKeys`, an exec's
 * `DetachKeys`, invalid ones), and the websocket attach endpoint. Raw HTTP
 * over dockerd's unix socket; the replies are recorded byte for byte
 * (escaped). Writes docs/reference/docker-20.10-streams*.md.
 *
 *   node dist/bench/capture-docker-streams.js [--out DIR]
 *
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after.
 */
import { createHash } from 'node:crypto';
import { rawSession, type RawStep } from '../test/helpers/raw-http.js';
import { API } from './lib/capture.js';
import { runCapture } from './lib/capture-run.js';

/** Bytes as a readable string: printable ASCII as is, the rest escaped (\r \n \xHH). */
export function esc(b: Buffer): string {
  let s = '';
  for (const x of b) {
    if (x === 0x0d) s += '\\r';
    else if (x === 0x0a) s += '\\n\n';
    else if (x === 0x5c) s += '\\\\';
    else if (x >= 0x20 && x < 0x7f) s += String.fromCharCode(x);
    else s += `\\x${x.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** A request's bytes: method, path (API version prefixed), headers, body. */
function req(
  method: string,
  path: string,
  o: { upgrade?: boolean; body?: unknown; headers?: string[]; version?: string } = {},
): string {
  const body = o.body === undefined ? '' : JSON.stringify(o.body);
  return (
    `${method} ${o.version ?? API}${path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: capture\r\n` +
    (o.upgrade ? 'Connection: Upgrade\r\nUpgrade: tcp\r\n' : '') +
    (o.headers ?? []).map((h) => h + '\r\n').join('') +
    (body
      ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
      : '') +
    '\r\n' +
    body
  );
}

/** A masked client websocket frame (RFC 6455 5.3), FIN set. */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  const len = payload.length;
  if (len >= 126) throw new Error('short frames only');
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | len]), mask, masked]);
}

/** The server's frames after the handshake, decoded: `[opcode] payload`. */
function wsFrames(b: Buffer): string {
  const out: string[] = [];
  let at = 0;
  while (at + 2 <= b.length) {
    const b0 = b[at]!;
    const b1 = b[at + 1]!;
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) {
      len = b.readUInt16BE(at + 2);
      hdr = 4;
    } else if (len === 127) {
      len = Number(b.readBigUInt64BE(at + 2));
      hdr = 10;
    }
    if (b1 & 0x80) hdr += 4;
    const payload = b.subarray(at + hdr, at + hdr + len);
    out.push(
      `fin=${b0 >> 7} opcode=0x${(b0 & 0xf).toString(16)} masked=${b1 >> 7} len=${len}: ${esc(payload)}`,
    );
    at += hdr + len;
  }
  if (at < b.length) out.push(`(trailing ${b.length - at} bytes: ${esc(b.subarray(at))})`);
  return out.join('\n');
}

const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

runCapture({
  name: 'capture-docker-streams',
  title: 'Docker 20.10 streams (attach, exec, detach keys, websocket): raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd }) => {
    const d = await dockerd(0);
    const sock = d.socket;
    const raw = async (
      title: string,
      request: string,
      steps: RawStep[] = [],
      waitMs = 1500,
      ws = false,
    ) => {
      const session = await rawSession(sock, request, steps, waitMs);
      // latin1 keeps every byte as it came.
      const r = { bytes: Buffer.from(session.text, 'latin1'), closed: session.closed };
      const sent = steps
        .map((s) =>
          s.send !== undefined
            ? `then sends: ${esc(Buffer.from(s.send))}`
            : s.end
              ? 'then half-closes'
              : '',
        )
        .filter(Boolean)
        .join('\n');
      let text = esc(r.bytes);
      if (ws) {
        const h = r.bytes.indexOf('\r\n\r\n');
        if (h >= 0) {
          text =
            esc(r.bytes.subarray(0, h + 4)) +
            '\n--- frames ---\n' +
            wsFrames(r.bytes.subarray(h + 4));
        }
      }
      c.note(
        title,
        `>>> ${esc(Buffer.from(request))}${sent ? `\n${sent}` : ''}\n<<< (${r.bytes.length} bytes, ${
          r.closed ? 'server closed the connection' : `still open after ${waitMs} ms of quiet`
        })\n${text}`,
      );
      return r;
    };
    const LOOP = ['sleep', '3600'];

    c.sec('Attach with logs on an exited container');
    c.docker(['run', '--name', 'ex', 'busybox', 'sh', '-c', 'echo out1; echo err1 >&2; echo out2']);
    c.docker(['run', '-t', '--name', 'ext', 'busybox', 'sh', '-c', 'echo out1; echo err1 >&2']);
    const A = '/containers/ex/attach';
    await raw(
      'stream=0&logs=1, upgrade',
      req('POST', `${A}?stream=0&logs=1&stdout=1&stderr=1`, { upgrade: true }),
    );
    await raw(
      'stream=1&logs=1, upgrade',
      req('POST', `${A}?stream=1&logs=1&stdout=1&stderr=1`, { upgrade: true }),
    );
    await raw(
      'stream=0&logs=1, stdout only',
      req('POST', `${A}?logs=1&stdout=1`, { upgrade: true }),
    );
    await raw(
      'stream=0&logs=1, no upgrade header',
      req('POST', `${A}?stream=0&logs=1&stdout=1&stderr=1`),
    );
    await raw(
      'stream=1&logs=0 on an exited container',
      req('POST', `${A}?stream=1&stdout=1&stderr=1`, { upgrade: true }),
    );
    await raw('stream=0&logs=0', req('POST', `${A}?stdout=1&stderr=1`, { upgrade: true }));
    await raw(
      'tty container, stream=0&logs=1',
      req('POST', `/containers/ext/attach?logs=1&stdout=1&stderr=1`, { upgrade: true }),
    );
    await raw(
      'no such container',
      req('POST', `/containers/nosuch/attach?logs=1&stdout=1`, { upgrade: true }),
    );
    await raw(
      'API 1.42 (newer than 20.10)',
      req('POST', `${A}?logs=1&stdout=1`, { upgrade: true, version: '/v1.42' }),
    );
    await raw(
      'no version prefix',
      req('POST', `${A}?logs=1&stdout=1&stderr=1`, { upgrade: true, version: '' }),
    );

    c.sec('Attach to a running container: output, detach keys');
    c.docker(['run', '-d', '-i', '--name', 'cat1', 'busybox', 'cat']);
    c.docker(['run', '-d', '-i', '-t', '--name', 'cat2', 'busybox', 'cat']);
    const at = (id: string, q = '') =>
      `/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1${q}`;
    await raw(
      'non-tty: input echoed by cat, then ctrl-p ctrl-q (default detach keys)',
      req('POST', at('cat1'), { upgrade: true }),
      [{ send: 'hello\n' }, { send: '\x10\x11' }],
    );
    c.docker(['inspect', '-f', '{{.State.Status}}', 'cat1']);
    await raw(
      'non-tty: ctrl-p then another key (not a detach)',
      req('POST', at('cat1'), { upgrade: true }),
      [{ send: '\x10a\n' }, { send: 'b\n' }],
    );
    await raw('tty: input, then ctrl-p ctrl-q', req('POST', at('cat2'), { upgrade: true }), [
      { send: 'hello\r' },
      { send: '\x10\x11' },
    ]);
    c.docker(['inspect', '-f', '{{.State.Status}}', 'cat2']);
    await raw(
      'tty: ctrl-p then another key (not a detach)',
      req('POST', at('cat2'), { upgrade: true }),
      [{ send: '\x10x\r' }],
    );
    await raw(
      'detachKeys=ctrl-x,y',
      req('POST', at('cat1', '&detachKeys=ctrl-x,y'), { upgrade: true }),
      [{ send: 'one\n' }, { send: '\x10\x11' }, { send: 'two\n' }, { send: '\x18y' }],
    );
    c.docker(['inspect', '-f', '{{.State.Status}}', 'cat1']);
    await raw(
      'detachKeys=a (a single letter)',
      req('POST', at('cat1', '&detachKeys=a'), { upgrade: true }),
      [{ send: 'xyz\n' }, { send: 'a' }],
    );
    await raw(
      'detachKeys= (empty: the default)',
      req('POST', at('cat1', '&detachKeys='), { upgrade: true }),
      [{ send: '\x10\x11' }],
    );
    for (const bad of ['ctrl-', 'foo', 'ctrl-1', 'ctrl-a,,b', 'ctrl-ab']) {
      await raw(
        `invalid detachKeys=${bad}`,
        req('POST', at('cat1', `&detachKeys=${encodeURIComponent(bad)}`), { upgrade: true }),
        [{ send: 'q\n' }],
      );
    }
    await raw(
      'without stdin: the detach keys are not read',
      req('POST', '/containers/cat1/attach?stream=1&stdout=1&stderr=1', { upgrade: true }),
      [{ send: '\x10\x11' }],
    );
    await raw('no upgrade header, stream=1', req('POST', at('cat1'), { upgrade: false }), [
      { send: '\x10\x11' },
    ]);
    await raw(
      'input ends (half-close) without detach',
      req('POST', at('cat1'), { upgrade: true }),
      [{ send: 'end\n' }, { end: true }],
    );
    c.docker(['inspect', '-f', '{{.State.Status}}', 'cat1']);
    c.docker(['logs', 'cat1']);

    c.sec('Exec framing');
    c.docker(['run', '-d', '--name', 'run1', 'busybox', ...LOOP]);
    const execCreate = async (body: Record<string, unknown>) => {
      const r = await c.api('POST', '/containers/run1/exec', body);
      return (r.json as { Id?: string }).Id ?? '';
    };
    const OUT = ['sh', '-c', 'echo out1; echo err1 >&2; echo out2'];
    let id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true });
    await raw(
      'exec non-tty, upgrade',
      req('POST', `/exec/${id}/start`, { upgrade: true, body: { Detach: false, Tty: false } }),
    );
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true, Tty: true });
    await raw(
      'exec tty, upgrade',
      req('POST', `/exec/${id}/start`, { upgrade: true, body: { Detach: false, Tty: true } }),
    );
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true });
    await raw(
      'exec non-tty, no upgrade header',
      req('POST', `/exec/${id}/start`, { body: { Detach: false, Tty: false } }),
    );
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true, Tty: true });
    await raw(
      'exec tty, no upgrade header',
      req('POST', `/exec/${id}/start`, { body: { Detach: false, Tty: true } }),
    );
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true });
    await raw(
      'exec non-tty, no version prefix',
      req('POST', `/exec/${id}/start`, {
        upgrade: true,
        version: '',
        body: { Detach: false, Tty: false },
      }),
    );
    id = await execCreate({ Cmd: OUT, AttachStdout: true, AttachStderr: true });
    await raw(
      'exec start Detach=true',
      req('POST', `/exec/${id}/start`, { upgrade: false, body: { Detach: true, Tty: false } }),
    );
    id = await execCreate({
      Cmd: ['sh', '-c', 'echo only-err >&2'],
      AttachStdout: true,
      AttachStderr: false,
    });
    await raw(
      'exec AttachStderr=false',
      req('POST', `/exec/${id}/start`, { upgrade: true, body: { Detach: false, Tty: false } }),
    );

    c.sec('Exec detach keys');
    id = await execCreate({
      Cmd: ['cat'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
    });
    await raw(
      'exec non-tty cat: ctrl-p ctrl-q (default)',
      req('POST', `/exec/${id}/start`, { upgrade: true, body: { Detach: false, Tty: false } }),
      [{ send: 'hi\n' }, { send: '\x10\x11' }],
    );
    await c.api('GET', `/exec/${id}/json`, undefined, ['Running', 'ExitCode', 'DetachKeys']);
    id = await execCreate({
      Cmd: ['cat'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
    });
    await raw(
      'exec tty cat: ctrl-p ctrl-q (default)',
      req('POST', `/exec/${id}/start`, { upgrade: true, body: { Detach: false, Tty: true } }),
      [{ send: 'hi\r' }, { send: '\x10\x11' }],
    );
    await c.api('GET', `/exec/${id}/json`, undefined, ['Running', 'ExitCode', 'DetachKeys']);
    id = await execCreate({
      Cmd: ['cat'],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      DetachKeys: 'ctrl-x',
    });
    await raw(
      'exec DetachKeys=ctrl-x in create',
      req('POST', `/exec/${id}/start`, { upgrade: true, body: { Detach: false, Tty: false } }),
      [{ send: 'a\n' }, { send: '\x10\x11' }, { send: 'b\n' }, { send: '\x18' }],
    );
    await c.api('GET', `/exec/${id}/json`, undefined, ['Running', 'ExitCode', 'DetachKeys']);
    await c.api('POST', '/containers/run1/exec', {
      Cmd: ['cat'],
      AttachStdin: true,
      DetachKeys: 'foo',
    });
    id = await execCreate({
      Cmd: ['cat'],
      AttachStdin: true,
      AttachStdout: true,
      DetachKeys: 'foo',
    });
    if (id) {
      await raw(
        'exec start with invalid DetachKeys',
        req('POST', `/exec/${id}/start`, { upgrade: true, body: { Detach: false, Tty: false } }),
        [{ send: 'q\n' }],
      );
    }
    c.docker(['top', 'run1']);

    c.sec('Websocket attach');
    c.docker([
      'run',
      '-d',
      '-i',
      '--name',
      'ws1',
      'busybox',
      'sh',
      '-c',
      'echo hello; echo oops >&2; cat',
    ]);
    const wsReq = (path: string, extra: string[] = []) =>
      `GET ${API}${path} HTTP/1.1\r\nHost: docker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n` +
      extra.map((h) => h + '\r\n').join('') +
      '\r\n';
    c.note(
      'expected Sec-WebSocket-Accept',
      createHash('sha1')
        .update(WS_KEY + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
        .digest('base64'),
    );
    const W = '/containers/ws1/attach/ws';
    await raw(
      'ws logs=1 stream=1 stdin stdout stderr, input frame, then close frame',
      wsReq(`${W}?logs=1&stream=1&stdin=1&stdout=1&stderr=1`, ['Origin: http://localhost']),
      [
        { send: wsFrame(1, Buffer.from('typed\n')) },
        { send: wsFrame(2, Buffer.from('bin\n')) },
        { send: wsFrame(8, Buffer.from([0x03, 0xe8])) },
      ],
      1500,
      true,
    );
    await raw('ws without Origin', wsReq(`${W}?stream=1&stdout=1`), [], 1000, true);
    await raw(
      'ws logs=1 stream=0',
      wsReq(`${W}?logs=1&stdout=1&stderr=1`, ['Origin: http://localhost']),
      [],
      1500,
      true,
    );
    await raw('ws with no Upgrade header', req('GET', `${W}?logs=1&stdout=1`), [], 1000, true);
    await raw(
      'ws on a missing container',
      wsReq(`/containers/nosuch/attach/ws?logs=1&stdout=1`, ['Origin: http://localhost']),
      [],
      1000,
      true,
    );
    await raw(
      'ws via POST',
      wsReq(`${W}?logs=1&stdout=1`, ['Origin: http://localhost']).replace(/^GET/, 'POST'),
      [],
      1000,
      true,
    );
    await raw(
      'ws ctrl-p ctrl-q in a frame',
      wsReq(`${W}?stream=1&stdin=1&stdout=1`, ['Origin: http://localhost']),
      [{ send: wsFrame(1, Buffer.from('x\n')) }, { send: wsFrame(1, Buffer.from('\x10\x11')) }],
      1500,
      true,
    );
    c.docker(['run', '-d', '-t', '-i', '--name', 'ws2', 'busybox', 'sh', '-c', 'echo hi; cat']);
    await raw(
      'ws tty logs=1 stream=1 stdin, input frame',
      wsReq(`/containers/ws2/attach/ws?logs=1&stream=1&stdin=1&stdout=1`, [
        'Origin: http://localhost',
      ]),
      [{ send: wsFrame(1, Buffer.from('t\r')) }],
      1500,
      true,
    );
    c.docker(['run', '-d', '--name', 'ws3', 'busybox', 'sh', '-c', 'sleep 1; echo bye']);
    await raw(
      'ws stream=1 until the container exits',
      wsReq(`/containers/ws3/attach/ws?stream=1&stdout=1&stderr=1`, ['Origin: http://localhost']),
      [],
      3000,
      true,
    );
    await raw(
      'ws on an exited container, logs=1',
      wsReq(`/containers/ex/attach/ws?logs=1&stdout=1&stderr=1`, ['Origin: http://localhost']),
      [],
      1500,
      true,
    );

    c.sec('docker-py 5.0.3 (Debian python3-docker) against the same dockerd');
    const py = `
import docker, sys
c = docker.APIClient(base_url="unix://${sock}", version="1.41")
print("attach logs exited:", repr(c.attach("ex", stream=False, logs=True)))
e = c.exec_create("run1", ["sh", "-c", "echo a; echo b >&2"], tty=True)
print("exec tty:", repr(c.exec_start(e["Id"])))
e = c.exec_create("run1", ["sh", "-c", "echo a; echo b >&2"])
print("exec demux:", repr(c.exec_start(e["Id"], demux=True)))
e = c.exec_create("run1", ["sh", "-c", "echo a; echo b >&2"])
print("exec raw:", repr(c.exec_start(e["Id"])))
s = c.attach_socket("cat1", params={"stdin": 1, "stdout": 1, "stream": 1})
s._sock.sendall(b"py\\n\\x10\\x11")
import time; time.sleep(0.5)
print("attach_socket detach:", repr(s._sock.recv(4096)), repr(s._sock.recv(4096)))
print("state:", c.inspect_container("cat1")["State"]["Status"])
`;
    c.ns('h1', ['/usr/bin/python3', '-c', py]);
  },
});
