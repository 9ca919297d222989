/**
 * Berth's DNS under abuse by a container (hardening issue, defect 7): one
 * container hoarding TCP connections or dripping bytes must not starve
 * another's queries, and a network's resolver answers only containers on
 * that network. The clients are node scripts run in the containers' network
 * namespaces; outside names come from a dnsmasq in the lab's world (as in
 * outside-names.test.ts), nothing leaves the lab.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { labWithDaemons, worldDns, type LabEnv } from '../helpers/lab-daemon.js';
import {
  DNS_CLIENT,
  DNS_DRIP,
  DNS_HOG,
  nextLine,
  runScriptIn,
  startScriptIn,
} from '../helpers/dns-scripts.js';

let env: LabEnv;
let dnsmasq: ChildProcess | undefined;
const started: ChildProcess[] = [];
const LOOP = 'while true; do sleep 3600; done';
let gwA = '';
let gwB = '';

interface Answer {
  rcode?: number;
  answers?: string[];
  error?: string;
  ms: number;
}

const netnsOf = (name: string): string => {
  const r = env.docker(['inspect', '-f', '{{.State.Pid}}', name]);
  assert.equal(r.status, 0, r.stderr);
  return `/proc/${r.stdout.trim()}/ns/net`;
};

async function ask(
  container: string,
  qs: { name: string; server: string; tcp?: boolean; timeout?: number }[],
): Promise<Answer[]> {
  const r = await runScriptIn(netnsOf(container), DNS_CLIENT, [JSON.stringify(qs)]);
  assert.equal(r.status, 0, r.out + r.err);
  return JSON.parse(r.out) as Answer[];
}

describe('DNS limits: connection hoarding, slow senders, foreign networks', () => {
  before(async () => {
    env = await labWithDaemons();
    dnsmasq = worldDns(env);
    for (const n of ['neta', 'netb']) assert.equal(env.docker(['network', 'create', n]).status, 0);
    const gw = (n: string) =>
      env
        .docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', n])
        .stdout.trim();
    gwA = gw('neta');
    gwB = gw('netb');
    for (const [name, net] of [
      ['hog', 'neta'],
      ['friend', 'neta'],
      ['target', 'neta'],
      ['remote', 'netb'],
    ] as const) {
      const r = env.docker([
        'run',
        '-d',
        '--name',
        name,
        '--network',
        net,
        'busybox',
        'sh',
        '-c',
        LOOP,
      ]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => {
    for (const p of started) if (p.exitCode === null) p.kill('SIGKILL');
    dnsmasq?.kill();
    await env?.destroy();
  });

  it("300 idle TCP connections from one container leave another's TCP queries answered", async () => {
    const hog = startScriptIn(netnsOf('hog'), DNS_HOG, [gwA, '300']);
    started.push(hog.proc);
    try {
      const first = JSON.parse(await nextLine(hog.lines)) as { connected: number; open: number };
      assert.ok(first.connected > 0, JSON.stringify(first));
      const [tcp, udp] = await ask('friend', [
        { name: 'target', server: gwA, tcp: true },
        { name: 'target', server: gwA },
      ]);
      assert.equal(tcp?.rcode, 0, `TCP while hogged: ${JSON.stringify(tcp)}`);
      assert.equal(tcp?.answers?.length, 1);
      assert.equal(udp?.rcode, 0, JSON.stringify(udp));
      // The hog holds a handful, not the listener's whole budget.
      hog.proc.stdin?.write('\n');
      const now = JSON.parse(await nextLine(hog.lines)) as { open: number };
      assert.ok(now.open <= 8, `one container holds ${now.open} connections`);
      // The hog can still ask over TCP too (a fresh connection replaces an idle one).
      const [own] = await ask('hog', [{ name: 'target', server: gwA, tcp: true }]);
      assert.equal(own?.rcode, 0, JSON.stringify(own));
    } finally {
      hog.proc.stdin?.end();
      hog.proc.kill();
    }
  });

  it('a client dripping one byte at a time is disconnected within the message deadline', async () => {
    // A valid length prefix and query, one byte every 500 ms: each byte
    // would reset a plain idle timer, so only a whole-message deadline ends it.
    const q = Buffer.from('0018abcd01000001000000000000067461726765740000010001', 'hex');
    const [drip, silent] = await Promise.all([
      runScriptIn(netnsOf('hog'), DNS_DRIP, [gwA, q.toString('hex'), '500', '15000']),
      runScriptIn(netnsOf('friend'), DNS_DRIP, [gwA, '', '500', '15000']),
    ]);
    const d = JSON.parse(drip.out) as { closedAfter?: number; open?: boolean; sent: number };
    assert.equal(d.open, undefined, `still open after 15 s, ${d.sent} bytes sent`);
    assert.ok((d.closedAfter ?? 0) < 6000, `closed after ${d.closedAfter} ms`);
    const s = JSON.parse(silent.out) as { closedAfter?: number; open?: boolean };
    assert.ok((s.closedAfter ?? Infinity) < 6000, `silent connection: ${silent.out}`);
    const [ok] = await ask('friend', [{ name: 'target', server: gwA, tcp: true }]);
    assert.equal(ok?.rcode, 0, JSON.stringify(ok));
  });

  it('refuses a container asking the resolver of a network it is not on, outside names too', async () => {
    const qs: { name: string; server: string; tcp: boolean }[] = [];
    for (const tcp of [false, true])
      for (const name of ['target', 'www.example.test', 'remote'])
        qs.push({ name, server: gwA, tcp });
    const rs = await ask('remote', qs);
    rs.forEach((r, i) =>
      assert.equal(r.rcode, 5, `${JSON.stringify(qs[i])} → ${JSON.stringify(r)}`),
    );
    // Its own network's resolver answers it, and neta's answers neta's containers.
    const [own, ownTcp] = await ask('remote', [
      { name: 'www.example.test', server: gwB },
      { name: 'www.example.test', server: gwB, tcp: true },
    ]);
    assert.deepEqual(own?.answers, ['203.0.113.1'], JSON.stringify(own));
    assert.deepEqual(ownTcp?.answers, ['203.0.113.1'], JSON.stringify(ownTcp));
    const [mine] = await ask('friend', [{ name: 'www.example.test', server: gwA }]);
    assert.deepEqual(mine?.answers, ['203.0.113.1'], JSON.stringify(mine));
  });
});
