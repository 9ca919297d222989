/**
 * Soak: many clients at once run, connect, disconnect and remove containers
 * against one lab berthd. No request fails, no two endpoints ever hold one
 * address (sampled while it runs), and the daemon's file descriptors and
 * memory stay flat.
 *
 * Short in CI (BERTH_SOAK_CYCLES, default 120 cycles by 12 clients);
 * BERTH_SOAK_LONG=1 runs the 10,000 cycles by 40 clients.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

const LONG = process.env.BERTH_SOAK_LONG === '1';
const CYCLES = Number(process.env.BERTH_SOAK_CYCLES ?? (LONG ? 10_000 : 120));
const CLIENTS = Number(process.env.BERTH_SOAK_CLIENTS ?? (LONG ? 40 : 12));

function api(
  sock: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath: sock,
        // A connection per request: kept-alive client sockets would count as daemon fds.
        agent: false,
        method,
        path,
        headers: data
          ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
/** What the daemon's descriptors point at, for a failure message. */
const fdTargets = (pid: number) =>
  readdirSync(`/proc/${pid}/fd`)
    .map((f) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${f}`);
      } catch {
        return '?';
      }
    })
    .sort()
    .join(' ');
const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('soak: run/connect/disconnect/rm from many clients at once', () => {
  let env: LabEnv;
  before(async () => {
    env = await labWithDaemons();
    assert.equal(env.docker(['network', 'create', 'soak-a']).status, 0);
  });
  after(async () => {
    await env?.destroy();
  });

  it(`${CYCLES} cycles by ${CLIENTS} clients: no errors, no duplicate address, flat fds and RSS`, async () => {
    const sock = env.daemon.socket;
    const pid = env.daemon.pid;
    const errors: string[] = [];
    const duplicates: string[] = [];
    let done = 0;
    let samples = 0;
    const must = async (what: string, p: Promise<{ status: number; body: string }>) => {
      const r = await p;
      if (r.status >= 300) errors.push(`${what}: ${r.status} ${r.body.slice(0, 200)}`);
      return r;
    };
    const cycle = async (n: number) => {
      const created = await must(
        'create',
        api(sock, 'POST', `/containers/create?name=soak-${n}`, {
          Image: 'busybox',
          Cmd: ['sleep', '600'],
          HostConfig: { NetworkMode: 'bridge' },
        }),
      );
      if (created.status !== 201) return;
      const id = (JSON.parse(created.body) as { Id: string }).Id;
      await must('start', api(sock, 'POST', `/containers/${id}/start`));
      await must('connect', api(sock, 'POST', '/networks/soak-a/connect', { Container: id }));
      await must(
        'disconnect',
        api(sock, 'POST', '/networks/soak-a/disconnect', { Container: id, Force: false }),
      );
      await must('rm', api(sock, 'DELETE', `/containers/${id}?force=1`));
    };
    /** Every endpoint of both networks right now: one address, one endpoint. */
    const sample = async () => {
      for (const net of ['bridge', 'soak-a']) {
        const r = await api(sock, 'GET', `/networks/${net}`);
        if (r.status !== 200) continue;
        const cs = (JSON.parse(r.body) as { Containers?: Record<string, { IPv4Address: string }> })
          .Containers;
        const seen = new Map<string, string>();
        for (const [cid, ep] of Object.entries(cs ?? {})) {
          const other = seen.get(ep.IPv4Address);
          if (other) duplicates.push(`${net} ${ep.IPv4Address}: ${other} and ${cid}`);
          seen.set(ep.IPv4Address, cid);
        }
      }
      samples++;
    };

    // Warm up (first-use allocations, builtin image), then take the baseline.
    for (let i = 0; i < 4; i++) await cycle(-1 - i);
    await new Promise((r) => setTimeout(r, 1500));
    const fd0 = fds(pid);
    const targets0 = fdTargets(pid);
    const rss0 = rssMiB(pid);

    let next = 0;
    const sampler = setInterval(() => void sample(), 200);
    const worker = async () => {
      while (next < CYCLES) {
        const n = next++;
        await cycle(n);
        done++;
      }
    };
    try {
      await Promise.all(Array.from({ length: CLIENTS }, worker));
    } finally {
      clearInterval(sampler);
    }
    await sample();
    // The reaper deletes given-up veths when the daemon idles (≤ 1 s).
    await new Promise((r) => setTimeout(r, 2000));
    const fd1 = fds(pid);
    const rss1 = rssMiB(pid);
    process.stdout.write(
      `# soak: ${done} cycles, ${CLIENTS} clients, ${samples} samples, fds ${fd0}->${fd1}, RSS ${rss0.toFixed(0)}->${rss1.toFixed(0)} MiB, ${errors.length} errors, ${duplicates.length} duplicates\n`,
    );
    assert.deepEqual(errors.slice(0, 10), [], `${errors.length} failed requests`);
    assert.deepEqual(duplicates.slice(0, 10), [], 'an address held by two endpoints');
    assert.equal(done, CYCLES);
    assert.ok(samples > 0);
    assert.ok(fd1 <= fd0 + 2, `fds grew: ${fd0} -> ${fd1}: ${targets0} => ${fdTargets(pid)}`);
    assert.ok(rss1 - rss0 < 64, `RSS grew: ${rss0} -> ${rss1} MiB`);
    const left = env.docker(['ps', '-aq', '--filter', 'name=soak-']).stdout.trim();
    assert.equal(left, '', 'no soak container left');
    // The lab host's own uplink (eth0) is a veth too; containers' are vethXXXX.
    const veths = env
      .inHost(['ip', '-o', 'link', 'show', 'type', 'veth'])
      .stdout.split('\n')
      .filter((l) => /^\d+: veth/.test(l));
    assert.deepEqual(veths, [], 'no container veth left on the host');
  });
});
