// The resolver's TCP connection limits (hardening issue, defect 7), and
// slow and hostile TCP senders fuzzed against the resolver, in process:
// connections come over a unix socket (no network is touched) and are
// handed to TcpConnections with the source address the test chooses.
// BERTH_FUZZ_LONG=1 runs a hundred times as many fuzz clients.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DnsResolver } from '../../src/network/dns/resolver.js';
import { TcpConnections, type TcpLimits, type TcpQueryHandler } from '../../src/network/dns/tcp.js';
import { SCALE, SEED, hostile, int, malformed, rng } from '../helpers/dns-fuzz.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-dns-tcp-'));
let n = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A unix-socket server feeding TcpConnections; `open(source)` connects as that client. */
class Rig {
  readonly conns: TcpConnections;
  private readonly server: Server;
  private readonly path = join(dir, `s${n++}`);
  private readonly sources: string[] = [];
  private readonly clients: Socket[] = [];
  constructor(limits: Partial<TcpLimits>, handler: TcpQueryHandler = echo) {
    this.conns = new TcpConnections(
      {
        idleMs: 10_000,
        messageMs: 3_000,
        maxConnections: 256,
        maxPerClient: 8,
        maxPending: 16,
        ...limits,
      },
      handler,
    );
    this.server = createServer((c) => this.conns.accept(c, this.sources.shift() ?? '?'));
  }
  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.path, r));
  }
  /** Connects as `source`; resolves once the server has taken (or refused) it. */
  async open(source: string): Promise<Client> {
    this.sources.push(source);
    const s = connect(this.path);
    this.clients.push(s);
    const c = new Client(s);
    await new Promise<void>((r, j) => {
      s.once('connect', r);
      s.once('error', j);
    });
    // The accept callback runs after the client sees the connection.
    await sleep(5);
    return c;
  }
  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    this.conns.closeAll();
    await new Promise((r) => this.server.close(r));
  }
}

/** A client connection: its answers, and whether the server closed it. */
class Client {
  closed = false;
  closedAt = 0;
  readonly opened = Date.now();
  answers: Buffer[] = [];
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  constructor(readonly sock: Socket) {
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.wake();
    });
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
        this.answers.push(this.buf.subarray(2, 2 + this.buf.readUInt16BE(0)));
        this.buf = this.buf.subarray(2 + this.buf.readUInt16BE(0));
      }
      this.wake();
    });
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  send(msg: Buffer): void {
    const l = Buffer.alloc(2);
    l.writeUInt16BE(msg.length);
    this.sock.write(Buffer.concat([l, msg]));
  }
  /** Waits until `cond` holds (or fails after `ms`). */
  async until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      const left = end - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

/** Answers every message with itself, QR set. */
const echo: TcpQueryHandler = (msg) => {
  const out = Buffer.from(msg);
  out[2] = (out[2] ?? 0) | 0x80;
  return out;
};
const query = (id: number): Buffer => {
  const b = Buffer.alloc(17);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(1, 4);
  b.write('\x01a\x00\x00\x01\x00\x01', 12, 'latin1');
  return b;
};

describe('dns tcp limits', () => {
  const rigs: Rig[] = [];
  const rig = async (l: Partial<TcpLimits>, h?: TcpQueryHandler): Promise<Rig> => {
    const r = new Rig(l, h);
    rigs.push(r);
    await r.listen();
    return r;
  };
  after(async () => {
    for (const r of rigs) await r.close();
  });

  it('one client holds at most maxPerClient connections: a new one replaces its oldest idle one', async () => {
    const r = await rig({ maxPerClient: 4 });
    const hog: Client[] = [];
    for (let i = 0; i < 20; i++) hog.push(await r.open('10.0.0.66'));
    await hog[15]!.until(() => hog.slice(0, 16).every((c) => c.closed), 2000, 'old ones closed');
    assert.equal(r.conns.countFor('10.0.0.66'), 4);
    assert.deepEqual(
      hog.map((c) => c.closed),
      [...Array(16).fill(true), false, false, false, false],
    );
    // Another client is untouched and answered; so is the hog on its newest.
    const other = await r.open('10.0.0.2');
    other.send(query(7));
    await other.until(() => other.answers.length === 1);
    hog[19]!.send(query(8));
    await hog[19]!.until(() => hog[19]!.answers.length === 1);
  });

  it('the listener budget is taken from the client holding the most, never refusing a newcomer', async () => {
    const r = await rig({ maxConnections: 12, maxPerClient: 8 });
    const a: Client[] = [];
    for (let i = 0; i < 8; i++) a.push(await r.open('10.0.0.10'));
    const b: Client[] = [];
    for (let i = 0; i < 4; i++) b.push(await r.open('10.0.0.11'));
    assert.equal(r.conns.size, 12);
    // A third client gets in; the biggest holder (a) gives up its oldest.
    const c = await r.open('10.0.0.12');
    await a[0]!.until(() => a[0]!.closed, 2000, 'oldest of a closed');
    assert.equal(r.conns.size, 12);
    assert.equal(r.conns.countFor('10.0.0.10'), 7);
    assert.ok(b.every((x) => !x.closed));
    c.send(query(1));
    await c.until(() => c.answers.length === 1);
    // Thirty newcomers with one connection each: each gets in, the budget holds.
    const many: Client[] = [];
    for (let i = 0; i < 30; i++) many.push(await r.open(`10.0.1.${i}`));
    assert.ok(r.conns.size <= 12, `${r.conns.size} open`);
    const last = many[29]!;
    last.send(query(2));
    await last.until(() => last.answers.length === 1);
  });

  it('a client whose connections are all busy gets the new one closed; others still get in', async () => {
    const stall: TcpQueryHandler = () => new Promise(() => {});
    const r = await rig({ maxPerClient: 3, maxConnections: 4 }, stall);
    const busy: Client[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await r.open('10.0.0.5');
      c.send(query(i));
      busy.push(c);
    }
    await sleep(20);
    const extra = await r.open('10.0.0.5');
    await extra.until(() => extra.closed, 2000, 'the extra connection refused');
    assert.ok(busy.every((c) => !c.closed));
    const other = await r.open('10.0.0.6');
    other.send(query(9));
    await sleep(50);
    assert.equal(other.closed, false);
    assert.equal(r.conns.size, 4);
    // With the budget full of busy connections, a further newcomer is refused.
    const more = await r.open('10.0.0.7');
    await more.until(() => more.closed, 2000, 'refused when nothing can give way');
    assert.ok([...busy, other].every((c) => !c.closed));
  });

  it('a message must arrive whole within messageMs: dripped bytes do not keep a connection', async () => {
    const r = await rig({ messageMs: 300, idleMs: 5000 });
    const drip = await r.open('10.0.0.2');
    const silent = await r.open('10.0.0.3');
    const msg = Buffer.concat([Buffer.from([0, 17]), query(3)]);
    let i = 0;
    const t = setInterval(() => {
      if (!drip.closed && i < msg.length) drip.sock.write(msg.subarray(i, ++i));
    }, 50);
    try {
      await drip.until(() => drip.closed, 2000, 'the drip closed');
      await silent.until(() => silent.closed, 2000, 'the silent one closed');
    } finally {
      clearInterval(t);
    }
    assert.ok(i < msg.length, 'closed before the message was complete');
    assert.ok(
      drip.closedAt - drip.opened < 1500,
      `drip closed after ${drip.closedAt - drip.opened} ms`,
    );
    assert.ok(silent.closedAt - silent.opened < 1500);
  });

  it('a client asking now and then keeps its connection; idle, it is closed after idleMs', async () => {
    const r = await rig({ messageMs: 200, idleMs: 400 });
    const c = await r.open('10.0.0.2');
    for (let k = 0; k < 6; k++) {
      c.send(query(k));
      await sleep(150);
    }
    assert.equal(c.closed, false, 'kept while asking');
    assert.equal(c.answers.length, 6);
    const t0 = Date.now();
    await c.until(() => c.closed, 2000, 'closed when idle');
    const idle = Date.now() - t0;
    assert.ok(idle >= 150 && idle < 1500, `closed ${idle} ms after the last answer`);
  });

  it('a slow answer is waited for, however long; the idle time starts after it', async () => {
    const slow: TcpQueryHandler = (m) =>
      new Promise((res) => setTimeout(() => res(echo(m, '')), 600));
    const r = await rig({ messageMs: 100, idleMs: 200 }, slow);
    const c = await r.open('10.0.0.2');
    c.send(query(1));
    await c.until(() => c.answers.length === 1 || c.closed, 2000, 'the answer');
    assert.equal(c.answers.length, 1);
    assert.equal(c.closed, false);
    await c.until(() => c.closed, 2000, 'closed when idle');
  });

  it('pipelined queries are all answered, beyond maxPending too; a zero-length frame closes', async () => {
    const later: TcpQueryHandler = (m) =>
      new Promise((res) => setImmediate(() => res(echo(m, ''))));
    const r = await rig({ maxPending: 2 }, later);
    const c = await r.open('10.0.0.2');
    const frames = [];
    for (let k = 0; k < 50; k++) {
      const q = query(k);
      frames.push(Buffer.from([0, q.length]), q);
    }
    c.sock.write(Buffer.concat(frames));
    await c.until(() => c.answers.length === 50, 3000, '50 answers');
    assert.deepEqual(
      c.answers.map((a) => a.readUInt16BE(0)).sort((x, y) => x - y),
      Array.from({ length: 50 }, (_, k) => k),
    );
    c.sock.write(Buffer.from([0, 0]));
    await c.until(() => c.closed, 2000, 'closed on a zero-length frame');
  });

  it('a client that does not read its answers is disconnected', async () => {
    const big: TcpQueryHandler = () => Buffer.alloc(60_000, 1);
    const r = await rig({}, big);
    const c = await r.open('10.0.0.2');
    c.sock.pause();
    const frames = [];
    for (let k = 0; k < 300; k++) frames.push(Buffer.from([0, 17]), query(k));
    c.sock.write(Buffer.concat(frames));
    await c.until(() => r.conns.countFor('10.0.0.2') === 0, 5000, 'disconnected');
  });
});

describe('dns tcp fuzz: slow, fragmented and hostile senders', () => {
  const n = 60 * SCALE;
  it(`${n} clients against the resolver: well-formed answers, every connection closed in time`, async () => {
    const rand = rng(SEED ^ 0x7c9);
    const res = new DnsResolver({});
    res.records.upsertEndpoint({
      containerId: 'c'.repeat(64),
      name: 'client',
      networkId: 'n1',
      networkName: 'net1',
      ipv4: '10.1.0.2',
    });
    const limits = { messageMs: 150, idleMs: 250, maxPerClient: 4, maxConnections: 16 };
    const r = new Rig(limits, (msg, source) => res.handle(msg, source, { networkId: 'n1' }, true));
    await r.listen();
    const sources = ['10.1.0.2', '10.1.0.2', '10.9.9.9', '10.1.0.3'];
    const one = async (i: number): Promise<void> => {
      const c = await r.open(sources[i % sources.length] as string);
      // A stream of framed hostile messages, perhaps ending in a frame that never completes.
      const parts: Buffer[] = [];
      const ids = new Set<number>();
      for (let k = int(rand, 5); k > 0; k--) {
        const m = hostile(rand);
        if (m.length === 0) continue;
        if (m.length >= 2) ids.add(m.readUInt16BE(0));
        parts.push(Buffer.from([m.length >> 8, m.length & 0xff]), m);
      }
      if (rand() < 0.3) parts.push(Buffer.from([0x01, 0x00]), Buffer.alloc(int(rand, 200)));
      const stream = Buffer.concat(parts);
      const drip = rand() < 0.3;
      let off = 0;
      let last = Date.now();
      while (off < stream.length && !c.closed) {
        const len = drip ? 1 : 1 + int(rand, 64);
        c.sock.write(stream.subarray(off, off + len));
        off += len;
        last = Date.now();
        await sleep(drip ? 40 : int(rand, 30));
      }
      const ending = rand();
      if (ending < 0.3) c.sock.end();
      // Closed by the server within its deadlines after the last byte, or by itself.
      const bound = limits.messageMs + limits.idleMs + 1500;
      await c.until(
        () => c.closed,
        Math.max(0, last + bound - Date.now()) + 50,
        `client ${i} closed`,
      );
      for (const a of c.answers) {
        assert.equal(malformed(a), undefined, `client ${i}: ${a.toString('hex')}`);
        assert.ok(((a[2] as number) & 0x80) !== 0);
        assert.ok(ids.has(a.readUInt16BE(0)), `client ${i}: an answer to something it asked`);
      }
    };
    const t0 = Date.now();
    const running = new Set<Promise<void>>();
    for (let i = 0; i < n; i++) {
      const p = one(i).finally(() => running.delete(p));
      running.add(p);
      if (running.size >= 12) await Promise.race(running);
    }
    await Promise.all(running);
    await sleep(20);
    assert.equal(r.conns.size, 0, 'nothing left open');
    assert.ok(Date.now() - t0 < 60_000 * SCALE);
    await r.close();
  });
});
