/**
 * Benchmark: network operations at the Engine API, Berth against Docker 20.10
 * (and netavark 1.4, podman's network backend, and the CNI reference bridge
 * plugin), side by side in ONE lab: host 1 runs berthd, host 2 a stock
 * dockerd; netavark and the CNI plugin run in host 2's namespace.
 * Engines alternate every iteration. Measures attach/detach of a running
 * container to a user bridge network and network create/remove, checks the
 * issue's targets, prints a table and writes JSON. See docs/benchmarks.md.
 *
 *   node dist/bench/net-ops.js [--iterations 20] [--warmup 2] [--out FILE]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab } from '../src/lab/lab.js';
import { parseBenchArgs } from './lib/args.js';
import { finishRun, runMain } from './lib/finish.js';
import { call } from './lib/api.js';
import { importBusybox } from './lib/image.js';
import { snapshotMachine } from './lib/machine.js';
import { Turns, berthSettled } from './lib/settle.js';
import { order, type Samples } from './lib/measure.js';
import { measureCni } from './lib/cni.js';
import { opFigure, type Figure } from './lib/figures.js';
import { measureNetavark } from './lib/netavark.js';
import { dockerAt, startRefDockerd, type RefDockerd } from './lib/refdockerd.js';
import { ENGINES, markdownTable, opResult, type Engine, type OpResult } from './lib/report.js';
import { summarize, type Summary } from './lib/stats.js';
import { berthCommit } from './lib/provenance.js';

const DOCKER_TARGET = 1 / 20;
const NETAVARK_TARGET = 1 / 10;
const NET = 'benchnet';
const TARGET_NAME = 'nettarget';
const PEER_NAME = 'netpeer';
/** The one-shot backends timed beside the engines. */
const BACKENDS = ['netavark', 'cni'] as const;
type Backend = (typeof BACKENDS)[number];
interface BackendSummary {
  version: string;
  setup: Summary;
  teardown: Summary;
  /** Berth's attach (detach) median over the backend's setup (teardown) median. */
  attachRatio: number;
  detachRatio: number;
  samples: { setup: number[]; teardown: number[] };
}

const parseArgs = (argv: string[]) =>
  parseBenchArgs('net-ops', argv, {
    iterations: { default: 20 },
    warmup: { default: 2, min: 0 },
  });

async function expect(
  sock: string,
  e: Engine,
  method: string,
  path: string,
  status: number,
  body?: unknown,
): Promise<{ ms: number; text: string }> {
  const r = await call(sock, method, path, body);
  if (r.status !== status) throw new Error(`${e}: ${method} ${path}: ${r.status} ${r.text}`);
  return r;
}

/** Creates and starts a named busybox `sleep` container; returns its id. */
async function startSleeper(sock: string, e: Engine, name: string, net?: string): Promise<string> {
  const c = await expect(sock, e, 'POST', `/containers/create?name=${name}`, 201, {
    Image: 'busybox',
    Cmd: ['sleep', '3600'],
    ...(net ? { HostConfig: { NetworkMode: net } } : {}),
  });
  const id = (JSON.parse(c.text) as { Id: string }).Id;
  await expect(sock, e, 'POST', `/containers/${id}/start`, 204);
  return id;
}

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
    const sockets: Record<Engine, string> = { berth: berthd.socket, docker: ref.socket };
    await importBusybox(ref, cli, lab.hosts[1]!.dir);
    const { warmup, iterations } = opts;
    const stop = () => {
      if (interrupted) throw new Error('interrupted');
    };
    const turns = new Turns(lab.hosts[0]!.netns);

    // 1. attach / detach of a running container to a user bridge network.
    const ids = {} as Record<Engine, string>;
    for (const e of ENGINES) {
      await expect(sockets[e], e, 'POST', '/networks/create', 201, { Name: NET, Driver: 'bridge' });
      ids[e] = await startSleeper(sockets[e], e, TARGET_NAME);
      await startSleeper(sockets[e], e, PEER_NAME, NET);
    }
    const attach: Samples = { berth: [], docker: [] };
    const detach: Samples = { berth: [], docker: [] };
    // The same attach samples by position: right after the engine's own
    // detach, or as its first call after the quiet gap at a change of turn.
    const attachAfter = {
      own: { berth: [], docker: [] },
      gap: { berth: [], docker: [] },
    } as Record<'own' | 'gap', Samples>;
    const resolves: Record<Engine, string> = { berth: 'not checked', docker: 'not checked' };
    console.log(`attach/detach: ${warmup} warm-up + ${iterations} iterations`);
    for (let i = 0; i < warmup + iterations; i++) {
      for (const e of order(i)) {
        stop();
        const afterGap = await turns.begin(e);
        const body = { Container: ids[e] };
        const a = await expect(sockets[e], e, 'POST', `/networks/${NET}/connect`, 200, body);
        // Untimed: the name must resolve from another container on the network.
        if (i === 0 || (resolves[e] !== 'yes' && i === warmup)) {
          const r = dockerAt(targets[e], cli, ['exec', PEER_NAME, 'nslookup', TARGET_NAME]);
          resolves[e] = r.status === 0 ? 'yes' : `no: ${(r.stdout + r.stderr).trim()}`;
        }
        const d = await expect(sockets[e], e, 'POST', `/networks/${NET}/disconnect`, 200, body);
        if (i >= warmup) {
          attach[e].push(a.ms);
          attachAfter[afterGap ? 'gap' : 'own'][e].push(a.ms);
          detach[e].push(d.ms);
        }
      }
    }
    for (const e of ENGINES) {
      for (const n of [TARGET_NAME, PEER_NAME]) {
        await expect(sockets[e], e, 'DELETE', `/containers/${n}?force=1`, 204);
      }
      await expect(sockets[e], e, 'DELETE', `/networks/${NET}`, 204);
    }

    // 2. network create / remove (bridge, automatic subnet).
    const create: Samples = { berth: [], docker: [] };
    const remove: Samples = { berth: [], docker: [] };
    console.log(`network create/rm: ${warmup} warm-up + ${iterations} iterations`);
    for (let i = 0; i < warmup + iterations; i++) {
      for (const e of order(i)) {
        stop();
        await turns.begin(e);
        const body = { Name: `benchcr${i}`, Driver: 'bridge', CheckDuplicate: true };
        const c = await expect(sockets[e], e, 'POST', '/networks/create', 201, body);
        const id = (JSON.parse(c.text) as { Id: string }).Id;
        const d = await expect(sockets[e], e, 'DELETE', `/networks/${id}`, 204);
        if (i >= warmup) {
          create[e].push(c.ms);
          remove[e].push(d.ms);
        }
      }
    }

    // 3. The one-shot backends (netavark, the CNI bridge plugin), whole
    // processes, in host 2's namespace, one after the other.
    await berthSettled(lab.hosts[0]!.netns);
    const ops: Record<string, OpResult> = {
      attach: opResult(`POST /networks/${NET}/connect`, attach, DOCKER_TARGET),
      detach: opResult(`POST /networks/${NET}/disconnect`, detach, DOCKER_TARGET),
      'network create': opResult('POST /networks/create (bridge)', create, DOCKER_TARGET),
      'network rm': opResult('DELETE /networks/{id}', remove, DOCKER_TARGET),
    };
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    const backends: Partial<Record<Backend, BackendSummary>> = {};
    const backendErrors: Partial<Record<Backend, string>> = {};
    for (const b of BACKENDS) {
      try {
        console.log(`${b} setup/teardown: ${warmup} warm-up + ${iterations} iterations`);
        const m = (b === 'netavark' ? measureNetavark : measureCni)(
          lab,
          lab.hosts[1]!,
          warmup,
          iterations,
          () => interrupted,
        );
        const setup = summarize(m.setup);
        const teardown = summarize(m.teardown);
        backends[b] = {
          version: m.version,
          setup,
          teardown,
          attachRatio: ratio(ops.attach!.berth.median, setup.median),
          detachRatio: ratio(ops.detach!.berth.median, teardown.median),
          samples: { setup: m.setup, teardown: m.teardown },
        };
      } catch (e) {
        backendErrors[b] = (e as Error).message;
        console.error(`${b} skipped: ${backendErrors[b]}`);
      }
    }
    const vsBackend = (b: Backend) => backends[b] ?? { error: backendErrors[b] };
    const peerValues = (op: 'attach' | 'detach') => {
      const key = op === 'attach' ? 'setup' : 'teardown';
      const v: Figure['values'] = { berth: ops[op]!.berth.median, docker: ops[op]!.docker.median };
      for (const b of BACKENDS) if (backends[b]) v[b] = backends[b][key].median;
      return v;
    };
    const figures: Figure[] = (['attach', 'detach'] as const).map((op) => {
      const nv = backends.netavark;
      const r = nv && (op === 'attach' ? nv.attachRatio : nv.detachRatio);
      return {
        title: `${op} a running container to a user bridge (netavark/CNI: ${op === 'attach' ? 'setup/ADD' : 'teardown/DEL'})`,
        unit: 'ms',
        better: 'lower',
        values: peerValues(op),
        target: `Berth ≤ ${DOCKER_TARGET} × Docker and ≤ ${NETAVARK_TARGET} × netavark`,
        met: ops[op]!.met === true && r !== undefined && r <= NETAVARK_TARGET,
      };
    });
    figures.push(
      opFigure('`network create` (bridge)', ops['network create']!),
      opFigure('`network rm`', ops['network rm']!),
    );
    const byPosition = {
      afterOwnDetach: opResult('attach right after its own detach', attachAfter.own),
      afterQuietGap: opResult('attach first after the 200 ms quiet gap', attachAfter.gap),
    };
    const { commit } = berthCommit();
    out = {
      benchmark: 'net-ops',
      date: new Date().toISOString(),
      commit,
      lab: lab.name,
      method: {
        iterations,
        warmup,
        timing:
          'Engine API over one kept-alive unix-socket connection per engine (bench/lib/http1.ts), request written to end of response read',
        order: 'engines alternate first/second every iteration',
        netavark: 'whole `nsenter --net=<host> netavark setup|teardown` processes',
      },
      nameResolves: resolves,
      results: ops,
      attachByPosition: byPosition,
      netavark: vsBackend('netavark'),
      cni: vsBackend('cni'),
      figures,
    };
    console.log('\n' + markdownTable(ops) + '\n');
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const met = (r: number) => (r <= NETAVARK_TARGET ? 'met' : 'NOT met');
    console.log('| backend op | median | p90 | min | Berth/backend (median) | target |');
    console.log('|---|---|---|---|---|---|');
    for (const b of BACKENDS) {
      const s = backends[b];
      if (!s) continue;
      console.log(
        `| ${b} setup vs attach | ${ms(s.setup.median)} | ${ms(s.setup.p90)} | ${ms(s.setup.min)} | ` +
          `${s.attachRatio.toFixed(3)} | ${b === 'netavark' ? `≤ 0.1 ${met(s.attachRatio)}` : '–'} |`,
      );
      console.log(
        `| ${b} teardown vs detach | ${ms(s.teardown.median)} | ${ms(s.teardown.p90)} | ` +
          `${ms(s.teardown.min)} | ${s.detachRatio.toFixed(3)} | ${b === 'netavark' ? `≤ 0.1 ${met(s.detachRatio)}` : '–'} |`,
      );
    }
    console.log('');
    for (const r of Object.values(byPosition)) {
      console.log(
        `${r.command}: Berth ${r.berth.median.toFixed(1)} ms, Docker ` +
          `${r.docker.median.toFixed(1)} ms (medians of ${r.berth.n}), ratio ${r.ratio.median}`,
      );
    }
    console.log(`name resolves after attach: berth ${resolves.berth}; docker ${resolves.docker}`);
  } catch (e) {
    failed = true;
    console.error(`benchmark failed: ${(e as Error).message}`);
    if (dockerd) console.error(`dockerd log: ${dockerd.log} (removed with the lab)`);
  }
  return finishRun({ lab, dockerd, before, out, outPath: opts.out, failed });
}

runMain(main);
