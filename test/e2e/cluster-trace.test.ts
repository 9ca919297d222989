/**
 * `berth network trace` across two hosts (issue 16 item 2, the overlay
 * case; decision 0033 "Across hosts"): app on host 1 and db on host 2 on
 * the overlay `demo`. From host 1, a ping of db by name and a TCP probe by
 * address show the route in app, the veth onto br0 in the overlay's
 * namespace, the frame crossing br0 to vxlan0, vxlan0's FDB entry for db's
 * MAC, the encapsulated packet leaving with demo's VNI for host 2's
 * address, and — traced by host 2 on host 1's request — the packet
 * arriving there and br0 passing it to db's veth, and the sentence naming
 * host 2. With db's FDB entry deleted by hand (a missing peer): dropped, no
 * VXLAN peer for db's MAC. With a rule of host 2's dropping VXLAN: dropped
 * there, the rule named. No trace
 * table is left in host 1's namespace nor in the overlay's, nor after a
 * daemon killed with one left there (the overlay's start-up sweep). Needs
 * root and etcd.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';
import { appDbCluster, clusterClients } from '../helpers/cluster-client.js';
import { BERTH } from '../helpers/lab-daemon.js';

const IP = { 1: '192.168.205.10', 2: '192.168.205.11' } as const;
const ready = process.getuid?.() === 0 && !!which('etcd') && !!which('etcdctl');

interface Result {
  outcome: string;
  sentence: string;
  hops: Array<{ at: string; what: string }>;
  probe: { trace: string[]; overlayTrace?: string[]; remoteTrace?: string[] };
}

describe('berth network trace across two hosts', { skip: !ready && 'needs root and etcd' }, () => {
  let lab: Lab;
  const daemons: LabDaemon[] = [];
  let nsPath = '';
  let nsPath2 = '';
  let dbVeth = '';
  let hostName2 = '';
  let vni = '';
  let db = { ip: '', mac: '' };

  const { client, docker } = clusterClients(() => lab, daemons);
  const trace = (src: string, dst: string): Result => {
    const out = client(BERTH, 1, ['network', 'trace', '--format', 'json', src, dst]);
    if (process.env.BERTH_TRACE_DEBUG) process.stderr.write(out + '\n');
    return JSON.parse(out) as Result;
  };
  const on1 = (argv: string[]) => {
    const r = lab.exec(1, argv);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const inOverlay = (argv: string[]) => on1(['nsenter', `--net=${nsPath}`, ...argv]);
  const on2 = (argv: string[]) => {
    const r = lab.exec(2, argv);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  /** Host 2's trace tables: its own namespace's and its overlay namespace's. */
  const traceTables2 = () =>
    [on2(['nft', 'list', 'tables']), on2(['nsenter', `--net=${nsPath2}`, 'nft', 'list', 'tables'])]
      .flatMap((out) => out.split('\n'))
      .filter((l) => l.includes('berth-trace-'))
      .join('\n');
  const traceTables = () =>
    [on1(['nft', 'list', 'tables']), inOverlay(['nft', 'list', 'tables'])]
      .flatMap((out) => out.split('\n'))
      .filter((l) => l.includes('berth-trace-'))
      .join('\n');

  before(async () => {
    [nsPath, nsPath2] = await appDbCluster('ct', daemons, (l) => (lab = l));
    // db's veth on br0 in host 2's overlay namespace: the only veth there.
    dbVeth =
      /^\d+: (veth\w+)@/m.exec(
        on2(['nsenter', `--net=${nsPath2}`, 'ip', '-o', 'link', 'show', 'type', 'veth']),
      )?.[1] ?? '';
    assert.ok(dbVeth);
    hostName2 = docker(2, ['info', '-f', '{{.Name}}']);
    vni =
      /vxlan id (\d+) /.exec(inOverlay(['ip', '-d', '-o', 'link', 'show', 'vxlan0']))?.[1] ?? '';
    assert.ok(vni);
    const [ip, mac] = docker(2, [
      'inspect',
      '-f',
      '{{.NetworkSettings.Networks.demo.IPAddress}} {{.NetworkSettings.Networks.demo.MacAddress}}',
      'db',
    ]).split(' ');
    db = { ip: ip!, mac: mac! };
  });
  after(async () => {
    for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
    await lab?.destroy();
  });

  it('an overlay ping across hosts: br0, the FDB entry, VXLAN with the VNI to host 2', () => {
    const r = trace('app', 'db');
    const all = JSON.stringify(r, null, 1);
    assert.equal(r.outcome, 'delivered', all);
    const hop = (at: string) => r.hops.find((h) => h.at === at || h.at.startsWith(at))?.what ?? '';
    assert.match(hop('route'), new RegExp(`^in app: to ${db.ip.replace(/\./g, '\\.')} dev eth0`));
    assert.match(hop('veth'), /^eth0 in app ↔ \S+ on br0 in ov-[0-9a-f]{12} \(network demo\)$/);
    // Observed in the overlay's namespace: the frame crossed br0 to vxlan0.
    assert.match(hop('bridge br0'), /^seen: in \S+, out vxlan0$/, all);
    assert.equal(hop('fdb vxlan0'), `${db.mac} (db) → ${IP[2]}`);
    // Observed in host 1's namespace: the encapsulated probe, its VNI and tunnel address.
    assert.match(
      hop('vxlan'),
      new RegExp(`^encapsulated in VNI ${vni}: ${IP[1]} → ${IP[2]} udp 4789 out \\S+ `),
      all,
    );
    // Observed on host 2 (it traced the arrival on this daemon's request):
    // the VXLAN packet in, br0 there passing the frame to db's veth.
    assert.match(
      hop('remote vxlan'),
      new RegExp(`^arrived at host ${IP[2]} \\(\\S+\\) in VNI ${vni} \\(in eth0; .*seen there\\)$`),
      all,
    );
    assert.equal(
      hop('remote bridge br0'),
      `on host ${IP[2]} (${hostName2}): in vxlan0, out ${dbVeth} (seen there)`,
    );
    assert.match(hop('arrival'), new RegExp(`^db \\(${db.ip}\\) on host ${IP[2]} `));
    assert.equal(
      r.sentence,
      `delivered: overlay demo, VXLAN VNI ${vni} to host ${IP[2]} (${hostName2}), to db (${db.ip}); seen leaving here and arriving there`,
    );
    assert.ok(
      r.probe.overlayTrace?.some((l) => l.includes('oif "vxlan0"')),
      all,
    );
    assert.ok(
      r.probe.remoteTrace?.some((l) => l.includes('iif "vxlan0"') && l.includes(`oif "${dbVeth}"`)),
      all,
    );
    assert.equal(traceTables(), '');
    assert.equal(traceTables2(), '');
  });

  it('a TCP probe by address, as text: the same tunnel; whether db listens, as host 2 sees it', async () => {
    // Nothing listens on 5432 in db: host 2 looked, and says so.
    let out = client(BERTH, 1, ['network', 'trace', 'app', `${db.ip}:5432`]);
    assert.match(
      out,
      new RegExp(`vxlan +encapsulated in VNI ${vni}: ${IP[1]} → ${IP[2]} udp 4789`),
    );
    assert.match(
      out,
      new RegExp(`\\n *\\d+\\. remote bridge br0 +on host ${IP[2]} .*out ${dbVeth} `),
    );
    assert.match(
      out,
      new RegExp(`no socket on ${db.ip.replace(/\./g, '\\.')}:5432/tcp in db on host`),
    );
    assert.match(
      out,
      new RegExp(
        `\\noverlay demo, VXLAN VNI ${vni} to host ${IP[2]} .*, to db, but no container listens on ${db.ip.replace(/\./g, '\\.')}:5432`,
      ),
    );
    docker(2, ['exec', '-d', 'db', 'nc', '-ll', '-p', '5432', '-e', 'true']);
    // 5432 is 1538 in hex; 0A is LISTEN; busybox nc listens on :: (tcp6).
    const pid = docker(2, ['inspect', '-f', '{{.State.Pid}}', 'db']).trim();
    const listening = () =>
      ['tcp', 'tcp6'].some((f) =>
        /:1538 0+:0+ 0A /.test(readFileSync(`/proc/${pid}/net/${f}`, 'utf8')),
      );
    for (let i = 0; i < 50 && !listening(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(listening(), 'nc listens in db');
    out = client(BERTH, 1, ['network', 'trace', 'app', `${db.ip}:5432`]);
    assert.match(out, new RegExp(`\\ndelivered: overlay demo, VXLAN VNI ${vni} to host ${IP[2]} `));
  });

  it('a missing peer: no FDB entry for db on host 1, dropped', () => {
    const entry = ['bridge', 'fdb', 'del', db.mac, 'dev', 'vxlan0', 'dst', IP[2]];
    inOverlay(entry);
    try {
      const r = trace('app', 'db');
      assert.equal(r.outcome, 'dropped', JSON.stringify(r, null, 1));
      assert.match(
        r.sentence,
        new RegExp(`^dropped: no VXLAN peer for ${db.mac} \\(db\\) on this host: .* host ${IP[2]}`),
      );
      assert.ok(r.hops.some((h) => h.at === 'fdb vxlan0' && h.what.startsWith('no entry')));
    } finally {
      inOverlay(['bridge', 'fdb', 'append', db.mac, 'dev', 'vxlan0', 'dst', IP[2]]);
    }
    assert.equal(traceTables(), '');
  });

  it('a rule of host 2 that drops VXLAN: seen there, dropped, the rule named', () => {
    on2(['nft', 'add', 'table', 'inet', 'usrtrace']);
    try {
      on2(['nft', 'add chain inet usrtrace in { type filter hook input priority 0; }']);
      on2(['nft', 'add rule inet usrtrace in udp dport 4789 drop']);
      const r = trace('app', 'db');
      assert.equal(r.outcome, 'dropped', JSON.stringify(r, null, 1));
      assert.equal(
        r.sentence,
        `dropped on host ${IP[2]} (${hostName2}): rule "udp dport 4789 drop" in inet usrtrace in drops it`,
      );
      assert.ok(
        r.hops.some((h) => h.at === 'vxlan' && h.what.startsWith(`encapsulated in VNI ${vni}`)),
      );
    } finally {
      on2(['nft', 'delete', 'table', 'inet', 'usrtrace']);
    }
    assert.equal(trace('app', 'db').outcome, 'delivered');
    assert.equal(traceTables2(), '');
  });

  it('refuses a trace from host 2’s container, saying where it runs', () => {
    const r = spawnSync(BERTH, ['network', 'trace', 'db', 'app'], {
      encoding: 'utf8',
      env: { ...process.env, BERTH_HOST: daemons[0]!.env.DOCKER_HOST },
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot trace from db: it runs on host \S+; trace from there/);
  });

  it('a trace table a killed daemon left in the overlay namespace is deleted at its restart', async () => {
    inOverlay(['nft', 'add', 'table', 'bridge', 'berth-trace-deadbeef']);
    assert.equal(traceTables(), 'table bridge berth-trace-deadbeef');
    await daemons[0]!.stop('SIGKILL');
    daemons[0] = await lab.startDaemon(1, { args: lab.clusterArgs(1), timeoutMs: 30_000 });
    const until = Date.now() + 15_000;
    while (traceTables() && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    assert.equal(traceTables(), '');
  });
});
