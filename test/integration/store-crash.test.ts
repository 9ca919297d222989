/**
 * The embedded store survives SIGKILL of its process (ARCHITECTURE rule 8):
 * a child writes a compare-and-swap chain in a loop and prints each committed
 * revision; we kill it mid-write, reopen the file and check that every
 * acknowledged write is there, revisions are monotonic and SQLite's integrity
 * check passes. Several rounds, each resuming the chain the last one left.
 *
 * This file is also the child: run with BERTH_CRASH_CHILD=<db path> it writes
 * forever instead of defining tests.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/embedded/sqlite.js';
import type { KvStore } from '../../src/store/types.js';

const CHAIN = 'crash/last';
const item = (i: number): string => `crash/item/${String(i).padStart(8, '0')}`;

/** The child: extends the chain forever, one transaction per step, printing "<i> <rev>" after each commit. */
async function runChild(path: string): Promise<void> {
  const s = SqliteStore.open(path);
  for (;;) {
    const last = await s.get(CHAIN);
    const i = last ? Number(last.value) + 1 : 0;
    const res = await s.txn(
      [{ key: CHAIN, modRevision: last?.modRevision ?? 0 }],
      [
        { type: 'put', key: CHAIN, value: String(i) },
        { type: 'put', key: item(i), value: JSON.stringify({ i, pad: 'é'.repeat(i % 300) }) },
        // Deletes and prefix deletes too, so recovery replays every kind of change.
        ...(i % 7 === 0
          ? [{ type: 'deletePrefix' as const, prefix: `crash/scratch/${i - 7}/` }]
          : []),
        { type: 'put', key: `crash/scratch/${i - (i % 7)}/${i}`, value: 'x' },
      ],
    );
    if (!res.succeeded) throw new Error(`chain broken at ${i}`);
    // Pipes are synchronous on Linux: once this returns, the parent can read the line.
    process.stdout.write(`${i} ${res.revision}\n`);
  }
}

/** How long a round waits for its target before it kills the child at what it has. */
const PATIENCE_MS = 10_000;

interface Ack {
  i: number;
  rev: number;
}

/**
 * Starts a child on `path`, SIGKILLs it (by PID) once it has acknowledged
 * `target` writes, or after PATIENCE_MS with fewer (a disk that stalls its
 * fsyncs: the kill point is arbitrary either way); an error only when it
 * acknowledged none in 30 s.
 */
function crashRound(path: string, target: number): Promise<{ acks: Ack[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, BERTH_CRASH_CHILD: path },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: Ack[] = [];
    const t0 = Date.now();
    let buf = '';
    let stderr = '';
    let killed = false;
    const kill = () => {
      if (killed || child.pid === undefined) return;
      killed = true;
      // The child keeps committing until the signal lands; every line it printed before
      // dying is an acknowledged write, so the kill falls at an arbitrary point.
      process.kill(child.pid, 'SIGKILL');
    };
    const patience = setTimeout(() => acks.length > 0 && kill(), PATIENCE_MS);
    const timer = setTimeout(() => {
      if (killed) return; // its end is on its way
      kill();
      reject(new Error(`child made no progress in 30 s: ${stderr}`));
    }, 30_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const [i, rev] = line.split(' ').map(Number);
        if (i === undefined || rev === undefined || Number.isNaN(i + rev)) continue;
        acks.push({ i, rev });
      }
      if (acks.length >= target || (acks.length > 0 && Date.now() - t0 > PATIENCE_MS)) kill();
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      clearTimeout(patience);
      if (!killed) reject(new Error(`child exited on its own: ${stderr}`));
      else resolve({ acks, signal });
    });
  });
}

async function checkStore(s: KvStore, acks: Ack[]): Promise<number> {
  const last = acks[acks.length - 1];
  assert.ok(last, 'no acknowledged writes');
  const head = await s.get(CHAIN);
  assert.ok(head, 'chain head missing');
  const headI = Number(head.value);
  // The child may have committed one step it did not get to print.
  assert.ok(headI === last.i || headI === last.i + 1, `head ${headI}, last ack ${last.i}`);
  assert.ok((await s.revision()) >= last.rev);
  for (const a of acks) {
    const e = await s.get(item(a.i));
    assert.ok(e, `acknowledged write ${a.i} (rev ${a.rev}) lost`);
    assert.equal(e.modRevision, a.rev);
    assert.equal(e.createRevision, a.rev);
    assert.equal(e.version, 1);
    assert.equal((JSON.parse(e.value) as { i: number }).i, a.i);
  }
  const items = await s.list('crash/item/');
  assert.equal(items.length, headI + 1, 'items form one gap-free chain');
  for (let k = 1; k < items.length; k++) {
    const prev = items[k - 1];
    const cur = items[k];
    assert.ok(prev && cur && cur.modRevision > prev.modRevision, 'revisions are monotonic');
  }
  return headI;
}

function integrityCheck(path: string): void {
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
}

const childPath = process.env.BERTH_CRASH_CHILD;
if (childPath) {
  await runChild(childPath);
} else {
  describe('embedded store crash safety', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-store-crash-'));
    const path = join(dir, 'berth.db');
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('keeps every acknowledged write across repeated SIGKILLs', async () => {
      let allAcks: Ack[] = [];
      let headI = -1;
      for (const target of [300, 1200, 50, 2500]) {
        const { acks, signal } = await crashRound(path, target);
        assert.equal(signal, 'SIGKILL');
        assert.ok(acks.length > 0);
        assert.equal(acks[0]?.i, headI + 1, 'each round resumes where the last stopped');
        allAcks = allAcks.concat(acks);
        integrityCheck(path);
        const s = SqliteStore.open(path);
        try {
          headI = await checkStore(s, allAcks);
          const rev = await s.revision();
          assert.ok(
            (await s.put('crash/probe', String(rev))) > rev,
            'revisions continue after recovery',
          );
          await s.delete('crash/probe');
        } finally {
          await s.close();
        }
        integrityCheck(path);
      }
    });
  });
}
