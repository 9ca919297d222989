/**
 * The cluster's control plane as a host knows it (decision 0040), over an
 * embedded store standing for etcd: the configured etcd endpoints at once,
 * then the members' URLs and every registered host's advertise address;
 * hosts that come and go; names left out; a firewall that refuses once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, endpointOf, type Endpoint } from '../../src/cluster/control-plane.js';
import { NODES } from '../../src/cluster/nodes.js';
import { createLogger } from '../../src/common/log.js';
import { openEmbeddedStore, type KvStore } from '../../src/store/index.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const show = (l: Endpoint[]) => l.map((e) => `${e.ip}:${e.port}`);

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

/**
 * A ControlPlane with its defaults on a fresh store; `members(n)` answers
 * the n-th member read. Closed after `fn`.
 */
async function withPlane(
  members: (n: number) => Promise<string[]>,
  fn: (w: { kv: KvStore; applied: string[][]; reads: () => number }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cp-'));
  dirs.push(dir);
  const kv = await openEmbeddedStore(dir);
  let reads = 0;
  const applied: string[][] = [];
  const cp = new ControlPlane(kv, {
    configured: [],
    members: () => members(++reads),
    apply: (l) => void applied.push(show(l)),
    log: createLogger('error'),
  });
  try {
    await fn({ kv, applied, reads: () => reads });
  } finally {
    cp.close();
    await kv.close();
  }
}

describe('the control plane containers are kept from', () => {
  it('reads URLs and advertise addresses, IPv4 and IPv6, and refuses names', () => {
    assert.deepEqual(endpointOf('http://192.168.205.10:2379'), {
      ip: '192.168.205.10',
      port: 2379,
    });
    assert.deepEqual(endpointOf('https://[fd00::1]:2380'), { ip: 'fd00::1', port: 2380 });
    assert.deepEqual(endpointOf('192.168.205.11:2375'), { ip: '192.168.205.11', port: 2375 });
    assert.deepEqual(endpointOf('[fd00::2]:2375'), { ip: 'fd00::2', port: 2375 });
    assert.deepEqual(endpointOf('https://10.0.0.1'), { ip: '10.0.0.1', port: 443 });
    assert.equal(endpointOf('http://etcd.example:2379'), undefined);
    assert.equal(endpointOf('192.168.205.11'), undefined, 'no port');
    assert.equal(endpointOf('not a url'), undefined);
  });

  it('is the configured endpoints at once, then the members and every host, as they change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cp-'));
    dirs.push(dir);
    const kv = await openEmbeddedStore(dir);
    await kv.put(`${NODES}192.168.205.10:2375`, '{}');
    const applied: string[][] = [];
    let members = ['http://192.168.205.10:2379', 'http://192.168.205.10:2380'];
    let refuse = false;
    let reads = 0;
    const warned: string[] = [];
    const log = { ...createLogger('error'), warn: (m: string) => void warned.push(m) };
    const cp = new ControlPlane(kv, {
      configured: ['http://192.168.205.10:2379', 'http://etcd.example:2379'],
      members: async () => {
        reads++;
        return members;
      },
      apply: (l) => {
        if (refuse) throw new Error('nftables: No such file or directory');
        applied.push(show(l));
      },
      log,
      membersEveryMs: 0,
    });
    try {
      assert.deepEqual(applied[0], ['192.168.205.10:2379'], 'the configured IPs, at once');
      assert.deepEqual(warned, [
        'cluster: http://etcd.example:2379 is not an IP address and port: containers are not kept from it',
      ]);
      const all = ['192.168.205.10:2375', '192.168.205.10:2379', '192.168.205.10:2380'];
      await until('members and hosts', () => applied.at(-1)?.join() === all.join());
      // A second host with its own member: both come.
      members = [...members, 'http://192.168.205.11:2379', 'http://192.168.205.11:2380'];
      await kv.put(`${NODES}192.168.205.11:2375`, '{}');
      const both = [...all, '192.168.205.11:2375', '192.168.205.11:2379', '192.168.205.11:2380'];
      await until('the second host', () => applied.at(-1)?.join() === both.join());
      // A list that could not be applied is tried again at the next change.
      refuse = true;
      await kv.delete(`${NODES}192.168.205.11:2375`);
      await until('the refusal said', () => warned.some((w) => /No such file/.test(w)));
      refuse = false;
      members = members.slice(0, 2);
      await kv.put(`${NODES}192.168.205.12:2375`, '{}');
      await until(
        'the host gone, another come',
        () => applied.at(-1)?.join() === [...all, '192.168.205.12:2375'].join(),
      );
      assert.equal(warned.filter((w) => /etcd\.example/.test(w)).length, 1, 'a name is said once');
      // A burst of registrations (a cluster starting): a few reads and changes, not one per host.
      const [readsBefore, appliedBefore] = [reads, applied.length];
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          kv.put(`${NODES}10.9.${i >> 8}.${i & 255}:2375`, '{}'),
        ),
      );
      await until('all 200', () => (applied.at(-1)?.length ?? 0) === all.length + 1 + 200);
      assert.ok(reads - readsBefore <= 4, `${reads - readsBefore} member reads`);
      assert.ok(applied.length - appliedBefore <= 4, `${applied.length - appliedBefore} changes`);
      // Nothing applied twice in a row.
      for (let i = 1; i < applied.length; i++) {
        assert.notEqual(applied[i]!.join(), applied[i - 1]!.join());
      }
    } finally {
      cp.close();
      await kv.close();
    }
  });

  it('asks etcd for its members at most every 30 s, however often hosts change', () =>
    withPlane(
      async () => ['http://192.168.205.10:2379'],
      async ({ kv, applied, reads }) => {
        await until('the first read', () => applied.at(-1)?.join() === '192.168.205.10:2379');
        for (const ip of ['192.168.205.11', '192.168.205.12']) {
          await kv.put(`${NODES}${ip}:2375`, '{}');
          await until(ip, () => applied.at(-1)?.includes(`${ip}:2375`) === true);
        }
        assert.equal(reads(), 1);
      },
    ));

  it('asks again within a second when the member list could not be read', () =>
    withPlane(
      async (n) => {
        if (n === 1) throw new Error('etcd: unavailable');
        return ['http://192.168.205.10:2380'];
      },
      async ({ applied, reads }) => {
        const started = Date.now();
        await until('the second read', () => applied.at(-1)?.join() === '192.168.205.10:2380');
        assert.equal(reads(), 2);
        assert.ok(Date.now() - started < 1900, `${Date.now() - started} ms`);
      },
    ));
});
