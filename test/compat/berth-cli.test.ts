/**
 * The berth CLI against a lab berthd: the foundation's commands, Docker's
 * output shapes, one-line errors with non-zero exits, interactive terminals.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { Terminal } from '../helpers/tmux.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';

describe('berth CLI against berthd', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('version and info answer from the daemon', () => {
    const v = env.berth(['version']);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /Server: Berth/);
    assert.match(v.stdout, /API version:\s+1\.47/);
    const i = env.berth(['info', '--format', '{{.ServerVersion}} {{.Containers}}']);
    assert.equal(i.status, 0, i.stderr);
    assert.match(i.stdout.trim(), /^\S+ 0$/);
  });

  it('-H selects the daemon, and a dead socket gives a one-line error', () => {
    const ok = spawnSync(BERTH, ['-H', env.daemon.env.DOCKER_HOST, 'ps', '-q'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH },
    });
    assert.equal(ok.status, 0, ok.stderr);
    const bad = spawnSync(BERTH, ['-H', 'unix:///nonexistent/berth.sock', 'ps'], {
      encoding: 'utf8',
    });
    assert.notEqual(bad.status, 0);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(
      bad.stderr,
      /Cannot connect to the Berth daemon at unix:\/\/\/nonexistent\/berth\.sock/,
    );
    assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/);
  });

  it('S1: network ls and inspect', () => {
    const ls = env.berth(['network', 'ls']);
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/);
    assert.match(ls.stdout, /^[0-9a-f]{12}\s+none\s+null\s+local$/m);
    const q = env.berth(['network', 'ls', '-q']);
    assert.equal(q.stdout.trim().split('\n').length, 3);
    const insp = env.berth(['network', 'inspect', '-f', '{{.Driver}} {{.Scope}}', 'host']);
    assert.equal(insp.stdout.trim(), 'host local');
  });

  it('S2: run -d, ps, ps -a -q, exec, inspect -f', () => {
    const r = env.berth(['run', '-d', '--name', 'test1', 'busybox', '/bin/sh', '-c', LOOP]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = env.berth(['ps']);
    assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n/);
    assert.match(
      ps.stdout,
      new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"/bin/sh -c 'while t…"\\s+.+Up .+test1$`, 'm'),
    );
    assert.equal(env.berth(['ps', '-a', '-q']).stdout.trim(), id.slice(0, 12));
    const ex = env.berth(['exec', 'test1', 'sh', '-c', 'echo out; echo err >&2; exit 6']);
    assert.equal(ex.status, 6);
    assert.equal(ex.stdout, 'out\n');
    assert.equal(ex.stderr, 'err\n');
    const pid = env.berth(['inspect', '-f', '{{.State.Pid}} {{.HostConfig.NetworkMode}}', 'test1']);
    assert.match(pid.stdout.trim(), /^\d+ default$/);
    const json = env.berth(['ps', '--format', 'json']);
    const row = JSON.parse(json.stdout.trim().split('\n')[0]!) as { Names: string; Image: string };
    assert.equal(row.Names, 'test1');
    assert.equal(row.Image, 'busybox');
  });

  it('exec -it gets a terminal of the right size', () => {
    const t = new Terminal(join(env.lab.dir, 'tmux-berth.sock'));
    try {
      t.start(`BERTH_HOST=${env.daemon.env.DOCKER_HOST} ${BERTH} exec -it test1 sh`, 90, 25);
      assert.ok(t.waitFor(/# ?$/m), t.screen());
      t.type('stty size; echo done-$((6*7))');
      assert.ok(t.waitFor(/^25 90$/m), t.screen());
      assert.ok(t.waitFor(/done-42/), t.screen());
      t.type('exit');
      assert.ok(t.waitClosed());
    } finally {
      t.close();
    }
  });

  it('logs, logs -f, stop, start keep Docker semantics', () => {
    const r = env.berth([
      'run',
      '-d',
      '--name',
      'talker',
      'busybox',
      'sh',
      '-c',
      'echo hello; echo oops >&2; sleep 0.5; echo bye',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const f = env.berth(['logs', '-f', 'talker']);
    assert.equal(f.stdout, 'hello\nbye\n');
    assert.equal(f.stderr, 'oops\n');
    assert.equal(env.berth(['logs', '--tail', '1', 'talker']).stdout, 'bye\n');
    assert.equal(env.berth(['start', 'talker']).status, 0);
    assert.equal(env.berth(['wait', 'talker']).stdout.trim(), '0');
    assert.equal(env.berth(['logs', 'talker']).stdout, 'hello\nbye\nhello\nbye\n');
    const st = env.berth(['stop', '-t', '1', 'test1']);
    assert.equal(st.status, 0, st.stderr);
    assert.equal(st.stdout.trim(), 'test1');
    assert.match(
      env.berth(['ps', '-a', '--filter', 'name=test1', '--format', '{{.Status}}']).stdout,
      /^Exited \(137\)/,
    );
    assert.equal(env.berth(['start', 'test1']).status, 0);
    assert.equal(env.berth(['inspect', '-f', '{{.State.Running}}', 'test1']).stdout.trim(), 'true');
  });

  it('errors are one line with the daemon message and a non-zero exit', () => {
    const dup = env.berth(['run', '-d', '--name', 'test1', 'busybox', 'true']);
    assert.equal(dup.status, 125);
    assert.match(dup.stderr, /Conflict\. The container name "\/test1" is already in use/);
    const missing = env.berth(['rm', 'nosuch']);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr.trim(), 'Error response from daemon: No such container: nosuch');
    const insp = env.berth(['inspect', 'nosuch']);
    assert.notEqual(insp.status, 0);
    assert.match(insp.stderr, /No such object: nosuch/);
    const exe = env.berth(['run', '--rm', 'busybox', 'nosuchcommand']);
    assert.equal(exe.status, 127);
    assert.match(exe.stderr, /executable file not found/);
    for (const r of [dup, missing, insp, exe]) assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('image import, images, tag, load, rmi', () => {
    const dir = mkdtempSync('/tmp/berth-cli-img-');
    try {
      mkdirSync(join(dir, 'root/bin'), { recursive: true });
      spawnSync('cp', ['/bin/busybox', join(dir, 'root/bin/busybox')]);
      writeFileSync(join(dir, 'root/marker'), 'from-import\n');
      const tar = join(dir, 'root.tar');
      spawnSync('tar', ['-C', join(dir, 'root'), '-cf', tar, '.']);
      const imp = env.berth([
        'image',
        'import',
        '-c',
        'CMD ["/bin/busybox","cat","/marker"]',
        tar,
        'marked:v1',
      ]);
      assert.equal(imp.status, 0, imp.stderr);
      assert.match(imp.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
      const run = env.berth(['run', '--rm', 'marked:v1']);
      assert.equal(run.stdout, 'from-import\n', run.stderr);
      assert.equal(env.berth(['tag', 'marked:v1', 'marked:v2']).status, 0);
      const imgs = env.berth(['images']);
      assert.match(imgs.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
      assert.match(imgs.stdout, /^marked\s+v1\s+[0-9a-f]{12}\s/m);
      assert.match(imgs.stdout, /^marked\s+v2\s/m);
      // A classic `docker save` archive of this image, made by hand.
      const save = join(dir, 'save');
      const layerId = 'a'.repeat(64);
      mkdirSync(join(save, layerId), { recursive: true });
      spawnSync('cp', [tar, join(save, layerId, 'layer.tar')]);
      const diffId = spawnSync('sha256sum', [tar], { encoding: 'utf8' }).stdout.split(' ')[0];
      const config = JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/busybox', 'echo', 'loaded'] },
        rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      });
      const cfgHash = spawnSync('sha256sum', { input: config, encoding: 'utf8' }).stdout.split(
        ' ',
      )[0];
      writeFileSync(join(save, `${cfgHash}.json`), config);
      writeFileSync(
        join(save, 'manifest.json'),
        JSON.stringify([
          {
            Config: `${cfgHash}.json`,
            RepoTags: ['loaded:latest'],
            Layers: [`${layerId}/layer.tar`],
          },
        ]),
      );
      const saveTar = join(dir, 'save.tar');
      spawnSync('tar', ['-C', save, '-cf', saveTar, '.']);
      const load = env.berth(['image', 'load', '-i', saveTar]);
      assert.equal(load.status, 0, load.stderr);
      assert.match(load.stdout, /Loaded image: loaded:latest/);
      assert.equal(env.berth(['run', '--rm', 'loaded']).stdout, 'loaded\n');
      const rmi = env.berth(['image', 'rm', 'marked:v2']);
      assert.equal(rmi.status, 0, rmi.stderr);
      assert.match(rmi.stdout, /Untagged: marked:v2/);
      const gone = env.berth(['image', 'rm', 'nosuch:v9']);
      assert.notEqual(gone.status, 0);
      assert.match(gone.stderr, /No such image: nosuch:v9/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rm -f cleans up', () => {
    const r = env.berth(['rm', '-f', 'test1', 'talker']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'test1\ntalker\n');
    assert.equal(env.berth(['ps', '-aq']).stdout, '');
  });
});
