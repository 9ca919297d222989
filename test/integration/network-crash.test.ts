/**
 * The bridge issue's crash test: berthd is SIGKILLed at random points while
 * networks are created and removed and containers attached and detached.
 * After every restart the store and the kernel must agree — every veth on a
 * Berth bridge belongs to a ready endpoint, every endpoint's veth and address
 * exist, every address has its endpoint, no address is held twice — and
 * after removing everything nothing is left.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const ROUNDS = Number(process.env.BERTH_CRASH_ROUNDS ?? 50);

interface Ep {
  Id: string;
  ContainerID: string;
  NetworkID: string;
  IPv4?: string;
  HostIf?: string;
  State: string;
  Ports?: Array<{ proto: string; hostIp: string; hostPort: number; containerPort: number }>;
}

function storeView() {
  const db = new Database(`${env.daemon.dataRoot}/berth.db`, {
    readonly: true,
    fileMustExist: true,
  });
  try {
    const rows = db
      .prepare(
        "SELECT key, value FROM kv WHERE key >= 'endpoints/' AND key < 'endpoints0' OR key >= 'ipam/local/addrs/' AND key < 'ipam/local/addrs0'",
      )
      .all() as Array<{ key: string; value: string }>;
    const eps = rows
      .filter((r) => r.key.startsWith('endpoints/'))
      .map((r) => JSON.parse(r.value) as Ep);
    const addrs = rows
      .filter((r) => r.key.startsWith('ipam/'))
      .map((r) => ({
        ip: r.key.slice(r.key.lastIndexOf('/') + 1),
        owner: (JSON.parse(r.value) as { owner: string }).owner,
      }));
    return { eps, addrs };
  } finally {
    db.close();
  }
}

function kernelVeths(): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of env.inHost(['ip', '-o', 'link', 'show', 'type', 'veth']).stdout.split('\n')) {
    const m = /^\d+: (veth[0-9a-f]+)@\S+ .* master (\S+)/.exec(l);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** The published-port map elements: "tcp 20001 172.18.0.2 80". */
function kernelPorts(): string[] {
  const text = env.inHost(['nft', 'list', 'map', 'inet', 'berth', 'ports4']).stdout;
  return [...text.matchAll(/(tcp|udp|sctp) \. (\d+) : ([\d.]+) \. (\d+)/g)]
    .map((m) => m.slice(1).join(' '))
    .sort();
}

/** TCP ports something listens on in the lab host (berthd holds published ones). */
function listening(): Set<number> {
  const out = new Set<number>();
  for (const m of env.inHost(['ss', '-Hltn']).stdout.matchAll(/\S+:(\d+)\s/g))
    out.add(Number(m[1]));
  return out;
}

function checkConsistent(round: number): void {
  const { eps, addrs } = storeView();
  const veths = kernelVeths();
  const running = new Set(
    env.docker(['ps', '-q', '--no-trunc']).stdout.split('\n').filter(Boolean),
  );
  const where = `round ${round}`;
  for (const ep of eps) {
    assert.equal(ep.State, 'ready', `${where}: endpoint ${ep.Id.slice(0, 12)} left ${ep.State}`);
    assert.ok(running.has(ep.ContainerID), `${where}: endpoint of a container that is not running`);
    if (ep.HostIf)
      assert.ok(veths.has(ep.HostIf), `${where}: endpoint's veth ${ep.HostIf} missing`);
  }
  const named = new Set(eps.map((e) => e.HostIf));
  for (const [v] of veths) assert.ok(named.has(v), `${where}: stray ${v} on a Berth bridge`);
  const byId = new Map(eps.map((e) => [e.Id, e]));
  const seen = new Set<string>();
  for (const a of addrs) {
    if (a.owner === 'gateway' || a.owner.startsWith('aux:')) continue;
    const ep = byId.get(a.owner);
    assert.ok(ep, `${where}: address ${a.ip} held by a missing endpoint`);
    assert.equal(ep.IPv4, a.ip, `${where}: address record and endpoint disagree`);
    assert.ok(!seen.has(a.ip), `${where}: ${a.ip} held twice`);
    seen.add(a.ip);
  }
  for (const ep of eps)
    if (ep.IPv4) assert.ok(seen.has(ep.IPv4), `${where}: endpoint without its address key`);
  const published = eps.flatMap((e) =>
    (e.Ports ?? []).map((p) => `${p.proto} ${p.hostPort} ${e.IPv4} ${p.containerPort}`),
  );
  assert.deepEqual(kernelPorts(), published.sort(), `${where}: port map and endpoints disagree`);
  const held = listening();
  for (const e of eps)
    for (const p of e.Ports ?? [])
      assert.ok(held.has(p.hostPort), `${where}: published port ${p.hostPort} not held`);
}

/** Runs a burst of network operations through the docker CLI; it dies with the daemon. */
function burst(i: number) {
  const d = `DOCKER_HOST=${env.daemon.env.DOCKER_HOST} docker`;
  const script = [
    `${d} network create c${i}`,
    `${d} run -d --name x${i} --network c${i} -p ${20000 + i}:80 busybox sleep 1000`,
    `${d} network connect bridge x${i}`,
    `${d} network disconnect c${i} x${i}`,
    `${d} rm -f x${i}`,
    `${d} network rm c${i}`,
    `${d} run -d --name y${i} -p ${30000 + i}:80/udp -p ${30000 + i}:80 busybox sleep 1000`,
  ].join('; ');
  return spawn('sh', ['-c', script], { stdio: 'ignore' });
}

describe('SIGKILL of berthd during network operations', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it(`leaves store and kernel consistent at ${ROUNDS} random kill points, then nothing behind`, async () => {
    let progressed = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const child = burst(i);
      // Spread the kill points over the whole burst (it takes ~300 ms uninterrupted).
      await new Promise((r) => setTimeout(r, Math.random() * 350));
      await env.daemon.stop('SIGKILL');
      child.kill('SIGKILL');
      env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
      env.daemons[0] = env.daemon;
      checkConsistent(i);
      if (storeView().eps.length > 0) progressed++;
    }
    // The kills must have landed while endpoints existed, or this test proves nothing.
    assert.ok(progressed >= Math.min(5, ROUNDS / 4), `only ${progressed} rounds had endpoints`);
    const ids = env.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
    if (ids.length) assert.equal(env.docker(['rm', '-f', ...ids]).status, 0);
    assert.equal(env.docker(['network', 'prune', '-f']).status, 0);
    checkConsistent(ROUNDS);
    const { eps, addrs } = storeView();
    assert.deepEqual(eps, []);
    assert.deepEqual(
      addrs.filter((a) => a.owner !== 'gateway'),
      [],
    );
    assert.deepEqual(kernelPorts(), []);
    // Links are deleted in the background, a few ms after the commands return.
    await eventually(() => {
      assert.equal(kernelVeths().size, 0);
      assert.doesNotMatch(env.inHost(['ip', '-o', 'link']).stdout, /br-/);
    });
    assert.equal(env.docker(['network', 'ls', '-q']).stdout.trim().split('\n').length, 3);
  });
});
