/**
 * The SIGKILL campaign on a two-host cluster (issue 13, "Done means"): each
 * round runs one overlay operation on one host — network create/rm, run/rm,
 * connect/disconnect, rename, run with a published port (the gateway
 * bridge) — and SIGKILLs that host's berthd at a random point of it, starts
 * it again, checks that both hosts and etcd agree, names included
 * (test/helpers/cluster-leaks.ts), then removes everything and checks that
 * nothing is left on either host or in etcd. BERTH_CLUSTER_CAMPAIGN_ROUNDS=N sets the number of kills (30
 * by default). Needs root and etcd.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';
import { which } from '../../src/lab/proc.js';
import { clusterInconsistencies, clusterLeftovers } from '../helpers/cluster-leaks.js';
import { settle } from '../helpers/leaks.js';

const ready = process.getuid?.() === 0 && !!which('etcd') && !!which('etcdctl');
const ROUNDS = Number(process.env.BERTH_CLUSTER_CAMPAIGN_ROUNDS ?? 30);

/** Each operation as shell commands for round `i`, on the overlay `base` (made each round). */
const OPS: Record<string, (i: number) => string[]> = {
  'overlay create/rm': (i) => [
    `docker network create -d overlay o${i}`,
    `docker network inspect o${i} >/dev/null`,
    `docker network rm o${i}`,
  ],
  'run/rm': (i) => [
    `docker run -d --name r${i} --network base busybox sleep 1000`,
    `docker rm -f r${i}`,
  ],
  'connect/disconnect': (i) => [
    `docker run -d --name k${i} busybox sleep 1000`,
    `docker network connect base k${i}`,
    `docker network disconnect base k${i}`,
    `docker rm -f k${i}`,
  ],
  rename: (i) => [
    `docker run -d --name n${i} --network base busybox sleep 1000`,
    `docker rename n${i} m${i}`,
    `docker rename m${i} n${i}`,
    `docker rm -f n${i}`,
  ],
  'run -p': (i) => [
    `docker run -d --name p${i} --network base -p ${20000 + i}:80 busybox sleep 1000`,
    `docker rm -f p${i}`,
  ],
};
const KINDS = Object.keys(OPS);

describe(
  'SIGKILL of berthd on a 2-host cluster during overlay operations',
  { skip: !ready && 'needs root and etcd' },
  () => {
    let lab: Lab;
    const daemons: LabDaemon[] = [];

    const start = async (h: number) => {
      daemons[h - 1] = await lab.startDaemon(h, { args: lab.clusterArgs(h), timeoutMs: 30_000 });
    };
    const docker = (h: number, args: string[]) =>
      spawnSync('docker', args, {
        encoding: 'utf8',
        env: { ...process.env, ...daemons[h - 1]!.env },
        timeout: 60_000,
      });
    /** Runs an operation's commands in a process group against host `h`. */
    const launch = (h: number, cmds: string[]) => {
      const child = spawn('sh', ['-ec', cmds.join('\n')], {
        stdio: ['ignore', 'ignore', 'pipe'],
        detached: true,
        env: { ...process.env, ...daemons[h - 1]!.env },
      });
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
        child.on('close', (code) => resolve({ code, stderr })),
      );
      return { child, done };
    };
    /** Every container on both hosts, then every network (the overlays from one host). */
    const removeAll = () => {
      for (const h of [1, 2]) {
        const ids = docker(h, ['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) {
          const r = docker(h, ['rm', '-f', ...ids]);
          assert.equal(r.status, 0, `rm -f on host ${h}: ${r.stderr}`);
        }
      }
      for (const h of [1, 2]) {
        const r = docker(h, ['network', 'prune', '-f']);
        assert.equal(r.status, 0, `network prune on host ${h}: ${r.stderr}`);
      }
    };
    const base = () => {
      const r = docker(1, ['network', 'create', '-d', 'overlay', 'base']);
      assert.equal(r.status, 0, r.stderr);
      // Both hosts take part: one endpoint on host 2 keeps its namespace there.
    };

    before(async () => {
      lab = await Lab.create({
        name: `kc${randomBytes(2).toString('hex')}`,
        hosts: 2,
        cluster: true,
      });
      await start(1);
      await start(2);
    });
    after(async () => {
      for (const d of daemons) await d?.stop('SIGKILL').catch(() => undefined);
      await lab?.destroy();
    });

    it(`leaves nothing behind on either host or in etcd at ${ROUNDS} random kill points`, async (t) => {
      const took: Record<string, number> = {};
      base();
      for (const kind of KINDS) {
        const t0 = Date.now();
        const r = await launch(1, OPS[kind]!(0)).done;
        assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
        took[kind] = Date.now() - t0;
      }
      removeAll();
      assert.deepEqual(await settle(() => clusterLeftovers(lab, daemons)), [], 'uninterrupted');

      const problems: string[] = [];
      let midOp = 0;
      for (let i = 1; i <= ROUNDS; i++) {
        const kind = KINDS[i % KINDS.length]!;
        const h = 1 + (Math.floor(i / KINDS.length) % 2);
        base();
        const op = launch(h, OPS[kind]!(i));
        let finished = false;
        void op.done.then(() => (finished = true));
        await new Promise((r) => setTimeout(r, Math.random() * took[kind]!));
        if (!finished) midOp++;
        await daemons[h - 1]!.stop('SIGKILL');
        try {
          process.kill(-op.child.pid!, 'SIGKILL');
        } catch {
          // the commands had ended
        }
        await op.done;
        await start(h);
        const where = `round ${i} (${kind} on host ${h})`;
        const found = problems.length;
        for (const p of await settle(() => clusterInconsistencies(lab, daemons))) {
          problems.push(`${where}, after the restart: ${p}`);
        }
        removeAll();
        for (const p of await settle(() => clusterLeftovers(lab, daemons))) {
          problems.push(`${where}, after removing everything: ${p}`);
        }
        if (problems.length > found) {
          console.log(`${where}: host ${h}'s daemon log ends with\n${daemons[h - 1]!.logTail(60)}`);
        }
      }
      const summary =
        `${ROUNDS} kills survived (${midOp} while an operation was under way), ` +
        `${problems.length} leaks found`;
      t.diagnostic(summary);
      console.log(`cluster crash campaign: ${summary}; uninterrupted ms: ${JSON.stringify(took)}`);
      assert.deepEqual(problems, []);
      assert.ok(midOp >= ROUNDS / 2, `only ${midOp} of ${ROUNDS} kills landed mid-operation`);
    });
  },
);
