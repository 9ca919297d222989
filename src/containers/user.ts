/**
 * `--user` resolution against the container's own /etc/passwd and /etc/group,
 * with the messages Docker gives. The parsing is pure; `resolveUser` reads files.
 */
import { invalid } from '../common/errors.js';
import { readFileInRoot } from '../kernel/scope.js';
import type { User } from './spec.js';

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 4 && f[0] && !f[0].startsWith('#'))
    .map((f) => ({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]) }));
}

export function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 3 && f[0] && !f[0].startsWith('#'))
    .map((f) => ({
      name: f[0] as string,
      gid: Number(f[2]),
      members: (f[3] ?? '').split(',').filter(Boolean),
    }));
}

const isNum = (s: string) => /^\d+$/.test(s);

/**
 * Resolves "user[:group]" (names or numbers; "" is root) given the passwd and
 * group contents, as runc's GetExecUser and dockerd's getUser: the
 * supplementary groups are the primary one, then, when no group was named,
 * every group listing the user, then `groupAdd` (names or numbers).
 */
export function resolveUserFrom(
  spec: string,
  passwd: string,
  group: string,
  groupAdd: readonly string[] = [],
): User {
  const [u = '', g] = spec.split(':', 2);
  const users = parsePasswd(passwd);
  const groups = parseGroup(group);
  const pw =
    u === ''
      ? users.find((e) => e.uid === 0)
      : users.find((e) => e.name === u || (isNum(u) && e.uid === Number(u)));
  if (!pw && u !== '' && !isNum(u)) {
    throw invalid(`unable to find user ${u}: no matching entries in passwd file`);
  }
  const uid = pw ? pw.uid : Number(u);
  let gid = pw ? pw.gid : 0;
  const explicit = g !== undefined && g !== '';
  if (explicit) {
    const gr = groups.find((e) => e.name === g || (isNum(g) && e.gid === Number(g)));
    if (!gr && !isNum(g))
      throw invalid(`unable to find group ${g}: no matching entries in group file`);
    gid = gr ? gr.gid : Number(g);
  }
  const member = !explicit && pw ? groups.filter((e) => e.members.includes(pw.name)) : [];
  const added = groupAdd.map((a) => {
    const gr = groups.find((e) => e.name === a || (isNum(a) && e.gid === Number(a)));
    if (gr) return gr.gid;
    if (!isNum(a)) throw invalid(`Unable to find group ${a}: no matching entries in group file`);
    return Number(a);
  });
  return { uid, gid, additionalGids: [gid, ...member.map((e) => e.gid), ...added] };
}

/** The most of /etc/passwd or /etc/group read (a file of a hostile image may be any size). */
export const MAX_USER_FILE = 16 << 20;

/**
 * Resolves `spec` (and `--group-add`) against the files in the mounted root
 * filesystem `rootfs`, read inside it (readFileInRoot): an image's
 * /etc/passwd that links out of the root reads as the root's own, and one
 * that is a FIFO or a device is refused (runc would wait on a FIFO for ever
 * when it looks the user up in the container). `rootfs` may be a running
 * container's `/proc/PID/root` (exec, healthcheck probes): the files are
 * reached through descriptors, so a container swapping its /etc meanwhile
 * cannot lead the read to the host's (decision 0049).
 */
export async function resolveUser(
  rootfs: string,
  spec: string,
  groupAdd?: readonly string[] | null,
): Promise<User> {
  const read = (p: string) => {
    try {
      return readFileInRoot(rootfs, p, MAX_USER_FILE) ?? '';
    } catch (e) {
      throw invalid(`unable to find user ${spec || 0}: ${(e as Error).message}`);
    }
  };
  return resolveUserFrom(spec, read('/etc/passwd'), read('/etc/group'), groupAdd ?? []);
}
