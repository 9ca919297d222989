/**
 * berthd's configuration file in dockerd's daemon.json format: the keys of
 * the flags berthd has (dockerd's names), turned into flags and parsed with
 * the command line, so every value is checked in one place. As dockerd: a
 * directive given both ways, or one berthd does not know, stops the daemon
 * before it changes anything; the default file may be missing, a named one
 * may not. Pure.
 */
import { FlagError, parseFlags, type DaemonFlags } from './flags.js';

/** Where berthd looks when no --config-file is given (Docker's is /etc/docker/daemon.json). */
export const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json';

type Kind = 'string' | 'bool' | 'number' | 'list' | 'pools' | 'map';

/** daemon.json key → the flag it stands for, and its JSON type. */
const KEYS: Record<string, [flag: string, kind: Kind]> = {
  hosts: ['--host', 'list'],
  'data-root': ['--data-root', 'string'],
  'exec-root': ['--exec-root', 'string'],
  'default-runtime': ['--runtime', 'string'],
  'log-level': ['--log-level', 'string'],
  debug: ['--debug', 'bool'],
  dns: ['--dns', 'list'],
  'resolv-conf': ['--resolv-conf', 'string'],
  bip: ['--bip', 'string'],
  'default-address-pools': ['--default-address-pool', 'pools'],
  mtu: ['--mtu', 'number'],
  icc: ['--icc', 'bool'],
  'live-restore': ['--live-restore', 'bool'],
  'ip-masq': ['--ip-masq', 'bool'],
  ip: ['--ip', 'string'],
  'host-gateway-ip': ['--host-gateway-ip', 'string'],
  'fixed-cidr': ['--fixed-cidr', 'string'],
  ipv6: ['--ipv6', 'bool'],
  'fixed-cidr-v6': ['--fixed-cidr-v6', 'string'],
  'builtin-cache': ['--builtin-cache', 'string'],
  tls: ['--tls', 'bool'],
  tlsverify: ['--tlsverify', 'bool'],
  tlscacert: ['--tlscacert', 'string'],
  tlscert: ['--tlscert', 'string'],
  tlskey: ['--tlskey', 'string'],
  'cluster-store': ['--cluster-store', 'string'],
  'cluster-advertise': ['--cluster-advertise', 'string'],
  'cluster-store-opts': ['--cluster-store-opt', 'map'],
};

/** The file's directives as flags, and each one's value as the file wrote it, by flag. */
export function configArgs(text: string): { args: string[]; values: Map<string, string> } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FlagError(`invalid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new FlagError('the configuration must be a JSON object');
  }
  const unknown = Object.keys(doc).filter((k) => !(k in KEYS));
  if (unknown.length) {
    throw new FlagError(
      `the following directives don't match any configuration option: ${unknown.join(', ')}`,
    );
  }
  const args: string[] = [];
  const values = new Map<string, string>();
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    const [flag, kind] = KEYS[key]!;
    const bad = () => new FlagError(`invalid value for ${key}: ${JSON.stringify(v)}`);
    if (kind === 'bool') {
      if (typeof v !== 'boolean') throw bad();
      args.push(`${flag}=${v}`);
    } else if (kind === 'string' || kind === 'number') {
      if (typeof v !== (kind === 'string' ? 'string' : 'number')) throw bad();
      args.push(flag, String(v));
    } else if (kind === 'list') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad();
      for (const x of v as string[]) args.push(flag, x);
    } else if (kind === 'map') {
      // dockerd's cluster-store-opts: {"kv.cacertfile": "/path", ...}
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad();
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (typeof x !== 'string') throw bad();
        args.push(flag, `${k}=${x}`);
      }
    } else {
      if (!Array.isArray(v)) throw bad();
      for (const p of v as unknown[]) {
        const { base, size } = (p ?? {}) as { base?: unknown; size?: unknown };
        if (typeof base !== 'string' || typeof size !== 'number') throw bad();
        args.push(flag, `base=${base},size=${size}`);
      }
    }
    values.set(flag, JSON.stringify(v).replace(/^"|"$/g, ''));
  }
  return { args, values };
}

/**
 * The command line `argv` with the configuration file `text` (read from
 * `path`) under it; a directive in both is refused, as dockerd refuses it.
 */
export function withConfigFile(argv: string[], path: string, text: string): DaemonFlags {
  // Each flag already read by the caller (its errors are its own); the whole is checked merged.
  const cmd = parseFlags(argv, { checks: false });
  try {
    const { args, values } = configArgs(text);
    const both = [...values].filter(([flag]) => cmd.given.has(flag));
    if (both.length) {
      const name = (flag: string) => Object.keys(KEYS).find((k) => KEYS[k]![0] === flag);
      throw new FlagError(
        'the following directives are specified both as a flag and in the configuration file: ' +
          both
            .map(([f, v]) => `${name(f)}: (from flag: ${cmd.given.get(f)}, from file: ${v})`)
            .join(', '),
      );
    }
    return parseFlags([...args, ...argv]);
  } catch (e) {
    if (e instanceof FlagError) {
      throw new FlagError(`unable to configure berthd with file ${path}: ${e.message}`);
    }
    throw e;
  }
}
