/** The main job (make demo) runs the walkthrough in its own lab and every step passes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO } from '../helpers/lab-daemon.js';

describe('make demo', () => {
  it('walks the seed scenarios it covers and reports them all passed', () => {
    // The bound for the whole walkthrough is two minutes.
    const r = spawnSync(process.execPath, [`${REPO}dist/src/lab/demo.js`], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr);
    const m = /^(\d+) passed, (\d+) failed/m.exec(r.stdout);
    assert.ok(m, r.stdout.slice(-2000));
    assert.equal(m[2], '0');
    for (const s of [
      'S1',
      'S2',
      'S3',
      'S4',
      'S5',
      'S6',
      'S7',
      'S8',
      'S9',
      'S10',
      'S11',
      'S12',
      'S13',
      'S14',
      'S15',
    ]) {
      assert.match(r.stdout, new RegExp(`✔ ${s}\\b`), `${s} in the summary`);
    }
    assert.match(r.stdout, /lab removed/);
  });
});
