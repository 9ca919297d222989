/**
 * liveShims: what recovery kills after a daemon died mid-start. Runs the real
 * shim (no root needed) with --wait-attach and a runtime that is never
 * reached while it waits.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveShims, processStartTime, SHIM_PATH } from '../../src/kernel/runtime/runtime.js';

const root = mkdtempSync(join(tmpdir(), 'berth-shims-'));
const started: ChildProcess[] = [];

after(async () => {
  // Each shim leads its own process group (detached), with its runtime child
  // in it: the group goes, and only while the shim has not been reaped (its
  // PID, and so the group's ID, cannot have been taken by another process).
  // Each is waited for, so this process reaps it.
  const ended: Promise<unknown>[] = [];
  for (const child of started) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    ended.push(new Promise((r) => child.once('exit', r)));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // Removed before the wait: the shims are unreferenced, so this process may
  // end before their exits are seen (the directory was left behind then).
  rmSync(root, { recursive: true, force: true });
  await Promise.all(ended);
});

/** Starts a shim in `root/name` and resolves once it wrote its pid file. */
async function shim(name: string, runtime: string[], waitAttach: boolean): Promise<number> {
  const dir = join(root, name);
  mkdirSync(dir);
  const args = ['--state-dir', dir, ...(waitAttach ? ['--wait-attach'] : []), '--', ...runtime];
  const child = spawn(SHIM_PATH, args, { detached: true, stdio: 'ignore' });
  child.unref();
  started.push(child);
  for (let i = 0; i < 200 && !existsSync(join(dir, 'shim.pid')); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return child.pid!;
}

describe('liveShims', () => {
  it('finds a shim still waiting for its client, and one that started its runtime', async () => {
    const waiting = await shim('a', ['/bin/sleep', '30'], true);
    const running = await shim('b', ['/bin/sleep', '30'], false);
    // Its child (the runtime) is forked right after the pid file is written.
    let found = liveShims(root);
    for (let i = 0; i < 100 && found.find((s) => s.pid === running)?.waiting !== false; i++) {
      await new Promise((r) => setTimeout(r, 10));
      found = liveShims(root);
    }
    const byPid = new Map(found.map((s) => [s.pid, s]));
    assert.deepEqual(byPid.get(waiting), {
      dir: join(root, 'a'),
      pid: waiting,
      startTime: processStartTime(waiting),
      waiting: true,
    });
    assert.deepEqual(byPid.get(running), {
      dir: join(root, 'b'),
      pid: running,
      startTime: processStartTime(running),
      waiting: false,
    });
    assert.equal(found.length, 2);
  });

  it('takes no other process for a shim: a reused PID, a pid file of another directory', () => {
    mkdirSync(join(root, 'reused'));
    writeFileSync(join(root, 'reused', 'shim.pid'), `${process.pid}\n`);
    mkdirSync(join(root, 'moved'));
    writeFileSync(join(root, 'moved', 'shim.pid'), `${started[0]!.pid}\n`);
    mkdirSync(join(root, 'garbage'));
    writeFileSync(join(root, 'garbage', 'shim.pid'), 'x\n');
    const dirs = liveShims(root).map((s) => s.dir);
    assert.deepEqual(dirs.sort(), [join(root, 'a'), join(root, 'b')]);
  });

  it('drops a shim once it is gone, and answers nothing for a missing root', async () => {
    const first = started[0]!;
    first.kill('SIGKILL');
    for (let i = 0; i < 100 && liveShims(root).some((s) => s.pid === first.pid); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(
      liveShims(root).map((s) => s.dir),
      [join(root, 'b')],
    );
    assert.deepEqual(liveShims(join(root, 'none')), []);
  });
});
