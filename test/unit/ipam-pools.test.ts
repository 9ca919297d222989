/**
 * Network subnets: Docker's default pools in Docker's order (the sequences
 * below were recorded from a real dockerd 20.10.24 in a lab), user subnets and
 * their checks, and 5000 networks under --default-address-pool
 * base=10.128.0.0/9,size=24 without the search growing. Real SqliteStore.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode, type ErrorCode } from '../../src/common/errors.js';
import { SqliteStore } from '../../src/store/embedded/sqlite.js';
import {
  Ipam,
  type IpamOptions,
  type PoolInfo,
  type PoolRequest,
  parseAddressPoolFlag,
} from '../../src/network/ipam/index.js';

const root = mkdtempSync(join(tmpdir(), 'berth-ipam-pools-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const stores: SqliteStore[] = [];
after(async () => {
  for (const s of stores) await s.close();
});

async function fresh(
  opts?: IpamOptions,
): Promise<{ store: SqliteStore; ipam: Ipam; path: string }> {
  const path = join(root, `s${++n}`, 'berth.db');
  const store = SqliteStore.open(path);
  stores.push(store);
  return { store, ipam: await Ipam.open(store, opts), path };
}

/** Creates a network the way the controller will: its record and its subnet in one txn. */
async function createNet(
  ipam: Ipam,
  name: string,
  req: Partial<PoolRequest> = {},
): Promise<PoolInfo> {
  const id = `${name}-id`;
  const { value } = await ipam.transact(async (tx) => ({
    value: await tx.allocatePool({ network: id, networkName: name, ...req }),
    ops: [{ type: 'put', key: `test/networks/${id}`, value: name }],
  }));
  return value;
}

async function removeNet(ipam: Ipam, name: string): Promise<void> {
  await ipam.transact(async (tx) => {
    await tx.releasePools(`${name}-id`);
    return { value: undefined, ops: [{ type: 'delete', key: `test/networks/${name}-id` }] };
  });
}

async function refused(p: Promise<unknown>, code: ErrorCode, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as Error).message, message);
    assert.ok(hasCode(e, code), `code ${String((e as { code?: unknown }).code)}, want ${code}`);
    return true;
  });
}

/** Creates the default bridge as the controller will (Docker: the first free default block). */
async function defaultBridge(ipam: Ipam): Promise<PoolInfo> {
  const subnet = ipam.pickDefaultSubnet(4);
  assert.ok(subnet);
  const gateway = subnet.replace(/0\/\d+$/, '1');
  return createNet(ipam, 'bridge', { subnet, gateway });
}

const NO_POOL =
  'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network';

describe('ipam pools', () => {
  it('gives the bridge 172.17/16, then 30 networks in order, and the 31st fails', async () => {
    const { store, ipam } = await fresh();
    const br = await defaultBridge(ipam);
    assert.equal(br.subnet, '172.17.0.0/16');
    assert.equal(br.gateway, '172.17.0.1');
    const got: string[] = [];
    for (let i = 1; i <= 30; i++) {
      const p = await createNet(ipam, `n${i}`);
      assert.equal(p.gateway, p.subnet.replace(/0\/\d+$/, '1'));
      assert.ok(p.auto);
      got.push(p.subnet);
    }
    assert.deepEqual(got, [
      ...Array.from({ length: 14 }, (_, i) => `172.${18 + i}.0.0/16`),
      ...Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`),
    ]);
    const rev = await store.revision();
    await refused(createNet(ipam, 'n31'), 'NOT_FOUND', NO_POOL);
    assert.equal(await store.revision(), rev, 'a refused create writes nothing');
    assert.equal(await store.get('test/networks/n31-id'), undefined);
  });

  it("rotates like Docker's start index (sequence recorded from dockerd 20.10)", async () => {
    const { ipam } = await fresh();
    await defaultBridge(ipam);
    assert.equal((await createNet(ipam, 'a')).subnet, '172.18.0.0/16');
    assert.equal((await createNet(ipam, 'b')).subnet, '172.19.0.0/16');
    await removeNet(ipam, 'a');
    assert.equal((await createNet(ipam, 'c')).subnet, '172.20.0.0/16', 'no immediate reuse');
    const seen: string[] = [];
    for (let i = 1; ; i++) {
      try {
        seen.push((await createNet(ipam, `n${i}`)).subnet);
      } catch (e) {
        assert.equal((e as Error).message, NO_POOL);
        break;
      }
    }
    assert.equal(seen.length, 28);
    assert.equal(seen[10], '172.31.0.0/16');
    assert.equal(seen[26], '192.168.240.0/20');
    assert.equal(seen[27], '172.18.0.0/16', 'wraps around to the freed block');
    await removeNet(ipam, 'b');
    await removeNet(ipam, 'n5');
    assert.equal((await createNet(ipam, 'x1')).subnet, '172.19.0.0/16');
    assert.equal((await createNet(ipam, 'x2')).subnet, '172.25.0.0/16');
    for (const net of ['c', 'x1', 'x2', ...seen.map((_, i) => `n${i + 1}`)]) {
      if (net !== 'n5') await removeNet(ipam, net);
    }
    assert.equal((await createNet(ipam, 'fresh1')).subnet, '172.26.0.0/16');
  });

  it('refuses overlapping user subnets and keeps host bits as given', async () => {
    const { ipam } = await fresh();
    const p = await createNet(ipam, 'hostbits', { subnet: '10.10.0.1/24' });
    assert.equal(p.subnet, '10.10.0.0/24');
    assert.equal(p.given, '10.10.0.1/24');
    assert.equal(p.gateway, '10.10.0.1');
    assert.equal(p.auto, false);
    const overlap = 'Pool overlaps with other one on this address space';
    for (const subnet of ['10.10.0.0/24', '10.10.0.0/16', '10.10.0.128/25', '10.10.0.7/32']) {
      await refused(createNet(ipam, 'x', { subnet }), 'FORBIDDEN', overlap);
    }
    await createNet(ipam, 'v6', { subnet: 'fd00:1::/64' });
    await refused(createNet(ipam, 'x', { subnet: 'fd00:1::/48' }), 'FORBIDDEN', overlap);
    await refused(
      createNet(ipam, 'x', { subnet: 'x' }),
      'INVALID_ARGUMENT',
      'Invalid subnet x : invalid CIDR address: x',
    );
  });

  it('skips blocks taken by user subnets, host routes and nameservers', async () => {
    const { ipam } = await fresh();
    await defaultBridge(ipam);
    await createNet(ipam, 'u18', { subnet: '172.18.5.0/24' });
    const p = await createNet(ipam, 'auto', {
      avoid: ['172.19.0.0/16', '172.20.1.1', '0.0.0.0/0'],
    });
    assert.equal(p.subnet, '172.21.0.0/16');
    assert.equal(ipam.pickDefaultSubnet(4, ['172.17.0.0/16']), '172.19.0.0/16');
  });

  it('checks gateways, ranges and auxiliary addresses in Docker 20.10 words', async () => {
    const { store, ipam } = await fresh();
    const cases: [Partial<PoolRequest>, ErrorCode, string][] = [
      [
        { subnet: '10.20.0.0/24', gateway: '10.21.0.1' },
        'INVALID_ARGUMENT',
        'failed to allocate gateway (10.21.0.1): Requested address is out of range',
      ],
      [
        { subnet: '10.20.1.0/24', gateway: 'zz' },
        'INVALID_ARGUMENT',
        'invalid gateway address zz in Ipam configuration',
      ],
      [
        { subnet: '10.22.0.0/24', gateway: '10.22.0.0' },
        'INVALID_ARGUMENT',
        'failed to allocate gateway (10.22.0.0): Address already in use',
      ],
      [
        { subnet: '10.22.1.0/24', gateway: '10.22.1.255' },
        'INVALID_ARGUMENT',
        'failed to allocate gateway (10.22.1.255): Address already in use',
      ],
      [
        { subnet: '10.22.2.0/24', gateway: '10.22.2.1/24' },
        'INVALID_ARGUMENT',
        'invalid gateway address 10.22.2.1/24 in Ipam configuration',
      ],
      [
        { subnet: '10.23.1.0/24', ipRange: 'y' },
        'INVALID_ARGUMENT',
        'failed to parse pool request for address space "LocalDefault" pool "10.23.1.0/24" subpool "y": Invalid Address SubPool',
      ],
      [
        { subnet: '10.23.0.0/24', ipRange: '10.24.0.0/25' },
        'INVALID_ARGUMENT',
        "invalid ip-range 10.24.0.0/25: parent subnet 10.23.0.0/24 doesn't contain ip-range",
      ],
      [
        { subnet: '10.23.2.0/24', ipRange: '10.23.0.0/16' },
        'INVALID_ARGUMENT',
        'invalid ip-range 10.23.0.0/16: CIDR block is bigger than its parent subnet 10.23.2.0/24',
      ],
      [
        { subnet: '10.26.0.0/31' },
        'INVALID_ARGUMENT',
        'failed to allocate gateway (): No available addresses on this pool',
      ],
      [
        { subnet: '10.26.1.0/32' },
        'INVALID_ARGUMENT',
        'failed to allocate gateway (): No available addresses on this pool',
      ],
      [
        { subnet: '10.27.0.0/24', auxAddresses: { h: '10.28.0.5' } },
        'FORBIDDEN',
        'auxiliary address: (h:10.28.0.5) must belong to the master pool: 10.27.0.0/24',
      ],
      [
        { subnet: '10.27.1.0/24', auxAddresses: { h: '10.27.1.1' } },
        'INVALID_ARGUMENT',
        'failed to allocate secondary ip address (h:10.27.1.1): Address already in use',
      ],
      [
        { subnet: '10.27.2.0/24', auxAddresses: { h: 'q' } },
        'INVALID_ARGUMENT',
        'non parsable secondary ip address (h:q) passed for network k',
      ],
      [
        { subnet: 'fd00:3::/64', gateway: 'fd00:4::1' },
        'INVALID_ARGUMENT',
        'failed to allocate gateway (fd00:4::1): Requested address is out of range',
      ],
      [
        { family: 6 },
        'NOT_FOUND',
        'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network',
      ],
    ];
    const rev = await store.revision();
    for (const [req, code, message] of cases)
      await refused(createNet(ipam, 'k', req), code, message);
    assert.equal(await store.revision(), rev, 'refusals write nothing');
    assert.deepEqual(ipam.pools(), [], 'and leave nothing in the cache');
    // The ones dockerd accepted: a /30, a range (gateway = first of the range), a v6 subnet.
    assert.equal((await createNet(ipam, 'p30', { subnet: '10.26.2.0/30' })).gateway, '10.26.2.1');
    const r = await createNet(ipam, 'r', { subnet: '10.25.0.0/24', ipRange: '10.25.0.128/25' });
    assert.equal(r.gateway, '10.25.0.128');
    assert.equal(r.ipRange, '10.25.0.128/25');
    assert.equal((await createNet(ipam, 'v6', { subnet: 'fd00:1::/64' })).gateway, 'fd00:1::1');
    const aux = await createNet(ipam, 'aux', {
      subnet: '10.27.3.0/24',
      gateway: '10.27.3.254',
      auxAddresses: { b: '10.27.3.1', a: '10.27.3.2' },
    });
    assert.deepEqual(aux.auxAddresses, { b: '10.27.3.1', a: '10.27.3.2' });
    assert.deepEqual(
      ipam
        .allocations('aux-id')
        .map((x) => `${x.address}=${x.owner}`)
        .sort(),
      ['10.27.3.1=aux:b', '10.27.3.254=gateway', '10.27.3.2=aux:a'],
    );
  });

  it('removing a network drops its subnet and every address in it', async () => {
    const { store, ipam } = await fresh();
    await createNet(ipam, 'k', { subnet: '10.1.0.0/24', auxAddresses: { h: '10.1.0.9' } });
    assert.equal((await store.list('ipam/local/addrs/10.1.0.0/24/')).length, 2);
    await removeNet(ipam, 'k');
    assert.deepEqual(await store.list('ipam/local/'), [await store.get('ipam/local/space')]);
    assert.deepEqual(ipam.pools(), []);
    await createNet(ipam, 'k2', { subnet: '10.1.0.0/24' });
  });

  it('keeps subnets and the rotation across reopen', async () => {
    const { store, ipam, path } = await fresh();
    await defaultBridge(ipam);
    await createNet(ipam, 'a');
    await createNet(ipam, 'b');
    await removeNet(ipam, 'a');
    await store.close();
    const again = SqliteStore.open(path);
    stores.push(again);
    const reopened = await Ipam.open(again);
    assert.deepEqual(
      reopened
        .pools()
        .map((p) => p.subnet)
        .sort(),
      ['172.17.0.0/16', '172.19.0.0/16'],
    );
    assert.equal((await createNet(reopened, 'c')).subnet, '172.20.0.0/16');
  });

  it('serializes concurrent creates in one process without overlaps', async () => {
    const { ipam } = await fresh();
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => createNet(ipam, `c${i}`)));
    assert.equal(new Set(made.map((p) => p.subnet)).size, 20);
    assert.equal(ipam.stats.conflicts, 0);
  });

  it('allocates 5000 networks under base=10.128.0.0/9,size=24 with a flat search', async (t) => {
    const { ipam } = await fresh({
      defaultPools: [parseAddressPoolFlag('base=10.128.0.0/9,size=24')],
    });
    const br = await defaultBridge(ipam);
    assert.equal(br.subnet, '10.128.0.0/24', 'dockerd 20.10 gave its bridge this block');
    const N = 5000;
    const times: number[] = [];
    const probesBefore = ipam.stats.poolProbes;
    for (let i = 1; i <= N; i++) {
      const t0 = process.hrtime.bigint();
      const p = await createNet(ipam, `n${i}`);
      times.push(Number(process.hrtime.bigint() - t0) / 1e3);
      if (i === 1) assert.equal(p.subnet, '10.128.1.0/24');
      if (i === N) assert.equal(p.subnet, `10.${128 + (N >> 8)}.${N & 255}.0/24`);
    }
    const probes = (ipam.stats.poolProbes - probesBefore) / N;
    assert.ok(probes <= 2, `mean candidate blocks looked at per network: ${probes}`);
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
    const first = median(times.slice(0, 500));
    const last = median(times.slice(-500));
    t.diagnostic(
      `network create (subnet + record, one SQLite txn): median ${first.toFixed(1)} us ` +
        `for networks 1-500, ${last.toFixed(1)} us for ${N - 499}-${N}; ${probes.toFixed(2)} probes each`,
    );
    assert.ok(last < first * 3 + 50, `per-network time grew: ${first} -> ${last} us`);
  });

  it('wraps and fails fast when the pools are nearly or fully taken', async () => {
    const { ipam } = await fresh({ defaultPools: [{ base: '10.0.0.0/12', size: 24 }] });
    for (let i = 0; i < 4096; i++) await createNet(ipam, `n${i}`);
    await refused(createNet(ipam, 'full'), 'NOT_FOUND', NO_POOL);
    await removeNet(ipam, 'n2500');
    let p0 = ipam.stats.poolProbes;
    assert.equal((await createNet(ipam, 'again')).subnet, '10.9.196.0/24');
    assert.ok(ipam.stats.poolProbes - p0 <= 3, `${ipam.stats.poolProbes - p0} probes`);
    p0 = ipam.stats.poolProbes;
    await refused(createNet(ipam, 'full2'), 'NOT_FOUND', NO_POOL);
    assert.ok(ipam.stats.poolProbes - p0 <= 3, `${ipam.stats.poolProbes - p0} probes`);
  });
});
