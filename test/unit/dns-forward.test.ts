// Forwarding: what goes upstream, failover, timeouts, the in-flight bound,
// coalescing and the TTL-respecting cache. The upstream is an in-memory fake
// transport: nothing here opens a socket.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { DnsResolver } from '../../src/network/dns/resolver.js';
import {
  Forwarder,
  parseUpstream,
  type Upstream,
  type UpstreamTransport,
} from '../../src/network/dns/upstream.js';

type Reply = Buffer | 'hang' | 'fail';
type Script = (server: Upstream, q: dnsPacket.DecodedPacket, raw: Buffer, tcp: boolean) => Reply;

/** Plays upstream servers: `script` decides per query; 'hang' times out like a real socket. */
class FakeTransport implements UpstreamTransport {
  calls: { server: string; id: number; name: string; tcp: boolean }[] = [];
  constructor(public script: Script) {}
  exchange(server: Upstream, query: Buffer, tcp: boolean, timeoutMs: number): Promise<Buffer> {
    const q = dnsPacket.decode(query);
    this.calls.push({
      server: server.address,
      id: q.id ?? -1,
      name: q.questions?.[0]?.name ?? '',
      tcp,
    });
    const r = this.script(server, q, query, tcp);
    if (r === 'fail') return Promise.reject(new Error('ECONNREFUSED'));
    if (r === 'hang')
      return new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), timeoutMs));
    return new Promise((res) => setImmediate(() => res(r)));
  }
}

const answer = (q: dnsPacket.DecodedPacket, ttl: number, ips: string[], flags = 0) =>
  dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_AVAILABLE | flags,
    questions: q.questions,
    answers: ips.map((data) => ({
      type: 'A' as const,
      name: q.questions?.[0]?.name ?? '',
      ttl,
      data,
    })),
  });

const query = (name: string, id = 99, type: dnsPacket.RecordType = 'A') =>
  dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });

function setup(
  script: Script,
  opts: {
    upstreams?: string[];
    now?: () => number;
    maxInFlight?: number;
    cacheBytes?: number;
  } = {},
) {
  const t = new FakeTransport(script);
  const r = new DnsResolver({
    upstreams: opts.upstreams ?? ['192.0.2.53', '192.0.2.54'],
    transport: t,
    timeoutMs: 30,
    maxInFlight: opts.maxInFlight,
    cache: { now: opts.now, maxBytes: opts.cacheBytes },
  });
  r.records.upsertEndpoint({
    containerId: 'c'.repeat(64),
    name: 'client',
    networkId: 'n1',
    networkName: 'net1',
    ipv4: '10.1.0.2',
  });
  const ask = async (name: string, id = 99, tcp = false, type: dnsPacket.RecordType = 'A') => {
    const out = await r.handle(query(name, id, type), '10.1.0.2', { networkId: 'n1' }, tcp);
    assert.ok(out);
    return { buf: out, p: dnsPacket.decode(out) };
  };
  return { r, t, ask };
}

const rcode = (p: dnsPacket.DecodedPacket): number => (p.flags ?? 0) & 15;
const ttls = (p: dnsPacket.DecodedPacket): number[] =>
  (p.answers ?? []).map((a) => (a as dnsPacket.StringAnswer).ttl ?? -1);

describe('dns forwarding', () => {
  it('forwards with a fresh ID and answers with the client ID and question case', async () => {
    const { t, ask } = setup((_s, q) => answer(q, 60, ['192.0.2.10']));
    const { p } = await ask('Example.ORG', 1234);
    assert.equal(p.id, 1234);
    assert.equal(p.questions?.[0]?.name, 'Example.ORG');
    assert.deepEqual(
      p.answers?.map((a) => (a as dnsPacket.StringAnswer).data),
      ['192.0.2.10'],
    );
    assert.equal(t.calls.length, 1);
    assert.equal(t.calls[0]?.server, '192.0.2.53');
  });

  it('passes NXDOMAIN through and moves on from SERVFAIL, errors and timeouts', async () => {
    const nx = setup((_s, q) =>
      dnsPacket.encode({ type: 'response', id: q.id, flags: 3, questions: q.questions }),
    );
    assert.equal(rcode((await nx.ask('nope.example')).p), 3);
    assert.equal(nx.t.calls.length, 1);

    for (const failure of ['hang', 'fail', 'servfail'] as const) {
      const { t, ask } = setup((s, q) => {
        if (s.address === '192.0.2.54') return answer(q, 60, ['192.0.2.11']);
        if (failure === 'servfail')
          return dnsPacket.encode({ type: 'response', id: q.id, flags: 2, questions: q.questions });
        return failure;
      });
      const { p } = await ask('example.org');
      assert.equal(rcode(p), 0, failure);
      assert.equal(p.answers?.length, 1, failure);
      assert.deepEqual(
        t.calls.map((c) => c.server),
        ['192.0.2.53', '192.0.2.54'],
      );
    }
  });

  it('answers SERVFAIL when every upstream fails, after one timeout each', async () => {
    const { t, ask } = setup(() => 'hang');
    const t0 = Date.now();
    const { p } = await ask('example.org');
    const took = Date.now() - t0;
    assert.equal(rcode(p), 2);
    assert.equal(t.calls.length, 2);
    assert.ok(took >= 55 && took < 1000, `took ${took} ms`);
  });

  it('answers SERVFAIL at once without upstreams', async () => {
    const { ask } = setup(() => 'fail', { upstreams: [] });
    assert.equal(rcode((await ask('example.org')).p), 2);
  });

  it('ignores answers with a wrong ID or question', async () => {
    const { ask } = setup((s, q) => {
      if (s.address === '192.0.2.53')
        return dnsPacket.encode({
          type: 'response',
          id: q.id,
          questions: [{ type: 'A', name: 'evil.example' }],
          answers: [{ type: 'A', name: 'evil.example', data: '203.0.113.66' }],
        });
      const wrong = Buffer.from(answer(q, 60, ['203.0.113.66']));
      wrong.writeUInt16BE(((q.id ?? 0) + 1) & 0xffff, 0);
      return wrong;
    });
    const { p } = await ask('example.org');
    assert.equal(rcode(p), 2);
    assert.deepEqual(p.answers, []);
  });

  it('caches for the TTL, ages TTLs, and forgets after', async () => {
    let now = 1_000_000;
    const { r, t, ask } = setup((_s, q) => answer(q, 30, ['192.0.2.10']), { now: () => now });
    assert.deepEqual(ttls((await ask('example.org', 1)).p), [30]);
    now += 10_500;
    const second = await ask('EXAMPLE.org', 2);
    assert.equal(t.calls.length, 1, 'answered from the cache');
    assert.equal(second.p.id, 2);
    assert.equal(second.p.questions?.[0]?.name, 'EXAMPLE.org');
    assert.deepEqual(ttls(second.p), [20]);
    now += 20_000;
    await ask('example.org', 3);
    assert.equal(t.calls.length, 2, 'expired');
    assert.equal(r.stats().cacheHits, 1);
  });

  it('does not cache TTL 0, SERVFAIL or truncated answers; caches NXDOMAIN with SOA', async () => {
    let mode: 'ttl0' | 'tc' | 'nx' = 'ttl0';
    const soa: dnsPacket.SoaAnswer = {
      type: 'SOA',
      name: 'example',
      ttl: 100,
      data: { mname: 'a', rname: 'b', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 20 },
    };
    const { t, ask } = setup((_s, q) => {
      if (mode === 'ttl0') return answer(q, 0, ['192.0.2.10']);
      if (mode === 'tc') return answer(q, 60, [], dnsPacket.TRUNCATED_RESPONSE);
      return dnsPacket.encode({
        type: 'response',
        id: q.id,
        flags: 3,
        questions: q.questions,
        authorities: [soa],
      });
    });
    for (const m of ['ttl0', 'tc', 'nx'] as const) {
      mode = m;
      const before = t.calls.length;
      await ask(`${m}.example`);
      await ask(`${m}.example`);
      assert.equal(t.calls.length - before, m === 'nx' ? 1 : 2, m);
    }
  });

  it('bounds the cache in bytes: big answers push out the least recently used', async () => {
    // ~800 bytes each: 40 of them are twice the budget.
    const ips = Array.from({ length: 30 }, (_, i) => `192.0.2.${i}`);
    const { t, ask } = setup((_s, q) => answer(q, 300, ips), { cacheBytes: 16 << 10 });
    for (let i = 0; i < 40; i++) await ask(`n${i}.example`, i, true);
    assert.equal(t.calls.length, 40);
    await ask('n39.example', 99, true);
    assert.equal(t.calls.length, 40, 'the newest is cached');
    await ask('n0.example', 99, true);
    assert.equal(t.calls.length, 41, 'the oldest was pushed out');
  });

  it('forwards no bytes after the last record, and returns none', async () => {
    const seen: Buffer[] = [];
    const { ask, r } = setup((_s, q, raw) => {
      seen.push(raw);
      return Buffer.concat([answer(q, 60, ['192.0.2.1']), Buffer.from('junk')]);
    });
    const msg = Buffer.concat([query('tail.example', 5), Buffer.from([7, 7, 7])]);
    const out = await r.handle(msg, '10.1.0.2', { networkId: 'n1' }, false);
    assert.ok(out);
    assert.equal(seen[0]?.length, msg.length - 3);
    assert.equal(
      out.length,
      answer(dnsPacket.decode(query('tail.example', 5)), 60, ['192.0.2.1']).length,
    );
    assert.deepEqual((await ask('tail.example', 6)).p.answers?.length, 1);
  });

  it('keys the cache by type: A and AAAA are separate', async () => {
    const { t, ask } = setup((_s, q) => answer(q, 60, []));
    await ask('example.org', 1, false, 'A');
    await ask('example.org', 2, false, 'AAAA');
    assert.equal(t.calls.length, 2);
  });

  it('shares one upstream query among identical queries in flight', async () => {
    const { r, t } = setup((_s, q) => answer(q, 60, ['192.0.2.10']));
    const outs = await Promise.all(
      [1, 2, 3].map((id) =>
        r.handle(query('example.org', id), '10.1.0.2', { networkId: 'n1' }, false),
      ),
    );
    assert.equal(t.calls.length, 1);
    assert.deepEqual(
      outs.map((o) => dnsPacket.decode(o as Buffer).id),
      [1, 2, 3],
    );
  });

  it('bounds upstream queries in flight: beyond the bound, SERVFAIL at once', async () => {
    const { r, t } = setup(() => 'hang', { maxInFlight: 2 });
    const slow = ['a.example', 'b.example'].map((n) => r.handle(query(n), '10.1.0.2', {}, false));
    const third = r.handle(query('c.example'), '10.1.0.2', {}, false);
    assert.ok(Buffer.isBuffer(third), 'answered synchronously');
    assert.equal(rcode(dnsPacket.decode(third)), 2);
    assert.equal(r.stats().overloaded, 1);
    await Promise.all(slow);
    assert.equal(t.calls.length, 4);
  });

  it('sends a UDP client a TC answer when the upstream answer exceeds its size', async () => {
    const ips = Array.from({ length: 60 }, (_, i) => `192.0.2.${i}`);
    const { ask } = setup((_s, q) => answer(q, 60, ips));
    const udp = await ask('big.example', 5, false);
    assert.equal(udp.p.flag_tc, true);
    assert.ok(udp.buf.length <= 512);
    const tcp = await ask('big.example', 6, true);
    assert.equal(tcp.p.answers?.length, 60);
  });

  it('parses upstreams and never forwards to its own listeners', () => {
    assert.deepEqual(parseUpstream('[2001:DB8::1]:5353'), { address: '2001:db8::1', port: 5353 });
    assert.deepEqual(parseUpstream('192.0.2.1'), { address: '192.0.2.1', port: 53 });
    assert.deepEqual(parseUpstream('::1'), { address: '::1', port: 53 });
    assert.throws(() => parseUpstream('resolver.example'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => parseUpstream('1.2.3.4:99999'), { code: 'INVALID_ARGUMENT' });
    const f = new Forwarder({ upstreams: ['10.1.0.1', '10.1.0.1:5353', '192.0.2.53'] });
    f.exclude([['10.1.0.1', 53]]);
    assert.deepEqual(f.upstreams(), [
      { address: '10.1.0.1', port: 5353 },
      { address: '192.0.2.53', port: 53 },
    ]);
  });
});
