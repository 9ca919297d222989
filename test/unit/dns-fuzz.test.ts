// Garbage in: random bytes, mutated queries, lying counts, garbage from the
// upstream. The resolver must never throw, never leave a promise pending and
// answer only with well-formed messages. Seeded, so failures reproduce.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { DnsResolver } from '../../src/network/dns/resolver.js';
import type { Upstream, UpstreamTransport } from '../../src/network/dns/upstream.js';

/** xorshift32: a small deterministic generator. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

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

const seeds = [
  dnsPacket.encode({ type: 'query', id: 1, flags: 256, questions: [{ type: 'A', name: 'web' }] }),
  dnsPacket.encode({ type: 'query', id: 2, questions: [{ type: 'AAAA', name: 'web.net1' }] }),
  dnsPacket.encode({
    type: 'query',
    id: 3,
    questions: [{ type: 'PTR', name: '3.0.1.10.in-addr.arpa' }],
  }),
  dnsPacket.encode({ type: 'query', id: 4, questions: [{ type: 'A', name: 'example.org' }] }),
  dnsPacket.encode({
    type: 'query',
    id: 5,
    questions: [{ type: 'TXT', name: 'x' }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 4096,
        extendedRcode: 0,
        ednsVersion: 0,
        flags: 0,
        flag_do: false,
        options: [],
      },
    ],
  }),
];

function mutate(base: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(base);
  const kind = rand();
  if (kind < 0.3) {
    const flips = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < flips; i++) {
      const at = Math.floor(rand() * b.length);
      b[at] = (b[at] as number) ^ (1 << Math.floor(rand() * 8));
    }
    return b;
  }
  if (kind < 0.5) return b.subarray(0, Math.floor(rand() * b.length));
  if (kind < 0.7) {
    // Lie in a count field.
    b.writeUInt16BE(Math.floor(rand() * 65536), 4 + 2 * Math.floor(rand() * 4));
    return b;
  }
  if (kind < 0.85)
    return Buffer.concat([
      b,
      Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => (rand() * 256) | 0)),
    ]);
  return Buffer.from(Array.from({ length: Math.floor(rand() * 600) }, () => (rand() * 256) | 0));
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
