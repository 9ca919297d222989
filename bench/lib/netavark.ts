/**
 * netavark 1.4 (Debian's, as podman runs it) driven the way podman drives it:
 * one process per `setup`/`teardown`, network options as JSON on stdin, run in
 * the lab host's network namespace so its bridge and firewall rules stay there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../src/lab/lab.js';

/** Where Debian's `netavark` package installs the binary. */
export const NETAVARK = '/usr/lib/podman/netavark';

/** setup and teardown samples in ms. */
export interface NetavarkSamples {
  /** `netavark setup <netns>` (whole process). */
  setup: number[];
  /** `netavark teardown <netns>` (whole process). */
  teardown: number[];
  /** netavark's version line. */
  version: string;
}

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
  const name = `${lab.name}-nvc`;
  const config = join(host.dir, 'netavark');
  mkdirSync(config, { recursive: true });
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${name}: ${add.stderr}`);
  const out: NetavarkSamples = { setup: [], teardown: [], version };
  const input = options(name);
  const invoke = (cmd: 'setup' | 'teardown'): number => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(
      'nsenter',
      [`--net=${host.netns}`, '--', NETAVARK, '--config', config, cmd, `/run/netns/${name}`],
      { input, encoding: 'utf8', timeout: 30_000 },
    );
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`netavark ${cmd}: ${r.status} ${r.stderr}${r.stdout}`);
    return ms;
  };
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      if (interrupted()) throw new Error('interrupted');
      const s = invoke('setup');
      const t = invoke('teardown');
      if (i >= warmup) {
        out.setup.push(s);
        out.teardown.push(t);
      }
    }
  } finally {
    spawnSync('ip', ['netns', 'del', name]);
  }
  return out;
}
