// Noticing other programs' changes to Berth's table (nftables notifications,
// as byte fixtures), and the guard that restores the table from the daemon's
// state: on a notification, and when a change finds the table gone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NlWriter } from '../../src/kernel/netlink/codec.js';
import {
  ChangeTracker,
  NFT_MSG,
  kernelPid,
  nftMsgType,
} from '../../src/kernel/firewall/monitor.js';
import { MemoryFirewall, type FirewallState } from '../../src/kernel/firewall/index.js';
import { FirewallGuard } from '../../src/network/firewall-guard.js';

const INET = 1;
const IP = 2;
const OWN = 4242;

const str = (s: string) => Buffer.from(s + '\0');
const be32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** One notification: nfgenmsg (family) and the table (and chain) attributes. */
function event(msg: number, table: string, family = INET, chain?: string): Buffer {
  const w = new NlWriter(nftMsgType(msg), 0, Buffer.from([family, 0, 0, 0]));
  w.attr(1, str(table));
  if (chain !== undefined) w.attr(2, str(chain));
  return w.finish();
}

/** The end of a transaction: the new generation, committed by `pid`. */
function gen(pid: number): Buffer {
  const w = new NlWriter(nftMsgType(NFT_MSG.NEWGEN), 0, Buffer.from([0, 0, 0, 7]));
  w.attr(1, be32(7));
  w.attr(2, be32(pid));
  w.attr(3, str('nft'));
  return w.finish();
}

const tracker = () =>
  new ChangeTracker({ family: INET, table: 'berth', ignoreRulesOf: ['berth-user'], ownPid: OWN });

describe('nftables change tracker', () => {
  it('reports a flush of the ruleset by another process once, at its new generation', () => {
    const t = tracker();
    // `nft flush ruleset`: rules, sets, chains, the table, then the generation.
    assert.equal(t.feed(event(NFT_MSG.DELRULE, 'berth', INET, 'forward')), false);
    assert.equal(t.feed(event(NFT_MSG.DELSET, 'berth')), false);
    assert.equal(t.feed(event(NFT_MSG.DELTABLE, 'berth')), false);
    assert.equal(t.feed(gen(999)), true);
    assert.equal(t.feed(gen(999)), false, 'an empty transaction is nothing');
  });

  it('reads several messages in one datagram', () => {
    const t = tracker();
    assert.equal(t.feed(Buffer.concat([event(NFT_MSG.DELCHAIN, 'berth'), gen(1)])), true);
  });

  it("ignores the daemon's own transactions", () => {
    const t = tracker();
    t.feed(event(NFT_MSG.DELSETELEM, 'berth'));
    assert.equal(t.feed(gen(OWN)), false);
    // ... and does not carry them into the next one.
    t.feed(event(NFT_MSG.NEWRULE, 'filter', IP));
    assert.equal(t.feed(gen(999)), false);
  });

  it('knows itself by the id of the initial PID namespace', () => {
    // berthd in a PID namespace: the kernel reports 4242, process.pid is 7.
    const status = 'Name:\tberthd\nPid:\t7\nNSpid:\t4242\t7\nPPid:\t1\n';
    assert.equal(kernelPid(status), 4242);
    assert.equal(kernelPid('Name:\tx\nPid:\t9\n'), process.pid);
    // Here, outside any PID namespace, both agree.
    assert.equal(kernelPid(), process.pid);
  });

  it('ignores other tables, other families and rules in the user chain', () => {
    const t = tracker();
    t.feed(event(NFT_MSG.DELTABLE, 'filter'));
    t.feed(event(NFT_MSG.DELTABLE, 'berth', IP));
    t.feed(event(NFT_MSG.NEWRULE, 'berth', INET, 'berth-user'));
    t.feed(event(NFT_MSG.DELRULE, 'berth', INET, 'berth-user'));
    assert.equal(t.feed(gen(999)), false);
    t.feed(event(NFT_MSG.NEWRULE, 'berth', INET, 'forward'));
    assert.equal(t.feed(gen(999)), true, 'a rule added to a chain of Berth’s');
  });

  it('forgets a transaction whose notifications were lost', () => {
    const t = tracker();
    t.feed(event(NFT_MSG.DELTABLE, 'berth'));
    t.reset();
    assert.equal(t.feed(gen(999)), false);
  });
});

describe('firewall guard', () => {
  const state: FirewallState = {
    bridges: [{ name: 'berth0', icc: true, masquerade: true, internal: false }],
    ports: [{ proto: 'tcp', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80 }],
  };
  const quiet = { warn() {}, error() {}, debug() {} };

  function setup() {
    const fw = new MemoryFirewall();
    const want: FirewallState = { bridges: [...state.bridges], ports: [] };
    const guard = new FirewallGuard(fw, () => want, quiet);
    guard.ensureBase();
    guard.addBridge(state.bridges[0]!);
    guard.addPortMapping(state.ports[0]!);
    want.ports.push(state.ports[0]!);
    return { fw, guard, want };
  }

  it('restores the table from the daemon’s state when another program deleted it', () => {
    const { fw, guard } = setup();
    assert.equal(guard.check(), false);
    fw.deletedByOthers();
    assert.deepEqual(fw.dump(), { bridges: [], ports: [] });
    assert.equal(guard.check(), true);
    assert.deepEqual(fw.dump().ports, state.ports);
    assert.deepEqual(
      fw.dump().bridges.map((b) => b.name),
      ['berth0'],
    );
  });

  it('restores and retries a change that finds the table gone', () => {
    const { fw, guard, want } = setup();
    fw.deletedByOthers();
    const m = { proto: 'udp' as const, hostPort: 53, containerIp: '172.17.0.3', containerPort: 53 };
    guard.addPortMapping(m);
    want.ports.push(m);
    assert.deepEqual(fw.dump().ports.length, 2);
    fw.deletedByOthers();
    guard.removeBridge('br-gone');
    assert.deepEqual(
      fw.dump().bridges.map((b) => b.name),
      ['berth0'],
    );
  });

  it('passes other errors through', () => {
    const { guard } = setup();
    assert.throws(
      () =>
        guard.addPortMapping({
          proto: 'tcp',
          hostPort: 8080,
          containerIp: '172.17.0.9',
          containerPort: 80,
        }),
      { code: 'CONFLICT' },
    );
  });
});
