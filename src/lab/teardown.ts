/**
 * Removes everything a lab may have left, in reverse order of what depends on
 * what: daemons, containers, monitors, stray processes, mounts, files,
 * namespaces, and last the state file (so a teardown that is itself killed can
 * be run again). Every step continues past errors and is idempotent; the caller
 * learns what is left from a final check, not from the steps' errors.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, pidsWithCmdline, procStartTime, run, stopProcess, which } from './proc.js';
import { type LabState, LAB_ROOT, stateFile } from './state.js';
import { stopEtcd } from './etcd.js';

/** What a teardown did not manage to remove, plus the errors met on the way. */
export interface TeardownReport {
  /** Things still present after the teardown (empty means clean). */
  leftovers: string[];
  /** Errors of individual steps, for diagnosis. */
  errors: string[];
}

const NETNS_DIR = '/run/netns';

/** Namespaces the lab records, plus any `/run/netns/<name>-*` a crash left unrecorded. */
export function labNamespaces(name: string, state?: LabState): string[] {
  const found = new Set(state?.namespaces ?? []);
  const re = new RegExp(`^${name}-[a-z0-9]+$`);
  try {
    for (const n of readdirSync(NETNS_DIR)) if (re.test(n)) found.add(n);
  } catch {
    // no namespaces at all
  }
  return [...found].sort();
}

/** Mount points at or below `dir`, most recent first (so stacked mounts unwind in order). */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((p): p is string => p !== undefined)
    // /proc/self/mounts escapes space, tab, newline and backslash as octal.
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + '/'));
  return points.reverse();
}

function clockTicks(): number {
  const r = run(['getconf', 'CLK_TCK']);
  const n = Number(r.stdout.trim());
  return r.status === 0 && n > 0 ? n : 100;
}

function bootTimeMs(): number {
  const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
  return m?.[1] ? Number(m[1]) * 1000 : 0;
}

/** True when PID started after `sinceMs` (epoch), i.e. cannot predate the lab. */
function startedAfter(pid: number, sinceMs: number): boolean {
  const start = procStartTime(pid);
  if (start === undefined) return false;
  const startedMs = bootTimeMs() + (start / clockTicks()) * 1000;
  // btime has a one-second resolution.
  return startedMs >= sinceMs - 2000;
}

function execRootsOf(dir: string, state?: LabState): string[] {
  const roots = new Set(state?.execRoots ?? []);
  for (const h of state?.hosts ?? []) roots.add(join(h.dir, 'run'));
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && existsSync(join(dir, e.name, 'run')))
        roots.add(join(dir, e.name, 'run'));
    }
  } catch {
    // no lab dir
  }
  return [...roots];
}

async function killContainers(execRoot: string, sinceMs: number, errors: string[]) {
  const runc = which('runc');
  const root = join(execRoot, 'runc');
  if (runc && existsSync(root)) {
    const ls = run([runc, '--root', root, 'list', '-q']);
    if (ls.status !== 0) errors.push(`runc list in ${root}: ${ls.stderr.trim()}`);
    for (const id of ls.stdout.split('\n').filter(Boolean)) {
      run([runc, '--root', root, 'kill', id, 'KILL']);
      const del = run([runc, '--root', root, 'delete', '-f', id]);
      if (del.status !== 0) errors.push(`runc delete ${id}: ${del.stderr.trim()}`);
    }
  }
  const containers = join(execRoot, 'containers');
  let ids: string[] = [];
  try {
    ids = readdirSync(containers);
  } catch {
    return;
  }
  for (const id of ids) {
    let pid: number;
    try {
      pid = Number(readFileSync(join(containers, id, 'shim.pid'), 'utf8').trim());
    } catch {
      continue;
    }
    // The file holds a bare PID: accept it only for a process younger than the lab.
    if (Number.isInteger(pid) && pid > 1 && startedAfter(pid, sinceMs)) {
      await stopProcess(pid, procStartTime(pid), 'SIGKILL');
    }
  }
}

/** This process and its ancestors: never signalled, whatever their command line says. */
function selfAndAncestors(): Set<number> {
  const out = new Set<number>([process.pid]);
  let pid = process.ppid;
  while (pid > 1 && !out.has(pid)) {
    out.add(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}

async function killStragglers(name: string, dir: string, namespaces: string[], errors: string[]) {
  const spared = selfAndAncestors();
  const pids = new Set<number>();
  for (const ns of namespaces) {
    if (!existsSync(join(NETNS_DIR, ns))) continue;
    const r = run(['ip', 'netns', 'pids', ns]);
    if (r.status !== 0) errors.push(`ip netns pids ${ns}: ${r.stderr.trim()}`);
    for (const p of r.stdout.split('\n').filter(Boolean)) pids.add(Number(p));
  }
  // Monitors and helpers outside the lab's namespaces still name the lab dir.
  for (const p of pidsWithCmdline(dir + '/')) pids.add(p);
  await Promise.all(
    [...pids]
      .filter((p) => Number.isInteger(p) && !spared.has(p))
      .map(async (p) => {
        if (!(await stopProcess(p, procStartTime(p), 'SIGKILL'))) {
          errors.push(`process ${p} of lab ${name} survived SIGKILL`);
        }
      }),
  );
}

function unmountAll(dir: string, errors: string[]): void {
  for (let pass = 0; pass < 5; pass++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) {
      if (run(['umount', p]).status === 0) continue;
      const lazy = run(['umount', '-l', p]);
      if (lazy.status !== 0 && pass === 4) errors.push(`umount -l ${p}: ${lazy.stderr.trim()}`);
    }
  }
}

function removeFiles(dir: string, keep: string, errors: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (p === keep) continue;
    const r = run(['rm', '-rf', '--one-file-system', '--', p]);
    if (r.status !== 0) errors.push(`rm -rf ${p}: ${r.stderr.trim()}`);
  }
}

/**
 * Tears a lab down completely. `state` may be missing (a crash before the
 * first write, or a corrupt file): the lab's namespaces and directory are then
 * found by name.
 */
export async function teardown(name: string, state?: LabState): Promise<TeardownReport> {
  const dir = state?.dir ?? join(LAB_ROOT, name);
  const errors: string[] = [];
  const namespaces = labNamespaces(name, state);
  let sinceMs = Date.parse(state?.created ?? '');
  if (!Number.isFinite(sinceMs)) {
    try {
      sinceMs = statSync(dir).birthtimeMs || statSync(dir).ctimeMs;
    } catch {
      sinceMs = Date.now();
    }
  }

  await Promise.all(
    (state?.daemons ?? []).map(async (d) => {
      if (!(await stopProcess(d.pid, d.start, 'SIGTERM', 5000))) {
        errors.push(`daemon ${d.pid} on ${d.host} did not stop`);
      }
    }),
  );
  // A cluster lab's etcd members, by recorded PID and start time.
  for (const e of await stopEtcd(state?.cluster?.etcd ?? [])) {
    errors.push(`etcd ${e.pid} on ${e.host} did not stop`);
  }
  for (const root of execRootsOf(dir, state)) await killContainers(root, sinceMs, errors);
  await killStragglers(name, dir, namespaces, errors);
  unmountAll(dir, errors);
  removeFiles(dir, stateFile(dir), errors);
  for (const ns of namespaces) {
    if (!existsSync(join(NETNS_DIR, ns))) continue;
    const r = run(['ip', 'netns', 'del', ns]);
    if (r.status !== 0) errors.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
  }
  // The state file goes last, and only when nothing else is left: until then
  // a rerun (or `lab clean`) can still find everything through it.
  const nsLeft = namespaces.filter((ns) => existsSync(join(NETNS_DIR, ns)));
  if (existsSync(dir) && nsLeft.length === 0 && mountsUnder(dir).length === 0) {
    const r = run(['rm', '-rf', '--one-file-system', '--', dir]);
    if (r.status !== 0) errors.push(`rm -rf ${dir}: ${r.stderr.trim()}`);
  }

  const leftovers: string[] = [];
  for (const d of state?.daemons ?? []) {
    if (isAlive(d.pid, d.start)) leftovers.push(`daemon pid ${d.pid}`);
  }
  for (const e of state?.cluster?.etcd ?? []) {
    if (isAlive(e.pid, e.start)) leftovers.push(`etcd pid ${e.pid}`);
  }
  for (const ns of nsLeft) leftovers.push(`namespace ${ns}`);
  for (const m of mountsUnder(dir)) leftovers.push(`mount ${m}`);
  if (existsSync(dir)) leftovers.push(`directory ${dir}`);
  return { leftovers, errors };
}
