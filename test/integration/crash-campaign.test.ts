/**
 * The hardening campaign's SIGKILL test, for the operations network-crash
 * does not cover: `run -p` (published ports, a host address, -P), `rename`
 * on a user network, `network prune` with a network in use, and `build`
 * (RUN and COPY steps). Each round runs one operation and SIGKILLs berthd at
 * a random point of it (spread over the time it takes when nothing stops
 * it), starts berthd again, checks that the lab host holds exactly what the
 * store says (test/helpers/leaks.ts), then removes everything and checks that
 * nothing is left. Short by default; BERTH_CAMPAIGN_LONG=1 runs 100 rounds
 * (BERTH_CAMPAIGN_ROUNDS=N any number).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { inconsistencies, leftovers, settle } from '../helpers/leaks.js';

let env: LabEnv;
let context = '';
const ROUNDS = Number(
  process.env.BERTH_CAMPAIGN_ROUNDS ?? (process.env.BERTH_CAMPAIGN_LONG ? 100 : 8),
);

/** Each operation as shell commands for round `i` (names and ports unique per round). */
const OPS: Record<string, (i: number) => string[]> = {
  'run -p': (i) => [
    `docker run -d --name p${i} -p ${20000 + i}:80 -p ${20000 + i}:80/udp ` +
      `-p 127.0.0.1::81 -P --expose 82 busybox sleep 1000`,
    `docker rm -f p${i}`,
  ],
  rename: (i) => [
    `docker network create rn${i}`,
    `docker run -d --name r${i} --network rn${i} --network-alias al${i} busybox sleep 1000`,
    `docker rename r${i} s${i}`,
    `docker rename s${i} t${i}`,
    `docker rm -f t${i}`,
    `docker network rm rn${i}`,
  ],
  'network prune': (i) => [
    `docker network create pa${i}`,
    `docker network create pb${i}`,
    `docker run -d --name u${i} --network pa${i} busybox sleep 1000`,
    `docker network prune -f`,
    `docker rm -f u${i}`,
    `docker network prune -f`,
  ],
  build: (i) => [
    `docker build --no-cache --build-arg N=${i} -t b${i} ${context}`,
    `docker rmi b${i}`,
  ],
};
/** BERTH_CAMPAIGN_OPS="run -p,build" runs only those. */
const KINDS = process.env.BERTH_CAMPAIGN_OPS?.split(',') ?? Object.keys(OPS);

/** Runs an operation's commands in a process group; resolves with its exit code. */
function launch(cmds: string[]) {
  const child = spawn('sh', ['-ec', cmds.join('\n')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: {
      ...process.env,
      DOCKER_HOST: env.daemon.env.DOCKER_HOST,
      DOCKER_CONFIG: `${env.lab.dir}/docker-config`,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr })),
  );
  return { child, done };
}

/** Removes every container, every network but the predefined ones, and the built images. */
function removeAll(): void {
  const ids = env.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
  if (ids.length) {
    const r = env.docker(['rm', '-f', ...ids]);
    assert.equal(r.status, 0, `rm -f: ${r.stderr}`);
  }
  const prune = env.docker(['network', 'prune', '-f']);
  assert.equal(prune.status, 0, `network prune: ${prune.stderr}`);
  const imgs = env
    .docker(['images', '--format', '{{.Repository}}'])
    .stdout.split('\n')
    .filter((n) => /^b\d+$/.test(n));
  if (imgs.length) env.docker(['rmi', ...imgs]);
}

describe('SIGKILL of berthd during run -p, rename, network prune and build', () => {
  before(async () => {
    env = await labWithDaemons();
    context = join(env.lab.dir, 'campaign-context');
    mkdirSync(context, { recursive: true });
    writeFileSync(
      join(context, 'Dockerfile'),
      [
        'FROM busybox',
        'ARG N',
        'RUN echo "$N" > /n && mkdir -p /d && echo x > /d/x',
        'COPY a /a',
        'RUN cat /n /a && rm /d/x',
        'ENV N=$N',
        '',
      ].join('\n'),
    );
    writeFileSync(join(context, 'a'), 'a file\n');
  });
  after(async () => {
    await env?.destroy();
  });

  it(`leaves nothing behind at ${ROUNDS} random kill points`, async (t) => {
    // How long each operation takes when nothing stops it (and that it works).
    const took: Record<string, number> = {};
    for (const kind of KINDS) {
      const t0 = Date.now();
      const r = await launch(OPS[kind]!(0)).done;
      assert.equal(r.code, 0, `${kind}: ${r.stderr}`);
      took[kind] = Date.now() - t0;
    }
    assert.deepEqual(await settle(() => leftovers(env)), [], 'after the uninterrupted runs');

    const problems: string[] = [];
    let midOp = 0;
    for (let i = 1; i <= ROUNDS; i++) {
      const kind = KINDS[i % KINDS.length]!;
      const op = launch(OPS[kind]!(i));
      let finished = false;
      void op.done.then(() => (finished = true));
      await new Promise((r) => setTimeout(r, Math.random() * took[kind]!));
      if (!finished) midOp++;
      await env.daemon.stop('SIGKILL');
      try {
        process.kill(-op.child.pid!, 'SIGKILL');
      } catch {
        // the commands had ended
      }
      await op.done;
      env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
      env.daemons[0] = env.daemon;
      const where = `round ${i} (${kind})`;
      const found = problems.length;
      for (const p of await settle(() => inconsistencies(env))) {
        problems.push(`${where}, after the restart: ${p}`);
      }
      removeAll();
      for (const p of await settle(() => leftovers(env))) {
        problems.push(`${where}, after removing everything: ${p}`);
      }
      if (problems.length > found) {
        console.log(`${where}: the daemon's log ends with\n${env.daemon.logTail(60)}`);
      }
    }
    const summary =
      `${ROUNDS} kills survived (${midOp} while an operation was under way), ` +
      `${problems.length} leaks found`;
    t.diagnostic(summary);
    console.log(`crash campaign: ${summary}; uninterrupted ms: ${JSON.stringify(took)}`);
    assert.deepEqual(problems, []);
    // The kills must have landed inside operations, or this test proves little.
    assert.ok(midOp >= ROUNDS / 2, `only ${midOp} of ${ROUNDS} kills landed mid-operation`);
  });
});
