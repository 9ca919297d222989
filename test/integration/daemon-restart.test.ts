/**
 * berthd dies (SIGKILL) or stops (SIGTERM) while containers run; started again,
 * it finds them, their output and their exit codes; rm -f then leaves nothing
 * behind in the lab host. Also: one daemon per data-root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;

const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(dir + '/'));

describe('daemon restart', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('a second berthd on the same data-root refuses to start', async () => {
    await assert.rejects(
      env.lab.startDaemon(env.lab.hosts[0]!, {
        socket: `${env.lab.dir}/second.sock`,
        timeoutMs: 5000,
      }),
      /already running with data-root/,
    );
  });

  it('finds running containers, output and exit codes after SIGKILL', async () => {
    const d = env.docker;
    assert.equal(
      d([
        'run',
        '-d',
        '--name',
        'keeper',
        'busybox',
        'sh',
        '-c',
        'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done',
      ]).status,
      0,
    );
    assert.equal(
      d(['run', '-d', '--name', 'quitter', 'busybox', 'sh', '-c', 'sleep 1; echo bye; exit 5'])
        .status,
      0,
    );
    const pid = d(['inspect', '-f', '{{.State.Pid}}', 'keeper']).stdout.trim();

    await env.daemon.stop('SIGKILL');
    // While the daemon is away: quitter exits, keeper keeps logging.
    await new Promise((r) => setTimeout(r, 1500));
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;

    const ps = d(['ps', '--format', '{{.Names}} {{.State}}']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /^keeper running$/m);
    assert.equal(
      d(['inspect', '-f', '{{.State.Pid}}', 'keeper']).stdout.trim(),
      pid,
      'the same process',
    );
    const q = d(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'quitter']);
    assert.equal(q.stdout.trim(), 'exited 5');
    assert.equal(d(['logs', 'quitter']).stdout, 'bye\n');
    const ticks = d(['logs', 'keeper']).stdout.trim().split('\n');
    assert.ok(
      ticks.length >= 8,
      `logging went on while the daemon was away: ${ticks.length} lines`,
    );
    assert.deepEqual(ticks.slice(0, 3), ['tick 0', 'tick 1', 'tick 2']);
    // Exec still works on the recovered container, and its exit is seen by the new daemon.
    assert.equal(d(['exec', 'keeper', 'true']).status, 0);
    assert.equal(d(['kill', 'keeper']).status, 0);
    assert.equal(
      d(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'keeper']).stdout.trim(),
      'exited 137',
    );
  });

  it('SIGTERM stops the daemon cleanly and containers keep running', async () => {
    const d = env.docker;
    assert.equal(d(['run', '-d', '--name', 'survivor', 'busybox', 'sleep', '3600']).status, 0);
    for (const n of ['rs1', 'rs2']) assert.equal(d(['network', 'create', n]).status, 0);
    assert.equal(d(['network', 'connect', 'rs1', 'survivor']).status, 0);
    const pid = Number(d(['inspect', '-f', '{{.State.Pid}}', 'survivor']).stdout.trim());
    await env.daemon.stop('SIGTERM');
    assert.ok(
      spawnSync('kill', ['-0', String(pid)]).status === 0,
      'container process survives the daemon',
    );
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;
    assert.match(d(['ps', '--format', '{{.Names}}']).stdout, /^survivor$/m);
    // Interface names go on past the highest in use (eth1), as Docker's
    // restored sandboxes do, and a network connected again gets a new one.
    const links = () => d(['exec', 'survivor', 'ip', '-o', 'link']).stdout;
    assert.equal(d(['network', 'connect', 'rs2', 'survivor']).status, 0);
    assert.match(links(), /eth2@/);
    assert.equal(d(['network', 'disconnect', 'rs1', 'survivor']).status, 0);
    assert.equal(d(['network', 'connect', 'rs1', 'survivor']).status, 0);
    assert.match(links(), /eth3@/);
  });

  it('a container whose record says it does not run is stopped at start (killed before the save)', async () => {
    const d = env.docker;
    assert.equal(d(['run', '-d', '--name', 'half', 'busybox', 'sleep', '3600']).status, 0);
    const id = d(['inspect', '-f', '{{.Id}}', 'half']).stdout.trim();
    const pid = Number(d(['inspect', '-f', '{{.State.Pid}}', 'half']).stdout.trim());
    await env.daemon.stop('SIGKILL');
    // What a daemon killed between runc's start and saving 'running' leaves.
    const db = new Database(`${env.daemon.dataRoot}/berth.db`);
    try {
      const key = `containers/by-id/${id}`;
      const row = db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: string };
      const c = JSON.parse(row.value) as { State: Record<string, unknown> };
      c.State = { ...c.State, Status: 'created', Pid: 0, ShimPid: undefined };
      db.prepare('UPDATE kv SET value = ? WHERE key = ?').run(JSON.stringify(c), key);
    } finally {
      db.close();
    }
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;
    const runc = spawnSync('runc', ['--root', `${env.daemon.execRoot}/runc`, 'list', '-q'], {
      encoding: 'utf8',
    });
    assert.doesNotMatch(runc.stdout, new RegExp(id), 'the runtime container is gone');
    assert.notEqual(spawnSync('kill', ['-0', String(pid)]).status, 0, 'its process is gone');
    assert.ok(!existsSync(`${env.daemon.execRoot}/netns/${id.slice(0, 16)}`), 'its namespace');
    assert.deepEqual(
      mountsUnder(env.lab.dir).filter((m) => m.includes(id.slice(0, 16))),
      [],
    );
    const start = d(['start', 'half']);
    assert.equal(start.status, 0, start.stderr);
    assert.equal(d(['rm', '-f', 'half']).status, 0);
  });

  it('rm -f after restart leaves no mounts, namespaces or processes', () => {
    const d = env.docker;
    const rm = d(['rm', '-f', 'keeper', 'quitter', 'survivor']);
    assert.equal(rm.status, 0, rm.stderr);
    assert.equal(d(['network', 'rm', 'rs1', 'rs2']).status, 0);
    assert.equal(d(['ps', '-aq']).stdout.trim(), '');
    assert.deepEqual(mountsUnder(env.lab.dir), []);
    const runc = spawnSync('runc', ['--root', `${env.daemon.execRoot}/runc`, 'list', '-q'], {
      encoding: 'utf8',
    });
    assert.equal(runc.stdout.trim(), '');
    // Only the daemon itself runs in the lab host namespace.
    const pids = spawnSync('ip', ['netns', 'pids', env.lab.hosts[0]!.name], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n');
    assert.deepEqual(pids, [String(env.daemon.pid)]);
  });
});
