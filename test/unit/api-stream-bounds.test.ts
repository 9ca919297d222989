/**
 * What a connection can make the API hold (decision 0048): a refused or
 * finished upgrade keeps nothing the client sends afterwards and is closed;
 * input nobody takes yet is bounded. A real server on a unix socket; no
 * root needed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { MAX_EARLY_INPUT, splitUpgradeBody } from '../../src/api/body.js';
import { MAX_WS_PAYLOAD, WsDecoder } from '../../src/api/websocket.js';
import { createApiServer, Router } from '../../src/api/server.js';
import { notFound } from '../../src/common/errors.js';
import { createLogger } from '../../src/common/log.js';
import { statusOf } from '../helpers/raw-http.js';

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: tcp\r\n';
const WS_HANDSHAKE =
  'GET /containers/c/attach/ws?stream=1&stdin=1 HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\n' +
  'Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A masked binary frame's header from a client, saying `len` bytes follow (mask 0). */
function wsHead(len: number): Buffer {
  const h = Buffer.alloc(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

/**
 * Sends `request`, then writes 64 KiB every 5 ms (if the server takes it)
 * for up to `ms`; resolves with what came back and whether the server closed the
 * connection (the client's writes failed or it saw the end) meanwhile.
 */
function flood(
  sock: string,
  request: string | Buffer,
  ms = 4000,
): Promise<{ text: string; closed: boolean; sent: number }> {
  return new Promise((resolve) => {
    // Half-open allowed: the client writes on after the server's end, as
    // a client that does not care would.
    const c = connect({ path: sock, allowHalfOpen: true });
    const got: Buffer[] = [];
    const chunk = Buffer.alloc(64 << 10, 0x5a);
    let sent = 0;
    let over = false;
    const finish = (closed: boolean) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      c.destroy();
      resolve({ text: Buffer.concat(got).toString('latin1'), closed, sent });
    };
    const timer = setTimeout(() => finish(false), ms);
    c.on('data', (d: Buffer) => got.push(d));
    c.on('error', () => finish(true));
    c.on('close', () => finish(true));
    // 64 KiB every 5 ms: enough to see, not a benchmark.
    const pump = () => {
      if (over || c.destroyed) return;
      sent += chunk.length;
      if (c.write(chunk)) setTimeout(pump, 5);
      else c.once('drain', pump);
    };
    c.write(request, pump);
  });
}

describe('API stream bounds', () => {
  let dir: string;
  let sock: string;
  let server: Server;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-api-bounds-'));
    sock = join(dir, 'api.sock');
    const router = new Router()
      .on('POST', '/containers/:id/attach', async (ctx) => {
        if (ctx.params[0] === 'missing') throw notFound('No such container: missing');
        if (ctx.params[0] === 'raw') {
          // As attach's errors found once the stream was promised: written raw.
          ctx.socket.end('HTTP/1.1 409 Conflict\r\nContent-Type: text/plain\r\n\r\npaused\r\n');
          return;
        }
        const h = await ctx.hijack('application/vnd.docker.raw-stream');
        h.onInput((b) => (b === null ? h.end() : undefined));
      })
      .on('GET', '/containers/:id/attach/ws', async (ctx) => {
        const h = ctx.websocket();
        h?.onInput((b) => (b === null ? h.end() : h.write(`got ${b.length}`)));
      })
      .on('POST', '/exec/:id/start', async (ctx) => {
        // exec start with Detach: an answer, no stream.
        await ctx.body();
        ctx.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      });
    server = createApiServer(router, createLogger('error'));
    await new Promise<void>((r) => server.listen(sock, r));
  });

  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [what, request, status] of [
    [
      'a refused attach upgrade',
      `POST /containers/missing/attach?stream=1 HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\n`,
      404,
    ],
    [
      'an attach refused with a raw answer',
      `POST /containers/raw/attach?stream=1 HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\n`,
      409,
    ],
    [
      'a detached exec start over an upgrade',
      `POST /exec/x/start HTTP/1.1\r\nHost: b\r\n${UPGRADE}Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{"Detach":true}`,
      200,
    ],
  ] as const) {
    it(`${what} is answered and closed; what the client sends on is not kept`, async () => {
      const r = await flood(sock, request);
      assert.equal(statusOf(r.text), status, r.text.slice(0, 200));
      assert.ok(r.closed, `the connection stayed open while the client sent ${r.sent >> 20} MiB`);
    });
  }

  it('input that nobody takes yet stops being read past its bound, and is all delivered', () => {
    const socket = new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
    const req = { headers: {} } as IncomingMessage;
    const s = splitUpgradeBody(req, socket, Buffer.alloc(0));
    const chunk = Buffer.alloc(64 << 10, 1);
    let pushed = 0;
    while (pushed <= MAX_EARLY_INPUT * 2) {
      socket.emit('data', chunk);
      pushed += chunk.length;
    }
    assert.ok(socket.isPaused(), 'the socket is paused past the bound');
    let got = 0;
    s.input((b) => (got += b?.length ?? 0));
    assert.equal(got, pushed);
    assert.ok(!socket.isPaused(), 'and resumed once its input is taken');
    s.stop();
  });

  it('a websocket frame over the bound is refused with 1009 and the connection closed', async () => {
    const r = await flood(sock, Buffer.concat([Buffer.from(WS_HANDSHAKE), wsHead(2 ** 40)]));
    assert.equal(statusOf(r.text), 101);
    const close = Buffer.from(r.text.slice(r.text.indexOf('\r\n\r\n') + 4), 'latin1');
    assert.equal(close[0], 0x88, 'a close frame');
    assert.equal(close.readUInt16BE(2), 1009);
    assert.match(close.subarray(4).toString(), /message too big/);
    assert.ok(r.closed, `the connection stayed open while the client sent ${r.sent >> 20} MiB`);
  });

  it('a websocket frame under the bound still arrives whole', async () => {
    const payload = Buffer.alloc(100_000, 0x61);
    const r = await flood(
      sock,
      Buffer.concat([Buffer.from(WS_HANDSHAKE), wsHead(payload.length), payload]),
      500,
    );
    assert.match(r.text, /got 100000/);
  });

  it('a frame that comes in many chunks is joined once, not on every chunk', () => {
    const frames: number[] = [];
    const dec = new WsDecoder((_op, p) => frames.push(p.length));
    const payload = Buffer.alloc(MAX_WS_PAYLOAD, 0x61);
    const bytes = Buffer.concat([wsHead(payload.length), payload]);
    const concat = Buffer.concat;
    let copied = 0;
    Buffer.concat = (list: readonly Uint8Array[], n?: number) => {
      const b = concat(list, n);
      copied += b.length;
      return b;
    };
    try {
      for (let at = 0; at < bytes.length; at += 1024) dec.push(bytes.subarray(at, at + 1024));
    } finally {
      Buffer.concat = concat;
    }
    assert.deepEqual(frames, [MAX_WS_PAYLOAD]);
    assert.ok(copied < 3 * bytes.length, `${copied >> 20} MiB copied for a 1 MiB frame`);
  });
});
