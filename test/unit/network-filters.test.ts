import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listFilter, networkPruneFilter } from '../../src/api/routes/networks.js';
import { parseDuration, parseTimestamp } from '../../src/api/timestamp.js';
import { newNetworkRecord } from '../../src/network/records.js';
import type { NetworkRecord } from '../../src/network/types.js';

const net = (name: string, created: string, labels: Record<string, string> = {}) =>
  ({ ...newNetworkRecord(name, 'bridge'), Created: created, Labels: labels }) as NetworkRecord;
const NOW = Date.parse('2026-11-28T12:00:00Z');

describe('time filter values (Go GetTimestamp)', () => {
  it('reads durations before now, Unix times and dates', () => {
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('10'), undefined, 'no unit: not a duration');
    assert.equal(parseTimestamp('24h', NOW), NOW - 86_400_000);
    assert.equal(parseTimestamp('1700000000', NOW), 1_700_000_000_000);
    assert.equal(parseTimestamp('1700000000.5', NOW), 1_700_000_000_500);
    assert.equal(parseTimestamp('2026-11-28T10:00:00Z', NOW), Date.parse('2026-11-28T10:00:00Z'));
    assert.throws(() => parseTimestamp('yesterday', NOW), {
      message: 'failed to parse value as time or duration: "yesterday"',
    });
  });
});

describe('network filters', () => {
  const old = net('old', '2026-11-27T12:00:00Z', { team: 'a', keep: 'yes' });
  const fresh = net('fresh', '2026-11-28T11:59:00Z', { team: 'a' });
  const bridge = net('bridge', '2026-11-01T00:00:00Z');
  const f = (o: Record<string, string[]>) => new Map(Object.entries(o));

  it('prunes by until, label and label! as dockerd 20.10', () => {
    const names = (o: Record<string, string[]>) =>
      [old, fresh].filter(networkPruneFilter(f(o), NOW)).map((n) => n.Name);
    assert.deepEqual(names({}), ['old', 'fresh']);
    assert.deepEqual(names({ until: ['1h'] }), ['old']);
    assert.deepEqual(names({ label: ['team=a'] }), ['old', 'fresh']);
    assert.deepEqual(names({ label: ['team=a', 'keep'] }), ['old']);
    assert.deepEqual(names({ 'label!': ['keep=yes'] }), ['fresh']);
    assert.deepEqual(names({ 'label!': ['keep', 'team=b'] }), ['old', 'fresh'], 'not all match');
    assert.throws(() => networkPruneFilter(f({ name: ['x'] })), {
      message: "Invalid filter 'name'",
    });
    assert.throws(() => networkPruneFilter(f({ until: ['1h', '2h'] })), /more than one until/);
  });

  it('lists dangling networks: unused and not predefined', () => {
    const used = new Set(['fresh']);
    const inUse = (n: NetworkRecord) => used.has(n.Name);
    const names = (v: string) =>
      [old, fresh, bridge].filter(listFilter(f({ dangling: [v] }), inUse)).map((n) => n.Name);
    assert.deepEqual(names('true'), ['old']);
    assert.deepEqual(names('1'), ['old']);
    assert.deepEqual(names('false'), ['fresh', 'bridge']);
    assert.throws(() => names('maybe'), {
      message: `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`,
    });
    assert.throws(() => listFilter(f({ dangling: ['true', 'false'] }), inUse), {
      message: 'got more than one value for filter key "dangling"',
    });
    // Checked up front, not only when a network reaches the filter.
    assert.throws(
      () => listFilter(f({ name: ['nomatch'], dangling: ['maybe'] }), inUse),
      /dangling/,
    );
    assert.throws(() => listFilter(f({ colour: ['red'] }), inUse), {
      message: "Invalid filter 'colour'",
    });
  });
});
