/**
 * The CNI reference `bridge` plugin (Debian's containernetworking-plugins,
 * with `host-local` IPAM and `ipMasq`), exec'd the way every CNI runtime
 * (libcni: CRI-O, containerd's CRI, podman < 4) execs it: one process per
 * ADD/DEL, the network config on stdin, the container in CNI_* variables.
 * It runs in the lab host's namespace, and host-local keeps its leases under
 * the host's lab directory, so nothing lands on the machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../src/lab/lab.js';
import { timeOneshot, type OneshotSamples } from './oneshot.js';

/** Where Debian's package installs the plugins. */
export const CNI_PATH = '/usr/lib/cni';

function config(dataDir: string): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'benchcni',
    type: 'bridge',
    bridge: 'cnibench0',
    isGateway: true,
    ipMasq: true,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.88.0.0/24', gateway: '10.88.0.1' }]],
      routes: [{ dst: '0.0.0.0/0' }],
      dataDir,
    },
  });
}

/** Times ADD/DEL pairs of the bridge plugin on one container netns in `host`. */
export function measureCni(
  lab: Lab,
  host: LabHost,
  warmup: number,
  iterations: number,
  interrupted: () => boolean,
): OneshotSamples {
  const plugin = join(CNI_PATH, 'bridge');
  if (!existsSync(plugin)) {
    throw new Error(`${plugin} missing (apt-get install containernetworking-plugins)`);
  }
  const v = spawnSync(plugin, [], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' } });
  const version = `CNI bridge plugin, spec ${(JSON.parse(v.stdout || '{}') as { cniVersion?: string }).cniVersion ?? '?'}`;
  const dataDir = join(host.dir, 'cni-ipam');
  mkdirSync(dataDir, { recursive: true });
  const input = config(dataDir);
  return timeOneshot(lab, 'cni', version, warmup, iterations, interrupted, (cmd, netns) => {
    const r = spawnSync('nsenter', [`--net=${host.netns}`, '--', plugin], {
      input,
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        CNI_COMMAND: cmd === 'setup' ? 'ADD' : 'DEL',
        CNI_CONTAINERID: 'c'.repeat(64),
        CNI_NETNS: netns,
        CNI_IFNAME: 'eth0',
        CNI_PATH,
      },
    });
    if (r.status !== 0) throw new Error(`CNI bridge ${cmd}: ${r.status} ${r.stdout}${r.stderr}`);
  });
}
