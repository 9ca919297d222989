/**
 * netavark 1.4 (Debian's, as podman runs it) driven the way podman drives it:
 * one process per `setup`/`teardown`, network options as JSON on stdin, run in
 * the lab host's network namespace so its bridge and firewall rules stay there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../src/lab/lab.js';
import { timeOneshot, type OneshotSamples } from './oneshot.js';

/** Where Debian's `netavark` package installs the binary. */
export const NETAVARK = '/usr/lib/podman/netavark';

/** setup and teardown samples in ms. */
export type NetavarkSamples = OneshotSamples;

function options(netnsName: string): string {
  const net = 'benchnet';
  return JSON.stringify({
    container_id: 'f'.repeat(64),
    container_name: netnsName,
    networks: { [net]: { interface_name: 'eth0', static_ips: ['10.89.0.2'] } },
    network_info: {
      [net]: {
        dns_enabled: false,
        driver: 'bridge',
        id: 'e'.repeat(64),
        internal: false,
        ipv6_enabled: false,
        name: net,
        network_interface: 'nvbench0',
        subnets: [{ gateway: '10.89.0.1', subnet: '10.89.0.0/24' }],
      },
    },
  });
}

/**
 * Times `iterations` setup/teardown pairs (after `warmup`) on one container
 * netns, made with `ip netns add` and always deleted again.
 */
export function measureNetavark(
  lab: Lab,
  host: LabHost,
  warmup: number,
  iterations: number,
  interrupted: () => boolean,
): NetavarkSamples {
  if (!existsSync(NETAVARK)) throw new Error(`${NETAVARK} missing (apt-get install netavark)`);
  const version = spawnSync(NETAVARK, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const config = join(host.dir, 'netavark');
  mkdirSync(config, { recursive: true });
  const input = options(`${lab.name}-nvc`);
  return timeOneshot(lab, 'nvc', version, warmup, iterations, interrupted, (cmd, netns) => {
    const r = spawnSync(
      'nsenter',
      [`--net=${host.netns}`, '--', NETAVARK, '--config', config, cmd, netns],
      { input, encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0) throw new Error(`netavark ${cmd}: ${r.status} ${r.stderr}${r.stdout}`);
  });
}
