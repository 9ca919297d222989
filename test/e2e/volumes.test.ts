/**
 * Binds, volumes and tmpfs mounts with the stock docker client, as dockerd
 * 20.10 makes them (issue 14 item 1): what the container sees
 * (/proc/self/mountinfo, files written through a bind, writes refused on a
 * read-only one), what the host keeps (a bind's files after `--rm`, a
 * volume's under the data root, across a daemon restart), dockerd's
 * messages for bad specs, `Mounts` in inspect, the volume commands with
 * their filters, `rm -v`, `--volumes-from`, copy-up from the image.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
let tmp = '';

const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout;
};
const d = (args: string[], input?: string) => env.docker(args, { input });
/** The mountinfo line of `dest` as the container sees it. */
const mountLine = (info: string, dest: string) =>
  info.split('\n').find((l) => l.split(' ')[4] === dest);
const inspectMounts = (name: string) =>
  JSON.parse(ok(d(['inspect', '-f', '{{json .Mounts}}', name]))) as Array<Record<string, unknown>>;

describe('volumes and mounts (docker CLI)', () => {
  before(async () => {
    env = await labWithDaemons();
    tmp = join(env.lab.dir, 'binds');
    mkdirSync(tmp, { recursive: true });
  });
  after(async () => {
    await env?.destroy();
  });

  it('-v HOST:CTR: written inside, seen on the host; the missing host dir is made; Mounts as 20.10', () => {
    const src = join(tmp, 'made-by-v');
    assert.equal(existsSync(src), false);
    ok(
      d(['run', '--name', 'b1', '-v', `${src}:/data`, 'busybox', 'sh', '-c', 'echo hi > /data/f']),
    );
    assert.equal(readFileSync(join(src, 'f'), 'utf8'), 'hi\n');
    assert.deepEqual(inspectMounts('b1'), [
      {
        Type: 'bind',
        Source: src,
        Destination: '/data',
        Mode: '',
        RW: true,
        Propagation: 'rprivate',
      },
    ]);
    assert.deepEqual(JSON.parse(ok(d(['inspect', '-f', '{{json .HostConfig.Binds}}', 'b1']))), [
      `${src}:/data`,
    ]);
    ok(d(['rm', 'b1']));
    assert.equal(readFileSync(join(src, 'f'), 'utf8'), 'hi\n', 'rm leaves the bind source');
  });

  it(':ro refuses writes; the container sees a read-only bind in mountinfo', () => {
    const src = join(tmp, 'ro');
    mkdirSync(src);
    writeFileSync(join(src, 'keep'), 'x');
    const r = d([
      'run',
      '--rm',
      '-v',
      `${src}:/data:ro`,
      'busybox',
      'sh',
      '-c',
      'echo no > /data/keep',
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Read-only file system/);
    assert.equal(readFileSync(join(src, 'keep'), 'utf8'), 'x');
    const info = ok(
      d(['run', '--rm', '-v', `${src}:/data:ro`, 'busybox', 'cat', '/proc/self/mountinfo']),
    );
    assert.match(mountLine(info, '/data') ?? '', /^\S+ \S+ \S+ \S+ \/data ro,/);
    ok(d(['create', '--name', 'ro1', '-v', `${src}:/data:ro,z`, 'busybox']));
    assert.deepEqual(inspectMounts('ro1'), [
      {
        Type: 'bind',
        Source: src,
        Destination: '/data',
        Mode: 'ro,z',
        RW: false,
        Propagation: 'rprivate',
      },
    ]);
    ok(d(['rm', 'ro1']));
  });

  it('--rm keeps what was written through the bind', () => {
    const src = join(tmp, 'rm');
    ok(d(['run', '--rm', '-v', `${src}:/out`, 'busybox', 'sh', '-c', 'echo kept > /out/f']));
    assert.equal(readFileSync(join(src, 'f'), 'utf8'), 'kept\n');
  });

  it('--mount type=bind: readonly, a missing source refused as dockerd', () => {
    const src = join(tmp, 'mnt');
    mkdirSync(src);
    const r = d([
      'run',
      '--rm',
      '--mount',
      `type=bind,source=${src},target=/m,readonly`,
      'busybox',
      'touch',
      '/m/x',
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Read-only file system/);
    const missing = join(tmp, 'nope');
    const bad = d([
      'run',
      '--rm',
      '--mount',
      `type=bind,source=${missing},target=/m`,
      'busybox',
      'true',
    ]);
    assert.equal(bad.status, 125);
    assert.match(
      bad.stderr,
      new RegExp(
        `invalid mount config for type "bind": bind source path does not exist: ${missing}`,
      ),
    );
    assert.equal(existsSync(missing), false, '--mount never makes the source');
    ok(d(['create', '--name', 'm1', '--mount', `type=bind,source=${src},target=/m`, 'busybox']));
    assert.deepEqual(inspectMounts('m1'), [
      { Type: 'bind', Source: src, Destination: '/m', Mode: '', RW: true, Propagation: 'rprivate' },
    ]);
    ok(d(['rm', 'm1']));
  });

  it('bad specs get dockerd messages and make nothing', () => {
    const cases: Array<[string[], RegExp]> = [
      [['-v', `${tmp}:/x:bogus`], /invalid mode: bogus/],
      [['-v', 'rel/dir:/x'], /"rel\/dir" includes invalid characters for a local volume name/],
      [['-v', `${tmp}:/`], /invalid volume specification: '.*:\/'/],
      [['-v', `${tmp}:/a`, '-v', `${tmp}/b:/a`], /Duplicate mount point: \/a/],
      [['--tmpfs', 'rel'], /invalid mount path: 'rel' mount path must be absolute/],
      [['--tmpfs', '/t:bogus=1'], /Invalid tmpfs option \["bogus" "1"\]/],
      [
        ['--volume-driver', 'nfsplug', '-v', 'nv:/x'],
        /berth does not support the volume driver "nfsplug"/,
      ],
      [
        ['--mount', `type=bind,source=${tmp},target=/m,bind-propagation=rshared`],
        /is mounted on .* but it is not a shared mount/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = d(['run', '--rm', ...args, 'busybox', 'true']);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    assert.equal(ok(d(['ps', '-aq'])), '');
    assert.equal(ok(d(['volume', 'ls', '-q'])), '');
  });

  it('named volumes: made on first use under the data root, shared, in use refused with 409', () => {
    ok(d(['run', '--name', 'w1', '-v', 'vol1:/data', 'busybox', 'sh', '-c', 'echo one > /data/f']));
    const mp = join(env.daemon.dataRoot, 'volumes', 'vol1', '_data');
    assert.equal(readFileSync(join(mp, 'f'), 'utf8'), 'one\n');
    assert.equal(ok(d(['run', '--rm', '-v', 'vol1:/v', 'busybox', 'cat', '/v/f'])), 'one\n');
    assert.deepEqual(inspectMounts('w1'), [
      {
        Type: 'volume',
        Name: 'vol1',
        Source: mp,
        Destination: '/data',
        Driver: 'local',
        Mode: 'z',
        RW: true,
        Propagation: '',
      },
    ]);
    const v = JSON.parse(ok(d(['volume', 'inspect', 'vol1'])))[0];
    assert.equal(v.Mountpoint, mp);
    assert.equal(v.Driver, 'local');
    assert.equal(v.Scope, 'local');
    const id = ok(d(['inspect', '-f', '{{.Id}}', 'w1'])).trim();
    const rm = d(['volume', 'rm', 'vol1']);
    assert.notEqual(rm.status, 0);
    assert.match(rm.stderr, new RegExp(`remove vol1: volume is in use - \\[${id}\\]`));
    assert.equal(ok(d(['volume', 'ls', '-q', '--filter', 'dangling=false'])), 'vol1\n');
    ok(d(['rm', 'w1']));
    assert.equal(ok(d(['volume', 'ls', '-q', '--filter', 'dangling=true'])), 'vol1\n');
    ok(d(['volume', 'rm', 'vol1']));
    assert.equal(existsSync(mp), false);
    assert.match(d(['volume', 'inspect', 'vol1']).stderr, /no such volume/);
  });

  it('volume create/ls/inspect/rm/prune with labels and filters', () => {
    ok(d(['volume', 'create', '--label', 'tier=db', 'va']));
    ok(d(['volume', 'create', '--name', 'vb', '-d', 'local']));
    assert.equal(ok(d(['volume', 'create', 'va'])), 'va\n', 'an existing one is returned');
    assert.equal(ok(d(['volume', 'ls', '-q'])), 'va\nvb\n');
    assert.equal(ok(d(['volume', 'ls', '-q', '--filter', 'label=tier=db'])), 'va\n');
    assert.equal(ok(d(['volume', 'ls', '-q', '--filter', 'label=tier'])), 'va\n');
    assert.equal(ok(d(['volume', 'ls', '-q', '--filter', 'name=b'])), 'vb\n');
    assert.equal(ok(d(['volume', 'ls', '-q', '--filter', 'driver=local'])), 'va\nvb\n');
    assert.match(d(['volume', 'ls', '--filter', 'bogus=1']).stderr, /Invalid filter 'bogus'/);
    const ins = JSON.parse(ok(d(['volume', 'inspect', 'va'])))[0];
    assert.deepEqual(ins.Labels, { tier: 'db' });
    assert.match(ins.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(
      d(['volume', 'create', '-d', 'nfsplug', 'vc']).stderr,
      /does not support the volume driver "nfsplug"/,
    );
    assert.match(
      d(['volume', 'create', '-o', 'bogus=1', 'vc']).stderr,
      /create vc: invalid option: "bogus"/,
    );
    assert.match(d(['volume', 'create', 'x']).stderr, /volume name is too short/);
    // CLI 28 on API 1.47: prune without -a removes only anonymous volumes.
    const p1 = ok(d(['volume', 'prune', '-f']));
    assert.match(p1, /Total reclaimed space: 0B/);
    assert.equal(ok(d(['volume', 'ls', '-q'])), 'va\nvb\n');
    const p2 = ok(d(['volume', 'prune', '-a', '-f', '--filter', 'label=tier=db']));
    assert.match(p2, /Deleted Volumes:\nva\n/);
    ok(d(['volume', 'rm', 'vb']));
    assert.equal(d(['volume', 'rm', 'vb']).status, 1);
    ok(d(['volume', 'rm', '-f', 'vb']));
  });

  it('a local volume with -o type=tmpfs is a tmpfs in the container', () => {
    ok(d(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=1m', 'vt']));
    const info = ok(d(['run', '--rm', '-v', 'vt:/t', 'busybox', 'cat', '/proc/self/mountinfo']));
    assert.match(mountLine(info, '/t') ?? '', / - tmpfs tmpfs rw,.*size=1024k/);
    const mp = join(env.daemon.dataRoot, 'volumes', 'vt', '_data');
    const hostMounts = readFileSync('/proc/self/mounts', 'utf8');
    assert.doesNotMatch(hostMounts, new RegExp(mp), 'unmounted once unused');
    ok(d(['volume', 'rm', 'vt']));
  });

  it('copy-up into an empty volume (anonymous from VOLUME, named), nocopy, rm -v', () => {
    ok(
      d(
        ['build', '-q', '-t', 'seeded', '-'],
        'FROM busybox\nRUN mkdir /data && echo seeded > /data/f && chown 1234 /data\nVOLUME /data\n',
      ),
    );
    ok(d(['create', '--name', 'a1', 'seeded', 'cat', '/data/f']));
    const [m] = inspectMounts('a1');
    assert.equal(m!.Type, 'volume');
    assert.match(String(m!.Name), /^[0-9a-f]{64}$/);
    assert.equal(m!.Mode, '');
    assert.equal(ok(d(['volume', 'ls', '-q'])), `${String(m!.Name)}\n`);
    ok(d(['start', '-a', 'a1']));
    assert.equal(ok(d(['logs', 'a1'])), 'seeded\n');
    const mp = String(m!.Source);
    assert.equal(readFileSync(join(mp, 'f'), 'utf8'), 'seeded\n');
    ok(d(['rm', 'a1']));
    assert.equal(ok(d(['volume', 'ls', '-q'])), `${String(m!.Name)}\n`, 'rm without -v keeps it');
    ok(d(['volume', 'rm', String(m!.Name)]));
    ok(d(['create', '--name', 'a2', 'seeded']));
    ok(d(['rm', '-v', 'a2']));
    assert.equal(ok(d(['volume', 'ls', '-q'])), '', 'rm -v removes the anonymous volume');
    assert.equal(ok(d(['run', '--rm', 'seeded', 'stat', '-c', '%u', '/data'])), '1234\n');
    assert.equal(ok(d(['volume', 'ls', '-q'])), '', '--rm removes it too');
    assert.equal(ok(d(['run', '--rm', '-v', 'vn:/data', 'seeded', 'cat', '/data/f'])), 'seeded\n');
    assert.equal(ok(d(['run', '--rm', '-v', 'vnc:/data:nocopy', 'seeded', 'ls', '/data'])), '');
    assert.equal(ok(d(['volume', 'ls', '-q'])), 'vn\nvnc\n', '--rm keeps named volumes');
    ok(d(['volume', 'rm', 'vn', 'vnc']));
    ok(d(['run', '--rm', '-v', '/anon', 'busybox', 'true']));
    ok(d(['run', '--name', 'a3', '-v', '/anon', 'busybox', 'true']));
    assert.match(ok(d(['volume', 'ls', '-q'])), /^[0-9a-f]{64}\n$/);
    ok(d(['rm', 'a3']));
    const pr = ok(d(['volume', 'prune', '-f']));
    assert.match(pr, /Deleted Volumes:\n[0-9a-f]{64}\n/);
  });

  it('--tmpfs and --mount type=tmpfs with their options', () => {
    const info = ok(
      d([
        'run',
        '--rm',
        '--tmpfs',
        '/run1:size=1m,exec',
        '--mount',
        'type=tmpfs,destination=/t2,tmpfs-size=2097152,tmpfs-mode=1770',
        'busybox',
        'sh',
        '-c',
        'cat /proc/self/mountinfo; stat -c %a /t2',
      ]),
    );
    const run1 = mountLine(info, '/run1') ?? '';
    assert.match(run1, / rw,nosuid,nodev,relatime( \S+)* - tmpfs tmpfs rw,size=1024k/);
    assert.match(
      mountLine(info, '/t2') ?? '',
      /nosuid,nodev,noexec.* - tmpfs tmpfs rw,size=2048k,mode=1770/,
    );
    assert.match(info, /^1770$/m);
    ok(d(['create', '--name', 't1', '--mount', 'type=tmpfs,destination=/t2', 'busybox']));
    assert.deepEqual(inspectMounts('t1'), [
      { Type: 'tmpfs', Source: '', Destination: '/t2', Mode: '', RW: true, Propagation: '' },
    ]);
    ok(d(['rm', 't1']));
  });

  it('--volumes-from CONTAINER[:ro]', () => {
    const src = join(tmp, 'vf');
    ok(
      d([
        'create',
        '--name',
        'donor',
        '-v',
        'vfrom:/named',
        '-v',
        `${src}:/bound`,
        '-v',
        '/anon',
        'busybox',
      ]),
    );
    ok(
      d([
        'run',
        '--rm',
        '--volumes-from',
        'donor',
        'busybox',
        'sh',
        '-c',
        'echo a > /named/f; echo b > /bound/f; echo c > /anon/f',
      ]),
    );
    const ro = d([
      'run',
      '--rm',
      '--volumes-from',
      'donor:ro',
      'busybox',
      'sh',
      '-c',
      'cat /named/f /bound/f /anon/f; touch /named/g',
    ]);
    assert.equal(ro.stdout, 'a\nb\nc\n');
    assert.match(ro.stderr, /Read-only file system/);
    assert.match(
      d(['run', '--rm', '--volumes-from', 'ghost', 'busybox', 'true']).stderr,
      /No such container: ghost/,
    );
    ok(d(['rm', '-v', 'donor']));
    assert.equal(
      ok(d(['volume', 'ls', '-q'])),
      'vfrom\n',
      'rm -v: the anonymous one went, the named stays',
    );
    assert.equal(readFileSync(join(src, 'f'), 'utf8'), 'b\n');
    ok(d(['volume', 'rm', 'vfrom']));
  });

  it('the berth CLI: volume create/ls/inspect/rm/prune, run -v, --mount, --volumes-from, --tmpfs', () => {
    const b = (args: string[]) => env.berth(args);
    assert.equal(ok(b(['volume', 'create', '--label', 'k=v', 'bv'])), 'bv\n');
    assert.match(ok(b(['volume', 'ls'])), /^DRIVER\s+VOLUME NAME\nlocal\s+bv\n$/);
    assert.equal(ok(b(['volume', 'ls', '-q', '--filter', 'label=k=v'])), 'bv\n');
    assert.equal(
      ok(b(['volume', 'inspect', '-f', '{{.Driver}} {{.Labels}}', 'bv'])),
      'local map[k:v]\n',
    );
    const src = join(tmp, 'berth-cli');
    ok(
      b([
        'run',
        '--name',
        'bc',
        '-v',
        'bv:/v',
        '-v',
        `${src}:/h`,
        '--tmpfs',
        '/t',
        'busybox',
        'sh',
        '-c',
        'echo x > /v/f; echo y > /h/f',
      ]),
    );
    assert.equal(readFileSync(join(src, 'f'), 'utf8'), 'y\n');
    assert.equal(
      ok(b(['run', '--rm', '--volumes-from', 'bc:ro', 'busybox', 'cat', '/v/f', '/h/f'])),
      'x\ny\n',
    );
    assert.equal(
      ok(
        b([
          'run',
          '--rm',
          '--mount',
          'type=volume,source=bv,target=/m,readonly',
          'busybox',
          'cat',
          '/m/f',
        ]),
      ),
      'x\n',
    );
    const bad = b([
      'run',
      '--rm',
      '--mount',
      'type=bind,target=/m,tmpfs-size=1',
      'busybox',
      'true',
    ]);
    assert.match(bad.stderr, /cannot mix 'tmpfs-\*' options with mount type 'bind'/);
    assert.match(b(['volume', 'rm', 'bv']).stderr, /volume is in use/);
    ok(b(['rm', 'bc']));
    assert.equal(ok(b(['volume', 'rm', 'bv'])), 'bv\n');
    assert.match(ok(b(['volume', 'prune', '-f'])), /Total reclaimed space: 0B/);
  });

  it('docker-compose: a named volume and a bind; data across restart; down -v removes the volume', () => {
    const dir = join(tmp, 'proj');
    mkdirSync(join(dir, 'site'), { recursive: true });
    writeFileSync(join(dir, 'site', 'index.html'), 'hello\n');
    writeFileSync(
      join(dir, 'docker-compose.yml'),
      [
        'version: "2.4"',
        'services:',
        '  app:',
        '    image: busybox',
        '    command: sh -c "cat /site/index.html >> /data/log; cp /data/log /site/seen; sleep 300"',
        '    volumes:',
        '      - appdata:/data',
        '      - ./site:/site',
        'volumes:',
        '  appdata:',
        '',
      ].join('\n'),
    );
    const compose = (args: string[]) => {
      const r = spawnSync('docker-compose', ['--project-name', 'cv', ...args], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, DOCKER_HOST: env.daemon.env.DOCKER_HOST },
      });
      return {
        status: r.status,
        stdout: r.stdout ?? '',
        stderr: (r.stderr ?? '') + (r.error ?? ''),
      };
    };
    const seen = async () => {
      await eventually(() => assert.ok(existsSync(join(dir, 'site', 'seen'))), 10_000);
      return readFileSync(join(dir, 'site', 'seen'), 'utf8');
    };
    return (async () => {
      ok(compose(['up', '-d']));
      assert.equal(ok(d(['volume', 'ls', '-q'])), 'cv_appdata\n');
      assert.equal(await seen(), 'hello\n');
      rmSync(join(dir, 'site', 'seen'));
      ok(compose(['restart', '-t', '1']));
      assert.equal(await seen(), 'hello\nhello\n', 'the volume kept the first run');
      ok(compose(['down', '-v', '-t', '1']));
      assert.equal(ok(d(['volume', 'ls', '-q'])), '');
      assert.equal(ok(d(['ps', '-aq'])), '');
      assert.equal(
        readFileSync(join(dir, 'site', 'index.html'), 'utf8'),
        'hello\n',
        'the bind stays',
      );
    })();
  });

  it('volume data and records survive a daemon restart', async () => {
    ok(
      d([
        'run',
        '-d',
        '--name',
        'keep',
        '-v',
        'durable:/d',
        'busybox',
        'sh',
        '-c',
        'echo before > /d/f; sleep 300',
      ]),
    );
    await env.daemon.stop('SIGTERM');
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;
    assert.equal(ok(d(['volume', 'ls', '-q'])), 'durable\n');
    assert.equal(ok(d(['run', '--rm', '-v', 'durable:/d', 'busybox', 'cat', '/d/f'])), 'before\n');
    assert.match(d(['volume', 'rm', 'durable']).stderr, /volume is in use/);
    ok(d(['rm', '-f', 'keep']));
    ok(d(['volume', 'rm', 'durable']));
    assert.equal(ok(d(['volume', 'ls', '-q'])), '');
  });
});
