/**
 * Shapes of the image store: the image config as Docker and OCI write it, the
 * record the rest of the daemon runs containers from, and the API answers.
 */

/** The runtime part of an image config (`config` in the JSON), Docker's capitalised keys. */
export interface ContainerConfig {
  /** User (name or uid[:gid]) the process runs as. */
  User?: string;
  /** Ports the image declares, keyed `80/tcp`. */
  ExposedPorts?: Record<string, object>;
  /** Environment as `KEY=value` strings. */
  Env?: string[] | null;
  /** Entrypoint argv. */
  Entrypoint?: string[] | null;
  /** Default command argv. */
  Cmd?: string[] | null;
  /** Volume mount points, keyed by path. */
  Volumes?: Record<string, object> | null;
  /** Working directory of the process. */
  WorkingDir?: string;
  /** Image labels. */
  Labels?: Record<string, string> | null;
  /** Signal that stops the container. */
  StopSignal?: string;
  /** Dockerfile ONBUILD triggers. */
  OnBuild?: string[] | null;
  /** Health check (Docker's HealthConfig). */
  Healthcheck?: HealthConfig;
  /** Anything else a foreign image carries (kept as is). */
  [key: string]: unknown;
}

/** Docker's HealthConfig; durations in nanoseconds. */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`. */
  Test: string[];
  /** Time between checks (ns). */
  Interval?: number;
  /** Time a check may take (ns). */
  Timeout?: number;
  /** Grace period after start (ns). */
  StartPeriod?: number;
  /** Failures before unhealthy. */
  Retries?: number;
  /** Time between checks during the start period (ns; API 1.44). */
  StartInterval?: number;
}

/** An image config: `application/vnd.oci.image.config.v1+json` with Docker's extra keys. */
export interface ImageConfig {
  /** CPU architecture (`amd64`). */
  architecture?: string;
  /** Operating system (`linux`). */
  os?: string;
  /** Architecture variant (`v8`). */
  variant?: string;
  /** Creation time, RFC 3339. */
  created?: string;
  /** Image author. */
  author?: string;
  /** Commit message / import comment. */
  comment?: string;
  /** Container the image was committed from (Docker's classic builder). */
  container?: string;
  /** That container's config. */
  container_config?: ContainerConfig;
  /** Docker version that created the image. */
  docker_version?: string;
  /** Parent image id (classic builder). */
  parent?: string;
  /** The runtime config. */
  config?: ContainerConfig;
  /** The layers, bottom-most first. */
  rootfs: { type: string; diff_ids: string[] };
  /** How each layer was made. */
  history?: Array<Record<string, unknown>>;
  /** Anything else. */
  [key: string]: unknown;
}

/** What the daemon needs to run a container from an image. */
export interface ImageRecord {
  /** `sha256:<hex>` of the config bytes. */
  id: string;
  /** The parsed image config. */
  config: ImageConfig;
  /** Layer diffIDs, bottom-most first (as in `config.rootfs.diff_ids`). */
  diffIds: string[];
  /** Absolute paths of the layers' diff dirs, top-most first (overlayfs lowerdir order). */
  layerDirs: string[];
  /** Familiar `name:tag` references to this image. */
  repoTags: string[];
}

/** One entry of `GET /images/json`. */
export interface ImageSummary {
  /** `sha256:<hex>`. */
  Id: string;
  /** Parent image id or "". */
  ParentId: string;
  /** Familiar `name:tag` references (`<none>:<none>` when dangling). */
  RepoTags: string[];
  /** `name@digest` references (`<none>@<none>` when dangling). */
  RepoDigests: string[];
  /** Creation time, unix seconds. */
  Created: number;
  /** Bytes of all layers. */
  Size: number;
  /** Not computed (-1), as Docker without `shared-size`. */
  SharedSize: number;
  /** Same as Size (Docker 20.10). */
  VirtualSize: number;
  /** Image labels or null. */
  Labels: Record<string, string> | null;
  /** Not computed (-1), as Docker by default. */
  Containers: number;
}

/** What `isInUse` reports about a container that uses an image. */
export interface ImageUser {
  /** The container's full id. */
  containerId: string;
  /** Whether it is running (removal of its image then cannot be forced). */
  running: boolean;
}

/** Options of `ImageStore.open`. */
export interface ImageStoreOptions {
  /**
   * Which container (if any) uses an image; a bare string is a container id of
   * unknown state and is treated as a stopped container.
   */
  isInUse?: (imageId: string) => ImageUser | string | undefined;
  /** Path of the busybox binary the builtin image is made from (default /bin/busybox). */
  busyboxPath?: string;
  /** The machine-wide cache of builtin Debian image layers (default /var/cache/berth/builtin). */
  builtinCache?: string;
}

/** One line of an image removal (`DELETE /images/{name}`). */
export interface RemoveRecord {
  /** A familiar reference that was removed. */
  Untagged?: string;
  /** An image id that was deleted. */
  Deleted?: string;
}

/** Options of `ImageStore.importTar` (`docker import`). */
export interface ImportOptions {
  /** Repository (may carry a `:tag`). */
  repo?: string;
  /** Tag (overrides one in `repo`; default `latest`). */
  tag?: string;
  /** Dockerfile instructions applied to the config (`--change`). */
  changes?: string[];
  /** Commit message (default `Imported from <src>`). */
  message?: string;
  /** Where the tar came from, for the default message (default `-`). */
  src?: string;
  /** Platform as `os[/arch[/variant]]` (default the host's). */
  platform?: string;
}
