/** The stock docker CLI and berth against one host's berthd of a cluster lab. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';

/**
 * `client(bin, h, args)` runs `bin` against host h's daemon (1-based) and
 * returns its stdout, failing the test on a non-zero exit; `docker(h, args)`
 * is the docker CLI's trimmed output. `lab` is read at call time (labs are
 * made in `before`).
 */
export function clusterClients(lab: () => Lab, daemons: readonly LabDaemon[]) {
  const client = (bin: string, h: number, args: string[]): string => {
    const d = daemons[h - 1]!;
    const r = spawnSync(bin, args, {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        DOCKER_HOST: d.env.DOCKER_HOST,
        BERTH_HOST: d.env.DOCKER_HOST,
        DOCKER_CONFIG: `${lab().dir}/docker-config`,
      },
    });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    return r.stdout;
  };
  const docker = (h: number, args: string[]): string => client('docker', h, args).trim();
  return { client, docker };
}

/**
 * The scene of the cluster e2e tests: a 2-host cluster lab named
 * `<prefix><random>` (handed to `setLab` at once, for teardown), berthd on
 * both (pushed to `daemons`), an overlay `demo` with `app` on host 1 and
 * `db` on host 2. Returns the overlay's namespace path on each host.
 */
export async function appDbCluster(
  prefix: string,
  daemons: LabDaemon[],
  setLab: (lab: Lab) => void,
): Promise<[string, string]> {
  const lab = await Lab.create({
    name: `${prefix}${randomBytes(2).toString('hex')}`,
    hosts: 2,
    cluster: true,
  });
  setLab(lab);
  for (const h of [1, 2] as const) {
    daemons.push(await lab.startDaemon(h, { args: lab.clusterArgs(h), timeoutMs: 30_000 }));
  }
  const { docker } = clusterClients(() => lab, daemons);
  docker(1, ['network', 'create', '-d', 'overlay', 'demo']);
  docker(1, ['run', '-d', '--name', 'app', '--network', 'demo', 'busybox', 'sleep', '3600']);
  docker(2, ['run', '-d', '--name', 'db', '--network', 'demo', 'busybox', 'sleep', '3600']);
  const id = docker(1, ['network', 'inspect', '-f', '{{.Id}}', 'demo']).slice(0, 12);
  const path = (d: LabDaemon) => join(d.execRoot, 'overlay', `ov-${id}`);
  return [path(daemons[0]!), path(daemons[1]!)];
}
