// The in-memory firewall (for other layers' unit tests): the nftables
// back-end's semantics without a kernel. The integration test checks that
// both back-ends end in the same state after the same operations.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryFirewall } from '../../src/kernel/firewall/memory.js';
import type { PortMapping } from '../../src/kernel/firewall/ruleset.js';

const m: PortMapping = {
  proto: 'tcp',
  hostPort: 8080,
  containerIp: '172.17.0.2',
  containerPort: 80,
};

describe('memory firewall', () => {
  it('needs the base, like a missing table', () => {
    const fw = new MemoryFirewall();
    assert.throws(() => fw.addPortMapping(m), { code: 'NOT_FOUND' });
    fw.ensureBase();
    fw.addPortMapping(m);
    assert.deepEqual(fw.dump().ports, [m]);
  });

  it('converges bridges, is idempotent, and refuses a taken port', () => {
    const fw = new MemoryFirewall();
    fw.ensureBase();
    fw.addBridge({ name: 'berth0', icc: true, masquerade: true, internal: false });
    fw.addBridge({ name: 'berth0', icc: false, masquerade: true, internal: false });
    assert.deepEqual(fw.dump().bridges, [
      { name: 'berth0', icc: false, masquerade: true, masquerade6: false, internal: false },
    ]);
    fw.addPortMapping(m);
    fw.addPortMapping(m);
    const before = fw.dump();
    assert.throws(() => fw.addPortMapping({ ...m, containerIp: '172.17.0.3' }), {
      code: 'CONFLICT',
    });
    assert.throws(() => fw.removePortMapping({ ...m, containerPort: 81 }), { code: 'CONFLICT' });
    assert.deepEqual(fw.dump(), before);
    fw.removePortMapping(m);
    fw.removePortMapping(m);
    fw.removeBridge('berth0');
    fw.removeBridge('berth0');
    assert.deepEqual(fw.dump(), { bridges: [], ports: [] });
  });

  it('validates like the real one', () => {
    const fw = new MemoryFirewall();
    fw.ensureBase();
    assert.throws(() => fw.removeBridge('br*'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => fw.addPortMapping({ ...m, hostPort: 0 }), { code: 'INVALID_ARGUMENT' });
  });

  it('adds and removes control-plane endpoints, idempotently, and refuses a bad change whole', () => {
    const fw = new MemoryFirewall();
    fw.ensureBase();
    fw.addPortMapping(m);
    const a = { ip: '192.168.205.11', port: 2375 };
    const b = { ip: 'fd00::11', port: 2379 };
    fw.changeControlPlane([a, b], []);
    fw.changeControlPlane([a], []);
    assert.deepEqual(fw.dump().control, [a, b]);
    fw.changeControlPlane([], [a]);
    fw.changeControlPlane([], [a]);
    assert.deepEqual(fw.dump().control, [b]);
    assert.throws(() => fw.changeControlPlane([a], [{ ip: 'etcd1', port: 2379 }]), {
      code: 'INVALID_ARGUMENT',
    });
    assert.deepEqual(fw.dump(), { bridges: [], ports: [m], control: [b] });
    fw.changeControlPlane([], [b]);
    assert.deepEqual(fw.dump(), { bridges: [], ports: [m] });
  });

  it('reconciles to exactly the desired state', () => {
    const fw = new MemoryFirewall();
    const want = {
      bridges: [{ name: 'br-1', icc: true, masquerade: false, masquerade6: false, internal: true }],
      ports: [m],
      control: [{ ip: '192.168.205.11', port: 2375 }],
    };
    assert.ok(fw.reconcile(want).applied.length > 0);
    assert.deepEqual(fw.dump(), want);
    assert.deepEqual(fw.reconcile(want).applied, []);
  });
});
