/**
 * Seccomp and --security-opt with real containers under runc, as Docker 20.10
 * (docs/reference/docker-20.10-seccomp.md, decision 0016): the default
 * profile blocks `unshare -U -r` and mount, also for exec'd processes;
 * seccomp=unconfined, --privileged and CAP_SYS_ADMIN open them; a profile
 * file through the docker and berth CLIs; no-new-privileges; docker info;
 * malformed options refused with a 400 before anything is created.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = ['sleep', '3600'];
const ok = (args: string[]): string => {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
/** The `Seccomp:` mode of a process (0 none, 2 filter) and its NoNewPrivs. */
const status = (out: string) => ({
  seccomp: /^Seccomp:\s+(\d)/m.exec(out)?.[1],
  nnp: /^NoNewPrivs:\s+(\d)/m.exec(out)?.[1],
});
const STATUS = ['grep', '-E', '^(Seccomp|NoNewPrivs):', '/proc/self/status'];

/** One Engine API call on the daemon's socket. */
const api = (method: string, path: string, body?: unknown) =>
  apiCall(`unix://${env.daemon.socket}`, method, path, body);

/** The config.json Berth wrote for a container. */
function ociConfig(name: string): { linux: { seccomp?: { defaultAction: string } } } {
  const id = ok(['inspect', '-f', '{{.Id}}', name]);
  return JSON.parse(
    readFileSync(join(env.daemon.dataRoot, 'containers', id, 'bundle', 'config.json'), 'utf8'),
  ) as { linux: { seccomp?: { defaultAction: string } } };
}

/**
 * A privileged container needs every capability in the machine's bounding
 * set (runc: "unable to apply caps"; Docker 20.10 fails the same way).
 */
function fullBoundingSet(): boolean {
  const bnd = /^CapBnd:\s+([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  return BigInt(`0x${bnd ?? '0'}`) === (1n << BigInt(last + 1)) - 1n;
}

describe('seccomp and --security-opt', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it("shows Docker's default profile in docker info", () => {
    assert.equal(
      ok(['info', '--format', '{{json .SecurityOptions}}']),
      '["name=seccomp,profile=default"]',
    );
    assert.match(ok(['info']), /\n Security Options:\n {2}seccomp\n {3}Profile: default\n/);
    const berth = env.berth(['info']);
    assert.match(berth.stdout, /\n Security Options:\n {2}seccomp\n {3}Profile: default\n/);
  });

  it('filters a default container: no user namespace, no mount; exec is filtered too', () => {
    ok(['run', '-d', '--name', 'def', 'busybox', ...LOOP]);
    assert.deepEqual(status(ok(['exec', 'def', ...STATUS])), { seccomp: '2', nnp: '0' });
    const u = env.docker(['exec', 'def', 'unshare', '-U', '-r', 'true']);
    assert.equal(u.status, 1, u.stdout + u.stderr);
    assert.match(u.stderr, /unshare\(0x10000000\): Operation not permitted/);
    const m = env.docker([
      'exec',
      'def',
      'sh',
      '-c',
      'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t',
    ]);
    assert.notEqual(m.status, 0, 'mount worked in a default container');
    // ordinary work is allowed: files, processes, sockets, ping (a raw socket)
    assert.equal(
      ok([
        'exec',
        'def',
        'sh',
        '-c',
        'mkdir /d && echo hi > /d/f && cat /d/f && ls / | wc -l',
      ]).split('\n')[0],
      'hi',
    );
    ok(['exec', 'def', 'ping', '-c', '1', '-W', '2', '127.0.0.1']);
    assert.equal(ok(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'def']), 'null');
    assert.equal(ociConfig('def').linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
  });

  it('seccomp=unconfined runs without a filter; CAP_SYS_ADMIN opens unshare in the filter', () => {
    for (const opt of ['seccomp=unconfined', 'seccomp:unconfined']) {
      const out = ok([
        'run',
        '--rm',
        '--security-opt',
        opt,
        'busybox',
        'sh',
        '-c',
        'grep ^Seccomp: /proc/self/status && unshare -U -r true && echo unshared',
      ]);
      assert.match(out, /^Seccomp:\s+0\nunshared$/, opt);
    }
    const admin = ok([
      'run',
      '--rm',
      '--cap-add',
      'SYS_ADMIN',
      'busybox',
      'sh',
      '-c',
      'grep ^Seccomp: /proc/self/status && unshare -U -r true && echo unshared',
    ]);
    assert.match(admin, /^Seccomp:\s+2\nunshared$/);
  });

  it('gives a privileged container no filter', (t) => {
    const r = env.docker(['run', '--name', 'priv', '--privileged', 'busybox', ...STATUS]);
    // Written before runc runs, so it can be checked on any machine.
    assert.equal(ociConfig('priv').linux.seccomp, undefined);
    if (!fullBoundingSet()) {
      t.skip(
        "this machine's capability bounding set lacks capabilities: no privileged container can start (Docker's neither)",
      );
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    assert.equal(status(r.stdout).seccomp, '0');
    ok(['run', '--rm', '--privileged', 'busybox', 'unshare', '-U', '-r', 'true']);
  });

  it('applies a profile file given to the docker and berth CLIs', () => {
    const file = join(env.lab.dir, 'nomkdir.json');
    const profile = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
    };
    writeFileSync(file, JSON.stringify(profile, null, 2));
    ok(['run', '-d', '--name', 'prof', '--security-opt', `seccomp=${file}`, 'busybox', ...LOOP]);
    const m = env.docker(['exec', 'prof', 'mkdir', '/x']);
    assert.equal(m.status, 1);
    assert.match(m.stderr, /can't create directory '\/x': Operation not permitted/);
    assert.equal(status(ok(['exec', 'prof', ...STATUS])).seccomp, '2');
    // the default's rules are gone: this profile allows unshare
    ok(['exec', 'prof', 'unshare', '-U', '-r', 'true']);
    assert.equal(
      ok(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'prof']),
      JSON.stringify([`seccomp=${JSON.stringify(profile)}`]),
    );
    const b = env.berth([
      'run',
      '--rm',
      '--security-opt',
      `seccomp=${file}`,
      'busybox',
      'mkdir',
      '/y',
    ]);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /can't create directory '\/y': Operation not permitted/);
    const missing = env.berth([
      'run',
      '--rm',
      '--security-opt',
      'seccomp=/no/such.json',
      'busybox',
    ]);
    assert.equal(missing.status, 125);
    assert.match(
      missing.stderr,
      /opening seccomp profile \(\/no\/such\.json\) failed: open \/no\/such\.json: no such file or directory/,
    );
  });

  it('sets no-new-privileges, for exec too', () => {
    for (const [opt, want] of [
      ['no-new-privileges', '1'],
      ['no-new-privileges=true', '1'],
      ['no-new-privileges:true', '1'],
      ['no-new-privileges=false', '0'],
    ] as const) {
      assert.equal(
        status(ok(['run', '--rm', '--security-opt', opt, 'busybox', ...STATUS])).nnp,
        want,
        opt,
      );
    }
    ok(['run', '-d', '--name', 'nnp', '--security-opt', 'no-new-privileges', 'busybox', ...LOOP]);
    assert.deepEqual(status(ok(['exec', 'nnp', ...STATUS])), { seccomp: '2', nnp: '1' });
    assert.equal(
      ok(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'nnp']),
      '["no-new-privileges"]',
    );
  });

  it('accepts apparmor=unconfined and label=disable, which ask for nothing Berth applies', () => {
    ok(['run', '--rm', '--security-opt', 'apparmor=unconfined', 'busybox', 'true']);
    ok(['run', '--rm', '--security-opt', 'label=disable', 'busybox', 'true']);
  });

  it('refuses malformed or unsupported options with a 400, creating nothing', async () => {
    const before = ok(['ps', '-aq']);
    const refused: Array<[unknown, string]> = [
      [['nonsense'], 'invalid --security-opt 1: \\"nonsense\\"'],
      [['foo=bar'], 'invalid --security-opt 2: \\"foo=bar\\"'],
      [['no-new-privileges=maybe'], 'invalid --security-opt 2: \\"no-new-privileges=maybe\\"'],
      [['seccomp=not json'], 'Decoding seccomp profile failed: '],
      [['seccomp=[]'], 'Decoding seccomp profile failed: the profile must be a JSON object'],
      [
        ['seccomp={"defaultAction":"SCMP_ACT_NOPE"}'],
        'invalid seccomp profile: defaultAction SCMP_ACT_NOPE is not a valid action for seccomp',
      ],
      [
        ['apparmor=docker-default'],
        'berth does not support --security-opt apparmor=docker-default yet: Berth applies no AppArmor profile',
      ],
      [['label=user:u'], 'berth does not support --security-opt label=user:u yet'],
    ];
    for (const [opts, msg] of refused) {
      const r = await api('POST', '/containers/create', {
        Image: 'busybox',
        Cmd: ['true'],
        HostConfig: { SecurityOpt: opts },
      });
      assert.equal(r.status, 400, `${JSON.stringify(opts)}: ${r.text}`);
      assert.ok(r.text.includes(msg), `${JSON.stringify(opts)}: ${r.text}`);
    }
    const cli = env.docker(['run', '--rm', '--security-opt', 'apparmor=docker-default', 'busybox']);
    assert.equal(cli.status, 125);
    assert.match(
      cli.stderr,
      /Error response from daemon: berth does not support --security-opt apparmor=docker-default yet/,
    );
    assert.equal(ok(['ps', '-aq']), before);
  });
});
