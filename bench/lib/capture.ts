/**
 * What the capture scripts (bench/capture-docker-*.ts) share: a recorder that
 * runs the stock docker CLI, commands in lab namespaces and Engine API calls
 * against a reference dockerd and keeps every output, the markdown and JSON
 * transcript writers, long-running lab processes, the sysctl comparison
 * between dockerd's host and an untouched lab host, firewall rule diffs and
 * HTTP probes of containers serving "hello from NAME".
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Lab, LabTarget } from '../../src/lab/lab.js';
import { procStartTime, run, stopProcess, type RunResult } from '../../src/lab/proc.js';
import { stopRefDockerd, terminateRefDockerd, type RefDockerd } from './refdockerd.js';
import { LAB_ROOT } from '../../src/lab/lab.js';
import { diffMachine, snapshotMachine, type MachineSnapshot } from './machine.js';

/** Where an entry ran: a lab host (`h1`, `h2`, …) or the world. */
export type Where = 'world' | `h${number}`;

/** One recorded observation. */
export interface Entry {
  /** Section title it belongs to. */
  section: string;
  /** Where it ran: the docker CLI, a lab namespace, the Engine API, or a computed note. */
  kind: 'docker' | 'api' | 'note' | Where;
  /** The command line, or `METHOD /path` plus the request body for the API. */
  cmd: string;
  /** Exit status, or the HTTP status for the API. */
  status: number | null;
  /** stdout, or the response body (re-indented when it is JSON). */
  stdout: string;
  /** stderr ('' for the API). */
  stderr: string;
  /** Which of several dockerds a docker or API call went to (`h2`); absent with one. */
  on?: string;
}

/** The API version the stock CLI negotiates with dockerd 20.10. */
export const API = '/v1.41';

let interrupted = false;

/** From now on Ctrl-C and SIGTERM make the capture stop between two commands (and clean up). */
export function stopOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => (interrupted = true));
}

/** Throws once Ctrl-C or SIGTERM arrived, so the run stops between two commands. */
export function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

/** `a` as a POSIX shell word (for showing command lines). */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** One member of a parsed JSON body by dotted path (`NetworkSettings.Ports`). */
function member(json: unknown, path: string): unknown {
  let v = json;
  for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k];
  return v;
}

/** Records every call it makes; the scripts' capture steps drive it. */
export class Capture {
  /** Everything observed, in order. */
  readonly entries: Entry[] = [];
  private section = '';
  private label?: string;

  constructor(
    /** The lab the reference dockerd runs in. */
    readonly lab: Lab,
    /** The dockerd the CLI and API calls go to (`use()` sets or switches it). */
    private d: RefDockerd | undefined,
    private readonly cliConfig: string,
  ) {}

  /**
   * Sends the following CLI and API calls to another dockerd; with `label`
   * (`h2`) the transcript says which one each call went to.
   */
  use(d: RefDockerd, label?: string): void {
    this.d = d;
    this.label = label;
  }

  /** Starts a new section of the transcript. */
  sec(title: string): void {
    this.section = title;
    console.log(`== ${title}`);
  }

  private push(e: Omit<Entry, 'section'>): void {
    const on = (e.kind === 'docker' || e.kind === 'api') && this.label ? { on: this.label } : {};
    this.entries.push({ section: this.section, ...e, ...on });
  }

  private dockerd(): RefDockerd {
    if (!this.d) throw new Error('no dockerd to talk to yet');
    return this.d;
  }

  /**
   * Runs the docker CLI against the reference dockerd: the one on PATH, or
   * `bin` (recorded under that path).
   */
  docker(args: string[], opts: { input?: string; quiet?: boolean; bin?: string } = {}): RunResult {
    checkInterrupted();
    const bin = opts.bin ?? 'docker';
    const r = run([bin, ...args], {
      input: opts.input,
      timeout: 120_000,
      env: {
        ...process.env,
        DOCKER_HOST: this.dockerd().env.DOCKER_HOST,
        DOCKER_CONFIG: this.cliConfig,
      },
    });
    if (!opts.quiet) {
      const cmd = [bin, ...args].map(shellQuote).join(' ');
      this.push({
        kind: 'docker',
        cmd: opts.input ? `${cmd}   # stdin: ${JSON.stringify(opts.input)}` : cmd,
        ...r,
      });
    }
    return r;
  }

  /** Runs a command in a lab namespace (`h1` is host 1). */
  ns(where: Where, argv: string[], quiet = false): RunResult {
    checkInterrupted();
    const target: LabTarget = where === 'world' ? 'world' : where;
    const r = this.lab.exec(target, argv, { timeoutMs: 60_000 });
    if (!quiet) this.push({ kind: where, cmd: argv.map(shellQuote).join(' '), ...r });
    return r;
  }

  /**
   * Calls the Engine API on dockerd's socket (API 1.41, as the CLI negotiates).
   * `pick` records only some members of a long body (dotted paths, e.g.
   * `NetworkSettings.Ports`); with several, the record is an object keyed by path.
   */
  async api(
    method: string,
    path: string,
    body?: unknown,
    pick?: string | string[],
  ): Promise<{ status: number; text: string; json: unknown }> {
    checkInterrupted();
    const data = body === undefined ? undefined : JSON.stringify(body);
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.dockerd().socket,
          method,
          path: API + path,
          headers: data ? { 'Content-Type': 'application/json' } : {},
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () =>
            resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on('error', reject);
      req.end(data);
    });
    const picks = pick === undefined ? [] : typeof pick === 'string' ? [pick] : pick;
    let json: unknown;
    let shown = res.text;
    try {
      json = JSON.parse(res.text);
      const shownJson =
        picks.length === 0
          ? json
          : picks.length === 1
            ? member(json, picks[0]!)
            : Object.fromEntries(picks.map((p) => [p, member(json, p)]));
      shown = JSON.stringify(shownJson, null, 2);
    } catch {
      // not JSON (empty 204/200 bodies)
    }
    const only = picks.length ? ` (only ${picks.map((p) => `.${p}`).join(', ')} shown)` : '';
    this.push({
      kind: 'api',
      cmd: `${method} ${API}${path}${only}${data ? `\n${data}` : ''}`,
      status: res.status,
      stdout: shown,
      stderr: '',
    });
    return { ...res, json };
  }

  /** Records something computed by the script (a diff, a summary). */
  note(cmd: string, text: string): void {
    this.push({ kind: 'note', cmd, status: null, stdout: text, stderr: '' });
  }

  /** A sub-heading inside the current section. */
  heading(text: string): void {
    this.note('case', text);
  }
}

/** Text with markdown's emphasis characters escaped (for headings and bold note titles). */
function plain(text: string): string {
  return text.replace(/([*_])/g, '\\$1');
}

function fence(text: string): string {
  const t = text.replace(/\n+$/, '');
  return '```\n' + (t === '' ? '(empty)' : t) + '\n```\n';
}

/** The transcript as markdown: sections, then every entry with its outputs. */
export function markdown(entries: Entry[], header: string): string {
  const out = [header];
  let section = '';
  for (const e of entries) {
    if (e.section !== section) {
      section = e.section;
      out.push(`\n## ${section}\n`);
    }
    const on = e.on ? ` on **${e.on}**` : '';
    if (e.kind === 'api') {
      const [line, body] = e.cmd.split('\n');
      out.push(
        `**API** \`${line}\`${body ? ` body \`${body}\`` : ''}${on} → **HTTP ${e.status}**\n`,
      );
      out.push(fence(e.stdout));
    } else if (e.kind === 'note' && e.cmd === 'case') {
      out.push(`### ${plain(e.stdout)}\n`);
    } else if (e.kind === 'note') {
      out.push(`**${plain(e.cmd)}**\n`);
      out.push(fence(e.stdout));
    } else {
      const where = e.kind === 'docker' ? '' : `[${e.kind}] `;
      out.push(`\`${where}$ ${e.cmd}\`${on} → exit ${e.status}\n`);
      if (e.stdout !== '' || e.stderr === '') out.push(fence(e.stdout));
      if (e.stderr !== '') out.push('stderr:\n' + fence(e.stderr));
    }
  }
  return out.join('\n');
}

/** A long-running process in a lab namespace (a world server, a port holder). */
export interface LabProcess {
  /** The process (stdout/stderr piped and collected). */
  child: ChildProcess;
  /** Kernel start time, so only this process is ever signalled. */
  start: number | undefined;
  /** Everything it printed. */
  output: string[];
}

/** Starts argv in a lab namespace, collecting its output. */
export function labProcess(lab: Lab, where: Where, argv: string[]): LabProcess {
  const child = lab.spawn(where, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  return { child, start: child.pid ? procStartTime(child.pid) : undefined, output };
}

/** Stops a process started by labProcess (SIGTERM, by PID and start time). */
export async function stopLabProcess(p: LabProcess): Promise<void> {
  if (p.child.pid) await stopProcess(p.child.pid, p.start, 'SIGTERM', 2000);
}

/** Debian's docker.io CLI, the 20.10 one (the project's `docker` on PATH is CLI 28). */
export const CLI_2010 = '/usr/bin/docker';

/** The transcript header's line saying which 20.10 CLI `old()` runs. */
export function cliNote(): string {
  return `20.10 CLI: ${CLI_2010} (${run([CLI_2010, '--version']).stdout.trim()})`;
}

/** Runs the 20.10 CLI; recorded as `/usr/bin/docker …`. */
export function old(c: Capture, args: string[]): RunResult {
  return c.docker(args, { bin: CLI_2010 });
}

/** Rule lines of an iptables-save dump (comments and counters dropped). */
export function ruleLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

/** Records the lines only `b` has (+) and only `a` has (-) as a note titled `what`. */
export function lineDiff(c: Capture, what: string, a: string[], b: string[]): void {
  const lines = [
    ...b.filter((l) => !a.includes(l)).map((l) => `+ ${l}`),
    ...a.filter((l) => !b.includes(l)).map((l) => `- ${l}`),
  ];
  c.note(what, lines.join('\n') || '(none)');
}

/** Where a connection is made from: a lab namespace or a container (docker exec). */
export type From = { ns: Where } | { ctr: string };

const fromLabel = (f: From) => ('ns' in f ? `[${f.ns}]` : `container ${f.ctr}`);

/** The client address the serving container's httpd logged for the last request. */
function clientSeen(c: Capture, server: string): string {
  const r = c.docker(['logs', '--tail', '4', server], { quiet: true });
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.includes(': url:'));
  const m = /^\[(?:::ffff:)?([^\]]+)\]:\d+: url:/.exec(lines.pop() ?? '');
  return m?.[1] ?? '?';
}

/**
 * An HTTP GET by busybox nc of a container serving "hello from NAME"; appends
 * "from → to: OK/FAIL …" to `out`, with the client address the container saw.
 */
export function httpGet(c: Capture, from: From, ip: string, port: number, out: string[]): boolean {
  const nc = 'ns' in from ? 'busybox nc' : 'nc';
  const sh = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 8 ${nc} -w 3 ${ip} ${port}`;
  const r =
    'ns' in from ? c.ns(from.ns, ['sh', '-c', sh]) : c.docker(['exec', from.ctr, 'sh', '-c', sh]);
  const body = r.stdout.trim().split('\n').pop() ?? '';
  const ok = r.status === 0 && body.startsWith('hello from ');
  const first = (t: string) => t.trim().split('\n')[0];
  const why = ok
    ? `${body}; it saw the client as ${clientSeen(c, body.slice('hello from '.length))}`
    : `exit ${r.status}${r.stderr.trim() ? `: ${first(r.stderr)}` : ''}` +
      `${r.stdout.trim() ? ` stdout: ${first(r.stdout)}` : ''}`;
  const to = ip.includes(':') ? `[${ip}]` : ip;
  out.push(`${fromLabel(from)} → ${to}:${port}/tcp: ${ok ? 'OK' : 'FAIL'} (${why})`);
  return ok;
}

/** Inspect of one value through the CLI, not recorded (used to build later commands). */
export function val(c: Capture, fmt: string, obj: string): string {
  return c.docker(['inspect', '--format', fmt, obj], { quiet: true }).stdout.trim();
}

function sysctls(c: Capture, where: Where): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of c.ns(where, ['sysctl', '-a'], true).stdout.split('\n')) {
    const i = l.indexOf(' = ');
    if (i > 0 && l.startsWith('net.')) m.set(l.slice(0, i), l.slice(i + 3));
  }
  return m;
}

/**
 * The net.* sysctls dockerd changed in `host`: `baseline` is the same kind of
 * namespace without dockerd. Per-interface keys of interfaces only `host` has
 * (docker0, veths, br-*) are compared with its `default` values instead.
 */
export function sysctlDiff(c: Capture, host: Where = 'h1', baseline: Where = 'h2'): void {
  const base = sysctls(c, baseline);
  const h = sysctls(c, host);
  const perIf = /^net\.(ipv4|ipv6)\.(conf|neigh)\.([^.]+)\.(.+)$/;
  const lines: string[] = [];
  for (const [k, v] of h) {
    const b = base.get(k);
    if (b !== undefined) {
      if (b !== v) lines.push(`${k} = ${v}   (${baseline} without dockerd: ${b})`);
      continue;
    }
    const m = perIf.exec(k);
    const def = m ? h.get(`net.${m[1]}.${m[2]}.default.${m[4]}`) : undefined;
    if (!m) lines.push(`${k} = ${v}   (only in ${host})`);
    else if (def !== undefined && def !== v) lines.push(`${k} = ${v}   (${host} default: ${def})`);
  }
  for (const [k, v] of base) {
    if (!h.has(k) && !perIf.test(k)) lines.push(`${k} only in ${baseline}: ${v}`);
  }
  c.note(
    `net.* sysctls differing between ${host} (dockerd) and ${baseline} (untouched lab host)`,
    lines.join('\n'),
  );
}

/** Versions of the reference tools, one line each. */
export function toolVersions(): string[] {
  return [
    run(['dockerd', '--version']).stdout.trim(),
    run(['docker', '--version']).stdout.trim(),
    run(['containerd', '--version']).stdout.trim(),
    run(['runc', '--version']).stdout.split('\n')[0] ?? '',
    run(['iptables', '--version']).stdout.trim(),
    `kernel ${run(['uname', '-r']).stdout.trim()}`,
  ];
}

/** What writeTranscript puts at the top of the markdown and into the JSON. */
export interface TranscriptInfo {
  /** Markdown title (without `# `). */
  title: string;
  /** The script that made it, e.g. `bench/capture-docker-ports.ts`. */
  script: string;
  /** The lab's name. */
  lab: string;
  /** ISO start time. */
  started: string;
  /** What the machine's own namespace showed changed after cleanup. */
  leaks: string[];
  /** Cleanup problems. */
  problems: string[];
  /** Extra header lines (markdown bullets without `- `). */
  notes?: string[];
}

/** Writes `transcript.md` and `transcript.json` to `outDir`; returns the markdown path. */
export function writeTranscript(outDir: string, info: TranscriptInfo, entries: Entry[]): string {
  mkdirSync(outDir, { recursive: true });
  const versions = toolVersions();
  const header =
    `# ${info.title}\n\n` +
    `Captured ${info.started} – ${new Date().toISOString()} in lab \`${info.lab}\` by ${info.script}.\n\n` +
    [...versions, ...(info.notes ?? [])].map((v) => `- ${v}`).join('\n') +
    `\n- machine namespace after cleanup: ${info.leaks.length ? info.leaks.join('; ') : 'unchanged'}\n`;
  const md = join(outDir, 'transcript.md');
  writeFileSync(md, markdown(entries, header));
  writeFileSync(
    join(outDir, 'transcript.json'),
    JSON.stringify(
      { lab: info.lab, versions, leaks: info.leaks, problems: info.problems, entries },
      null,
      2,
    ) + '\n',
  );
  return md;
}

/**
 * The end every capture shares: destroy the lab, compare the machine's own
 * namespace with `before`, print what cleanup reported, write the transcript
 * (when a capture was started) and return the exit status (1 on a failure, a
 * leak or a cleanup problem).
 */
export async function finishCapture(o: {
  lab: Lab;
  before: MachineSnapshot;
  problems: string[];
  failed: boolean;
  cap?: Capture;
  outDir: string;
  info: Omit<TranscriptInfo, 'lab' | 'leaks' | 'problems'>;
}): Promise<number> {
  try {
    await o.lab.destroy();
  } catch (e) {
    o.problems.push(`lab teardown: ${(e as Error).message}`);
  }
  const leaks = diffMachine(o.before, snapshotMachine(LAB_ROOT));
  for (const p of o.problems) console.error(`cleanup: ${p}`);
  console.log(
    leaks.length === 0
      ? 'machine namespace unchanged (links, iptables, sysctls, fixed paths, mounts)'
      : `LEFT ON THE MACHINE:\n  ${leaks.join('\n  ')}`,
  );
  if (o.cap) {
    const info = { ...o.info, lab: o.lab.name, leaks, problems: o.problems };
    const md = writeTranscript(o.outDir, info, o.cap.entries);
    console.log(`transcript: ${md} (${o.cap.entries.length} entries)`);
  }
  return o.failed || leaks.length > 0 || o.problems.length > 0 ? 1 : 0;
}

/** A capture's output directory: `--out DIR`, else a fresh one under /tmp/berth-capture. */
export function captureOutDir(name: string, argv: string[]): string {
  if (argv[0] === '--out' && argv[1]) return argv[1];
  if (argv.length) throw new Error(`usage: ${name} [--out DIR]`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return `/tmp/berth-capture/${name.replace(/^capture-/, '')}-${stamp}`;
}

/**
 * The reference dockerds a capture runs (usually one at a time; a multi-host
 * capture runs one per host): `spawned` for startRefDockerd, `stop` ends them
 * all first, then cleans up after each and records what that found.
 */
export class DockerdSlot {
  private ds: RefDockerd[] = [];
  constructor(
    private readonly before: MachineSnapshot,
    private readonly problems: string[],
  ) {}

  readonly spawned = (d: RefDockerd): void => {
    this.ds.push(d);
  };

  async stop(): Promise<void> {
    const ds = this.ds;
    this.ds = [];
    const how = await Promise.all(ds.map((d) => terminateRefDockerd(d, this.problems)));
    for (const [i, d] of ds.entries()) {
      const rep = await stopRefDockerd(d, this.before.paths, how[i]);
      console.log(
        `dockerd ${d.pid} stopped by ${rep.stoppedBy}; killed after it: ${rep.killed.join(', ') || 'nothing'}; ` +
          `machine paths removed: ${rep.removedPaths.join(' ') || 'none'}`,
      );
      this.problems.push(...rep.problems);
    }
  }
}
