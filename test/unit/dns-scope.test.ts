// Scoping and local names: a client sees only names on networks it is on, by
// source address, whatever listener it asks. Upstream is an in-memory fake:
// no packet leaves the process.
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { DnsResolver } from '../../src/network/dns/resolver.js';
import type { DnsEndpoint } from '../../src/network/dns/records.js';
import type { Upstream, UpstreamTransport } from '../../src/network/dns/upstream.js';

const query = (name: string, type: dnsPacket.RecordType = 'A', id = 7) =>
  dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });

/** A fake upstream that answers NXDOMAIN to everything and records what it saw. */
class FakeUpstream implements UpstreamTransport {
  seen: string[] = [];
  async exchange(_s: Upstream, q: Buffer): Promise<Buffer> {
    const p = dnsPacket.decode(q);
    this.seen.push(p.questions?.[0]?.name ?? '');
    return dnsPacket.encode({ type: 'response', id: p.id, flags: 3, questions: p.questions });
  }
}

interface Answered {
  rcode: number;
  tc: boolean;
  question: string;
  data: string[];
}

async function ask(
  r: DnsResolver,
  source: string,
  name: string,
  type: dnsPacket.RecordType = 'A',
  listener?: string,
  tcp = false,
): Promise<Answered> {
  const out = await r.handle(query(name, type), source, { networkId: listener }, tcp);
  assert.ok(out, 'expected an answer');
  const p = dnsPacket.decode(out);
  return {
    rcode: (p.flags ?? 0) & 15,
    tc: p.flag_tc,
    question: p.questions?.[0]?.name ?? '',
    data: (p.answers ?? []).map((a) => String((a as dnsPacket.StringAnswer).data)),
  };
}

const ID = (c: string) => c.repeat(64).slice(0, 64);
const ep = (e: Partial<DnsEndpoint> & Pick<DnsEndpoint, 'containerId' | 'name'>): DnsEndpoint => ({
  networkId: 'n1',
  networkName: 'net1',
  ...e,
});

describe('dns scoping', () => {
  let r: DnsResolver;
  let up: FakeUpstream;
  beforeEach(() => {
    up = new FakeUpstream();
    r = new DnsResolver({ upstreams: ['127.0.0.2'], transport: up });
    const rec = r.records;
    // net1: client1 (10.1.0.2), web (10.1.0.3); net2: client2 (10.2.0.2), db (10.2.0.3);
    // both: multi (10.1.0.4 and 10.2.0.4).
    rec.upsertEndpoint(ep({ containerId: ID('1'), name: 'client1', ipv4: '10.1.0.2' }));
    rec.upsertEndpoint(
      ep({
        containerId: ID('a'),
        name: 'web',
        hostname: 'webhost',
        aliases: ['www'],
        ipv4: '10.1.0.3',
      }),
    );
    const n2 = { networkId: 'n2', networkName: 'net2' };
    rec.upsertEndpoint(ep({ containerId: ID('2'), name: 'client2', ipv4: '10.2.0.2', ...n2 }));
    rec.upsertEndpoint(ep({ containerId: ID('b'), name: 'db', ipv4: '10.2.0.3', ...n2 }));
    rec.upsertEndpoint(ep({ containerId: ID('c'), name: '/multi', ipv4: '10.1.0.4' }));
    rec.upsertEndpoint(ep({ containerId: ID('c'), name: '/multi', ipv4: '10.2.0.4', ...n2 }));
  });

  it('answers names on the client network: name, alias, hostname, short ID', async () => {
    for (const n of ['web', 'www', 'webhost', 'aaaaaaaaaaaa'])
      assert.deepEqual((await ask(r, '10.1.0.2', n)).data, ['10.1.0.3'], n);
    assert.deepEqual(up.seen, []);
  });

  it('does not answer names of networks the client is not on', async () => {
    for (const listener of [undefined, 'n1']) {
      const a = await ask(r, '10.1.0.2', 'db', 'A', listener);
      assert.equal(a.rcode, 3, 'forwarded and NXDOMAIN upstream');
      assert.deepEqual(a.data, []);
      assert.equal((await ask(r, '10.1.0.2', 'db.net2', 'A', listener)).rcode, 3);
      assert.equal((await ask(r, '10.1.0.2', 'client2', 'A', listener)).rcode, 3);
    }
  });

  it('refuses a container asking the listener of a network it is not on, outside names too', async () => {
    for (const [source, listener] of [
      ['10.1.0.2', 'n2'],
      ['10.2.0.2', 'n1'],
    ] as const)
      for (const name of ['db', 'web', 'client1', 'example.org', '3.0.1.10.in-addr.arpa'])
        for (const tcp of [false, true]) {
          const a = await ask(r, source, name, 'A', listener, tcp);
          assert.equal(a.rcode, 5, `${source} via ${listener}: ${name}`);
          assert.deepEqual(a.data, []);
        }
    assert.deepEqual(up.seen, [], 'nothing forwarded for them');
    assert.equal(r.stats().refused, 20);
    // A container on both networks is served by both listeners, from either address.
    for (const listener of ['n1', 'n2'])
      for (const source of ['10.1.0.4', '10.2.0.4']) {
        assert.deepEqual((await ask(r, source, 'web', 'A', listener)).data, ['10.1.0.3']);
        assert.deepEqual((await ask(r, source, 'db', 'A', listener)).data, ['10.2.0.3']);
      }
    // Disconnected from net2, multi is refused there at once; connected, served at once.
    r.records.removeEndpoint(ID('c'), 'n2');
    assert.equal((await ask(r, '10.1.0.4', 'web', 'A', 'n2')).rcode, 5);
    r.records.upsertEndpoint(
      ep({
        containerId: ID('1'),
        name: 'client1',
        ipv4: '10.2.0.9',
        networkId: 'n2',
        networkName: 'net2',
      }),
    );
    assert.deepEqual((await ask(r, '10.1.0.2', 'db', 'A', 'n2')).data, ['10.2.0.3']);
  });

  it('a container on two networks sees both; the first network wins', async () => {
    assert.deepEqual((await ask(r, '10.1.0.4', 'db')).data, ['10.2.0.3']);
    assert.deepEqual((await ask(r, '10.2.0.4', 'web')).data, ['10.1.0.3']);
    // Its own name from net1 (attached first), whichever address it asks from.
    assert.deepEqual((await ask(r, '10.2.0.4', 'multi')).data, ['10.1.0.4']);
    assert.deepEqual((await ask(r, '10.2.0.4', 'multi.net2')).data, ['10.2.0.4']);
  });

  it('answers a --link alias on a user network to the linking container only', async () => {
    // client1 runs with --link web:front on net1; multi links db:store on net2 only.
    const rec = r.records;
    rec.upsertEndpoint(
      ep({
        containerId: ID('1'),
        name: 'client1',
        ipv4: '10.1.0.2',
        links: [{ target: 'web', alias: 'front' }],
      }),
    );
    rec.upsertEndpoint(
      ep({
        containerId: ID('c'),
        name: '/multi',
        ipv4: '10.2.0.4',
        networkId: 'n2',
        networkName: 'net2',
        links: [{ target: '/db', alias: 'Store' }],
      }),
    );
    assert.deepEqual((await ask(r, '10.1.0.2', 'front')).data, ['10.1.0.3']);
    assert.deepEqual((await ask(r, '10.1.0.2', 'web')).data, ['10.1.0.3'], 'the name itself too');
    assert.equal((await ask(r, '10.1.0.4', 'front')).rcode, 3, 'another container on net1');
    assert.deepEqual((await ask(r, '10.1.0.4', 'store')).data, ['10.2.0.3']);
    assert.equal((await ask(r, '10.2.0.3', 'store')).rcode, 3, 'the target itself');
  });

  it('resolves name.network, alias.network and ignores case, keeping the question as asked', async () => {
    assert.deepEqual((await ask(r, '10.1.0.2', 'web.net1')).data, ['10.1.0.3']);
    assert.deepEqual((await ask(r, '10.1.0.2', 'www.net1')).data, ['10.1.0.3']);
    const a = await ask(r, '10.1.0.2', 'WeB.NeT1');
    assert.deepEqual(a.data, ['10.1.0.3']);
    assert.equal(a.question, 'WeB.NeT1');
    assert.deepEqual((await ask(r, '10.1.0.2', 'web.')).data, ['10.1.0.3']);
  });

  it('refuses clients that are no container on a user network', async () => {
    const a = await ask(r, '10.9.9.9', 'web');
    assert.equal(a.rcode, 5);
    assert.equal((await ask(r, '10.9.9.9', 'example.org')).rcode, 5);
    assert.deepEqual(up.seen, []);
  });

  it('answers PTR for addresses on shared networks only', async () => {
    const a = await ask(r, '10.1.0.2', '3.0.1.10.in-addr.arpa', 'PTR');
    assert.deepEqual(a.data, ['web.net1']);
    const b = await ask(r, '10.1.0.2', '3.0.2.10.in-addr.arpa', 'PTR');
    assert.deepEqual(b.data, []);
    assert.deepEqual(up.seen, ['3.0.2.10.in-addr.arpa']);
    assert.deepEqual((await ask(r, '10.1.0.4', '4.0.2.10.in-addr.arpa', 'PTR')).data, [
      'multi.net2',
    ]);
  });

  it('AAAA with IPv6, NODATA (not forwarded) for names without it and for other types', async () => {
    r.records.upsertEndpoint(
      ep({ containerId: ID('d'), name: 'six', ipv4: '10.1.0.6', ipv6: 'fd00:0::6' }),
    );
    assert.deepEqual((await ask(r, '10.1.0.2', 'six', 'AAAA')).data, ['fd00::6']);
    const ptr6 = '6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
    assert.deepEqual((await ask(r, '10.1.0.2', ptr6, 'PTR')).data, ['six.net1']);
    for (const t of ['AAAA', 'MX', 'TXT'] as const) {
      const a = await ask(r, '10.1.0.2', 'web', t);
      assert.equal(a.rcode, 0, t);
      assert.deepEqual(a.data, [], t);
    }
    assert.deepEqual(up.seen, []);
    // An IPv6 client is found by its (canonical) address.
    assert.deepEqual((await ask(r, 'fd00::6', 'web')).data, ['10.1.0.3']);
  });

  it('shuffles several containers behind one alias, answering all of them', async () => {
    const ips = ['10.1.0.10', '10.1.0.11', '10.1.0.12', '10.1.0.13'];
    ips.forEach((ip, i) =>
      r.records.upsertEndpoint(
        ep({ containerId: ID(String(i + 4)), name: `app${i}`, aliases: ['app'], ipv4: ip }),
      ),
    );
    const firsts = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const a = await ask(r, '10.1.0.2', 'app', 'A', undefined, false);
      assert.deepEqual([...a.data].sort(), ips);
      firsts.add(a.data.join(','));
    }
    assert.ok(firsts.size > 5, `only ${firsts.size} orders in 200 answers`);
  });

  it('truncates big alias sets over UDP and answers them whole over TCP', async () => {
    for (let i = 0; i < 100; i++)
      r.records.upsertEndpoint(
        ep({
          containerId: String(i).padStart(12, '0').padEnd(64, 'f'),
          name: `w${i}`,
          aliases: ['big'],
          ipv4: `10.1.1.${i}`,
        }),
      );
    const udp = await ask(r, '10.1.0.2', 'big');
    assert.equal(udp.tc, true);
    assert.ok(udp.data.length < 100);
    const tcp = await ask(r, '10.1.0.2', 'big', 'A', undefined, true);
    assert.equal(tcp.tc, false);
    assert.equal(tcp.data.length, 100);
  });

  it('changes are effective immediately: connect, disconnect, re-address', async () => {
    assert.equal((await ask(r, '10.1.0.2', 'late')).rcode, 3);
    r.records.upsertEndpoint(ep({ containerId: ID('e'), name: 'late', ipv4: '10.1.0.20' }));
    assert.deepEqual((await ask(r, '10.1.0.2', 'late')).data, ['10.1.0.20']);
    r.records.upsertEndpoint(ep({ containerId: ID('e'), name: 'late', ipv4: '10.1.0.21' }));
    assert.deepEqual((await ask(r, '10.1.0.2', 'late')).data, ['10.1.0.21']);
    assert.equal(r.records.removeEndpoint(ID('e'), 'n1'), true);
    assert.equal((await ask(r, '10.1.0.2', 'late')).rcode, 3);
    // A disconnected client is no client any more.
    r.records.removeContainer(ID('1'));
    assert.equal((await ask(r, '10.1.0.2', 'web')).rcode, 5);
    assert.equal(r.records.removeEndpoint(ID('1'), 'n1'), false);
  });

  it('connecting a second network widens the scope at once; disconnecting narrows it', async () => {
    assert.equal((await ask(r, '10.1.0.2', 'db')).rcode, 3);
    r.records.upsertEndpoint(
      ep({
        containerId: ID('1'),
        name: 'client1',
        ipv4: '10.2.0.9',
        networkId: 'n2',
        networkName: 'net2',
      }),
    );
    assert.deepEqual((await ask(r, '10.1.0.2', 'db')).data, ['10.2.0.3']);
    r.records.removeEndpoint(ID('1'), 'n2');
    assert.equal((await ask(r, '10.1.0.2', 'db')).rcode, 3);
  });

  it('clients only on internal networks get SERVFAIL for outside names, local names still', async () => {
    r.records.upsertEndpoint(
      ep({
        containerId: ID('f'),
        name: 'iso',
        ipv4: '10.3.0.2',
        networkId: 'n3',
        networkName: 'net3',
        internal: true,
      }),
    );
    r.records.upsertEndpoint(
      ep({
        containerId: ID('9'),
        name: 'iso2',
        ipv4: '10.3.0.3',
        networkId: 'n3',
        networkName: 'net3',
        internal: true,
      }),
    );
    assert.equal((await ask(r, '10.3.0.2', 'example.org')).rcode, 2);
    assert.deepEqual((await ask(r, '10.3.0.2', 'iso2')).data, ['10.3.0.3']);
    assert.deepEqual(up.seen, []);
  });

  it("another host's endpoint answers its names but never asks, nor takes a local one's place", async () => {
    const rec = r.records;
    // On net1 from another host: answered to this host's clients there.
    const far = { containerId: ID('d'), name: 'far', ipv4: '10.1.0.30', remote: true };
    assert.equal(rec.upsertEndpoint(ep(far)), true);
    assert.deepEqual((await ask(r, '10.1.0.2', 'far')).data, ['10.1.0.30']);
    // A query from its address is no client's here.
    assert.equal((await ask(r, '10.1.0.30', 'web')).rcode, 5);
    // One that names a local container (web's ID, client1's address) changes nothing.
    const impostor = { containerId: ID('a'), name: 'evil', ipv4: '10.1.0.2', remote: true };
    assert.equal(
      rec.upsertEndpoint(ep({ ...impostor, networkId: 'n2', networkName: 'net2' })),
      false,
    );
    assert.equal(rec.upsertEndpoint(ep(impostor)), false);
    assert.deepEqual((await ask(r, '10.1.0.2', 'web')).data, ['10.1.0.3']);
    assert.equal((await ask(r, '10.1.0.2', 'evil')).rcode, 3);
    assert.equal((await ask(r, '10.2.0.2', 'evil')).rcode, 3);
    // And its removal does not remove web's.
    assert.equal(rec.removeEndpoint(ID('a'), 'n1', true), false);
    assert.deepEqual((await ask(r, '10.1.0.2', 'web')).data, ['10.1.0.3']);
    // A PTR of a local address stays the local endpoint's.
    rec.upsertEndpoint(
      ep({ containerId: ID('8'), name: 'shadow', ipv4: '10.1.0.3', remote: true }),
    );
    const ptr = await ask(r, '10.1.0.2', '3.0.1.10.in-addr.arpa', 'PTR');
    assert.match(ptr.data.join(), /^web\./);
    assert.equal(rec.removeEndpoint(ID('d'), 'n1', true), true);
    assert.equal((await ask(r, '10.1.0.2', 'far')).rcode, 3);
  });

  it('rejects bad records', () => {
    assert.throws(
      () => r.records.upsertEndpoint(ep({ containerId: 'z', name: 'bad', ipv4: '10.1' })),
      {
        code: 'INVALID_ARGUMENT',
      },
    );
    assert.throws(() => r.records.upsertEndpoint(ep({ containerId: '', name: 'bad' })), {
      code: 'INVALID_ARGUMENT',
    });
  });
});
