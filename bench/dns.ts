/**
 * Benchmark: the embedded DNS resolver under dnsperf, Berth against Docker
 * 20.10's embedded DNS and aardvark-dns 1.4 (podman's), in ONE lab: host 1
 * runs berthd, host 2 a stock dockerd, host 3 aardvark-dns configured the way
 * netavark configures it. The issue's target: "queries/s at least Docker's and
 * aardvark-dns's in the same dnsperf run, mean latency at 10k q/s no higher
 * than theirs." Two modes per engine, saturated and a fixed 10k q/s, the same
 * query (a container name, type A), engines alternating, medians of a few
 * rounds. See docs/benchmarks.md.
 *
 *   node dist/bench/dns.js [--rounds 5] [--seconds 8] [--clients 4] [--rate 10000] [--out FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { LAB_ROOT, Lab, type LabDaemon, type LabHost } from '../src/lab/lab.js';
import { isAlive, procStartTime, stopProcess } from '../src/lab/proc.js';
import { parseBenchArgs } from './lib/args.js';
import type { Figure } from './lib/figures.js';
import { finishRun, runMain } from './lib/finish.js';
import { call } from './lib/api.js';
import { importBusybox } from './lib/image.js';
import { snapshotMachine } from './lib/machine.js';
import { startRefDockerd, type RefDockerd } from './lib/refdockerd.js';
import { median } from './lib/stats.js';
import { berthCommit } from './lib/provenance.js';

const AARDVARK = '/usr/lib/podman/aardvark-dns';
const NETAVARK = '/usr/lib/podman/netavark';
const DNSPERF = '/usr/bin/dnsperf';
const NET = 'dnsnet';
/** The name queried (a container on NET), and the container dnsperf runs as. */
const QUERY_NAME = 'web';
const CLIENT_NAME = 'client';
/** Containers on NET besides the client: a few, like a small compose project. */
const PEERS = [QUERY_NAME, 'db', 'cache', 'worker'];
/** The aardvark network: container i gets .(i+2); the client is the last one. */
const AV_SUBNET = '10.89.7';
const AV_GATEWAY = `${AV_SUBNET}.1`;

const ENGINES = ['berth', 'docker', 'aardvark'] as const;
type Engine = (typeof ENGINES)[number];
const MODES = ['saturated', 'rate'] as const;
type Mode = (typeof MODES)[number];

const parseArgs = (argv: string[]) =>
  parseBenchArgs('dns', argv, {
    rounds: { default: 5 },
    seconds: { default: 8 },
    clients: { default: 4 },
    rate: { default: 10_000 },
  });
type Options = ReturnType<typeof parseArgs>;

let interrupted = false;

async function expect(
  sock: string,
  what: string,
  method: string,
  path: string,
  status: number,
  body?: unknown,
): Promise<string> {
  const r = await call(sock, method, path, body);
  if (r.status !== status) throw new Error(`${what}: ${method} ${path}: ${r.status} ${r.text}`);
  return r.text;
}

/** One resolver under test: where dnsperf runs and what it asks. */
interface Target {
  /** Network namespace dnsperf runs in (a container's, or host 3's). */
  netns: string;
  /** Resolver address. */
  server: string;
  /** The resolver's process, for its CPU time. */
  pid: number;
  /** The address QUERY_NAME must resolve to. */
  expected: string;
}

/** One dnsperf run's figures. */
interface PerfRun {
  qps: number;
  /** Mean latency in ms. */
  meanMs: number;
  /** Latency standard deviation in ms. */
  stddevMs: number;
  sent: number;
  completed: number;
  lost: number;
  /** Resolver CPU (utime+stime) per completed query, µs. */
  cpuPerQueryUs: number;
  /** dnsperf's "Response codes" line. */
  rcodes: string;
  /** 1-minute load average before the run. */
  load: number;
}

/** utime+stime of a process in clock ticks (100 Hz on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function num(re: RegExp, text: string): number {
  const m = re.exec(text);
  if (!m?.[1]) throw new Error(`dnsperf output lacks ${re.source}:\n${text}`);
  return Number(m[1]);
}

function dnsperf(t: Target, mode: Mode, o: Options, queryFile: string): PerfRun {
  const args = [
    ...['-s', t.server, '-d', queryFile, '-l', String(o.seconds)],
    ...(mode === 'saturated' ? ['-c', String(o.clients)] : ['-Q', String(o.rate)]),
  ];
  const load = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const c0 = cpuTicks(t.pid);
  const t0 = Date.now();
  const r = spawnSync('nsenter', [`--net=${t.netns}`, '--', DNSPERF, ...args], {
    encoding: 'utf8',
    // Generous: dnsperf dumps the links at start-up, which waits for the RTNL lock
    // when other work on the machine holds it (seen: over 30 s).
    timeout: (o.seconds + 240) * 1000,
  });
  const c1 = cpuTicks(t.pid);
  const text = r.stdout ?? '';
  if (r.status !== 0) {
    const how = r.signal
      ? `killed by ${r.signal}${r.error ? ` (${r.error.message})` : ''}`
      : `exit ${r.status}`;
    const err = (r.stderr ?? '').replace(/failed to connect to syslog.*\n?/g, '');
    throw new Error(`dnsperf ${args.join(' ')}: ${how} after ${Date.now() - t0} ms; ${text}${err}`);
  }
  const completed = num(/Queries completed:\s+(\d+)/, text);
  return {
    qps: Math.round(num(/Queries per second:\s+([\d.]+)/, text)),
    meanMs: num(/Average Latency \(s\):\s+([\d.]+)/, text) * 1000,
    stddevMs: num(/Latency StdDev \(s\):\s+([\d.]+)/, text) * 1000,
    sent: num(/Queries sent:\s+(\d+)/, text),
    completed,
    lost: num(/Queries lost:\s+(\d+)/, text),
    cpuPerQueryUs: completed ? Math.round(((c1 - c0) * 1e5) / completed) / 10 : NaN,
    rcodes: (/Response codes:\s+(.*)/.exec(text)?.[1] ?? '').trim(),
    load,
  };
}

/** Asks QUERY_NAME once with busybox nslookup from the target's namespace; returns its output. */
function checkAnswer(t: Target): string {
  const r = spawnSync(
    'nsenter',
    [`--net=${t.netns}`, '--', '/bin/busybox', 'nslookup', '-type=a', QUERY_NAME, t.server],
    { encoding: 'utf8', timeout: 10_000 },
  );
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  if (!out.includes(`Address: ${t.expected}`)) {
    throw new Error(`${QUERY_NAME} did not resolve to ${t.expected} via ${t.server}:\n${out}`);
  }
  return out.trim();
}

interface Inspect {
  State: { Pid: number };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

/** Starts the containers on NET on an engine; returns the client's netns and the name's address. */
async function containers(
  sock: string,
  what: string,
): Promise<{ netns: string; expected: string; gateway: string }> {
  await expect(sock, what, 'POST', '/networks/create', 201, { Name: NET, Driver: 'bridge' });
  const ips: Record<string, string> = {};
  let clientPid = 0;
  for (const name of [...PEERS, CLIENT_NAME]) {
    const c = await expect(sock, what, 'POST', `/containers/create?name=${name}`, 201, {
      Image: 'busybox',
      Cmd: ['sleep', '3600'],
      HostConfig: { NetworkMode: NET },
    });
    const id = (JSON.parse(c) as { Id: string }).Id;
    await expect(sock, what, 'POST', `/containers/${id}/start`, 204);
    const ins = JSON.parse(
      await expect(sock, what, 'GET', `/containers/${id}/json`, 200),
    ) as Inspect;
    ips[name] = ins.NetworkSettings.Networks[NET]?.IPAddress ?? '';
    if (name === CLIENT_NAME) clientPid = ins.State.Pid;
  }
  const net = JSON.parse(await expect(sock, what, 'GET', `/networks/${NET}`, 200)) as {
    IPAM: { Config: { Gateway?: string }[] };
  };
  if (!clientPid) throw new Error(`${what}: no PID for ${CLIENT_NAME}`);
  return {
    netns: `/proc/${clientPid}/ns/net`,
    expected: ips[QUERY_NAME] ?? '',
    gateway: net.IPAM.Config[0]?.Gateway ?? '',
  };
}

/** aardvark-dns as netavark started it: the server's PID (from its pid file) and the netns made. */
interface Aardvark {
  pid: number;
  start: number;
  version: string;
  /** `ip netns` names of the containers' namespaces (under /run/netns), client last. */
  netns: string[];
  /** netavark's JSON options per namespace, for the teardown. */
  options: string[];
  config: string;
}

/** netavark's options for one container on the aardvark network (DNS on, as podman passes them). */
function nvOptions(name: string, index: number): string {
  return JSON.stringify({
    container_id: (index + 1).toString(16).repeat(64).slice(0, 64),
    container_name: name,
    networks: {
      [NET]: {
        interface_name: 'eth0',
        static_ips: [`${AV_SUBNET}.${index + 2}`],
        aliases: [name],
      },
    },
    network_info: {
      [NET]: {
        dns_enabled: true,
        driver: 'bridge',
        id: 'd'.repeat(64),
        internal: false,
        ipv6_enabled: false,
        name: NET,
        network_interface: 'avbr0',
        subnets: [{ gateway: AV_GATEWAY, subnet: `${AV_SUBNET}.0/24` }],
      },
    },
  });
}

function netavark(lab: Lab, host: LabHost, a: Aardvark, cmd: string, i: number) {
  return lab.exec(
    host,
    [NETAVARK, '--config', a.config, '-a', AARDVARK, cmd, `/run/netns/${a.netns[i]}`],
    { input: a.options[i], timeoutMs: 30_000 },
  );
}

/**
 * Podman's way: one network namespace per container (`ip netns add`), each
 * set up by `netavark setup` with DNS enabled, in host 3's namespace. netavark
 * writes aardvark-dns's config (one file per network) and starts aardvark-dns
 * on the bridge's gateway, port 53. dnsperf then runs in the client's
 * namespace, across its veth and the bridge, as with Berth.
 */
function startAardvark(lab: Lab, host: LabHost, started: (a: Aardvark) => void): Aardvark {
  const version = spawnSync(AARDVARK, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const config = join(host.dir, 'netavark');
  mkdirSync(config, { recursive: true });
  const a: Aardvark = { pid: NaN, start: NaN, version, netns: [], options: [], config };
  started(a);
  const names = [...PEERS, CLIENT_NAME];
  names.forEach((name, i) => {
    const ns = `${lab.name}-av${i}`;
    const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
    a.netns.push(ns);
    a.options.push(nvOptions(name, i));
    const r = netavark(lab, host, a, 'setup', i);
    if (r.status !== 0)
      throw new Error(`netavark setup ${name}: ${r.status} ${r.stderr}${r.stdout}`);
  });
  const pid = Number(readFileSync(join(config, 'aardvark-dns', 'aardvark.pid'), 'utf8').trim());
  const start = procStartTime(pid);
  if (!pid || start === undefined) throw new Error('aardvark-dns is not running after setup');
  a.pid = pid;
  a.start = start;
  return a;
}

/** netavark teardown of every namespace (the last one stops aardvark-dns), then `ip netns del`. */
async function stopAardvark(lab: Lab, host: LabHost, a: Aardvark): Promise<string[]> {
  const problems: string[] = [];
  for (let i = a.netns.length - 1; i >= 0; i--) {
    const r = netavark(lab, host, a, 'teardown', i);
    if (r.status !== 0) problems.push(`netavark teardown ${a.netns[i]}: ${r.stderr.trim()}`);
    const del = spawnSync('ip', ['netns', 'del', a.netns[i]!], { encoding: 'utf8' });
    if (del.status !== 0) problems.push(`ip netns del ${a.netns[i]}: ${del.stderr.trim()}`);
  }
  if (a.pid && isAlive(a.pid, a.start)) {
    problems.push(`aardvark-dns ${a.pid} survived the teardown; stopped it`);
    await stopProcess(a.pid, a.start, 'SIGTERM');
  }
  return problems;
}

function nsInode(path: string): string {
  return spawnSync('stat', ['-L', '-c', '%i', path], { encoding: 'utf8' }).stdout.trim();
}

/** The chart's figures: throughput saturated, latency at a fixed rate, CPU per query. */
function dnsFigures(
  summary: Record<Mode, Record<Engine, Record<string, number>>>,
  met: Record<string, boolean>,
  rate: number,
): Figure[] {
  const of = (m: Mode, key: string) => ({
    berth: summary[m].berth[key]!,
    docker: summary[m].docker[key]!,
    'aardvark-dns': summary[m].aardvark[key]!,
  });
  return [
    {
      title: 'answers per second, dnsperf saturating the resolver',
      unit: 'q/s',
      better: 'higher',
      values: of('saturated', 'qps'),
      target: 'Berth ≥ Docker and ≥ aardvark-dns',
      met: met.qpsVsDocker === true && met.qpsVsAardvark === true,
    },
    {
      title: `mean latency at ${rate} queries/s`,
      unit: 'ms',
      better: 'lower',
      values: of('rate', 'meanMs'),
      target: 'Berth ≤ Docker and ≤ aardvark-dns',
      met: met.latencyAtRateVsDocker === true && met.latencyAtRateVsAardvark === true,
    },
    {
      title: 'resolver CPU per answer, saturated (context)',
      unit: 'µs',
      better: 'lower',
      values: of('saturated', 'cpuPerQueryUs'),
    },
  ];
}

async function main(argv: string[]): Promise<number> {
  const o = parseArgs(argv);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (interrupted = true));
  const before = snapshotMachine(LAB_ROOT);
  const lab = await Lab.create({ hosts: 3 });
  const cli = join(lab.dir, 'docker-cli');
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  console.log(
    `lab ${lab.name}: berthd on ${h1.name}, dockerd on ${h2.name}, aardvark-dns on ${h3.name}`,
  );
  let dockerd: RefDockerd | undefined;
  let aardvark: Aardvark | undefined;
  let berthd: LabDaemon | undefined;
  let out: Record<string, unknown> | undefined;
  let failed = false;
  try {
    mkdirSync(cli, { recursive: true });
    berthd = await lab.startDaemon(h1, { args: ['--log-level', 'info'] });
    const ref = await startRefDockerd(lab, h2, {
      dns: lab.world.ip,
      preexisting: before.paths,
      spawned: (d) => (dockerd = d),
    });
    await importBusybox(ref, cli, h2.dir);
    aardvark = startAardvark(lab, h3, (a) => (aardvark = a));
    if (nsInode(`/proc/${aardvark.pid}/ns/net`) !== nsInode(h3.netns)) {
      throw new Error(`aardvark-dns ${aardvark.pid} is not in ${h3.netns}`);
    }
    const b = await containers(berthd.socket, 'berth');
    const d = await containers(ref.socket, 'docker');
    const targets: Record<Engine, Target> = {
      berth: { netns: b.netns, server: b.gateway, pid: berthd.pid, expected: b.expected },
      docker: { netns: d.netns, server: '127.0.0.11', pid: ref.pid, expected: d.expected },
      aardvark: {
        netns: `/run/netns/${aardvark.netns[PEERS.length]}`,
        server: AV_GATEWAY,
        pid: aardvark.pid,
        expected: `${AV_SUBNET}.${PEERS.indexOf(QUERY_NAME) + 2}`,
      },
    };
    const answers = {} as Record<Engine, string>;
    for (const e of ENGINES) {
      answers[e] = checkAnswer(targets[e]);
      console.log(`${e}: ${QUERY_NAME} → ${targets[e].expected} via ${targets[e].server}`);
    }
    const queryFile = join(lab.dir, 'queries.txt');
    writeFileSync(queryFile, `${QUERY_NAME} A\n`);

    const runs = {} as Record<Mode, Record<Engine, PerfRun[]>>;
    for (const m of MODES) runs[m] = { berth: [], docker: [], aardvark: [] };
    const failures: string[] = [];
    for (let r = 0; r < o.rounds; r++) {
      for (const m of MODES) {
        const order = ENGINES.map((_, i) => ENGINES[(i + r) % ENGINES.length] as Engine);
        for (const e of order) {
          // dnsperf runs synchronously: let a pending SIGINT handler run first.
          await new Promise((res) => setImmediate(res));
          if (interrupted) throw new Error('interrupted');
          let p: PerfRun;
          try {
            p = dnsperf(targets[e], m, o, queryFile);
          } catch (err) {
            // Keep going: record what failed and whether the resolver still answers.
            let after: string;
            try {
              checkAnswer(targets[e]);
              after = 'resolver still answers';
            } catch (e2) {
              after = `resolver check failed: ${(e2 as Error).message}`;
            }
            const msg = `round ${r + 1} ${m} ${e}: ${(err as Error).message}; ${after}`;
            failures.push(msg);
            console.error(msg);
            if (failures.length > 3) throw new Error('more than 3 dnsperf failures');
            continue;
          }
          runs[m][e].push(p);
          console.log(
            `round ${r + 1} ${m.padEnd(9)} ${e.padEnd(8)} ${String(p.qps).padStart(6)} q/s, ` +
              `mean ${p.meanMs.toFixed(3)} ms, lost ${p.lost}, ${p.cpuPerQueryUs} µs CPU/q, ` +
              `load ${p.load}`,
          );
        }
      }
    }
    const med = (xs: number[]) => median([...xs].sort((x, y) => x - y));
    const summary = {} as Record<Mode, Record<Engine, Record<string, number>>>;
    for (const m of MODES) {
      summary[m] = {} as Record<Engine, Record<string, number>>;
      for (const e of ENGINES) {
        const rs = runs[m][e];
        summary[m][e] = {
          qps: Math.round(med(rs.map((x) => x.qps))),
          meanMs: Math.round(med(rs.map((x) => x.meanMs)) * 1000) / 1000,
          cpuPerQueryUs: Math.round(med(rs.map((x) => x.cpuPerQueryUs)) * 10) / 10,
          lost: rs.reduce((a, x) => a + x.lost, 0),
        };
      }
    }
    const s = summary.saturated;
    const q = summary.rate;
    const targetsMet = {
      qpsVsDocker: s.berth.qps! >= s.docker.qps!,
      qpsVsAardvark: s.berth.qps! >= s.aardvark.qps!,
      latencyAtRateVsDocker: q.berth.meanMs! <= q.docker.meanMs!,
      latencyAtRateVsAardvark: q.berth.meanMs! <= q.aardvark.meanMs!,
    };
    const { commit } = berthCommit();
    const version = spawnSync(DNSPERF, ['-h'], { encoding: 'utf8' });
    out = {
      benchmark: 'dns',
      date: new Date().toISOString(),
      commit,
      lab: lab.name,
      method: {
        rounds: o.rounds,
        seconds: o.seconds,
        saturated: `dnsperf -c ${o.clients} -l ${o.seconds}`,
        rate: `dnsperf -Q ${o.rate} -l ${o.seconds}`,
        query: `${QUERY_NAME} A`,
        order: 'engines rotate their order every round',
        dnsperf: /Version (\S+)/.exec(version.stdout + version.stderr)?.[1] ?? '?',
        aardvark: aardvark.version,
        where: {
          berth: 'dnsperf in the client container netns, to the network gateway',
          docker: 'dnsperf in the client container netns, to 127.0.0.11 (DNAT to dockerd)',
          aardvark:
            'netavark 1.4 setup (dns_enabled) of each container netns in host 3; dnsperf in ' +
            'the client container netns, to the network gateway',
        },
      },
      answers,
      summary,
      targetsMet,
      figures: dnsFigures(summary, targetsMet, o.rate),
      failures,
      runs,
    };
    const fmt = (x: Record<string, number>) =>
      `${String(x.qps).padStart(6)} q/s, mean ${x.meanMs!.toFixed(3)} ms, ${x.cpuPerQueryUs} µs CPU/q`;
    console.log('\nmedians:');
    for (const m of MODES) {
      for (const e of ENGINES) console.log(`  ${m.padEnd(9)} ${e.padEnd(8)} ${fmt(summary[m][e])}`);
    }
    console.log(`targets: ${JSON.stringify(targetsMet)}`);
    if (failures.length)
      console.log(`dnsperf runs that failed (left out):\n  ${failures.join('\n  ')}`);
  } catch (e) {
    failed = true;
    console.error(`benchmark failed: ${(e as Error).message}`);
    if (berthd) console.error(`berthd log ends:\n${berthd.logTail(10)}`);
    if (dockerd) console.error(`dockerd log: ${dockerd.log} (removed with the lab)`);
  } finally {
    if (aardvark) {
      for (const p of await stopAardvark(lab, h3, aardvark)) {
        failed = true;
        console.error(`cleanup: ${p}`);
      }
    }
  }
  return finishRun({ lab, dockerd, before, out, outPath: o.out, failed });
}

runMain(main);
