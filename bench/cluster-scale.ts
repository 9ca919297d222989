/**
 * Benchmark: Berth's cluster at scale (issue 13, "Scale"), two parts, each
 * selectable:
 *
 *   1. Real (`--hosts N`, 0 skips it): an N-host cluster lab (3 etcd
 *      members), berthd in every host, one overlay network. A container is
 *      started on each host in turn (`run -d`, timed), and the moment it
 *      returns the containers of every earlier host ping it, all at once;
 *      then a second round where every host starts one more and all the
 *      others ping it. Each berthd's RSS (VmRSS) after each host joins.
 *   2. Simulation (`--sim-small N`, `--sim-large N`, 0 skips a stage): a
 *      3-member etcd (a 3-host cluster lab without daemons); in host 1 the
 *      observer, berthd's cluster part without its kernel; in host 2 N
 *      simulated hosts over a few shared connections (bench/lib/scale-sim.ts).
 *      Phases: register, endpoints, a lease-renewal round, paced churn, and
 *      joins of the observer with the applied/ reports of decision 0023.
 *      What the observer pays per change: watch events, CPU, memory, peers
 *      (the FDB), write-to-seen delay; and etcd's CPU and size.
 *
 *   node dist/bench/cluster-scale.js [--hosts 20] [--sim-small 1000]
 *       [--sim-large 10000] [--churn-rate 50] [--churn-seconds 10] [--joins 3]
 *       [--conns 8] [--out FILE]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LAB_ROOT, Lab, type LabDaemon } from '../src/lab/lab.js';
import { parseBenchArgs } from './lib/args.js';
import type { Figure } from './lib/figures.js';
import { finishRun, runMain } from './lib/finish.js';
import { snapshotMachine } from './lib/machine.js';
import { berthCommit, firstLine, machineInfo } from './lib/provenance.js';
import { dockerAt } from './lib/refdockerd.js';
import type { Mark } from './lib/scale-sim.js';
import { round1, summarize } from './lib/stats.js';

const parseArgs = (argv: string[]) =>
  parseBenchArgs('cluster-scale', argv, {
    hosts: { default: 20, min: 0, max: 40 },
    simSmall: { default: 1000, min: 0 },
    simLarge: { default: 10000, min: 0 },
    churnRate: { default: 50 },
    churnSeconds: { default: 10 },
    joins: { default: 3 },
    conns: { default: 8 },
  });
type Options = ReturnType<typeof parseArgs>;

const OVERLAY = 'scaleov';
const SUBNET = '10.30.0.0/16';
const SLEEP = ['sleep', '3600'];
const now = () => performance.now();

// ---------------------------------------------------------------- real part

/** VmRSS of a process in kB (0 when it is gone). */
function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** One ping from a container's namespace, as a child (so many run at once). */
function pingAsync(pid: string, ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = spawn(
      'nsenter',
      [`--net=/proc/${pid}/ns/net`, '--', 'busybox', 'ping', '-c1', '-W1', ip],
      {
        stdio: 'ignore',
      },
    );
    c.on('exit', (code) => resolve(code === 0));
    c.on('error', () => resolve(false));
  });
}

/**
 * Drops a container's dynamic neighbour entries. The kernel's IPv4 neighbour
 * table is one for every namespace of the machine, with one limit
 * (gc_thresh3), and 20 lab hosts pinging each other's containers fill it
 * (docs/benchmarks.md, cluster-scale): past it a neighbour cannot be made and
 * the ping is dropped, which real hosts, a table each, would not do. Done
 * after each start's pings are counted, so it never touches what is measured.
 */
function flushNeighAsync(pid: string): Promise<void> {
  return new Promise((resolve) => {
    const c = spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'ip', 'neigh', 'flush', 'all'], {
      stdio: 'ignore',
    });
    c.on('exit', () => resolve());
    c.on('error', () => resolve());
  });
}

interface RealStart {
  round: number;
  host: number;
  ip: string;
  runMs: number;
  /** Hosts whose container pinged it at once, and how many answered. */
  pingers: number;
  answered: number;
  failedFrom: number[];
  error?: string;
}

interface RealResult {
  hosts: number;
  startMs: number[];
  starts: RealStart[];
  /** Per join (index k: after host k+1 started its first container): each berthd's VmRSS in kB. */
  rssKb: number[][];
  rssEndKb: number[];
  errors: string[];
}

async function realPart(o: Options, logs: string): Promise<RealResult> {
  const res: RealResult = {
    hosts: o.hosts,
    startMs: [],
    starts: [],
    rssKb: [],
    rssEndKb: [],
    errors: [],
  };
  const lab = await Lab.create({ hosts: o.hosts, cluster: true, etcdMembers: 3 });
  console.log(`[real] lab ${lab.name}: ${o.hosts} hosts, berthd in each, etcd in h1-h3`);
  try {
    const cli = join(lab.dir, 'docker-cli');
    mkdirSync(cli, { recursive: true });
    const ds: LabDaemon[] = [];
    for (let i = 1; i <= o.hosts; i++) {
      const t0 = now();
      ds.push(
        await lab.startDaemon(i, {
          args: [...lab.clusterArgs(i), '--log-level', 'info'],
          timeoutMs: 60_000,
        }),
      );
      res.startMs.push(round1(now() - t0));
    }
    const docker = (h: number, args: string[]) => {
      const r = dockerAt(ds[h]!, cli, args);
      if (r.status !== 0)
        throw new Error(`h${h + 1}: docker ${args.join(' ')}: ${r.stderr.trim()}`);
      return r.stdout.trim();
    };
    docker(0, ['network', 'create', '-d', 'overlay', '--subnet', SUBNET, OVERLAY]);
    const pids: string[][] = ds.map(() => []);
    const rounds = [1, 2];
    for (const round of rounds) {
      for (let h = 0; h < o.hosts; h++) {
        const ip = `10.30.${round}.${h + 10}`;
        const t0 = now();
        const r = dockerAt(ds[h]!, cli, [
          ...['run', '-d', '--name', `r${round}h${h + 1}`, '--network', OVERLAY, '--ip', ip],
          ...['busybox', ...SLEEP],
        ]);
        const runMs = now() - t0;
        const s: RealStart = {
          round,
          host: h + 1,
          ip,
          runMs: round1(runMs),
          pingers: 0,
          answered: 0,
          failedFrom: [],
        };
        res.starts.push(s);
        if (r.status !== 0) {
          s.error = r.stderr.trim();
          res.errors.push(`round ${round} h${h + 1}: run -d: ${s.error}`);
        } else {
          // The moment run returns: every other host with a container pings it at once.
          const from = pids.flatMap((p, k) => (k !== h && p[0] ? [[k, p[0]] as const] : []));
          const ok = await Promise.all(from.map(([, pid]) => pingAsync(pid, ip)));
          s.pingers = from.length;
          s.answered = ok.filter(Boolean).length;
          s.failedFrom = from.filter((_, k) => !ok[k]).map(([k]) => k + 1);
          pids[h]!.push(docker(h, ['inspect', '-f', '{{.State.Pid}}', `r${round}h${h + 1}`]));
          await Promise.all([...from.map(([, pid]) => pid), pids[h]!.at(-1)!].map(flushNeighAsync));
        }
        if (round === 1) res.rssKb.push(ds.map((d) => rssKb(d.pid)));
        console.log(
          `[real] round ${round} h${h + 1}: run -d ${s.runMs} ms, pings ${s.answered}/${s.pingers}` +
            (s.failedFrom.length ? ` (missed from h${s.failedFrom.join(', h')})` : ''),
        );
      }
    }
    res.rssEndKb = ds.map((d) => rssKb(d.pid));
  } catch (e) {
    res.errors.push((e as Error).message);
    console.error(`[real] failed: ${(e as Error).stack}`);
  } finally {
    keepLogs(lab, logs);
    await lab.destroy();
  }
  return res;
}

function realSummary(r: RealResult) {
  const first = r.starts.filter((s) => s.round === 1 && !s.error);
  const pings = r.starts.reduce((a, s) => [a[0]! + s.answered, a[1]! + s.pingers], [0, 0]);
  // run -d latency against the number of hosts with containers, in bands of 5.
  const bands: Record<string, ReturnType<typeof summarize>> = {};
  for (let lo = 1; lo <= r.hosts; lo += 5) {
    const xs = first.filter((s) => s.host >= lo && s.host < lo + 5).map((s) => s.runMs);
    if (xs.length) bands[`hosts ${lo}-${Math.min(lo + 4, r.hosts)}`] = summarize(xs);
  }
  const rss = r.rssKb;
  const growth = rss.length
    ? r.rssEndKb.map((end, k) => end - (rss[k]?.[k] ?? rss[0]![k] ?? 0))
    : [];
  return {
    pingsAnswered: `${pings[0]}/${pings[1]}`,
    allAnswered: pings[0] === pings[1] && pings[1]! > 0,
    runMsRound1: summarize(first.map((s) => s.runMs)),
    runMsRound2: summarize(r.starts.filter((s) => s.round === 2 && !s.error).map((s) => s.runMs)),
    runMsByHosts: bands,
    daemonStartMs: summarize(r.startMs),
    rssKbAtOwnJoin: rss.map((row, k) => row[k]),
    rssKbEnd: r.rssEndKb,
    rssGrowthKbFromOwnJoinToEnd: growth,
    h1RssKbPerJoin: rss.map((row) => row[0]),
  };
}

// ---------------------------------------------------------- simulation part

/** A scale-sim.js process in a lab host, driven by JSON lines. */
class SimChild {
  private readonly c: ChildProcess;
  private readonly waiting = new Map<
    number,
    { ok: (x: unknown) => void; ko: (e: Error) => void }
  >();
  private id = 0;

  constructor(lab: Lab, host: number, role: string, logFile: string) {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'lib', 'scale-sim.js');
    const fd = openSync(logFile, 'a');
    this.c = lab.spawn(host, [process.execPath, script, role], { stdio: ['pipe', 'pipe', fd] });
    closeSync(fd);
    this.pid = this.c.pid ?? 0;
    createInterface({ input: this.c.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string };
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.ok) w?.ok(m.result);
      else w?.ko(new Error(`${role}: ${m.error}`));
    });
    this.c.on('exit', (code) => {
      for (const w of this.waiting.values()) w.ko(new Error(`${role} exited (${code})`));
      this.waiting.clear();
    });
  }

  readonly pid: number;

  call<T>(cmd: string, args?: unknown): Promise<T> {
    const id = ++this.id;
    return new Promise<T>((ok, ko) => {
      this.waiting.set(id, { ok: ok as (x: unknown) => void, ko });
      this.c.stdin!.write(JSON.stringify({ id, cmd, args }) + '\n');
    });
  }

  kill(): void {
    if (this.c.exitCode === null) this.c.kill('SIGKILL');
  }
}

/** CPU ticks (user + system) of a process, in ms. */
function cpuMsOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100; // USER_HZ = 100
  } catch {
    return 0;
  }
}

const sumValues = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const diffRec = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(
    [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]),
  );

/** What the observer (and etcd) paid between two marks. */
function phaseCost(a: Mark, b: Mark, etcdCpuMs: number, generator: Record<string, unknown>) {
  const events = sumValues(diffRec(a.events, b.events));
  const cpuMs = b.cpuMs - a.cpuMs;
  const s = (b.at - a.at) / 1000;
  return {
    seconds: round1(s),
    watchEvents: events,
    watchEventsByPrefix: diffRec(a.events, b.events),
    eventsPerS: round1(events / s),
    cpuMs: round1(cpuMs),
    cpuUsPerEvent: events ? round1((cpuMs * 1000) / events) : null,
    cpuShare: round1((cpuMs / (s * 1000)) * 100) / 100,
    storeCalls: diffRec(a.calls, b.calls),
    keysRead: b.keysRead - a.keysRead,
    peerUpdates: b.peers.runs - a.peers.runs,
    peerUpdateCpuMs: round1(b.peers.cpuMs - a.peers.cpuMs),
    fdb: b.peers.fdb,
    vteps: b.peers.vteps,
    rssKb: b.rssKb,
    heapUsedKb: b.heapUsedKb,
    etcdCpuMs: round1(etcdCpuMs),
    generator,
  };
}

/**
 * From a write's start (the simulated host sends its transaction) to the
 * observer's first sight of it, in ms. (The writer's own ack is no clock: the
 * loaded generator often handles it after the observer saw the change.)
 */
function delays(times: Record<string, [number, number]>, seen: Record<string, number>) {
  const d: number[] = [];
  let unseen = 0;
  for (const [k, [sent]] of Object.entries(times)) {
    const s = seen[k];
    if (s === undefined) unseen++;
    else d.push(s - sent);
  }
  return { ...summarize(d), unseen };
}

const etcdDbBytes = (lab: Lab) => {
  const r = lab.etcdctl(1, ['endpoint', 'status', '-w', 'json']);
  try {
    return (JSON.parse(r.stdout) as { Status: { dbSize: number } }[]).map((x) => x.Status.dbSize);
  } catch {
    return [];
  }
};

async function simStage(lab: Lab, n: number, o: Options, logs: string) {
  const prefix = `/scale${n}-${Date.now()}/`;
  const endpoints = lab.etcdEndpoints().map((u) => u.replace(/^http:\/\//, ''));
  const obs = new SimChild(lab, 1, 'observer', join(logs, `observer-${n}.log`));
  const gen = new SimChild(lab, 2, 'generator', join(logs, `generator-${n}.log`));
  const etcdPids = lab.etcdMembers.map((m) => m.pid);
  const etcdCpu = () => etcdPids.reduce((a, p) => a + cpuMsOf(p), 0);
  const out: Record<string, unknown> = { hosts: n };
  const phases: Record<string, unknown> = {};
  out.phases = phases;
  try {
    const { netId } = await obs.call<{ netId: string }>('init', {
      endpoints,
      prefix,
      node: lab.hosts[0]!.ip,
    });
    await gen.call('init', { endpoints, prefix, conns: o.conns, n, limit: 64, netId });
    out.rssKbIdle = (await obs.call<Mark>('mark')).rssKb;
    /** Runs a generator step between two observer marks; waits for the observer to see it. */
    const phase = async (name: string, step: () => Promise<Record<string, unknown>>) => {
      console.log(`[sim ${n}] ${name}`);
      const a = await obs.call<Mark>('mark');
      const e0 = etcdCpu();
      const g = await step();
      const b = await obs.call<Mark>('mark');
      const { times, ...rest } = g as { times?: Record<string, [number, number]> };
      const cost = phaseCost(a, b, etcdCpu() - e0, rest);
      const seen = await obs.call<Record<string, number>>('seen');
      phases[name] = times ? { ...cost, writeToSeenMs: delays(times, seen) } : cost;
      console.log(`[sim ${n}] ${name}: ${JSON.stringify(phases[name]).slice(0, 400)}`);
    };
    await phase('register', async () => {
      const r = await gen.call<Record<string, unknown>>('register');
      // Registration makes no endpoint events; give the nodes watches a moment.
      await new Promise((res) => setTimeout(res, 1000));
      return r;
    });
    await phase('endpoints', async () => {
      const r = await gen.call<Record<string, unknown>>('endpoints');
      const w = await obs.call<{ ms: number }>('waitFor', { endpoints: n + 1, timeoutMs: 300_000 });
      return { ...r, observerCaughtUpMsAfterLastWrite: round1(w.ms) };
    });
    await phase('keepalive', () => gen.call('keepalive'));
    await phase('churn', async () => {
      const r = await gen.call<Record<string, unknown>>('churn', {
        rate: o.churnRate,
        seconds: o.churnSeconds,
      });
      const w = await obs.call<{ ms: number }>('waitFor', { endpoints: n + 1, timeoutMs: 60_000 });
      await new Promise((res) => setTimeout(res, 500));
      return { ...r, observerCaughtUpMsAfterLastWrite: round1(w.ms) };
    });
    await gen.call('armReports');
    const joins: unknown[] = [];
    await phase('joins', async () => {
      for (let k = 0; k < o.joins; k++) {
        joins.push(await obs.call('join'));
        await new Promise((res) => setTimeout(res, 500));
      }
      // The report rounds of the last join may still be going on.
      for (let t = 0; t < 600; t++) {
        if ((await gen.call<unknown[]>('reportRounds')).length >= o.joins) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      return { joins, reportRounds: await gen.call('reportRounds') };
    });
    out.etcdDbBytes = etcdDbBytes(lab);
    await obs.call('close');
    out.generatorClose = await gen.call('close');
  } catch (e) {
    out.error = (e as Error).message;
    console.error(`[sim ${n}] failed: ${(e as Error).stack}`);
  } finally {
    obs.kill();
    gen.kill();
  }
  return out;
}

async function simPart(o: Options, logs: string): Promise<Record<string, unknown>> {
  const lab = await Lab.create({ hosts: 3, cluster: true, etcdMembers: 3 });
  console.log(`[sim] lab ${lab.name}: 3 etcd members; observer in h1, simulated hosts in h2`);
  mkdirSync(logs, { recursive: true });
  const stages: Record<string, unknown> = {};
  try {
    for (const n of [o.simSmall, o.simLarge].filter((x) => x > 0)) {
      stages[n] = await simStage(lab, n, o, logs);
    }
  } finally {
    keepLogs(lab, logs);
    await lab.destroy();
  }
  return stages;
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

/** The chart's figures: what a real host pays per change as the cluster grows. */
function scaleFigures(out: Record<string, unknown>): Figure[] {
  const figs: Figure[] = [];
  const real = out.real as { summary: ReturnType<typeof realSummary> } | undefined;
  if (real) {
    const bands = Object.entries(real.summary.runMsByHosts);
    if (bands.length) {
      figs.push({
        title:
          'Berth `run -d` on an overlay, by the hosts already holding a container (real hosts)',
        unit: 'ms',
        better: 'lower',
        values: Object.fromEntries(bands.map(([k, v]) => [k, v.median])),
      });
    }
    const [answered, sent] = real.summary.pingsAnswered.split('/').map(Number) as [number, number];
    figs.push({
      title: 'first pings answered the moment `run -d` returns, from every other host (real hosts)',
      unit: `of ${sent}`,
      better: 'higher',
      values: { berth: answered },
      target: `all ${sent}`,
      met: real.summary.allAnswered,
    });
    const h1 = real.summary.h1RssKbPerJoin.filter((x): x is number => typeof x === 'number');
    if (h1.length > 1) {
      figs.push({
        title: "host 1's berthd memory (VmRSS) as the other hosts join",
        unit: 'MB',
        better: 'lower',
        values: {
          'first join': Math.round(h1[0]! / 102.4) / 10,
          'last join': Math.round(h1[h1.length - 1]! / 102.4) / 10,
        },
        target: 'flat as hosts join (within 10%)',
        met: h1[h1.length - 1]! <= h1[0]! * 1.1,
      });
    }
  }
  const sim = (out.sim ?? {}) as Record<
    string,
    { phases?: Record<string, { cpuUsPerEvent?: number | null }> }
  >;
  const churn = Object.entries(sim)
    .map(([n, st]) => [n, st.phases?.churn?.cpuUsPerEvent] as const)
    .filter((x): x is readonly [string, number] => typeof x[1] === 'number');
  if (churn.length) {
    figs.push({
      title: "the real host's CPU per endpoint change, under churn, by simulated hosts",
      unit: 'µs',
      better: 'lower',
      values: Object.fromEntries(
        churn.map(([n, v]) => [`${Number(n).toLocaleString('en')} hosts`, v]),
      ),
    });
  }
  return figs;
}

async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  const before = snapshotMachine(LAB_ROOT);
  const logDir = `${o.out.replace(/\.json$/, '')}-logs`;
  let failed = false;
  const out: Record<string, unknown> = {
    benchmark: 'cluster-scale',
    date: new Date().toISOString(),
    machine: machineInfo(),
    versions: {
      berthCommit: berthCommit().commit,
      berthWorktreeDirty: berthCommit().dirty,
      etcd: firstLine(['etcd', '--version']),
      node: process.version,
    },
    method: {
      ...o,
      real: 'cluster lab of --hosts hosts (3 etcd members in h1-h3), berthd in each; one overlay; round 1: each host in turn runs one container (docker run -d --ip, whole CLI), and as run returns every earlier host pings it at once (busybox ping -c1 -W1 each, in parallel); round 2: each host runs one more and all others ping it; after the pings of each start the pingers and the target drop their dynamic neighbour entries (the one ARP table, gc_thresh3). VmRSS of every berthd after each round-1 start and at the end.',
      sim: `3-host cluster lab, 3 etcd members, no berthd; observer (NodeRegistry, GlobalNetworks, Convergence, Reaper and the controller's peer update, no kernel) in h1; N simulated hosts in h2 over ${o.conns} shared etcd connections, 64 requests in flight; each stage under its own key prefix.`,
    },
  };
  try {
    if (o.hosts > 0) {
      const r = await realPart(o, join(logDir, 'real'));
      out.real = { summary: realSummary(r), raw: r };
      failed ||= r.errors.length > 0;
      console.log(JSON.stringify((out.real as { summary: unknown }).summary, null, 1));
    }
    if (o.simSmall > 0 || o.simLarge > 0) {
      out.sim = await simPart(o, join(logDir, 'sim'));
      failed ||= Object.values(out.sim as Record<string, { error?: string }>).some((s) => s.error);
    }
  } catch (e) {
    failed = true;
    out.error = (e as Error).message;
    console.error((e as Error).stack);
  }
  out.logs = logDir;
  out.figures = scaleFigures(out);
  // A stage skipped (`--hosts 0`, a simulation size 0): its figures are
  // missing, so the chart keeps the last whole run (bench/charts.ts).
  if (o.hosts === 0 || o.simSmall === 0 || o.simLarge === 0) out.partial = true;
  return finishRun({ before, out, outPath: o.out, failed });
}

runMain(main);
