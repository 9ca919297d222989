/**
 * `docker cp` through the stock docker client (issue 14, item 5): both
 * ways, on a running and a stopped container, with Docker's path rules
 * (a directory into a directory, `dir/.`, renaming), its errors, and the
 * security property: a symlink in the container that points at /etc is
 * followed inside the container's root, never to the host's files.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import tar from 'tar-stream';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
let dir: string;
const LOOP = 'while true; do sleep 1; done';
const SETUP = [
  'mkdir -p /data/sub',
  'echo hello > /data/a.txt',
  'chmod 640 /data/a.txt',
  'echo deep > /data/sub/b',
  'mkdir /lnk',
  'ln -s /etc /lnk/etclink',
  'ln -s ../../../../../../../../etc /lnk/up',
  'echo inside-only > /etc/berth-marker',
].join(' && ');

function ok(args: string[]): string {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** PUT /containers/{id}/archive?path= with a tar body; resolves with status and body. */
function put(ref: string, path: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: env.daemon.env.DOCKER_HOST.replace('unix://', ''),
        method: 'PUT',
        path: `/v1.41/containers/${ref}/archive?path=${encodeURIComponent(path)}&noOverwriteDirNonDir=true`,
        headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function tarOf(entries: Array<Partial<tar.Header> & { name: string }>): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e, e.type === 'file' ? 'pwned\n' : '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('docker cp', () => {
  before(async () => {
    env = await labWithDaemons();
    dir = mkdtempSync(join(tmpdir(), 'berth-cp-'));
    ok(['run', '-d', '--name', 'c1', 'busybox', 'sh', '-c', LOOP]);
    ok(['exec', 'c1', 'sh', '-c', SETUP]);
  });
  after(async () => {
    await env?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('copies out of a running container: content, mode, directories and dir/.', () => {
    ok(['cp', 'c1:/data/a.txt', dir]);
    assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'hello\n');
    assert.equal(statSync(join(dir, 'a.txt')).mode & 0o777, 0o640);
    ok(['cp', 'c1:/data', join(dir, 'd1')]);
    assert.equal(readFileSync(join(dir, 'd1/sub/b'), 'utf8'), 'deep\n');
    mkdirSync(join(dir, 'd2'));
    ok(['cp', 'c1:/data', join(dir, 'd2')]);
    assert.ok(existsSync(join(dir, 'd2/data/sub/b')), 'a directory into a directory nests');
    const cid = ok(['inspect', '-f', '{{.Id}}', 'c1']).trim();
    mkdirSync(join(dir, 'd3'));
    ok(['cp', 'c1:/data/.', join(dir, 'd3')]);
    // The container was frozen for the copy only: thawed before the answer
    // ended, so before the CLI is done.
    const freezer = readFileSync(`/sys/fs/cgroup/freezer/berth/${cid}/freezer.state`, 'utf8');
    assert.equal(freezer.trim(), 'THAWED');
    assert.ok(existsSync(join(dir, 'd3/sub/b')), 'dir/. copies the contents');
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'c1']).trim(), 'running');
  });

  it('copies into a running container: a file, a renamed file, a directory', () => {
    writeFileSync(join(dir, 'up.txt'), 'uploaded\n', { mode: 0o600 });
    ok(['cp', join(dir, 'up.txt'), 'c1:/data/']);
    assert.equal(ok(['exec', 'c1', 'cat', '/data/up.txt']), 'uploaded\n');
    assert.equal(ok(['exec', 'c1', 'stat', '-c', '%a', '/data/up.txt']).trim(), '600');
    ok(['cp', join(dir, 'up.txt'), 'c1:/data/renamed.txt']);
    assert.equal(ok(['exec', 'c1', 'cat', '/data/renamed.txt']), 'uploaded\n');
    mkdirSync(join(dir, 'tree/inner'), { recursive: true });
    writeFileSync(join(dir, 'tree/inner/f'), 'f\n');
    ok(['cp', join(dir, 'tree'), 'c1:/data/']);
    assert.equal(ok(['exec', 'c1', 'cat', '/data/tree/inner/f']), 'f\n');
  });

  it("answers Docker's errors", async () => {
    const missing = env.docker(['cp', 'c1:/nope', dir]);
    assert.equal(missing.status, 1);
    assert.match(
      missing.stderr,
      /Error response from daemon: Could not find the file \/nope in container c1/,
    );
    const h = env.daemon.env.DOCKER_HOST;
    const get = await apiCall(h, 'GET', '/containers/c1/archive?path=/nope');
    assert.equal(get.status, 404);
    assert.equal(get.json.message, 'Could not find the file /nope in container c1');
    const noPath = await apiCall(h, 'GET', '/containers/c1/archive');
    assert.equal(noPath.status, 400);
    assert.equal(noPath.json.message, 'path is required');
    const toFile = await put(
      'c1',
      '/data/a.txt',
      await tarOf([{ name: 'x', type: 'file', size: 6 }]),
    );
    assert.equal(toFile.status, 400);
    assert.match(toFile.text, /extraction point is not a directory/);
    const nowhere = await put(
      'c1',
      '/nowhere',
      await tarOf([{ name: 'x', type: 'file', size: 6 }]),
    );
    assert.equal(nowhere.status, 404);
    assert.match(nowhere.text, /Could not find the file \/nowhere in container c1/);
    const clash = await put('c1', '/data', await tarOf([{ name: 'sub', type: 'file', size: 6 }]));
    assert.equal(clash.status, 400);
    assert.equal(
      (JSON.parse(clash.text) as { message: string }).message,
      'cannot overwrite directory "/sub" with non-directory "sub"',
    );
    ok(['run', '-d', '--name', 'ro', '--read-only', 'busybox', 'sh', '-c', LOOP]);
    writeFileSync(join(dir, 'ro.txt'), 'x');
    const ro = env.docker(['cp', join(dir, 'ro.txt'), 'ro:/tmp/']);
    assert.equal(ro.status, 1);
    assert.match(ro.stderr, /container rootfs is marked read-only/);
  });

  it('never follows a symlink out of the container root, reading or writing', async () => {
    const inside = ok(['exec', 'c1', 'cat', '/etc/passwd']);
    assert.notEqual(inside, readFileSync('/etc/passwd', 'utf8'), 'the test needs them to differ');
    for (const via of ['/lnk/etclink/passwd', '/lnk/up/passwd']) {
      const out = join(dir, `pw-${via.split('/')[2]}`);
      ok(['cp', `c1:${via}`, out]);
      assert.equal(readFileSync(out, 'utf8'), inside, `${via} is the container's /etc/passwd`);
    }
    // With a trailing slash the link itself is followed: still inside the root.
    ok(['cp', 'c1:/lnk/up/', join(dir, 'etc-copy')]);
    assert.equal(readFileSync(join(dir, 'etc-copy/passwd'), 'utf8'), inside);
    assert.equal(readFileSync(join(dir, 'etc-copy/berth-marker'), 'utf8'), 'inside-only\n');
    // Writing through the links lands in the container's /etc, not the host's.
    const name = `berth-cp-${process.pid}`;
    writeFileSync(join(dir, name), 'planted\n');
    ok(['cp', join(dir, name), 'c1:/lnk/etclink/']);
    ok(['cp', join(dir, name), 'c1:/lnk/up/']);
    assert.equal(existsSync(`/etc/${name}`), false, 'a file was written to the host /etc');
    assert.equal(ok(['exec', 'c1', 'cat', `/etc/${name}`]), 'planted\n');
    // A tar that plants a link and writes through it is refused.
    const evil = await tarOf([
      { name: 'evil', type: 'symlink', linkname: '/etc' },
      { name: `evil/${name}-tar`, type: 'file', size: 6 },
    ]);
    const r = await put('c1', '/data', evil);
    assert.equal(r.status, 400, r.text);
    assert.equal(existsSync(`/etc/${name}-tar`), false);
    // The link's own stat says where it points inside the container; the
    // container, frozen to read it, is thawed by the time the answer comes.
    const cid = ok(['inspect', '-f', '{{.Id}}', 'c1']).trim();
    const [stat, freezer] = await new Promise<[string, string]>((resolve, reject) => {
      const req = request(
        {
          socketPath: env.daemon.env.DOCKER_HOST.replace('unix://', ''),
          method: 'HEAD',
          path: '/v1.41/containers/c1/archive?path=/lnk/up',
        },
        (res) =>
          resolve([
            String(res.headers['x-docker-container-path-stat'] ?? ''),
            readFileSync(`/sys/fs/cgroup/freezer/berth/${cid}/freezer.state`, 'utf8').trim(),
          ]),
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(freezer, 'THAWED');
    const s = JSON.parse(Buffer.from(stat, 'base64').toString()) as Record<string, unknown>;
    assert.equal(s.name, 'up');
    assert.equal(s.linkTarget, '/etc');
    assert.equal(s.mode, 2 ** 27 + 0o777, "Go's os.ModeSymlink|0777");
  });

  it('berth cp copies as docker cp does, both ways, with the same errors', () => {
    ok([
      'exec',
      'c1',
      'sh',
      '-c',
      'ln -sf /data/a.txt /lnk/alink; mkdir -p /cmp/docker /cmp/berth',
    ]);
    const tree = (root: string) =>
      spawnSync('sh', ['-c', `cd ${root} && find . -printf '%P %y %m %s\\n' | sort`], {
        encoding: 'utf8',
      }).stdout;
    const setup = (root: string) => {
      mkdirSync(join(root, 'dir1'), { recursive: true });
      mkdirSync(join(root, 'dir2'));
      mkdirSync(join(root, 'dir3'));
      writeFileSync(join(root, 'existing'), 'old\n');
    };
    const out: string[][] = [
      ['c1:/data/a.txt', '.'],
      ['c1:/data', 'new'],
      ['c1:/data', 'dir1'],
      ['c1:/data/.', 'dir2'],
      ['c1:/data/a.txt', 'renamed.txt'],
      ['c1:/data/a.txt', 'existing'],
      ['-L', 'c1:/lnk/alink', 'dir3'],
      ['c1:/lnk/alink', 'link-kept'],
    ];
    const roots = { docker: join(dir, 'cmp-docker'), berth: join(dir, 'cmp-berth') };
    for (const [tool, root] of Object.entries(roots)) {
      setup(root);
      for (const args of out) {
        const a = args.map((x, i) => (i === args.length - 1 ? join(root, x) : x));
        const r = tool === 'docker' ? env.docker(['cp', ...a]) : env.berth(['cp', ...a]);
        assert.equal(r.status, 0, `${tool} cp ${a.join(' ')}: ${r.stderr}`);
      }
    }
    assert.equal(tree(roots.berth), tree(roots.docker));
    assert.equal(readFileSync(join(roots.berth, 'existing'), 'utf8'), 'hello\n');

    // Into the container: a file into a directory, renamed, a directory, its contents, a tar on stdin.
    mkdirSync(join(dir, 'up/inner'), { recursive: true });
    writeFileSync(join(dir, 'up/inner/f'), 'f\n', { mode: 0o604 });
    writeFileSync(join(dir, 'up/g'), 'g\n');
    const stdinTar = spawnSync('tar', ['-C', join(dir, 'up'), '-cf', '-', 'g'], {}).stdout;
    for (const tool of ['docker', 'berth'] as const) {
      const base = `c1:/cmp/${tool}`;
      const run = (args: string[], input?: Buffer) =>
        tool === 'docker' ? env.docker(args, { input }) : env.berth(args, { input });
      for (const args of [
        [join(dir, 'up/g'), `${base}/`],
        [join(dir, 'up/g'), `${base}/g-renamed`],
        [join(dir, 'up'), `${base}/`],
        [join(dir, 'up/.'), `${base}/contents`],
      ]) {
        const r = run(['cp', ...args]);
        assert.equal(r.status, 0, `${tool} cp ${args.join(' ')}: ${r.stderr}`);
      }
      ok(['exec', 'c1', 'mkdir', `/cmp/${tool}/fromstdin`]);
      const r = run(['cp', '-', `${base}/fromstdin`], stdinTar);
      assert.equal(r.status, 0, `${tool} cp - : ${r.stderr}`);
    }
    const inside = (tool: string) =>
      ok([
        'exec',
        'c1',
        'sh',
        '-c',
        `cd /cmp/${tool} && find . | sort && cat up/inner/f contents/g`,
      ]);
    assert.equal(inside('berth'), inside('docker'));
    assert.equal(ok(['exec', 'c1', 'stat', '-c', '%a', '/cmp/berth/up/inner/f']).trim(), '604');

    // The errors, word for word.
    for (const args of [
      ['c1:/nope', dir],
      ['c1:/data', join(roots.docker, 'existing')],
      ['c1:/data/a.txt', join(dir, 'missing-dir') + '/'],
      [join(dir, 'nope'), 'c1:/tmp/'],
      ['c1:/a', 'c1:/b'],
      [join(dir, 'x'), join(dir, 'y')],
    ]) {
      const d = env.docker(['cp', ...args]);
      const b = env.berth(['cp', ...args]);
      assert.notEqual(d.status, 0, `docker cp ${args.join(' ')}`);
      assert.equal(b.status, d.status, `berth cp ${args.join(' ')}: ${b.stderr}`);
      assert.equal(b.stderr.trim(), d.stderr.trim(), args.join(' '));
    }
    // docker ignores the failed stat of a missing container and reports "no such
    // directory" amid tar noise; berth names the container.
    const none = env.berth(['cp', join(dir, 'up/g'), 'nosuch:/tmp/']);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /No such container: nosuch/);
  });

  it('copies out of and into a stopped container, leaving no mount behind', () => {
    ok(['stop', '-t', '1', 'c1']);
    const cid = ok(['inspect', '-f', '{{.Id}}', 'c1']).trim();
    ok(['cp', 'c1:/data/a.txt', join(dir, 'stopped.txt')]);
    assert.equal(readFileSync(join(dir, 'stopped.txt'), 'utf8'), 'hello\n');
    ok(['cp', 'c1:/lnk/etclink/berth-marker', join(dir, 'marker')]);
    assert.equal(readFileSync(join(dir, 'marker'), 'utf8'), 'inside-only\n');
    writeFileSync(join(dir, 'late.txt'), 'while stopped\n');
    ok(['cp', join(dir, 'late.txt'), 'c1:/data/']);
    assert.equal(readFileSync('/proc/self/mounts', 'utf8').includes(cid), false);
    ok(['start', 'c1']);
    assert.equal(ok(['exec', 'c1', 'cat', '/data/late.txt']), 'while stopped\n');
    // A container that never ran.
    ok(['create', '--name', 'fresh', 'busybox']);
    ok(['cp', join(dir, 'late.txt'), 'fresh:/']);
    ok(['cp', 'fresh:/late.txt', join(dir, 'fresh.txt')]);
    assert.equal(readFileSync(join(dir, 'fresh.txt'), 'utf8'), 'while stopped\n');
  });
});
