// The embedded resolver on real sockets, in throwaway namespaces (root):
//   <p>h   "host": bridges br1 10.89.1.1/24 (net1) and br2 10.89.2.1/24 (net2),
//          the resolver on both gateways, a fake upstream on 127.0.0.2:53
//   <p>c1  a container on net1 (10.89.1.2)   <p>c2  one on net2 (10.89.2.2)
//   <p>c3  one on both (10.89.1.3, 10.89.2.3)
// Nothing is sent outside these namespaces; the only upstream is the fake.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { DnsEndpoint } from '../../src/network/dns/records.js';
import { DNS_CLIENT, runScriptIn } from '../helpers/dns-scripts.js';

const isRoot = process.getuid?.() === 0;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const p = `dn${randomBytes(2).toString('hex')}`;
const NS = { h: `${p}h`, c1: `${p}c1`, c2: `${p}c2`, c3: `${p}c3` };
const procs: ChildProcess[] = [];

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

/** Runs argv inside a namespace, asynchronously (our children keep writing meanwhile). */
function inNs(
  ns: string,
  argv: string[],
  timeoutMs = 15000,
): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { cwd: root });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, out });
    });
  });
}

/** A long-running node program in a namespace, talking JSON lines. */
function startNode(ns: string, args: string[]): { proc: ChildProcess; lines: Interface } {
  const proc = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  procs.push(proc);
  return { proc, lines: createInterface({ input: proc.stdout as NodeJS.ReadableStream }) };
}

const FAKE_UPSTREAM = `
const dp = require('dns-packet'), dgram = require('node:dgram'), net = require('node:net');
function answer(msg) {
  let q; try { q = dp.decode(msg); } catch { return null; }
  const name = q.questions?.[0]?.name;
  if (name === undefined) return null;
  process.stdout.write(JSON.stringify({ seen: name }) + '\\n');
  if (name === 'slow.example') return null;
  if (name === 'outside.example')
    return dp.encode({ type: 'response', id: q.id, flags: dp.RECURSION_AVAILABLE, questions: q.questions,
      answers: [{ type: 'A', name, ttl: 60, data: '203.0.113.7' }] });
  return dp.encode({ type: 'response', id: q.id, flags: 3, questions: q.questions });
}
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => { const a = answer(m); if (a) u.send(a, r.port, r.address); });
u.bind(53, '127.0.0.2');
net.createServer((c) => c.on('data', (d) => { const a = answer(d.subarray(2)); if (!a) return;
  const l = Buffer.alloc(2); l.writeUInt16BE(a.length); c.write(Buffer.concat([l, a])); })).listen(53, '127.0.0.2',
  () => process.stdout.write(JSON.stringify({ ready: true }) + '\\n'));
`;

interface Q {
  name: string;
  server: string;
  type?: string;
  tcp?: boolean;
  timeout?: number;
}
interface R {
  id?: boolean;
  rcode?: number;
  tc?: boolean;
  answers?: string[];
  error?: string;
  ms: number;
}

async function query(ns: string, qs: Q[]): Promise<R[]> {
  const r = await runScriptIn(`/run/netns/${ns}`, DNS_CLIENT, [JSON.stringify(qs)]);
  assert.equal(r.status, 0, r.out + r.err);
  return JSON.parse(r.out) as R[];
}

const G1 = '10.89.1.1';
const G2 = '10.89.2.1';
const net1 = { networkId: 'n1', networkName: 'net1' };
const net2 = { networkId: 'n2', networkName: 'net2' };
const id = (c: string): string => c.repeat(64);
const endpoints: DnsEndpoint[] = [
  { containerId: id('1'), name: 'c1', ipv4: '10.89.1.2', ...net1 },
  { containerId: id('2'), name: 'c2', ipv4: '10.89.2.2', ...net2 },
  { containerId: id('3'), name: 'c3', ipv4: '10.89.1.3', ...net1 },
  { containerId: id('3'), name: 'c3', ipv4: '10.89.2.3', ...net2 },
  { containerId: id('a'), name: 'web', aliases: ['svc'], ipv4: '10.89.1.10', ...net1 },
  { containerId: id('b'), name: 'db', aliases: ['svc'], ipv4: '10.89.2.10', ...net2 },
];

let resolver: { proc: ChildProcess; lines: Interface } | undefined;
const upstreamSeen: string[] = [];
const replies: ((l: string) => void)[] = [];

async function command(c: object): Promise<{ ok: boolean; stats?: Record<string, number> }> {
  assert.ok(resolver);
  const line = new Promise<string>((res) => replies.push(res));
  resolver.proc.stdin?.write(`${JSON.stringify(c)}\n`);
  return JSON.parse(await line) as { ok: boolean; stats?: Record<string, number> };
}

function firstLine(lines: Interface, onLater: (l: string) => void): Promise<string> {
  return new Promise((res, rej) => {
    let first = true;
    const t = setTimeout(() => rej(new Error('no ready line')), 10000);
    lines.on('line', (l) => {
      if (!first) return onLater(l);
      first = false;
      clearTimeout(t);
      res(l);
    });
  });
}

describe('dns resolver in namespaces', { skip: !isRoot && 'needs root' }, () => {
  before(async () => {
    for (const ns of Object.values(NS)) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    for (const [br, gw] of [
      ['br1', G1],
      ['br2', G2],
    ] as const) {
      ip('-n', NS.h, 'link', 'add', br, 'type', 'bridge');
      ip('-n', NS.h, 'addr', 'add', `${gw}/24`, 'dev', br);
      ip('-n', NS.h, 'link', 'set', br, 'up');
    }
    const attach = (
      host: string,
      br: string,
      ns: string,
      dev: string,
      addr: string,
      gw?: string,
    ): void => {
      ip('-n', NS.h, 'link', 'add', host, 'type', 'veth', 'peer', 'name', dev, 'netns', ns);
      ip('-n', NS.h, 'link', 'set', host, 'master', br, 'up');
      ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      if (gw) ip('-n', ns, 'route', 'add', 'default', 'via', gw);
    };
    attach('c1', 'br1', NS.c1, 'eth0', '10.89.1.2', G1);
    attach('c2', 'br2', NS.c2, 'eth0', '10.89.2.2', G2);
    attach('c3a', 'br1', NS.c3, 'eth0', '10.89.1.3', G1);
    attach('c3b', 'br2', NS.c3, 'eth1', '10.89.2.3');

    const up = startNode(NS.h, ['-e', FAKE_UPSTREAM]);
    await firstLine(up.lines, (l) => upstreamSeen.push((JSON.parse(l) as { seen: string }).seen));
    const cfg = {
      port: 53,
      upstreams: ['127.0.0.2'],
      timeoutMs: 300,
      tcpIdleMs: 500,
      listeners: [
        { address: G1, networkId: 'n1' },
        { address: G2, networkId: 'n2' },
      ],
      endpoints,
    };
    resolver = startNode(NS.h, [
      join(root, 'dist/src/network/dns/tools/serve.js'),
      JSON.stringify(cfg),
    ]);
    const ready = await firstLine(resolver.lines, (l) => replies.shift()?.(l));
    assert.match(ready, /"ready":true/);
  });

  after(() => {
    for (const c of procs) if (c.exitCode === null) c.kill('SIGKILL');
    // Deleting the namespaces takes the bridges and veths with them.
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.ok(!left.includes(p), `namespaces left: ${left}`);
  });

  it('answers a container the names on its network (busybox nslookup)', async () => {
    const r = await inNs(NS.c1, ['busybox', 'nslookup', 'web', G1]);
    assert.match(r.out, /Address:\s+10\.89\.1\.10/);
    const [a, b, c, d] = await query(NS.c1, [
      { name: 'web', server: G1 },
      { name: 'WEB.net1', server: G1 },
      { name: 'aaaaaaaaaaaa', server: G1 },
      { name: '10.1.89.10.in-addr.arpa', type: 'PTR', server: G1 },
    ]);
    assert.deepEqual(a?.answers, ['10.89.1.10']);
    assert.deepEqual(b?.answers, ['10.89.1.10']);
    assert.deepEqual(c?.answers, ['10.89.1.10']);
    assert.deepEqual(d?.answers, ['web.net1']);
  });

  it('never tells a container the names of a network it is not on; that network refuses it', async () => {
    const qs: Q[] = [];
    for (const server of [G1, G2])
      for (const tcp of [false, true])
        for (const name of ['db', 'db.net2', 'c2', 'bbbbbbbbbbbb', 'elsewhere.example'])
          qs.push({ name, server, tcp });
    const rs = await query(NS.c1, [
      ...qs,
      { name: '10.2.89.10.in-addr.arpa', type: 'PTR', server: G2 },
    ]);
    rs.forEach((r, i) => {
      const q = qs[i] ?? { name: 'PTR', server: G2 };
      assert.equal(r.error, undefined, JSON.stringify(q));
      // Its own network's listener forwards what it does not know (NXDOMAIN upstream);
      // net2's listener refuses a container not on net2, outside names too.
      const want = q.server === G2 ? 5 : 3;
      assert.equal(r.rcode, want, `${JSON.stringify(q)} → ${JSON.stringify(r)}`);
      assert.deepEqual(r.answers, []);
    });
    // An alias on both networks: each side sees only its own container.
    const [s1, s1b] = await query(NS.c1, [
      { name: 'svc', server: G1 },
      { name: 'svc', server: G2 },
    ]);
    assert.deepEqual(s1?.answers, ['10.89.1.10']);
    assert.equal(s1b?.rcode, 5);
    const [s2, w2] = await query(NS.c2, [
      { name: 'svc', server: G2 },
      { name: 'web', server: G1 },
    ]);
    assert.deepEqual(s2?.answers, ['10.89.2.10']);
    assert.equal(w2?.rcode, 5);
    const nb = await inNs(NS.c2, ['busybox', 'nslookup', 'web', G1]);
    assert.doesNotMatch(nb.out, /10\.89\.1\.10/);
  });

  it('a container on both networks sees both', async () => {
    const rs = await query(NS.c3, [
      { name: 'web', server: G1 },
      { name: 'db', server: G2 },
      { name: 'db', server: G1, tcp: true },
    ]);
    assert.deepEqual(
      rs.map((r) => r.answers),
      [['10.89.1.10'], ['10.89.2.10'], ['10.89.2.10']],
    );
  });

  it('forwards other names to the upstream, caches, times out to SERVFAIL', async () => {
    const before = upstreamSeen.filter((n) => n === 'outside.example').length;
    const seenBefore = upstreamSeen.length;
    const [o1, o2, slow] = await query(NS.c1, [
      { name: 'outside.example', server: G1 },
      { name: 'outside.example', server: G1, tcp: true },
      { name: 'slow.example', server: G1 },
    ]);
    assert.deepEqual(o1?.answers, ['203.0.113.7']);
    assert.deepEqual(o2?.answers, ['203.0.113.7']);
    assert.equal(upstreamSeen.filter((n) => n === 'outside.example').length - before, 1);
    assert.equal(slow?.rcode, 2);
    assert.ok((slow?.ms ?? 0) >= 250 && (slow?.ms ?? 0) < 2000, `SERVFAIL after ${slow?.ms} ms`);
    // Names of the client's own networks never leave for the upstream.
    const local = await query(
      NS.c1,
      ['web', 'svc', 'web.net1', 'c1', 'c3'].map((name) => ({ name, server: G1 })),
    );
    assert.ok(local.every((r) => r.rcode === 0 && r.answers?.length === 1));
    const went = upstreamSeen
      .slice(seenBefore)
      .filter((n) => n !== 'outside.example' && n !== 'slow.example');
    assert.deepEqual(went, []);
  });

  it('refuses clients that are no container', async () => {
    const [r] = await query(NS.h, [{ name: 'web', server: G1 }]);
    assert.equal(r?.rcode, 5);
  });

  it('applies connect and disconnect before the call returns', async () => {
    const ep = { containerId: id('e'), name: 'late', ipv4: '10.89.1.20', ...net1 };
    assert.equal((await command({ op: 'upsert', ep })).ok, true);
    assert.deepEqual((await query(NS.c1, [{ name: 'late', server: G1 }]))[0]?.answers, [
      '10.89.1.20',
    ]);
    assert.equal(
      (await command({ op: 'remove', containerId: ep.containerId, networkId: 'n1' })).ok,
      true,
    );
    assert.equal((await query(NS.c1, [{ name: 'late', server: G1 }]))[0]?.rcode, 3);
    // c1 connected to net2 sees db at once; disconnected, no longer.
    const c1n2 = { containerId: id('1'), name: 'c1', ipv4: '10.89.2.4', ...net2 };
    await command({ op: 'upsert', ep: c1n2 });
    assert.deepEqual((await query(NS.c1, [{ name: 'db', server: G1 }]))[0]?.answers, [
      '10.89.2.10',
    ]);
    await command({ op: 'remove', containerId: id('1'), networkId: 'n2' });
    assert.equal((await query(NS.c1, [{ name: 'db', server: G1 }]))[0]?.rcode, 3);
  });

  it('removes and adds a listener while the other keeps serving', async () => {
    assert.equal((await command({ op: 'removeListener', address: G2 })).ok, true);
    const [gone, still] = await query(NS.c3, [
      { name: 'db', server: G2, timeout: 1000 },
      { name: 'db', server: G1 },
    ]);
    assert.ok(gone?.error !== undefined, `no answer expected, got ${JSON.stringify(gone)}`);
    assert.deepEqual(still?.answers, ['10.89.2.10']);
    assert.deepEqual((await query(NS.c1, [{ name: 'web', server: G1 }]))[0]?.answers, [
      '10.89.1.10',
    ]);
    assert.equal((await command({ op: 'addListener', address: G2, networkId: 'n2' })).ok, true);
    assert.deepEqual((await query(NS.c2, [{ name: 'db', server: G2 }]))[0]?.answers, [
      '10.89.2.10',
    ]);
  });

  it('survives garbage: random datagrams, bad TCP frames, stalled connections', async () => {
    const GARBAGE = `
const dgram = require('node:dgram'), net = require('node:net'), crypto = require('node:crypto');
const server = process.argv[1];
const u = dgram.createSocket('udp4');
let n = 0;
for (let i = 0; i < 3000; i++) {
  const len = i % 10 === 0 ? 0 : Math.floor(Math.random() * 700);
  u.send(crypto.randomBytes(len), 53, server, () => { if (++n === 3000) u.close(); });
}
const frames = [Buffer.from([0, 0]), Buffer.from([0xff, 0xff, 1, 2, 3]), Buffer.from([0, 40, 1]),
  Buffer.concat([Buffer.from([0, 12]), crypto.randomBytes(12)]), crypto.randomBytes(5000)];
const open = new Set(frames.map((_, i) => i));
frames.forEach((f, i) => {
  const c = net.connect(53, server, () => c.write(f));
  c.on('error', () => {});
  c.resume();
  c.on('close', () => { open.delete(i); if (open.size === 0) { process.stdout.write('closed'); process.exit(0); } });
});
setTimeout(() => { process.stdout.write('stuck: ' + [...open].map((i) => frames[i].subarray(0, 40).toString('hex')).join(' ')); process.exit(1); }, 5000);
`;
    const g = await inNs(NS.c1, [process.execPath, '-e', GARBAGE, G1]);
    assert.equal(g.out, 'closed', 'the resolver closes bad and stalled connections');
    assert.equal(resolver?.proc.exitCode, null, 'still running');
    const [ok] = await query(NS.c1, [{ name: 'web', server: G1 }]);
    assert.deepEqual(ok?.answers, ['10.89.1.10']);
    const stats = (await command({ op: 'stats' })).stats ?? {};
    assert.ok((stats.rejected ?? 0) + (stats.dropped ?? 0) > 100, JSON.stringify(stats));
  });
});
