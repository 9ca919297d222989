/**
 * The stock docker client (28.x) against a lab berthd: S2, S13, S14 and the
 * container lifecycle of the foundation issue.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';
import { Terminal } from '../helpers/tmux.js';

let env: LabEnv;
const LOOP = 'while true; do sleep 3600; done';

describe('docker CLI against berthd', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('answers docker version with the advertised API', () => {
    const r = env.docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}}']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1.47 linux');
  });

  it('S1: network ls lists bridge, host and none', () => {
    const r = env.docker(['network', 'ls']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    const rows = lines.slice(1).map((l) => l.split(/\s+/));
    assert.deepEqual(rows.map((x) => [x[1], x[2], x[3]]).sort(), [
      ['bridge', 'bridge', 'local'],
      ['host', 'host', 'local'],
      ['none', 'null', 'local'],
    ]);
    for (const x of rows) assert.match(x[0]!, /^[0-9a-f]{12}$/);
  });

  it('S2: run -d a long-running busybox, ps shows it, exec works', () => {
    const r = env.docker(['run', '-d', '--name', 'test1', 'busybox', '/bin/sh', '-c', LOOP]);
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = env.docker(['ps']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES/);
    const row = ps.stdout.split('\n').find((l) => l.includes('test1'));
    assert.ok(row, ps.stdout);
    // The table's columns start where their headings do: each field on its own.
    const head = ps.stdout.split('\n')[0]!;
    const cols = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'];
    const at = cols.map((c) => head.indexOf(c));
    const field = Object.fromEntries(
      cols.map((c, i) => [c, row.slice(at[i], at[i + 1] ?? undefined).trim()]),
    );
    assert.deepEqual(
      { ...field, CREATED: undefined, STATUS: undefined },
      {
        'CONTAINER ID': id.slice(0, 12),
        IMAGE: 'busybox',
        COMMAND: `"/bin/sh -c 'while t…"`,
        CREATED: undefined,
        STATUS: undefined,
        PORTS: '',
        NAMES: 'test1',
      },
    );
    assert.match(field.CREATED!, /^(Less than a second|\d+ seconds?) ago$/);
    assert.match(field.STATUS!, /^Up (Less than a second|\d+ seconds?)$/);
    const ex = env.docker(['exec', 'test1', 'echo', 'hello from exec']);
    assert.equal(ex.status, 0, ex.stderr);
    assert.equal(ex.stdout, 'hello from exec\n');
    const code = env.docker(['exec', 'test1', 'sh', '-c', 'exit 7']);
    assert.equal(code.status, 7);
    // Docker's default capabilities include NET_RAW: busybox ping works.
    const ping = env.docker(['exec', 'test1', 'ping', '-c1', '-W1', '127.0.0.1']);
    assert.equal(ping.status, 0, ping.stdout + ping.stderr);
    // ... but not SYS_ADMIN; /sys/firmware and /proc/timer_list are masked.
    assert.notEqual(env.docker(['exec', 'test1', 'mount', '-t', 'tmpfs', 't', '/mnt']).status, 0);
    const masked = env.docker([
      'exec',
      'test1',
      'sh',
      '-c',
      'ls -A /sys/firmware | wc -l; wc -c < /proc/timer_list',
    ]);
    assert.deepEqual(masked.stdout.split(/\s+/).filter(Boolean), ['0', '0'], masked.stderr);
    // The container's cgroups live under a berth parent.
    assert.ok(existsSync(`/sys/fs/cgroup/memory/berth/${id}`));
  });

  it('inspect shows State.Pid, Config and HostConfig.NetworkMode', () => {
    const r = env.docker(['inspect', 'test1']);
    assert.equal(r.status, 0, r.stderr);
    const [c] = JSON.parse(r.stdout) as Array<{
      Name: string;
      State: { Pid: number; Running: boolean; Status: string };
      Config: { Cmd: string[]; Image: string; Hostname: string };
      HostConfig: { NetworkMode: string };
    }>;
    assert.equal(c!.Name, '/test1');
    assert.equal(c!.State.Running, true);
    assert.ok(c!.State.Pid > 1);
    assert.deepEqual(c!.Config.Cmd, ['/bin/sh', '-c', LOOP]);
    assert.equal(c!.Config.Image, 'busybox');
    assert.equal(c!.HostConfig.NetworkMode, 'default');
    const pid = env.docker(['inspect', '-f', '{{.State.Pid}}', 'test1']);
    assert.equal(pid.stdout.trim(), String(c!.State.Pid));
    // The hostname is the short ID, as Docker's.
    const hn = env.docker(['exec', 'test1', 'hostname']);
    assert.equal(hn.stdout.trim(), c!.Config.Hostname);
  });

  it("a second container with the same name is a 409 with Docker's message", () => {
    const r = env.docker(['run', '-d', '--name', 'test1', 'busybox', 'true']);
    assert.equal(r.status, 125);
    assert.match(
      r.stderr,
      /Conflict\. The container name "\/test1" is already in use by container "[0-9a-f]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\./,
    );
  });

  it('an unknown image fails at once with a clear no-registry error', () => {
    const r = env.docker(['run', '--rm', 'nosuchimage'], { timeout: 20_000 });
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /Unable to find image 'nosuchimage:latest' locally/);
    assert.match(r.stderr, /Berth has no registry/);
  });

  it('S13: --network none has only lo, and inspect shows no IP or MAC', () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'none1',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      LOOP,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const ip = env.docker(['exec', 'none1', 'ip', '-o', 'link']);
    assert.equal(ip.status, 0, ip.stderr);
    const ifs = ip.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(': ')[1]);
    assert.deepEqual(ifs, ['lo']);
    assert.match(ip.stdout, /lo: <LOOPBACK,UP,LOWER_UP>/);
    const n = env.docker(['network', 'inspect', 'none']);
    const [net] = JSON.parse(n.stdout) as Array<{
      Containers: Record<string, { Name: string; MacAddress: string; IPv4Address: string }>;
    }>;
    const entry = Object.values(net!.Containers).find((c) => c.Name === 'none1');
    assert.ok(entry, n.stdout);
    assert.equal(entry.MacAddress, '');
    assert.equal(entry.IPv4Address, '');
  });

  it("S14: --network host sees the lab host's interfaces and shares its ports", () => {
    const r = env.docker([
      'run',
      '--rm',
      '--network',
      'host',
      'busybox',
      'ip',
      '-o',
      'addr',
      'show',
      'eth0',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(env.lab.hosts[0]!.ip.replace(/\./g, '\\.')));
    // Two servers on one port in the host network conflict.
    const a = env.docker([
      'run',
      '-d',
      '--name',
      'web1',
      '--network',
      'host',
      'busybox',
      'nc',
      '-l',
      '-p',
      '8099',
    ]);
    assert.equal(a.status, 0, a.stderr);
    const b = env.docker(['run', '--rm', '--network', 'host', 'busybox', 'nc', '-l', '-p', '8099']);
    assert.notEqual(b.status, 0);
    assert.match(b.stdout + b.stderr, /Address (already )?in use/i);
    env.docker(['rm', '-f', 'web1']);
  });

  it('attached run streams output and returns the exit code; --rm removes', () => {
    const r = env.docker([
      'run',
      '--rm',
      '--name',
      'once',
      'busybox',
      'sh',
      '-c',
      'echo out; echo err >&2; exit 3',
    ]);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    const ps = env.docker(['ps', '-a', '--filter', 'name=once', '-q']);
    assert.equal(ps.stdout.trim(), '');
  });

  it('a missing executable exits 127 and --rm still removes the container', () => {
    const r = env.docker(['run', '--rm', '--name', 'badcmd', 'busybox', 'nosuchcommand'], {
      timeout: 20_000,
    });
    assert.equal(r.status, 127, r.stderr);
    // Docker 20.10's words (containerd 1.6, runc 1.1).
    assert.match(
      r.stderr,
      /Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuchcommand": executable file not found in \$PATH: unknown/,
    );
    assert.equal(env.docker(['ps', '-aq', '--filter', 'name=badcmd']).stdout.trim(), '');
  });

  it('events reports the container lifecycle', () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    assert.equal(env.docker(['run', '--rm', '--name', 'evented', 'busybox', 'true']).status, 0);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const ev = env.docker([
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      '--filter',
      'container=evented',
      '--format',
      '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}',
    ]);
    assert.equal(ev.status, 0, ev.stderr);
    const actions = ev.stdout.trim().split('\n');
    for (const a of ['create', 'start', 'die', 'destroy']) {
      assert.ok(actions.includes(`container ${a} evented`), ev.stdout);
    }
  });

  it('run -i passes stdin through', () => {
    const r = env.docker(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'tr a-z A-Z'], {
      input: 'shout\n',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'SHOUT\n');
  });

  it('logs keeps stdout and stderr, with -f following until exit', () => {
    const r = env.docker([
      'run',
      '-d',
      '--name',
      'logger',
      'busybox',
      'sh',
      '-c',
      'echo one; echo two >&2; sleep 1; echo three',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const f = env.docker(['logs', '-f', 'logger']);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(f.stdout, 'one\nthree\n');
    assert.equal(f.stderr, 'two\n');
    const t = env.docker(['logs', '--tail', '1', 'logger']);
    assert.equal(t.stdout, 'three\n');
    const ps = env.docker(['ps', '-a', '--filter', 'name=logger', '--format', '{{.Status}}']);
    assert.match(ps.stdout, /^Exited \(0\)/);
  });

  for (const [what, args] of [
    ['exec -it', 'exec -it test1 sh'],
    ['run -it', 'run -it --rm busybox sh'],
  ] as const) {
    it(`${what} drives a shell through a real terminal`, () => {
      const t = new Terminal(join(env.lab.dir, `tmux-${what.replace(/ /g, '')}.sock`));
      try {
        t.start(`DOCKER_HOST=${env.daemon.env.DOCKER_HOST} docker ${args}`, 100, 30);
        assert.ok(t.waitFor(/# ?$/m), t.screen());
        t.type('echo tty=$(tty) sum=$((40+2)); stty size');
        assert.ok(t.waitFor(/tty=\/dev\/pts\/\d+ sum=42/), t.screen());
        assert.ok(t.waitFor(/^30 100$/m), t.screen());
        t.type('exit');
        assert.ok(t.waitClosed(), 'the session should end when the shell exits');
      } finally {
        t.close();
      }
    });
  }

  it('docker import makes a runnable image', () => {
    const dir = mkdtempSync('/tmp/berth-import-');
    try {
      mkdirSync(join(dir, 'root/bin'), { recursive: true });
      spawnSync('cp', ['/bin/busybox', join(dir, 'root/bin/busybox')]);
      spawnSync('ln', ['-s', 'busybox', join(dir, 'root/bin/sh')]);
      writeFileSync(join(dir, 'root/hello.txt'), 'imported!\n');
      const tar = join(dir, 'root.tar');
      assert.equal(spawnSync('tar', ['-C', join(dir, 'root'), '-cf', tar, '.']).status, 0);
      const imp = env.docker(['import', tar, 'mine:1']);
      assert.equal(imp.status, 0, imp.stderr);
      assert.match(imp.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
      const run = env.docker(['run', '--rm', 'mine:1', '/bin/busybox', 'cat', '/hello.txt']);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, 'imported!\n');
      const imgs = env.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
      assert.match(imgs.stdout, /^mine:1$/m);
      assert.match(imgs.stdout, /^busybox:latest$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rm -f removes running containers and leaves nothing in the lab host', () => {
    const ids = ['test1', 'none1'].map((n) =>
      env.docker(['inspect', '-f', '{{.Id}}', n]).stdout.trim(),
    );
    for (const n of ['test1', 'none1']) {
      const r = env.docker(['rm', '-f', n]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), n);
    }
    env.docker(['rm', '-f', 'logger']);
    const ps = env.docker(['ps', '-aq']);
    assert.equal(ps.stdout.trim(), '');
    for (const id of ids)
      assert.ok(!existsSync(`/sys/fs/cgroup/memory/berth/${id}`), 'cgroup removed');
    const mounts = spawnSync('grep', ['-c', env.lab.dir + '/', '/proc/self/mounts'], {
      encoding: 'utf8',
    });
    // Only the daemon's own namespace files may remain mounted: none of a container's.
    assert.equal(
      mounts.stdout.trim(),
      '0',
      spawnSync('grep', [env.lab.dir, '/proc/self/mounts'], { encoding: 'utf8' }).stdout,
    );
    const missing = env.docker(['rm', 'nosuch']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /No such container: nosuch/);
  });
});
