/**
 * A lab with one berthd per host, plus a runner for the stock docker client
 * and the berth CLI pointed at it. Every integration test builds one of these
 * and tears it down in `after`, also when the test fails.
 */
import { spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Lab, type LabDaemon } from '../../src/lab/lab.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BERTH = `${REPO}bin/berth`;

export interface Cmd {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface LabEnv {
  lab: Lab;
  daemons: LabDaemon[];
  /** The first host's daemon. */
  daemon: LabDaemon;
  /** Runs the stock docker client against host `i`'s daemon. */
  docker(args: string[], opts?: { input?: string | Buffer; host?: number; timeout?: number }): Cmd;
  /** Runs the berth CLI against host `i`'s daemon. */
  berth(args: string[], opts?: { input?: string | Buffer; host?: number; timeout?: number }): Cmd;
  /** Runs a command inside a lab host's namespace. */
  inHost(argv: string[], host?: number): Cmd;
  /** Stops host `i`'s daemon (SIGKILL unless told) and starts it again with its arguments. */
  restart(host: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<LabDaemon>;
  destroy(): Promise<void>;
}

function result(r: SpawnSyncReturns<string>): Cmd {
  return {
    status: r.status,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''),
  };
}

/**
 * Creates a lab with `hosts` hosts and a berthd on each; with `cluster`, an
 * etcd member in each host and every berthd in the cluster.
 */
export async function labWithDaemons(
  opts: { hosts?: number; args?: string[]; name?: string; cluster?: boolean } = {},
): Promise<LabEnv> {
  // BERTH_LAB_NAME: a name of the runner's choosing (its own prefix), else a random one.
  const lab = await Lab.create({
    hosts: opts.hosts ?? 1,
    name: opts.name ?? (process.env.BERTH_LAB_NAME || undefined),
    cluster: opts.cluster,
  });
  try {
    const daemons: LabDaemon[] = [];
    const start = (h: number) =>
      lab.startDaemon(h, {
        args: [...(opts.cluster ? lab.clusterArgs(h) : []), ...(opts.args ?? [])],
        timeoutMs: opts.cluster ? 30_000 : undefined,
      });
    for (const h of lab.hosts.keys()) daemons.push(await start(h + 1));
    const run = (
      bin: string,
      args: string[],
      o: { input?: string | Buffer; host?: number; timeout?: number } = {},
    ) => {
      const d = daemons[(o.host ?? 1) - 1]!;
      return result(
        spawnSync(bin, args, {
          encoding: 'utf8',
          input: o.input,
          timeout: o.timeout ?? 60_000,
          env: {
            ...process.env,
            DOCKER_HOST: d.env.DOCKER_HOST,
            BERTH_HOST: d.env.DOCKER_HOST,
            DOCKER_CONFIG: `${lab.dir}/docker-config`,
          },
        }),
      );
    };
    return {
      lab,
      daemons,
      daemon: daemons[0]!,
      docker: (args, o) => run('docker', args, o),
      berth: (args, o) => run(BERTH, args, o),
      inHost: (argv, host = 1) => {
        const r = lab.exec(host, argv);
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
      },
      restart: async (host, signal = 'SIGKILL') => {
        await daemons[host - 1]!.stop(signal);
        return (daemons[host - 1] = await start(host));
      },
      destroy: () => lab.destroy(),
    };
  } catch (e) {
    await lab.destroy().catch(() => undefined);
    throw e;
  }
}

/**
 * Retries `check` (an assertion) for up to `ms` milliseconds: for kernel
 * state the daemon changes in the background after answering (it deletes
 * links that way, and the kernel takes 15-40 ms per link).
 */
export async function eventually(check: () => void, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * The lab world's DNS server (dnsmasq on 198.51.100.1) answering
 * www.example.test with 203.0.113.1: the "outside" names of S6. The caller
 * kills it in `after` (by the handle: only this process).
 */
export function worldDns(env: LabEnv): ChildProcess {
  return env.lab.spawn(
    'world',
    [
      'dnsmasq',
      '--keep-in-foreground',
      '--no-resolv',
      '--no-hosts',
      '--conf-file=/dev/null',
      `--pid-file=${env.lab.dir}/dnsmasq.pid`,
      '--listen-address=198.51.100.1',
      '--bind-interfaces',
      '--address=/www.example.test/203.0.113.1',
    ],
    { stdio: 'ignore' },
  );
}
