#!/usr/bin/env node
// Records what was built (commit, time) for `berth version` / GET /version.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  if (
    execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim()
  ) {
    commit += '-dirty';
  }
} catch {
  // not a git checkout
}
mkdirSync('dist', { recursive: true });
writeFileSync(
  'dist/build-info.json',
  JSON.stringify({ gitCommit: commit, buildTime: new Date().toISOString() }) + '\n',
);
