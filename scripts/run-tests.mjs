#!/usr/bin/env node
// Runs the compiled tests with node's own runner, one file at a time (the
// integration tests build labs of namespaces and must not race for the CPU).
// Usage: node scripts/run-tests.mjs [unit|integration|compat|e2e ...] [--only substring]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args.splice(onlyIdx, 2)[1] : undefined;
const suites = args.length ? args : ['unit', 'integration', 'compat', 'e2e'];

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

const files = suites
  .flatMap((s) => walk(join(root, 'dist', 'test', s)))
  .filter((f) => !only || f.includes(only));
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root },
);
process.exit(r.status ?? 1);
