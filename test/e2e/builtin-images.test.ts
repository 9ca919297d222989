/**
 * The builtin redis and python images (decision 0011), through the stock
 * docker client: made on first reference from this host's Debian packages,
 * redis answering python over a user network, `docker pull` of a builtin, the
 * same image id from an independent build, and a second data-root that takes
 * the layers from the shared cache without rebuilding them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebianBuilder } from '../../src/images/builtin/debian.js';
import { PYTHON } from '../../src/images/builtin/recipes.js';
import { sha256 } from '../../src/images/ingest.js';
import type { ProgressLine } from '../../src/images/progress.js';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { Terminal } from '../helpers/tmux.js';

let env: LabEnv;
let cache: string;
let other: string;

/** name → [mtimeMs, ino] of every file in the cache. */
function cacheFiles(): Map<string, string> {
  return new Map(
    readdirSync(cache).map((f) => {
      const st = statSync(join(cache, f));
      return [f, `${st.mtimeMs}:${st.ino}`];
    }),
  );
}

const idOf = (ref: string, host = 1): string =>
  env.docker(['image', 'inspect', '-f', '{{.Id}}', ref], { host }).stdout.trim();

describe('builtin redis and python images', () => {
  before(async () => {
    // A cache of this test's own: the first reference must build, not find a machine-wide copy.
    cache = mkdtempSync(join(tmpdir(), 'berth-builtin-'));
    other = mkdtempSync(join(tmpdir(), 'berth-builtin-'));
    env = await labWithDaemons({ hosts: 2, args: ['--builtin-cache', cache] });
  });
  after(async () => {
    await env?.destroy();
    for (const d of [cache, other]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('a fresh daemon lists only busybox: the others are made on first reference', () => {
    const r = env.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['busybox:latest']);
  });

  it('docker run -d redis builds the image and serves on a user network', () => {
    assert.equal(env.docker(['network', 'create', 'app']).status, 0);
    const t = performance.now();
    // `--name r` is refused by Docker too (names have at least two characters)
    const r = env.docker(['run', '-d', '--name', 'rd', '--network', 'app', 'redis']);
    const ms = performance.now() - t;
    assert.equal(r.status, 0, r.stderr);
    // As with a registry: create's 404, then the client's pull, with its progress.
    assert.match(r.stderr, /^Unable to find image 'redis:latest' locally$/m);
    assert.match(r.stderr, /^[0-9a-f]{12}: Pull complete$/m);
    assert.match(r.stderr, /^Status: Downloaded newer image for redis:latest$/m);
    console.log(`first docker run -d redis (build + ingest + start): ${ms.toFixed(0)} ms`);
    assert.ok(ms < 30_000, `first run took ${ms.toFixed(0)} ms`);
    const files = readdirSync(cache).sort();
    assert.equal(files.filter((f) => f.endsWith('.tar')).length, 2, files.join(' '));
    assert.equal(files.filter((f) => f.endsWith('.json')).length, 2, files.join(' '));
  });

  it('python:3 pings it by name with redis-py, and has flask', () => {
    let out = '';
    const until = Date.now() + 15_000; // redis may still be starting
    while (out !== 'True' && Date.now() < until) {
      const r = env.docker([
        'run',
        '--rm',
        '--network',
        'app',
        'python:3',
        'python3',
        '-c',
        'import redis; print(redis.Redis(host="rd").ping())',
      ]);
      out = r.stdout.trim();
      if (out !== 'True') spawnSleep(250);
    }
    assert.equal(out, 'True');
    const f = env.docker([
      'run',
      '--rm',
      'python:3',
      'python',
      '-c',
      'import flask, redis, sys; print("ok", sys.version_info[0])',
    ]);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(f.stdout.trim(), 'ok 3');
  });

  it('redis-cli from another redis container gets PONG; server args pass through', () => {
    const r = env.docker([
      'run',
      '--rm',
      '--network',
      'app',
      'redis',
      'redis-cli',
      '-h',
      'rd',
      'ping',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'PONG');
    const s = env.docker([
      'run',
      '-d',
      '--name',
      'r2',
      'redis',
      'redis-server',
      '--appendonly',
      'yes',
    ]);
    assert.equal(s.status, 0, s.stderr);
    let cfg = '';
    for (let i = 0; i < 20 && !cfg.includes('appendonly'); i++) {
      cfg = env.docker(['exec', 'r2', 'redis-cli', 'config', 'get', 'appendonly']).stdout;
      if (!cfg.includes('appendonly')) spawnSleep(250);
    }
    assert.deepEqual(cfg.trim().split('\n'), ['appendonly', 'yes']);
    const pm = env.docker(['exec', 'r2', 'redis-cli', 'config', 'get', 'protected-mode']).stdout;
    assert.deepEqual(pm.trim().split('\n'), ['protected-mode', 'no']);
    const wd = env.docker(['exec', 'r2', 'pwd']).stdout.trim();
    assert.equal(wd, '/data');
  });

  it('docker pull redis:7 adds the tag like a registry pull; again it is up to date', () => {
    const r = env.docker(['pull', 'redis:7']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /7: Pulling from library\/redis/);
    assert.match(r.stdout, /[0-9a-f]{12}: Already exists/);
    assert.match(r.stdout, /Status: Downloaded newer image for redis:7/);
    assert.equal(idOf('redis:7'), idOf('redis'));
    const again = env.docker(['pull', 'redis:7']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /Status: Image is up to date for redis:7/);
    const nope = env.docker(['pull', 'redis:1.2.3']);
    assert.notEqual(nope.status, 0);
    assert.match(nope.stderr, /Berth has no registry/);
  });

  it('docker images lists them; inspect shows the official-like config', () => {
    const r = env.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.equal(r.status, 0, r.stderr);
    const tags = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ')[0])
      .sort();
    assert.deepEqual(tags, ['busybox:latest', 'python:3', 'redis:7', 'redis:latest']);
    const redis = JSON.parse(env.docker(['image', 'inspect', 'redis']).stdout) as Array<{
      Config: Record<string, unknown>;
      RootFS: { Layers: string[] };
    }>;
    assert.deepEqual(redis[0]!.Config['ExposedPorts'], { '6379/tcp': {} });
    assert.equal(redis[0]!.Config['WorkingDir'], '/data');
    assert.deepEqual(redis[0]!.Config['Cmd'], ['redis-server']);
    const py = JSON.parse(env.docker(['image', 'inspect', 'python:3']).stdout) as Array<{
      Config: { Env: string[]; Cmd: string[] };
      RootFS: { Layers: string[] };
    }>;
    assert.ok(py[0]!.Config.Env.includes('LANG=C.UTF-8'));
    assert.deepEqual(py[0]!.Config.Cmd, ['python3']);
    // one shared base layer
    assert.equal(py[0]!.RootFS.Layers[0], redis[0]!.RootFS.Layers[0]);
    assert.notEqual(py[0]!.RootFS.Layers[1], redis[0]!.RootFS.Layers[1]);
  });

  it('an independent build from the same packages gives the same image id', async () => {
    const t = performance.now();
    const b = await new DebianBuilder(other).build(PYTHON);
    console.log(`independent python build: ${(performance.now() - t).toFixed(0)} ms`);
    assert.equal(sha256(b.configBytes), idOf('python:3'));
  });

  it('a second data-root reuses the cache: pull and inspect, nothing rebuilt', () => {
    const before = cacheFiles();
    const t = performance.now();
    const r = env.docker(['pull', 'python:3.11'], { host: 2 });
    const ms = performance.now() - t;
    assert.equal(r.status, 0, r.stderr);
    console.log(`docker pull python:3.11 on a second data-root (cache hit): ${ms.toFixed(0)} ms`);
    assert.doesNotMatch(r.stdout, /Building/);
    assert.match(r.stdout, /Status: Downloaded newer image for python:3\.11/);
    const ins = env.docker(['image', 'inspect', 'docker.io/library/redis:latest'], { host: 2 });
    assert.equal(ins.status, 0, ins.stderr);
    assert.deepEqual(cacheFiles(), before, 'the cache was not rewritten');
    assert.equal(idOf('python:3.11', 2), idOf('python:3'));
    assert.equal(idOf('redis', 2), idOf('redis'));
  });

  it('docker pull shows each layer extracted with its bytes, bars on a terminal only', async () => {
    const forget = () => {
      for (const ref of ['mine:1', 'mine:2', 'python:3.11', 'python:3', 'redis'])
        env.docker(['rmi', ref], { host: 2 });
    };
    forget();
    const host = env.daemons[1]!.env.DOCKER_HOST as string;
    const r = await apiCall(host, 'POST', '/images/create?fromImage=redis&tag=latest');
    const lines = r.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ProgressLine);
    const extracting = lines.filter((l) => l.status === 'Extracting');
    const ids = new Set(extracting.map((l) => l.id));
    assert.ok(ids.size >= 1, r.text.slice(0, 2000));
    for (const id of ids) {
      const of = extracting.filter((l) => l.id === id).map((l) => l.progressDetail!);
      for (let i = 1; i < of.length; i++) assert.ok(of[i]!.current > of[i - 1]!.current, id);
      assert.equal(of.at(-1)!.current, of.at(-1)!.total, `${id} ends at its size`);
      assert.ok(
        lines.some((l) => l.id === id && l.status === 'Pull complete'),
        id,
      );
    }
    assert.ok(extracting.length > ids.size, 'a layer of megabytes reports more than once');
    assert.match(extracting[0]!.progress ?? '', /^\[=*> *\] +[\d.]+[kMG]?B\/[\d.]+[kMG]?B$/);
    assert.equal(lines.at(-1)?.status, 'Status: Downloaded newer image for redis:latest');

    // Not on a terminal, the docker client leaves the byte lines out.
    forget();
    const plain = env.docker(['pull', 'redis'], { host: 2 });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /^[0-9a-f]{12}: Pull complete$/m);
    assert.doesNotMatch(plain.stdout, /Extracting/);

    // A build FROM a builtin that is not here pulls it, its progress in the build's output.
    forget();
    const ctx = mkdtempSync(join(tmpdir(), 'berth-build-from-'));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM redis\nLABEL made=here\n');
    const b = env.docker(['build', '-q', '-t', 'mine:1', ctx], { host: 2 });
    rmSync(ctx, { recursive: true, force: true });
    assert.equal(b.status, 0, b.stderr);
    const built = env.docker(['build', '-t', 'mine:2', '--no-cache', '-'], {
      host: 2,
      input: 'FROM python:3.11\nLABEL made=here\n',
    });
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stdout, /^3\.11: Pulling from library\/python$/m);
    assert.match(built.stdout, /^[0-9a-f]{12}: Pull complete$/m);
    assert.match(built.stdout, /^Status: Downloaded newer image for python:3\.11$/m);

    // On one, it draws them and ends each layer's line at "Pull complete".
    forget();
    const t = new Terminal(join(env.lab.dir, 'tmux-pull.sock'));
    try {
      t.start(`DOCKER_HOST=${host} docker pull redis; sleep 30`, 120, 30);
      assert.ok(t.waitFor(/Status: Downloaded newer image for redis:latest/, 30_000), t.screen());
      assert.match(t.screen(), /^[0-9a-f]{12}: Pull complete\s*$/m);
    } finally {
      t.close();
    }
  });
});

function spawnSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
