/**
 * Endpoint addresses: Docker 20.10's order and messages (recorded from a real
 * dockerd 20.10.24: lowest free address first, the gateway first in the
 * ip-range, static addresses outside the range allowed), releases, dual
 * stack, the serial mode, and a /16 filled to the last address with the
 * per-allocation time staying flat. Real SqliteStore.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode, type ErrorCode } from '../../src/common/errors.js';
import { SqliteStore } from '../../src/store/embedded/sqlite.js';
import {
  type AddressInfo,
  type Family,
  Ipam,
  type PoolRequest,
  macFromIPv4,
} from '../../src/network/ipam/index.js';

const root = mkdtempSync(join(tmpdir(), 'berth-ipam-addr-'));
const stores: SqliteStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
  rmSync(root, { recursive: true, force: true });
});
let n = 0;

async function fresh(): Promise<{ store: SqliteStore; ipam: Ipam }> {
  const store = SqliteStore.open(join(root, `s${++n}`, 'berth.db'));
  stores.push(store);
  return { store, ipam: await Ipam.open(store) };
}

async function createNet(ipam: Ipam, name: string, req: Partial<PoolRequest>): Promise<void> {
  await ipam.transact(async (tx) => {
    await tx.allocatePool({ network: `${name}-id`, networkName: name, ...req });
    return { value: undefined, ops: [{ type: 'put', key: `test/networks/${name}`, value: '{}' }] };
  });
}

/** Creates an endpoint the way the controller will: its record and its address in one txn. */
async function attach(
  ipam: Ipam,
  net: string,
  owner: string,
  opts: { address?: string; family?: Family } = {},
): Promise<AddressInfo> {
  const { value } = await ipam.transact((tx) => {
    const a = tx.allocateAddress({
      network: `${net}-id`,
      networkName: net,
      family: opts.family ?? 4,
      owner,
      ...(opts.address !== undefined ? { address: opts.address } : {}),
    });
    return { value: a, ops: [{ type: 'put', key: `test/endpoints/${owner}`, value: a.address }] };
  });
  return value;
}

async function detach(ipam: Ipam, net: string, owner: string): Promise<string[]> {
  const { value } = await ipam.transact((tx) => ({
    value: tx.releaseAddresses({ network: `${net}-id`, owner }),
    ops: [{ type: 'delete', key: `test/endpoints/${owner}` }],
  }));
  return value;
}

async function refused(p: Promise<unknown>, code: ErrorCode, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as Error).message, message);
    assert.ok(hasCode(e, code), `code ${String((e as { code?: unknown }).code)}, want ${code}`);
    return true;
  });
}

describe('ipam addresses', () => {
  it('hands out the lowest free address and reuses freed ones (dockerd 20.10 s1)', async () => {
    const { store, ipam } = await fresh();
    await createNet(ipam, 's1', { subnet: '10.30.0.0/29' });
    const ip = async (owner: string): Promise<string> => (await attach(ipam, 's1', owner)).address;
    assert.deepEqual(
      [await ip('c1'), await ip('c2'), await ip('c3')],
      ['10.30.0.2', '10.30.0.3', '10.30.0.4'],
    );
    const c1 = await attach(ipam, 's1', 'c1b').catch(() => undefined);
    assert.equal(c1?.gateway, '10.30.0.1');
    assert.equal(c1?.prefixLen, 29);
    assert.equal(macFromIPv4(c1?.address ?? ''), '02:42:0a:1e:00:05');
    assert.deepEqual(await detach(ipam, 's1', 'c2'), ['10.30.0.3']);
    assert.equal(await store.get('test/endpoints/c2'), undefined);
    assert.equal(await ip('c4'), '10.30.0.3');
    const inUse = 'Address already in use';
    for (const address of ['10.30.0.4', '10.30.0.1', '10.30.0.0', '10.30.0.7']) {
      await refused(attach(ipam, 's1', 't', { address }), 'FORBIDDEN', inUse);
    }
    await refused(
      attach(ipam, 's1', 't', { address: '10.40.0.9' }),
      'INVALID_ARGUMENT',
      "Invalid address 10.40.0.9: It does not belong to any of this network's subnets",
    );
    await refused(
      attach(ipam, 's1', 't', { address: 'zz' }),
      'INVALID_ARGUMENT',
      'invalid IPv4 address: zz',
    );
    assert.equal(await ip('c6'), '10.30.0.6');
    const rev = await store.revision();
    await refused(
      attach(ipam, 's1', 'c7'),
      'UNAVAILABLE',
      "no available IPv4 addresses on this network's address pools: s1 (s1-id)",
    );
    assert.equal(await store.revision(), rev, 'a refused attach writes nothing');
    assert.equal(await store.get('test/endpoints/c7'), undefined);
  });

  it('allocates from the ip-range, gateway first, static addresses anywhere in the subnet', async () => {
    const { ipam } = await fresh();
    await createNet(ipam, 's2', { subnet: '10.31.0.0/24', ipRange: '10.31.0.16/30' });
    assert.equal(ipam.pools('s2-id')[0]?.gateway, '10.31.0.16');
    const got = [];
    for (const o of ['r1', 'r2', 'r3']) got.push((await attach(ipam, 's2', o)).address);
    assert.deepEqual(got, ['10.31.0.17', '10.31.0.18', '10.31.0.19']);
    await refused(
      attach(ipam, 's2', 'r4'),
      'UNAVAILABLE',
      "no available IPv4 addresses on this network's address pools: s2 (s2-id)",
    );
    assert.equal(
      (await attach(ipam, 's2', 'r6', { address: '10.31.0.100' })).address,
      '10.31.0.100',
    );
    assert.equal(ipam.ownerOf('s2-id', '10.31.0.100'), 'r6');
  });

  it('gives dual-stack endpoints one address per family', async () => {
    const { ipam } = await fresh();
    await createNet(ipam, 'd', { subnet: '10.29.0.0/24' });
    await createNet(ipam, 'd', { subnet: 'fd00:1::/64' });
    const v4 = await attach(ipam, 'd', 'v1');
    const v6 = await attach(ipam, 'd', 'v1', { family: 6 });
    assert.deepEqual(
      [v4.address, v6.address, v6.gateway, String(v6.prefixLen)],
      ['10.29.0.2', 'fd00:1::2', 'fd00:1::1', '64'],
    );
    assert.equal(
      (await attach(ipam, 'd', 'v2', { family: 6, address: 'fd00:1::9' })).address,
      'fd00:1::9',
    );
    await refused(
      attach(ipam, 'd', 'v3', { family: 6, address: 'fd00:1::9' }),
      'FORBIDDEN',
      'Address already in use',
    );
    await refused(
      attach(ipam, 'd', 'v3', { family: 6, address: '10.29.0.9' }),
      'INVALID_ARGUMENT',
      'invalid IPv6 address: 10.29.0.9',
    );
    // The last address of an IPv6 subnet is an ordinary address (no broadcast).
    assert.equal(
      (await attach(ipam, 'd', 'v4', { family: 6, address: 'fd00:1::ffff:ffff:ffff:ffff' }))
        .address,
      'fd00:1::ffff:ffff:ffff:ffff',
    );
    assert.deepEqual((await detach(ipam, 'd', 'v1')).sort(), ['10.29.0.2', 'fd00:1::2']);
  });

  it('makes releases idempotent and owner-checked', async () => {
    const { store, ipam } = await fresh();
    await createNet(ipam, 'k', { subnet: '10.5.0.0/24' });
    await attach(ipam, 'k', 'e1');
    const { value } = await ipam.transact((tx) => ({
      value: [
        tx.releaseAddress({ network: 'k-id', address: '10.5.0.2', owner: 'someone-else' }),
        tx.releaseAddress({ network: 'k-id', address: '10.5.0.1', owner: 'e1' }),
        tx.releaseAddress({ network: 'k-id', address: '10.5.0.77' }),
        tx.releaseAddress({ network: 'nope', address: '10.5.0.2' }),
      ],
    }));
    assert.deepEqual(value, [false, false, false, false]);
    assert.equal(ipam.ownerOf('k-id', '10.5.0.2'), 'e1');
    assert.deepEqual(await detach(ipam, 'k', 'e1'), ['10.5.0.2']);
    const rev = await store.revision();
    assert.deepEqual(await detach(ipam, 'k', 'e1'), []);
    assert.equal(await store.revision(), rev, 'a repeated teardown writes nothing');
  });

  it('refuses to remove a network while an endpoint holds an address on it', async () => {
    const { store, ipam } = await fresh();
    await createNet(ipam, 'busy', { subnet: '10.6.0.0/24' });
    await attach(ipam, 'busy', 'e1');
    const rm = (opts: { force?: boolean } = {}, alsoRelease?: string) =>
      ipam.transact(async (tx) => {
        if (alsoRelease) tx.releaseAddresses({ network: 'busy-id', owner: alsoRelease });
        return { value: await tx.releasePools('busy-id', { networkName: 'busy', ...opts }) };
      });
    const message = 'error while removing network: network busy id busy-id has active endpoints';
    const rev = await store.revision();
    await refused(rm(), 'FORBIDDEN', message);
    assert.equal(await store.revision(), rev);
    // An attach still in flight counts too: its commit would otherwise land in a deleted subnet.
    await detach(ipam, 'busy', 'e1');
    const inflight = ipam.begin();
    inflight.allocateAddress({ network: 'busy-id', networkName: 'busy', family: 4, owner: 'e2' });
    await refused(rm(), 'FORBIDDEN', message);
    inflight.abort();
    await attach(ipam, 'busy', 'e3');
    // Releasing the last endpoint in the same transaction is fine.
    assert.equal((await rm({}, 'e3')).value.length, 1);
    assert.deepEqual(await store.list('ipam/local/addrs/'), []);
    await createNet(ipam, 'busy', { subnet: '10.6.0.0/24' });
    await attach(ipam, 'busy', 'e4');
    await rm({ force: true });
    assert.deepEqual(ipam.allocations(), []);
  });

  it('allocates after the last address in serial mode, wrapping', async () => {
    const { ipam } = await fresh();
    await createNet(ipam, 'q', { subnet: '10.32.0.0/29', serial: true });
    const ip = async (o: string): Promise<string> => (await attach(ipam, 'q', o)).address;
    assert.deepEqual(
      [await ip('q1'), await ip('q2'), await ip('q3')],
      ['10.32.0.2', '10.32.0.3', '10.32.0.4'],
    );
    await detach(ipam, 'q', 'q1');
    assert.equal(await ip('q4'), '10.32.0.5', 'not the freed .2');
    assert.equal(await ip('q5'), '10.32.0.6');
    assert.equal(await ip('q6'), '10.32.0.2', 'wraps to the freed one');
  });

  it('allocates the 60000th address of a /16 as fast as the first, then reports exhaustion', async (t) => {
    const { store, ipam } = await fresh();
    await createNet(ipam, 'big', { subnet: '10.200.0.0/16' });
    const times: number[] = [];
    const total = 65533; // 65534 hosts, minus the gateway
    let last: AddressInfo | undefined;
    for (let i = 0; i < total; i++) {
      const t0 = process.hrtime.bigint();
      last = await attach(ipam, 'big', `e${i}`);
      times.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    assert.equal(last?.address, '10.200.255.254');
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
    const first = median(times.slice(0, 1000));
    const at60k = median(times.slice(59000, 60000));
    t.diagnostic(
      `attach (address + endpoint record, one SQLite txn): median ${first.toFixed(1)} us for ` +
        `addresses 1-1000, ${at60k.toFixed(1)} us for 59001-60000`,
    );
    assert.ok(at60k < first * 3 + 50, `per-address time grew: ${first} -> ${at60k} us`);
    await refused(
      attach(ipam, 'big', 'one-too-many'),
      'UNAVAILABLE',
      "no available IPv4 addresses on this network's address pools: big (big-id)",
    );
    // Free one in the middle: found at once, not by walking the taken ones.
    await detach(ipam, 'big', 'e31337');
    const t0 = process.hrtime.bigint();
    const again = await attach(ipam, 'big', 'again');
    t.diagnostic(
      `refill of a hole in a full /16: ${(Number(process.hrtime.bigint() - t0) / 1e3).toFixed(1)} us`,
    );
    assert.equal(again.address, '10.200.122.107');
    assert.equal((await store.list('ipam/local/addrs/10.200.0.0/16/')).length, 65534);
  });
});
