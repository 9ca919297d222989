/**
 * Captures what a real Docker 20.10 (Debian docker.io) does with seccomp and
 * `--security-opt`: `docker info`'s Security Options, the filter a container
 * gets (the `linux.seccomp` of the OCI config containerd hands runc, by
 * default and with capabilities added), `unshare -U -r` and `mount` with and
 * without the profile, a profile file through the CLI, `no-new-privileges`,
 * exec, inspect, and the messages for malformed options. Writes a markdown
 * transcript and the same as JSON (docs/reference/docker-20.10-seccomp*.md),
 * and beside them `docker-20.10-seccomp.json`: the default container's
 * seccomp object, how capabilities change it, and what a profile file became
 * (the unit tests compare Berth's against it).
 *
 *   node dist/bench/capture-docker-seccomp.js [--out DIR]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCapture } from './lib/capture-run.js';
import { old } from './lib/capture.js';

const LOOP = ['sleep', '3600'];

/** A profile that allows everything but mkdir/mkdirat (EPERM), as a user would write one. */
const NO_MKDIR = {
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
};

runCapture({
  name: 'capture-docker-seccomp',
  title: 'Docker 20.10 seccomp and --security-opt: raw capture',
  hosts: 1,
  steps: async ({ lab, cap: c, dockerd, outDir }) => {
    const d = await dockerd(0);
    type Rule = Record<string, unknown>;
    type Seccomp = { syscalls?: Rule[] } & Record<string, unknown>;
    /** The linux.seccomp object and noNewPrivileges containerd wrote for container `name`. */
    const seccompOf = (name: string): { seccomp: Seccomp | null; noNewPrivileges?: boolean } => {
      const id = c.docker(['inspect', '-f', '{{.Id}}', name], { quiet: true }).stdout.trim();
      const found = c.ns(
        'h1',
        ['find', d.execRoot, '/run/containerd', '-path', `*${id}/config.json`],
        true,
      );
      const path = found.stdout.split('\n').find(Boolean);
      if (!path) throw new Error(`no config.json for ${name}: ${found.stderr}`);
      const spec = JSON.parse(readFileSync(path, 'utf8')) as {
        linux?: { seccomp?: Seccomp };
        process?: { noNewPrivileges?: boolean };
      };
      return {
        seccomp: spec.linux?.seccomp ?? null,
        noNewPrivileges: spec.process?.noNewPrivileges,
      };
    };
    const reference = {
      about:
        'What dockerd 20.10.24 (Debian docker.io) put in linux.seccomp of the OCI config it ' +
        'handed runc on x86_64, captured by bench/capture-docker-seccomp.ts. "default": a ' +
        'container with the default capabilities; "capabilities": other containers, as rules ' +
        'removed from and added to the default; "profileFile": a profile given with ' +
        '--security-opt seccomp=FILE and what it became.',
      default: null as Seccomp | null,
      capabilities: [] as Array<{
        capAdd: string[];
        capDrop: string[];
        removed: Rule[];
        added: Rule[];
      }>,
      noNewPrivileges: {} as Record<string, unknown>,
      profileFile: { given: NO_MKDIR, oci: null as Seccomp | null },
    };
    /** The seccomp object of container `name`, or undefined (noted) if it did not start. */
    const keep = (name: string): ReturnType<typeof seccompOf> | undefined => {
      const st = c.docker(['inspect', '-f', '{{.State.Status}}', name], { quiet: true });
      if (st.stdout.trim() !== 'running') {
        c.note(`config.json of ${name}`, `not running (${st.stdout.trim()}): none`);
        return undefined;
      }
      return seccompOf(name);
    };
    /** Records how the rules of a container with other capabilities differ from the default's. */
    const diff = (name: string, capAdd: string[], capDrop: string[]) => {
      const rules = keep(name)?.seccomp?.syscalls;
      if (!rules) return;
      const a = (reference.default?.syscalls ?? []).map((r) => JSON.stringify(r));
      const b = rules.map((r) => JSON.stringify(r));
      const removed = a.filter((r) => !b.includes(r));
      const added = b.filter((r) => !a.includes(r));
      reference.capabilities.push({
        capAdd,
        capDrop,
        removed: removed.map((r) => JSON.parse(r) as Rule),
        added: added.map((r) => JSON.parse(r) as Rule),
      });
      c.note(
        `rules of ${name} against the default container's`,
        [...removed.map((r) => `- ${r}`), ...added.map((r) => `+ ${r}`)].join('\n') || '(same)',
      );
    };

    c.sec('docker info');
    c.docker(['info', '--format', '{{json .SecurityOptions}}']);
    const info = old(c, ['info']);
    c.note(
      '20.10 CLI `docker info`, Security Options lines',
      info.stdout
        .split('\n')
        .filter(
          (l, i, a) =>
            /Security Options/.test(l) ||
            /Security Options/.test(a[i - 1] ?? '') ||
            /Security Options/.test(a[i - 2] ?? ''),
        )
        .join('\n'),
    );

    c.sec('The default profile');
    c.docker(['run', '-d', '--name', 'def', 'busybox', ...LOOP]);
    c.docker(['exec', 'def', 'grep', '-E', 'Seccomp|NoNewPrivs', '/proc/self/status']);
    c.docker(['exec', 'def', 'unshare', '-U', '-r', 'true']);
    c.docker(['exec', 'def', 'sh', '-c', 'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t']);
    c.docker(['exec', '--privileged', 'def', 'unshare', '-U', '-r', 'true']);
    c.docker(['exec', '--privileged', 'def', 'grep', 'Seccomp', '/proc/self/status']);
    c.docker(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'def']);
    reference.default = keep('def')?.seccomp ?? null;
    c.note(
      'the default rules, one a line',
      (reference.default?.syscalls ?? []).map((r) => JSON.stringify(r)).join('\n'),
    );

    c.sec('Capabilities open parts of the profile');
    c.docker(['run', '-d', '--name', 'sysadmin', '--cap-add', 'SYS_ADMIN', 'busybox', ...LOOP]);
    c.docker(['exec', 'sysadmin', 'unshare', '-U', '-r', 'true']);
    c.docker(['exec', 'sysadmin', 'sh', '-c', 'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t']);
    diff('sysadmin', ['SYS_ADMIN'], []);
    c.docker(['run', '-d', '--name', 'allcaps', '--cap-add', 'ALL', 'busybox', ...LOOP]);
    diff('allcaps', ['ALL'], []);
    c.docker(['run', '-d', '--name', 'nocaps', '--cap-drop', 'ALL', 'busybox', ...LOOP]);
    diff('nocaps', [], ['ALL']);
    for (const cap of [
      'DAC_READ_SEARCH',
      'SYS_BOOT',
      'SYS_MODULE',
      'SYS_PACCT',
      'SYS_PTRACE',
      'SYS_RAWIO',
      'SYS_TIME',
      'SYS_TTY_CONFIG',
      'SYS_NICE',
      'SYSLOG',
      'BPF',
      'PERFMON',
    ]) {
      const name = `cap-${cap.toLowerCase().replace(/_/g, '-')}`;
      c.docker(['run', '-d', '--name', name, '--cap-add', cap, 'busybox', ...LOOP]);
      diff(name, [cap], []);
    }
    c.docker(['run', '-d', '--name', 'nochroot', '--cap-drop', 'SYS_CHROOT', 'busybox', ...LOOP]);
    diff('nochroot', [], ['SYS_CHROOT']);

    c.sec('--privileged and seccomp=unconfined');
    c.docker(['run', '--rm', '--privileged', 'busybox', 'grep', 'Seccomp', '/proc/self/status']);
    c.docker(['run', '--rm', '--privileged', 'busybox', 'unshare', '-U', '-r', 'true']);
    c.docker([
      'run',
      '-d',
      '--name',
      'unc',
      '--security-opt',
      'seccomp=unconfined',
      'busybox',
      ...LOOP,
    ]);
    c.docker(['exec', 'unc', 'grep', 'Seccomp', '/proc/self/status']);
    c.docker(['exec', 'unc', 'unshare', '-U', '-r', 'true']);
    c.docker(['exec', 'unc', 'sh', '-c', 'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t']);
    c.docker(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'unc']);
    c.note('linux.seccomp of unc', JSON.stringify(keep('unc')?.seccomp ?? null));
    c.docker([
      'run',
      '--rm',
      '--security-opt',
      'seccomp:unconfined',
      'busybox',
      'grep',
      'Seccomp',
      '/proc/self/status',
    ]);
    c.docker([
      'run',
      '--rm',
      '--privileged',
      '--security-opt',
      'seccomp=unconfined',
      'busybox',
      'true',
    ]);

    c.sec('A profile file');
    const file = join(lab.dir, 'nomkdir.json');
    writeFileSync(file, JSON.stringify(NO_MKDIR, null, 2));
    c.docker([
      'run',
      '-d',
      '--name',
      'prof',
      '--security-opt',
      `seccomp=${file}`,
      'busybox',
      ...LOOP,
    ]);
    c.docker(['exec', 'prof', 'mkdir', '/x']);
    c.docker(['exec', 'prof', 'grep', 'Seccomp', '/proc/self/status']);
    c.docker(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'prof']);
    reference.profileFile.oci = keep('prof')?.seccomp ?? null;
    c.docker([
      'run',
      '--rm',
      '--privileged',
      '--security-opt',
      `seccomp=${file}`,
      'busybox',
      'mkdir',
      '/x',
    ]);
    c.docker(['run', '--rm', '--security-opt', 'seccomp=/nonexistent.json', 'busybox', 'true']);
    const bad = join(lab.dir, 'bad.json');
    writeFileSync(bad, 'not json');
    c.docker(['run', '--rm', '--security-opt', `seccomp=${bad}`, 'busybox', 'true']);

    c.sec('no-new-privileges');
    for (const o of [
      'no-new-privileges',
      'no-new-privileges=true',
      'no-new-privileges=false',
      'no-new-privileges:true',
    ]) {
      c.docker([
        'run',
        '--rm',
        '--security-opt',
        o,
        'busybox',
        'grep',
        'NoNewPrivs',
        '/proc/self/status',
      ]);
    }
    c.docker([
      'run',
      '-d',
      '--name',
      'nnp',
      '--security-opt',
      'no-new-privileges',
      'busybox',
      ...LOOP,
    ]);
    c.docker(['exec', 'nnp', 'grep', 'NoNewPrivs', '/proc/self/status']);
    c.docker(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', 'nnp']);
    const nnp = keep('nnp');
    reference.noNewPrivileges = {
      securityOpt: ['no-new-privileges'],
      processNoNewPrivileges: nnp?.noNewPrivileges,
      seccompSameAsDefault: JSON.stringify(nnp?.seccomp) === JSON.stringify(reference.default),
    };

    c.sec('Malformed and other options (CLI)');
    for (const o of [
      'no-new-privileges=maybe',
      'seccomp',
      'foo',
      'foo=bar',
      'apparmor=unconfined',
      'apparmor=docker-default',
      'label=disable',
      'label:disable',
      'label=user:USER',
      'systempaths=unconfined',
    ]) {
      c.docker(['run', '--rm', '--security-opt', o, 'busybox', 'true']);
    }

    c.sec('Malformed options (API)');
    const create = (opts: unknown) =>
      c.api('POST', '/containers/create', {
        Image: 'busybox',
        Cmd: ['true'],
        HostConfig: { SecurityOpt: opts },
      });
    for (const o of [
      ['seccomp=not json'],
      ['seccomp={"defaultAction":"SCMP_ACT_NOPE"}'],
      [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["nosuchcall"],"action":"SCMP_ACT_ERRNO"}]}',
      ],
      ['seccomp={"syscalls":[]}'],
      ['seccomp=[]'],
      ['seccomp='],
      ['seccomp=/etc/passwd'],
      ['no-new-privileges=maybe'],
      ['nonsense'],
      ['foo=bar'],
      ['apparmor=unconfined'],
      ['seccomp=unconfined', 'seccomp=unconfined'],
    ]) {
      const r = await create(o);
      const id = (r.json as { Id?: string } | undefined)?.Id;
      if (id) {
        await c.api('POST', `/containers/${id}/start`);
        await c.api('GET', `/containers/${id}/json`, undefined, [
          'HostConfig.SecurityOpt',
          'State.Status',
          'State.Error',
        ]);
        await c.api('DELETE', `/containers/${id}?force=1`);
      }
    }
    const all = c.docker(['ps', '-aq'], { quiet: true }).stdout.split('\n').filter(Boolean);
    if (all.length) c.docker(['rm', '-f', ...all], { quiet: true });
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      join(outDir, 'docker-20.10-seccomp.json'),
      JSON.stringify(reference, null, 1) + '\n',
    );
  },
});
