/**
 * The pure parts of commit, save, the prunes and system df: dockerd's merge
 * of a commit's config with the container's, the committed image's config
 * and history, the prune filters and their errors, the docker-archive
 * entries `save` writes, and the summary rows of `system df`.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commitImageConfig, mergeCommitConfig } from '../../src/build/commit.js';
import { normalizeRunConfig } from '../../src/build/runconfig.js';
import { danglingOnly, labelsMatch, pruneFilter } from '../../src/api/prune.js';
import { saveArchive, saveEntries, type SaveImage } from '../../src/images/save.js';
import type { ImageConfig } from '../../src/images/types.js';
import { dfSummary } from '../../src/cli/commands/df.js';

const f = (o: Record<string, string[]>) => new Map(Object.entries(o));
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('commit config', () => {
  it("fills what the commit's config leaves empty from the container's, as dockerd's merge", () => {
    const base = {
      User: 'app',
      Env: ['PATH=/bin', 'A=1'],
      Cmd: ['sh'],
      Entrypoint: null,
      ExposedPorts: { '80/tcp': {} },
      Labels: { a: '1', b: '2' },
      WorkingDir: '/srv',
      Volumes: { '/data': {} },
      StopSignal: 'SIGUSR1',
      Healthcheck: { Test: ['CMD', 'true'], Interval: 5e9, Retries: 2 },
    };
    const m = mergeCommitConfig(
      {
        Env: ['A=2', 'B=3'],
        Labels: { b: 'x' },
        ExposedPorts: { '443/tcp': {} },
        Healthcheck: { Test: [], Timeout: 1e9 },
      },
      base,
    );
    assert.deepEqual(m.Env, ['A=2', 'B=3', 'PATH=/bin']);
    assert.deepEqual(m.Labels, { a: '1', b: 'x' });
    assert.deepEqual(Object.keys(m.ExposedPorts ?? {}).sort(), ['443/tcp', '80/tcp']);
    assert.deepEqual(m.Cmd, ['sh']);
    assert.equal(m.User, 'app');
    assert.equal(m.WorkingDir, '/srv');
    assert.equal(m.StopSignal, 'SIGUSR1');
    assert.deepEqual(m.Healthcheck, {
      Test: ['CMD', 'true'],
      Timeout: 1e9,
      Interval: 5e9,
      Retries: 2,
    });
    // an entrypoint of its own keeps the commit's (empty) Cmd
    const e = mergeCommitConfig({ Entrypoint: ['/run'] }, base);
    assert.deepEqual(e.Entrypoint, ['/run']);
    assert.equal(e.Cmd, undefined);
  });

  it('makes the child image: the layer on the parent, a history entry with the message', () => {
    const parent: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha('base')] },
      history: [{ created: '2020-01-01T00:00:00Z', created_by: 'ADD' }],
    };
    const cfg = normalizeRunConfig({ Cmd: ['cat', '/x'], Image: 'busybox', StopTimeout: 3 });
    const img = commitImageConfig(parent, {
      config: cfg,
      containerConfig: cfg,
      containerId: 'c'.repeat(64),
      diffId: sha('layer'),
      author: 'Ann',
      comment: 'why',
      version: '0.1.0',
    });
    assert.deepEqual(img.rootfs.diff_ids, [sha('base'), sha('layer')]);
    assert.equal(img.author, 'Ann');
    assert.equal(img.container, 'c'.repeat(64));
    assert.equal((img.config as Record<string, unknown>).StopTimeout, 3);
    const last = img.history!.at(-1)!;
    assert.deepEqual(Object.keys(last), ['created', 'author', 'created_by', 'comment']);
    assert.equal(last.comment, 'why');
    assert.equal(last.created_by, 'cat /x');
    const none = commitImageConfig(parent, {
      config: cfg,
      containerConfig: cfg,
      containerId: 'c',
      diffId: undefined,
      author: '',
      comment: '',
      version: '0.1.0',
    });
    assert.deepEqual(none.rootfs.diff_ids, [sha('base')]);
    assert.equal(none.history!.at(-1)!.empty_layer, true);
  });
});

describe('prune filters', () => {
  const NOW = Date.parse('2024-06-01T12:00:00Z');
  const old = { labels: { keep: 'no' }, created: NOW - 3 * 3600e3 };
  const fresh = { labels: {}, created: NOW - 60e3 };

  it('match until, label and label! as dockerd 20.10', () => {
    const pick = (o: Record<string, string[]>) =>
      [old, fresh].filter(pruneFilter(f(o), [], NOW)).length;
    assert.equal(pick({}), 2);
    assert.equal(pick({ until: ['1h'] }), 1);
    assert.equal(pick({ until: ['2024-06-01T11:59:30Z'] }), 2);
    assert.equal(pick({ label: ['keep'] }), 1);
    assert.equal(pick({ label: ['keep=yes'] }), 0);
    assert.equal(pick({ 'label!': ['keep'] }), 1);
    assert.equal(labelsMatch(null, ['a']), false);
  });

  it("refuse other keys and bad values with dockerd's words", () => {
    assert.throws(() => pruneFilter(f({ name: ['x'] })), { message: "Invalid filter 'name'" });
    assert.throws(() => pruneFilter(f({ until: ['1h', '2h'] })), {
      message: 'more than one until filter specified',
    });
    assert.throws(
      () => pruneFilter(f({ until: ['soon'] })),
      /failed to parse value as time or duration: "soon"/,
    );
    assert.doesNotThrow(() => pruneFilter(f({ dangling: ['true'] }), ['dangling']));
    assert.equal(danglingOnly(f({})), true);
    assert.equal(danglingOnly(f({ dangling: ['false'] })), false);
    assert.equal(danglingOnly(f({ dangling: ['true', 'false'] })), false);
    assert.throws(() => danglingOnly(f({ dangling: ['maybe'] })), {
      message: "Invalid filter 'dangling=[maybe]'",
    });
  });
});

describe('docker save entries', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const layer = Buffer.alloc(1024);
  const image = (diffIds: string[], tags: SaveImage['tags'] = [], day = '01'): SaveImage => {
    const config: ImageConfig = {
      created: `2024-01-${day}T00:00:00Z`,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    return { id: sha(configBytes), configBytes, config, tags };
  };
  const source = (dir = '/nonexistent') => ({
    dirOf: () => dir,
    splitOf: async (d: string) => (d === sha(layer) ? [{ raw: layer }] : undefined),
  });

  it('lays out the classic archive: config, layer dirs, manifest, repositories', async () => {
    const a = image([sha(layer)], [{ domain: 'docker.io', path: 'library/app', tag: 'v1' }]);
    const b = image([sha(layer)], [], '02');
    const items = await saveEntries([a, b], source());
    const names = items.map((i) => i.name);
    assert.deepEqual(names, [...names].sort());
    const v1 = names.filter((n) => /^[0-9a-f]{64}$/.test(n));
    // one layer, but the top layer's v1 id carries the image's own config
    assert.equal(v1.length, 2);
    for (const d of v1) {
      assert.ok(
        names.includes(`${d}/VERSION`) &&
          names.includes(`${d}/json`) &&
          names.includes(`${d}/layer.tar`),
      );
    }
    const manifest = JSON.parse(items.find((i) => i.name === 'manifest.json')!.body!.toString());
    assert.deepEqual(manifest[0].RepoTags, ['app:v1']);
    assert.equal(manifest[1].RepoTags, null);
    assert.equal(manifest[0].Config, `${a.id.slice(7)}.json`);
    const repos = JSON.parse(items.find((i) => i.name === 'repositories')!.body!.toString());
    assert.deepEqual(Object.keys(repos), ['app']);
    assert.equal(repos.app.v1, manifest[0].Layers[0].split('/')[0]);
    // the archive streams
    let bytes = 0;
    for await (const c of saveArchive(items, () => undefined)) bytes += c.length;
    assert.ok(bytes > 1024 * 3);
  });

  it('refuses an image without layers, and a layer that cannot be written again', async () => {
    await assert.rejects(saveEntries([image([])], source()), {
      message: 'empty export - not implemented',
    });
    const dir = mkdtempSync(join(tmpdir(), 'save-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'f'), 'x');
    await assert.rejects(
      saveEntries([image([sha('other')])], source(dir)),
      /stored without its tar layout/,
    );
  });
});

describe('system df summary', () => {
  it("computes docker's totals and reclaimable space", () => {
    const rows = dfSummary({
      LayersSize: 1000,
      Images: [
        { Id: 'a', Size: 600, SharedSize: 100, Containers: 1 },
        { Id: 'b', Size: 400, SharedSize: 100, Containers: 0 },
      ],
      Containers: [
        { Id: 'x', State: 'running', SizeRw: 10 },
        { Id: 'y', State: 'exited', SizeRw: 30 },
      ],
      Volumes: [{ Name: 'v', UsageData: { Size: 50, RefCount: 0 } }],
      BuildCache: [],
    });
    const r = (i: number) => rows[i] as Record<string, string>;
    assert.deepEqual(
      [r(0).TotalCount, r(0).Active, r(0).Size, r(0).Reclaimable],
      ['2', '1', '1kB', '500B (50%)'],
    );
    assert.deepEqual(
      [r(1).TotalCount, r(1).Active, r(1).Size, r(1).Reclaimable],
      ['2', '1', '40B', '30B (75%)'],
    );
    assert.deepEqual([r(2).Active, r(2).Reclaimable], ['0', '50B (100%)']);
    assert.equal(r(3).Reclaimable, '0B');
  });
});
