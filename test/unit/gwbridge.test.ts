// The gateway bridge's rule (libnetwork's needDefaultGW) and its making by
// the controller, without root (test/helpers/fake-network.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GWBRIDGE, needsGatewayBridge } from '../../src/network/gwbridge.js';
import { newNetworkRecord } from '../../src/network/records.js';
import type { NetworkRecord } from '../../src/network/types.js';
import { fakeWorld } from '../helpers/fake-network.js';

const net = (name: string, driver: string, internal = false): NetworkRecord => ({
  ...newNetworkRecord(name, driver),
  Internal: internal,
});
const overlay = net('ov', 'overlay');

describe('needsGatewayBridge', () => {
  it('wants it for a non-internal overlay without a bridge network', () => {
    assert.equal(needsGatewayBridge([overlay]), true);
    assert.equal(needsGatewayBridge([overlay, net('ov2', 'overlay', true)]), true);
    assert.equal(needsGatewayBridge([overlay, net(GWBRIDGE, 'bridge')]), true);
  });
  it('not when a bridge network gives the default route, or only internal ones', () => {
    assert.equal(needsGatewayBridge([overlay, net('lbr', 'bridge')]), false);
    assert.equal(needsGatewayBridge([net('lbr', 'bridge'), overlay]), false);
    assert.equal(needsGatewayBridge([net('ovi', 'overlay', true)]), false);
    assert.equal(needsGatewayBridge([net('none', 'null')]), false);
    assert.equal(needsGatewayBridge([]), false);
  });
  it('an internal bridge gives no route: the overlay still needs it', () => {
    assert.equal(needsGatewayBridge([net('ib', 'bridge', true), overlay]), true);
  });
});

describe('the controller makes the gateway bridge once', () => {
  it("with Docker's options, the next local pool, and no DNS", async () => {
    const w = await fakeWorld();
    try {
      const [a, b] = await Promise.all([
        w.controller.gatewayBridge(),
        w.controller.gatewayBridge(),
      ]);
      assert.equal(a.Id, b.Id);
      assert.equal(w.controller.list().filter((n) => n.Name === GWBRIDGE).length, 1);
      assert.equal(a.Options['com.docker.network.bridge.enable_icc'], 'false');
      assert.equal(a.Options['com.docker.network.bridge.enable_ip_masquerade'], 'true');
      assert.equal(a.IPAM.Config[0]?.Subnet, '172.18.0.0/16');
      assert.equal(w.controller.servesDns(a), false);
      assert.equal((await w.controller.gatewayBridge()).Id, a.Id, 'found, not made again');
    } finally {
      await w.close();
    }
  });
  it("uses the user's own network of that name", async () => {
    const w = await fakeWorld();
    try {
      const { Id } = await w.controller.createNetwork({
        Name: GWBRIDGE,
        IPAM: { Config: [{ Subnet: '10.50.0.0/16' }] },
      });
      assert.equal((await w.controller.gatewayBridge()).Id, Id);
    } finally {
      await w.close();
    }
  });
});
