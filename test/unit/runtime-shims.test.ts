/**
 * liveShims: what recovery kills after a daemon died mid-start. Runs the real
 * shim (no root needed) with --wait-attach and a runtime that is never
 * reached while it waits.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveShims, SHIM_PATH } from '../../src/kernel/runtime/runtime.js';

const root = mkdtempSync(join(tmpdir(), 'berth-shims-'));
const started: number[] = [];

after(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

/** Starts a shim in `root/name` and resolves once it wrote its pid file. */
async function shim(name: string, runtime: string[], waitAttach: boolean): Promise<number> {
  const dir = join(root, name);
  mkdirSync(dir);
  const args = ['--state-dir', dir, ...(waitAttach ? ['--wait-attach'] : []), '--', ...runtime];
  const child = spawn(SHIM_PATH, args, { detached: true, stdio: 'ignore' });
  child.unref();
  started.push(child.pid!);
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
    assert.deepEqual(byPid.get(waiting), { dir: join(root, 'a'), pid: waiting, waiting: true });
    assert.deepEqual(byPid.get(running), { dir: join(root, 'b'), pid: running, waiting: false });
    assert.equal(found.length, 2);
  });

  it('takes no other process for a shim: a reused PID, a pid file of another directory', () => {
    mkdirSync(join(root, 'reused'));
    writeFileSync(join(root, 'reused', 'shim.pid'), `${process.pid}\n`);
    mkdirSync(join(root, 'moved'));
    writeFileSync(join(root, 'moved', 'shim.pid'), `${started[0]}\n`);
    mkdirSync(join(root, 'garbage'));
    writeFileSync(join(root, 'garbage', 'shim.pid'), 'x\n');
    const dirs = liveShims(root).map((s) => s.dir);
    assert.deepEqual(dirs.sort(), [join(root, 'a'), join(root, 'b')]);
  });

  it('drops a shim once it is gone, and answers nothing for a missing root', async () => {
    process.kill(started[0]!, 'SIGKILL');
    for (let i = 0; i < 100 && liveShims(root).some((s) => s.pid === started[0]); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(
      liveShims(root).map((s) => s.dir),
      [join(root, 'b')],
    );
    assert.deepEqual(liveShims(join(root, 'none')), []);
  });
});
