/**
 * `HostConfig.SecurityOpt`: what a container's `--security-opt` strings ask
 * for, read the way dockerd 20.10 reads them (`key=value`, or the old
 * `key:value`), with its messages for malformed ones. Berth acts on seccomp
 * and no-new-privileges; it applies no AppArmor profile and no SELinux label,
 * so it accepts only the options that ask for none (decision 0016). Pure.
 */
import { invalid } from '../common/errors.js';
import {
  DEFAULT_PROFILE,
  kernelVersion,
  ociSeccomp,
  parseProfile,
  type DockerSeccompProfile,
  type OciSeccomp,
} from './seccomp.js';

export interface SecurityOptions {
  /** The profile to apply: Docker's default, none, or the container's own. */
  seccomp: 'default' | 'unconfined' | DockerSeccompProfile;
  noNewPrivileges: boolean;
}

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function unsupported(opt: string, why: string): never {
  throw invalid(`berth does not support --security-opt ${opt} yet: ${why}`);
}

/** Reads a container's SecurityOpt list; throws a 400 for one Berth cannot honour. */
export function parseSecurityOpts(opts: string[] | null | undefined): SecurityOptions {
  const out: SecurityOptions = { seccomp: 'default', noNewPrivileges: false };
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'disable') continue; // label=disable in its oldest spelling
    const at = opt.includes('=') ? opt.indexOf('=') : opt.indexOf(':');
    if (at < 0) throw invalid(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const key = opt.slice(0, at);
    const value = opt.slice(at + 1);
    switch (key) {
      case 'seccomp':
        if (value === 'unconfined') out.seccomp = 'unconfined';
        else if (value === '' || value === 'builtin') out.seccomp = 'default';
        else out.seccomp = parseProfile(value) ?? 'unconfined';
        break;
      case 'no-new-privileges': {
        const b = parseBool(value);
        if (b === undefined) throw invalid(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        out.noNewPrivileges = b;
        break;
      }
      case 'apparmor':
        if (value !== 'unconfined') {
          unsupported(
            opt,
            'Berth applies no AppArmor profile (only apparmor=unconfined is accepted)',
          );
        }
        break;
      case 'label':
        if (value !== 'disable') {
          unsupported(opt, 'Berth applies no SELinux labels (only label=disable is accepted)');
        }
        break;
      default:
        throw invalid(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}

/**
 * The OCI seccomp object for a container, or undefined for none: a
 * privileged container and `seccomp=unconfined` run without a filter, as
 * with Docker; otherwise the default or the container's profile, resolved
 * for its capabilities, the machine's architecture and kernel.
 */
export function seccompFor(
  s: SecurityOptions,
  t: { privileged: boolean; caps: string[]; arch: string; kernelRelease: string },
): OciSeccomp | undefined {
  if (t.privileged || s.seccomp === 'unconfined') return undefined;
  const profile = s.seccomp === 'default' ? DEFAULT_PROFILE : s.seccomp;
  return ociSeccomp(profile, {
    arch: t.arch,
    caps: t.caps,
    kernel: kernelVersion(t.kernelRelease),
  });
}
