// The rules a join must pass before anything is written (checkJoin, pure):
// every refusal Endpoints.join makes before touching the store, with
// Docker 20.10's words and in its order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hasCode } from '../../src/common/errors.js';
import { checkJoin, type JoinRequest } from '../../src/network/endpoints.js';

const ON_USER_SUBNETS =
  'user specified IP address is supported only when connecting to networks with user configured subnets';
const ON_USER_NETWORKS = 'user specified IP address is supported on user defined networks only';
const ALIAS = 'network-scoped alias is supported only for containers in user defined networks';

type Pools = Array<{ family: 4 | 6; auto?: boolean; subnet?: string }>;
interface Case {
  net: string;
  addressed: boolean;
  pools: Pools;
}

const defaultBridge: Case = { net: 'bridge', addressed: true, pools: [{ family: 4, auto: false }] };
const host: Case = { net: 'host', addressed: false, pools: [] };
const none: Case = { net: 'none', addressed: false, pools: [] };
/** A user network whose subnet Berth picked. */
const autoSubnet: Case = { net: 'web', addressed: true, pools: [{ family: 4, auto: true }] };
/** A user network with --subnet. */
const userSubnet: Case = { net: 'web', addressed: true, pools: [{ family: 4, auto: false }] };
/** A user network with --subnet and --ipv6 --subnet. */
const dualStack: Case = {
  net: 'web6',
  addressed: true,
  pools: [
    { family: 4, auto: false },
    { family: 6, auto: false },
  ],
};
/** Dual stack, its IPv4 subnet picked by Berth. */
const dualStackAuto4: Case = {
  net: 'web6',
  addressed: true,
  pools: [
    { family: 4, auto: true },
    { family: 6, auto: false },
  ],
};

type Asked = Pick<JoinRequest, 'staticIPv4' | 'staticIPv6' | 'aliases'>;
const check = (c: Case, asked: Asked) =>
  checkJoin({ Name: c.net }, { addressed: c.addressed }, c.pools, asked);

function refused(c: Case, asked: Asked, message: string): void {
  assert.throws(
    () => check(c, asked),
    (e: unknown) => {
      assert.ok(hasCode(e, 'INVALID_ARGUMENT'), String(e));
      assert.equal((e as Error).message, message);
      return true;
    },
    `${c.net} ${JSON.stringify(asked)}`,
  );
}

describe('checkJoin: what a join refuses before writing anything', () => {
  it('accepts what every network allows', () => {
    for (const c of [defaultBridge, host, none, autoSubnet, userSubnet, dualStack]) {
      check(c, {});
      check(c, { aliases: [] });
    }
  });

  it('static addresses and aliases where the user configured the subnets', () => {
    check(userSubnet, { staticIPv4: '10.1.0.5', aliases: ['db'] });
    check(dualStack, { staticIPv4: '10.1.0.5', staticIPv6: 'fd00::5', aliases: ['db'] });
    check(autoSubnet, { aliases: ['db'] });
    // --ip6 needs only the IPv6 subnet to be the user's.
    check(dualStackAuto4, { staticIPv6: 'fd00::5' });
  });

  it('--ip on a network whose subnet Berth picked', () => {
    refused(autoSubnet, { staticIPv4: '172.18.0.5' }, ON_USER_SUBNETS);
    refused(dualStackAuto4, { staticIPv4: '172.18.0.5', staticIPv6: 'fd00::5' }, ON_USER_SUBNETS);
  });

  it('--ip6 on a user network without an IPv6 subnet', () => {
    refused(userSubnet, { staticIPv6: 'fd00::5' }, ON_USER_SUBNETS);
    refused(autoSubnet, { staticIPv6: 'fd00::5' }, ON_USER_SUBNETS);
  });

  it('--ip or --ip6 on the default bridge, host or none', () => {
    for (const c of [defaultBridge, host, none]) {
      refused(c, { staticIPv4: '172.17.0.5' }, ON_USER_NETWORKS);
      refused(c, { staticIPv6: 'fd00::5' }, ON_USER_NETWORKS);
    }
    // The default bridge with an IPv6 subnet (--ipv6 --fixed-cidr-v6) too.
    refused(
      { ...defaultBridge, pools: [...defaultBridge.pools, { family: 6, auto: false }] },
      { staticIPv6: 'fd00::5' },
      ON_USER_NETWORKS,
    );
  });

  it('a static address outside every subnet the network names', () => {
    const outside = (ip: string) =>
      `Invalid address ${ip}: It does not belong to any of this network's subnets`;
    const named: Case = {
      net: 'ov',
      addressed: true,
      pools: [
        { family: 4, subnet: '10.20.0.0/24' },
        { family: 4, subnet: '10.30.0.0/16', auto: false },
        { family: 6, subnet: 'fd00:1::/64', auto: false },
      ],
    };
    check(named, { staticIPv4: '10.20.0.5', staticIPv6: 'fd00:1::5' });
    check(named, { staticIPv4: '10.30.200.5' });
    refused(named, { staticIPv4: '10.21.0.5' }, outside('10.21.0.5'));
    refused(named, { staticIPv6: 'fd00:2::5' }, outside('fd00:2::5'));
    // IPAM's own words for a malformed one, and its decision while a subnet is not known.
    check(named, { staticIPv4: 'fd00:1::5' });
    check(
      { ...named, pools: [{ family: 4, subnet: '10.20.0.0/24' }, { family: 4 }] },
      { staticIPv4: '10.21.0.5' },
    );
  });

  it('--network-alias on the default bridge, host or none', () => {
    for (const c of [defaultBridge, host, none]) refused(c, { aliases: ['db'] }, ALIAS);
  });

  it("refuses in Docker's order: addresses before aliases, IPv6 before IPv4", () => {
    const all = { staticIPv4: '10.1.0.5', staticIPv6: 'fd00::5', aliases: ['db'] };
    refused(host, all, ON_USER_NETWORKS);
    refused(defaultBridge, { staticIPv4: '172.17.0.5', aliases: ['db'] }, ON_USER_NETWORKS);
    // IPv6 without its subnet is found before IPv4 on a picked subnet.
    refused(autoSubnet, all, ON_USER_SUBNETS);
  });
});
