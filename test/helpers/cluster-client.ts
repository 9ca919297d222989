/** The stock docker CLI and berth against one host's berthd of a cluster lab. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Lab, LabDaemon } from '../../src/lab/lab.js';

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
