/**
 * The end of every side-by-side benchmark run, also after a failure: stop the
 * reference dockerd, destroy the lab, compare the machine's own namespace with
 * the snapshot taken before, write the results, and pick the exit status
 * (a missed target is not a failure; a leak or a cleanup problem is).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LAB_ROOT, type Lab } from '../../src/lab/lab.js';
import { diffMachine, snapshotMachine, type MachineSnapshot } from './machine.js';
import { stopRefDockerd, type RefDockerd, type StopReport } from './refdockerd.js';

export interface RunEnd {
  /** The lab still to destroy (none when the run destroyed its labs itself). */
  lab?: Lab;
  dockerd?: RefDockerd;
  /** The machine before the run. */
  before: MachineSnapshot;
  /** The results object (gets a `cleanup` field), and where to write it. */
  out?: Record<string, unknown>;
  outPath: string;
  /** Whether the run itself failed. */
  failed: boolean;
}

/** Cleans up after a run and returns its exit status. */
export async function finishRun(r: RunEnd): Promise<number> {
  let failed = r.failed;
  let stopReport: StopReport | undefined;
  try {
    if (r.dockerd) {
      stopReport = await stopRefDockerd(r.dockerd, r.before.paths);
      console.log(
        `dockerd stopped by ${stopReport.stoppedBy}; killed after it: ` +
          `${stopReport.killed.length ? stopReport.killed.join(', ') : 'nothing'}; ` +
          `mounts left under its dirs: ${stopReport.mountsAfterExit.length}; ` +
          `machine paths removed: ${stopReport.removedPaths.join(' ') || 'none'}`,
      );
      for (const p of stopReport.problems) console.error(`cleanup: ${p}`);
    }
  } finally {
    try {
      await r.lab?.destroy();
    } catch (e) {
      failed = true;
      console.error(`lab teardown: ${(e as Error).message}`);
    }
  }
  const leaks = diffMachine(r.before, snapshotMachine(LAB_ROOT));
  console.log(
    leaks.length === 0
      ? 'machine namespace unchanged (links, iptables, sysctls, fixed paths, mounts)'
      : `LEFT ON THE MACHINE:\n  ${leaks.join('\n  ')}`,
  );
  if (r.out) {
    r.out.cleanup = { dockerd: stopReport, machineChanges: leaks };
    mkdirSync(dirname(r.outPath), { recursive: true });
    writeFileSync(r.outPath, JSON.stringify(r.out, null, 2) + '\n');
    console.log(`results: ${r.outPath}`);
  }
  return failed || leaks.length > 0 || (stopReport?.problems.length ?? 0) > 0 ? 1 : 0;
}

/** Runs a benchmark's main and exits with its status. */
export function runMain(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
