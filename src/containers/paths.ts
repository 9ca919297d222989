/**
 * Where a container's files live: its directory in the data-root (files,
 * log, bundle), the overlay directories of its root filesystem, and the
 * shim's state directory in the exec-root. Paths only; nothing is created.
 */
import { join } from 'node:path';

export interface ContainerPaths {
  dataRoot: string;
  execRoot: string;
}

export class ContainerDirs {
  constructor(private readonly roots: ContainerPaths) {}

  get dataRoot(): string {
    return this.roots.dataRoot;
  }
  get execRoot(): string {
    return this.roots.execRoot;
  }
  /** The container's own directory in the data-root (files, log, bundle). */
  dir(id: string): string {
    return join(this.roots.dataRoot, 'containers', id);
  }
  /** Overlay directories of the container's root filesystem. */
  layerDir(id: string): string {
    return join(this.roots.dataRoot, 'overlay', id);
  }
  /** The mounted root filesystem. */
  rootfs(id: string): string {
    return join(this.layerDir(id), 'merged');
  }
  /** The overlay directories of the root filesystem over `lower` (the image's layers), as inspect shows them. */
  graphDriverData(id: string, lower: string[]): Record<string, string> {
    const layers = this.layerDir(id);
    return {
      ...(lower.length ? { LowerDir: lower.join(':') } : {}),
      MergedDir: join(layers, 'merged'),
      UpperDir: join(layers, 'diff'),
      WorkDir: join(layers, 'work'),
    };
  }
  /** The upper directory of the container's root filesystem: what the container changed. */
  upperDir(id: string): string {
    return join(this.layerDir(id), 'diff');
  }
  /** The shim's state directory (short: unix socket paths are limited to 108 bytes). */
  stateDir(id: string): string {
    return join(this.stateRoot, id.slice(0, 16));
  }
  /** Where the containers' shims keep their state directories. */
  get stateRoot(): string {
    return join(this.roots.execRoot, 'containers');
  }
  /** Where the execs' shims keep theirs (exec ids are unique across containers). */
  get execStateRoot(): string {
    return join(this.roots.execRoot, 'exec');
  }
  logPath(id: string): string {
    return join(this.dir(id), `${id}-json.log`);
  }
  /** The tmpfs of a shareable IPC namespace's /dev/shm (dockerd's mounts/shm). */
  shmDir(id: string): string {
    return join(this.dir(id), 'mounts', 'shm');
  }
}
