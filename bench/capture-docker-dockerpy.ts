/**
 * Runs the project's docker-py suite (test/compat/docker-py, Debian's
 * python3-docker 5.0.3) against a real Docker 20.10 (Debian docker.io) in a
 * lab host, to prove the suite asserts what dockerd does: every case must pass
 * here. Writes a markdown transcript (kept as
 * docs/reference/docker-20.10-dockerpy.md) with each case's outcome and
 * unittest's output; exits 1 when a case fails or cleanup left something.
 *
 *   node dist/bench/capture-docker-dockerpy.js [--out DIR] [--lab NAME] [-k PATTERN ...]
 *
 * The same suite runs against Berth in test/compat/docker-py.test.ts.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab } from '../src/lab/lab.js';
import { runDockerPy } from '../test/helpers/docker-py.js';
import { Capture, DockerdSlot, finishCapture, stopOnSignals } from './lib/capture.js';
import { importBusybox } from './lib/image.js';
import { snapshotMachine } from './lib/machine.js';
import { startRefDockerd } from './lib/refdockerd.js';

function args(argv: string[]): { out: string; lab?: string; patterns: string[] } {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const o: { out: string; lab?: string; patterns: string[] } = {
    out: `/tmp/berth-capture/docker-dockerpy-${stamp}`,
    patterns: [],
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} wants a value`);
    if (argv[i] === '--out') o.out = v;
    else if (argv[i] === '--lab') o.lab = v;
    else if (argv[i] === '-k') o.patterns.push(v);
    else throw new Error('usage: capture-docker-dockerpy [--out DIR] [--lab NAME] [-k PATTERN]');
  }
  return o;
}

async function main(argv: string[]): Promise<number> {
  const a = args(argv);
  stopOnSignals();
  const started = new Date().toISOString();
  const before = snapshotMachine(LAB_ROOT);
  const lab = await Lab.create({ hosts: 1, name: a.lab });
  console.log(`lab ${lab.name}`);
  const problems: string[] = [];
  const slot = new DockerdSlot(before, problems);
  const cli = join(lab.dir, 'docker-cli');
  mkdirSync(cli, { recursive: true });
  const cap = new Capture(lab, undefined, cli);
  let failed = false;
  try {
    const host = lab.hosts[0]!;
    const ref = await startRefDockerd(lab, host, {
      dns: lab.world.ip,
      preexisting: before.paths,
      spawned: slot.spawned,
    });
    cap.use(ref);
    await importBusybox(ref, cli, host.dir);
    cap.sec('The engine');
    cap.docker(['version', '--format', 'server {{.Server.Version}} API {{.Server.APIVersion}}']);
    cap.sec('docker-py suite');
    const r = await runDockerPy(ref.env.DOCKER_HOST, 'docker', {
      patterns: a.patterns,
      echo: true,
    });
    const counts = new Map<string, number>();
    for (const c of r.cases) counts.set(c.outcome, (counts.get(c.outcome) ?? 0) + 1);
    cap.note(
      `cases (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}; runner exit ${r.status})`,
      r.cases.map((c) => `${c.outcome.padEnd(5)} ${c.id} (${c.seconds}s)`).join('\n'),
    );
    cap.note(`DOCKER_HOST=<dockerd> ${r.argv.slice(0, 2).join(' ')}`, r.output);
    cap.sec('Left behind by the suite');
    cap.docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
    cap.docker(['network', 'ls', '--format', '{{.Name}}']);
    cap.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    if (r.status !== 0 || r.cases.length === 0) {
      failed = true;
      console.error(`docker-py suite failed against dockerd (exit ${r.status})`);
    }
  } catch (e) {
    failed = true;
    console.error(`capture failed: ${(e as Error).stack ?? (e as Error).message}`);
  } finally {
    await slot.stop().catch((e: unknown) => problems.push(String(e)));
  }
  return finishCapture({
    lab,
    before,
    problems,
    failed,
    cap,
    outDir: a.out,
    info: {
      title: 'Docker 20.10 and docker-py 5.0.3: the project suite against a reference dockerd',
      script: 'bench/capture-docker-dockerpy.ts',
      started,
      notes: ['docker-py: Debian python3-docker 5.0.3 under /usr/bin/python3'],
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
