/**
 * Docker Compose against berthd: Debian's docker-compose 1.29 (docker-py)
 * brings up examples/flask-redis/docker-compose.yml — a project network, an
 * image built, a published port, names by service (one address, then two
 * after scaling) — and takes it all down again.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, labWithDaemons, type Cmd, type LabEnv } from '../helpers/lab-daemon.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/flask-redis', import.meta.url));
let env: LabEnv;
let project = '';

function compose(args: string[]): Cmd {
  const r = spawnSync('docker-compose', ['--project-name', 'fr', ...args], {
    cwd: project,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ?? '') };
}

/** What the web service's Python resolves `redis` to. */
function redisAddresses(): string[] {
  const py = "import socket; print(' '.join(sorted(socket.gethostbyname_ex('redis')[2])))";
  const r = compose(['exec', '-T', 'web', 'python3', '-c', py]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout.trim().split(' ');
}

describe('docker-compose (flask-redis)', () => {
  before(async () => {
    env = await labWithDaemons();
    project = join(env.lab.dir, 'flask-redis');
    cpSync(EXAMPLE, project, { recursive: true });
  });
  after(async () => {
    await env?.destroy();
  });

  it('brings the project up: network, build, names by service, the published port', async () => {
    const up = compose(['up', '-d']);
    assert.equal(up.status, 0, up.stdout + up.stderr);
    assert.match(up.stderr, /Creating fr_redis_1 \.\.\. done/);
    assert.match(env.docker(['network', 'ls', '--format', '{{.Name}}']).stdout, /^fr_default$/m);
    const labels = env.docker(['network', 'inspect', '-f', '{{json .Labels}}', 'fr_default']);
    assert.match(labels.stdout, /"com\.docker\.compose\.project":"fr"/);
    const ip = env.docker([
      'inspect',
      '-f',
      '{{.NetworkSettings.Networks.fr_default.IPAddress}}',
      'fr_redis_1',
    ]);
    assert.deepEqual(redisAddresses(), [ip.stdout.trim()]);
    await eventually(() => {
      const r = env.inHost(['curl', '-s', '-m', '3', 'http://127.0.0.1:5000/']);
      assert.match(r.stdout, /^Hello Container World! I have been seen 1 times/);
    }, 20_000);
    const ps = compose(['ps']);
    assert.match(ps.stdout, /fr_web_1 .* Up .*0\.0\.0\.0:5000->5000\/tcp/);
  });

  it('scales a service: its name answers every replica', () => {
    const r = compose(['up', '-d', '--scale', 'redis=2', '--no-recreate']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(redisAddresses().length, 2);
  });

  it('takes it all down: no container, no project network, no bridge left', async () => {
    const r = compose(['down', '-t', '1']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(env.docker(['ps', '-aq']).stdout.trim(), '');
    assert.doesNotMatch(env.docker(['network', 'ls']).stdout, /fr_default/);
    await eventually(() =>
      assert.doesNotMatch(env.inHost(['ip', '-o', 'link']).stdout, /br-|veth/),
    );
  });
});
