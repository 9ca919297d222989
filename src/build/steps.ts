/**
 * What a build step does to the machine, for the dispatchers: cache probes,
 * the step's container (created through the container service, run with its
 * output streamed, removed as `--rm`/`--force-rm` say), overlay mounts of an
 * image for COPY/ADD/WORKDIR, and the commit of the step's image through the
 * image store (the changed files as a layer tar, diff.ts).
 */
import type { ProgressLine } from '../images/progress.js';
import { mkdir } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { messageOf } from '../common/errors.js';
import type { ContainerService, PendingAttach } from '../containers/service.js';
import type { ImageStore } from '../images/store.js';
import { mountOverlay, removeTree, unmountAll } from '../kernel/mount/mounts.js';
import type { BuildArgs } from './buildargs.js';
import type { BuildCache } from './cache.js';
import { diffTar, isEmptyDir } from './diff.js';
import { cacheKey, childImageConfig, withChanges, type RunConfig } from './runconfig.js';

/** Where a build's progress goes (each call is one `{"stream": ...}` line). */
export interface BuildOutput {
  /** Progress and the steps' standard output. */
  stdout(text: string): void;
  /** The steps' standard error (Docker colours it red). */
  stderr(text: string): void;
  /** An out-of-band value (`{"ID": "sha256:..."}` after each stage). */
  aux(value: unknown): void;
  /** A pull's progress line (a FROM of a builtin not yet here), as `docker pull` streams it. */
  progress(line: ProgressLine): void;
}

/** The daemon parts a build uses. */
export interface BuildDeps {
  images: ImageStore;
  containers: ContainerService;
  cache: BuildCache;
  /** Recorded as the images' `docker_version`. */
  version: string;
}

/** The build options the steps need. */
export interface StepOptions {
  noCache: boolean;
  /** Remove the containers of successful steps. */
  rm: boolean;
  /** Remove every step's container, also a failed one. */
  forceRm: boolean;
  /** RUN containers' network (`default` = the bridge). */
  networkMode: string;
  /** `--add-host` entries for RUN containers. */
  extraHosts: string[];
}

/** The state of the stage being built. */
export interface StageState {
  /** The config the next step starts from. */
  runConfig: RunConfig;
  /** The current image ('' before anything was committed on `scratch`). */
  imageId: string;
  /** MAINTAINER. */
  maintainer: string;
  /** Whether CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** `AS name`. */
  stageName: string;
  buildArgs: BuildArgs;
}

/** An overlay of an image's layers with a fresh upper directory. */
export interface BuildMount {
  /** Where the image's files are seen and changed. */
  rootfs: string;
  /** What changed. */
  upper: string;
  /** Unmounts (idempotent). */
  unmount(): Promise<void>;
  /** Unmounts and removes every directory of the mount. */
  remove(): Promise<void>;
}

/** How a step's image is committed. */
export interface CommitRequest {
  /** The config the step ran with (`container_config`). */
  containerConfig: RunConfig;
  /** The step's container, if it had one. */
  containerId?: string;
  /** Changed files, if the step changed any. */
  upper?: string;
  /** The cache key the image is recorded under. */
  key: string;
}

/** A step's failure that carries an exit code for the client (`RUN` returned non-zero). */
export class StepError extends Error {
  constructor(
    message: string,
    /** The code the docker CLI exits with. */
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export class Steps {
  private cacheBusted = false;
  private readonly tmpContainers = new Set<string>();
  private seq = 0;

  constructor(
    private readonly deps: BuildDeps,
    private readonly opts: StepOptions,
    private readonly out: BuildOutput,
    /** The build's scratch directory. */
    private readonly dir: string,
    private readonly signal: AbortSignal,
  ) {}

  /** A line of the builder's own (notes, warnings). */
  note(text: string): void {
    this.out.stdout(text);
  }

  /** A pull's progress line, as the build stream carries it. */
  progress(line: ProgressLine): void {
    this.out.progress(line);
  }

  /** A new stage probes the cache again. */
  resetCache(): void {
    this.cacheBusted = false;
  }

  /** Looks the step up in the cache; on a hit the stage moves to the cached image. */
  async probe(state: StageState, probe: RunConfig): Promise<{ hit: boolean; key: string }> {
    const key = cacheKey(state.imageId, probe);
    if (this.opts.noCache || this.cacheBusted) return { hit: false, key };
    const id = await this.deps.cache.get(key);
    if (!id) {
      this.cacheBusted = true;
      return { hit: false, key };
    }
    this.out.stdout(' ---> Using cache\n');
    state.imageId = id;
    return { hit: true, key };
  }

  /** Creates the step's container from the current image (none on an empty `scratch`). */
  async createContainer(state: StageState, config: RunConfig): Promise<string | undefined> {
    if (!state.imageId) return undefined;
    // The step's VOLUMEs are the image's (merged at create): anonymous volumes
    // a RUN's writes go into and are lost with, as dockerd's classic builder.
    const { Volumes: _volumes, ...rest } = config;
    const body = {
      ...rest,
      Image: state.imageId,
      HostConfig: { NetworkMode: this.opts.networkMode, ExtraHosts: this.opts.extraHosts },
    };
    const { Id } = await this.deps.containers.create(body);
    this.tmpContainers.add(Id);
    this.out.stdout(` ---> Running in ${Id.slice(0, 12)}\n`);
    return Id;
  }

  /** The upper directory of a container's root filesystem (its changes). */
  upperOf(containerId: string): string {
    return this.deps.containers.upperDir(containerId);
  }

  /** Runs a created container, streaming its output; resolves with its exit code. */
  async runContainer(id: string): Promise<number> {
    const { containers } = this.deps;
    let sock: Socket | undefined;
    let drained: Promise<void> = Promise.resolve();
    let ready: PendingAttach = () => undefined;
    const attached = new Promise<void>((resolve) => {
      ready = (open) => {
        void open({ stdin: false, stdout: true, stderr: true })
          .then((s) => {
            sock = s;
            drained = this.stream(s);
          })
          .catch(() => undefined)
          .finally(resolve);
      };
      containers.whenAttachable(id, ready);
    });
    const exited = containers.wait(id, 'next-exit');
    const kill = (): void => void containers.kill(id).catch(() => undefined);
    this.signal.addEventListener('abort', kill);
    try {
      await containers.start(id);
      await attached;
      const code = await exited;
      if (this.signal.aborted) throw new Error('Build cancelled');
      // the shim closes the attach socket at exit; do not wait forever for it
      await Promise.race([drained, new Promise((r) => setTimeout(r, 2000))]);
      return code;
    } finally {
      this.signal.removeEventListener('abort', kill);
      containers.dropPendingAttach(id, ready);
      (sock as Socket | undefined)?.destroy();
    }
  }

  /** Copies a shim's multiplexed output to the build output until the socket closes. */
  private stream(s: Socket): Promise<void> {
    const decoders = { 1: new StringDecoder('utf8'), 2: new StringDecoder('utf8') };
    let buf: Buffer = Buffer.alloc(0);
    return new Promise((resolve) => {
      s.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= 8) {
          const len = buf.readUInt32BE(4);
          if (buf.length < 8 + len) break;
          const kind = buf[0] === 2 ? 2 : 1;
          const text = decoders[kind].write(buf.subarray(8, 8 + len));
          buf = buf.subarray(8 + len);
          if (text === '') continue;
          if (kind === 2) this.out.stderr(text);
          else this.out.stdout(text);
        }
      });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
  }

  /** A fresh scratch directory inside the build's own. */
  async scratchDir(): Promise<string> {
    const d = `${this.dir}/s${++this.seq}`;
    await mkdir(d, { recursive: true });
    return d;
  }

  /** Mounts an image's layers (none for `scratch`) over a fresh upper directory. */
  async mount(imageId: string): Promise<BuildMount> {
    const dir = `${this.dir}/m${++this.seq}`;
    const [rootfs, upper, work, empty] = ['merged', 'upper', 'work', 'empty'].map(
      (d) => `${dir}/${d}`,
    );
    for (const d of [rootfs, upper, work, empty]) await mkdir(d as string, { recursive: true });
    const img = imageId ? await this.deps.images.resolveOrThrow(imageId) : undefined;
    const lower = img?.layerDirs.length ? img.layerDirs : [empty as string];
    await mountOverlay(lower, upper as string, work as string, rootfs as string);
    const unmount = (): Promise<void> => unmountAll(rootfs as string);
    return {
      rootfs: rootfs as string,
      upper: upper as string,
      unmount,
      remove: async () => {
        await unmount();
        await removeTree(dir);
      },
    };
  }

  /** Commits the stage's current config as the step's image and records it in the cache. */
  async commit(state: StageState, c: CommitRequest): Promise<void> {
    const parent = state.imageId ? await this.deps.images.resolveOrThrow(state.imageId) : undefined;
    const upper = c.upper;
    const layer = upper && !isEmptyDir(upper) ? () => diffTar(upper) : undefined;
    const id = await this.deps.images.commitChild({
      parent: state.imageId || undefined,
      layer,
      configFor: (diffId) => {
        const config = childImageConfig(parent?.config, {
          config: withChanges(state.runConfig, {}),
          containerConfig: c.containerConfig,
          containerId: c.containerId ?? '',
          diffId,
          author: state.maintainer,
          created: new Date().toISOString(),
          version: this.deps.version,
        });
        return Buffer.from(JSON.stringify(config));
      },
    });
    state.imageId = id;
    await this.deps.cache.put(c.key, id);
  }

  /** Removes the containers of the steps so far, printing Docker's lines. */
  async removeContainers(): Promise<void> {
    for (const id of [...this.tmpContainers]) {
      try {
        // With its anonymous volumes, as dockerd's builder (RemoveVolume).
        await this.deps.containers.remove(id, true, true);
      } catch (e) {
        this.out.stdout(
          `Error removing intermediate container ${id.slice(0, 12)}: ${messageOf(e)}\n`,
        );
        return;
      }
      this.tmpContainers.delete(id);
      this.out.stdout(`Removing intermediate container ${id.slice(0, 12)}\n`);
    }
  }

  /**
   * After each step: `--force-rm` removes always, `--rm` when the step
   * succeeded, and a cancelled build (the client went away) removes what it
   * killed, as Docker's.
   */
  async afterStep(ok: boolean): Promise<void> {
    if (this.opts.forceRm || (this.opts.rm && ok) || this.signal.aborted) {
      await this.removeContainers();
    }
  }
}
