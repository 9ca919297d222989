/**
 * Benchmark: container start and removal, Berth against Docker 20.10, side by
 * side in ONE lab (host 1 runs berthd, host 2 a stock dockerd), both driven by
 * the stock docker CLI and timed as whole CLI commands, engines alternating
 * every iteration so machine load hits both alike. Prints a table, writes JSON,
 * and checks the target: Berth at most 1/5 of Docker's time for
 * `run -d` and `rm -f`. See docs/benchmarks.md.
 *
 *   node dist/bench/run-rm.js [--iterations 20] [--warmup 2] [--rm-iterations 10] [--out FILE]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab } from '../src/lab/lab.js';
import { parseBenchArgs } from './lib/args.js';
import { opFigure } from './lib/figures.js';
import { finishRun, runMain } from './lib/finish.js';
import { measureApi } from './lib/api.js';
import { busyboxDiffId, importBusybox } from './lib/image.js';
import { snapshotMachine } from './lib/machine.js';
import { dockerAt, startRefDockerd, type RefDockerd } from './lib/refdockerd.js';
import { measureOne, measureRunRm, type Engines } from './lib/measure.js';
import { ENGINES, markdownTable, opResult, type Engine, type OpResult } from './lib/report.js';
import { berthCommit, firstLine, machineInfo } from './lib/provenance.js';

const TARGET = 0.2;
const LOOP = 'while true; do sleep 3600; done';

const parseArgs = (argv: string[]) =>
  parseBenchArgs('run-rm', argv, {
    iterations: { default: 20 },
    warmup: { default: 2, min: 0 },
    rmIterations: { default: 10 },
  });

let interrupted = false;

async function main(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (interrupted = true));
  const before = snapshotMachine(LAB_ROOT);
  const lab = await Lab.create({ hosts: 2 });
  const cli = join(lab.dir, 'docker-cli');
  console.log(`lab ${lab.name}: berthd on ${lab.hosts[0]!.name}, dockerd on ${lab.hosts[1]!.name}`);
  let dockerd: RefDockerd | undefined;
  let out: Record<string, unknown> | undefined;
  let failed = false;
  try {
    mkdirSync(cli, { recursive: true });
    // Both daemons log at info (the lab starts berthd at debug by default).
    const berthd = await lab.startDaemon(lab.hosts[0]!, { args: ['--log-level', 'info'] });
    const ref = await startRefDockerd(lab, lab.hosts[1]!, {
      dns: lab.world.ip,
      preexisting: before.paths,
      spawned: (d) => (dockerd = d),
    });
    const targets: Record<Engine, { env: { DOCKER_HOST: string } }> = {
      berth: berthd,
      docker: ref,
    };
    const docker = (e: Engine, args: string[]) => dockerAt(targets[e], cli, args);
    const info = docker('docker', ['info', '--format', '{{.ServerVersion}} {{.Driver}}']);
    if (info.status !== 0) throw new Error(`docker info against dockerd: ${info.stderr}`);
    console.log(`dockerd pid ${ref.pid} up: ${info.stdout.trim()}`);

    const dockerLayer = await importBusybox(ref, cli, lab.hosts[1]!.dir);
    // Berth's own answer, when its image inspect works; the layer is the same by construction.
    const berthLayer = busyboxDiffId(berthd, cli);
    if (berthLayer.startsWith('sha256:') && berthLayer !== dockerLayer) {
      throw new Error(`busybox layers differ: berth ${berthLayer}, dockerd ${dockerLayer}`);
    }
    console.log(`busybox:latest on both engines, layer ${dockerLayer}`);
    if (berthLayer !== dockerLayer) console.log(`  berth image inspect: ${berthLayer}`);

    const env: Engines = { targets, cliConfig: cli, interrupted: () => interrupted };
    const { warmup, iterations, rmIterations } = opts;
    console.log(`run -d / rm -f: ${warmup} warm-up + ${iterations} iterations`);
    const bridge = await measureRunRm(
      env,
      ['run', '-d', 'busybox', 'sh', '-c', LOOP],
      warmup,
      iterations,
    );
    console.log(`run --rm: ${warmup} warm-up + ${rmIterations} iterations`);
    const runRm = await measureOne(env, ['run', '--rm', 'busybox', 'true'], warmup, rmIterations);
    // Context, not targets: the same pair without networking, and the CLI's own floor.
    console.log(`run -d --network none / rm -f: ${warmup} warm-up + ${iterations} iterations`);
    const none = await measureRunRm(
      env,
      ['run', '-d', '--network', 'none', 'busybox', 'sh', '-c', LOOP],
      warmup,
      iterations,
    );
    console.log(`version (CLI floor): ${warmup} warm-up + ${rmIterations} iterations`);
    const floor = await measureOne(
      env,
      ['version', '--format', '{{.Server.Version}}'],
      warmup,
      rmIterations,
    );
    console.log(`API create/start/delete: ${warmup} warm-up + ${rmIterations} iterations`);
    const api = await measureApi(
      { berth: berthd.socket, docker: ref.socket },
      ['sh', '-c', LOOP],
      warmup,
      rmIterations,
      () => interrupted,
    );
    for (const e of ENGINES) {
      const left = docker(e, ['ps', '-aq']).stdout.trim();
      if (left) throw new Error(`${e}: containers left after the benchmark: ${left}`);
    }

    const ops: Record<string, OpResult> = {
      'run -d': opResult(`docker run -d busybox sh -c '${LOOP}'`, bridge.run, TARGET),
      'rm -f': opResult('docker rm -f <id>', bridge.rm, TARGET),
      'run --rm': opResult('docker run --rm busybox true', runRm),
      'run -d --network none': opResult(
        `docker run -d --network none busybox sh -c '${LOOP}'`,
        none.run,
      ),
      'rm -f (network none)': opResult('docker rm -f <id>', none.rm),
      version: opResult("docker version --format '{{.Server.Version}}'", floor),
      'API create': opResult('POST /containers/create', api.create),
      'API start': opResult('POST /containers/{id}/start', api.start),
      'API delete': opResult('DELETE /containers/{id}?force=1 (running)', api.delete),
    };
    const serverVersion = (e: Engine) =>
      docker(e, ['version', '--format', '{{.Server.Version}}']).stdout.trim();
    const berth = berthCommit();
    out = {
      benchmark: 'run-rm',
      date: new Date().toISOString(),
      machine: machineInfo(),
      versions: {
        berthCommit: berth.commit,
        berthWorktreeDirty: berth.dirty,
        berthd: serverVersion('berth'),
        dockerd: serverVersion('docker'),
        containerd: firstLine(['containerd', '--version']),
        runc: firstLine(['runc', '--version']),
        dockerCli: docker('berth', ['version', '--format', '{{.Client.Version}}']).stdout.trim(),
        node: process.version,
      },
      lab: lab.name,
      method: {
        iterations: opts.iterations,
        warmup: opts.warmup,
        rmIterations: opts.rmIterations,
        timing: 'wall time of the whole docker CLI process (spawn to exit)',
        order: 'engines alternate first/second every iteration',
        busyboxLayer: dockerLayer,
        containerIp: bridge.ip,
        berthImageInspect: berthLayer,
      },
      results: ops,
      figures: [
        opFigure('`run -d` (default bridge)', ops['run -d']!),
        opFigure('`rm -f`', ops['rm -f']!),
        opFigure('`run --rm`', ops['run --rm']!),
        opFigure('`API start`', ops['API start']!),
      ],
      target: {
        rule: `Berth median <= ${TARGET} x Docker median for run -d and rm -f`,
        met: ops['run -d']!.met === true && ops['rm -f']!.met === true,
      },
    };
    console.log('\n' + markdownTable(ops) + '\n');
    if (!bridge.ip.berth) {
      console.log(
        `NOTE: Berth's containers got no IP address (Docker's: ${bridge.ip.docker || 'none'}): ` +
          'Berth does not attach them to the default bridge yet, so run -d and rm -f are not ' +
          'like for like; compare the --network none rows.',
      );
    }
    for (const name of ['run -d', 'rm -f']) {
      const o = ops[name]!;
      console.log(
        `${name}: Berth takes ${(o.ratio.median * 100).toFixed(1)}% of Docker's time ` +
          `(target <= ${TARGET * 100}%): ${o.met ? 'MET' : 'NOT MET'}`,
      );
    }
  } catch (e) {
    failed = true;
    console.error(`benchmark failed: ${(e as Error).message}`);
    if (dockerd) console.error(`dockerd log: ${dockerd.log} (removed with the lab)`);
  }
  return finishRun({ lab, dockerd, before, out, outPath: opts.out, failed });
}

runMain(main);
