// Reading Berth's elements from libnftables' JSON (shapes captured from
// nftables 1.0.6) and diffing them against the desired state.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  addBridgeBatch,
  addPortBatch,
  controlBatch,
  type BridgeSpec,
  type PortMapping,
} from '../../src/kernel/firewall/ruleset.js';
import {
  desiredElements,
  diffCommands,
  parseDump,
  stateFromElements,
  type FirewallState,
} from '../../src/kernel/firewall/state.js';

const set = (name: string, type: unknown, elem?: unknown[]) => ({
  set: { family: 'inet', name, table: 'berth', type, handle: 3, ...(elem ? { elem } : {}) },
});
const map = (name: string, type: unknown, data: string, elem?: unknown[]) => ({
  map: {
    family: 'inet',
    name,
    table: 'berth',
    type,
    handle: 9,
    map: data,
    ...(elem ? { elem } : {}),
  },
});

const DUMP = {
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'berth', handle: 1 } },
    { chain: { family: 'inet', table: 'berth', name: 'berth-user', handle: 2 } },
    { chain: { family: 'inet', table: 'berth', name: 'intra', handle: 4 } },
    { rule: { family: 'inet', table: 'berth', chain: 'intra', handle: 5, expr: [{ drop: null }] } },
    { rule: { family: 'inet', table: 'berth', chain: 'intra', handle: 6, expr: [{ drop: null }] } },
    // A wildcard is not a name Berth writes: reported, never touched.
    set('bridges', 'ifname', ['berth0', 'br-aa', 'br*']),
    set(
      'same-bridge',
      ['ifname', 'ifname'],
      [{ concat: ['berth0', 'berth0'] }, { concat: ['br-aa', 'br-aa'] }],
    ),
    set('icc', 'ifname', ['berth0']),
    set('internal', 'ifname', ['br-aa']),
    set('masq4', 'ifname', ['berth0', 'br-aa']),
    set('masq6', 'ifname'),
    set('control4', ['ipv4_addr', 'inet_service'], [{ concat: ['192.168.205.11', 2375] }]),
    set('control6', ['ipv6_addr', 'inet_service'], [{ concat: ['fd00:0::11', 2379] }]),
    map('ports4', ['inet_proto', 'inet_service'], 'ipv4_addr . inet_service', [
      [{ concat: ['tcp', 8080] }, { concat: ['172.17.0.2', 80] }],
      {
        elem: {
          val: [{ concat: ['udp', 53] }, { concat: ['172.17.0.3', 53] }],
          counter: { packets: 0, bytes: 0 },
        },
      },
    ]),
    map('ports-addr4', ['ipv4_addr', 'inet_proto', 'inet_service'], 'ipv4_addr . inet_service', [
      [{ concat: ['192.0.2.7', 'sctp', 99] }, { concat: ['172.17.0.4', 9] }],
    ]),
    map('ports6', ['inet_proto', 'inet_service'], 'ipv6_addr . inet_service', [
      [{ concat: ['tcp', 80] }, { concat: ['fd00:0::2', 8080] }],
    ]),
    // ports-addr6 is missing: ensureBase would add it.
    // A set of the user's own in Berth's table is not Berth's business.
    set('mine', 'ipv4_addr', ['192.0.2.1']),
  ],
};

const berth0: BridgeSpec = {
  name: 'berth0',
  icc: true,
  masquerade: true,
  masquerade6: false,
  internal: false,
};
const brAa: BridgeSpec = {
  name: 'br-aa',
  icc: false,
  masquerade: false,
  masquerade6: false,
  internal: true,
};
const ports: PortMapping[] = [
  { proto: 'tcp', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80 },
  { proto: 'udp', hostPort: 53, containerIp: '172.17.0.3', containerPort: 53 },
  { proto: 'tcp', hostPort: 80, containerIp: 'fd00::2', containerPort: 8080 },
  {
    proto: 'sctp',
    hostIp: '192.0.2.7',
    hostPort: 99,
    containerIp: '172.17.0.4',
    containerPort: 9,
  },
];
const control = [
  { ip: '192.168.205.11', port: 2375 },
  { ip: 'fd00::11', port: 2379 },
];
const text = (e: { set: string; key: string; value?: string }) =>
  `add element inet berth ${e.set} { ${e.key}${e.value ? ` : ${e.value}` : ''} }`;

describe('firewall dump parsing', () => {
  const d = parseDump(DUMP);

  it('finds the table, the missing set and the elements Berth cannot express', () => {
    assert.equal(d.present, true);
    assert.deepEqual(d.missingSets, ['ports-addr6']);
    assert.deepEqual(d.foreign, [{ set: 'bridges', elem: 'br*' }]);
    assert.ok(!d.elements.some((e) => (e.set as string) === 'mine'));
  });

  it('counts the rules of each chain (an edited chain is rewritten)', () => {
    assert.deepEqual(d.chains, { 'berth-user': 0, intra: 2 });
  });

  it('reads elements in exactly the text the builders write', () => {
    const dumped = new Set(d.elements.map(text));
    assert.ok(dumped.has('add element inet berth ports6 { tcp . 80 : fd00::2 . 8080 }'));
    assert.ok(dumped.has('add element inet berth ports4 { udp . 53 : 172.17.0.3 . 53 }'));
    const adds = [addBridgeBatch(berth0), ...ports.map(addPortBatch), controlBatch(control, [])]
      .join('')
      .split('\n');
    // Lines followed by their delete are the "make sure it is absent" pairs.
    const wanted = adds.filter(
      (l, i) => l.startsWith('add element') && !adds[i + 1]?.startsWith('delete'),
    );
    for (const l of wanted) assert.ok(dumped.has(l), l);
  });

  it('rebuilds bridges, ports and the control plane', () => {
    const s = stateFromElements(d.elements);
    assert.deepEqual(s.bridges, [berth0, { ...brAa, masquerade: true }]);
    assert.deepEqual(s.ports, ports);
    assert.deepEqual(s.control, control);
    assert.equal(stateFromElements([]).control, undefined, 'none: no field');
  });

  it('reports an absent table and rejects unknown documents', () => {
    assert.deepEqual(parseDump({ nftables: [{ metainfo: {} }] }), {
      present: false,
      elements: [],
      missingSets: [],
      foreign: [],
      chains: {},
    });
    assert.throws(() => parseDump({}), /nftables/);
  });
});

describe('firewall diff', () => {
  const actual = parseDump(DUMP).elements;

  it('touches only the stray element, and nothing once the kernel matches', () => {
    const want = desiredElements({ bridges: [berth0, brAa], ports, control });
    // br-aa is internal: Docker gives internal networks no NAT.
    const del = 'delete element inet berth masq4 { "br-aa" }';
    assert.deepEqual(diffCommands(want, actual), [del]);
    const fixed = actual.filter((e) => !(e.set === 'masq4' && e.key === '"br-aa"'));
    assert.deepEqual(diffCommands(want, fixed), []);
  });

  it('deletes what the store does not know and adds what is missing or different', () => {
    const want: FirewallState = {
      bridges: [{ ...berth0, icc: false, masquerade6: true }],
      ports: [{ ...ports[0]!, containerIp: '172.17.0.9' }, ports[1]!],
    };
    assert.deepEqual(diffCommands(desiredElements(want), actual), [
      'delete element inet berth bridges { "br-aa" }',
      'delete element inet berth same-bridge { "br-aa" . "br-aa" }',
      'delete element inet berth icc { "berth0" }',
      'delete element inet berth internal { "br-aa" }',
      'delete element inet berth masq4 { "br-aa" }',
      'delete element inet berth control4 { 192.168.205.11 . 2375 }',
      'delete element inet berth control6 { fd00::11 . 2379 }',
      'delete element inet berth ports4 { tcp . 8080 }',
      'delete element inet berth ports-addr4 { 192.0.2.7 . sctp . 99 }',
      'delete element inet berth ports6 { tcp . 80 }',
      'add element inet berth masq6 { "berth0" }',
      'add element inet berth ports4 { tcp . 8080 : 172.17.0.9 . 80 }',
    ]);
  });

  it('validates the desired state', () => {
    assert.throws(() => desiredElements({ bridges: [{ ...berth0, name: 'x"y' }], ports: [] }), {
      code: 'INVALID_ARGUMENT',
    });
    for (const bad of [
      { ip: 'etcd1', port: 2379 },
      { ip: '10.0.0.1', port: 0 },
    ]) {
      assert.throws(() => desiredElements({ bridges: [], ports: [], control: [bad] }), {
        code: 'INVALID_ARGUMENT',
      });
    }
  });
});
