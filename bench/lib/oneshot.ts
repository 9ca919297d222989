/**
 * Times a network backend that runs as one process per container operation
 * (netavark as podman runs it, a CNI plugin as any CNI runtime execs it):
 * `setup`/`teardown` pairs on one container netns made with `ip netns add`
 * and always deleted again, after `warmup` untimed pairs.
 */
import { spawnSync } from 'node:child_process';
import type { Lab } from '../../src/lab/lab.js';

/** setup and teardown samples in ms, and the backend's version line. */
export interface OneshotSamples {
  setup: number[];
  teardown: number[];
  version: string;
}

/** Runs one operation on the netns at `netnsPath`; throws on failure. */
export type OneshotInvoke = (cmd: 'setup' | 'teardown', netnsPath: string) => void;

export function timeOneshot(
  lab: Lab,
  label: string,
  version: string,
  warmup: number,
  iterations: number,
  interrupted: () => boolean,
  invoke: OneshotInvoke,
): OneshotSamples {
  const name = `${lab.name}-${label}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${name}: ${add.stderr}`);
  const out: OneshotSamples = { setup: [], teardown: [], version };
  const timed = (cmd: 'setup' | 'teardown'): number => {
    const t0 = process.hrtime.bigint();
    invoke(cmd, `/run/netns/${name}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      if (interrupted()) throw new Error('interrupted');
      const s = timed('setup');
      const t = timed('teardown');
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
