/**
 * `docker exec`: extra processes in a running container, each under its own
 * shim (so a TTY, output and exit code work the same way as for containers).
 * Exec instances live in memory, as Docker's do.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerDirs, type ContainerPaths } from './paths.js';
import { BerthError, conflict, invalid, notFound } from '../common/errors.js';
import { type Json, obj, optBool, optStr, optStrs } from '../common/validate.js';
import {
  killProcess,
  processStartTime,
  Runtime,
  RuntimeError,
  runtimeMessage,
  shimResize,
  waitExit,
} from '../kernel/runtime/runtime.js';
import { attachOpener, type OpenAttach } from './attach.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from './detach-keys.js';
import { unmountAndRemove } from '../kernel/mount/mounts.js';
import { waitForPath } from '../common/wait.js';
import { processEnv, replaceOrAppendEnv } from './config.js';
import type { ContainerService } from './service.js';
import { parseSecurityOpts } from './security.js';
import { capabilities, processSpec } from './spec.js';
import { checkUlimits, rlimits, specJson } from './resources.js';
import { resolveUser } from './user.js';
import type { LinkedEntry } from './bundle.js';
import { MAX_OUTPUT, timeoutOutput, type ProbeOutcome } from './health.js';
import type { ContainerRecord } from './types.js';

export interface ExecInstance {
  ID: string;
  ContainerID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  OpenStdin: boolean;
  OpenStdout: boolean;
  OpenStderr: boolean;
  CanRemove: boolean;
  /** As dockerd shows them: the base64 of the keys' bytes, "" for the default. */
  DetachKeys: string;
  ProcessConfig: {
    tty: boolean;
    entrypoint: string;
    arguments: string[];
    privileged: boolean;
    user: string;
  };
  /** Not shown: environment, working dir, console size. */
  env: string[];
  workingDir: string;
  consoleSize?: [number, number];
  started: boolean;
  /** Settles once the exit code is recorded (after start). */
  done?: Promise<void>;
  /** The bytes that detach a client from a TTY exec. */
  detachKeys: Buffer;
  /** The process's start time (to kill it only while its PID still names it). */
  startTime?: number;
  /** Killed because its client detached: dockerd records exit code 126. */
  killedOnDetach?: boolean;
}

/**
 * The OCI process of an extra process in the running container `c` (an exec,
 * a healthcheck probe), as dockerd makes it: the container's user unless
 * given, its environment with the links' recomputed (a child may have a new
 * address) and `env` over it, its capabilities and no-new-privileges.
 */
export async function execProcess(
  c: ContainerRecord,
  links: LinkedEntry[],
  p: {
    args: string[];
    user: string;
    env: string[];
    workingDir: string;
    tty: boolean;
    consoleSize?: [number, number];
    privileged: boolean;
  },
): Promise<Record<string, unknown>> {
  const user = await resolveUser(
    `/proc/${c.State.Pid}/root`,
    p.user || c.Config.User,
    c.HostConfig.GroupAdd as string[] | null,
  );
  const env = replaceOrAppendEnv(
    processEnv({
      config: c.Config.Env,
      hostname: c.Config.Hostname,
      tty: p.tty,
      links: links.flatMap((l) => l.env),
    }),
    p.env,
  );
  const caps = capabilities(
    c.HostConfig.CapAdd ?? [],
    c.HostConfig.CapDrop ?? [],
    c.HostConfig.Privileged || p.privileged,
  );
  const proc = processSpec({
    args: p.args,
    env,
    cwd: p.workingDir || c.Config.WorkingDir || '/',
    user,
    tty: p.tty,
    consoleSize: p.consoleSize,
    caps,
    // runc takes this from the process, not the container: without it an
    // exec would drop the container's no-new-privileges. (The seccomp
    // filter runc takes from the container's config.json.)
    noNewPrivileges: parseSecurityOpts(c.HostConfig.SecurityOpt).noNewPrivileges,
  });
  // dockerd starts an exec from the container's process: its rlimits (runc
  // 1.1.5 may then raise the exec's soft nofile limit to the hard one, as
  // with dockerd; it depends on the machine) and OOM score too.
  const ulimits = checkUlimits(c.HostConfig.Ulimits);
  if (ulimits.length) proc.rlimits = rlimits(ulimits);
  if (typeof c.HostConfig.OomScoreAdj === 'number' && c.HostConfig.OomScoreAdj) {
    proc.oomScoreAdj = c.HostConfig.OomScoreAdj;
  }
  return proc;
}

/** What a probe needs besides the container. */
export interface ProbeDeps {
  runtime: Runtime;
  links: LinkedEntry[];
  /** The container's shim directory: the probe's own goes in it. */
  stateDir: string;
  emit(action: string, extra: Record<string, string>): void;
}

/**
 * A healthcheck probe: `argv` run in `c` to its end as dockerd runs one, an
 * exec with its events, the container's user and working directory, stdout
 * and stderr together kept up to MAX_OUTPUT bytes ("..." when cut), killed
 * after `timeoutNs`. A probe that cannot start throws runc's message.
 */
export async function runProbe(
  d: ProbeDeps,
  c: ContainerRecord,
  argv: string[],
  timeoutNs: number,
): Promise<ProbeOutcome> {
  const id = randomBytes(32).toString('hex');
  const line = argv.join(' ');
  d.emit(`exec_create: ${line}`, { execID: id });
  const proc = await execProcess(c, d.links, {
    args: argv,
    user: '',
    env: [],
    workingDir: '',
    tty: false,
    privileged: false,
  });
  const dir = join(d.stateDir, `probe-${id.slice(0, 16)}`);
  await mkdir(dir, { recursive: true });
  try {
    await writeFile(join(dir, 'process.json'), JSON.stringify(proc));
    d.emit(`exec_start: ${line}`, { execID: id });
    const r = await d.runtime.execCapture(c.Id, join(dir, 'process.json'), dir, {
      timeoutMs: timeoutNs / 1e6,
      maxOutput: MAX_OUTPUT,
    });
    const text = r.output.toString('utf8') + (r.truncated ? '...' : '');
    if (!r.started && !r.timedOut) {
      throw new Error(`OCI runtime exec failed: ${runtimeMessage(text)}: unknown`);
    }
    d.emit('exec_die', { execID: id, exitCode: String(r.code) });
    if (r.timedOut) return { exitCode: -1, output: timeoutOutput(timeoutNs) };
    return { exitCode: r.code, output: text };
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

export class ExecService {
  private execs = new Map<string, ExecInstance>();

  private readonly dirs: ContainerDirs;

  constructor(
    private readonly containers: ContainerService,
    private readonly runtime: Runtime,
    roots: ContainerPaths,
  ) {
    this.dirs = new ContainerDirs(roots);
  }

  private stateDir(id: string): string {
    return join(this.dirs.execStateRoot, id.slice(0, 16));
  }

  /** POST /containers/{id}/exec. */
  create(ref: string, body: unknown): string {
    const c = this.containers.get(ref);
    const b = obj(body, 'body');
    const cmd = optStrs(b, 'Cmd') ?? [];
    if (cmd.length === 0) throw invalid('No exec command specified');
    if (c.State.Status === 'restarting') {
      throw conflict(`Container ${c.Id} is restarting, wait until the container is running`);
    }
    if (c.State.Status !== 'running') throw conflict(`Container ${c.Id} is not running`);
    if (c.State.Paused) throw pausedExec(ref);
    const cs = b.ConsoleSize as unknown;
    const keysSpec = optStr(b, 'DetachKeys') ?? '';
    const detachKeys = parseDetachKeys(keysSpec);
    // dockerd's words and status (500) for it.
    if (!detachKeys) throw new BerthError('INTERNAL', `Invalid escape keys (${keysSpec}) provided`);
    const id = randomBytes(32).toString('hex');
    const e: ExecInstance = {
      ID: id,
      ContainerID: c.Id,
      Running: false,
      ExitCode: null,
      Pid: 0,
      OpenStdin: optBool(b, 'AttachStdin') ?? false,
      OpenStdout: optBool(b, 'AttachStdout') ?? false,
      OpenStderr: optBool(b, 'AttachStderr') ?? false,
      CanRemove: false,
      DetachKeys: keysSpec ? detachKeys.toString('base64') : '',
      detachKeys: keysSpec ? detachKeys : DEFAULT_DETACH_KEYS,
      ProcessConfig: {
        tty: optBool(b, 'Tty') ?? false,
        entrypoint: cmd[0] as string,
        arguments: cmd.slice(1),
        privileged: optBool(b, 'Privileged') ?? false,
        user: optStr(b, 'User') ?? '',
      },
      env: optStrs(b, 'Env') ?? [],
      workingDir: optStr(b, 'WorkingDir') ?? '',
      consoleSize: Array.isArray(cs) && cs.length === 2 ? (cs as [number, number]) : undefined,
      started: false,
    };
    if (e.workingDir && !e.workingDir.startsWith('/')) {
      throw invalid(
        `the working directory '${e.workingDir}' is invalid, it needs to be an absolute path`,
      );
    }
    this.execs.set(id, e);
    this.containers.emit(c, `exec_create: ${cmd.join(' ')}`, { execID: id });
    return id;
  }

  /** The exec instance, or 404 `No such exec instance: id`. */
  get(id: string): ExecInstance {
    const e =
      this.execs.get(id) ??
      [...this.execs.values()].find((x) => x.ID.startsWith(id) && id.length >= 12);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return e;
  }

  /** GET /exec/{id}/json, in Docker's shape. */
  inspect(id: string): Json {
    const e = this.get(id);
    const {
      env: _env,
      workingDir: _w,
      consoleSize: _c,
      started: _s,
      done: _d,
      detachKeys: _k,
      startTime: _t,
      killedOnDetach: _x,
      ...shown
    } = e;
    // dockerd's ProcessConfig.user is omitempty.
    const { user, ...pc } = e.ProcessConfig;
    return { ...shown, ProcessConfig: user ? e.ProcessConfig : pc, ExitCode: e.ExitCode };
  }

  /**
   * Starts the process. With `attached`, the shim waits for the first attach
   * client (`onAttachable` is called with the opener of its attach
   * connection) before running it.
   */
  async start(
    id: string,
    opts: { detach: boolean; tty?: boolean; onAttachable?: (open: OpenAttach) => void },
  ): Promise<void> {
    const e = this.get(id);
    if (e.started) throw conflict(`Error: Exec command ${e.ID} is already running`);
    const c = this.containers.get(e.ContainerID);
    if (c.State.Status !== 'running') throw conflict(`Container ${c.Id} is not running`);
    if (c.State.Paused) throw pausedExec(c.Id);
    e.started = true;
    const tty = opts.tty ?? e.ProcessConfig.tty;
    const proc = await execProcess(c, this.containers.networking.linksOf(c), {
      args: [e.ProcessConfig.entrypoint, ...e.ProcessConfig.arguments],
      user: e.ProcessConfig.user,
      env: e.env,
      workingDir: e.workingDir,
      tty,
      consoleSize: e.consoleSize,
      privileged: e.ProcessConfig.privileged,
    });
    const dir = this.stateDir(e.ID);
    await unmountAndRemove(dir);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'process.json'), specJson(proc));
    const attached = !opts.detach && !!opts.onAttachable;
    const launching = this.runtime.exec(c.Id, join(dir, 'process.json'), dir, {
      tty,
      stdin: e.OpenStdin,
      stdinOnce: e.OpenStdin,
      waitAttach: attached,
    });
    if (attached) {
      await waitForPath(join(dir, 'attach.sock'));
      opts.onAttachable?.(attachOpener(dir));
    }
    try {
      e.Pid = await launching;
    } catch (err) {
      e.ExitCode = 126;
      if (err instanceof RuntimeError) {
        const msg = err.message;
        const code = /executable file not found|no such file or directory/.test(msg) ? 127 : 126;
        e.ExitCode = code;
        throw new BerthError('INVALID_ARGUMENT', `OCI runtime exec failed: ${msg}: unknown`);
      }
      throw err;
    }
    e.Running = true;
    e.startTime = processStartTime(e.Pid);
    this.containers.emit(
      c,
      `exec_start: ${[e.ProcessConfig.entrypoint, ...e.ProcessConfig.arguments].join(' ')}`,
      {
        execID: e.ID,
      },
    );
    e.done = waitExit(dir).then(async (st) => {
      e.Running = false;
      e.ExitCode = e.killedOnDetach ? 126 : (st?.code ?? 126);
      e.Pid = 0;
      this.containers.emit(c, 'exec_die', { execID: e.ID, exitCode: String(e.ExitCode) });
      // The exit code is kept in memory for inspect; the shim's directory can go.
      void unmountAndRemove(dir).catch(() => undefined);
    });
  }

  /**
   * A client detached from the exec's TTY: as dockerd 20.10, the process is
   * killed (the container runs on) and its exit code is 126. Resolves once
   * that is recorded.
   */
  async killOnDetach(id: string): Promise<void> {
    const e = this.get(id);
    if (!e.Running || !e.Pid) return;
    e.killedOnDetach = true;
    killProcess(e.Pid, e.startTime, 'SIGKILL');
    await e.done;
  }

  /** POST /exec/{id}/resize: the pseudo-terminal of a running exec's process (else nothing). */
  async resize(id: string, h: number, w: number): Promise<void> {
    const e = this.get(id);
    if (e.Running) await shimResize(this.stateDir(e.ID), h, w).catch(() => undefined);
  }

  /** Drops exec records of a container (when it is removed). */
  forget(containerId: string): void {
    for (const [id, e] of this.execs) if (e.ContainerID === containerId) this.execs.delete(id);
  }
}

/** dockerd's 409 for an exec into a paused container (`ref` as the client named it). */
function pausedExec(ref: string): Error {
  return conflict(`Container ${ref} is paused, unpause the container before exec`);
}
