import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildArgs } from '../../src/build/buildargs.js';
import { BuildCache } from '../../src/build/cache.js';
import { findSources, globMatch, sourcesHash } from '../../src/build/context.js';
import { normalizeDest } from '../../src/build/copy.js';
import { normalizeWorkdir, prependEnvOnCmd } from '../../src/build/dispatch.js';
import { exposedPorts, goHealthcheck, goQuoteList } from '../../src/build/goformat.js';
import { goDuration } from '../../src/common/goduration.js';
import {
  cacheKey,
  childImageConfig,
  commentCmd,
  normalizeRunConfig,
  stageRunConfig,
  withChanges,
} from '../../src/build/runconfig.js';
import type { KvEntry, KvStore } from '../../src/store/types.js';

/** Just what BuildCache uses of a KV store. */
function memoryKv(): KvStore {
  const m = new Map<string, string>();
  const entry = (key: string, value: string): KvEntry => ({
    key,
    value,
    createRevision: 1,
    modRevision: 1,
    version: 1,
  });
  return {
    get: async (k) => (m.has(k) ? entry(k, m.get(k)!) : undefined),
    put: async (k, v) => (m.set(k, v), 1),
    delete: async (k) => m.delete(k),
    list: async (p) => [...m].filter(([k]) => k.startsWith(p)).map(([k, v]) => entry(k, v)),
    txn: async () => ({ succeeded: true, revision: 1 }),
    watch: async () => () => undefined,
    revision: async () => 1,
    close: async () => undefined,
    listWithRevision: async () => ({ entries: [], revision: 1 }),
    compact: async () => undefined,
    grantLease: async () => '1',
    keepAlive: async () => 1,
    revokeLease: async () => undefined,
    leaseTimeToLive: async () => undefined,
  };
}

const PARENT = `sha256:${'a'.repeat(64)}`;

describe('build cache keys', () => {
  const base = stageRunConfig({ Env: ['PATH=/bin'], Cmd: ['sh'] });
  const step = (comment: string) => withChanges(base, { Cmd: commentCmd(base, comment) });

  it('depend on the parent image and the step, not on the container hostname', () => {
    const k = cacheKey(PARENT, step('ENV A=1'));
    assert.equal(cacheKey(PARENT, step('ENV A=1')), k);
    assert.notEqual(cacheKey(`sha256:${'b'.repeat(64)}`, step('ENV A=1')), k);
    assert.notEqual(cacheKey(PARENT, step('ENV A=2')), k);
    assert.equal(cacheKey(PARENT, withChanges(step('ENV A=1'), { Hostname: '0123456789ab' })), k);
    assert.notEqual(cacheKey(PARENT, withChanges(step('ENV A=1'), { User: 'nobody' })), k);
  });

  it('BuildCache returns recorded images while they exist, and forgets the others', async () => {
    const kv = memoryKv();
    const alive = new Set([PARENT]);
    const cache = new BuildCache(kv, async (id) => alive.has(id));
    await cache.put('k1', PARENT);
    assert.equal(await cache.get('k1'), PARENT);
    assert.equal(await cache.get('k2'), undefined);
    alive.clear();
    assert.equal(await cache.get('k1'), undefined);
    assert.equal((await kv.list('build/cache/')).length, 0, 'a stale entry is dropped');
  });
});

describe('COPY source hashes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'app/lib'), { recursive: true });
  writeFileSync(join(dir, 'app/main.js'), 'main');
  writeFileSync(join(dir, 'app/lib/util.js'), 'util');
  writeFileSync(join(dir, 'a.txt'), 'A');
  writeFileSync(join(dir, 'b.txt'), 'B');
  const hash = (srcs: string[]) => sourcesHash(findSources(dir, srcs, true));

  it('cover names, modes and contents, not times', () => {
    const h = hash(['app']);
    assert.match(h, /^dir:[0-9a-f]{64}$/);
    assert.match(hash(['a.txt']), /^file:[0-9a-f]{64}$/);
    assert.match(hash(['a.txt', 'b.txt']), /^multi:[0-9a-f]{64}$/);
    utimesSync(join(dir, 'app/main.js'), 1000, 1000);
    assert.equal(hash(['app']), h, 'a new mtime keeps the cache');
    writeFileSync(join(dir, 'app/main.js'), 'main2');
    const h2 = hash(['app']);
    assert.notEqual(h2, h, 'new content busts it');
    chmodSync(join(dir, 'app/main.js'), 0o755);
    assert.notEqual(hash(['app']), h2, 'a new mode busts it');
  });

  it('expand wildcards, and report missing files and escapes as Docker does', () => {
    assert.deepEqual(
      findSources(dir, ['*.txt'], true).map((s) => s.rel),
      ['a.txt', 'b.txt'],
    );
    assert.deepEqual(
      findSources(dir, ['/app/lib/../main.js'], true).map((s) => s.path),
      [join(dir, 'app/main.js')],
    );
    assert.throws(() => findSources(dir, ['nosuch'], true), {
      message:
        'file not found in build context or excluded by .dockerignore: stat nosuch: file does not exist',
    });
    assert.throws(() => findSources(dir, ['nope*'], true), {
      message: 'no source files were specified',
    });
    assert.throws(() => findSources(dir, ['../x'], true), {
      message: 'forbidden path outside the build context: ../x ()',
    });
    assert.equal(globMatch('a/*.js', 'a/b.js'), true);
    assert.equal(globMatch('*.js', 'a/b.js'), false);
    assert.equal(globMatch('[ab].txt', 'b.txt'), true);
  });
});

describe('build step helpers', () => {
  it('RUN records build args in front of its command (|N K=V), builtin proxies only when declared', () => {
    const args = new BuildArgs({ B: '2', HTTP_PROXY: 'http://p', UNUSED: 'x' });
    args.addArg('A', '1');
    args.addArg('B', undefined);
    const vars = args.filterAllowed(['A=from-env']);
    assert.deepEqual(vars.sort(), ['B=2', 'HTTP_PROXY=http://p']);
    assert.deepEqual(prependEnvOnCmd(args, vars, ['/bin/sh', '-c', 'x']), [
      '|1',
      'B=2',
      '/bin/sh',
      '-c',
      'x',
    ]);
    assert.equal(
      args.unusedWarning(),
      '[Warning] One or more build-args [UNUSED] were not consumed\n',
    );
  });

  it('meta ARGs give defaults to stage ARGs of the same name', () => {
    const args = new BuildArgs({});
    args.addMetaArg('V', '1.0');
    const stage = args.clone();
    stage.resetAllowed();
    stage.addArg('V', undefined);
    assert.deepEqual([...stage.allAllowed()], [['V', '1.0']]);
    assert.deepEqual([...args.allMeta()], [['V', '1.0']]);
  });

  it('resolves WORKDIR and COPY destinations', () => {
    assert.equal(normalizeWorkdir('/app', 'sub/../lib'), '/app/lib');
    assert.equal(normalizeWorkdir('/app', '/abs/'), '/abs/');
    assert.equal(normalizeDest('/app', './'), '/app/');
    assert.equal(normalizeDest('/app', 'x'), '/app/x');
    assert.equal(normalizeDest('', 'x/'), '/x/');
  });

  it("formats history entries with Go's verbs", () => {
    assert.equal(goQuoteList(['/bin/sh', '-c', 'echo "hi"']), '["/bin/sh" "-c" "echo \\"hi\\""]');
    assert.equal(goQuoteList(null), '[]');
    assert.equal(goDuration(90e9), '1m30s');
    assert.equal(goDuration(3600e9), '1h0m0s');
    assert.equal(goDuration(1.5e9), '1.5s');
    assert.equal(goDuration(5e6), '5ms');
    assert.equal(
      goHealthcheck({
        Test: ['CMD-SHELL', 'true'],
        Interval: 30e9,
        Timeout: 0,
        StartPeriod: 0,
        Retries: 3,
      }),
      '&{["CMD-SHELL" "true"] "30s" "0s" "0s" \'\\x03\'}',
    );
    assert.deepEqual(exposedPorts('8000-8002/udp'), ['8000/udp', '8001/udp', '8002/udp']);
    assert.throws(() => exposedPorts('http'), /Invalid containerPort: http/);
  });

  it('makes child image configs: parent layers + the new one, history, sorted keys', () => {
    const parent = {
      architecture: 'amd64',
      os: 'linux',
      history: [{ created: 'c0', created_by: 'base' }],
      rootfs: { type: 'layers', diff_ids: [`sha256:${'1'.repeat(64)}`] },
    };
    const cfg = normalizeRunConfig({ Cmd: ['sh'] });
    const child = childImageConfig(parent, {
      config: cfg,
      containerConfig: withChanges(cfg, { Cmd: ['/bin/sh', '-c', '#(nop) ', 'ENV A=1'] }),
      containerId: 'c'.repeat(64),
      author: '',
      created: 'c1',
      version: '0.1.0',
    });
    assert.deepEqual(Object.keys(child), [...Object.keys(child)].sort());
    assert.deepEqual(child.rootfs.diff_ids, parent.rootfs.diff_ids);
    assert.deepEqual(child.history?.[1], {
      created: 'c1',
      created_by: '/bin/sh -c #(nop)  ENV A=1',
      empty_layer: true,
    });
    const withLayer = childImageConfig(parent, {
      config: cfg,
      containerConfig: cfg,
      containerId: '',
      diffId: `sha256:${'2'.repeat(64)}`,
      author: 'me',
      created: 'c2',
      version: '0.1.0',
    });
    assert.equal(withLayer.rootfs.diff_ids.length, 2);
    assert.deepEqual(withLayer.history?.[1], { created: 'c2', author: 'me', created_by: 'sh' });
  });
});
