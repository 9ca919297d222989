/** The container's /etc/hosts: extra hosts, and `host-gateway` as dockerd resolves it. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostsFor } from '../../src/containers/bundle.js';
import { parseFlags } from '../../src/daemon/flags.js';
import type { ContainerRecord } from '../../src/containers/types.js';

const c = (extra: string[]) =>
  ({
    Config: { Hostname: 'abc' },
    Networks: { bridge: { IPAddress: '172.17.0.2' } },
    HostConfig: { ExtraHosts: extra },
  }) as unknown as ContainerRecord;

describe('/etc/hosts', () => {
  it('writes extra hosts after the container, host-gateway as the given gateway', () => {
    const h = hostsFor(
      c(['db:10.0.0.5', 'host.docker.internal:host-gateway', 'v6:fe80::1']),
      [],
      '172.17.0.1',
    );
    const lines = h.trim().split('\n').slice(-4);
    assert.deepEqual(lines, [
      '172.17.0.2\tabc',
      '10.0.0.5\tdb',
      '172.17.0.1\thost.docker.internal',
      'fe80::1\tv6',
    ]);
  });

  it('refuses host-gateway when there is no gateway to name, with dockerd words', () => {
    assert.throws(
      () => hostsFor(c(['x:host-gateway']), []),
      /unable to derive the IP value for host-gateway/,
    );
  });

  it('takes --host-gateway-ip and refuses what is not an address', () => {
    assert.equal(parseFlags(['--host-gateway-ip', '192.0.2.7']).hostGatewayIp, '192.0.2.7');
    assert.throws(
      () => parseFlags(['--host-gateway-ip', 'gw']),
      /invalid argument "gw" for "--host-gateway-ip" flag/,
    );
  });
});
