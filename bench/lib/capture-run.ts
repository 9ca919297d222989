/**
 * What every capture of a reference dockerd does around its own steps: a lab
 * of `hosts` hosts, the machine's state before, one dockerd at a time
 * (busybox imported), long-running lab processes, the transcript, the check
 * that nothing was left on the machine, and the exit status (1 on a failure,
 * a leak or a cleanup problem). A capture script is its steps:
 * `runCapture({ ..., steps })`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab } from '../../src/lab/lab.js';
import {
  Capture,
  cliNote,
  DockerdSlot,
  captureOutDir,
  finishCapture,
  labProcess,
  stopLabProcess,
  stopOnSignals,
  type LabProcess,
  type Where,
} from './capture.js';
import { importBusybox } from './image.js';
import { snapshotMachine } from './machine.js';
import { startRefDockerd, type RefDockerd } from './refdockerd.js';
import { startRefEtcd, stopRefEtcd, type RefEtcd } from './refetcd.js';

export interface CaptureRun {
  lab: Lab;
  cap: Capture;
  /**
   * Starts dockerd in host `i` (0-based) with `args`, imports busybox; the
   * capture talks to it. `hostname` gives it a UTS namespace of its own.
   * While several dockerds run, transcript entries name the host their call
   * went to.
   */
  dockerd(i: number, args?: string[], opts?: { hostname?: string }): Promise<RefDockerd>;
  /** The dockerd started in host `i` (0-based); the capture's calls go to it from now on. */
  on(i: number): RefDockerd;
  /** Stops the dockerds that run, recording what stopping them found. */
  stopDockerd(): Promise<void>;
  /**
   * Starts argv in a lab namespace (a world server, a port holder), its
   * output collected; stopped at the end before the dockerds, if the steps
   * did not stop it (stopLabProcess) themselves.
   */
  spawn(where: Where, argv: string[]): LabProcess;
  /** Starts a one-member etcd (v2 API on) in host `i`, stopped and removed at the end. */
  etcd(i: number): Promise<RefEtcd>;
  /** Where the transcript goes (a script may put its own files beside it). */
  outDir: string;
  /** The values of the script's own `options`, in command-line order. */
  opts: Record<string, string[]>;
}

/** `--out DIR` and the script's own options (each with a value, repeatable). */
function parseArgs(
  name: string,
  argv: string[],
  options: string[],
): { outDir: string; opts: Record<string, string[]> } {
  const usage = `usage: ${name} [--out DIR]${options.map((k) => ` [${k} VALUE]`).join('')}`;
  const opts: Record<string, string[]> = Object.fromEntries(options.map((k) => [k, []]));
  let out: string | undefined;
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i]!, argv[i + 1]];
    if (v === undefined || (k !== '--out' && !options.includes(k))) throw new Error(usage);
    if (k === '--out') out = v;
    else opts[k]!.push(v);
  }
  return { outDir: captureOutDir(name, out === undefined ? [] : ['--out', out]), opts };
}

export function runCapture(o: {
  /** The script's name, e.g. `capture-docker-rename` (bench/<name>.ts). */
  name: string;
  /** The transcript's title. */
  title: string;
  hosts: number;
  /** The transcript header's extra lines; by default which 20.10 CLI `old()` runs. */
  notes?: string[];
  /** Options the script takes besides `--out DIR`, e.g. `['-k']` (see CaptureRun.opts). */
  options?: string[];
  steps: (r: CaptureRun) => Promise<void>;
}): void {
  const main = async (argv: string[]): Promise<number> => {
    const { outDir, opts } = parseArgs(o.name, argv, o.options ?? []);
    stopOnSignals();
    const started = new Date().toISOString();
    const before = snapshotMachine(LAB_ROOT);
    // BERTH_LAB_NAME: a name of the caller's choosing (a prefix of its own), else a random one.
    const lab = await Lab.create({ hosts: o.hosts, name: process.env.BERTH_LAB_NAME || undefined });
    console.log(`lab ${lab.name}`);
    const problems: string[] = [];
    const slot = new DockerdSlot(before, problems);
    const cli = join(lab.dir, 'docker-cli');
    mkdirSync(cli, { recursive: true });
    const cap = new Capture(lab, undefined, cli);
    const refs = new Map<number, RefDockerd>();
    const etcds: RefEtcd[] = [];
    const procs: LabProcess[] = [];
    // Only while calls can go to more than one dockerd do entries say which.
    const label = (i: number) => (refs.size > 1 ? `h${i + 1}` : undefined);
    let failed = false;
    try {
      await o.steps({
        lab,
        cap,
        dockerd: async (i, args = [], opts = {}) => {
          const host = lab.hosts[i]!;
          const ref = await startRefDockerd(lab, host, {
            dns: lab.world.ip,
            preexisting: before.paths,
            args,
            hostname: opts.hostname,
            spawned: slot.spawned,
          });
          refs.set(i, ref);
          cap.use(ref, label(i));
          await importBusybox(ref, cli, host.dir);
          return ref;
        },
        on: (i) => {
          const ref = refs.get(i);
          if (!ref) throw new Error(`no dockerd in host ${i + 1}`);
          cap.use(ref, label(i));
          return ref;
        },
        stopDockerd: () => {
          refs.clear();
          return slot.stop();
        },
        spawn: (where, argv) => {
          const p = labProcess(lab, where, argv);
          procs.push(p);
          return p;
        },
        etcd: (i) => startRefEtcd(lab, lab.hosts[i]!, (e) => etcds.push(e)),
        outDir,
        opts,
      });
    } catch (e) {
      failed = true;
      console.error(`capture failed: ${(e as Error).stack ?? (e as Error).message}`);
    } finally {
      for (const p of procs)
        await stopLabProcess(p).catch((e: unknown) => problems.push(String(e)));
      await slot.stop().catch((e: unknown) => problems.push(String(e)));
      // dockerds first (they would log store errors), then their store.
      for (const e of etcds) problems.push(...(await stopRefEtcd(e)));
    }
    return finishCapture({
      lab,
      before,
      problems,
      failed,
      cap,
      outDir,
      info: {
        title: o.title,
        script: `bench/${o.name}.ts`,
        started,
        notes: o.notes ?? [cliNote()],
      },
    });
  };
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
