// What a host accepts from the cluster store (decision 0047): Berth's own
// records, and nothing that would reach the wrong driver, the firewall or
// the kernel with a bad address.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAll,
  decodeApplied,
  decodeEndpoint,
  decodeNetwork,
  decodeNode,
  decoded,
  nodeAddress,
} from '../../src/cluster/decode.js';
import { GLOBAL_ENDPOINTS, GLOBAL_NETWORKS, GlobalNetworks } from '../../src/cluster/networks.js';
import { NODES } from '../../src/cluster/nodes.js';
import { createLogger } from '../../src/common/log.js';
import { tempStores } from '../helpers/temp-store.js';
import { hasCode } from '../../src/common/errors.js';

const ID = 'ab'.repeat(32);
const network = {
  Name: 'ov1',
  Id: ID,
  Created: '2026-12-08T00:00:00.000Z',
  Scope: 'global',
  Driver: 'overlay',
  EnableIPv4: true,
  EnableIPv6: false,
  IPAM: {
    Driver: 'default',
    Options: null,
    Config: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }],
  },
  Internal: false,
  Attachable: true,
  Ingress: false,
  ConfigFrom: { Network: '' },
  ConfigOnly: false,
  Options: { 'com.docker.network.driver.mtu': '1400' },
  Labels: {},
  berth: { vni: 256, autoSubnet: true },
};
const endpoint = {
  Id: 'e'.repeat(64),
  NetworkID: ID,
  ContainerID: 'c'.repeat(64),
  Name: 'web',
  Aliases: ['w'],
  IPv4: '10.0.0.2',
  PrefixLen: 24,
  Mac: '02:42:0a:00:00:02',
  Node: '192.168.205.10:2375',
  Vtep: '192.168.205.10',
  NameHeld: true,
};
const EPKEY = `${ID}/${'e'.repeat(64)}`;
const with_ = (base: object, over: Record<string, unknown>) => JSON.stringify({ ...base, ...over });

describe('cluster store records (decision 0047)', () => {
  it("takes Berth's own records as they are", () => {
    assert.deepEqual(decodeNetwork(ID, JSON.stringify(network)), network);
    assert.deepEqual(decodeEndpoint(EPKEY, JSON.stringify(endpoint)), endpoint);
    const node = {
      Addr: '192.168.205.10:2375',
      Name: 'node1',
      ID: 'X',
      Version: '1',
      StartedAt: 't',
    };
    assert.deepEqual(decodeNode(node.Addr, JSON.stringify(node)), node);
    assert.equal(decodeApplied('192.168.205.10:2375', '42'), 42);
  });

  for (const [what, raw, reason] of [
    ['null', 'null', /not a JSON object/],
    ['not JSON', 'junk', /not JSON/],
    ['a bridge', with_(network, { Driver: 'bridge' }), /Driver is "bridge"/],
    [
      "a bridge named after the host's",
      JSON.stringify({ Id: ID, Name: 'x', Driver: 'bridge', Options: {} }),
      /Scope is undefined|Driver/,
    ],
    ['a local scope', with_(network, { Scope: 'local' }), /Scope is "local"/],
    ['another ID', with_(network, { Id: 'cd'.repeat(32) }), /not its key/],
    ['VXLAN ID 0', with_(network, { berth: { vni: 0 } }), /berth.vni 0/],
    ['a VXLAN ID as text', with_(network, { berth: { vni: '300' } }), /berth.vni/],
    ['a VXLAN ID past 24 bits', with_(network, { berth: { vni: 1 << 24 } }), /berth.vni/],
    ['no IPAM', with_(network, { IPAM: undefined }), /IPAM.Config has no subnet/],
    [
      'an IPv6 subnet',
      with_(network, { IPAM: { Config: [{ Subnet: 'fd00::/64' }] } }),
      /no IPv4 subnet/,
    ],
    [
      'a gateway outside its subnet',
      with_(network, { IPAM: { Config: [{ Subnet: '10.0.0.0/24', Gateway: '10.9.0.1' }] } }),
      /Gateway "10.9.0.1"/,
    ],
    ['Options of numbers', with_(network, { Options: { mtu: 1 } }), /Options.mtu/],
    [
      'auxiliary addresses that are not a map of addresses in the subnet',
      with_(network, {
        IPAM: { Config: [{ Subnet: '10.0.0.0/24', AuxiliaryAddresses: { a: '10.1.0.1' } }] },
      }),
      /AuxiliaryAddresses.a "10.1.0.1"/,
    ],
    [
      'auxiliary addresses of the wrong type',
      with_(network, { IPAM: { Config: [{ Subnet: '10.0.0.0/24', AuxiliaryAddresses: 'x' }] } }),
      /AuxiliaryAddresses/,
    ],
    [
      'a range outside its subnet',
      with_(network, { IPAM: { Config: [{ Subnet: '10.0.0.0/24', IPRange: '10.0.0.0/16' }] } }),
      /IPRange "10.0.0.0\/16"/,
    ],
  ] as const) {
    it(`refuses a network record: ${what}`, () => {
      assert.throws(() => decodeNetwork(ID, raw), reason);
    });
  }

  for (const [what, over, reason] of [
    ['a MAC that is not one', { Mac: 'zz' }, /Mac "zz"/],
    ['a multicast MAC', { Mac: '01:00:5e:00:00:01' }, /unicast/],
    ['an IPv6 text as IPv4', { IPv4: 'fe80::1' }, /IPv4 "fe80::1"/],
    ['a prefix length of 33', { PrefixLen: 33 }, /PrefixLen 33/],
    ['a node that is no address', { Node: '\ud800' }, /Node/],
    ['a VXLAN source that is a name', { Vtep: 'host1' }, /Vtep "host1"/],
    ['another network', { NetworkID: 'cd'.repeat(32) }, /not its key/],
    ['a network ID with a slash', { NetworkID: `${ID}/x` }, /no network ID/],
    ['no container', { ContainerID: '' }, /ContainerID is empty/],
    ['aliases of numbers', { Aliases: [1] }, /Aliases/],
  ] as const) {
    it(`refuses an endpoint record: ${what}`, () => {
      assert.throws(() => decodeEndpoint(EPKEY, with_(endpoint, over)), reason);
    });
  }

  it('keeps only the fields Docker shows: a typed field another writer added goes', () => {
    const got = decodeNetwork(ID, with_(network, { Peers: 1, Containers: 'x' }));
    assert.deepEqual(got, network);
  });

  it('refuses a node or report whose key is no host address, and a report that is no revision', () => {
    assert.throws(() => decodeNode('junk', '{}'), /no host address/);
    assert.throws(() => decodeNode('10.0.0.1:2375', '{"Addr":"10.0.0.2:2375"}'), /not its key/);
    assert.throws(() => decodeApplied('10.0.0.1:2375', '-1'), /not a revision/);
    assert.throws(() => decodeApplied('10.0.0.1:2375', '"7"'), /not a revision/);
    assert.throws(() => decodeApplied('10.0.0.1:2375', 'x'), /not JSON/);
    assert.deepEqual(nodeAddress('[fd00::1]:2375'), { ip: 'fd00::1', port: 2375 });
    assert.deepEqual(nodeAddress('fd00::1'), { ip: 'fd00::1' });
    assert.deepEqual(nodeAddress('10.0.0.1'), { ip: '10.0.0.1' });
    assert.equal(nodeAddress('10.0.0.1:0'), undefined);
    assert.equal(nodeAddress('eth0:2375'), undefined);
  });

  it('names the key of a bad record read for an operation; leaves bad ones out of a list', () => {
    const e = (() => {
      try {
        decoded(decodeNetwork, 'networks/by-id/', `networks/by-id/${ID}`, 'null');
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    assert.ok(hasCode(e, 'INTERNAL'));
    assert.match(
      String(e),
      new RegExp(`the record at networks/by-id/${ID} is not one Berth can use`),
    );
    const got = decodeAll(
      [
        { key: `endpoints/${EPKEY}`, value: 'null', modRevision: 1, createRevision: 1, version: 1 },
        {
          key: `endpoints/${EPKEY}`,
          value: JSON.stringify(endpoint),
          modRevision: 2,
          createRevision: 2,
          version: 1,
        },
      ],
      'endpoints/',
      decodeEndpoint,
    );
    assert.deepEqual(got, [endpoint]);
  });

  const store = tempStores('decode');
  for (const [node, vtep] of [
    ['10.0.0.9', '10.0.0.9'],
    ['10.0.0.9:2375', '10.0.0.9'],
    ['[fd00::9]:2375', 'fd00::9'],
    ['fd00::9', 'fd00::9'],
  ] as const) {
    it(`reads back what Berth writes, with --cluster-advertise ${node}`, async () => {
      const kv = await store();
      const log = createLogger('error');
      const g = await GlobalNetworks.open(kv, log, { node, vtep });
      try {
        await kv.put(
          NODES + node,
          JSON.stringify({ Addr: node, Name: 'h', ID: 'X', Version: '1', StartedAt: 't' }),
        );
        const net = await g.create({
          Name: 'ov',
          Driver: 'overlay',
          Internal: true,
          Attachable: true,
          Options: { 'com.docker.network.driver.mtu': '1400' },
          Labels: { a: 'b' },
          IPAM: {
            Driver: 'default',
            Options: null,
            Config: [
              {
                Subnet: '10.9.0.0/24',
                IPRange: '10.9.0.128/25',
                Gateway: '10.9.0.1',
                AuxiliaryAddresses: { r: '10.9.0.2' },
              },
            ],
          },
        });
        await g.attach({ networkId: net.Id, id: 'e1', containerId: 'c1', name: '', aliases: [] });
        for (const e of await kv.list(GLOBAL_NETWORKS)) {
          const key = e.key.slice(GLOBAL_NETWORKS.length);
          assert.deepEqual(decodeNetwork(key, e.value), JSON.parse(e.value));
        }
        const eps = await kv.list(GLOBAL_ENDPOINTS);
        assert.equal(eps.length, 1);
        for (const e of eps) {
          const key = e.key.slice(GLOBAL_ENDPOINTS.length);
          assert.deepEqual(decodeEndpoint(key, e.value), JSON.parse(e.value));
        }
        const n = (await kv.get(NODES + node))!;
        assert.deepEqual(decodeNode(node, n.value), JSON.parse(n.value));
        assert.equal(decodeApplied(node, '7'), 7);
      } finally {
        g.close();
        await kv.close();
      }
    });
  }
});
