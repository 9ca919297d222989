/**
 * The default seccomp profile and the translation of Docker's profile format,
 * checked against what dockerd 20.10 handed runc for the same containers
 * (docs/reference/docker-20.10-seccomp.json, captured by
 * bench/capture-docker-seccomp.ts), and the reading of --security-opt.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  DEFAULT_PROFILE,
  kernelVersion,
  ociSeccomp,
  parseProfile,
  type OciSeccomp,
} from '../../src/containers/seccomp.js';
import { parseSecurityOpts, seccompFor } from '../../src/containers/security.js';
import { capabilities } from '../../src/containers/spec.js';

type Rule = OciSeccomp['syscalls'][number];
interface Reference {
  default: OciSeccomp;
  capabilities: Array<{ capAdd: string[]; capDrop: string[]; removed: Rule[]; added: Rule[] }>;
  profileFile: { given: unknown; oci: OciSeccomp };
}

const ref = JSON.parse(
  readFileSync(
    new URL('../../../docs/reference/docker-20.10-seccomp.json', import.meta.url),
    'utf8',
  ),
) as Reference;

/** The machine the reference was captured on. */
const X86 = { arch: 'amd64', kernel: [6, 18] as [number, number] };

/** Rules as comparable strings (keys sorted, as the capture compares them). */
function keys(rules: Rule[]): string[] {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, sorted(x)]),
          )
        : v;
  return rules.map((r) => JSON.stringify(sorted(r)));
}

describe('the default seccomp profile', () => {
  it('is the filter dockerd 20.10 gives a default container on x86_64, rule for rule', () => {
    const ours = ociSeccomp(DEFAULT_PROFILE, { ...X86, caps: capabilities() });
    assert.equal(ours.defaultAction, ref.default.defaultAction);
    assert.equal(ours.defaultErrnoRet, undefined);
    assert.deepEqual(ours.architectures, ref.default.architectures);
    assert.deepEqual(keys(ours.syscalls), keys(ref.default.syscalls));
  });

  for (const c of ref.capabilities) {
    const what = [...c.capAdd.map((x) => `+${x}`), ...c.capDrop.map((x) => `-${x}`)].join(' ');
    it(`changes with capabilities as dockerd's does (${what})`, () => {
      const ours = ociSeccomp(DEFAULT_PROFILE, { ...X86, caps: capabilities(c.capAdd, c.capDrop) });
      const base = keys(ref.default.syscalls);
      const want = [...base.filter((r) => !keys(c.removed).includes(r)), ...keys(c.added)].sort();
      assert.deepEqual(keys(ours.syscalls).sort(), want);
    });
  }

  it('blocks the namespace flags of clone and clone3 without CAP_SYS_ADMIN', () => {
    const ours = ociSeccomp(DEFAULT_PROFILE, { ...X86, caps: capabilities() });
    const clone = ours.syscalls.find((r) => r.names.includes('clone'));
    assert.deepEqual(clone?.args, [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }]);
    const clone3 = ours.syscalls.find((r) => r.names.includes('clone3'));
    assert.deepEqual(clone3, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    for (const n of [
      'unshare',
      'setns',
      'mount',
      'umount2',
      'reboot',
      'init_module',
      'kexec_load',
    ]) {
      assert.ok(!ours.syscalls.some((r) => r.names.includes(n)), n);
    }
  });

  it('maps aarch64 machines to AARCH64 and ARM, with the ARM-only syscalls', () => {
    const arm = ociSeccomp(DEFAULT_PROFILE, {
      arch: 'arm64',
      caps: capabilities(),
      kernel: [6, 1],
    });
    assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    const names = arm.syscalls.flatMap((r) => r.names);
    assert.ok(names.includes('set_tls'));
    assert.ok(!names.includes('arch_prctl'));
    assert.ok(!names.includes('modify_ldt'));
  });

  it('leaves ptrace out on kernels before 4.8', () => {
    const old = ociSeccomp(DEFAULT_PROFILE, { ...X86, caps: capabilities(), kernel: [4, 4] });
    assert.ok(!old.syscalls.some((r) => r.names.includes('ptrace')));
    assert.deepEqual(kernelVersion('6.1.0-18-amd64'), [6, 1]);
  });
});

describe('a profile given with seccomp=<json>', () => {
  it('becomes the OCI object dockerd 20.10 made of it', () => {
    const p = parseProfile(JSON.stringify(ref.profileFile.given));
    assert.ok(p);
    assert.deepEqual(ociSeccomp(p, { ...X86, caps: capabilities() }), ref.profileFile.oci);
  });

  it('keeps errnoRet, args and the old name form; filters by includes and excludes', () => {
    const p = parseProfile(
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        defaultErrnoRet: 1,
        architectures: ['SCMP_ARCH_X86_64'],
        syscalls: [
          { name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
          {
            names: ['personality'],
            action: 'SCMP_ACT_ERRNO',
            args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }],
          },
          { names: ['a'], action: 'SCMP_ACT_LOG', includes: { caps: ['CAP_SYS_ADMIN'] } },
          { names: ['b'], action: 'SCMP_ACT_LOG', excludes: { arches: ['amd64'] } },
          { names: ['c'], action: 'SCMP_ACT_LOG', includes: { arches: ['arm64'] } },
          { names: ['d'], action: 'SCMP_ACT_LOG', excludes: { caps: ['CAP_CHOWN'] } },
          { names: ['e'], action: 'SCMP_ACT_KILL', includes: { minKernel: '4.8' } },
        ],
        comment: 'unknown keys are ignored, as Go ignores them',
      }),
    );
    assert.ok(p);
    assert.deepEqual(ociSeccomp(p, { ...X86, caps: capabilities() }), {
      defaultAction: 'SCMP_ACT_ALLOW',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        {
          names: ['personality'],
          action: 'SCMP_ACT_ERRNO',
          args: [{ index: 0, value: 8, valueTwo: 0, op: 'SCMP_CMP_EQ' }],
        },
        { names: ['e'], action: 'SCMP_ACT_KILL' },
      ],
    });
  });

  it('is nothing (unconfined) without a default action or rules, as Docker', () => {
    assert.equal(parseProfile('{}'), undefined);
    assert.equal(parseProfile('{"syscalls":[]}'), undefined);
    assert.deepEqual(parseSecurityOpts(['seccomp={"syscalls":[]}']).seccomp, 'unconfined');
  });

  it('is refused with a 400 that says what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /^Decoding seccomp profile failed: /],
      ['[]', /^Decoding seccomp profile failed: the profile must be a JSON object/],
      ['{"defaultAction":"SCMP_ACT_NOPE"}', /SCMP_ACT_NOPE is not a valid action for seccomp/],
      [
        '{"syscalls":[{"names":["x"],"action":"SCMP_ACT_ALLOW"}]}',
        /defaultAction null is not a valid action/,
      ],
      ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', /syscalls must be a list/],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":"mkdir","action":"SCMP_ACT_ERRNO"}]}',
        /syscalls\[0\]\.names must be a list of strings/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}',
        /'name' and 'names' were specified/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}',
        /'architectures' and 'archMap' were specified/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}',
        /unknown architecture "SCMP_ARCH_Z80"/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":9,"value":1,"op":"SCMP_CMP_EQ"}]}]}',
        /index must be 0 to 5/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"EQ"}]}]}',
        /op "EQ" is not a valid operator/,
      ],
      [
        '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","errnoRet":-1}]}',
        /errnoRet must be a non-negative integer/,
      ],
    ];
    for (const [json, re] of cases) {
      assert.throws(
        () => parseSecurityOpts([`seccomp=${json}`]),
        (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && re.test(e.message),
        json,
      );
    }
  });
});

describe('--security-opt', () => {
  it('reads seccomp and no-new-privileges as dockerd 20.10 does', () => {
    assert.deepEqual(parseSecurityOpts(null), { seccomp: 'default', noNewPrivileges: false });
    assert.equal(parseSecurityOpts(['seccomp=unconfined']).seccomp, 'unconfined');
    assert.equal(parseSecurityOpts(['seccomp:unconfined']).seccomp, 'unconfined');
    assert.equal(parseSecurityOpts(['seccomp=']).seccomp, 'default');
    assert.equal(parseSecurityOpts(['seccomp=builtin']).seccomp, 'default');
    assert.equal(parseSecurityOpts(['seccomp=unconfined', 'seccomp=']).seccomp, 'default');
    for (const o of ['no-new-privileges', 'no-new-privileges=true', 'no-new-privileges:1']) {
      assert.equal(parseSecurityOpts([o]).noNewPrivileges, true, o);
    }
    assert.equal(
      parseSecurityOpts(['no-new-privileges', 'no-new-privileges=false']).noNewPrivileges,
      false,
    );
  });

  it('accepts the options that ask for no AppArmor profile or SELinux label', () => {
    for (const o of ['apparmor=unconfined', 'apparmor:unconfined', 'label=disable', 'disable']) {
      assert.deepEqual(parseSecurityOpts([o]), { seccomp: 'default', noNewPrivileges: false }, o);
    }
  });

  it("refuses malformed options with dockerd 20.10's messages, others as unsupported", () => {
    const cases: Array<[string, string]> = [
      ['nonsense', 'invalid --security-opt 1: "nonsense"'],
      ['foo=bar', 'invalid --security-opt 2: "foo=bar"'],
      ['no-new-privileges=maybe', 'invalid --security-opt 2: "no-new-privileges=maybe"'],
      ['systempaths=unconfined', 'invalid --security-opt 2: "systempaths=unconfined"'],
      [
        'apparmor=docker-default',
        'berth does not support --security-opt apparmor=docker-default yet: Berth applies no AppArmor profile (only apparmor=unconfined is accepted)',
      ],
      [
        'label=user:USER',
        'berth does not support --security-opt label=user:USER yet: Berth applies no SELinux labels (only label=disable is accepted)',
      ],
    ];
    for (const [o, msg] of cases) {
      assert.throws(
        () => parseSecurityOpts([o]),
        (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && e.message === msg,
        o,
      );
    }
  });

  it('gives a privileged or unconfined container no filter', () => {
    const m = { arch: 'amd64', kernelRelease: '6.1.0' };
    const caps = capabilities();
    assert.equal(seccompFor(parseSecurityOpts(null), { ...m, caps, privileged: true }), undefined);
    const file = parseSecurityOpts([`seccomp=${JSON.stringify(ref.profileFile.given)}`]);
    assert.equal(seccompFor(file, { ...m, caps, privileged: true }), undefined);
    assert.equal(
      seccompFor(parseSecurityOpts(['seccomp=unconfined']), { ...m, caps, privileged: false }),
      undefined,
    );
    assert.ok(seccompFor(parseSecurityOpts(null), { ...m, caps, privileged: false }));
  });
});
