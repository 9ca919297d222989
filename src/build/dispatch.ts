/**
 * One instruction of a stage, as Docker 20.10's classic builder dispatches
 * it: words expanded with the stage's environment and build args, the run
 * config changed, then the step committed: metadata instructions make an
 * image without a layer (through a container that never runs, as Docker's),
 * WORKDIR/COPY/ADD change files through an overlay mount of the image, RUN
 * runs a container. Every step first asks the cache.
 */
import { posix } from 'node:path';
import { hasCode, invalid } from '../common/errors.js';
import { type Identity, mkdirAll, normalizeDest, parseChown, performCopy } from './copy.js';
import { findSources, sourcesHash } from './context.js';
import { exposedPorts, goHealthcheck, goList, goQuoteList } from './goformat.js';
import type { Instruction } from './instructions.js';
import { commentCmd, commentCmdString, shellOf, withChanges, type RunConfig } from './runconfig.js';
import { resolveInScope } from '../kernel/scope.js';
import type { ShellLex } from './shell.js';
import { StepError, type StageState, type Steps } from './steps.js';
import type { BuildArgs } from './buildargs.js';

/** What a dispatcher works with. */
export interface Dispatch {
  state: StageState;
  steps: Steps;
  shlex: ShellLex;
  /** The unpacked build context. */
  contextDir: string;
  /** The image a `COPY --from` value names (a stage name or index, or an image). */
  fromImage(ref: string): Promise<string>;
}

const BUILDKIT_ONLY = (flag: string): string =>
  `the --${flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled`;

const SIGNALS = new Set(
  'ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ'.split(
    ' ',
  ),
);

/** The environment words are expanded with: the config's env, then the allowed build args. */
function envOf(s: StageState): string[] {
  const env = s.runConfig.Env ?? [];
  return [...env, ...s.buildArgs.filterAllowed(env)];
}

/** Expands the words of the instructions that take variables (Docker's Expand). */
function expand(ins: Instruction, lex: ShellLex, env: string[]): Instruction {
  const w = (s: string): string => lex.processWord(s, env);
  try {
    switch (ins.kind) {
      case 'env':
        return { ...ins, pairs: ins.pairs.map((p) => ({ key: w(p.key), value: w(p.value) })) };
      case 'label':
        if (ins.noExpand) return ins;
        return { ...ins, pairs: ins.pairs.map((p) => ({ key: w(p.key), value: w(p.value) })) };
      case 'add':
      case 'copy':
        return { ...ins, chown: w(ins.chown), srcs: ins.srcs.map(w), dest: w(ins.dest) };
      case 'workdir':
        return { ...ins, path: w(ins.path) };
      case 'user':
        return { ...ins, user: w(ins.user) };
      case 'volume':
        return { ...ins, volumes: ins.volumes.map(w) };
      case 'stopsignal':
        return { ...ins, signal: w(ins.signal) };
      case 'arg':
        return {
          ...ins,
          args: ins.args.map((a) => ({
            key: w(a.key),
            ...(a.value !== undefined ? { value: w(a.value) } : {}),
          })),
        };
      default:
        return ins;
    }
  } catch (e) {
    throw invalid((e as Error).message);
  }
}

/** Docker's `commit` of a metadata step: a container that never runs, an image with no layer. */
async function commitMeta(d: Dispatch, comment: string): Promise<void> {
  const cfg = withChanges(d.state.runConfig, { Cmd: commentCmd(d.state.runConfig, comment) });
  const { hit, key } = await d.steps.probe(d.state, cfg);
  if (hit) return;
  const id = await d.steps.createContainer(d.state, cfg);
  const shown = id ? withChanges(cfg, { Hostname: id.slice(0, 12) }) : cfg;
  await d.steps.commit(d.state, { containerConfig: shown, containerId: id, key });
}

/** `|N K=V ...` in front of RUN's command: build args become part of its cache key. */
export function prependEnvOnCmd(args: BuildArgs, vars: string[], cmd: string[]): string[] {
  const keep = vars.filter((v) => args.isReferencedOrNotBuiltin(v.split('=', 1)[0] as string));
  keep.sort();
  return [`|${keep.length}`, ...keep, ...cmd];
}

/** The WORKDIR after `requested` (relative to the current one; absolute kept as written). */
export function normalizeWorkdir(current: string, requested: string): string {
  if (requested === '') throw invalid('cannot normalize nothing');
  return requested.startsWith('/') ? requested : posix.join('/', current, requested);
}

async function workdir(d: Dispatch, path: string): Promise<void> {
  const rc = d.state.runConfig;
  rc.WorkingDir = normalizeWorkdir(rc.WorkingDir, path);
  const cfg = withChanges(rc, { Cmd: commentCmdString(rc, `WORKDIR ${rc.WorkingDir}`) });
  const { hit, key } = await d.steps.probe(d.state, cfg);
  if (hit) return;
  const id = await d.steps.createContainer(d.state, cfg);
  const m = await d.steps.mount(d.state.imageId);
  try {
    const dir = resolveInScope(m.rootfs, rc.WorkingDir);
    try {
      mkdirAll(m.rootfs, dir, { uid: 0, gid: 0 });
    } catch (e) {
      if (!hasCode(e, 'INVALID_ARGUMENT')) throw e;
      throw invalid(`Cannot mkdir: ${rc.WorkingDir} is not a directory`);
    }
    await m.unmount();
    const shown = id ? withChanges(cfg, { Hostname: id.slice(0, 12) }) : cfg;
    await d.steps.commit(d.state, { containerConfig: shown, containerId: id, upper: m.upper, key });
  } finally {
    await m.remove();
  }
}

const isURL = (s: string): boolean => /^https?:\/\//i.test(s);

async function copy(d: Dispatch, ins: Instruction & { kind: 'add' | 'copy' }): Promise<void> {
  if (ins.chmod) throw invalid(BUILDKIT_ONLY('chmod'));
  const name = ins.kind.toUpperCase();
  const rc = d.state.runConfig;
  let from: Awaited<ReturnType<Steps['mount']>> | undefined;
  try {
    let root = d.contextDir;
    if (ins.from) {
      let id: string;
      try {
        id = await d.fromImage(ins.from);
      } catch (e) {
        throw invalid(`invalid from flag value ${ins.from}: ${(e as Error).message}`);
      }
      from = await d.steps.mount(id);
      root = from.rootfs;
    }
    let infos;
    try {
      const url = ins.srcs.find(isURL);
      if (url && ins.kind === 'copy') throw new Error("source can't be a URL for COPY");
      if (url) {
        throw new Error(
          `cannot download ${url}: Berth has no network access for ADD; download the file into the build context and ADD it from there`,
        );
      }
      infos = findSources(root, ins.srcs, !ins.from);
    } catch (e) {
      throw invalid(`${name} failed: ${(e as Error).message}`);
    }
    if (infos.length > 1 && !ins.dest.endsWith('/')) {
      throw invalid(
        `When using ${name} with more than one source file, the destination must be a directory and end with a /`,
      );
    }
    const chown = ins.chown ? `--chown=${ins.chown}` : '';
    const comment = `${name} ${chown}${sourcesHash(infos)} in ${ins.dest} `;
    const cfg = withChanges(rc, { Cmd: commentCmdString(rc, comment) });
    const { hit, key } = await d.steps.probe(d.state, cfg);
    if (hit) return;
    const m = await d.steps.mount(d.state.imageId);
    try {
      let identity: Identity | undefined = { uid: 0, gid: 0 };
      if (ins.chown) identity = parseChown(m.rootfs, ins.chown);
      else if (ins.from) identity = undefined;
      try {
        await performCopy(m.rootfs, {
          sources: infos,
          dest: normalizeDest(rc.WorkingDir, ins.dest),
          identity,
          unpackArchives: ins.kind === 'add',
          scratch: await d.steps.scratchDir(),
        });
      } catch (e) {
        throw invalid(`failed to copy files: ${(e as Error).message}`);
      }
      await m.unmount();
      await d.steps.commit(d.state, { containerConfig: cfg, upper: m.upper, key });
    } finally {
      await m.remove();
    }
  } finally {
    await from?.remove();
  }
}

async function run(d: Dispatch, ins: Instruction & { kind: 'run' }): Promise<void> {
  if (ins.flagsUsed.length > 0) throw invalid(BUILDKIT_ONLY(ins.flagsUsed[0] as string));
  const s = d.state;
  const rc = s.runConfig;
  const cmd = ins.prependShell ? [...shellOf(rc), ...ins.cmdLine] : ins.cmdLine;
  const args = s.buildArgs.filterAllowed(rc.Env ?? []);
  const saveCmd = args.length > 0 ? prependEnvOnCmd(s.buildArgs, args, cmd) : cmd;
  const noEntrypoint = saveCmd.length > 0 ? { Entrypoint: null } : {};
  const probe = withChanges(rc, { Cmd: saveCmd, ...noEntrypoint });
  const { hit, key } = await d.steps.probe(s, probe);
  if (hit) return;
  if (!s.imageId) {
    throw invalid(
      `OCI runtime create failed: exec: "${cmd[0] ?? ''}": stat ${cmd[0] ?? ''}: no such file or directory: unknown`,
    );
  }
  const runCfg: RunConfig = withChanges(rc, {
    Cmd: cmd,
    Env: [...(rc.Env ?? []), ...args],
    ...(saveCmd.length > 0 ? { Entrypoint: [''] } : {}),
    Healthcheck: { Test: ['NONE'] },
  });
  const id = (await d.steps.createContainer(s, runCfg)) as string;
  const code = await d.steps.runContainer(id);
  if (code !== 0) {
    throw new StepError(`The command '${cmd.join(' ')}' returned a non-zero code: ${code}`, code);
  }
  await d.steps.commit(s, {
    containerConfig: probe,
    containerId: id,
    upper: d.steps.upperOf(id),
    key,
  });
}

/** Dispatches one instruction; `--rm`/`--force-rm` apply after it, as Docker's defer does. */
export async function dispatch(d: Dispatch, raw: Instruction): Promise<void> {
  const env = envOf(d.state);
  const ins = expand(raw, d.shlex, env);
  let ok = false;
  try {
    await dispatchExpanded(d, ins, env);
    ok = true;
  } finally {
    await d.steps.afterStep(ok);
  }
}

async function dispatchExpanded(d: Dispatch, ins: Instruction, env: string[]): Promise<void> {
  const s = d.state;
  const rc = s.runConfig;
  switch (ins.kind) {
    case 'env': {
      const list = [...(rc.Env ?? [])];
      for (const { key, value } of ins.pairs) {
        const i = list.findIndex((e) => e.split('=', 1)[0] === key);
        if (i >= 0) list[i] = `${key}=${value}`;
        else list.push(`${key}=${value}`);
      }
      rc.Env = list;
      return commitMeta(d, `ENV ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
    }
    case 'label':
      rc.Labels = { ...(rc.Labels ?? {}) };
      for (const p of ins.pairs) rc.Labels[p.key] = p.value;
      return commitMeta(d, `LABEL ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
    case 'maintainer':
      s.maintainer = ins.maintainer;
      return commitMeta(d, `MAINTAINER ${ins.maintainer}`);
    case 'add':
    case 'copy':
      return copy(d, ins);
    case 'onbuild':
      rc.OnBuild = [...(rc.OnBuild ?? []), ins.expression];
      return commitMeta(d, `ONBUILD ${ins.expression}`);
    case 'workdir':
      return workdir(d, ins.path);
    case 'run':
      return run(d, ins);
    case 'cmd': {
      const cmd = ins.prependShell ? [...shellOf(rc), ...ins.cmdLine] : ins.cmdLine;
      rc.Cmd = cmd;
      await commitMeta(d, `CMD ${goQuoteList(cmd)}`);
      if (ins.cmdLine.length > 0) s.cmdSet = true;
      return;
    }
    case 'entrypoint': {
      const cmd = ins.empty
        ? null
        : ins.prependShell
          ? [...shellOf(rc), ...ins.cmdLine]
          : ins.cmdLine;
      rc.Entrypoint = cmd && cmd.length > 0 ? cmd : null;
      if (!s.cmdSet) rc.Cmd = null;
      return commitMeta(d, `ENTRYPOINT ${goQuoteList(rc.Entrypoint)}`);
    }
    case 'healthcheck':
      if (rc.Healthcheck && rc.Healthcheck.Test.length > 0 && rc.Healthcheck.Test[0] !== 'NONE') {
        d.steps.note(`Note: overriding previous HEALTHCHECK: ${goList(rc.Healthcheck.Test)}\n`);
      }
      rc.Healthcheck = ins.health;
      return commitMeta(d, `HEALTHCHECK ${goHealthcheck(ins.health)}`);
    case 'expose': {
      const ports = ins.ports.flatMap((p) => d.shlex.processWords(p, env));
      rc.ExposedPorts = { ...(rc.ExposedPorts ?? {}) };
      try {
        for (const p of ports) for (const k of exposedPorts(p)) rc.ExposedPorts[k] = {};
      } catch (e) {
        throw invalid((e as Error).message);
      }
      return commitMeta(d, `EXPOSE ${ports.join(' ')}`);
    }
    case 'user':
      rc.User = ins.user;
      return commitMeta(d, `USER ${ins.user}`);
    case 'volume':
      rc.Volumes = { ...(rc.Volumes ?? {}) };
      for (const v of ins.volumes) {
        if (v === '') throw invalid('VOLUME specified can not be an empty string');
        rc.Volumes[v] = {};
      }
      return commitMeta(d, `VOLUME ${goList(ins.volumes)}`);
    case 'stopsignal': {
      const sig = ins.signal.toUpperCase().replace(/^SIG/, '');
      if (!/^\d+$/.test(ins.signal) && !SIGNALS.has(sig))
        throw invalid(`Invalid signal: ${ins.signal}`);
      rc.StopSignal = ins.signal;
      return commitMeta(d, `STOPSIGNAL ${ins.signal}`);
    }
    case 'arg': {
      for (const a of ins.args) s.buildArgs.addArg(a.key, a.value);
      const words = ins.args.map((a) => (a.value !== undefined ? `${a.key}=${a.value}` : a.key));
      return commitMeta(d, `ARG ${words.join(' ')}`);
    }
    case 'shell':
      rc.Shell = ins.shell;
      return commitMeta(d, `SHELL ${goList(ins.shell)}`);
  }
}
