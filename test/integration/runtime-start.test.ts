/**
 * Runtime.createContainer and Runtime.start (decision 0041): `runc create`
 * under the real shim leaves the container's process waiting, and start
 * lets it run by reading runc's exec FIFO, as `runc start` does. A process
 * that died meanwhile is an error, not a wait without end. Real runc, in
 * namespaces of its own (the bundle asks for a new network namespace).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime, which } from '../../src/kernel/runtime/runtime.js';

const runc = which('runc');
const skip = process.getuid?.() !== 0 ? 'needs root' : !runc ? 'needs runc' : false;
const dir = mkdtempSync(join(tmpdir(), 'berth-rtstart-'));
const prefix = `berth-rtstart-${process.pid}`;
const made: string[] = [];
const runtime = new Runtime(runc ?? 'runc', join(dir, 'root'));

after(async () => {
  for (const id of made) await runtime.delete(id).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** A busybox bundle running `sleep 1000`, in a cgroup of its own named by its ID. */
function bundle(id: string): { bundle: string; stateDir: string } {
  const b = join(dir, id, 'bundle');
  mkdirSync(join(b, 'rootfs', 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(b, 'rootfs', 'bin', 'busybox'));
  spawnSync(runc!, ['spec'], { cwd: b });
  const spec = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = ['/bin/busybox', 'sleep', '1000'];
  // One level: runc's delete removes it (a parent it made would be left).
  spec.linux.cgroupsPath = `/${id}`;
  writeFileSync(join(b, 'config.json'), JSON.stringify(spec));
  const stateDir = join(dir, id, 'state');
  mkdirSync(stateDir, { recursive: true });
  return { bundle: b, stateDir };
}

async function create(name: string): Promise<{ id: string; pid: number }> {
  const id = `${prefix}-${name}`;
  const { bundle: b, stateDir } = bundle(id);
  made.push(id);
  return { id, pid: await runtime.createContainer(id, b, stateDir, {}) };
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
const runcStatus = (id: string) =>
  JSON.parse(
    spawnSync(runc!, ['--root', runtime.root, 'state', id], { encoding: 'utf8' }).stdout || '{}',
  ).status as string | undefined;

describe('runtime create and start', { skip }, () => {
  it('creates a container whose process waits, and lets it run on start', async () => {
    const { id, pid } = await create('a');
    assert.equal(runcStatus(id), 'created');
    // Still runc's init, waiting on the exec FIFO.
    await new Promise((r) => setTimeout(r, 200));
    assert.match(cmdline(pid), /runc/);
    const fifo = join(runtime.root, id, 'exec.fifo');
    assert.ok(existsSync(fifo));

    await runtime.start(id, pid);
    assert.ok(!existsSync(fifo), 'the FIFO is removed, as runc start removes it');
    for (let i = 0; i < 100 && cmdline(pid) !== '/bin/busybox'; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(cmdline(pid), '/bin/busybox');
    assert.equal(runcStatus(id), 'running');
    await assert.rejects(runtime.start(id, pid), /exec fifo/);
  });

  it('refuses to start a container whose process died, at once', async () => {
    const { id, pid } = await create('b');
    process.kill(pid, 'SIGKILL');
    const t0 = Date.now();
    await assert.rejects(runtime.start(id, pid), /container process is already dead/);
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });
});

/**
 * The FIFO's other end, without runc: a writer that opens the FIFO and
 * leaves without writing (a container process killed as it was let run)
 * is a dead process, unless it is still there: then someone else read the
 * FIFO first. Whichever order the kernel reports the end and the exit in.
 */
describe('runtime start against a silent writer', () => {
  const fake = new Runtime('/usr/sbin/runc', join(dir, 'fake-root'));

  /** A process that opens `<root>/<id>/exec.fifo` to write, closes it unwritten, then runs `then`. */
  function silentWriter(id: string, then: string): number {
    const d = join(fake.root, id);
    mkdirSync(d, { recursive: true });
    spawnSync('mkfifo', [join(d, 'exec.fifo')]);
    const child = spawn(
      '/bin/sh',
      ['-c', `exec 3>"$0"; exec 3>&-; ${then}`, join(d, 'exec.fifo')],
      {
        stdio: 'ignore',
      },
    );
    after(() => child.kill('SIGKILL'));
    return child.pid!;
  }

  it('calls a writer that exits without writing dead', async () => {
    const pid = silentWriter('gone', 'exit 0');
    await assert.rejects(fake.start('gone', pid), /container process is already dead/);
  });

  it('calls a writer that stays without writing already started', async () => {
    const pid = silentWriter('stays', 'sleep 30');
    await assert.rejects(fake.start('stays', pid), /cannot start an already running container/);
  });
});
