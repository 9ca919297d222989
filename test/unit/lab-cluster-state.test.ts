import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newState } from '../../src/lab/topology.js';

describe('cluster lab state', () => {
  it('puts hosts on the seed underlay, the world at .1, and records the switch', () => {
    const s = newState('hcx', 3, true, true);
    assert.deepEqual(
      s.hosts.map((h) => h.ip),
      ['192.168.205.10', '192.168.205.11', '192.168.205.12'],
    );
    assert.equal(s.world.ip, '192.168.205.1');
    assert.deepEqual(s.namespaces, ['hcx-w', 'hcx-u', 'hcx-h1', 'hcx-h2', 'hcx-h3']);
    assert.deepEqual(s.cluster, { switch: 'hcx-u', subnet: '192.168.205.0/24', etcd: [] });
    assert.equal(s.owner, null);
  });

  it('leaves a plain lab as it was', () => {
    const s = newState('hcy', 2, false);
    assert.deepEqual(
      s.hosts.map((h) => h.ip),
      ['198.51.100.11', '198.51.100.12'],
    );
    assert.equal(s.world.ip, '198.51.100.1');
    assert.equal(s.cluster, undefined);
    assert.equal(s.namespaces.length, 3);
  });
});
