/**
 * `berth network graph` in a cluster lab (issue 16 item 1): an overlay with
 * a container on each of two hosts (app, db); host 1's graph shows the overlay's
 * namespace, br0, vxlan0 with the VNI, source address and port the kernel
 * has, and the tunnel to host 2's address with host 2's container (db) behind it.
 * An FDB entry added by hand, which no endpoint explains, is listed as a
 * leak. Needs root and etcd.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';
import { appDbCluster, clusterClients } from '../helpers/cluster-client.js';
import { BERTH } from '../helpers/lab-daemon.js';

const IP = { 1: '192.168.205.10', 2: '192.168.205.11' } as const;
const ready = process.getuid?.() === 0 && !!which('etcd') && !!which('etcdctl');

interface JsonGraph {
  edges: Array<{ from: string; to: string; kind: string; label?: string; state: string }>;
  problems: Array<{ kind: string; message: string }>;
}

describe('berth network graph across two hosts', { skip: !ready && 'needs root and etcd' }, () => {
  let lab: Lab;
  const daemons: LabDaemon[] = [];
  let nsPath = '';

  const { client, docker } = clusterClients(() => lab, daemons);
  const graph = (...args: string[]) => client(BERTH, 1, ['network', 'graph', ...args]);
  /** A command in the overlay network's namespace on host 1. */
  const inOverlay = (argv: string[]) => {
    const r = lab.exec(1, ['nsenter', `--net=${nsPath}`, ...argv]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  before(async () => {
    [nsPath] = await appDbCluster('cg', daemons, (l) => (lab = l));
  });
  after(async () => {
    for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
    await lab?.destroy();
  });

  it('shows vxlan0 as the kernel has it and the tunnel to host 2, with db behind it', () => {
    const vx = inOverlay(['ip', '-d', '-o', 'link', 'show', 'vxlan0']);
    const [, index, vni] = /^(\d+): vxlan0.* vxlan id (\d+) /.exec(vx) ?? [];
    assert.ok(index && vni, vx);
    assert.match(vx, new RegExp(` local ${IP[1]} .*dstport 4789`));
    const b = docker(2, [
      'inspect',
      '-f',
      '{{.NetworkSettings.Networks.demo.IPAddress}} {{.NetworkSettings.Networks.demo.IPPrefixLen}} {{.NetworkSettings.Networks.demo.MacAddress}}',
      'db',
    ]).split(' ');
    // The kernel has the tunnel the graph draws: b's MAC behind host 2.
    assert.match(
      inOverlay(['bridge', 'fdb', 'show', 'dev', 'vxlan0']),
      new RegExp(`^${b[2]} dst ${IP[2]} `, 'm'),
    );
    const text = graph('demo');
    assert.match(text, /^overlay demo \(namespace ov-[0-9a-f]{12}\)$/m);
    assert.match(text, /^bridge br0 \[\d+\]  network demo  10\.\d+\.\d+\.1\/24$/m);
    assert.ok(text.includes(`├── vxlan0 [${index}]  VNI ${vni}, local ${IP[1]}, udp 4789\n`), text);
    assert.match(
      text,
      new RegExp(`^│ {5}tunnel to host \\S+ \\(${IP[2]}\\): VXLAN VNI ${vni}, 1 endpoint$`, 'm'),
    );
    assert.ok(text.includes(`│       db ${b[0]}/${b[1]} ${b[2]}\n`), text);
    assert.match(text, /in app \([0-9a-f]{12}\)/);
    assert.match(text, /No problems: the store and the kernel agree\./);
    const json = JSON.parse(graph('--format', 'json')) as JsonGraph;
    assert.deepEqual(json.problems, []);
    const t = json.edges.find((e) => e.kind === 'tunnel');
    assert.deepEqual([t?.to, t?.state], [`remote:${IP[2]}`, 'ok']);
    assert.match(
      graph('--format', 'dot', 'demo'),
      new RegExp(`-> "remote:${IP[2].replace(/\./g, '\\.')}" \\[style=bold`),
    );
  });

  it('lists an FDB entry no endpoint explains as a leak', () => {
    inOverlay([
      'bridge',
      'fdb',
      'append',
      '02:42:0a:00:00:99',
      'dev',
      'vxlan0',
      'dst',
      '192.168.205.99',
    ]);
    try {
      const text = graph('demo');
      assert.match(
        text,
        /tunnel to host 192\.168\.205\.99: FDB 02:42:0a:00:00:99, no endpoint {2}\[LEAK\]/,
      );
      assert.match(text, /LEAK {6}vxlan0 of demo sends 02:42:0a:00:00:99 to 192\.168\.205\.99/);
    } finally {
      inOverlay([
        'bridge',
        'fdb',
        'del',
        '02:42:0a:00:00:99',
        'dev',
        'vxlan0',
        'dst',
        '192.168.205.99',
      ]);
    }
    assert.match(graph('demo'), /No problems/);
  });
});
