/**
 * What Berth keeps on disk, through the stock docker client (issue 14, item
 * 5): `commit` (the new image runs with the container's file, its changes
 * and message applied), `save` and `load` (a round trip that gives the same
 * image ID; every layer.tar hashes to the diffID its config names, which is
 * what Docker's load checks), `container prune` (stopped ones only, by
 * label, space reported), `image prune` (a failed build's intermediate),
 * `ps -s` / `inspect -s` (a size that grows with a written file), `system
 * df` (numbers that match what exists), `system prune`, and dockerd's
 * refusals for bad input.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
let tmp: string;

function ok(args: string[], input?: string): string {
  const r = env.docker(args, input === undefined ? undefined : { input });
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function fails(args: string[], re: RegExp): void {
  const r = env.docker(args);
  assert.notEqual(r.status, 0, `docker ${args.join(' ')} should fail`);
  assert.match(r.stderr, re);
}

const api = (method: string, path: string, body?: unknown) =>
  apiCall(env.daemon.env.DOCKER_HOST, method, path, body);

/** Docker's units.HumanSize parsed back, in bytes (`1.05MB`, `0B`). */
function bytesOf(s: string): number {
  const m = /^([\d.]+)\s*([kMGT]?B)$/.exec(s.trim());
  assert.ok(m, `a size: ${s}`);
  const mult = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[m[2]!]!;
  return Number(m[1]) * mult;
}

describe('commit, save, prune, system df', () => {
  before(async () => {
    env = await labWithDaemons();
    tmp = mkdtempSync(join(tmpdir(), 'berth-storage-'));
  });
  after(async () => {
    await env?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('commit makes an image with the container file, changes and message', () => {
    ok([
      'run',
      '--name',
      'src',
      'busybox',
      'sh',
      '-c',
      'echo made-here > /made.txt && rm /etc/group',
    ]);
    const id = ok([
      'commit',
      '-m',
      'my message',
      '-a',
      'Ann <ann@example.test>',
      '-c',
      'ENV COLOR=blue',
      '-c',
      'CMD ["cat", "/made.txt"]',
      'src',
      'committed:v1',
    ]);
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ok(['run', '--rm', 'committed:v1']), 'made-here');
    assert.equal(ok(['run', '--rm', 'committed:v1', 'sh', '-c', 'echo $COLOR']), 'blue');
    // the deletion is a whiteout in the new layer
    const r = env.docker(['run', '--rm', 'committed:v1', 'ls', '/etc/group']);
    assert.notEqual(r.status, 0);
    const img = JSON.parse(ok(['image', 'inspect', 'committed:v1']))[0];
    assert.equal(img.Id, id);
    assert.equal(img.Author, 'Ann <ann@example.test>');
    assert.equal(img.Comment, 'my message');
    assert.deepEqual(img.Config.Cmd, ['cat', '/made.txt']);
    const base = JSON.parse(ok(['image', 'inspect', 'busybox']))[0];
    assert.equal(img.RootFS.Layers.length, base.RootFS.Layers.length + 1);
    assert.equal(img.Parent, base.Id);
  });

  it('commit of a container that changed nothing adds no layer; bad input is refused', () => {
    ok(['create', '--name', 'untouched', 'busybox']);
    const id = ok(['commit', 'untouched']);
    const img = JSON.parse(ok(['image', 'inspect', id]))[0];
    const base = JSON.parse(ok(['image', 'inspect', 'busybox']))[0];
    assert.deepEqual(img.RootFS.Layers, base.RootFS.Layers);
    fails(['commit', 'nosuch'], /No such container: nosuch/);
    fails(['commit', '-c', 'FROM busybox', 'untouched'], /from is not a valid change command/);
    const before = ok(['images', '-aq']).split('\n').length;
    fails(['commit', '-c', 'HEALTHCHECK --foo=1 CMD true', 'untouched'], /Unknown flag: foo/);
    assert.equal(ok(['images', '-aq']).split('\n').length, before);
  });

  it('save then load gives back the same image ID, and every layer hashes to its diffID', () => {
    const id = ok(['inspect', '-f', '{{.Id}}', 'committed:v1']);
    const file = join(tmp, 'img.tar');
    ok(['save', '-o', file, 'committed:v1']);
    const dir = join(tmp, 'x');
    spawnSync('mkdir', ['-p', dir]);
    assert.equal(spawnSync('tar', ['-xf', file, '-C', dir]).status, 0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.length, 1);
    assert.deepEqual(manifest[0].RepoTags, ['committed:v1']);
    assert.equal(manifest[0].Config, `${id.slice(7)}.json`);
    const config = JSON.parse(readFileSync(join(dir, manifest[0].Config), 'utf8'));
    const digests = (manifest[0].Layers as string[]).map(
      (l) =>
        `sha256:${createHash('sha256')
          .update(readFileSync(join(dir, l)))
          .digest('hex')}`,
    );
    assert.deepEqual(digests, config.rootfs.diff_ids);
    // the commit's layer: the file and the whiteout, not runc's mount points
    const top = join(dir, (manifest[0].Layers as string[]).at(-1)!);
    const entries = spawnSync('tar', ['-tf', top], { encoding: 'utf8' }).stdout.split('\n');
    assert.deepEqual(entries.filter(Boolean).sort(), ['etc/', 'etc/.wh.group', 'made.txt']);
    const repos = JSON.parse(readFileSync(join(dir, 'repositories'), 'utf8'));
    assert.ok(repos.committed?.v1);

    ok(['rm', 'src']);
    ok(['rmi', 'committed:v1']);
    fails(['image', 'inspect', id], /No such image/);
    assert.match(ok(['load', '-i', file]), /Loaded image: committed:v1/);
    assert.equal(ok(['inspect', '-f', '{{.Id}}', 'committed:v1']), id);
    assert.ok(ok(['images', '--no-trunc', '-q']).split('\n').includes(id));
    assert.equal(ok(['run', '--rm', 'committed:v1']), 'made-here');

    // by ID: no names, and load says so; through a pipe, as `docker save | docker load`
    const byId = spawnSync('docker', ['save', id], {
      env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
      maxBuffer: 1 << 28,
    });
    assert.equal(byId.status, 0, String(byId.stderr));
    ok(['rmi', 'committed:v1']);
    const loaded = env.docker(['load'], { input: byId.stdout as unknown as string });
    assert.equal(loaded.status, 0, loaded.stderr);
    assert.match(loaded.stdout, new RegExp(`Loaded image ID: ${id}`));
    ok(['tag', id, 'committed:v1']);
    fails(['save', '-o', join(tmp, 'n.tar'), 'nosuch:v9'], /reference does not exist/);
    fails(['save', '-o', join(tmp, 'n.tar'), 'nosuch'], /No such image: nosuch/);
  });

  it('ps -s and inspect -s show a size that grows when the container writes', async () => {
    ok(['run', '-d', '--name', 'grow', 'busybox', 'sleep', '1000']);
    const size = () => ok(['ps', '-s', '--filter', 'name=grow', '--format', '{{.Size}}']);
    const first = size();
    assert.match(first, /^\S+ \(virtual \S+\)$/);
    ok(['exec', 'grow', 'dd', 'if=/dev/zero', 'of=/big', 'bs=1024', 'count=2048']);
    const second = size();
    const rw = (s: string) => bytesOf(s.split(' ')[0]!);
    assert.ok(rw(second) - rw(first) >= 2_000_000, `${first} -> ${second}`);
    const c = JSON.parse(ok(['inspect', '-s', 'grow']))[0];
    assert.ok(c.SizeRw >= 2097152 && c.SizeRw < 2097152 + 100_000, String(c.SizeRw));
    const busybox = JSON.parse(ok(['image', 'inspect', 'busybox']))[0];
    assert.equal(c.SizeRootFs, c.SizeRw + busybox.Size);
    const plain = JSON.parse(ok(['inspect', 'grow']))[0];
    assert.equal(plain.SizeRw, undefined);
    // a running container is committed (frozen meanwhile, or not with --pause=false) and runs on
    for (const pause of ['--pause=true', '--pause=false']) {
      const img = ok(['commit', pause, 'grow']);
      const n = ok(['run', '--rm', img, 'sh', '-c', 'wc -c < /big']);
      assert.equal(n, '2097152');
      assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'grow']), 'running');
      ok(['rmi', img]);
    }
  });

  it('system df matches what exists', async () => {
    const df = (await api('GET', '/system/df')).json as {
      LayersSize: number;
      Images: Array<{ Id: string; Size: number; SharedSize: number; Containers: number }>;
      Containers: Array<{ Id: string; SizeRw?: number; SizeRootFs?: number }>;
      Volumes: unknown[];
      BuildCache: unknown[];
    };
    const images = ok(['images', '-q', '--no-trunc']).split('\n');
    assert.deepEqual(df.Images.map((i) => i.Id).sort(), [...new Set(images)].sort());
    const containers = ok(['ps', '-aq', '--no-trunc']).split('\n');
    assert.deepEqual(df.Containers.map((c) => c.Id).sort(), containers.sort());
    const busybox = ok(['inspect', '-f', '{{.Id}}', 'busybox']);
    const users = ok(['ps', '-a', '--filter', `ancestor=${busybox}`, '-q']).split('\n');
    assert.equal(df.Images.find((i) => i.Id === busybox)?.Containers, users.length);
    // busybox's layer is shared with the committed image built on it
    const bb = df.Images.find((i) => i.Id === busybox)!;
    assert.equal(bb.SharedSize, bb.Size);
    assert.ok(df.LayersSize >= Math.max(...df.Images.map((i) => i.Size)));
    const grow = df.Containers.find((c) =>
      c.Id.startsWith(ok(['inspect', '-f', '{{.Id}}', 'grow'])),
    );
    assert.ok((grow?.SizeRw ?? 0) >= 2097152);
    const out = ok(['system', 'df']);
    assert.match(out, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/);
    assert.match(out, new RegExp(`Images\\s+${df.Images.length}\\s`));
    assert.match(out, new RegExp(`Containers\\s+${df.Containers.length}\\s`));
    const v = ok(['system', 'df', '-v']);
    assert.match(v, /Images space usage:/);
    assert.match(v, /grow/);
  });

  it('the berth CLI: commit, save/load, ps -s, system df as docker prints them', () => {
    const b = (args: string[]) => {
      const r = env.berth(args);
      assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    ok(['run', '--name', 'bsrc', 'busybox', 'sh', '-c', 'echo by-berth > /b.txt']);
    const id = b(['commit', '-c', 'CMD cat /b.txt', '-m', 'via berth', 'bsrc', 'bcommit']);
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ok(['run', '--rm', 'bcommit']), 'by-berth');
    assert.equal(ok(['image', 'inspect', '-f', '{{.Comment}}', 'bcommit']), 'via berth');
    const file = join(tmp, 'b.tar');
    b(['save', '-o', file, 'bcommit']);
    ok(['rm', 'bsrc']);
    ok(['rmi', 'bcommit']);
    assert.match(b(['load', '-i', file]), /Loaded image: bcommit:latest/);
    assert.equal(ok(['inspect', '-f', '{{.Id}}', 'bcommit']), id);
    const bad = env.berth(['commit', 'nosuch']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /No such container: nosuch/);
    const size = ['ps', '-s', '--filter', 'name=grow', '--format', '{{.Size}}'];
    assert.equal(b(size), ok(size));
    assert.equal(b(['system', 'df']), ok(['system', 'df']));
    const v = b(['system', 'df', '-v']);
    assert.match(
      v,
      /^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\n/,
    );
    assert.match(
      v,
      /\nContainers space usage:\n\nCONTAINER ID\s+IMAGE\s+COMMAND\s+LOCAL VOLUMES\s+SIZE/,
    );
    assert.match(v, /\nLocal Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\n/);
    assert.match(v, /\nBuild cache usage: 0B\n/);
    const inspectS = JSON.parse(b(['inspect', '-s', 'grow']))[0];
    assert.ok(inspectS.SizeRw >= 2097152);
    ok(['rmi', 'bcommit']);
  });

  it('container prune removes stopped containers only, by label, and reports the space', () => {
    ok(['run', '--name', 'keepme', '--label', 'keep=yes', 'busybox', 'sh', '-c', 'echo x > /f']);
    ok([
      'run',
      '--name',
      'dropme',
      'busybox',
      'sh',
      '-c',
      'dd if=/dev/zero of=/f bs=1024 count=100',
    ]);
    fails(['container', 'prune', '-f', '--filter', 'name=x'], /Invalid filter 'name'/);
    fails(['container', 'prune', '-f', '--filter', 'until=bogus'], /bogus/);
    const out = ok(['container', 'prune', '-f', '--filter', 'label!=keep=yes']);
    const dropId = /Deleted Containers:\n([0-9a-f]{64})/.exec(out)?.[1];
    assert.ok(dropId, out);
    assert.match(out, /Total reclaimed space: 10\d(\.\d+)?kB/);
    const left = ok(['ps', '-a', '--format', '{{.Names}}']).split('\n');
    assert.ok(left.includes('keepme') && left.includes('grow'), left.join(','));
    assert.ok(!left.includes('dropme') && !left.includes('untouched'));
    // `until`: created before then; running ones stay whatever the filter
    ok(['container', 'prune', '-f', '--filter', 'until=1h']);
    assert.ok(ok(['ps', '-a', '--format', '{{.Names}}']).split('\n').includes('keepme'));
    const b = env.berth(['container', 'prune', '-f', '--filter', 'until=0s']);
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: \d/);
    assert.deepEqual(ok(['ps', '-a', '--format', '{{.Names}}']).split('\n'), ['grow']);
  });

  it('image prune removes a failed build intermediate, -a the unused images', async () => {
    const ctx = join(tmp, 'ctx');
    spawnSync('mkdir', ['-p', ctx]);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo one > /one\nRUN false\n');
    const danglingNow = () =>
      ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true']).split('\n').filter(Boolean);
    const earlier = danglingNow(); // the commit of `untouched`, untagged
    const b = env.docker(['build', ctx]);
    assert.notEqual(b.status, 0);
    // the failed step's container uses the intermediate: it goes first, as with Docker
    assert.match(ok(['container', 'prune', '-f']), /Deleted Containers:\n[0-9a-f]{64}\n\n/);
    const all = () => ok(['images', '-aq', '--no-trunc']).split('\n').filter(Boolean);
    const dangling = danglingNow().filter((i) => !earlier.includes(i));
    assert.equal(dangling.length, 1);
    const before = all();
    assert.ok(before.includes(dangling[0]!));
    // (the CLI adds dangling=true itself, which then wins, as with dockerd)
    const bad = await api(
      'POST',
      `/images/prune?filters=${encodeURIComponent('{"dangling":["maybe"]}')}`,
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.json.message, "Invalid filter 'dangling=[maybe]'");
    fails(['image', 'prune', '-f', '--filter', 'reference=x'], /Invalid filter 'reference'/);
    const out = ok(['image', 'prune', '-f']);
    assert.match(out, new RegExp(`deleted: ${dangling[0]}`));
    assert.match(out, /Total reclaimed space: [1-9]/);
    const gone = [dangling[0], ...earlier];
    assert.deepEqual(all().sort(), before.filter((i) => !gone.includes(i)).sort());
    assert.deepEqual(danglingNow(), []);
    // -a: committed:v1 is unused; busybox is used by `grow`
    const a = ok(['image', 'prune', '-a', '-f']);
    assert.match(a, /untagged: committed:v1/);
    assert.deepEqual(ok(['images', '--format', '{{.Repository}}']).split('\n'), ['busybox']);
  });

  it('system prune removes stopped containers, unused networks and dangling images', () => {
    ok(['network', 'create', 'spare2']);
    const r = env.berth(['system', 'prune', '-f']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Deleted Networks:\nspare2\n\nTotal reclaimed space: 0B\n$/);
    ok(['network', 'create', 'spare']);
    ok(['run', '--name', 'stopped', 'busybox', 'true']);
    const out = ok(['system', 'prune', '-f']);
    assert.match(out, /Deleted Containers:/);
    assert.match(out, /Deleted Networks:\nspare/);
    assert.match(out, /Total reclaimed space:/);
    assert.deepEqual(ok(['ps', '-a', '--format', '{{.Names}}']).split('\n'), ['grow']);
    assert.ok(!ok(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes('spare'));
  });
});
