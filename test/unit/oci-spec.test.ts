import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpec, capabilities, DEFAULT_CAPS, MASKED_PATHS } from '../../src/containers/spec.js';

const base = {
  args: ['sh'],
  env: ['PATH=/bin'],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [] },
  tty: false,
  hostname: 'abc',
  rootfs: '/r',
  files: { hosts: '/f/hosts', hostname: '/f/hostname', resolvConf: '/f/resolv.conf' },
  cgroupsPath: '/berth/x',
  security: { seccomp: 'default' as const, noNewPrivileges: false },
  machine: { arch: 'amd64', kernelRelease: '6.1.0-18-amd64' },
};

type Spec = {
  process: {
    capabilities: { bounding: string[] };
    terminal: boolean;
    consoleSize?: object;
    noNewPrivileges: boolean;
  };
  linux: {
    seccomp?: { defaultAction: string; syscalls: Array<{ names: string[] }> };
    namespaces: Array<{ type: string; path?: string }>;
    maskedPaths: string[];
    readonlyPaths: string[];
  };
  mounts: Array<{ destination: string; type: string; source: string; options: string[] }>;
  hostname?: string;
};

describe('OCI bundle generation', () => {
  it('uses Docker default capabilities, including NET_RAW for ping', () => {
    const s = buildSpec(base) as unknown as Spec;
    assert.deepEqual(s.process.capabilities.bounding, DEFAULT_CAPS);
    assert.ok(s.process.capabilities.bounding.includes('CAP_NET_RAW'));
    assert.ok(!s.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  });

  it('joins the given network namespace, and none for host networking', () => {
    const own = buildSpec({ ...base, netnsPath: '/run/ns/x' }) as unknown as Spec;
    assert.deepEqual(
      own.linux.namespaces.find((n) => n.type === 'network'),
      { type: 'network', path: '/run/ns/x' },
    );
    const host = buildSpec({ ...base, hostUts: true }) as unknown as Spec;
    assert.equal(
      host.linux.namespaces.find((n) => n.type === 'network'),
      undefined,
    );
    assert.equal(
      host.linux.namespaces.find((n) => n.type === 'uts'),
      undefined,
    );
    assert.equal(host.hostname, undefined);
  });

  it('masks and protects the paths Docker does', () => {
    const s = buildSpec(base) as unknown as Spec;
    assert.deepEqual(s.linux.maskedPaths, MASKED_PATHS);
    assert.ok(s.linux.readonlyPaths.includes('/proc/sys'));
    const priv = buildSpec({ ...base, privileged: true }) as unknown as Spec;
    assert.deepEqual(priv.linux.maskedPaths, []);
  });

  it('mounts /proc, /dev, /sys, /dev/shm and binds the generated files', () => {
    const s = buildSpec({ ...base, shmSize: 1024 }) as unknown as Spec;
    const d = new Map(s.mounts.map((m) => [m.destination, m]));
    for (const p of ['/proc', '/dev', '/dev/pts', '/sys', '/dev/shm', '/dev/mqueue'])
      assert.ok(d.has(p), p);
    assert.ok(d.get('/dev/shm')!.options.includes('size=1024'));
    assert.ok(d.get('/sys')!.options.includes('ro'));
    assert.equal(d.get('/etc/hosts')!.source, '/f/hosts');
    assert.equal(d.get('/etc/resolv.conf')!.type, 'bind');
  });

  it('sets the terminal and its size only with a TTY', () => {
    const t = buildSpec({ ...base, tty: true, consoleSize: [24, 80] }) as unknown as Spec;
    assert.equal(t.process.terminal, true);
    assert.deepEqual(t.process.consoleSize, { height: 24, width: 80 });
    const n = buildSpec({ ...base, consoleSize: [24, 80] }) as unknown as Spec;
    assert.equal(n.process.consoleSize, undefined);
  });

  it("applies Docker's default seccomp profile, none when privileged or unconfined", () => {
    const s = buildSpec(base) as unknown as Spec;
    assert.equal(s.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    const allowed = s.linux.seccomp!.syscalls.flatMap((r) => r.names);
    assert.ok(allowed.includes('read'));
    assert.ok(!allowed.includes('unshare'));
    assert.equal(s.process.noNewPrivileges, false);
    const priv = buildSpec({ ...base, privileged: true }) as unknown as Spec;
    assert.equal(priv.linux.seccomp, undefined);
    const unconfined = buildSpec({
      ...base,
      security: { seccomp: 'unconfined', noNewPrivileges: true },
    }) as unknown as Spec;
    assert.equal(unconfined.linux.seccomp, undefined);
    assert.equal(unconfined.process.noNewPrivileges, true);
  });

  it('opens the syscalls of added capabilities in the filter', () => {
    const s = buildSpec({ ...base, capAdd: ['SYS_ADMIN'] }) as unknown as Spec;
    const allowed = s.linux.seccomp!.syscalls.flatMap((r) => r.names);
    assert.ok(allowed.includes('unshare'));
    assert.ok(allowed.includes('mount'));
  });

  it('adds and drops capabilities like Docker', () => {
    assert.ok(capabilities(['NET_ADMIN']).includes('CAP_NET_ADMIN'));
    assert.ok(!capabilities([], ['net_raw']).includes('CAP_NET_RAW'));
    assert.deepEqual(capabilities(['CHOWN'], ['ALL']), ['CAP_CHOWN']);
    assert.ok(capabilities(['ALL']).includes('CAP_SYS_ADMIN'));
    assert.throws(() => capabilities(['BOGUS']), /unknown capability/);
  });
});
