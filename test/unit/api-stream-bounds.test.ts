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
import { connect, createServer, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import {
  MAX_EARLY_INPUT,
  socketInput,
  splitUpgradeBody,
  UPGRADE_BODY_MS,
} from '../../src/api/body.js';
import { socketHijack } from '../../src/api/hijack.js';
import { MAX_WS_PAYLOAD, WsDecoder } from '../../src/api/websocket.js';
import { containerRoutes } from '../../src/api/routes/containers.js';
import type { Services } from '../../src/api/routes/services.js';
import { systemRoutes } from '../../src/api/routes/system.js';
import { createApiServer, json, Router } from '../../src/api/server.js';
import { bridgeToShim, frame } from '../../src/api/stream.js';
import { notFound } from '../../src/common/errors.js';
import { createLogger } from '../../src/common/log.js';
import { bodyOf, rawHttp, rawSession, statusOf } from '../helpers/raw-http.js';

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: tcp\r\n';
const HIJACK = { hijack: true };

/** Resolves after `ms`. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
  chunk = Buffer.alloc(64 << 10, 0x5a),
): Promise<{ text: string; closed: boolean; sent: number }> {
  return new Promise((resolve) => {
    // Half-open allowed: the client writes on after the server's end, as
    // a client that does not care would.
    const c = connect({ path: sock, allowHalfOpen: true });
    const got: Buffer[] = [];
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
  const created: unknown[] = [];
  const started: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-api-bounds-'));
    sock = join(dir, 'api.sock');
    const router = new Router()
      .on(
        'POST',
        '/containers/:id/attach',
        async (ctx) => {
          if (ctx.params[0] === 'missing') throw notFound('No such container: missing');
          if (ctx.params[0] === 'raw') {
            // As attach's errors found once the stream was promised: written raw.
            ctx.socket.end('HTTP/1.1 409 Conflict\r\nContent-Type: text/plain\r\n\r\npaused\r\n');
            return;
          }
          const h = await ctx.hijack('application/vnd.docker.raw-stream');
          h.onInput((b) => (b === null ? h.end() : h.write(`ECHO[${b.toString()}]`)));
        },
        HIJACK,
      )
      .on(
        'GET',
        '/late/attach/ws',
        async (ctx) => {
          // Its stream is there only once the container runs.
          const h = ctx.websocket();
          await sleep(3000);
          h?.onInput(() => undefined);
        },
        HIJACK,
      )
      .on('POST', '/containers/:id/start', async (ctx) => {
        started.push(ctx.params[0]!);
        ctx.res!.writeHead(204).end();
      })
      .on(
        'GET',
        '/containers/:id/attach/ws',
        async (ctx) => {
          const h = ctx.websocket();
          h?.onInput((b) => (b === null ? h.end() : h.write(`got ${b.length}`)));
        },
        HIJACK,
      )
      .on(
        'POST',
        '/exec/:id/start',
        async (ctx) => {
          // exec start with Detach: an answer, no stream.
          await ctx.body();
          ctx.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        },
        HIJACK,
      )
      .on('POST', '/containers/create', async (ctx) => {
        const body = await ctx.body();
        created.push(body);
        json(ctx.res!, 201, { Id: 'c1', Warnings: [] });
      })
      .on('GET', '/_ping', async (ctx) => {
        ctx.res!.writeHead(200, { 'Content-Length': 2 }).end('OK');
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

  it('an answer on a plain attach says the connection closes, as it does', async () => {
    const r = await rawHttp(
      sock,
      'POST /containers/missing/attach?stream=1 HTTP/1.1\r\nHost: b\r\n\r\n',
    );
    assert.equal(statusOf(r), 404);
    assert.match(r, /\r\nConnection: close\r\n/i);
  });

  it('a route that takes no connection over answers an upgrade request as a plain one', async () => {
    const body = '{"Image":"busybox"}';
    const create = (type: string) =>
      `POST /v1.41/containers/create HTTP/1.1\r\nHost: b\r\nConnection: keep-alive, Upgrade\r\nUpgrade: x\r\n` +
      `Content-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const ok = await rawHttp(sock, create('application/json'));
    assert.equal(statusOf(ok), 201, ok);
    assert.deepEqual(JSON.parse(bodyOf(ok)), { Id: 'c1', Warnings: [] });
    assert.deepEqual(created, [{ Image: 'busybox' }]);
    const wrongType = await rawHttp(sock, create('text/plain'));
    assert.equal(statusOf(wrongType), 400, wrongType);
    assert.match(bodyOf(wrongType), /must be 'application\/json'/);
    assert.equal(created.length, 1, 'a refused create creates nothing');
    // The connection stays an HTTP one: a second request on it is answered.
    const two = await rawHttp(
      sock,
      `GET /_ping HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\nGET /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(two.match(/HTTP\/1\.1 200 OK/g)?.length, 2, two);
  });

  it('a plain attach (no upgrade) takes the connection: what follows is input, never a request', async () => {
    const attach =
      'POST /containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n';
    const start = 'POST /containers/victim/start HTTP/1.1\r\nHost: b\r\n\r\n';
    const r = await rawSession(sock, attach, [{ send: start }, { send: 'hello\n' }], 500);
    assert.deepEqual(started, [], 'the bytes after the attach ran as a request');
    assert.equal(statusOf(r.text), 200, r.text);
    assert.ok(r.text.includes(`ECHO[${start}]`), r.text);
    assert.match(r.text, /ECHO\[hello\n\]/);
  });

  /** Whether `p` settles within `ms`, and how. */
  const settles = (p: Promise<unknown>, ms = 500) =>
    Promise.race([
      p.then(
        (v) => ({ ok: v }),
        (e: Error) => ({ failed: e.message }),
      ),
      sleep(ms).then(() => 'pending' as const),
    ]);
  const upgradeReq = (length: number) =>
    ({ headers: { 'content-length': String(length) } }) as unknown as IncomingMessage;

  it("an upgraded request's body fails when its connection is reset before it is whole", async () => {
    const socket = new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
    socket.on('error', () => undefined);
    const s = splitUpgradeBody(upgradeReq(100), socket, Buffer.from('0123456789'));
    let inputEnded = false;
    s.input((b) => (inputEnded ||= b === null));
    socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    const r = await settles(s.body);
    assert.deepEqual(r, { failed: 'request body incomplete: the connection closed' });
    assert.ok(inputEnded, 'the input ends too');
  });

  it("an upgraded request's body fails when the client ends before it is whole", async () => {
    const socket = new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
    const s = splitUpgradeBody(upgradeReq(100), socket, Buffer.from('0123456789'));
    socket.push(null);
    const r = await settles(s.body);
    assert.deepEqual(r, { failed: 'request body incomplete: the client ended its side first' });
  });

  it("an upgraded request's body that never comes whole times out", async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const socket = new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
    const s = splitUpgradeBody(upgradeReq(100), socket, Buffer.from('0123456789'));
    t.mock.timers.tick(UPGRADE_BODY_MS);
    t.mock.timers.reset();
    const r = await settles(s.body);
    assert.deepEqual(r, { failed: 'request body incomplete: not read whole in 60 s' });
    socket.destroy();
  });

  it('a stream made for a client already gone is closed, and its input ended', () => {
    // A plain exec start whose client left while the exec launched.
    const socket = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
    socket.destroy();
    const h = socketHijack(socket, socketInput(socket).input);
    assert.equal(h.closed, true);
    let closedCb = false;
    h.onClose(() => (closedCb = true));
    assert.equal(closedCb, true, 'its close callback runs at once');
    const got: Array<Buffer | null> = [];
    h.onInput((b) => got.push(b));
    assert.deepEqual(got, [null], 'the process gets the end of its stdin');
  });

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
    assert.ok(!socket.isPaused(), 'and resumed once its input is taken (by a taker that keeps up)');
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

  it("a websocket client's frames before its stream is there wait within the bound", async () => {
    // Binary frames of 60 KiB, masked with a zero key, back to back.
    const one = Buffer.concat([
      Buffer.from([0x82, 0x80 | 126, 0xf0, 0x00, 0, 0, 0, 0]),
      Buffer.alloc(0xf000, 0x61),
    ]);
    const chunk = Buffer.concat([one, one, one, one]);
    const handshake = WS_HANDSHAKE.replace('/containers/c/attach/ws', '/late/attach/ws');
    const r = await flood(sock, handshake, 2000, chunk);
    assert.equal(statusOf(r.text), 101);
    assert.ok(r.sent < 16 << 20, `the daemon took ${r.sent >> 20} MiB nobody read`);
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

/** Connects, sends `request`, and resolves once the head of the answer is in; the client then reads nothing. */
function stalled(sock: string, request: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    c.on('error', reject);
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      c.off('data', onData);
      c.pause();
      resolve(c);
    };
    c.on('data', onData);
    c.write(request);
  });
}

describe('API streams to a client that does not read', () => {
  let dir: string;
  let sock: string;
  let server: Server;
  const conns: Socket[] = [];
  // A shim whose process writes as fast as its socket takes it, TOTAL bytes.
  const TOTAL = 64 << 20;
  let shimSent = 0;
  // The connections the deaf shim (which ends none itself) has open.
  let shimClients = 0;
  const pendingAttaches = new Set<unknown>();
  const subscribers = new Set<(e: unknown) => void>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-api-flow-'));
    sock = join(dir, 'api.sock');
    const shimPath = join(dir, 'shim.sock');
    const shim = createServer((c) => {
      c.on('error', () => undefined);
      // The shim's stream is multiplexed frames; a TTY's client gets their payloads.
      const chunk = frame(1, Buffer.alloc(64 << 10, 0x79));
      const pump = () => {
        while (shimSent < TOTAL) {
          shimSent += chunk.length - 8;
          if (!c.write(chunk)) return void c.once('drain', pump);
        }
        c.end();
      };
      pump();
    });
    await new Promise<void>((r) => shim.listen(shimPath, r));
    shim.unref();
    // A shim whose process never reads its stdin.
    const deafPath = join(dir, 'deaf.sock');
    const deaf = createServer((c) => {
      shimClients++;
      c.on('close', () => shimClients--);
      c.on('error', () => undefined);
      c.pause();
    });
    await new Promise<void>((r) => deaf.listen(deafPath, r));
    deaf.unref();
    const openDeaf = () =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect(deafPath, () => resolve(s));
        s.on('error', reject);
      });
    const open = () =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect(shimPath, () => resolve(s));
        s.on('error', reject);
      });
    const logPath = join(dir, 'c1-json.log');
    const line = JSON.stringify({
      log: 'x'.repeat(16 << 10) + '\n',
      stream: 'stdout',
      time: new Date().toISOString(),
    });
    writeFileSync(logPath, (line + '\n').repeat(1536));
    const rec = {
      Id: 'c1',
      Config: { Tty: true },
      HostConfig: { LogConfig: { Type: 'json-file' } },
      State: { Status: 'exited' },
    };
    const services = {
      containers: {
        get: () => rec,
        find: () => rec,
        logPath: () => logPath,
        whenAttachable: (_id: string, fn: unknown) => pendingAttaches.add(fn),
        dropPendingAttach: (_id: string, fn: unknown) => pendingAttaches.delete(fn),
      },
      events: {
        since: () => [],
        subscribe: (fn: (e: unknown) => void) => {
          subscribers.add(fn);
          return () => subscribers.delete(fn);
        },
      },
    } as unknown as Services;
    const router = new Router()
      .on(
        'POST',
        '/shim/attach',
        async (ctx) => {
          const h = await ctx.hijack('application/vnd.docker.raw-stream');
          await bridgeToShim(open, h, { stdin: true, stdout: true, stderr: true, tty: true });
        },
        HIJACK,
      )
      .on(
        'POST',
        '/deaf/attach',
        async (ctx) => {
          const h = await ctx.hijack('application/vnd.docker.raw-stream');
          await bridgeToShim(openDeaf, h, { stdin: true, stdout: true, stderr: true, tty: true });
        },
        HIJACK,
      )
      .on(
        'POST',
        '/late/attach',
        async (ctx) => {
          // As `docker run -i`: the client's stdin comes before the process is there.
          const h = await ctx.hijack('application/vnd.docker.raw-stream');
          await sleep(300);
          await bridgeToShim(openDeaf, h, { stdin: true, stdout: true, stderr: true, tty: true });
        },
        HIJACK,
      );
    systemRoutes(router, services);
    containerRoutes(router, services);
    server = createApiServer(router, createLogger('error'));
    server.on('connection', (c: Socket) => conns.push(c));
    await new Promise<void>((r) => server.listen(sock, r));
  });

  after(() => {
    // Upgraded connections too: one whose input is paused never reads its client's end.
    for (const c of conns) c.destroy();
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an attach holds the shim while its client does not read, and loses nothing', async () => {
    const c = await stalled(sock, `POST /shim/attach HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\n`);
    await sleep(1500);
    const held = shimSent;
    assert.ok(held < 16 << 20, `the daemon read ${held >> 20} MiB the client did not`);
    let got = 0;
    const ended = new Promise((r) => c.on('end', r));
    c.on('data', (d: Buffer) => (got += d.length));
    c.resume();
    await ended;
    c.destroy();
    assert.equal(got, TOTAL, 'all the output arrives once the client reads');
  });

  it('clients that attach and leave at once leave no shim connection open', async () => {
    // The earlier tests' shim connections are gone by now.
    await sleep(100);
    const before = shimClients;
    for (let i = 0; i < 20; i++) {
      const c = connect(sock);
      c.on('error', () => undefined);
      c.write(`POST /deaf/attach HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\n`, () => c.destroy());
    }
    await sleep(1000);
    assert.equal(shimClients - before, 0, `shim connections left open (${before} before)`);
  });

  it('an attach whose client leaves at once is no longer waited for by the next start', async () => {
    for (let i = 0; i < 5; i++) {
      const c = connect(sock);
      c.on('error', () => undefined);
      c.write(
        `POST /containers/c1/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\n`,
        () => c.destroy(),
      );
    }
    await sleep(1000);
    assert.equal(pendingAttaches.size, 0, 'attaches still pending');
  });

  it("a client's stdin waits while the process does not read it", async () => {
    const r = await flood(sock, `POST /deaf/attach HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\n`, 2000);
    assert.equal(statusOf(r.text), 101);
    assert.ok(r.sent < 16 << 20, `the daemon took ${r.sent >> 20} MiB of stdin nobody read`);
  });

  it("a client's stdin sent before its process is there still waits once it is", async () => {
    const r = await flood(sock, `POST /late/attach HTTP/1.1\r\nHost: b\r\n${UPGRADE}\r\n`, 2500);
    assert.equal(statusOf(r.text), 101);
    assert.ok(r.sent < 16 << 20, `the daemon took ${r.sent >> 20} MiB of stdin nobody read`);
  });

  it('logs --follow reads the log only as fast as its client does', async () => {
    const c = await stalled(
      sock,
      'GET /containers/c1/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: b\r\n\r\n',
    );
    await sleep(1000);
    const server = conns[conns.length - 1]!;
    const queued = server.writableLength;
    c.destroy();
    assert.ok(queued < 4 << 20, `${queued >> 20} MiB queued for the client`);
  });

  it('HEAD /_ping says Content-Length 0, as dockerd', async () => {
    const r = await rawHttp(sock, 'HEAD /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(r), 200);
    assert.match(r, /\r\nContent-Length: 0\r\n/i);
  });

  it('an events listener that does not read is dropped once far behind', async () => {
    const c = await stalled(sock, 'GET /events HTTP/1.1\r\nHost: b\r\n\r\n');
    assert.equal(subscribers.size, 1);
    const e = {
      Type: 'container',
      Action: 'x',
      Actor: { ID: 'c1', Attributes: { pad: 'p'.repeat(4096) } },
    };
    let pushed = 0;
    while (subscribers.size && pushed < 64 << 20) {
      for (let i = 0; i < 256; i++) for (const fn of subscribers) fn(e);
      pushed += 256 * 4200;
      await new Promise((r) => setImmediate(r));
    }
    await sleep(50);
    c.destroy();
    assert.equal(subscribers.size, 0, `still subscribed after ${pushed >> 20} MiB`);
  });
});
