/**
 * The everyday commands through the stock docker client (issue 14, item 5):
 * `top` (the container's own processes, by its cgroup), `stats` (figures
 * from its cgroups and interfaces that match what it does), and the
 * refusals dockerd gives for them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;

function id(name: string): string {
  const r = env.docker(['inspect', '-f', '{{.Id}}', name]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** The first `n` lines of a streaming GET on the daemon's socket. */
function streamLines(path: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: env.daemon.env.DOCKER_HOST.replace('unix://', ''), path: `/v1.41${path}` },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          const lines = buf.split('\n').filter(Boolean);
          if (buf.endsWith('\n') && lines.length >= n) {
            req.destroy();
            resolve(lines.slice(0, n));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('everyday commands: top, stats, diff, export', () => {
  before(async () => {
    env = await labWithDaemons();
    // A busy loop and a sleeping child: two processes, one using a CPU.
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'busy',
      'busybox',
      'sh',
      '-c',
      'sleep 1000 & while true; do :; done',
    ]);
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => {
    await env?.destroy();
  });

  it('top lists exactly the processes in the container cgroup, with ps arguments', () => {
    const cid = id('busy');
    const procs = readFileSync(`/sys/fs/cgroup/pids/berth/${cid}/cgroup.procs`, 'utf8')
      .split('\n')
      .filter(Boolean)
      .sort();
    assert.equal(procs.length, 2);
    const r = env.docker(['top', 'busy']);
    assert.equal(r.status, 0, r.stderr);
    const [head, ...rows] = r.stdout.trim().split('\n');
    assert.match(head!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    const pids = rows.map((l) => l.trim().split(/\s+/)[1]!).sort();
    assert.deepEqual(pids, procs);
    assert.ok(
      rows.some((l) => l.endsWith('sleep 1000')),
      r.stdout,
    );

    const api = env.docker(['top', 'busy', '-o', 'pid,args']);
    assert.equal(api.status, 0, api.stderr);
    assert.match(api.stdout, /^PID\s+COMMAND\n/);
    assert.match(api.stdout, /\bsh -c sleep 1000 & while true; do :; done\n/);

    const bad = env.docker(['top', 'busy', '-o', 'pid,comm=PID']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /specifying "pid,comm=PID" is not allowed/);
    assert.equal(env.docker(['create', '--name', 'idle', 'busybox']).status, 0);
    const stopped = env.docker(['top', 'idle']);
    assert.match(stopped.stderr, new RegExp(`Container ${id('idle')} is not running`));
    // berth's own CLI prints the same table.
    const b = env.berth(['top', 'busy']);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(b.stdout.split('\n')[0], r.stdout.split('\n')[0]);
  });

  it('stats --no-stream shows what the container does: CPU, memory, network, pids', () => {
    // Traffic on its interface: three pings to the bridge's gateway.
    const ping = env.docker(['exec', 'busy', 'sh', '-c', 'ping -c 3 -W 1 172.17.0.1']);
    assert.equal(ping.status, 0, ping.stderr);
    const r = env.docker([
      'stats',
      '--no-stream',
      '--format',
      '{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}',
      'busy',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const [name, cpu, mem, , net, block, pids] = r.stdout.trim().split('|');
    assert.equal(name, 'busy');
    // A busy loop: a good part of a CPU (the machine is shared, so not 100%).
    assert.ok(parseFloat(cpu!) > 10, `CPU ${cpu}`);
    const [used, limit] = mem!.split(' / ');
    assert.match(used!, /^[\d.]+(KiB|MiB)$/);
    // No memory limit: the host's memory, as dockerd shows it.
    const gib = (totalmem() / 2 ** 30).toFixed(2);
    assert.equal(limit, `${gib}GiB`);
    const [rx, tx] = net!.split(' / ');
    assert.notEqual(rx, '0B');
    assert.ok(parseFloat(tx!) >= 3 * 84, `tx ${tx}: three ICMP echo requests at least`);
    assert.match(block!, /^[\d.]+k?B \/ [\d.]+[kMG]?B$/);
    assert.equal(pids, '2');
    const b = env.berth(['stats', '--no-stream', 'busy']);
    assert.equal(b.status, 0, b.stderr);
    assert.match(
      b.stdout,
      /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS\n[0-9a-f]{12}\s+busy\s+[\d.]+%/,
    );
  });

  it('stats streams one sample a second, each with the previous as precpu', async () => {
    const lines = await streamLines('/containers/busy/stats', 2);
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);
    assert.equal(a!.preread, '0001-01-01T00:00:00Z');
    assert.deepEqual(b!.precpu_stats, a!.cpu_stats);
    assert.equal(b!.preread, a!.read);
    const gap = Date.parse(b!.read as unknown as string) - Date.parse(a!.read as unknown as string);
    assert.ok(gap >= 900 && gap < 2000, `gap ${gap} ms`);
    const one = await apiCall(
      env.daemon.env.DOCKER_HOST,
      'GET',
      '/containers/busy/stats?stream=false&one-shot=true',
    );
    assert.equal(one.status, 200);
    assert.equal((one.json.pids_stats as { current: number }).current, 2);
    const both = await apiCall(
      env.daemon.env.DOCKER_HOST,
      'GET',
      '/containers/busy/stats?stream=true&one-shot=true',
    );
    assert.equal(both.status, 400);
    assert.equal(both.json.message, 'cannot have stream=true and one-shot=true');
    // A path Berth does not serve: dockerd's 404 words, and which endpoint it was.
    const none = await apiCall(env.daemon.env.DOCKER_HOST, 'GET', '/no/such/endpoint');
    assert.equal(none.status, 404);
    assert.equal(none.json.message, 'page not found: berth does not serve GET /no/such/endpoint');
    // A stopped container: its name and ID, zeros.
    const idle = await apiCall(
      env.daemon.env.DOCKER_HOST,
      'GET',
      '/containers/idle/stats?stream=0',
    );
    assert.equal(idle.status, 200);
    assert.equal(idle.json.name, '/idle');
    assert.equal(idle.json.read, '0001-01-01T00:00:00Z');
  });

  it('diff lists what the container changed, and export is its whole filesystem', () => {
    assert.equal(env.docker(['run', '-d', '--name', 'fsc', 'busybox', 'sleep', '1000']).status, 0);
    // A fresh container changed nothing: runc's mount points are not changes.
    assert.equal(env.docker(['diff', 'fsc']).stdout, '');
    const ch = env.docker([
      'exec',
      'fsc',
      'sh',
      '-c',
      'echo x > /tmp/new && rm /bin/ls && echo app:x:4321:4321::/:/bin/sh >> /etc/passwd && mkdir -p /usr/local/z',
    ]);
    assert.equal(ch.status, 0, ch.stderr);
    // exec finds the user the running container added, in its own files
    // (read through descriptors from /proc/PID/root, decision 0049).
    const app = env.docker(['exec', '-u', 'app', 'fsc', 'id', '-u']);
    assert.equal(app.stdout, '4321\n', app.stderr);
    const want = [
      'C /bin',
      'D /bin/ls',
      'C /etc',
      'C /etc/passwd',
      'C /tmp',
      'A /tmp/new',
      'C /usr',
      'A /usr/local',
      'A /usr/local/z',
      '',
    ].join('\n');
    assert.equal(env.docker(['diff', 'fsc']).stdout, want);
    assert.equal(env.berth(['diff', 'fsc']).stdout, want);
    const tarList = (extra: string[]) =>
      spawnSync('sh', ['-c', 'docker export fsc | tar -t ' + extra.join(' ')], {
        encoding: 'utf8',
        env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
      }).stdout;
    // Running: frozen while its files are read, thawed before the archive's
    // end reaches the CLI, so by the time `docker export` returns.
    const cid = env.docker(['inspect', '-f', '{{.Id}}', 'fsc']).stdout.trim();
    const tarFile = join(env.lab.dir, 'fsc.tar');
    assert.equal(env.docker(['export', '-o', tarFile, 'fsc']).status, 0);
    const freezer = readFileSync(`/sys/fs/cgroup/freezer/berth/${cid}/freezer.state`, 'utf8');
    assert.equal(freezer.trim(), 'THAWED');
    const names = tarList([]).split('\n');
    assert.ok(names.includes('tmp/new'));
    assert.ok(names.includes('bin/busybox'));
    assert.ok(!names.includes('bin/ls'), 'a deleted file is not exported');
    assert.equal(
      spawnSync('sh', ['-c', 'docker export fsc | tar -x -O tmp/new'], {
        encoding: 'utf8',
        env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
      }).stdout,
      'x\n',
    );
    // Stopped: the same, from its overlay mounted for the export.
    assert.equal(env.docker(['stop', '-t', '0', 'fsc']).status, 0);
    assert.deepEqual(tarList([]).split('\n'), names);
    assert.equal(env.docker(['diff', 'fsc']).stdout, want);
  });
});
