/**
 * The node registry against the embedded store (same KvStore contract as
 * etcd, leases included): registered under a lease, renewed, registered again
 * after the lease was lost, gone at once on close, retrying while the store
 * fails. Timers are stepped by hand.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, NodeRegistry, type NodeInfo } from '../../src/cluster/nodes.js';
import { createLogger } from '../../src/common/log.js';
import type { KvStore } from '../../src/store/types.js';
import { tempStores } from '../helpers/temp-store.js';

const store = tempStores('nodes');

const self: NodeInfo = {
  Addr: '192.168.205.10:2375',
  Name: 'h1',
  ID: 'ABCD:EF01',
  Version: '0.1.0',
  StartedAt: '2026-12-05T00:00:00.000Z',
};

/** A registry whose timers run only when the test says so. */
function stepped(kv: KvStore) {
  const due: Array<{ fn: () => void; ms: number }> = [];
  const reg = new NodeRegistry(kv, self, {
    ttlSeconds: 30,
    heartbeatSeconds: 10,
    log: createLogger('error'),
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      due.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = due.indexOf(t as (typeof due)[number]);
      if (i >= 0) due.splice(i, 1);
    },
  });
  /** Runs the next timer and waits for its work; returns the delay it had. */
  const step = async (): Promise<number> => {
    const t = due.shift();
    assert.ok(t, 'a timer is pending');
    t.fn();
    for (let i = 0; i < 50 && due.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    return t.ms;
  };
  return { reg, step, due };
}

describe('node registry', () => {
  it('puts the node as JSON under a lease, and renews it at the heartbeat', async () => {
    const kv = await store();
    const { reg, step } = stepped(kv);
    reg.start();
    assert.equal(await step(), 0);
    await reg.whenRegistered();
    const e = await kv.get(`${NODES}192.168.205.10:2375`);
    assert.ok(e?.lease, 'the key has a lease');
    assert.deepEqual(JSON.parse(e.value), self);
    assert.deepEqual(await reg.list(), [self]);
    assert.equal(await step(), 10_000);
    const left = await kv.leaseTimeToLive(e.lease);
    assert.ok(left !== undefined && left > 25, `renewed to its TTL (${String(left)} s left)`);
    await reg.close();
    await kv.close();
  });

  it('registers again when its lease was lost, and says so each time', async () => {
    const kv = await store();
    const { reg, step } = stepped(kv);
    let told = 0;
    reg.onRegistered(() => told++);
    reg.start();
    await step();
    assert.equal(told, 1);
    assert.equal(reg.isRegistered, true);
    const first = (await kv.get(reg.key))!.lease!;
    await kv.revokeLease(first); // as if it expired while the store was unreachable
    assert.equal(await kv.get(reg.key), undefined);
    await step();
    const again = await kv.get(reg.key);
    assert.ok(again?.lease && again.lease !== first, 'put again under a new lease');
    assert.equal(told, 2, 'the host reconciles its endpoints after each registration');
    await reg.close();
    await kv.close();
  });

  it('is gone from the store at once when closed, and stops renewing', async () => {
    const kv = await store();
    const { reg, step, due } = stepped(kv);
    reg.start();
    await step();
    const lease = (await kv.get(reg.key))!.lease!;
    await reg.close();
    assert.equal(await kv.get(reg.key), undefined);
    assert.equal(await kv.leaseTimeToLive(lease), undefined);
    assert.equal(due.length, 0);
    await kv.close();
  });

  it('stays until its lease expires when closed without revoking (containers keep endpoints)', async () => {
    const kv = await store();
    const { reg, step, due } = stepped(kv);
    reg.start();
    await step();
    const lease = (await kv.get(reg.key))!.lease!;
    await reg.close({ revoke: false });
    assert.ok(await kv.get(reg.key), 'still listed');
    assert.ok(((await kv.leaseTimeToLive(lease)) ?? 0) > 0);
    assert.equal(due.length, 0, 'no more renewals');
    await kv.close();
  });

  it('retries within a second while the store fails, and registers when it answers', async () => {
    const kv = await store();
    let down = true;
    const flaky = new Proxy(kv, {
      get(target, p, r) {
        const v = Reflect.get(target, p, r) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) =>
          down && p !== 'close'
            ? Promise.reject(new Error('connect ECONNREFUSED'))
            : (v as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    const { reg, step } = stepped(flaky);
    reg.start();
    await step();
    assert.equal(await kv.get(reg.key), undefined);
    assert.ok((await step()) <= 1000, 'a quick retry');
    down = false;
    await step();
    assert.ok((await kv.get(reg.key))?.lease);
    await reg.close();
    await kv.close();
  });
});
