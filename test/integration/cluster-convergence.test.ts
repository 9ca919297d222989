// The convergence guarantee (issue 13, decision 0023): the moment `docker run
// -d` on an overlay returns on one host, a container already running on
// another host reaches the new one: a single ping with a one-second wait,
// sent from its namespace as soon as the CLI exits, is answered. Repeated;
// then while the other host's berthd is frozen for longer than that ping
// waits (the join must wait for it, bounded; a connect does not wait,
// decision 0035); then a burst, counting the
// other host's reports in etcd (at most one per start). Needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';

const ready = process.getuid?.() === 0 && !!which('etcd') && !!which('etcdctl');
const TRIES = 15;
const H1 = '192.168.205.10:2375';
const H2 = '192.168.205.11:2375';

describe(
  'convergence: a remote host reaches a container when run -d returns',
  { skip: !ready && 'needs root, etcd and etcdctl' },
  () => {
    let lab: Lab;
    let d1: LabDaemon;
    let d2: LabDaemon;
    /** The network namespace of c1, the container on host 1 that pings. */
    let c1ns: string;

    const docker = (d: LabDaemon, args: string[]) => {
      const r = spawnSync('docker', args, { encoding: 'utf8', env: { ...process.env, ...d.env } });
      return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
    };
    /** `docker run -d` without blocking the event loop; resolves when the CLI exits. */
    const runDetached = (d: LabDaemon, args: string[]) =>
      new Promise<{ status: number | null; err: string }>((resolve) => {
        const p = spawn('docker', ['run', '-d', ...args], {
          env: { ...process.env, ...d.env },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        p.stderr.on('data', (b: Buffer) => (err += b.toString()));
        p.on('close', (status) => resolve({ status, err }));
      });
    /** One ping from c1's namespace, waiting one second for the answer. */
    const ping = (ip: string) =>
      spawnSync('nsenter', [`--net=${c1ns}`, '--', 'busybox', 'ping', '-c1', '-W1', ip], {
        encoding: 'utf8',
      });
    /** How many times a host has written its applied revision (0 when it never has). */
    const reports = (node: string): number => {
      const r = lab.etcdctl(1, ['get', `/berth/applied/${node}`, '-w', 'json']);
      assert.equal(r.status, 0, r.stderr);
      const kvs = (JSON.parse(r.stdout) as { kvs?: Array<{ version: number }> }).kvs;
      return kvs?.[0]?.version ?? 0;
    };

    before(async () => {
      lab = await Lab.create({
        name: `cv${randomBytes(2).toString('hex')}`,
        hosts: 2,
        cluster: true,
      });
      const args = (h: number) => [...lab.clusterArgs(h), '--log-level', 'debug'];
      d1 = await lab.startDaemon(1, { args: args(1), timeoutMs: 30_000 });
      d2 = await lab.startDaemon(2, { args: args(2), timeoutMs: 30_000 });
      const made = docker(d1, [
        'network',
        'create',
        '-d',
        'overlay',
        '--subnet',
        '10.20.0.0/24',
        'ovc',
      ]);
      assert.equal(made.status, 0, made.err);
      // Host 2 must know the network before a run there names it.
      for (let i = 0; i < 50 && !/ ovc /.test(docker(d2, ['network', 'ls']).out); i++)
        await new Promise((r) => setTimeout(r, 100));
      const c1 = docker(d1, [
        'run',
        '-d',
        '--name',
        'c1',
        '--network',
        'ovc',
        '--ip',
        '10.20.0.2',
        'busybox',
        'sleep',
        '3600',
      ]);
      assert.equal(c1.status, 0, c1.err);
      c1ns = `/proc/${docker(d1, ['inspect', '-f', '{{.State.Pid}}', 'c1']).out}/ns/net`;
    });
    after(async () => {
      if (process.env.BERTH_KEEP_LOGS)
        for (const d of [d1, d2]) if (d) spawnSync('cp', [d.log, `/tmp/conv-${d.host.name}.log`]);
      for (const d of [d1, d2]) {
        if (d) spawnSync('kill', ['-CONT', String(d.pid)]);
        await d?.stop('SIGKILL').catch(() => undefined);
      }
      await lab?.destroy();
    });

    it(`answers a ping sent the moment run -d returns, ${TRIES} of ${TRIES} times`, async () => {
      const before = reports(H1);
      const failed: string[] = [];
      for (let i = 0; i < TRIES; i++) {
        const ip = `10.20.0.${10 + i}`;
        const r = await runDetached(d2, [
          '--name',
          `p${i}`,
          '--network',
          'ovc',
          '--ip',
          ip,
          'busybox',
          'sleep',
          '3600',
        ]);
        assert.equal(r.status, 0, r.err);
        const p = ping(ip);
        if (p.status !== 0) failed.push(`${ip}: ${p.stdout.trim()} ${p.stderr.trim()}`);
      }
      assert.deepEqual(failed, [], `pings unanswered at once:\n${failed.join('\n')}`);
      // Host 1 reported once per start at most; host 2, whose own endpoints
      // these are, had nothing of another host to apply and reported nothing.
      const wrote = reports(H1) - before;
      assert.ok(wrote >= 1 && wrote <= TRIES, `host 1 wrote ${wrote} reports for ${TRIES} starts`);
      assert.equal(reports(H2), 0);
      // Observable at debug level: how long the join waited, and for whom.
      assert.match(
        d2.logTail(400),
        /converged at revision \d+ in [\d.]+ ms \(own view [\d.]+ ms; hosts: 192\.168\.205\.10:2375\)/,
      );
    });

    it("waits for a host whose berthd is frozen for longer than the ping's wait, bounded", async () => {
      // SIGSTOP holds host 1's berthd for 1.5 s: its kernel keeps forwarding,
      // but it programs nothing. A run that returned before it thaws would
      // leave the ping (1 s) unanswered; the join waits for host 1 instead.
      const ip = '10.20.0.100';
      assert.equal(spawnSync('kill', ['-STOP', String(d1.pid)]).status, 0);
      const thaw = setTimeout(() => spawnSync('kill', ['-CONT', String(d1.pid)]), 1500);
      const t0 = Date.now();
      const r = await runDetached(d2, [
        '--name',
        'frozen',
        '--network',
        'ovc',
        '--ip',
        ip,
        'busybox',
        'sleep',
        '3600',
      ]);
      const took = Date.now() - t0;
      const p = ping(ip);
      clearTimeout(thaw);
      spawnSync('kill', ['-CONT', String(d1.pid)]);
      assert.equal(r.status, 0, r.err);
      assert.equal(p.status, 0, `unanswered after a run of ${took} ms: ${p.stdout}${p.stderr}`);
      assert.ok(took >= 1400, `run -d returned after ${took} ms, before host 1 thawed`);
    });

    it('answers a connect without waiting for the other hosts; a frozen one programs it once it thaws', async () => {
      // Decision 0035: a connect's wait for the other hosts' reports runs in
      // the background (a run's does not: the test above).
      const att = docker(d2, ['run', '-d', '--name', 'att', 'busybox', 'sleep', '3600']);
      assert.equal(att.status, 0, att.err);
      assert.equal(spawnSync('kill', ['-STOP', String(d1.pid)]).status, 0);
      let took = 0;
      let r: ReturnType<typeof docker>;
      try {
        const t0 = Date.now();
        r = docker(d2, ['network', 'connect', '--ip', '10.20.0.120', 'ovc', 'att']);
        took = Date.now() - t0;
      } finally {
        spawnSync('kill', ['-CONT', String(d1.pid)]);
      }
      assert.equal(r.status, 0, r.err);
      assert.ok(took < 1000, `connect took ${took} ms with host 1 frozen`);
      // Host 1 programs it from its watch once it runs again.
      let p = ping('10.20.0.120');
      for (let i = 0; i < 20 && p.status !== 0; i++) p = ping('10.20.0.120');
      assert.equal(p.status, 0, `never answered: ${p.stdout}${p.stderr}`);
    });

    it('costs the other host at most one report per start in a burst', async () => {
      const before = reports(H1);
      const n = 8;
      const runs = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          runDetached(d2, [
            '--name',
            `b${i}`,
            '--network',
            'ovc',
            '--ip',
            `10.20.0.${150 + i}`,
            'busybox',
            'sleep',
            '3600',
          ]),
        ),
      );
      for (const r of runs) assert.equal(r.status, 0, r.err);
      for (let i = 0; i < n; i++) {
        const p = ping(`10.20.0.${150 + i}`);
        assert.equal(p.status, 0, p.stdout + p.stderr);
      }
      const wrote = reports(H1) - before;
      assert.ok(wrote >= 1 && wrote <= n, `host 1 wrote ${wrote} reports for ${n} starts`);
    });
  },
);
