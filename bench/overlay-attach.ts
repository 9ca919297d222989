/**
 * Berth alone, quick: overlay against user-bridge attach/detach and `run -d`
 * on host 2 of a two-host cluster lab (host 1 has a container on the
 * overlay, so joins wait for its report), and the etcd requests per overlay
 * attach/detach and run/rm pair (etcd's own /metrics, gRPC calls handled).
 * For measuring a change to the overlay join path without Docker's lab
 * (bench/overlay.ts has both); the last joins' timings from the logs; and
 * whether host 1 reaches a container the moment its connect on host 2
 * answered (a connect does not wait for host 1's report, decision 0035).
 *
 *   node dist/bench/overlay-attach.js [--iterations 20] [--warmup 2]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ROOT, Lab } from '../src/lab/lab.js';
import { parseBenchArgs } from './lib/args.js';
import { call } from './lib/api.js';
import { dockerAt } from './lib/refdockerd.js';
import { round1, summarize } from './lib/stats.js';

const o = parseBenchArgs('overlay-attach', process.argv.slice(2), {
  iterations: { default: 20 },
  warmup: { default: 2, min: 0 },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** etcd's gRPC calls handled so far, per method. */
function etcdCalls(lab: Lab): Map<string, number> {
  const r = lab.exec('h1', ['curl', '-s', `${lab.etcdEndpoints()[0]!}/metrics`]);
  const out = new Map<string, number>();
  for (const m of r.stdout.matchAll(
    /^grpc_server_handled_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\d+)/gm,
  )) {
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

function diff(a: Map<string, number>, b: Map<string, number>, n: number): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of b) {
    const x = (v - (a.get(k) ?? 0)) / n;
    if (x > 0) d[k] = round1(x);
  }
  return d;
}

async function main(): Promise<void> {
  const lab = await Lab.create({ hosts: 2, cluster: true, etcdMembers: 1 });
  console.log(`lab ${lab.name} (${LAB_ROOT})`);
  try {
    const ds: Awaited<ReturnType<Lab['startDaemon']>>[] = [];
    for (const i of [1, 2]) {
      const args = [...lab.clusterArgs(i), '--log-level', 'debug'];
      ds.push(await lab.startDaemon(i, { args, timeoutMs: 30_000 }));
    }
    const cli = join(lab.dir, 'docker-cli');
    mkdirSync(cli, { recursive: true });
    const docker = (h: number, args: string[]) => {
      const r = dockerAt(ds[h]!, cli, args);
      if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    docker(0, ['network', 'create', '-d', 'overlay', '--subnet', '10.20.0.0/24', 'benchov']);
    for (let i = 0; dockerAt(ds[1]!, cli, ['network', 'inspect', 'benchov']).status; i++) {
      if (i > 200) throw new Error('benchov not seen on host 2');
      await sleep(50);
    }
    docker(1, ['network', 'create', 'benchbr']);
    docker(0, ['run', '-d', '--name', 'p1', '--network', 'benchov', 'busybox', 'sleep', '3600']);
    docker(1, ['run', '-d', '--name', 'r2', '--network', 'benchov', 'busybox', 'sleep', '3600']);
    docker(1, ['run', '-d', '--name', 'att', 'busybox', 'sleep', '3600']);
    const sock = ds[1]!.socket;
    const api = async (net: string, op: 'connect' | 'disconnect') => {
      const r = await call(sock, 'POST', `/networks/${net}/${op}`, { Container: 'att' });
      if (r.status !== 200) throw new Error(`${op} ${net}: ${r.status} ${r.text}`);
      return r.ms;
    };
    const res = {
      ov: { a: [] as number[], d: [] as number[] },
      br: { a: [] as number[], d: [] as number[] },
    };
    for (let i = 0; i < o.warmup + o.iterations; i++) {
      for (const [k, net] of (i % 2
        ? [
            ['br', 'benchbr'],
            ['ov', 'benchov'],
          ]
        : [
            ['ov', 'benchov'],
            ['br', 'benchbr'],
          ]) as ['ov' | 'br', string][]) {
        const a = await api(net, 'connect');
        const d = await api(net, 'disconnect');
        if (i >= o.warmup) {
          res[k].a.push(a);
          res[k].d.push(d);
        }
      }
    }
    // etcd requests per overlay pair, nothing else running.
    await sleep(500);
    const n = 10;
    const before = etcdCalls(lab);
    for (let i = 0; i < n; i++) {
      await api('benchov', 'connect');
      await api('benchov', 'disconnect');
    }
    await sleep(500);
    const after = etcdCalls(lab);
    // A connect answers without the other host's report (decision 0035):
    // one ping from p1 (host 1), sent as soon as the connect has answered,
    // with one second to be answered (an ARP host 1 cannot answer yet is
    // retried only after that).
    const p1ns = `/proc/${docker(0, ['inspect', '-f', '{{.State.Pid}}', 'p1'])}/ns/net`;
    let answered = 0;
    for (let i = 0; i < o.iterations; i++) {
      const ip = `10.20.0.${200 + (i % 50)}`;
      const r = await call(sock, 'POST', '/networks/benchov/connect', {
        Container: 'att',
        EndpointConfig: { IPAMConfig: { IPv4Address: ip } },
      });
      if (r.status !== 200) throw new Error(`connect --ip ${ip}: ${r.status} ${r.text}`);
      const p = spawnSync('nsenter', [`--net=${p1ns}`, '--', 'busybox', 'ping', '-c1', '-W1', ip]);
      if (p.status === 0) answered++;
      await api('benchov', 'disconnect');
    }
    // Overlay `run -d` against user-bridge `run -d` (CLI, timed), and the
    // etcd requests per overlay run/rm pair.
    const runs = { ov: [] as number[], br: [] as number[] };
    let runCalls: Record<string, number> = {};
    for (const [k, net] of [
      ['br', 'benchbr'],
      ['ov', 'benchov'],
    ] as const) {
      const b = etcdCalls(lab);
      for (let i = 0; i < o.warmup + o.iterations; i++) {
        const t0 = performance.now();
        const id = docker(1, ['run', '-d', '--network', net, 'busybox', 'sleep', '3600']);
        if (i >= o.warmup) runs[k].push(performance.now() - t0);
        docker(1, ['rm', '-f', id]);
      }
      await sleep(500);
      if (k === 'ov') runCalls = diff(b, etcdCalls(lab), o.warmup + o.iterations);
    }
    const med = (xs: number[]) => round1(summarize(xs).median);
    const ov = med(res.ov.a);
    const br = med(res.br.a);
    // The last joins' timings (host 2) and the reports they waited for (host 1).
    for (const h of lab.hosts) {
      for (const f of readdirSync(h.dir).filter((x) => x.endsWith('.log'))) {
        const lines = readFileSync(join(h.dir, f), 'utf8')
          .split('\n')
          .filter((l) =>
            /join \w+ benchov: |converged at|reported revision|msg="start \w+: /.test(l),
          );
        for (const l of lines.slice(-6)) console.log(`h${h.index} ${l}`);
      }
    }
    console.log(
      JSON.stringify({
        attach: { overlay: ov, userBridge: br, ratio: round1(ov / br) },
        detach: { overlay: med(res.ov.d), userBridge: med(res.br.d) },
        etcdCallsPerPair: diff(before, after, n),
        pingAfterConnect: `${answered}/${o.iterations} answered at once`,
        runD: { overlay: med(runs.ov), userBridge: med(runs.br) },
        etcdCallsPerRunRm: runCalls,
      }),
    );
  } finally {
    await lab.destroy();
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
