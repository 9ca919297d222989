/**
 * Issue 14's "done means" project, with Debian's docker-compose 1.29: a
 * named volume for redis, a bind-mounted static site, and a web service
 * gated on redis's healthcheck. It comes up, keeps its data across `docker
 * restart` of every service and across a restart of a daemon that stops its
 * containers (no --live-restore), and `down -v` leaves nothing of it —
 * except the user's own site directory, untouched.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, labWithDaemons, type Cmd, type LabEnv } from '../helpers/lab-daemon.js';

const OFF = ['--live-restore=false'];
let env: LabEnv;
let dir = '';

function compose(args: string[]): Cmd {
  const r = spawnSync('docker-compose', ['--project-name', 'vp', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ?? '') };
}

const COMPOSE = `services:
  redis:
    image: redis
    command: ["redis-server", "--appendonly", "yes", "--dir", "/data"]
    volumes:
      - data:/data
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 200ms
      retries: 50
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    volumes:
      - ./site:/www:ro
    ports:
      - "8080:80"
    restart: unless-stopped
    depends_on:
      redis:
        condition: service_healthy
volumes:
  data:
`;

function redisGet(): string {
  const r = env.docker(['exec', 'vp_redis_1', 'redis-cli', 'get', 'visits']);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function pageServed(): Promise<void> {
  await eventually(() => {
    const r = env.inHost(['curl', '-s', '-m', '3', 'http://127.0.0.1:8080/index.html']);
    assert.equal(r.stdout, '<h1>from the host</h1>\n');
  }, 20_000);
}

describe('a compose project with a named volume, a bind mount and a healthcheck', () => {
  before(async () => {
    env = await labWithDaemons({ args: OFF });
    dir = join(env.lab.dir, 'vp');
    mkdirSync(join(dir, 'site'), { recursive: true });
    writeFileSync(join(dir, 'site', 'index.html'), '<h1>from the host</h1>\n');
    writeFileSync(join(dir, 'docker-compose.yml'), COMPOSE);
  });
  after(async () => {
    await env?.destroy();
  });

  it('comes up: web after redis is healthy, the site from the host, data in the volume', async () => {
    const up = compose(['up', '-d']);
    assert.equal(up.status, 0, up.stdout + up.stderr);
    const health = env.docker(['inspect', '-f', '{{.State.Health.Status}}', 'vp_redis_1']);
    assert.equal(health.stdout.trim(), 'healthy');
    await pageServed();
    assert.equal(env.docker(['exec', 'vp_redis_1', 'redis-cli', 'set', 'visits', '41']).status, 0);
    const vols = env.docker(['volume', 'ls', '-q']);
    assert.match(vols.stdout, /^vp_data$/m);
    const src = env.docker(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'vp_data']);
    assert.ok(
      existsSync(join(src.stdout.trim(), 'appendonly.aof')) ||
        existsSync(join(src.stdout.trim(), 'appendonlydir')),
      'redis writes into the volume',
    );
    // The site is read-only inside.
    const w = env.docker(['exec', 'vp_web_1', 'sh', '-c', 'echo x > /www/new.html']);
    assert.notEqual(w.status, 0);
  });

  it('keeps its data across docker restart of every service', async () => {
    for (const c of ['vp_redis_1', 'vp_web_1']) {
      const r = env.docker(['restart', '-t', '2', c]);
      assert.equal(r.status, 0, r.stderr);
    }
    await eventually(() => assert.equal(redisGet(), '41'), 10_000);
    await pageServed();
  });

  it('keeps its data across a daemon restart that stops and restarts the containers', async () => {
    const before = env.docker(['inspect', '-f', '{{.State.Pid}}', 'vp_redis_1']).stdout.trim();
    await env.daemon.stop('SIGTERM', 30_000);
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!, { args: OFF });
    env.daemons[0] = env.daemon;
    const after = env.docker(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', 'vp_redis_1']);
    const [status, pid] = after.stdout.trim().split(' ');
    assert.equal(status, 'running', 'unless-stopped: started with the daemon');
    assert.notEqual(pid, before, 'a new process: it was stopped with the daemon');
    await eventually(() => assert.equal(redisGet(), '41'), 10_000);
    await pageServed();
  });

  it("down -v leaves nothing but the user's site directory", async () => {
    const down = compose(['down', '-v', '-t', '2']);
    assert.equal(down.status, 0, down.stdout + down.stderr);
    assert.equal(env.docker(['ps', '-aq']).stdout.trim(), '');
    assert.equal(env.docker(['volume', 'ls', '-q']).stdout.trim(), '');
    assert.doesNotMatch(env.docker(['network', 'ls']).stdout, /vp_default/);
    assert.equal(readFileSync(join(dir, 'site', 'index.html'), 'utf8'), '<h1>from the host</h1>\n');
    const volDir = join(env.daemon.dataRoot, 'volumes', 'vp_data');
    assert.ok(!existsSync(volDir), `${volDir} is gone`);
  });
});
