// Garbage in: random bytes, mutated queries, lying counts, garbage from the
// upstream. The resolver must never throw, never leave a promise pending and
// answer only with well-formed messages. Seeded, so failures reproduce.
// BERTH_FUZZ_LONG=1 runs the campaign below a hundred times longer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DnsResolver } from '../../src/network/dns/resolver.js';
import type { Upstream, UpstreamTransport } from '../../src/network/dns/upstream.js';
import { SCALE, SEED, checkReply, hostile, int, mutate, rng, seeds } from '../helpers/dns-fuzz.js';

/** Answers with garbage, truncations, lies or real answers, at random. */
class ChaosUpstream implements UpstreamTransport {
  constructor(private rand: () => number) {}
  async exchange(_s: Upstream, q: Buffer): Promise<Buffer> {
    const r = this.rand();
    if (r < 0.2) throw new Error('refused');
    if (r < 0.4)
      return Buffer.from(
        Array.from({ length: Math.floor(this.rand() * 80) }, () => (this.rand() * 256) | 0),
      );
    const good = Buffer.from(q);
    good[2] = (good[2] as number) | 0x80;
    if (r < 0.6) return good.subarray(0, Math.floor(this.rand() * good.length));
    if (r < 0.8) {
      good.writeUInt16BE(65535, 6);
      return good;
    }
    return good;
  }
}

function resolver(seed: number): DnsResolver {
  const r = new DnsResolver({
    upstreams: ['192.0.2.53'],
    transport: new ChaosUpstream(rng(seed)),
    timeoutMs: 5,
  });
  r.records.upsertEndpoint({
    containerId: 'c'.repeat(64),
    name: 'client',
    aliases: ['x', 'y'],
    networkId: 'n1',
    networkName: 'net1',
    ipv4: '10.1.0.2',
  });
  r.records.upsertEndpoint({
    containerId: 'd'.repeat(64),
    name: 'web',
    networkId: 'n1',
    networkName: 'net1',
    ipv4: '10.1.0.3',
  });
  return r;
}

async function check(r: DnsResolver, msg: Buffer, tcp: boolean): Promise<void> {
  let out: Buffer | null;
  try {
    out = await r.handle(msg, '10.1.0.2', { networkId: 'n1' }, tcp);
  } catch (e) {
    assert.fail(`threw on ${msg.toString('hex')}: ${String(e)}`);
  }
  if (out === null) return;
  assert.ok(out.length >= 12);
  assert.ok(tcp || out.length <= 4096);
  assert.ok(((out[2] as number) & 0x80) !== 0, 'a response');
  assert.equal(out.readUInt16BE(0), msg.readUInt16BE(0), 'the query ID');
}

describe('dns fuzz', () => {
  it('survives 20000 mutated and random messages over UDP and TCP', async () => {
    const rand = rng(0x5eed);
    const r = resolver(7);
    const t0 = Date.now();
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 20000; i++) {
      const base = seeds[i % seeds.length] as Buffer;
      batch.push(check(r, mutate(base, rand), i % 3 === 0));
      if (batch.length >= 200) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    assert.ok(Date.now() - t0 < 20000, 'no pathological slowness');
    const s = r.stats();
    assert.equal(s.queries, 20000);
  });

  it('decodes every answer it builds for well-formed queries', async () => {
    const r = resolver(9);
    for (const q of seeds) {
      const out = await r.handle(q, '10.1.0.2', {}, false);
      assert.ok(out);
      assert.doesNotThrow(() => dnsPacket.decode(out));
    }
  });

  it('answers zero-length, header-only and maximal messages without hanging', async () => {
    const r = resolver(11);
    assert.equal(r.handle(Buffer.alloc(0), '10.1.0.2', {}, false), null);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(1, 4);
    const formerr = r.handle(header, '10.1.0.2', {}, false);
    assert.ok(Buffer.isBuffer(formerr));
    assert.equal((formerr[3] as number) & 15, 1);
    const huge = Buffer.alloc(65535, 0x3f);
    huge.writeUInt16BE(1, 4);
    huge[2] = 0;
    await check(r, huge, true);
    // The longest legal name, 127 one-byte labels, goes upstream untouched.
    const labels = Array.from({ length: 127 }, () => 'a').join('.');
    await check(
      r,
      dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: labels }] }),
      false,
    );
  });
});

// ---------------------------------------------------------------------------
// The fuzzing campaign (hardening issue): malformed packets, compression
// loops, oversized names and labels, lying counts, random bytes and random
// mutations, against the resolver's message handling and its TCP framing in
// process. Short here; BERTH_FUZZ_LONG=1 runs a hundred times as many cases
// (BERTH_FUZZ_SEED picks another seed).

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Live JS heap plus buffers, after a full collection. */
function liveBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** An upstream answering every name with records of random size and TTL (big ones over TCP). */
class FatUpstream implements UpstreamTransport {
  constructor(private rand: () => number) {}
  async exchange(_s: Upstream, q: Buffer, tcp: boolean): Promise<Buffer> {
    const p = dnsPacket.decode(q);
    const size = tcp && this.rand() < 0.75 ? 20_000 + int(this.rand, 40_000) : int(this.rand, 400);
    const chunks: Buffer[] = [];
    for (let left = size; left > 0; left -= 255)
      chunks.push(Buffer.alloc(Math.min(255, left), 0x78));
    return dnsPacket.encode({
      type: 'response',
      id: p.id,
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: p.questions,
      answers: [{ type: 'TXT', name: p.questions?.[0]?.name ?? '', ttl: 300, data: chunks }],
    });
  }
}

describe('dns fuzz campaign', () => {
  const sources: [string, { networkId?: string }][] = [
    ['10.1.0.2', { networkId: 'n1' }], // a container on the listener's network
    ['10.1.0.2', { networkId: 'n2' }], // a container asking another network's listener
    ['10.9.9.9', { networkId: 'n1' }], // no container
    ['10.1.0.2', {}], // the library without a network
  ];

  it(`handles ${5000 * SCALE} hostile messages: no throw, well-formed replies or none`, async () => {
    const rand = rng(SEED);
    const r = resolver(SEED ^ 0x55);
    const batch: Promise<void>[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 5000 * SCALE; i++) {
      const msg = hostile(rand);
      const [src, listener] = sources[i % sources.length] as (typeof sources)[number];
      const tcp = int(rand, 2) === 1;
      let res: Buffer | null | Promise<Buffer | null>;
      try {
        res = r.handle(msg, src, listener, tcp);
      } catch (e) {
        assert.fail(`threw on ${msg.toString('hex')}: ${String(e)}`);
      }
      batch.push(Promise.resolve(res).then((out) => checkReply(msg, out, tcp)));
      if (batch.length >= 256) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    assert.ok(Date.now() - t0 < 30_000 * SCALE, 'no pathological slowness');
    const s = r.stats();
    assert.equal(s.queries, 5000 * SCALE);
    assert.ok(s.rejected > 0 && s.refused > 0 && s.dropped > 0, JSON.stringify(s));
  });

  it('keeps memory bounded: distinct names, big and small forwarded answers, over UDP and TCP', async () => {
    const rand = rng(SEED ^ 0xa5a5);
    const r = new DnsResolver({ upstreams: ['192.0.2.53'], transport: new FatUpstream(rand) });
    r.records.upsertEndpoint({
      containerId: 'c'.repeat(64),
      name: 'client',
      networkId: 'n1',
      networkName: 'net1',
      ipv4: '10.1.0.2',
    });
    const round = async (from: number, n: number): Promise<void> => {
      for (let i = from; i < from + n; i += 64) {
        const batch: Promise<void>[] = [];
        for (let k = i; k < Math.min(i + 64, from + n); k++) {
          const tcp = k % 4 !== 0;
          const msg = dnsPacket.encode({
            type: 'query',
            id: k & 0xffff,
            questions: [{ type: 'TXT', name: `n${k}.example` }],
          });
          batch.push(
            Promise.resolve(r.handle(msg, '10.1.0.2', { networkId: 'n1' }, tcp)).then((out) =>
              checkReply(msg, out, tcp),
            ),
          );
        }
        await Promise.all(batch);
      }
    };
    await round(0, 500);
    const base = liveBytes();
    // Long mode: ten times (the fat answers are slow to encode, ~1 ms each).
    const n = 6000 * Math.min(SCALE, 10);
    await round(500, n);
    const grown = liveBytes() - base;
    assert.ok(grown < 40 << 20, `grew ${(grown / 1048576).toFixed(1)} MiB over ${n} names`);
  });
});
