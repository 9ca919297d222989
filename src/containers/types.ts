/** The persisted shape of a container (one JSON value in the store). */
import type { EndpointSettings } from '../network/types.js';
import type { HealthConfig, HealthState } from './health.js';
import type { MountPoint } from '../volumes/parse.js';

/** Docker's container Config, as inspect shows it (merged with the image's). */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  /** `--mac-address`: the interface's MAC on the container's first network. */
  MacAddress?: string;
  Shell?: string[];
  ArgsEscaped?: boolean;
  /** `--health-*`, merged with the image's HEALTHCHECK. */
  Healthcheck?: HealthConfig;
}

/** The HostConfig fields Berth acts on; everything else the client sent is echoed back. */
export interface HostConfig {
  NetworkMode: string;
  Links: string[] | null;
  AutoRemove: boolean;
  RestartPolicy: { Name: string; MaximumRetryCount: number };
  Dns: string[];
  DnsOptions: string[];
  DnsSearch: string[];
  ExtraHosts: string[] | null;
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  Privileged: boolean;
  /** `--security-opt` strings as given (a profile file arrives as `seccomp=<json>`). */
  SecurityOpt?: string[] | null;
  ReadonlyRootfs: boolean;
  PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
  PublishAllPorts: boolean;
  ShmSize: number;
  ConsoleSize: [number, number];
  [k: string]: unknown;
}

export type Status =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerState {
  Status: Status;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Frozen by `docker pause` (Status stays "running"; inspect and ps say "paused"). */
  Paused?: boolean;
  /** PID of the shim that owns the process while it runs. */
  ShimPid?: number;
  /** With a healthcheck: its status, failing streak and last results (health.ts). */
  Health?: HealthState;
}

export interface ContainerRecord {
  Id: string;
  /** With the leading slash, as Docker: "/test1". */
  Name: string;
  Created: string;
  /** The image reference the user typed. */
  Image: string;
  ImageID: string;
  Path: string;
  Args: string[];
  Config: ContainerConfig;
  HostConfig: HostConfig;
  State: ContainerState;
  RestartCount: number;
  /**
   * Stopped or signalled by hand since its last start (dockerd's
   * HasBeenManuallyStopped, not shown): an `unless-stopped` container is not
   * started with the daemon.
   */
  ManuallyStopped?: boolean;
  /** Networks keyed by name. */
  Networks: Record<string, EndpointSettings>;
  /** Per-network endpoint config from the create request (aliases, static IPs). */
  EndpointsConfig: Record<string, unknown>;
  /** Binds, volumes and tmpfs mounts, by destination (none in records of older Berths). */
  MountPoints?: MountPoint[];
}
