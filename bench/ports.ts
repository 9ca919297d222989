/**
 * Benchmark: published ports, Berth against Docker 20.10 side by side in ONE
 * lab (host 1 runs berthd, host 2 a stock dockerd with its default userland
 * proxy), engines alternating. Measures
 *
 *   1. `docker run -d -p 10000-10999:10000-10999 busybox sleep 3600` (1000
 *      ports on one container) and `docker rm -f` of it, as whole CLI
 *      commands; after every run, untimed, one HTTP request from the lab's
 *      world goes through a published port into the container;
 *   2. TCP throughput (iperf3, client in the world, server in a container)
 *      through a published port and straight to the container's address.
 *
 * Checks the targets, prints tables and writes JSON. See docs/benchmarks.md.
 *
 *   node dist/bench/ports.js [--iterations 10] [--docker-iterations 3] [--warmup 1]
 *       [--ports 1000] [--rounds 7] [--seconds 5] [--out FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab, type LabHost } from '../src/lab/lab.js';
import { parseBenchArgs } from './lib/args.js';
import { opFigure, type Figure } from './lib/figures.js';
import { finishRun, runMain } from './lib/finish.js';
import { IPERF3_IMAGE, importBusybox, importIperf3 } from './lib/image.js';
import { gbpsSummary, iperf3Client, perRoundRatio, type Iperf } from './lib/iperf.js';
import { snapshotMachine } from './lib/machine.js';
import { measureRunRm, order, timed, type Engines, type Samples } from './lib/measure.js';
import { dockerAt, startRefDockerd, type RefDockerd } from './lib/refdockerd.js';
import { ENGINES, markdownTable, opResult, type Engine, type OpResult } from './lib/report.js';
import { berthCommit, firstLine, machineInfo } from './lib/provenance.js';

const DOCKER_TARGET = 1 / 20;
const ABSOLUTE_TARGET_MS = 1000;
const DIRECT_TARGET = 0.95;
const FIRST_PORT = 10000;
const IPERF_PORT = 5201;
const IPERF_NAME = 'benchiperf';
// Docker's rm -f of 500 published ports took 43 s (docs/reference/anchors.md); 1000 take longer.
const SLOW_CLI_MS = 900_000;

const parseArgs = (argv: string[]) =>
  parseBenchArgs('ports', argv, {
    iterations: { default: 10 },
    dockerIterations: { default: 3 },
    warmup: { default: 1, min: 0 },
    ports: { default: 1000, max: 5000 },
    rounds: { default: 7 },
    seconds: { default: 5 },
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proxies {
  count: number;
  /** Summed RSS (shared pages counted in every process). */
  rssMiB: number;
  /** Summed PSS (shared pages split between their users): the memory they really take. */
  pssMiB: number;
}

/** docker-proxy processes in a lab host's namespace: how many, and their memory. */
function dockerProxies(host: LabHost): Proxies {
  const r = spawnSync('ip', ['netns', 'pids', host.name], { encoding: 'utf8' });
  let count = 0;
  let rssKiB = 0;
  let pssKiB = 0;
  for (const pid of (r.stdout ?? '').split('\n').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'docker-proxy') continue;
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      count++;
      rssKiB += Number(/^Rss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
      pssKiB += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return { count, rssMiB: Math.round(rssKiB / 1024), pssMiB: Math.round(pssKiB / 1024) };
}

/** Host ports the kernel maps to a container on each engine (nft map / iptables DNAT rules). */
function kernelMappings(lab: Lab, e: Engine, host: LabHost): number {
  if (e === 'berth') {
    const r = lab.exec(host, ['nft', '-j', 'list', 'map', 'inet', 'berth', 'ports4']);
    const j = JSON.parse(r.stdout || '{}') as { nftables?: Array<{ map?: { elem?: unknown[] } }> };
    return j.nftables?.find((x) => x.map)?.map?.elem?.length ?? 0;
  }
  const r = lab.exec(host, ['iptables-save', '-t', 'nat']);
  return r.stdout.split('\n').filter((l) => /^-A DOCKER .* -j DNAT /.test(l)).length;
}

/** One iperf3 client run from the world. */
const iperf = (lab: Lab, addr: string, seconds: number): Iperf =>
  iperf3Client(lab.world.netns, addr, IPERF_PORT, seconds);

const PATHS = ['port', 'direct'] as const;
type PathName = (typeof PATHS)[number];

let interrupted = false;

async function main(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (interrupted = true));
  // Every step below blocks (spawnSync): yield first, so a SIGINT handler runs.
  const stop = async () => {
    await new Promise((r) => setImmediate(r));
    if (interrupted) throw new Error('interrupted');
  };
  const before = snapshotMachine(LAB_ROOT);
  const lab = await Lab.create({ hosts: 2 });
  const cli = join(lab.dir, 'docker-cli');
  const hosts: Record<Engine, LabHost> = { berth: lab.hosts[0]!, docker: lab.hosts[1]! };
  console.log(`lab ${lab.name}: berthd on ${hosts.berth.name}, dockerd on ${hosts.docker.name}`);
  let dockerd: RefDockerd | undefined;
  let out: Record<string, unknown> | undefined;
  let failed = false;
  try {
    mkdirSync(cli, { recursive: true });
    const berthd = await lab.startDaemon(hosts.berth, { args: ['--log-level', 'info'] });
    const ref = await startRefDockerd(lab, hosts.docker, {
      dns: lab.world.ip,
      preexisting: before.paths,
      spawned: (d) => (dockerd = d),
    });
    const targets: Record<Engine, { env: { DOCKER_HOST: string } }> = {
      berth: berthd,
      docker: ref,
    };
    const docker = (e: Engine, args: string[], timeoutMs?: number) =>
      dockerAt(targets[e], cli, args, timeoutMs);
    const env: Engines = { targets, cliConfig: cli, interrupted: () => interrupted };
    await importBusybox(ref, cli, hosts.docker.dir);
    const iperfLayer = await importIperf3([berthd, ref], cli, lab.dir);
    console.log(`busybox on dockerd; ${IPERF3_IMAGE} on both engines, layer ${iperfLayer}`);
    const dockerVersion = docker('docker', [
      'info',
      '--format',
      '{{.ServerVersion}}',
    ]).stdout.trim();
    console.log(`dockerd ${dockerVersion}, default userland proxy (docker-proxy)`);

    // 1. publish N ports on one container, then remove it.
    const last = FIRST_PORT + opts.ports - 1;
    const range = `${FIRST_PORT}-${last}:${FIRST_PORT}-${last}`;
    const runArgs = ['run', '-d', '-p', range, 'busybox', 'sleep', '3600'];
    const run: Samples = { berth: [], docker: [] };
    const rm: Samples = { berth: [], docker: [] };
    const wanted: Record<Engine, number> = {
      berth: opts.warmup + opts.iterations,
      docker: opts.dockerIterations,
    };
    const done: Record<Engine, number> = { berth: 0, docker: 0 };
    const checks: string[] = [];
    const kernel: Record<Engine, number> = { berth: 0, docker: 0 };
    let proxies: Proxies | undefined;
    console.log(
      `docker ${runArgs.join(' ')} / rm -f: Berth ${opts.warmup} warm-up + ` +
        `${opts.iterations}, Docker ${opts.dockerIterations} (no warm-up), alternating`,
    );
    for (let i = 0; done.berth < wanted.berth || done.docker < wanted.docker; i++) {
      for (const e of order(i)) {
        if (done[e] >= wanted[e]) continue;
        const k = done[e]++;
        const host = hosts[e];
        await stop();
        const r = timed(env, e, runArgs, SLOW_CLI_MS);
        const id = r.stdout;
        if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`${e}: run printed ${id}`);
        // Untimed: the container runs, the kernel maps every port, and one request
        // from the world through a published port reaches a server in the container.
        const st = docker(e, ['inspect', '--format', '{{.State.Running}}', id]).stdout.trim();
        if (st !== 'true') throw new Error(`${e}: container not running when run returned`);
        if (k === 0) {
          kernel[e] = kernelMappings(lab, e, host);
          if (kernel[e] < opts.ports) {
            throw new Error(`${e}: the kernel maps ${kernel[e]} ports, not ${opts.ports}`);
          }
          if (e === 'docker') proxies = dockerProxies(host);
        }
        const port = FIRST_PORT + ((k * 389 + 123) % opts.ports);
        const ex = docker(e, ['exec', '-d', id, 'httpd', '-f', '-p', String(port), '-h', '/etc']);
        if (ex.status !== 0) throw new Error(`${e}: exec httpd: ${ex.stderr.trim()}`);
        const url = `http://${host.ip}:${port}/hostname`;
        let got = '';
        for (let t = 0; t < 50 && got !== id.slice(0, 12); t++) {
          if (t > 0) await sleep(100);
          got = lab.exec('world', ['curl', '-s', '-m', '2', url]).stdout.trim();
        }
        if (got !== id.slice(0, 12)) throw new Error(`${e}: GET ${url} from the world: ${got}`);
        checks.push(`${e} #${k}: GET ${url} -> ${got}`);
        const d = timed(env, e, ['rm', '-f', id], SLOW_CLI_MS);
        if (d.stdout !== id) throw new Error(`${e}: rm -f printed ${d.stdout}`);
        const kept = e === 'docker' || k >= opts.warmup;
        if (kept) {
          run[e].push(r.ms);
          rm[e].push(d.ms);
        }
        console.log(
          `  ${e} #${k}${kept ? '' : ' (warm-up)'}: run ${(r.ms / 1000).toFixed(3)} s, ` +
            `rm ${(d.ms / 1000).toFixed(3)} s, ${url} ok`,
        );
        if (e === 'docker' && k === 0 && proxies) {
          console.log(
            `    docker-proxy processes: ${proxies.count}, ` +
              `PSS ${proxies.pssMiB} MiB (RSS ${proxies.rssMiB} MiB)`,
          );
        }
      }
    }
    // Context: the same pair without published ports, engines alternating.
    console.log(`run -d / rm -f without ports: ${opts.warmup} warm-up + ${opts.iterations} each`);
    const plain = await measureRunRm(
      env,
      ['run', '-d', 'busybox', 'sleep', '3600'],
      opts.warmup,
      opts.iterations,
    );
    const ops: Record<string, OpResult> = {
      [`run -d -p (${opts.ports} ports)`]: opResult(
        `docker ${runArgs.join(' ')}`,
        run,
        DOCKER_TARGET,
      ),
      [`rm -f (${opts.ports} ports)`]: opResult('docker rm -f <id>', rm),
      'run -d (no ports)': opResult('docker run -d busybox sleep 3600', plain.run),
      'rm -f (no ports)': opResult('docker rm -f <id>', plain.rm),
    };
    const runOp = Object.values(ops)[0]!;
    const under1s = runOp.berth.median < ABSOLUTE_TARGET_MS;

    // 2. TCP throughput through a published port and straight to the container.
    const cips = {} as Record<Engine, string>;
    for (const e of ENGINES) {
      const r = docker(e, [
        'run',
        '-d',
        ...['--name', IPERF_NAME, '-p', `${IPERF_PORT}:${IPERF_PORT}`],
        IPERF3_IMAGE,
        ...['/usr/bin/iperf3', '-s', '--forceflush'],
      ]);
      if (r.status !== 0) throw new Error(`${e}: run iperf3: ${r.stderr.trim()}`);
      cips[e] = docker(e, [
        'inspect',
        '--format',
        '{{.NetworkSettings.IPAddress}}',
        IPERF_NAME,
      ]).stdout.trim();
      if (!cips[e]) throw new Error(`${e}: iperf3 container has no address`);
    }
    const addr = (e: Engine, p: PathName) => (p === 'port' ? hosts[e].ip : cips[e]);
    // The world reaches a container's address through that engine's host (both
    // engines may hand out the same address: the route is set before each run).
    const routeTo = (e: Engine) => {
      const r = lab.exec('world', ['ip', 'route', 'replace', `${cips[e]}/32`, 'via', hosts[e].ip]);
      if (r.status !== 0) throw new Error(`route to ${cips[e]}: ${r.stderr.trim()}`);
    };
    // Berth forwards nothing into a bridge that is not a published port unless
    // the user says so in berth-user; the rule exists only during direct runs,
    // so port runs are judged by Berth's own rules alone. Docker accepts direct
    // traffic to a published container port by itself (its DOCKER chain).
    const userRule = `ip daddr ${cips.berth} tcp dport ${IPERF_PORT} accept`;
    const allowDirect = (): (() => void) => {
      const r = lab.exec(hosts.berth, [
        ...['nft', '--echo', '--handle', 'add', 'rule', 'inet', 'berth', 'berth-user'],
        ...userRule.split(' '),
      ]);
      const handle = /# handle (\d+)/.exec(r.stdout)?.[1];
      if (r.status !== 0 || !handle) throw new Error(`nft add rule: ${r.stderr.trim()}`);
      return () => {
        const d = lab.exec(hosts.berth, [
          ...['nft', 'delete', 'rule', 'inet', 'berth', 'berth-user', 'handle', handle],
        ]);
        if (d.status !== 0) throw new Error(`nft delete rule: ${d.stderr.trim()}`);
      };
    };
    const measure = async (e: Engine, p: PathName, seconds: number): Promise<Iperf> => {
      await stop();
      if (p === 'port') return iperf(lab, addr(e, p), seconds);
      routeTo(e);
      const undo = e === 'berth' ? allowDirect() : () => {};
      try {
        return iperf(lab, addr(e, p), seconds);
      } finally {
        undo();
      }
    };
    // Warm-up (1 s each), which also waits for the servers to listen.
    for (const e of ENGINES) {
      for (const p of PATHS) {
        for (let t = 0; ; t++) {
          try {
            await measure(e, p, 1);
            break;
          } catch (err) {
            if (interrupted || t >= 20) throw err;
            await sleep(250);
          }
        }
      }
    }
    const tput: Record<Engine, Record<PathName, Iperf[]>> = {
      berth: { port: [], direct: [] },
      docker: { port: [], direct: [] },
    };
    console.log(
      `iperf3 -t ${opts.seconds} -O 1, world -> container: ${opts.rounds} rounds, ` +
        'engines and paths alternating',
    );
    for (let r = 0; r < opts.rounds; r++) {
      for (const e of order(r)) {
        for (const p of r % 2 === 0 ? PATHS : [...PATHS].reverse()) {
          const x = await measure(e, p, opts.seconds);
          tput[e][p].push(x);
          console.log(
            `  round ${r} ${e} ${p} (${addr(e, p)}): ${x.gbps.toFixed(2)} Gbit/s, ` +
              `${x.retransmits} retransmits`,
          );
        }
      }
    }
    const peers: Record<Engine, string[]> = { berth: [], docker: [] };
    for (const e of ENGINES) {
      const logs = docker(e, ['logs', IPERF_NAME]);
      peers[e] = [
        ...new Set(
          [...logs.stdout.matchAll(/Accepted connection from ([0-9.]+)/g)].map((m) => m[1]!),
        ),
      ];
      docker(e, ['rm', '-f', IPERF_NAME]);
    }
    const sumOf = gbpsSummary;
    const sums = {
      berth: { port: sumOf(tput.berth.port), direct: sumOf(tput.berth.direct) },
      docker: { port: sumOf(tput.docker.port), direct: sumOf(tput.docker.direct) },
    };
    const perRound = perRoundRatio;
    const ratios = {
      berthPortOverDirect:
        Math.round((sums.berth.port.median / sums.berth.direct.median) * 1000) / 1000,
      berthPortOverDirectPerRound: perRound(tput.berth.port, tput.berth.direct),
      berthPortOverDockerPort:
        Math.round((sums.berth.port.median / sums.docker.port.median) * 1000) / 1000,
      berthPortOverDockerPortPerRound: perRound(tput.berth.port, tput.docker.port),
      dockerPortOverDirect:
        Math.round((sums.docker.port.median / sums.docker.direct.median) * 1000) / 1000,
    };
    const tputTargets = {
      portVsDirect: ratios.berthPortOverDirect >= DIRECT_TARGET,
      portVsDocker: ratios.berthPortOverDockerPort >= 1,
    };

    const berth = berthCommit();
    out = {
      benchmark: 'ports',
      date: new Date().toISOString(),
      machine: machineInfo(),
      versions: {
        berthCommit: berth.commit,
        berthWorktreeDirty: berth.dirty,
        dockerd: dockerVersion,
        dockerUserlandProxy: true,
        iperf3: firstLine(['iperf3', '--version']),
        nft: firstLine(['nft', '--version']),
        node: process.version,
      },
      lab: lab.name,
      method: {
        publish: {
          command: `docker ${runArgs.join(' ')}`,
          timing: 'wall time of the whole docker CLI process (spawn to exit)',
          berthIterations: opts.iterations,
          berthWarmup: opts.warmup,
          dockerIterations: opts.dockerIterations,
          order: 'engines alternate first/second every iteration while both have some left',
          check:
            'untimed, after every run: State.Running, then `docker exec -d <id> httpd -f -p <port> -h /etc` and GET http://<host>:<port>/hostname from the world must return the container id',
        },
        throughput: {
          client: `iperf3 -c <addr> -p ${IPERF_PORT} -t ${opts.seconds} -O 1 -J, in the lab world namespace`,
          server: `${IPERF3_IMAGE} (iperf3 -s --forceflush) with -p ${IPERF_PORT}:${IPERF_PORT} on each engine's default bridge`,
          port: '<host ip>:5201 (the published port, DNAT in the host)',
          direct: "<container ip>:5201, routed by the world via the engine's host",
          berthDirectRule: `nft add rule inet berth berth-user ${userRule} (only during direct runs)`,
          dockerDirectRule:
            'none needed: Docker accepts forwarded traffic to a published container port',
          rounds: opts.rounds,
          metric: 'receiver bits per second (sum_received), Gbit/s',
        },
      },
      kernelMappings: kernel,
      dockerProxies: proxies,
      results: ops,
      publishTargets: {
        rule: `Berth median <= ${DOCKER_TARGET} x Docker median, and < ${ABSOLUTE_TARGET_MS} ms, for run -d -p`,
        berthOverDocker: Number((runOp.berth.median / runOp.docker.median).toPrecision(3)),
        vsDocker: runOp.met === true,
        under1s,
      },
      throughput: {
        gbps: sums,
        samples: tput,
        ratios,
        serverSawPeers: peers,
        targets: {
          rule: `Berth port >= ${DIRECT_TARGET} x Berth direct, and >= Docker port (medians)`,
          ...tputTargets,
        },
      },
      checks,
      figures: [
        {
          ...opFigure(`\`run -d\` with ${opts.ports} published ports`, runOp),
          target: `Berth ≤ ${DOCKER_TARGET} × Docker and < ${ABSOLUTE_TARGET_MS} ms`,
          met: runOp.met === true && under1s,
        },
        opFigure(`\`rm -f\` with ${opts.ports} published ports`, Object.values(ops)[1]!),
        {
          title: 'TCP through a published port (iperf3, median)',
          unit: 'Gbit/s',
          better: 'higher',
          values: { berth: sums.berth.port.median, docker: sums.docker.port.median },
          target: `Berth ≥ Docker and ≥ ${DIRECT_TARGET} × straight to the container`,
          met: tputTargets.portVsDirect && tputTargets.portVsDocker,
        },
        {
          title: 'TCP straight to the container (iperf3, median, context)',
          unit: 'Gbit/s',
          better: 'higher',
          values: { berth: sums.berth.direct.median, docker: sums.docker.direct.median },
        },
      ] satisfies Figure[],
    };
    console.log('\n' + markdownTable(ops) + '\n');
    console.log(
      `run -d -p: Berth ${((runOp.berth.median / runOp.docker.median) * 100).toFixed(2)}% of Docker's time ` +
        `(target <= ${DOCKER_TARGET * 100}%): ${runOp.met ? 'MET' : 'NOT MET'}; ` +
        `Berth median ${runOp.berth.median.toFixed(1)} ms (target < 1 s): ${under1s ? 'MET' : 'NOT MET'}`,
    );
    console.log('\n| engine | path | n | median | min | max |');
    console.log('|---|---|---|---|---|---|');
    for (const e of ENGINES) {
      for (const p of PATHS) {
        const s = sums[e][p];
        console.log(
          `| ${e} | ${p} | ${s.n} | ${s.median.toFixed(2)} Gbit/s | ${s.min.toFixed(2)} | ${s.max.toFixed(2)} |`,
        );
      }
    }
    console.log(
      `\nBerth port/direct ${ratios.berthPortOverDirect} (per round ${ratios.berthPortOverDirectPerRound}; ` +
        `target >= ${DIRECT_TARGET}): ${tputTargets.portVsDirect ? 'MET' : 'NOT MET'}; ` +
        `Berth port/Docker port ${ratios.berthPortOverDockerPort} (per round ` +
        `${ratios.berthPortOverDockerPortPerRound}; target >= 1): ${tputTargets.portVsDocker ? 'MET' : 'NOT MET'}`,
    );
    console.log(
      `iperf3 servers saw clients: berth ${peers.berth.join(' ')}; docker ${peers.docker.join(' ')}`,
    );
  } catch (e) {
    failed = true;
    console.error(`benchmark failed: ${(e as Error).message}`);
    if (dockerd) console.error(`dockerd log: ${dockerd.log} (removed with the lab)`);
  }
  return finishRun({ lab, dockerd, before, out, outPath: opts.out, failed });
}

runMain(main);
