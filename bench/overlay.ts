/**
 * Benchmark: overlay networks across two hosts, Berth against Docker 20.10
 * (its legacy overlay over etcd), in ONE run: first a 2-host cluster lab with
 * berthd in each host, then (Berth's lab torn down) the same lab with one
 * dockerd per host. Both labs have one etcd member, in host 1, and the same
 * underlay (veth, switch bridge, veth). In each:
 *
 *   1. `run -d` on host 2, whole CLI commands, on the overlay, the default
 *      bridge and a user bridge, in turns;
 *   2. attach and detach of a running container (Engine API) to the overlay
 *      and to a user bridge, in turns;
 *   3. convergence: `run -d --ip A` on host 2, and the moment it returns one
 *      `ping -c1 -W1 A` from a container on host 1, `--tries` times;
 *   4. TCP throughput (iperf3): container on host 2 to container on host 1
 *      over the overlay, host 2 to host 1 over the underlay, and the underlay
 *      with the overlay's MSS, in rounds.
 *
 * Checks the targets, prints tables and writes JSON. See docs/benchmarks.md.
 *
 *   node dist/bench/overlay.js [--iterations 20] [--warmup 2] [--attach-iterations 50]
 *       [--attach-warmup 10] [--tries 100] [--rounds 3] [--seconds 5] [--out FILE]
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab } from '../src/lab/lab.js';
import { run } from '../src/lab/proc.js';
import { parseBenchArgs } from './lib/args.js';
import { call } from './lib/api.js';
import { DockerdSlot, labProcess, stopLabProcess } from './lib/capture.js';
import { opFigure, type Figure } from './lib/figures.js';
import { finishRun, runMain } from './lib/finish.js';
import { IPERF3_IMAGE, importBusybox, importIperf3 } from './lib/image.js';
import { gbpsSummary, iperf3Client, perRoundRatio, type Iperf } from './lib/iperf.js';
import { snapshotMachine, type MachineSnapshot } from './lib/machine.js';
import { dockerAt, startRefDockerd, type RefDockerd } from './lib/refdockerd.js';
import { ENGINES, markdownTable, opResult, type Engine, type OpResult } from './lib/report.js';
import { round1, summarize } from './lib/stats.js';
import { berthCommit, firstLine, machineInfo } from './lib/provenance.js';

/** Berth's overlay `run -d` at most this fraction of Docker's (median). */
const RUN_TARGET = 0.2;
/** Berth's overlay attach at most this multiple of its user-bridge attach (median). */
const ATTACH_TARGET = 2;
/** Berth's overlay throughput at least this fraction of the underlay's. */
const UNDERLAY_TARGET = 0.9;
const OVERLAY = 'benchov';
const USER_BRIDGE = 'benchbr';
const SUBNET = '10.20.0.0/24';
/** p1 (host 1, pings), srv (host 1, iperf3 server), r2 (host 2, iperf3 client). */
const IPS = { p1: '10.20.0.2', srv: '10.20.0.3', r2: '10.20.0.4' };
/** Convergence try k runs a container at 10.20.0.(FIRST_TRY + k). */
const FIRST_TRY = 100;
const MAX_TRIES = 150;
const IPERF_PORT = 5201;
const UNDERLAY_PORT = 5202;
const SLEEP = ['sleep', '3600'];
/** How long a missed convergence try keeps pinging, to say when the peer did answer. */
const LATE_LIMIT_MS = 5000;

const parseArgs = (argv: string[]) =>
  parseBenchArgs('overlay', argv, {
    iterations: { default: 20 },
    warmup: { default: 2, min: 0 },
    // A few ms each: more of them, after more warm-ups, than a `run -d`
    // (with 20 after 2, a handful of slow ones moved the medians).
    attachIterations: { default: 50 },
    attachWarmup: { default: 10, min: 0 },
    tries: { default: 100, max: MAX_TRIES },
    rounds: { default: 3 },
    seconds: { default: 5 },
  });
type Options = ReturnType<typeof parseArgs>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

let interrupted = false;
/** Lets a SIGINT handler run, then stops the run if one came. */
async function checkpoint(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  if (interrupted) throw new Error('interrupted');
}

/** One engine's daemon in one lab host, as the CLI and the API reach it. */
interface Daemon {
  env: { DOCKER_HOST: string };
  socket: string;
}

/** One engine's two-host cluster, ready to measure. */
interface Side {
  engine: Engine;
  lab: Lab;
  daemons: [Daemon, Daemon];
  cli: string;
  /** The namespace holding the overlay's vxlan0 on a host (0-based), for diagnostics. */
  overlayNs(host: number, netId: string): string;
}

const RUN_NETS = { overlay: OVERLAY, bridge: 'bridge', userBridge: USER_BRIDGE } as const;
type RunNet = keyof typeof RUN_NETS;
const ATTACH_NETS = { overlay: OVERLAY, userBridge: USER_BRIDGE } as const;
type AttachNet = keyof typeof ATTACH_NETS;
const PATHS = ['overlay', 'underlay', 'underlayMss'] as const;
type PathName = (typeof PATHS)[number];

/** One convergence try. */
interface Try {
  ip: string;
  /** Wall time of `run -d`. */
  runMs: number;
  /** Whether the first ping (sent as run returned) was answered. */
  answered: boolean;
  /** Its round trip, when answered. */
  rttMs: number | null;
  /** For a missed try: ms from run's return until a later ping was answered (null: not within LATE_LIMIT_MS). */
  lateMs: number | null;
  /** ping's output of a missed first ping. */
  error?: string;
}

/** Everything measured on one engine (filled in as the run goes, kept on failure). */
interface SideResult {
  server: string;
  runD: Record<RunNet, number[]>;
  attach: Record<AttachNet, number[]>;
  detach: Record<AttachNet, number[]>;
  convergence: Try[];
  throughput: Record<PathName, Iperf[]>;
  diagnostics: Record<string, string | number>;
  /** What failed (a phase, or the side), in order. */
  errors: string[];
}

function newResult(): SideResult {
  return {
    server: '',
    runD: { overlay: [], bridge: [], userBridge: [] },
    attach: { overlay: [], userBridge: [] },
    detach: { overlay: [], userBridge: [] },
    convergence: [],
    throughput: { overlay: [], underlay: [], underlayMss: [] },
    diagnostics: {},
    errors: [],
  };
}

/** The docker CLI against host `h` (0-based) of a side; throws on failure. */
function docker(s: Side, h: number, args: string[]): string {
  const r = dockerAt(s.daemons[h]!, s.cli, args);
  if (r.status !== 0)
    throw new Error(`${s.engine} h${h + 1}: docker ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** A whole `docker` CLI command timed (spawn to exit); throws on failure. */
function timedDocker(s: Side, h: number, args: string[]): { ms: number; out: string } {
  const t0 = now();
  const out = docker(s, h, args);
  return { ms: now() - t0, out };
}

/** Busybox ping (the machine has no other) from a container's network namespace. */
function ping(pid: string, ip: string): { ok: boolean; rttMs: number | null; text: string } {
  const r = run(
    ['nsenter', `--net=/proc/${pid}/ns/net`, '--', 'busybox', 'ping', '-c1', '-W1', ip],
    {
      timeout: 10_000,
    },
  );
  const rtt = /time=([\d.]+) ms/.exec(r.stdout)?.[1];
  return {
    ok: r.status === 0,
    rttMs: rtt === undefined ? null : Number(rtt),
    text: (r.stdout + r.stderr).trim(),
  };
}

/** eth0's MTU in a namespace (by netlink: `nsenter --net` keeps the machine's /sys). */
function eth0Mtu(netns: string): number {
  const r = run(['nsenter', `--net=${netns}`, '--', 'ip', '-j', 'link', 'show', 'dev', 'eth0']);
  const mtu = (JSON.parse(r.stdout || '[]') as { mtu?: number }[])[0]?.mtu;
  if (mtu === undefined) throw new Error(`no eth0 in ${netns}: ${r.stderr.trim()}`);
  return mtu;
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

/** What the phases share: the side, the options, the results, and the containers' PIDs. */
interface Ctx {
  s: Side;
  o: Options;
  res: SideResult;
  tag: string;
  netId: string;
  /** PIDs of p1 (host 1) and r2 (host 2), for nsenter. */
  p1: string;
  r2: string;
}

/** The set-up both engines get: the networks and the resident containers. */
async function setUp(s: Side, o: Options, res: SideResult): Promise<Ctx> {
  const tag = `[${s.engine}]`;
  res.server = docker(s, 1, ['version', '--format', '{{.Server.Version}}']);
  const netId = docker(s, 0, ['network', 'create', '-d', 'overlay', '--subnet', SUBNET, OVERLAY]);
  await until(
    `${tag} ${OVERLAY} visible on host 2`,
    () => dockerAt(s.daemons[1], s.cli, ['network', 'inspect', OVERLAY]).status === 0,
    10_000,
  );
  docker(s, 1, ['network', 'create', USER_BRIDGE]);
  const runOn = (h: number, name: string, ip: string, image: string[]) =>
    docker(s, h, ['run', '-d', '--name', name, '--network', OVERLAY, '--ip', ip, ...image]);
  runOn(0, 'p1', IPS.p1, ['busybox', ...SLEEP]);
  runOn(0, 'srv', IPS.srv, [IPERF3_IMAGE]);
  runOn(1, 'r2', IPS.r2, ['busybox', ...SLEEP]);
  docker(s, 1, ['run', '-d', '--name', 'att', 'busybox', ...SLEEP]);
  const [p1, r2] = [pid(s, 0, 'p1'), pid(s, 1, 'r2')];
  await until(`${tag} r2 (host 2) reaches p1 (host 1)`, () => ping(r2, IPS.p1).ok, 10_000);
  return { s, o, res, tag, netId, p1, r2 };
}

const pid = (s: Side, h: number, name: string) =>
  docker(s, h, ['inspect', '-f', '{{.State.Pid}}', name]);

/** 1. `run -d` on host 2, the three networks in turns; `rm -f` untimed. */
async function runLatency({ s, o, res, tag }: Ctx): Promise<void> {
  const nets = Object.keys(RUN_NETS) as RunNet[];
  console.log(`${tag} run -d: ${o.warmup} warm-up + ${o.iterations} iterations per network`);
  for (let i = 0; i < o.warmup + o.iterations; i++) {
    for (let k = 0; k < nets.length; k++) {
      await checkpoint();
      const net = nets[(i + k) % nets.length]!;
      const r = timedDocker(s, 1, ['run', '-d', '--network', RUN_NETS[net], 'busybox', ...SLEEP]);
      if (!/^[0-9a-f]{64}$/.test(r.out)) throw new Error(`${tag} run printed ${r.out}`);
      docker(s, 1, ['rm', '-f', r.out]);
      if (i >= o.warmup) res.runD[net].push(r.ms);
    }
  }
}

/** 2. Attach and detach of `att` (default bridge, host 2), the overlay and the user bridge in turns. */
async function attachLatency({ s, o, res, tag }: Ctx): Promise<void> {
  const sock = s.daemons[1].socket;
  const api = async (net: string, op: 'connect' | 'disconnect') => {
    const r = await call(sock, 'POST', `/networks/${net}/${op}`, { Container: 'att' });
    if (r.status !== 200) throw new Error(`${tag} ${op} ${net}: ${r.status} ${r.text}`);
    return r.ms;
  };
  const warmup = o.attachWarmup;
  console.log(
    `${tag} attach/detach: ${warmup} warm-up + ${o.attachIterations} iterations per network`,
  );
  for (let i = 0; i < warmup + o.attachIterations; i++) {
    const order = Object.keys(ATTACH_NETS) as AttachNet[];
    for (const net of i % 2 ? order.reverse() : order) {
      await checkpoint();
      const a = await api(ATTACH_NETS[net], 'connect');
      const d = await api(ATTACH_NETS[net], 'disconnect');
      if (i >= warmup) {
        res.attach[net].push(a);
        res.detach[net].push(d);
      }
    }
  }
}

/**
 * 3. Convergence: `run -d --ip A` on host 2, then at once one ping from p1
 * (host 1). A failed `run` is a missed try too.
 */
async function convergence({ s, o, res, tag, p1 }: Ctx): Promise<void> {
  console.log(`${tag} convergence: ${o.tries} tries`);
  for (let k = 0; k < o.tries; k++) {
    await checkpoint();
    const ip = `10.20.0.${FIRST_TRY + k}`;
    const args = ['run', '-d', '--name', `cv${k}`, '--network', OVERLAY, '--ip', ip];
    const t0 = now();
    const r = dockerAt(s.daemons[1], s.cli, [...args, 'busybox', ...SLEEP]);
    const t1 = now();
    const t: Try = { ip, runMs: t1 - t0, answered: false, rttMs: null, lateMs: null };
    res.convergence.push(t);
    if (r.status !== 0) {
      t.error = `run -d failed: ${r.stderr.trim()}`;
      console.error(`${tag} try ${k}: ${t.error}`);
      dockerAt(s.daemons[1], s.cli, ['rm', '-f', `cv${k}`]);
      continue;
    }
    const first = ping(p1, ip);
    Object.assign(t, { answered: first.ok, rttMs: first.rttMs });
    if (!first.ok) {
      t.error = first.text;
      while (now() - t1 < LATE_LIMIT_MS) {
        if (ping(p1, ip).ok) {
          t.lateMs = round1(now() - t1);
          break;
        }
        await sleep(10);
      }
      console.error(`${tag} try ${k}: ${ip} not answered at once; after ${t.lateMs ?? '-'} ms`);
    }
    docker(s, 1, ['rm', '-f', `cv${k}`]);
    await sleep(100);
  }
}

/** 4. iperf3 over the overlay (r2 to srv), the underlay, and the underlay at the overlay's MSS. */
async function throughput({ s, o, res, tag, netId, r2 }: Ctx): Promise<void> {
  const mtu = eth0Mtu(`/proc/${r2}/ns/net`);
  const vxlan = run([
    'nsenter',
    `--net=${s.overlayNs(1, netId)}`,
    '--',
    ...['ip', '-d', '-o', 'link', 'show', 'vxlan0'],
  ]);
  Object.assign(res.diagnostics, {
    containerMtu: mtu,
    underlayMtu: eth0Mtu(s.lab.netns(2)),
    vxlanHost2: (vxlan.stdout || vxlan.stderr).trim(),
  });
  // MSS on the overlay: the container's MTU less IPv4 and TCP headers.
  const mss = String(mtu - 40);
  const server = labProcess(s.lab, 'h1', ['iperf3', '-s', '-p', String(UNDERLAY_PORT)]);
  try {
    const listening = (netns: string, port: number) =>
      run(['nsenter', `--net=${netns}`, '--', 'ss', '-Hltn', `sport = :${port}`]).stdout.trim() !==
      '';
    const srv = `/proc/${pid(s, 0, 'srv')}/ns/net`;
    await until(
      `${tag} iperf3 servers listening`,
      () => listening(s.lab.netns(1), UNDERLAY_PORT) && listening(srv, IPERF_PORT),
      10_000,
    );
    const h1 = s.lab.hosts[0]!.ip;
    const path: Record<PathName, () => Iperf> = {
      overlay: () => iperf3Client(`/proc/${r2}/ns/net`, IPS.srv, IPERF_PORT, o.seconds),
      underlay: () => iperf3Client(s.lab.netns(2), h1, UNDERLAY_PORT, o.seconds),
      underlayMss: () => iperf3Client(s.lab.netns(2), h1, UNDERLAY_PORT, o.seconds, ['-M', mss]),
    };
    console.log(
      `${tag} iperf3: ${o.rounds} rounds of ${o.seconds} s per path (MSS on the overlay ${mss})`,
    );
    for (let i = 0; i < o.rounds; i++) {
      for (let k = 0; k < PATHS.length; k++) {
        await checkpoint();
        const p = PATHS[(i + k) % PATHS.length]!;
        res.throughput[p].push(path[p]());
      }
    }
  } finally {
    await stopLabProcess(server);
  }
}

/**
 * The measurements, the same on both engines. A phase that fails is recorded
 * and the next one runs; a failed set-up or an interrupt ends the side.
 */
async function measure(s: Side, o: Options, res: SideResult): Promise<void> {
  const ctx = await setUp(s, o, res);
  const phases = { runLatency, attachLatency, convergence, throughput };
  for (const [name, phase] of Object.entries(phases)) {
    try {
      await phase(ctx);
    } catch (e) {
      if (interrupted) throw e;
      res.errors.push(`${name}: ${(e as Error).message}`);
      console.error(`${ctx.tag} ${name} failed: ${(e as Error).message}`);
    }
  }
}

/** Copies the daemons' and etcd's logs of a lab next to the results, before the lab goes. */
function keepLogs(lab: Lab, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const h of lab.hosts) {
    for (const f of readdirSync(h.dir).filter((n) => n.endsWith('.log'))) {
      copyFileSync(join(h.dir, f), join(dir, `h${h.index}-${f}`));
    }
  }
}

/** Berth: berthd in each host of a cluster lab. */
async function berthSide(o: Options, res: SideResult, logs: string): Promise<void> {
  const lab = await Lab.create({ hosts: 2, cluster: true, etcdMembers: 1 });
  console.log(`[berth] lab ${lab.name}: berthd in both hosts, etcd in host 1`);
  try {
    const cli = join(lab.dir, 'docker-cli');
    mkdirSync(cli, { recursive: true });
    const ds: Daemon[] = [];
    for (const i of [1, 2]) {
      const args = [...lab.clusterArgs(i), '--log-level', 'info'];
      ds.push(await lab.startDaemon(i, { args, timeoutMs: 30_000 }));
    }
    const execRoots = lab.daemons().map((d) => d.execRoot);
    await importIperf3([ds[0]!], cli, lab.dir);
    const side: Side = {
      engine: 'berth',
      lab,
      daemons: [ds[0]!, ds[1]!],
      cli,
      overlayNs: (h, id) => join(execRoots[h]!, 'overlay', `ov-${id.slice(0, 12)}`),
    };
    await measure(side, o, res);
  } finally {
    keepLogs(lab, logs);
    await lab.destroy();
  }
}

/** Docker 20.10: one dockerd per host (own UTS namespace), cluster store on the lab's etcd. */
async function dockerSide(
  o: Options,
  res: SideResult,
  logs: string,
  before: MachineSnapshot,
  problems: string[],
): Promise<void> {
  const lab = await Lab.create({ hosts: 2, cluster: true, etcdMembers: 1 });
  console.log(`[docker] lab ${lab.name}: dockerd 20.10 in both hosts, etcd in host 1`);
  const slot = new DockerdSlot(before, problems);
  try {
    const cli = join(lab.dir, 'docker-cli');
    mkdirSync(cli, { recursive: true });
    const refs: RefDockerd[] = [];
    for (const [i, h] of lab.hosts.entries()) {
      const ref = await startRefDockerd(lab, h, {
        dns: lab.world.ip,
        preexisting: before.paths,
        args: ['-H', `tcp://${h.ip}:2375`, ...lab.clusterArgs(h)],
        hostname: `${lab.name}host${i + 1}`,
        spawned: slot.spawned,
      });
      await importBusybox(ref, cli, h.dir);
      refs.push(ref);
    }
    await importIperf3([refs[0]!], cli, lab.dir);
    // Both nodes register and gossip before the first network (as the capture found).
    await sleep(2000);
    const side: Side = {
      engine: 'docker',
      lab,
      daemons: [refs[0]!, refs[1]!],
      cli,
      overlayNs: (h, id) => join(refs[h]!.execRoot, 'netns', `1-${id.slice(0, 10)}`),
    };
    await measure(side, o, res);
  } finally {
    try {
      await slot.stop();
    } finally {
      keepLogs(lab, logs);
      await lab.destroy();
    }
  }
}

const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;

function convergenceSummary(t: Try[]) {
  const missed = t.filter((x) => !x.answered);
  return {
    tries: t.length,
    answered: t.length - missed.length,
    runFailed: t.filter((x) => x.error?.startsWith('run -d failed')).length,
    runMs: summarize(t.map((x) => x.runMs)),
    rttMs: summarize(t.flatMap((x) => (x.rttMs === null ? [] : [x.rttMs]))),
    missedLateMs: missed.map((x) => x.lateMs),
    samples: t.map((x) => ({ ...x, runMs: round1(x.runMs) })),
  };
}

function throughputSummary(t: Record<PathName, Iperf[]>) {
  const each = <T>(f: (xs: Iperf[]) => T) =>
    Object.fromEntries(PATHS.map((p) => [p, f(t[p])])) as Record<PathName, T>;
  return {
    gbps: each(gbpsSummary),
    cpuPerGbps: each((xs) => round1(summarize(xs.map((x) => x.cpuPerGbps)).median)),
    overlayOverUnderlay: perRoundRatio(t.overlay, t.underlay),
    overlayOverUnderlayMss: perRoundRatio(t.overlay, t.underlayMss),
    retransmits: each((xs) => xs.map((x) => x.retransmits)),
    samples: each((xs) => xs.map((x) => Math.round(x.gbps * 1000) / 1000)),
  };
}

/** The latency rows, Berth against Docker (rows an engine has no samples for are left out). */
function latencyOps(res: Record<Engine, SideResult>): Record<string, OpResult> {
  const rows: [string, string, (r: SideResult) => number[], number?][] = [
    [
      'run -d (overlay)',
      `docker run -d --network ${OVERLAY} busybox sleep 3600`,
      (r) => r.runD.overlay,
      RUN_TARGET,
    ],
    [
      'run -d (default bridge)',
      'docker run -d --network bridge busybox sleep 3600',
      (r) => r.runD.bridge,
    ],
    [
      'run -d (user bridge)',
      `docker run -d --network ${USER_BRIDGE} busybox sleep 3600`,
      (r) => r.runD.userBridge,
    ],
    ['attach (overlay)', `POST /networks/${OVERLAY}/connect`, (r) => r.attach.overlay],
    ['attach (user bridge)', `POST /networks/${USER_BRIDGE}/connect`, (r) => r.attach.userBridge],
    ['detach (overlay)', `POST /networks/${OVERLAY}/disconnect`, (r) => r.detach.overlay],
    [
      'detach (user bridge)',
      `POST /networks/${USER_BRIDGE}/disconnect`,
      (r) => r.detach.userBridge,
    ],
  ];
  const ops: Record<string, OpResult> = {};
  for (const [name, cmd, f, target] of rows) {
    const samples = { berth: f(res.berth), docker: f(res.docker) };
    if (samples.berth.length > 0 && samples.docker.length > 0) {
      ops[name] = opResult(cmd, samples, target);
    }
  }
  return ops;
}

async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (interrupted = true));
  const before = snapshotMachine(LAB_ROOT);
  const problems: string[] = [];
  const res = { berth: newResult(), docker: newResult() };
  const logDir = `${o.out.replace(/\.json$/, '')}-logs`;
  for (const e of ENGINES) {
    if (interrupted) break;
    try {
      const logs = join(logDir, e);
      if (e === 'berth') await berthSide(o, res.berth, logs);
      else await dockerSide(o, res.docker, logs, before, problems);
    } catch (err) {
      res[e].errors.push((err as Error).message);
      console.error(`[${e}] failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  const ops = latencyOps(res);
  const convergence = {
    berth: convergenceSummary(res.berth.convergence),
    docker: convergenceSummary(res.docker.convergence),
  };
  const throughput = {
    berth: throughputSummary(res.berth.throughput),
    docker: throughputSummary(res.docker.throughput),
  };
  const bt = throughput.berth;
  const vsDocker = ratio(bt.gbps.overlay.median, throughput.docker.gbps.overlay.median);
  const attachRatio = (e: Engine) =>
    ratio(summarize(res[e].attach.overlay).median, summarize(res[e].attach.userBridge).median);
  const targets = {
    convergence: {
      rule: `Berth: the first ping answered in every one of ${o.tries} tries`,
      value: `${convergence.berth.answered}/${convergence.berth.tries}`,
      met: convergence.berth.tries === o.tries && convergence.berth.answered === o.tries,
    },
    runD: {
      rule: `Berth's overlay run -d median <= ${RUN_TARGET} x Docker's`,
      value: ops['run -d (overlay)']?.ratio.median ?? null,
      met: ops['run -d (overlay)']?.met ?? false,
    },
    throughputVsDocker: {
      rule: "Berth's overlay throughput (median) >= Docker's overlay (median)",
      value: vsDocker,
      met: vsDocker >= 1,
    },
    throughputVsUnderlay: {
      rule: `Berth's overlay throughput >= ${UNDERLAY_TARGET} x the underlay's (median of per-round ratios)`,
      value: bt.overlayOverUnderlay,
      met: bt.overlayOverUnderlay >= UNDERLAY_TARGET,
    },
    attach: {
      rule: `Berth's overlay attach median <= ${ATTACH_TARGET} x its user-bridge attach median (Docker's: ${attachRatio('docker')})`,
      value: attachRatio('berth'),
      met: attachRatio('berth') <= ATTACH_TARGET,
    },
  };

  const berth = berthCommit();
  const out: Record<string, unknown> = {
    benchmark: 'overlay',
    date: new Date().toISOString(),
    machine: machineInfo(),
    versions: {
      berthCommit: berth.commit,
      berthWorktreeDirty: berth.dirty,
      berthd: res.berth.server,
      dockerd: res.docker.server,
      etcd: firstLine(['etcd', '--version']),
      iperf3: firstLine(['iperf3', '--version']),
      dockerCli: firstLine(['docker', 'version', '--format', '{{.Client.Version}}']),
      node: process.version,
    },
    method: {
      ...o,
      labs: 'one cluster lab per engine, one after the other (Berth first): 2 hosts on the underlay switch, one etcd member (v2 API on) in host 1',
      runD: 'wall time of the whole docker CLI process on host 2; the three networks in turns; rm -f untimed',
      attach:
        'Engine API over one kept-alive unix-socket connection, a container of the default bridge on host 2; the two networks in turns',
      convergence: `run -d --ip 10.20.0.(${FIRST_TRY}+k) on host 2, then at once busybox ping -c1 -W1 in p1's namespace (host 1); a missed try pings on for ${LATE_LIMIT_MS} ms`,
      throughput: `iperf3 -t ${o.seconds} -O 1 -J; overlay: in r2's namespace (host 2) to the iperf3 container srv on host 1; underlay: host 2 to host 1; underlayMss: the same with -M <overlay MTU - 40>; the paths in turns`,
    },
    results: ops,
    convergence,
    throughput,
    diagnostics: { berth: res.berth.diagnostics, docker: res.docker.diagnostics },
    logs: logDir,
    errors: { berth: res.berth.errors, docker: res.docker.errors, cleanup: problems },
    targets,
    figures: overlayFigures(ops, convergence, throughput, targets, o.tries),
  };
  printTables(ops, convergence, throughput);
  for (const t of Object.values(targets)) {
    console.log(`${t.rule}: ${t.value} ${t.met ? 'MET' : 'NOT MET'}`);
  }
  const failed = ENGINES.some((e) => res[e].errors.length > 0) || problems.length > 0;
  return finishRun({ before, out, outPath: o.out, failed });
}

/** The chart's figures, one per target of issue 13 (and the bridge rows as context). */
function overlayFigures(
  ops: Record<string, OpResult>,
  convergence: Record<Engine, ReturnType<typeof convergenceSummary>>,
  throughput: Record<Engine, ReturnType<typeof throughputSummary>>,
  targets: Record<string, { met: boolean }>,
  tries: number,
): Figure[] {
  const figs: Figure[] = [];
  const run = ops['run -d (overlay)'];
  if (run) figs.push(opFigure('`run -d` on an overlay (whole CLI command)', run));
  const ua = ops['attach (overlay)'];
  const ub = ops['attach (user bridge)'];
  if (ua && ub) {
    figs.push({
      title: 'attach: overlay against user bridge, on each engine',
      unit: 'ms',
      better: 'lower',
      values: {
        'Berth overlay': ua.berth.median,
        'Berth bridge': ub.berth.median,
        'Docker overlay': ua.docker.median,
        'Docker bridge': ub.docker.median,
      },
      target: `Berth overlay ≤ ${ATTACH_TARGET} × Berth bridge`,
      met: targets.attach!.met,
    });
  }
  figs.push({
    title: `first ping answered the moment \`run -d\` returns, of ${tries} tries`,
    unit: 'answered',
    better: 'higher',
    values: { berth: convergence.berth.answered, docker: convergence.docker.answered },
    target: `Berth ${tries} of ${tries}`,
    met: targets.convergence!.met,
  });
  const tb = throughput.berth.gbps;
  figs.push({
    title: 'TCP across hosts over the overlay (iperf3, median)',
    unit: 'Gbit/s',
    better: 'higher',
    values: {
      berth: tb.overlay.median,
      docker: throughput.docker.gbps.overlay.median,
      underlay: tb.underlay.median,
    },
    target: `Berth ≥ Docker and ≥ ${UNDERLAY_TARGET} × the underlay (median of per-round ratios: ${throughput.berth.overlayOverUnderlay})`,
    met: targets.throughputVsDocker!.met && targets.throughputVsUnderlay!.met,
  });
  return figs;
}

function printTables(
  ops: Record<string, OpResult>,
  convergence: Record<Engine, ReturnType<typeof convergenceSummary>>,
  throughput: Record<Engine, ReturnType<typeof throughputSummary>>,
): void {
  console.log('\n' + markdownTable(ops) + '\n');
  console.log(
    '| engine | first ping answered | run -d median | rtt median | missed: answered after |',
  );
  console.log('|---|---|---|---|---|');
  for (const e of ENGINES) {
    const c = convergence[e];
    const late = c.missedLateMs.map((x) => (x === null ? `>${LATE_LIMIT_MS}` : String(x)));
    if (c.runFailed) late.push(`(${c.runFailed} of them: run -d failed)`);
    console.log(
      `| ${e} | ${c.answered}/${c.tries} | ${c.runMs.median.toFixed(1)} ms | ${c.rttMs.median} ms | ${late.length ? late.join(' ') + ' ms' : '–'} |`,
    );
  }
  console.log(
    '\n| engine | overlay Gbit/s | underlay Gbit/s | underlay, overlay MSS | overlay/underlay (per round) | CPU %/(Gbit/s) overlay, underlay |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const e of ENGINES) {
    const t = throughput[e];
    console.log(
      `| ${e} | ${t.gbps.overlay.median} | ${t.gbps.underlay.median} | ${t.gbps.underlayMss.median} | ` +
        `${t.overlayOverUnderlay} | ${t.cpuPerGbps.overlay}, ${t.cpuPerGbps.underlay} |`,
    );
  }
  console.log('');
}

runMain(main);
