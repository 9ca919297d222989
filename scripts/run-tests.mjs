#!/usr/bin/env node
// Runs the compiled tests with node's own runner, one file at a time (the
// integration tests build labs of namespaces and must not race for the CPU).
//
// Each file runs in its own process group under a wall-clock limit: a test
// that blocks in a synchronous call (spawnSync, a tmux that never answers)
// cannot be cancelled by node's --test-timeout, and one such hang must not
// eat the whole CI budget. A file that runs past its limit is reported with
// the processes it left running, killed by process group, its orphaned labs
// removed, and the run goes on to the next file and fails at the end.
//
// Usage: node scripts/run-tests.mjs [unit|integration|compat|e2e ...] [--only substring]
// BERTH_TEST_FILE_TIMEOUT_S (default 900) and BERTH_TEST_TIMEOUT_S (per test,
// default 480) change the limits.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args.splice(onlyIdx, 2)[1] : undefined;
const suites = args.length ? args : ['unit', 'integration', 'compat', 'e2e'];
const fileLimitS = Number(process.env.BERTH_TEST_FILE_TIMEOUT_S ?? 900);
const testLimitS = Number(process.env.BERTH_TEST_TIMEOUT_S ?? 480);

function walk(dir) {
  let out = [];
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (n.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** The processes of group `pgid`, as `ps` shows them, for the hang report. */
function groupProcesses(pgid) {
  const r = spawnSync('ps', ['-eo', 'pid,pgid,etimes,args'], { encoding: 'utf8' });
  const lines = (r.stdout ?? '').split('\n');
  return lines.filter((l, i) => i === 0 || l.trim().split(/\s+/)[1] === String(pgid)).join('\n');
}

let current;
// The files run in their own process groups: when the run itself is ended,
// end the file that is running too.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    try {
      if (current) process.kill(-current.pid, 'SIGTERM');
    } catch {}
    process.exit(1);
  });
}

function runFile(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(
      process.execPath,
      ['--test', `--test-timeout=${testLimitS * 1000}`, '--test-reporter=spec', file],
      { stdio: 'inherit', cwd: root, detached: true },
    );
    current = child;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.stdout.write(
        `\n✖ ${relative(root, file)} still running after ${fileLimitS} s: killing it.\n` +
          `  what it was running:\n${groupProcesses(child.pid)}\n`,
      );
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 10_000).unref();
    }, fileLimitS * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      if (timedOut) {
        // Its after() hooks never ran: remove the labs it left (their owner is gone).
        spawnSync(join(root, 'bin', 'berth'), ['lab', 'clean'], { stdio: 'inherit' });
      }
      resolve({ file, ok: !timedOut && code === 0, timedOut, code, signal, ms: Date.now() - t0 });
    });
  });
}

const files = suites
  .flatMap((s) => walk(join(root, 'dist', 'test', s)))
  .filter((f) => !only || f.includes(only));
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
const results = [];
for (const f of files) results.push(await runFile(f));
const bad = results.filter((r) => !r.ok);
const total = results.reduce((s, r) => s + r.ms, 0);
process.stdout.write(
  `\n${results.length} test files, ${results.length - bad.length} passed, ${bad.length} failed ` +
    `(${Math.round(total / 1000)} s)\n`,
);
for (const r of bad) {
  const why = r.timedOut ? `timed out after ${fileLimitS} s` : `exit ${r.code ?? r.signal}`;
  process.stdout.write(`  ✖ ${relative(root, r.file)}: ${why}\n`);
}
process.exit(bad.length ? 1 : 0);
