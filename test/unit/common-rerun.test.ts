// Rerun: one run at a time, and one more after it however many calls came.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rerun } from '../../src/common/rerun.js';

describe('Rerun', () => {
  it('runs once more after a run for any number of calls made during it', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const r = new Rerun(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((res) => (release = res));
    });
    const first = r.run();
    const others = [r.run(), r.run(), r.run()];
    release();
    await Promise.all([first, ...others]);
    assert.equal(runs, 2);
    await r.run();
    assert.equal(runs, 3, 'a call after it ended runs again');
  });
  it('does not run again once stopped', async () => {
    let runs = 0;
    let stopped = false;
    let release: () => void = () => undefined;
    const r = new Rerun(
      async () => {
        runs++;
        await new Promise<void>((res) => (release = res));
      },
      () => stopped,
    );
    const p = r.run();
    void r.run();
    stopped = true;
    release();
    await p;
    assert.equal(runs, 1);
  });
});
