import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBenchArgs } from '../../bench/lib/args.js';

const spec = {
  iterations: { default: 20 },
  warmup: { default: 2, min: 0 },
  rmIterations: { default: 10, max: 50 },
};

test('a benchmark without arguments gets the defaults and a timestamped result file', () => {
  const o = parseBenchArgs('x', [], spec);
  assert.deepEqual([o.iterations, o.warmup, o.rmIterations], [20, 2, 10]);
  assert.match(o.out, /^\/tmp\/berth-bench\/x-\d{4}-\d\d-\d\dT[\d-]+Z\.json$/);
});

test('options are named after their keys in kebab case, in any order', () => {
  const o = parseBenchArgs(
    'x',
    ['--rm-iterations', '50', '--warmup', '0', '--out', '/tmp/r.json', '--iterations', '3'],
    spec,
  );
  assert.deepEqual([o.iterations, o.warmup, o.rmIterations, o.out], [3, 0, 50, '/tmp/r.json']);
});

test('an unknown flag, a missing value, a fraction or a value out of bounds is a usage error', () => {
  const usage = /^usage: x \[--iterations N\] \[--warmup N\] \[--rm-iterations N\] \[--out FILE\]$/;
  for (const argv of [
    ['--bogus', '1'],
    ['--iterations'],
    ['--iterations', '1.5'],
    ['--iterations', '0'],
    ['--warmup', '-1'],
    ['--rm-iterations', '51'],
    ['--rmIterations', '5'],
    ['--out'],
  ]) {
    assert.throws(() => parseBenchArgs('x', argv, spec), { message: usage }, argv.join(' '));
  }
});
