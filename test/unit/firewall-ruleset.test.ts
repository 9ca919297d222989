// The firewall's command builders: exact batch texts, and validation that keeps
// anything a caller passes from becoming nft syntax.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  addBridgeBatch,
  addPortBatch,
  baseBatch,
  destroyBatch,
  removeBridgeBatch,
  removePortBatch,
  type BridgeSpec,
  type PortMapping,
  VXLAN_PORT,
} from '../../src/kernel/firewall/ruleset.js';

const berth0: BridgeSpec = { name: 'berth0', icc: true, masquerade: true, internal: false };

const BASE = `add table inet berth
add chain inet berth berth-user
add chain inet berth berth-user-input
add set inet berth bridges { type ifname; }
add set inet berth same-bridge { type ifname . ifname; }
add set inet berth icc { type ifname; }
add set inet berth internal { type ifname; }
add set inet berth masq4 { type ifname; }
add set inet berth masq6 { type ifname; }
add set inet berth control4 { type ipv4_addr . inet_service; }
add set inet berth control6 { type ipv6_addr . inet_service; }
add map inet berth ports4 { type inet_proto . inet_service : ipv4_addr . inet_service; }
add map inet berth ports-addr4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
add map inet berth ports6 { type inet_proto . inet_service : ipv6_addr . inet_service; }
add map inet berth ports-addr6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
add chain inet berth intra
flush chain inet berth intra
add rule inet berth intra ct status dnat meta mark set meta mark | 0x00002000 accept
add rule inet berth intra ct state established,related accept
add rule inet berth intra iifname @icc accept
add rule inet berth intra drop
add chain inet berth ports
flush chain inet berth ports
add rule inet berth ports dnat ip to ip daddr . meta l4proto . th dport map @ports-addr4
add rule inet berth ports dnat ip to meta l4proto . th dport map @ports4
add rule inet berth ports dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports-addr6
add rule inet berth ports dnat ip6 to meta l4proto . th dport map @ports6
add chain inet berth raw-prerouting { type filter hook prerouting priority raw; policy accept; }
flush chain inet berth raw-prerouting
add rule inet berth raw-prerouting iifname @bridges ip daddr 127.0.0.0/8 drop
add rule inet berth raw-prerouting iifname @bridges ip6 daddr ::1 drop
add chain inet berth to-host
flush chain inet berth to-host
add rule inet berth to-host jump berth-user-input
add rule inet berth to-host ct state established,related accept
add rule inet berth to-host meta l4proto { icmp, ipv6-icmp } accept
add rule inet berth to-host meta l4proto { tcp, udp } th dport 53 accept
add rule inet berth to-host drop
add chain inet berth input { type filter hook input priority filter; policy accept; }
flush chain inet berth input
add rule inet berth input iifname @bridges udp dport 4789 drop
add rule inet berth input iifname @bridges goto to-host
add chain inet berth forward { type filter hook forward priority filter; policy accept; }
flush chain inet berth forward
add rule inet berth forward jump berth-user
add rule inet berth forward iifname . oifname @same-bridge goto intra
add rule inet berth forward iifname @internal drop
add rule inet berth forward oifname @internal drop
add rule inet berth forward oifname @bridges ct state established,related accept
add rule inet berth forward oifname @bridges ct status dnat accept
add rule inet berth forward iifname @bridges oifname @bridges drop
add rule inet berth forward iifname @bridges udp dport 4789 drop
add rule inet berth forward iifname @bridges meta l4proto tcp ip daddr . th dport @control4 drop
add rule inet berth forward iifname @bridges meta l4proto tcp ip6 daddr . th dport @control6 drop
add rule inet berth forward iifname @bridges accept
add rule inet berth forward oifname @bridges drop
add chain inet berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
flush chain inet berth prerouting
add rule inet berth prerouting fib daddr type local jump ports
add chain inet berth output { type nat hook output priority -100; policy accept; }
flush chain inet berth output
add rule inet berth output meta nfproto ipv4 fib daddr type local jump ports
add rule inet berth output ip6 daddr != ::1 fib daddr type local jump ports
add chain inet berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
flush chain inet berth postrouting
add rule inet berth postrouting meta mark & 0x00002000 == 0x00002000 masquerade
add rule inet berth postrouting ip saddr 127.0.0.0/8 oifname @bridges masquerade
add rule inet berth postrouting iifname . oifname @same-bridge return
add rule inet berth postrouting iifname @masq4 meta nfproto ipv4 masquerade
add rule inet berth postrouting iifname @masq6 meta nfproto ipv6 masquerade
`;

const isInvalid = (fn: () => unknown, re?: RegExp) =>
  assert.throws(fn, (e: { code?: string; message?: string }) => {
    assert.equal(e.code, 'INVALID_ARGUMENT');
    if (re) assert.match(e.message ?? '', re);
    return true;
  });

describe('firewall base batch', () => {
  it('creates everything with add (never create), and refills only Berth chains', () => {
    const b = baseBatch();
    const lines = b.trimEnd().split('\n');
    assert.equal(lines[0], 'add table inet berth');
    assert.equal(lines[1], 'add chain inet berth berth-user');
    assert.equal(lines[2], 'add chain inet berth berth-user-input');
    assert.ok(!/^create /m.test(b), 'create fails when the object exists');
    assert.ok(
      !b.includes('flush chain inet berth berth-user'),
      'user chains must never be flushed',
    );
    assert.ok(!/flush (set|map|table)/.test(b), 'elements must survive ensureBase');
    assert.ok(!/^delete /m.test(b));
    // Every chain Berth owns is flushed right after its add, before its rules.
    for (const c of [
      'intra',
      'ports',
      'raw-prerouting',
      'to-host',
      'input',
      'forward',
      'prerouting',
      'output',
      'postrouting',
    ]) {
      const add = lines.findIndex((l) => l.startsWith(`add chain inet berth ${c}`));
      assert.ok(add > 0, c);
      assert.equal(lines[add + 1], `flush chain inet berth ${c}`);
    }
  });

  it('is exactly this ruleset', () => {
    assert.equal(baseBatch(), BASE);
  });

  it('keeps containers off the VXLAN port: to the host and through it, IPv4 and IPv6', () => {
    const rules = baseBatch()
      .split('\n')
      .filter((l) => l.includes(`udp dport ${VXLAN_PORT}`));
    // inet chains without a family match: both families.
    assert.deepEqual(rules, [
      'add rule inet berth input iifname @bridges udp dport 4789 drop',
      'add rule inet berth forward iifname @bridges udp dport 4789 drop',
    ]);
    const forward = baseBatch()
      .split('\n')
      .filter((l) => l.startsWith('add rule inet berth forward '));
    const at = (r: string) => forward.indexOf(`add rule inet berth forward ${r}`);
    // After the user's chain (it may let such traffic through) and before
    // what lets a bridge's traffic out; same-bridge traffic is not the host's.
    assert.ok(at('jump berth-user') < at('iifname @bridges udp dport 4789 drop'));
    assert.ok(
      at('iifname . oifname @same-bridge goto intra') < at('iifname @bridges udp dport 4789 drop'),
    );
    assert.ok(at('iifname @bridges udp dport 4789 drop') < at('iifname @bridges accept'));
    assert.equal(VXLAN_PORT, 4789);
  });

  it("keeps containers off the host's own services: the user's chain first, then answers, ICMP and DNS (decision 0040)", () => {
    const lines = baseBatch().split('\n');
    const input = lines.filter((l) => l.startsWith('add rule inet berth input '));
    // VXLAN first: the user's chain cannot let it through to the host.
    assert.deepEqual(input, [
      'add rule inet berth input iifname @bridges udp dport 4789 drop',
      'add rule inet berth input iifname @bridges goto to-host',
    ]);
    const toHost = lines.filter((l) => l.startsWith('add rule inet berth to-host '));
    assert.equal(toHost[0], 'add rule inet berth to-host jump berth-user-input');
    assert.equal(toHost.at(-1), 'add rule inet berth to-host drop');
    assert.ok(!toHost.some((l) => /dport (?!53\b)/.test(l)), 'no port but DNS is open');
  });

  it('takes another hairpin mark, and refuses a bad one', () => {
    assert.equal(baseBatch({ hairpinMark: 0x10000 }), BASE.replaceAll('0x00002000', '0x00010000'));
    for (const m of [0, -1, 1.5, 2 ** 32, NaN]) isInvalid(() => baseBatch({ hairpinMark: m }));
  });

  it("drops others' forwarding only when asked", () => {
    assert.ok(!baseBatch().includes('add rule inet berth forward drop\n'));
    assert.ok(
      baseBatch({ forwardOthers: 'drop' }).endsWith(
        'add rule inet berth forward oifname @bridges drop\nadd rule inet berth forward drop\n' +
          baseBatch().split('add rule inet berth forward oifname @bridges drop\n')[1],
      ),
    );
  });

  it('destroys idempotently', () => {
    assert.equal(destroyBatch(), 'add table inet berth\ndelete table inet berth\n');
  });
});

describe('firewall bridge batches', () => {
  it('adds a masquerading ICC bridge and makes sure it is in no other set', () => {
    assert.equal(
      addBridgeBatch(berth0),
      [
        'add element inet berth bridges { "berth0" }',
        'add element inet berth same-bridge { "berth0" . "berth0" }',
        'add element inet berth icc { "berth0" }',
        'add element inet berth masq4 { "berth0" }',
        'add element inet berth internal { "berth0" }',
        'delete element inet berth internal { "berth0" }',
        'add element inet berth masq6 { "berth0" }',
        'delete element inet berth masq6 { "berth0" }',
        '',
      ].join('\n'),
    );
  });

  it('gives an internal bridge no NAT, even when asked, and no ICC', () => {
    assert.equal(
      addBridgeBatch({
        name: 'br-0123456789ab',
        icc: false,
        masquerade: true,
        masquerade6: true,
        internal: true,
      }),
      [
        'add element inet berth bridges { "br-0123456789ab" }',
        'add element inet berth same-bridge { "br-0123456789ab" . "br-0123456789ab" }',
        'add element inet berth internal { "br-0123456789ab" }',
        'add element inet berth icc { "br-0123456789ab" }',
        'delete element inet berth icc { "br-0123456789ab" }',
        'add element inet berth masq4 { "br-0123456789ab" }',
        'delete element inet berth masq4 { "br-0123456789ab" }',
        'add element inet berth masq6 { "br-0123456789ab" }',
        'delete element inet berth masq6 { "br-0123456789ab" }',
        '',
      ].join('\n'),
    );
  });

  it('masquerades IPv6 only when asked', () => {
    const b = addBridgeBatch({ ...berth0, masquerade: false, masquerade6: true });
    assert.match(b, /^add element inet berth masq6 \{ "berth0" \}$/m);
    assert.match(b, /^delete element inet berth masq4 \{ "berth0" \}$/m);
  });

  it('removes every element a bridge can have, each as add+delete', () => {
    const b = removeBridgeBatch('berth0');
    const lines = b.trimEnd().split('\n');
    assert.equal(lines.length, 12);
    for (let i = 0; i < lines.length; i += 2) {
      assert.match(lines[i]!, /^add element /);
      assert.equal(lines[i + 1], lines[i]!.replace(/^add/, 'delete'));
    }
    for (const set of ['bridges', 'same-bridge', 'icc', 'internal', 'masq4', 'masq6']) {
      assert.ok(b.includes(`delete element inet berth ${set} {`), set);
    }
  });
});

describe('firewall port batches', () => {
  const m: PortMapping = {
    proto: 'tcp',
    hostPort: 8080,
    containerIp: '172.17.0.2',
    containerPort: 80,
  };

  it('uses the all-addresses map without a host IP or with 0.0.0.0', () => {
    const want = 'add element inet berth ports4 { tcp . 8080 : 172.17.0.2 . 80 }\n';
    assert.equal(addPortBatch(m), want);
    assert.equal(addPortBatch({ ...m, hostIp: '0.0.0.0' }), want);
    assert.equal(addPortBatch({ ...m, hostIp: '' }), want);
  });

  it('uses the per-address map with a host IP', () => {
    assert.equal(
      addPortBatch({ ...m, proto: 'udp', hostIp: '192.0.2.7' }),
      'add element inet berth ports-addr4 { 192.0.2.7 . udp . 8080 : 172.17.0.2 . 80 }\n',
    );
  });

  it('uses the IPv6 maps for an IPv6 container', () => {
    assert.equal(
      addPortBatch({ proto: 'sctp', hostPort: 99, containerIp: 'fd00::0:2', containerPort: 9 }),
      'add element inet berth ports6 { sctp . 99 : fd00::2 . 9 }\n',
    );
    assert.equal(
      addPortBatch({
        proto: 'tcp',
        hostIp: '2001:DB8::1',
        hostPort: 1,
        containerIp: 'fd00::2',
        containerPort: 65535,
      }),
      'add element inet berth ports-addr6 { 2001:db8::1 . tcp . 1 : fd00::2 . 65535 }\n',
    );
  });

  it('removes with add+delete by key', () => {
    assert.equal(
      removePortBatch(m),
      'add element inet berth ports4 { tcp . 8080 : 172.17.0.2 . 80 }\n' +
        'delete element inet berth ports4 { tcp . 8080 }\n',
    );
  });
});

describe('firewall input validation', () => {
  const bad = [
    '',
    'a'.repeat(16),
    'br"x',
    'br x',
    'br*',
    'br\\x',
    'a/b',
    'a:b',
    '.',
    '..',
    'br}\nflush ruleset',
    'é',
    'br;x',
    'x@y',
  ];
  for (const name of bad) {
    it(`rejects bridge name ${JSON.stringify(name)}`, () => {
      isInvalid(() => addBridgeBatch({ ...berth0, name }), /invalid bridge name/);
      isInvalid(() => removeBridgeBatch(name));
    });
  }

  it('accepts Docker-style names', () => {
    for (const name of [
      'berth0',
      'br-0123456789ab',
      'docker_gwbridge',
      'a.b-c_9',
      'x'.repeat(15),
    ]) {
      assert.doesNotThrow(() => addBridgeBatch({ ...berth0, name }));
    }
  });

  const m: PortMapping = {
    proto: 'tcp',
    hostPort: 8080,
    containerIp: '172.17.0.2',
    containerPort: 80,
  };
  const badPorts: [string, Partial<PortMapping>][] = [
    ['port 0', { hostPort: 0 }],
    ['port 65536', { hostPort: 65536 }],
    ['fractional port', { containerPort: 80.5 }],
    ['NaN port', { hostPort: NaN }],
    ['string port', { hostPort: '80 } ; flush ruleset' as unknown as number }],
    ['icmp', { proto: 'icmp' as 'tcp' }],
    ['proto injection', { proto: 'tcp . 1 : 1.1.1.1 . 1 }' as 'tcp' }],
    ['upper-case proto', { proto: 'TCP' as 'tcp' }],
    ['container hostname', { containerIp: 'web' }],
    ['container CIDR', { containerIp: '172.17.0.2/32' }],
    ['host IP injection', { hostIp: '1.2.3.4 . tcp . 1 : 1.1.1.1 . 1 }' }],
    ['family mismatch', { hostIp: '::1' }],
    ['v4 host for v6 container', { hostIp: '192.0.2.1', containerIp: 'fd00::2' }],
  ];
  for (const [what, patch] of badPorts) {
    it(`rejects a mapping with ${what}`, () => {
      isInvalid(() => addPortBatch({ ...m, ...patch }));
      isInvalid(() => removePortBatch({ ...m, ...patch }));
    });
  }

  it('treats :: as all addresses for an IPv6 container', () => {
    assert.equal(
      addPortBatch({
        proto: 'tcp',
        hostIp: '::',
        hostPort: 80,
        containerIp: 'fd00::2',
        containerPort: 80,
      }),
      'add element inet berth ports6 { tcp . 80 : fd00::2 . 80 }\n',
    );
  });
});
