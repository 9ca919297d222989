/**
 * The classic builder (`POST /build`): a build's context is unpacked into
 * `<dataRoot>/build/<id>/`, its Dockerfile parsed, then the stages run step
 * by step with Docker 20.10's progress output (`Step 1/3 : FROM busybox`,
 * ` ---> <id>`, `Successfully built <id>`, `Successfully tagged x:latest`).
 * Each step is an image whose parent is the previous step's; the last
 * stage's image gets the tags. Everything a build mounts or writes in its
 * directory is removed when it ends, also when it fails; a directory left by
 * a daemon that died mid-build is removed at the next start.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, invalid, notFound } from '../common/errors.js';
import {
  familiarString,
  fullName,
  parseNormalizedNamed,
  withDefaultTag,
  type NamedRef,
} from '../images/reference.js';
import { mountsUnder, removeTree, unmountAll } from '../kernel/mount/mounts.js';
import { BuildArgs, type ArgOptions } from './buildargs.js';
import { takeDockerfile, unpackContext } from './context.js';
import { dispatch, type Dispatch } from './dispatch.js';
import {
  lineError,
  parseInstruction,
  parseStages,
  type Instruction,
  type Stage,
} from './instructions.js';
import { DockerfileSyntaxError, parseDockerfile } from './parser.js';
import { stageRunConfig } from './runconfig.js';
import { ShellLex } from './shell.js';
import {
  Steps,
  type BuildDeps,
  type BuildOutput,
  type StageState,
  type StepOptions,
} from './steps.js';

/** A build request (the query of `POST /build`, checked). */
export interface BuildRequest extends StepOptions {
  /** The Dockerfile's path in the context. */
  dockerfile: string;
  /** Names the result gets. */
  tags: NamedRef[];
  /** `--build-arg` values. */
  buildArgs: ArgOptions;
  /** `--label`s: LABEL instructions added to the last stage. */
  labels: Record<string, string>;
  /** `--target`: the stage to stop after, or ''. */
  target: string;
}

/** A build whose context is unpacked and whose Dockerfile parsed without errors. */
export interface PreparedBuild {
  /** The build's own directory. */
  dir: string;
  stages: Stage[];
  metaArgs: Array<Instruction & { kind: 'arg' }>;
  escapeToken: string;
  /** Parser warnings, printed before the steps. */
  warnings: string[];
}

const short = (id: string): string => id.replace(/^[^:]*:/, '').slice(0, 12);

/** What a FROM names when the image is not here (Berth has no registry to pull from). */
function noImage(ref: string): BerthError {
  return notFound(
    `pull access denied for ${ref}: Berth has no registry. Import the image instead: \`docker import rootfs.tar ${ref}\`, \`docker load -i image.tar\` or \`berth image import\`; busybox is built in`,
  );
}

export class Builder {
  private constructor(
    private readonly deps: BuildDeps,
    private readonly root: string,
  ) {}

  /** Opens `<dataRoot>/build`, removing what a build killed with the daemon left there. */
  static async open(deps: BuildDeps, dataRoot: string): Promise<Builder> {
    const root = join(dataRoot, 'build');
    for (const m of await mountsUnder(root)) await unmountAll(m);
    await removeTree(root);
    await mkdir(root, { recursive: true, mode: 0o700 });
    return new Builder(deps, root);
  }

  /** Unpacks the context and parses the Dockerfile; errors here are the request's answer. */
  async prepare(body: AsyncIterable<Buffer | string>, req: BuildRequest): Promise<PreparedBuild> {
    const dir = join(this.root, randomBytes(8).toString('hex'));
    await mkdir(dir, { mode: 0o700 });
    try {
      const ctx = join(dir, 'context');
      await unpackContext(body, ctx);
      const df = takeDockerfile(ctx, req.dockerfile || 'Dockerfile');
      let parsed;
      try {
        parsed = parseDockerfile(df.text);
      } catch (e) {
        if (!(e instanceof DockerfileSyntaxError)) throw e;
        throw invalid(
          e.line > 0
            ? lineError(e.line, e.message).message
            : `failed to parse ${df.name}: ${e.message}`,
        );
      }
      let file;
      try {
        file = parseStages(parsed.nodes);
      } catch (e) {
        throw invalid((e as Error).message);
      }
      let stages = file.stages;
      if (req.target) {
        const i = stages.findIndex((s) => s.name === req.target.toLowerCase());
        if (i < 0) throw invalid(`failed to reach build target ${req.target} in Dockerfile`);
        stages = stages.slice(0, i + 1);
      }
      const last = stages[stages.length - 1];
      if (last) {
        for (const key of Object.keys(req.labels).sort()) {
          const pair = { key, value: req.labels[key] as string };
          last.commands.push({
            kind: 'label',
            pairs: [pair],
            noExpand: true,
            code: `LABEL ${key}=${pair.value}`,
            line: 0,
          });
        }
      }
      return {
        dir,
        stages,
        metaArgs: file.metaArgs,
        escapeToken: parsed.escapeToken,
        warnings: parsed.warnings,
      };
    } catch (e) {
      await removeTree(dir).catch(() => undefined);
      throw e;
    }
  }

  /** Runs a prepared build; resolves with the image id once tagged. Always cleans up. */
  async run(
    p: PreparedBuild,
    req: BuildRequest,
    out: BuildOutput,
    signal: AbortSignal,
  ): Promise<string> {
    try {
      if (p.warnings.length > 0) out.stderr(`${p.warnings.join('\n')}\n`);
      const id = await this.steps(p, req, out, signal);
      out.stdout(`Successfully built ${short(id)}\n`);
      for (const t of req.tags) {
        await this.deps.images.tag(id, fullName(t), t.tag);
        out.stdout(`Successfully tagged ${familiarString(t)}\n`);
      }
      return id;
    } finally {
      for (const m of await mountsUnder(p.dir)) await unmountAll(m).catch(() => undefined);
      await removeTree(p.dir).catch(() => undefined);
    }
  }

  private async steps(
    p: PreparedBuild,
    req: BuildRequest,
    out: BuildOutput,
    signal: AbortSignal,
  ): Promise<string> {
    const buildArgs = new BuildArgs(req.buildArgs);
    const shlex = new ShellLex(p.escapeToken);
    const total = p.metaArgs.length + p.stages.reduce((n, s) => n + 1 + s.commands.length, 0);
    let step = 1;
    const print = (code: string): void => {
      out.stdout(`Step ${step++}/${total} : ${code}`);
      out.stdout('\n');
    };
    for (const meta of p.metaArgs) {
      print(meta.code);
      const env = [...buildArgs.allAllowed()].map(([k, v]) => `${k}=${v}`);
      for (const a of meta.args) {
        let key: string;
        let value: string | undefined;
        try {
          key = shlex.processWord(a.key, env);
          value = a.value === undefined ? undefined : shlex.processWord(a.value, env);
        } catch (e) {
          throw invalid((e as Error).message);
        }
        buildArgs.addArg(key, value);
        buildArgs.addMetaArg(key, value);
      }
    }
    const results = new Map<string, string>();
    const flat: string[] = [];
    const steps = new Steps(this.deps, req, out, p.dir, signal);
    let imageId = '';
    for (const stage of p.stages) {
      if (stage.name && results.has(stage.name))
        throw invalid(`${stage.name} stage name already used`);
      const args = buildArgs.clone();
      args.resetAllowed();
      const state: StageState = {
        runConfig: stageRunConfig(undefined),
        imageId: '',
        maintainer: '',
        cmdSet: false,
        stageName: stage.name,
        buildArgs: args,
      };
      const d: Dispatch = {
        state,
        steps,
        shlex,
        contextDir: join(p.dir, 'context'),
        fromImage: (ref) => this.fromImage(ref, results, flat),
      };
      steps.resetCache();
      print(stage.code);
      await this.beginStage(d, stage, buildArgs, results);
      state.runConfig.Image = state.imageId;
      out.stdout(` ---> ${short(state.imageId)}\n`);
      for (const cmd of stage.commands) {
        if (signal.aborted) throw new Error('Build cancelled');
        print(cmd.code);
        await dispatch(d, cmd);
        state.runConfig.Image = state.imageId;
        out.stdout(` ---> ${short(state.imageId)}\n`);
      }
      if (state.imageId) out.aux({ ID: state.imageId });
      buildArgs.mergeReferenced(state.buildArgs);
      if (stage.name) results.set(stage.name, state.imageId);
      flat.push(state.imageId);
      imageId = state.imageId;
    }
    const warning = buildArgs.unusedWarning();
    if (warning) out.stdout(warning);
    if (!imageId) throw invalid('No image was generated. Is your Dockerfile empty?');
    return imageId;
  }

  /** FROM: the base image (a stage, `scratch` or a local image), then its ONBUILD triggers. */
  private async beginStage(
    d: Dispatch,
    stage: Stage,
    buildArgs: BuildArgs,
    results: Map<string, string>,
  ): Promise<void> {
    const meta = [...buildArgs.allMeta()].map(([k, v]) => `${k}=${v}`);
    let name: string;
    try {
      name = d.shlex.processWord(stage.baseName, meta);
    } catch (e) {
      throw invalid((e as Error).message);
    }
    if (name === '') throw invalid(`base name (${stage.baseName}) should not be blank`);
    const platform = stage.platform ? d.shlex.processWord(stage.platform, meta) : '';
    if (platform && !/^linux(\/[a-z0-9_]+)?$/.test(platform)) {
      throw invalid(`failed to parse platform ${platform}: Berth builds linux images only`);
    }
    let id = results.get(name.toLowerCase());
    if (id === undefined && name !== 'scratch') {
      const img = await this.pullIfBuiltin(name, d.steps);
      if (!img) throw noImage(name);
      id = img.id;
    }
    const img = id ? await this.deps.images.resolveOrThrow(id) : undefined;
    d.state.imageId = img?.id ?? '';
    d.state.runConfig = stageRunConfig(img?.config.config);
    const triggers = d.state.runConfig.OnBuild ?? [];
    if (triggers.length === 0) return;
    d.state.runConfig.OnBuild = null;
    d.steps.note(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
    for (const t of triggers) {
      d.state.runConfig.Image = d.state.imageId;
      let ins: Instruction | Stage;
      try {
        const nodes = parseDockerfile(t).nodes;
        if (nodes.length !== 1) throw new Error('onbuild trigger should be a single expression');
        ins = parseInstruction(nodes[0] as (typeof nodes)[number]);
      } catch (e) {
        throw invalid((e as Error).message);
      }
      if ('commands' in ins) throw invalid("FROM isn't allowed as an ONBUILD trigger");
      await dispatch(d, ins);
    }
  }

  /** `COPY --from`: a stage by name or index, else an image. */
  private async fromImage(
    ref: string,
    results: Map<string, string>,
    flat: string[],
  ): Promise<string> {
    const byName = results.get(ref.toLowerCase());
    if (byName !== undefined) return byName;
    if (/^\d+$/.test(ref)) {
      const i = Number(ref);
      if (i === flat.length) throw new Error('refers to current build stage');
      if (i > flat.length) throw new Error('index out of bounds');
      return flat[i] as string;
    }
    const img = await this.deps.images.ensureImage(ref);
    if (!img) throw noImage(ref);
    return img.id;
  }

  /**
   * FROM's image: the one here, or a builtin pulled as dockerd's builder
   * pulls a missing base, its progress in the build stream.
   */
  private async pullIfBuiltin(name: string, steps: Steps) {
    const here = await this.deps.images.resolve(name);
    if (here) return here;
    const pulled = await this.deps.images.pullBuiltin(name, (p) => steps.progress(p));
    if (pulled === 'downloaded') {
      const ref = familiarString(withDefaultTag(parseNormalizedNamed(name)));
      steps.progress({ status: `Status: Downloaded newer image for ${ref}` });
    }
    return pulled ? this.deps.images.resolve(name) : undefined;
  }
}
