#!/usr/bin/env node
// Runs the compiled tests with node's own runner, each file in its own
// process. The files that build labs of namespaces run BERTH_TEST_LANES at
// a time, the longest first (default 2, or 1 on one CPU; 1 runs them one by
// one): most of their time is spent waiting for daemons, containers and
// timers, not on the CPU. The pure unit tests run in a lane of their own
// beside them. A file that must have the kernel to itself (ALONE below)
// runs first, with only the unit lane beside it.
//
// Each file runs in its own process group under a wall-clock limit: a test
// that blocks in a synchronous call (spawnSync, a tmux that never answers)
// cannot be cancelled by node's --test-timeout, and one such hang must not
// eat the whole CI budget. A file that runs past its limit is reported with
// the processes it left running, killed by process group, the labs its
// processes owned removed (no other file's), and the run goes on to the next
// file and fails at the end.
//
// Usage: node scripts/run-tests.mjs [unit|integration|compat|e2e ...] [--only substring]
// BERTH_TEST_FILE_TIMEOUT_S (default 900) and BERTH_TEST_TIMEOUT_S (per test,
// default 480) change the limits; BERTH_TEST_LANES the lab files run at once.
import { existsSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const LAB_ROOT = '/var/lib/berth-lab';
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

const running = new Set();
// The files run in their own process groups: when the run itself is ended,
// end the files that are running too.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    for (const c of running) {
      try {
        process.kill(-c.pid, 'SIGTERM');
      } catch {}
    }
    process.exit(1);
  });
}

/** The bytes of a file's output kept for the summary of its failures. */
const TAIL_BYTES = 64 * 1024;

/** The labs whose owner (lab.json) is a process of group `pgid`. */
function labsOfGroup(pgid) {
  let names = [];
  try {
    names = readdirSync(LAB_ROOT);
  } catch {}
  return names.filter((n) => {
    try {
      const pid = JSON.parse(readFileSync(join(LAB_ROOT, n, 'lab.json'), 'utf8')).owner?.pid;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // After "(comm) ": state, ppid, pgrp.
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
    } catch {
      return false;
    }
  });
}

/** `berth lab down NAME`, not blocking the other lane's output and timers. */
const labDown = (lab) =>
  new Promise((resolve) => {
    spawn(join(root, 'bin', 'berth'), ['lab', 'down', lab], { stdio: 'inherit' })
      .on('close', resolve)
      .on('error', resolve);
  });

/**
 * Runs one test file; `quiet` keeps its output and prints it whole when it
 * ends (lab files when two run at once, and unit files). Either way the
 * end of its output is kept: a failed file's failures are printed again
 * after the run (CI shows the end of the output).
 */
function runFile(file, quiet = false) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(
      process.execPath,
      ['--test', `--test-timeout=${testLimitS * 1000}`, '--test-reporter=spec', file],
      { stdio: [quiet ? 'ignore' : 'inherit', 'pipe', 'pipe'], cwd: root, detached: true },
    );
    const kept = [];
    // Bytes, decoded once at the end: a chunk may end inside a character.
    const tail = [];
    let tailBytes = 0;
    const take = (out) => (d) => {
      if (quiet) kept.push(d);
      else out.write(d);
      tail.push(d);
      tailBytes += d.length;
      while (tailBytes - tail[0].length >= TAIL_BYTES) tailBytes -= tail.shift().length;
    };
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    running.add(child);
    let timedOut = false;
    // The labs of a file that timed out: its after() hooks never run.
    let labs = [];
    const timer = setTimeout(() => {
      timedOut = true;
      labs = labsOfGroup(child.pid);
      process.stdout.write(
        `\n✖ ${name(file)} still running after ${fileLimitS} s: killing it.\n` +
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
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (quiet) process.stdout.write(Buffer.concat(kept));
      // Files of two lanes end in any order: say which one this was.
      const ok = !timedOut && code === 0;
      const s = Math.round((Date.now() - t0) / 1000);
      process.stdout.write(`── ${name(file)}: ${ok ? 'passed' : 'FAILED'} in ${s} s\n`);
      // Only its own: the other lane's labs are in use.
      for (const lab of labs) await labDown(lab);
      resolve({
        file,
        ok,
        timedOut,
        code,
        signal,
        ms: Date.now() - t0,
        tail: Buffer.concat(tail).toString('utf8'),
      });
    });
  });
}

const pick = (s) =>
  walk(join(root, 'dist', 'test', s)).filter((f) => !only || relative(root, f).includes(only));
// The unit tests (pure, no labs) run in a lane of their own beside the
// others, which build labs.
const side = suites.includes('unit') && suites.length > 1 ? pick('unit') : [];
const labFiles = suites.flatMap((s) => (side.length && s === 'unit' ? [] : pick(s)));
if (side.length + labFiles.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
// Files that run with no other lab file beside them. Dismantling the
// namespace of 4,100 bridges holds the kernel's rtnl lock for about a
// minute, which stalls every other lab's netlink calls; the unit lane,
// which needs none, runs beside it.
const ALONE = ['e2e/address-pools.test.js'];
// The longest files first, so the lanes end close together.
const LONGEST = [
  'integration/cluster-crash-campaign.test.js',
  'integration/network-crash.test.js',
  'integration/restart-policy.test.js',
  'e2e/demo.test.js',
  'e2e/cluster-app.test.js',
  'integration/firewall.test.js',
  'integration/store-etcd.test.js',
  'e2e/health.test.js',
  'integration/cluster-faults.test.js',
];
const name = (f) => relative(join(root, 'dist', 'test'), f);
const rank = (f) => {
  const i = LONGEST.indexOf(name(f));
  return i < 0 ? LONGEST.length : i;
};
const alone = labFiles.filter((f) => ALONE.includes(name(f)));
const shared = labFiles.filter((f) => !ALONE.includes(name(f))).sort((a, b) => rank(a) - rank(b));
// Two lanes need two CPUs: on one, the files' own timings would suffer.
const lanes = Number(process.env.BERTH_TEST_LANES ?? Math.min(2, availableParallelism()));
if (!Number.isInteger(lanes) || lanes < 1) {
  console.error(
    `BERTH_TEST_LANES must be a whole number of at least 1, not ${process.env.BERTH_TEST_LANES}`,
  );
  process.exit(1);
}
const t0 = Date.now();
const parentsBefore = new Set(berthCgroupParents());
/** Runs `queue`'s files one after another, `n` at a time. */
const drain = async (queue, n, quiet) => {
  const out = [];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) out.push(await runFile(f, quiet));
  };
  await Promise.all(Array.from({ length: n }, worker));
  return out;
};
const labs = async () => [
  ...(await drain(alone, 1, false)),
  ...(await drain(shared, lanes, lanes > 1)),
];
const results = (await Promise.all([labs(), drain([...side], 1, true)])).flat();
// In the order of the files, not of their ends.
const bad = results.filter((r) => !r.ok).sort((a, b) => a.file.localeCompare(b.file));
const total = Date.now() - t0;
process.stdout.write(
  `\n${results.length} test files, ${results.length - bad.length} passed, ${bad.length} failed ` +
    `(${Math.round(total / 1000)} s)\n`,
);
const slowest = [...results].sort((a, b) => b.ms - a.ms).slice(0, 10);
process.stdout.write(
  `slowest: ${slowest.map((r) => `${name(r.file)} ${Math.round(r.ms / 1000)} s`).join(', ')}\n`,
);
// The lab daemons' containers run in cgroups /berth/<id>: runc removes each
// one, never the /berth it made. A parent this run made goes if it is empty
// (rmdir refuses one that is not: a container still there keeps it).
for (const dir of berthCgroupParents()) {
  if (parentsBefore.has(dir)) continue;
  try {
    rmdirSync(dir);
  } catch {}
}
for (const r of bad) {
  process.stdout.write(`\n── ${name(r.file)}: what failed\n${failures(r.tail)}\n`);
}
for (const r of bad) {
  const why = r.timedOut ? `timed out after ${fileLimitS} s` : `exit ${r.code ?? r.signal}`;
  process.stdout.write(`  ✖ ${name(r.file)}: ${why}\n`);
}
process.exit(bad.length ? 1 : 0);

/** The `berth` cgroup parent in each controller's hierarchy that has one. */
function berthCgroupParents() {
  let names = [];
  try {
    names = readdirSync('/sys/fs/cgroup');
  } catch {}
  return names.map((n) => join('/sys/fs/cgroup', n, 'berth')).filter((d) => existsSync(d));
}

/** The failures section of a file's spec output (at most 80 lines), else its last 80 lines. */
function failures(text) {
  const at = text.lastIndexOf('✖ failing tests:');
  const lines = (at >= 0 ? text.slice(at) : text).trimEnd().split('\n');
  if (at < 0) return lines.slice(-80).join('\n');
  const more = lines.length - 80;
  return lines.slice(0, 80).join('\n') + (more > 0 ? `\n  … (${more} more lines)` : '');
}
