/**
 * `berth network graph` and `GET /berth/graph` (issue 16 item 1) against a
 * lab daemon: S4's picture (berth0, both veth pairs with the names and
 * ifindexes the kernel gives, the containers' addresses, NAT) as text, dot
 * and SVG; a user-defined network with its DNS listener and a published
 * port; and a veth leaked onto berth0 by hand, listed and drawn in red.
 * Every name and index is checked against what `ip` reads in the lab.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from '../../src/lab/proc.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
let tmp: string;
const LOOP = 'while true; do sleep 3600; done';

interface JsonGraph {
  networks: Array<{ name: string }>;
  nodes: Array<{ id: string; kind: string; name: string; ifindex?: number; state: string }>;
  problems: Array<{ kind: string; message: string }>;
}

/** `ip -o link` in the lab host: name → ifindex and a peer's in another namespace (@ifN). */
function hostLinks(): Map<string, { index: number; peer?: number }> {
  const out = new Map<string, { index: number; peer?: number }>();
  for (const l of env.inHost(['ip', '-o', 'link']).stdout.trim().split('\n')) {
    const m = /^(\d+): ([^:@]+)(?:@(?:if(\d+)|[^:]+))?:/.exec(l);
    if (m) out.set(m[2]!, { index: Number(m[1]), ...(m[3] ? { peer: Number(m[3]) } : {}) });
  }
  return out;
}

/** A container's eth0 as it sees it: its ifindex and its peer's (iflink). */
function inside(name: string): { index: number; iflink: number } {
  const r = env.docker([
    'exec',
    name,
    'cat',
    '/sys/class/net/eth0/ifindex',
    '/sys/class/net/eth0/iflink',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const [index, iflink] = r.stdout.trim().split('\n').map(Number);
  return { index: index!, iflink: iflink! };
}

const ok = (r: { status: number | null; stdout: string; stderr: string }): string => {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};
const graph = (...args: string[]) => ok(env.berth(['network', 'graph', ...args]));

/** The veths on berth0, with the container each one's peer is in. */
function pairs(): Array<{ veth: string; index: number; name: string; eth: number }> {
  const links = hostLinks();
  return ['test1', 'test2'].map((name) => {
    const c = inside(name);
    const [veth, l] = [...links].find(([, v]) => v.index === c.iflink)!;
    assert.equal(l.peer, c.index, `${veth}@if${l.peer} is ${name}'s eth0`);
    return { veth, index: l.index, name, eth: c.index };
  });
}

describe('berth network graph (issue 16)', () => {
  before(async () => {
    env = await labWithDaemons();
    tmp = mkdtempSync(join(tmpdir(), 'berth-graph-'));
    for (const n of ['test1', 'test2']) {
      ok(env.docker(['run', '-d', '--name', n, 'busybox', '/bin/sh', '-c', LOOP]));
    }
  });
  after(async () => {
    env?.inHost(['ip', 'link', 'del', 'vethdeadbee']);
    await env?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("S4 as text: berth0, both veth pairs with their names and ifindexes, the containers' addresses, NAT", () => {
    const text = graph();
    const links = hostLinks();
    const br = links.get('berth0')!;
    assert.match(
      text,
      new RegExp(`^bridge berth0 \\[${br.index}\\]  network bridge  172\\.17\\.0\\.1/16$`, 'm'),
    );
    const addrs = {
      test1: '172.17.0.2/16  02:42:ac:11:00:02',
      test2: '172.17.0.3/16  02:42:ac:11:00:03',
    };
    for (const p of pairs()) {
      const id = ok(env.docker(['inspect', '-f', '{{.Id}}', p.name]))
        .trim()
        .slice(0, 12);
      const head = `${p.veth} [${p.index}] <-> eth0 [${p.eth}] in ${p.name} (${id})`;
      assert.ok(text.includes(head), `${head} in:\n${text}`);
      const at = text.indexOf(head);
      assert.ok(
        text
          .slice(at)
          .split('\n')[1]!
          .includes(addrs[p.name as 'test1']),
        text,
      );
    }
    const uplink = env
      .inHost(['ip', '-o', 'route', 'show', 'default'])
      .stdout.match(/ dev (\S+)/)![1]!;
    assert.match(
      text,
      new RegExp(`^├── NAT masquerade 172\\.17\\.0\\.0/16 out of ${uplink}$`, 'm'),
    );
    assert.match(text, new RegExp(`^uplink ${uplink} \\[${links.get(uplink)!.index}\\]`, 'm'));
    assert.match(text, /No problems: the store and the kernel agree\./);
    for (const l of text.trimEnd().split('\n')) assert.ok([...l].length <= 80, l);
  });

  it(
    'S4 as dot and as SVG (Graphviz) with the containers in it',
    { skip: !which('dot') && 'Graphviz is not installed' },
    () => {
      const dot = graph('--format', 'dot', 'bridge');
      assert.match(dot, /^digraph berth \{/);
      for (const p of pairs()) {
        assert.ok(dot.includes(`"host/${p.veth}" [label="${p.veth} [${p.index}]"`), dot);
        assert.match(
          dot,
          new RegExp(
            `"host/${p.veth}" -> "container:[0-9a-f]{64}/eth0" \\[arrowhead=none, style=bold`,
          ),
        );
        assert.match(dot, new RegExp(`label="${p.name}\\\\n[0-9a-f]{12}"`));
      }
      assert.match(
        dot,
        /"host\/berth0" -> "host\/[^"]+" \[style=dashed, label="masquerade 172\.17\.0\.0\/16"\]/,
      );
      assert.doesNotMatch(dot, /#d00000/);
      const file = join(tmp, 's4.svg');
      graph('--format', 'svg', '-o', file, 'bridge');
      const svg = readFileSync(file, 'utf8');
      assert.match(svg, /^<\?xml|<svg /);
      for (const n of ['test1', 'test2', 'berth0'])
        assert.match(svg, new RegExp(`>[^<]*${n}[^<]*<`));
      // Through a pipe, too: what `dot` checks as its input (it fails on a syntax error).
      const check = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
    },
  );

  it('a user-defined network: its bridge, DNS on the gateway, a published port and its DNAT', () => {
    ok(env.docker(['network', 'create', 'web']));
    ok(
      env.docker([
        'run',
        '-d',
        '--name',
        'site',
        '--network',
        'web',
        '-p',
        '8080:80',
        'busybox',
        'httpd',
        '-f',
        '-p',
        '80',
      ]),
    );
    const id = ok(env.docker(['network', 'inspect', '-f', '{{.Id}}', 'web'])).trim();
    const br = `br-${id.slice(0, 12)}`;
    const text = graph('web');
    assert.match(
      text,
      new RegExp(
        `^bridge ${br} \\[${hostLinks().get(br)!.index}\\]  network web  172\\.18\\.0\\.1/16$`,
        'm',
      ),
    );
    assert.match(text, /^├── DNS 172\.18\.0\.1:53$/m);
    assert.match(text, /^ {6}port tcp 0\.0\.0\.0:8080 -> DNAT to 172\.18\.0\.2:80$/m);
    assert.doesNotMatch(text, /berth0|test1/, 'only the network asked for');
    // The DNAT element is real: the world reaches the container through it.
    const json = JSON.parse(graph('--format', 'json', 'web')) as JsonGraph;
    assert.deepEqual(json.problems, []);
    assert.deepEqual(
      json.networks.map((n) => n.name),
      ['web'],
    );
    const port = json.nodes.find((n) => n.kind === 'port');
    assert.deepEqual([port?.name, port?.state], ['tcp 0.0.0.0:8080', 'ok']);
    const nft = env.inHost(['nft', 'list', 'map', 'inet', 'berth', 'ports4']).stdout;
    assert.match(nft, /tcp \. 8080 : 172\.18\.0\.2 \. 80/);
  });

  it('a veth leaked onto berth0 is drawn in red and listed as a leak', () => {
    ok(
      env.inHost([
        'ip',
        'link',
        'add',
        'vethdeadbee',
        'type',
        'veth',
        'peer',
        'name',
        'vethdeadbef',
      ]),
    );
    ok(env.inHost(['ip', 'link', 'set', 'vethdeadbee', 'master', 'berth0', 'up']));
    const links = hostLinks();
    const [leak, peer] = [links.get('vethdeadbee')!.index, links.get('vethdeadbef')!.index];
    const text = graph();
    assert.ok(
      text.includes(
        `└── vethdeadbee [${leak}]  peer vethdeadbef [${peer}] in the same namespace  [LEAK]`,
      ),
      text,
    );
    assert.match(text, /^1 problem:$/m);
    assert.match(
      text,
      new RegExp(
        `^  LEAK {6}veth vethdeadbee \\[${leak}\\] on berth0 \\(network bridge\\) belongs to no`,
        'm',
      ),
    );
    const dot = graph('--format', 'dot');
    assert.match(
      dot,
      /"host\/vethdeadbee" \[label="vethdeadbee \[\d+\]\\npeer vethdeadbef \[\d+\] in the same namespace\\nLEAK", [^\n]*color="#d00000"/,
    );
    // The API answers the same to any client, e.g. curl on the socket.
    const sock = env.daemon.socket;
    const api = spawnSync('curl', ['-s', '--unix-socket', sock, 'http://berth/berth/graph'], {
      encoding: 'utf8',
    });
    const json = JSON.parse(api.stdout) as JsonGraph;
    assert.deepEqual(
      json.problems.map((p) => p.kind),
      ['leak'],
    );
    assert.equal(json.nodes.find((n) => n.name === 'vethdeadbee')?.state, 'leak');
    const svg = spawnSync(
      'curl',
      ['-s', '--unix-socket', sock, 'http://berth/v1.41/berth/graph?format=svg'],
      { encoding: 'utf8' },
    );
    assert.match(svg.stdout, /berth does not support graph format \\"svg\\" on the API/);
    ok(env.inHost(['ip', 'link', 'del', 'vethdeadbee']));
    assert.match(graph(), /No problems/);
  });

  it('refuses an unknown network and format', () => {
    const r = env.berth(['network', 'graph', 'nosuch']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /network nosuch not found/);
    const f = env.berth(['network', 'graph', '--format', 'gif']);
    assert.equal(f.status, 1);
    assert.match(f.stderr, /unknown format "gif": use one of text, dot, svg, png, json/);
  });
});
