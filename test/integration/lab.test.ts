// The lab itself: topology, isolation from the machine, daemons, and teardown
// (also after the lab's owner is SIGKILLed). Needs root; nothing here sends a
// packet outside namespaces the test created.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { isAlive, which } from '../../src/lab/proc.js';
import { mountsUnder } from '../../src/lab/teardown.js';

const isRoot = process.getuid?.() === 0;
const run = `lt${randomBytes(3).toString('hex')}`;
const created = new Set<string>();

const PING = which('ping') ? ['ping'] : ['busybox', 'ping'];

/** A stand-in for berthd: answers /_ping on the -H socket and on TCP 2375. */
const FAKE_DAEMON = `
const http = require('node:http');
const a = process.argv;
const sock = a[a.indexOf('-H') + 1].replace('unix://', '');
const h = (q, r) => r.end(q.url === '/_ping' ? 'OK' : 'nope');
http.createServer(h).listen(sock);
http.createServer(h).listen(2375, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
`;
const fakeCommand = [process.execPath, '-e', FAKE_DAEMON, '--'];

function linkNames(): string[] {
  const out = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

function nsIno(path: string): number {
  return statSync(path).ino;
}

function getPing(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/_ping' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertGone(lab: { name: string; dir: string }, namespaces: string[]): void {
  for (const ns of namespaces) assert.ok(!existsSync(`/run/netns/${ns}`), `${ns} still exists`);
  assert.ok(!existsSync(lab.dir), `${lab.dir} still exists`);
  assert.deepEqual(mountsUnder(lab.dir), []);
  assert.ok(!Lab.list().some((l) => l.name === lab.name), `${lab.name} still listed`);
}

/** Starts a runc container (busybox sleep) in a host, the way a daemon would. */
function startContainer(lab: Lab, host: Lab['hosts'][number], id: string): boolean {
  if (!which('runc')) return false;
  const bundle = join(host.dir, 'data', 'containers', id);
  mkdirSync(join(bundle, 'rootfs', 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(bundle, 'rootfs', 'bin', 'busybox'));
  spawnSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['/bin/busybox', 'sleep', '1000'];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const root = join(host.dir, 'run', 'runc');
  mkdirSync(root, { recursive: true });
  // stdio must not be a pipe: the detached container would hold it open.
  const r = spawnSync(
    'nsenter',
    [`--net=${host.netns}`, '--', 'runc', '--root', root, 'run', '-d', '--bundle', bundle, id],
    { stdio: 'ignore', timeout: 20_000 },
  );
  assert.equal(r.status, 0, `runc run ${id} failed`);
  return true;
}

describe('lab', { skip: !isRoot && 'needs root' }, () => {
  const linksBefore = isRoot ? linkNames() : [];
  let lab: Lab;
  let daemon: LabDaemon | undefined;

  before(async () => {
    lab = await Lab.create({ name: `${run}a`, hosts: 2 });
    created.add(lab.name);
  });

  after(async () => {
    const errors: string[] = [];
    for (const name of created) {
      await Lab.remove(name).catch((e: Error) => errors.push(e.message));
    }
    assert.deepEqual(errors, []);
  });

  it('creates the namespaces and records them', () => {
    assert.equal(lab.name, `${run}a`);
    assert.equal(lab.dir, `/var/lib/berth-lab/${run}a`);
    assert.deepEqual(
      lab.hosts.map((h) => [h.name, h.ip]),
      [
        [`${run}a-h1`, '198.51.100.11'],
        [`${run}a-h2`, '198.51.100.12'],
      ],
    );
    for (const ns of [lab.world.netns, ...lab.hosts.map((h) => h.netns)]) {
      assert.ok(existsSync(ns), ns);
    }
    const state = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8'));
    assert.equal(state.namespaces.length, 3);
    assert.equal(state.owner.pid, process.pid);
    const h1 = lab.exec(1, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    assert.match(h1.stdout, /inet 198\.51\.100\.11\/24/);
    assert.match(lab.exec('h1', ['ip', 'route']).stdout, /default via 198\.51\.100\.1 dev eth0/);
    const ports = lab.exec('world', ['ip', '-o', 'link', 'show', 'master', 'br0']).stdout;
    assert.equal(ports.trim().split('\n').length, 2);
  });

  it('lets hosts reach each other and the world', () => {
    const pairs: [string | number, string][] = [
      [1, '198.51.100.12'],
      [2, '198.51.100.11'],
      [1, '198.51.100.1'],
      [2, '203.0.113.1'],
      ['world', '198.51.100.11'],
    ];
    for (const [from, to] of pairs) {
      const r = lab.exec(from, [...PING, '-c1', '-W1', to], { timeoutMs: 5000 });
      assert.equal(r.status, 0, `${from} -> ${to}: ${r.stdout}${r.stderr}`);
    }
  });

  it('adds no interface to the machine namespace', () => {
    assert.deepEqual(linkNames(), linksBefore);
  });

  it('starts a daemon inside a host and stops it', async () => {
    const h1 = lab.hosts[0]!;
    daemon = await lab.startDaemon(h1, { command: fakeCommand });
    assert.equal(daemon.socket, join(h1.dir, 'berth.sock'));
    assert.equal(daemon.env.DOCKER_HOST, `unix://${h1.dir}/berth.sock`);
    assert.equal(await getPing(daemon.socket), 'OK');
    // It runs in the host's namespace, not the machine's.
    assert.equal(nsIno(`/proc/${daemon.pid}/ns/net`), nsIno(h1.netns));
    assert.notEqual(nsIno(`/proc/${daemon.pid}/ns/net`), nsIno('/proc/self/ns/net'));
    const cmdline = readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of ['--data-root', '--exec-root', '--dns', '--log-level']) {
      assert.ok(cmdline.includes(flag), flag);
    }
    assert.equal(cmdline[cmdline.indexOf('--dns') + 1], '198.51.100.1');
    const state = JSON.parse(readFileSync(join(lab.dir, 'lab.json'), 'utf8'));
    assert.deepEqual(
      state.daemons.map((d: { pid: number }) => d.pid),
      [daemon.pid],
    );
    // Another host reaches it over the lab network.
    const probe = `require('http').get('http://198.51.100.11:2375/_ping', (r) => r.pipe(process.stdout))
      .on('error', (e) => { console.error(e.message); process.exit(1); })`;
    const r = lab.exec(2, [process.execPath, '-e', probe], { timeoutMs: 10_000 });
    assert.equal(r.stdout, 'OK', r.stderr);

    await assert.rejects(lab.startDaemon(h1, { command: fakeCommand }), /already serves/);
    const pid = daemon.pid;
    await daemon.stop();
    assert.ok(!isAlive(pid));
    assert.equal(lab.daemons().length, 0);
  });

  it('fails a daemon that never answers, with its log', async () => {
    const cmd = [process.execPath, '-e', 'console.log("boom"); process.exit(3)', '--'];
    await assert.rejects(lab.startDaemon(2, { command: cmd }), /exited[\s\S]*boom/);
    const hang = [process.execPath, '-e', 'setInterval(() => {}, 1000)', '--'];
    await assert.rejects(lab.startDaemon(2, { command: hang, timeoutMs: 500 }), /did not answer/);
    assert.equal(lab.daemons().length, 0);
  });

  it('destroys everything: daemon, container, processes, mounts, namespaces', async () => {
    const [h1, h2] = [lab.hosts[0]!, lab.hosts[1]!];
    daemon = await lab.startDaemon(h1, { command: fakeCommand });
    const sleepers = [lab.spawn(2, ['sleep', '1000'], { stdio: 'ignore' })];
    sleepers.push(lab.spawn('world', ['sleep', '1000'], { stdio: 'ignore' }));
    // Stacked mounts, like a container rootfs bind mount over a tmpfs.
    const tmp = join(h2.dir, 'run', 'shm');
    mkdirSync(tmp, { recursive: true });
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'tmpfs', tmp]).status, 0);
    mkdirSync(join(tmp, 'rootfs'));
    mkdirSync(join(h1.dir, 'data', 'src'), { recursive: true });
    const bind = spawnSync('mount', ['--bind', join(h1.dir, 'data', 'src'), join(tmp, 'rootfs')]);
    assert.equal(bind.status, 0);
    assert.equal(mountsUnder(lab.dir).length, 2);
    const id = `${run}c1`;
    const container = startContainer(lab, h1, id);
    let containerPid = 0;
    if (container) {
      const st = spawnSync('runc', ['--root', join(h1.dir, 'run', 'runc'), 'state', id], {
        encoding: 'utf8',
      });
      containerPid = JSON.parse(st.stdout).pid;
      assert.ok(isAlive(containerPid));
    }

    const namespaces = [lab.world.name, ...lab.hosts.map((h) => h.name)];
    await lab.destroy();
    assert.ok(!isAlive(daemon.pid, daemon.start), 'daemon survived');
    for (const s of sleepers) assert.ok(s.pid && !isAlive(s.pid), 'sleeper survived');
    if (container) assert.ok(!isAlive(containerPid), 'container survived');
    assertGone(lab, namespaces);
    assert.deepEqual(linkNames(), linksBefore);
    // Idempotent.
    await lab.destroy();
  });

  it('cleanAll removes a lab whose owner was SIGKILLed, and keeps live ones', async () => {
    const name = `${run}c`;
    created.add(name);
    const labUrl = new URL('../../src/lab/lab.js', import.meta.url).href;
    const script = `
      import { Lab } from ${JSON.stringify(labUrl)};
      const lab = await Lab.create({ name: ${JSON.stringify(name)}, hosts: 1 });
      const d = await lab.startDaemon(1, { command: ${JSON.stringify(fakeCommand)} });
      const s = lab.spawn('world', ['sleep', '1000'], { stdio: 'ignore' });
      console.log(JSON.stringify({ daemon: d.pid, sleeper: s.pid }));
      // Dies with the test process (stdin closes), leaving an orphan lab behind.
      process.stdin.on('close', () => process.exit(0)).resume();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
      });
      child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const pids = JSON.parse(line) as { daemon: number; sleeper: number };
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    assert.ok(isAlive(pids.daemon), 'daemon should outlive its lab owner');
    assert.ok(Lab.list().find((l) => l.name === name)?.orphan);

    const keep = await Lab.create({ name: `${run}k` });
    created.add(keep.name);
    // Only this run's: another file's labs may be orphans for a moment too.
    const removed = await Lab.cleanAll({ prefix: run });
    assert.ok(removed.includes(name), `removed: ${removed.join(' ')}`);
    assert.ok(!removed.includes(keep.name));
    assert.ok(existsSync(keep.world.netns));
    assert.ok(!isAlive(pids.daemon), 'daemon survived cleanAll');
    assert.ok(!isAlive(pids.sleeper), 'sleeper survived cleanAll');
    assertGone({ name, dir: `/var/lib/berth-lab/${name}` }, [`${name}-w`, `${name}-h1`]);
    await keep.destroy();
    assertGone(keep, [keep.world.name, keep.hosts[0]!.name]);
    assert.deepEqual(linkNames(), linksBefore);
  });
});
