/**
 * Benchmark: does attach stay fast on a busy host? The target: "Attach
 * time with 1000 endpoints and 200 networks present is within 1.5x of the time
 * on an empty host." One lab, one berthd. Measures attach/detach of a running
 * container to a user bridge network (and network create/rm) on an empty
 * daemon, then creates 200 user networks and 1000 endpoints (running busybox
 * `sleep` containers spread over them), measures the same again, then removes
 * the load and measures a third time (the empty figure once more, to bracket
 * the drift of a shared machine). See docs/benchmarks.md.
 *
 *   node dist/bench/attach-scale.js [--iterations 20] [--warmup 2] [--networks 200]
 *     [--containers 1000] [--per-container 1] [--parallel 4] [--no-after] [--log-level info]
 *     [--out FILE]
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadavg } from 'node:os';
import { LAB_ROOT, Lab, type LabDaemon } from '../src/lab/lab.js';
import type { Figure } from './lib/figures.js';
import { finishRun, runMain } from './lib/finish.js';
import { call } from './lib/api.js';
import { snapshotMachine } from './lib/machine.js';
import { summarize, type Summary } from './lib/stats.js';
import { berthCommit } from './lib/provenance.js';

const TARGET = 1.5;
const NET = 'benchnet';
const TARGET_NAME = 'nettarget';
const POOL = 'base=10.128.0.0/9,size=24';

interface Options {
  iterations: number;
  warmup: number;
  networks: number;
  containers: number;
  perContainer: number;
  parallel: number;
  after: boolean;
  logLevel: string;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const o: Options = {
    iterations: 20,
    warmup: 2,
    networks: 200,
    containers: 1000,
    perContainer: 1,
    parallel: 4,
    after: true,
    logLevel: 'info',
    out: `/tmp/berth-bench/attach-scale-${stamp}.json`,
  };
  const usage =
    'usage: attach-scale [--iterations N] [--warmup N] [--networks N] [--containers N] ' +
    '[--per-container K] [--parallel P] [--no-after] [--log-level L] [--out FILE]';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--no-after') {
      o.after = false;
      continue;
    }
    const val = argv[++i];
    const num = Number(val);
    if (flag === '--out' && val) o.out = val;
    else if (flag === '--log-level' && val) o.logLevel = val;
    else if (flag === '--iterations' && num >= 1) o.iterations = num;
    else if (flag === '--warmup' && num >= 0) o.warmup = num;
    else if (flag === '--networks' && num >= 1) o.networks = num;
    else if (flag === '--containers' && num >= 1) o.containers = num;
    else if (flag === '--per-container' && num >= 1) o.perContainer = num;
    else if (flag === '--parallel' && num >= 1) o.parallel = num;
    else throw new Error(usage);
  }
  if (o.perContainer > o.networks) throw new Error('--per-container must be ≤ --networks');
  return o;
}

let interrupted = false;
const stop = () => {
  if (interrupted) throw new Error('interrupted');
};

async function expect(
  sock: string,
  method: string,
  path: string,
  status: number,
  body?: unknown,
): Promise<{ ms: number; text: string }> {
  const r = await call(sock, method, path, body);
  if (r.status !== status) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r;
}

/** Runs `jobs` with at most `width` in flight; returns the wall time in ms. */
async function inParallel(
  width: number,
  count: number,
  job: (i: number) => Promise<void>,
  progress?: (done: number) => void,
): Promise<number> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count) {
      stop();
      const i = next++;
      await job(i);
      done++;
      if (progress && done % 100 === 0) progress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Phase {
  /** What was on the daemon. */
  state: string;
  /** Machine CPU busy share and berthd's CPU (share of one core) just before, see settle(). */
  idle: { machineBusy: number; berthdCpu: number; waitedS: number };
  /** 1-minute load average when the phase started and ended. */
  load: [number, number];
  attach: Summary;
  detach: Summary;
  create: Summary;
  remove: Summary;
  samples: Record<'attach' | 'detach' | 'create' | 'remove', number[]>;
}

const load1 = () => Math.round((loadavg()[0] ?? 0) * 100) / 100;

/** [busy, total] jiffies of the whole machine. */
function machineCpu(): [number, number] {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/);
  const v = f.slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return [total - (v[3] ?? 0) - (v[4] ?? 0), total];
}

/** utime+stime of a process, in jiffies. */
function procCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/**
 * Waits (up to 90 s) until the machine's CPU over a 3 s window is less than
 * half busy, so a phase does not start in the wake of the load set-up. Returns
 * the last window's machine busy share and berthd's share of one core.
 */
async function settle(
  pid: number,
): Promise<{ machineBusy: number; berthdCpu: number; waitedS: number }> {
  const t0 = Date.now();
  for (;;) {
    const [b0, t0j] = machineCpu();
    const p0 = procCpu(pid);
    await new Promise((r) => setTimeout(r, 3000));
    const [b1, t1j] = machineCpu();
    const machineBusy = Math.round(((b1 - b0) / Math.max(1, t1j - t0j)) * 100) / 100;
    const berthdCpu = Math.round(((procCpu(pid) - p0) / 300) * 100) / 100;
    const waitedS = Math.round((Date.now() - t0) / 1000);
    if (machineBusy < 0.5 || waitedS >= 90 || interrupted)
      return { machineBusy, berthdCpu, waitedS };
  }
}

/** attach/detach of `target` to NET, then network create/rm, `warmup` + `iterations` each. */
async function measurePhase(
  sock: string,
  target: string,
  state: string,
  o: Options,
  tag: string,
  pid: number,
): Promise<Phase> {
  const idle = await settle(pid);
  const l0 = load1();
  const s = {
    attach: [] as number[],
    detach: [] as number[],
    create: [],
    remove: [],
  } as Phase['samples'];
  const body = { Container: target };
  for (let i = 0; i < o.warmup + o.iterations; i++) {
    stop();
    const a = await expect(sock, 'POST', `/networks/${NET}/connect`, 200, body);
    const d = await expect(sock, 'POST', `/networks/${NET}/disconnect`, 200, body);
    if (i >= o.warmup) {
      s.attach.push(a.ms);
      s.detach.push(d.ms);
    }
  }
  for (let i = 0; i < o.warmup + o.iterations; i++) {
    stop();
    const c = await expect(sock, 'POST', '/networks/create', 201, {
      Name: `benchcr-${tag}-${i}`,
      Driver: 'bridge',
      CheckDuplicate: true,
    });
    const id = (JSON.parse(c.text) as { Id: string }).Id;
    const d = await expect(sock, 'DELETE', `/networks/${id}`, 204);
    if (i >= o.warmup) {
      s.create.push(c.ms);
      s.remove.push(d.ms);
    }
  }
  const r1 = (x: number[]) => x.map((v) => Math.round(v * 10) / 10);
  return {
    state,
    idle,
    load: [l0, load1()],
    attach: summarize(s.attach),
    detach: summarize(s.detach),
    create: summarize(s.create),
    remove: summarize(s.remove),
    samples: {
      attach: r1(s.attach),
      detach: r1(s.detach),
      create: r1(s.create),
      remove: r1(s.remove),
    },
  };
}

const netName = (i: number) => `scale${String(i).padStart(3, '0')}`;

async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (interrupted = true));
  const before = snapshotMachine(LAB_ROOT);
  const lab = await Lab.create({ hosts: 1 });
  console.log(`lab ${lab.name}: berthd on ${lab.hosts[0]!.name}`);
  let out: Record<string, unknown> | undefined;
  let failed = false;
  let berthd: LabDaemon | undefined;
  try {
    berthd = await lab.startDaemon(lab.hosts[0]!, {
      args: ['--log-level', o.logLevel, '--default-address-pool', POOL],
    });
    const sock = berthd.socket;
    await expect(sock, 'POST', '/networks/create', 201, { Name: NET, Driver: 'bridge' });
    const c = await expect(sock, 'POST', `/containers/create?name=${TARGET_NAME}`, 201, {
      Image: 'busybox',
      Cmd: ['sleep', '3600'],
    });
    const target = (JSON.parse(c.text) as { Id: string }).Id;
    await expect(sock, 'POST', `/containers/${target}/start`, 204);

    const phases: Phase[] = [];
    const show = (p: Phase) => {
      const f = (x: Summary) => `${x.median.toFixed(1)} / ${x.p90.toFixed(1)} ms`;
      console.log(
        `  ${p.state}: attach ${f(p.attach)}, detach ${f(p.detach)}, ` +
          `create ${f(p.create)}, rm ${f(p.remove)} (median / p90; load ${p.load.join(' → ')}; ` +
          `before: machine ${Math.round(p.idle.machineBusy * 100)}% busy, berthd ${Math.round(p.idle.berthdCpu * 100)}% ` +
          `of a core, waited ${p.idle.waitedS} s)`,
      );
    };
    console.log(`empty: ${o.warmup} warm-up + ${o.iterations} iterations`);
    phases.push(await measurePhase(sock, target, 'empty', o, 'e', berthd.pid));
    show(phases[0]!);

    // Load: networks, then containers (each on `perContainer` networks).
    const setup: Record<string, number> = {};
    const netCreate: number[] = [];
    console.log(`creating ${o.networks} networks, ${o.parallel} in parallel`);
    setup.networksMs = await inParallel(o.parallel, o.networks, async (i) => {
      const r = await expect(sock, 'POST', '/networks/create', 201, {
        Name: netName(i),
        Driver: 'bridge',
      });
      netCreate.push(r.ms);
    });
    const ids: string[] = [];
    const endpoints = o.containers * o.perContainer;
    console.log(
      `starting ${o.containers} containers (${endpoints} endpoints), ${o.parallel} in parallel`,
    );
    setup.containersMs = await inParallel(
      o.parallel,
      o.containers,
      async (i) => {
        const first = i % o.networks;
        const r = await expect(sock, 'POST', `/containers/create?name=load${i}`, 201, {
          Image: 'busybox',
          Cmd: ['sleep', '3600'],
          HostConfig: { NetworkMode: netName(first) },
        });
        const id = (JSON.parse(r.text) as { Id: string }).Id;
        ids[i] = id;
        await expect(sock, 'POST', `/containers/${id}/start`, 204);
        // Further networks, spread so that every network gets the same count.
        for (let k = 1; k < o.perContainer; k++) {
          const net = netName((first + Math.floor((k * o.networks) / o.perContainer)) % o.networks);
          await expect(sock, 'POST', `/networks/${net}/connect`, 200, { Container: id });
        }
      },
      (n) => console.log(`  ${n} containers running`),
    );
    const info = JSON.parse((await expect(sock, 'GET', '/info', 200)).text) as {
      ContainersRunning?: number;
    };
    const nets = JSON.parse((await expect(sock, 'GET', '/networks', 200)).text) as unknown[];
    const running = info.ContainersRunning ?? NaN;
    console.log(`daemon reports ${running} running containers, ${nets.length} networks`);
    const loaded = `${o.networks} networks + ${endpoints} endpoints (${o.containers} containers)`;
    console.log(`${loaded}: ${o.warmup} warm-up + ${o.iterations} iterations`);
    phases.push(await measurePhase(sock, target, loaded, o, 's', berthd.pid));
    show(phases[1]!);

    if (o.after) {
      console.log('removing the load');
      setup.removeContainersMs = await inParallel(
        o.parallel,
        o.containers,
        async (i) => {
          await expect(sock, 'DELETE', `/containers/${ids[i]}?force=1`, 204);
        },
        (n) => console.log(`  ${n} removed`),
      );
      setup.removeNetworksMs = await inParallel(o.parallel, o.networks, async (i) => {
        await expect(sock, 'DELETE', `/networks/${netName(i)}`, 204);
      });
      console.log(`empty again: ${o.warmup} warm-up + ${o.iterations} iterations`);
      phases.push(await measurePhase(sock, target, 'empty again', o, 'a', berthd.pid));
      show(phases[2]!);
    }

    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    const [empty, scale, again] = phases as [Phase, Phase, Phase | undefined];
    const ratios = {
      attach: ratio(scale.attach.median, empty.attach.median),
      detach: ratio(scale.detach.median, empty.detach.median),
      create: ratio(scale.create.median, empty.create.median),
      remove: ratio(scale.remove.median, empty.remove.median),
      ...(again
        ? {
            attachVsEmptyAgain: ratio(scale.attach.median, again.attach.median),
            detachVsEmptyAgain: ratio(scale.detach.median, again.detach.median),
          }
        : {}),
    };
    const { commit } = berthCommit();
    out = {
      benchmark: 'attach-scale',
      date: new Date().toISOString(),
      commit,
      lab: lab.name,
      method: {
        iterations: o.iterations,
        warmup: o.warmup,
        networks: o.networks,
        containers: o.containers,
        endpoints,
        perContainer: o.perContainer,
        parallel: o.parallel,
        pool: POOL,
        timing:
          'Engine API over one kept-alive unix-socket connection (bench/lib/http1.ts), request written to end of response read',
      },
      daemonReported: { running, networks: nets.length },
      setup: {
        ...setup,
        networkCreateWhileLoading: summarize(netCreate),
      },
      phases,
      ratios,
      target: { attach: TARGET, met: ratios.attach <= TARGET },
      figures: (['attach', 'detach', 'create', 'remove'] as const).map((op): Figure => ({
        title: `Berth's ${op === 'create' ? 'network create' : op === 'remove' ? 'network rm' : op}: empty daemon against ${loaded}`,
        unit: 'ms',
        better: 'lower',
        values: {
          empty: empty[op].median,
          'at scale': scale[op].median,
          ...(again ? { 'empty again': again[op].median } : {}),
        },
        ...(op === 'attach'
          ? { target: `at scale ≤ ${TARGET} × empty`, met: ratios.attach <= TARGET }
          : {}),
      })),
    };
    console.log(
      '\n| state | attach median | attach p90 | detach median | detach p90 | ' +
        'create median | rm median | load |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    for (const p of phases) {
      console.log(
        `| ${p.state} | ${ms(p.attach.median)} | ${ms(p.attach.p90)} | ${ms(p.detach.median)} | ` +
          `${ms(p.detach.p90)} | ${ms(p.create.median)} | ${ms(p.remove.median)} | ` +
          `${p.load.join(' → ')} |`,
      );
    }
    console.log(
      `\nat scale / empty (medians): attach ${ratios.attach} (target ≤ ${TARGET}: ` +
        `${ratios.attach <= TARGET ? 'met' : 'NOT met'}), detach ${ratios.detach}, ` +
        `create ${ratios.create}, rm ${ratios.remove}`,
    );
    console.log(
      `setup: ${o.networks} networks in ${(setup.networksMs! / 1000).toFixed(1)} s, ` +
        `${o.containers} containers in ${(setup.containersMs! / 1000).toFixed(1)} s` +
        (again
          ? `; removal: containers ${(setup.removeContainersMs! / 1000).toFixed(1)} s, ` +
            `networks ${(setup.removeNetworksMs! / 1000).toFixed(1)} s`
          : ''),
    );
  } catch (e) {
    failed = true;
    console.error(`benchmark failed: ${(e as Error).message}`);
    if (berthd) console.error(`berthd log ends:\n${berthd.logTail(20)}`);
  }
  if (berthd && o.logLevel !== 'info') {
    // The log goes with the lab; keep a copy (debug lines time each connect's steps).
    mkdirSync(dirname(o.out), { recursive: true });
    copyFileSync(berthd.log, `${o.out}.berthd.log`);
    console.log(`berthd log: ${o.out}.berthd.log`);
  }
  return finishRun({ lab, before, out, outPath: o.out, failed });
}

runMain(main);
