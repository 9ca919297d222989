// The socket's exchanges against a scripted kernel: acknowledgements, typed
// errors, left-over replies, multipart dumps restarted on NLM_F_DUMP_INTR,
// ordering of concurrent requests, and which requests leave the main thread.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NlWriter } from '../../src/kernel/netlink/codec.js';
import { NetlinkSocket, type Offload, type Transport } from '../../src/kernel/netlink/socket.js';
import { NetlinkError, isExists, isNotFound } from '../../src/kernel/netlink/errors.js';
import { Rtnl, deleteLinkIfExists } from '../../src/kernel/netlink/rtnl.js';
import {
  delLinkMsg,
  dumpLinksMsg,
  getLinkMsg,
  ifinfomsg,
  newBridgeMsg,
} from '../../src/kernel/netlink/msg-link.js';

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_MULTI = 2;
const NLM_F_DUMP_INTR = 0x10;

/** One message as the kernel would send it. */
function kmsg(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(1234, 12);
  payload.copy(b, 16);
  return b;
}

/** NLMSG_ERROR for `req`: capped, with extended-ack text when given. */
function ack(req: Buffer, errno = 0, text?: string): Buffer {
  const p = Buffer.alloc(4 + 16);
  p.writeInt32LE(-errno, 0);
  req.copy(p, 4, 0, 16);
  let flags = 0x100;
  let tlv = Buffer.alloc(0);
  if (text) {
    flags |= 0x200;
    const s = Buffer.from(`${text}\0`);
    tlv = Buffer.alloc(4 + ((s.length + 3) & ~3));
    tlv.writeUInt16LE(4 + s.length, 0);
    tlv.writeUInt16LE(1, 2);
    s.copy(tlv, 4);
  }
  return kmsg(NLMSG_ERROR, flags, req.readUInt32LE(8), Buffer.concat([p, tlv]));
}

/** An RTM_NEWLINK record for a link. */
function linkRecord(seq: number, index: number, name: string, kind: string, flags = 0): Buffer {
  const rec = new NlWriter(16, 0, ifinfomsg(index, 1, 0))
    .str(3, name)
    .nest(18, (w) => w.str(1, kind))
    .finish();
  rec.writeUInt16LE(flags, 6);
  rec.writeUInt32LE(seq, 8);
  return rec;
}

function done(seq: number, errno = 0): Buffer {
  const p = Buffer.alloc(4);
  p.writeInt32LE(-errno);
  return kmsg(NLMSG_DONE, NLM_F_MULTI, seq, p);
}

/** A kernel played by `answer`: what it queues for each request. */
class Script implements Transport {
  readonly sent: Buffer[] = [];
  readonly log: string[] = [];
  closed = false;
  private queue: Buffer[] = [];

  constructor(private readonly answer: (req: Buffer, nth: number) => Buffer[]) {}

  private take(req: Buffer, how: string): void {
    const copy = Buffer.from(req);
    this.sent.push(copy);
    this.log.push(`${how} send ${copy.readUInt16LE(4)}`);
    this.queue.push(...this.answer(copy, this.sent.length));
  }
  send(d: Buffer): void {
    this.take(d, 'inline');
  }
  async sendOffThread(d: Buffer): Promise<void> {
    await new Promise((r) => setTimeout(r, 2));
    this.take(d, 'worker');
  }
  recv(): Buffer {
    const d = this.queue.shift();
    if (!d) throw new Error('script: nothing queued (the socket would block)');
    return d;
  }
  async recvOffThread(): Promise<Buffer> {
    this.log.push('worker recv');
    return this.recv();
  }
  close(): void {
    this.closed = true;
  }
}

const seqOf = (req: Buffer): number => req.readUInt32LE(8);

describe('netlink socket: requests', () => {
  it('stamps REQUEST|ACK and a fresh sequence number, and resolves on the ack', async () => {
    const k = new Script((req) => [ack(req)]);
    const s = new NetlinkSocket(k);
    assert.deepEqual(await s.request(newBridgeMsg({ name: 'br0' }), 'br0'), []);
    assert.deepEqual(await s.request(newBridgeMsg({ name: 'br1' }), 'br1'), []);
    assert.deepEqual(
      k.sent.map((r) => [r.readUInt16LE(6), seqOf(r)]),
      [
        [0x605, 1],
        [0x605, 2],
      ],
    );
  });

  it('returns the replies that precede the ack', async () => {
    const k = new Script((req) => [
      Buffer.concat([linkRecord(seqOf(req), 5, 'eth0', 'veth'), ack(req)]),
    ]);
    const [m] = await new NetlinkSocket(k).request(getLinkMsg('eth0'), 'eth0');
    assert.equal(m?.type, 16);
  });

  it('rejects with a typed error carrying the errno, the request and the kernel text', async () => {
    const k = new Script((req) => [ack(req, 17, 'Link already exists')]);
    const err = await new NetlinkSocket(k).request(newBridgeMsg({ name: 'br0' }), 'br0').then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NetlinkError);
    assert.equal(err.code, 'EEXIST');
    assert.equal(err.errno, 17);
    assert.equal(err.requestType, 16);
    assert.equal(err.kernelMessage, 'Link already exists');
    assert.match(err.message, /RTM_NEWLINK br0: File exists \(Link already exists\)/);
    assert.ok(isExists(err) && !isNotFound(err));
  });

  it('skips replies left over from an earlier exchange', async () => {
    const k = new Script((req) => [
      ack(Buffer.from(req).fill(0, 8, 12), 22), // sequence 0: not ours
      linkRecord(seqOf(req) + 7, 1, 'stale', 'veth'),
      ack(req),
    ]);
    assert.deepEqual(await new NetlinkSocket(k).request(delLinkMsg(3), 'x'), []);
  });

  it('runs concurrent requests one after the other, in call order', async () => {
    const k = new Script((req) => [ack(req)]);
    const s = new NetlinkSocket(k);
    const slow = s.request(delLinkMsg(3), 'veth'); // offloaded: resolves on a later tick
    const fast = s.request(getLinkMsg(1), 'lo');
    await Promise.all([slow, fast]);
    assert.deepEqual(k.log, ['worker send 17', 'inline send 18']);
  });

  it('closes after the requests already made, and refuses new ones', async () => {
    const k = new Script((req) => [ack(req)]);
    const s = new NetlinkSocket(k);
    const pending = s.request(delLinkMsg(3), 'veth');
    s.close();
    assert.equal(k.closed, false);
    await pending;
    await new Promise((r) => setImmediate(r));
    assert.equal(k.closed, true);
    await assert.rejects(s.request(getLinkMsg(1), 'lo'), /closed/);
  });
});

describe('netlink socket: several requests in one send', () => {
  /** Splits a datagram into its messages, as the kernel walks it. */
  const split = (d: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    for (let at = 0; at < d.length; at += d.readUInt32LE(at)) {
      out.push(d.subarray(at, at + d.readUInt32LE(at)));
    }
    return out;
  };

  it('sends them in one datagram, numbered in order, and waits for every ack', async () => {
    const k = new Script((d) => split(d).map((m) => ack(m)));
    const s = new NetlinkSocket(k);
    await s.requestAll([
      { msg: newBridgeMsg({ name: 'br0' }), what: 'br0' },
      { msg: newBridgeMsg({ name: 'br1' }), what: 'br1' },
    ]);
    assert.equal(k.sent.length, 1);
    assert.deepEqual(split(k.sent[0]!).map(seqOf), [1, 2]);
    // Nothing of the batch is left queued for the next exchange.
    assert.deepEqual(await s.request(newBridgeMsg({ name: 'br2' }), 'br2'), []);
  });

  it('rejects with the first error once the kernel has answered them all', async () => {
    const k = new Script((d) => split(d).map((m, i) => ack(m, i === 0 ? 0 : 19 - i)));
    const s = new NetlinkSocket(k);
    const err = await s
      .requestAll([
        { msg: newBridgeMsg({ name: 'a' }), what: 'a' },
        { msg: newBridgeMsg({ name: 'b' }), what: 'b' },
        { msg: newBridgeMsg({ name: 'c' }), what: 'c' },
      ])
      .then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof NetlinkError);
    assert.equal(err.errno, 18);
    assert.match(err.message, / b: /);
    assert.deepEqual(await s.request(newBridgeMsg({ name: 'd' }), 'd'), []);
  });
});

describe('netlink socket: batches with errors passed over', () => {
  const split = (d: Buffer) => {
    const out: Buffer[] = [];
    for (let at = 0; at < d.length; at += d.readUInt32LE(at)) {
      out.push(d.subarray(at, at + d.readUInt32LE(at)));
    }
    return out;
  };
  const ENOENT = 2;
  const ENODEV = 19;
  const parts = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ msg: newBridgeMsg({ name: `b${i}` }), what: `b${i}` }));
  const absent = (e: unknown) => (e as { code?: string }).code === 'ENOENT';

  it('passes over the errors the caller takes, answering each request by its number, in any order', async () => {
    // The batch's acks come back last first; every third is ENOENT.
    const k = new Script((d, nth) =>
      split(d)
        .map((m, i) => ack(m, nth === 1 && i % 3 === 0 ? ENOENT : 0))
        .reverse(),
    );
    const s = new NetlinkSocket(k);
    await s.requestAll(parts(64), absent);
    assert.equal(k.sent.length, 1);
    assert.deepEqual(await s.request(newBridgeMsg({ name: 'x' }), 'x'), [], 'nothing left queued');
  });

  it('still rejects with the first error it does not take', async () => {
    const k = new Script((d, nth) =>
      split(d).map((m, i) => ack(m, nth === 1 ? [ENOENT, 0, ENODEV, ENOENT][i % 4] : 0)),
    );
    const s = new NetlinkSocket(k);
    const err = await s.requestAll(parts(8), absent).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NetlinkError);
    assert.equal(err.code, 'ENODEV');
    assert.match(err.message, / b2: /);
    assert.deepEqual(await s.request(newBridgeMsg({ name: 'y' }), 'y'), []);
  });
});

describe('netlink socket: dumps', () => {
  it('collects parts across datagrams until NLMSG_DONE', async () => {
    const k = new Script((req) => {
      const q = seqOf(req);
      return [
        Buffer.concat([
          linkRecord(q, 1, 'lo', 'x', NLM_F_MULTI),
          linkRecord(q, 2, 'br0', 'bridge', NLM_F_MULTI),
        ]),
        linkRecord(q, 3, 'veth0', 'veth', NLM_F_MULTI),
        done(q),
      ];
    });
    const parts = await new NetlinkSocket(k).dump(dumpLinksMsg(), 'links');
    assert.equal(parts.length, 3);
    assert.equal(k.sent[0]?.readUInt16LE(6), 0x301); // NLM_F_REQUEST | NLM_F_DUMP
  });

  it('reads an interrupted dump to its end, then starts it again', async () => {
    const k = new Script((req, nth) => {
      const q = seqOf(req);
      if (nth === 1) {
        return [
          linkRecord(q, 1, 'lo', 'x', NLM_F_MULTI),
          linkRecord(q, 2, 'half', 'veth', NLM_F_MULTI | NLM_F_DUMP_INTR),
          done(q),
        ];
      }
      return [
        linkRecord(q, 1, 'lo', 'x', NLM_F_MULTI),
        linkRecord(q, 4, 'whole', 'veth', NLM_F_MULTI),
        done(q),
      ];
    });
    const rt = Rtnl.over(new NetlinkSocket(k));
    const links = await rt.listLinks();
    assert.deepEqual(
      links.map((l) => l.name),
      ['lo', 'whole'],
    );
    assert.equal(k.sent.length, 2);
    assert.notEqual(seqOf(k.sent[0]!), seqOf(k.sent[1]!));
  });

  it('gives up with EINTR after ten interrupted attempts', async () => {
    const k = new Script((req) => [
      linkRecord(seqOf(req), 1, 'lo', 'x', NLM_F_MULTI | NLM_F_DUMP_INTR),
      done(seqOf(req)),
    ]);
    await assert.rejects(new NetlinkSocket(k).dump(dumpLinksMsg(), 'links'), (e: NetlinkError) => {
      assert.equal(e.code, 'EINTR');
      return true;
    });
    assert.equal(k.sent.length, 10);
  });

  it('rejects a dump that ends with an errno in NLMSG_DONE, or with NLMSG_ERROR', async () => {
    const viaDone = new Script((req) => [done(seqOf(req), 22)]);
    await assert.rejects(new NetlinkSocket(viaDone).dump(dumpLinksMsg(), 'links'), {
      code: 'EINVAL',
    });
    const viaError = new Script((req) => [ack(req, 95)]);
    await assert.rejects(new NetlinkSocket(viaError).dump(dumpLinksMsg(), 'links'), {
      code: 'EOPNOTSUPP',
    });
  });
});

describe('netlink socket: which requests leave the main thread', () => {
  async function paths(offload: Offload): Promise<string[]> {
    // A dump is the one request without NLM_F_ACK.
    const k = new Script((req) => (req.readUInt16LE(6) & 0x4 ? [ack(req)] : [done(seqOf(req))]));
    const s = new NetlinkSocket(k, offload);
    await s.request(newBridgeMsg({ name: 'br0' }), 'br0');
    await s.request(delLinkMsg('br0'), 'br0');
    await s.request(getLinkMsg(1), 'lo');
    await s.dump(dumpLinksMsg(), 'links');
    return k.log;
  }

  it('deletes by default', async () => {
    assert.deepEqual(await paths('deletes'), [
      'inline send 16',
      'worker send 17',
      'inline send 18',
      'inline send 18',
    ]);
  });

  it('link creations too with `links`; everything, dump reads included, with `always`; nothing with `never`', async () => {
    assert.deepEqual(await paths('links'), [
      'worker send 16',
      'worker send 17',
      'inline send 18',
      'inline send 18',
    ]);
    assert.deepEqual(await paths('always'), [
      'worker send 16',
      'worker send 17',
      'worker send 18',
      'worker send 18',
      'worker recv',
    ]);
    assert.deepEqual(await paths('never'), [
      'inline send 16',
      'inline send 17',
      'inline send 18',
      'inline send 18',
    ]);
  });
});

describe('Rtnl over a scripted kernel', () => {
  const noDevice = (): Script => new Script((req) => [ack(req, 19)]);

  it('getLink answers undefined for a missing link', async () => {
    assert.equal(await Rtnl.over(new NetlinkSocket(noDevice())).getLink('nope'), undefined);
  });

  it('deleteLinkIfExists treats ENODEV as done', async () => {
    assert.equal(await deleteLinkIfExists(Rtnl.over(new NetlinkSocket(noDevice())), 'nope'), false);
  });

  it('listLinks filters by kind', async () => {
    const k = new Script((req) => [
      linkRecord(seqOf(req), 1, 'lo', '', NLM_F_MULTI),
      linkRecord(seqOf(req), 2, 'br0', 'bridge', NLM_F_MULTI),
      done(seqOf(req)),
    ]);
    const links = await Rtnl.over(new NetlinkSocket(k)).listLinks({ kind: 'bridge' });
    assert.deepEqual(
      links.map((l) => [l.index, l.name, l.kind]),
      [[2, 'br0', 'bridge']],
    );
  });
});
