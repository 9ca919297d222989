/**
 * One iperf3 TCP client run (Debian's iperf3, the machine's binary) inside a
 * network namespace: a lab namespace's path, or a container's
 * `/proc/PID/ns/net`. The server must already listen at the address.
 */
import { run } from '../../src/lab/proc.js';
import { summarize, type Summary } from './stats.js';

/** What one client run measured. */
export interface Iperf {
  /** Receiver-side rate, Gbit/s. */
  gbps: number;
  /** TCP retransmissions the sender counted. */
  retransmits: number;
  /**
   * CPU the client and the server processes used (iperf3's host_total +
   * remote_total, % of one core) per Gbit/s: the path's cost per byte, as far
   * as it is charged to them (softirq work done in their context is), less
   * sensitive to the machine's other load than the rate.
   */
  cpuPerGbps: number;
}

/**
 * `iperf3 -c addr -p port -t seconds -O 1 -J` (plus `extra`, e.g. `-M 1398`)
 * in the namespace at `netns`; throws with iperf3's error.
 */
export function iperf3Client(
  netns: string,
  addr: string,
  port: number,
  seconds: number,
  extra: string[] = [],
): Iperf {
  const r = run(
    [
      'nsenter',
      `--net=${netns}`,
      '--',
      'iperf3',
      ...['-c', addr, '-p', String(port)],
      ...['-t', String(seconds), '-O', '1', '-J', '--connect-timeout', '3000', ...extra],
    ],
    { timeout: (seconds + 30) * 1000 },
  );
  let j: {
    error?: string;
    end?: {
      sum_received?: { bits_per_second: number };
      sum_sent?: { retransmits?: number };
      cpu_utilization_percent?: { host_total: number; remote_total: number };
    };
  } = {};
  try {
    j = JSON.parse(r.stdout) as typeof j;
  } catch {
    // reported below
  }
  const bps = j.end?.sum_received?.bits_per_second;
  if (r.status !== 0 || j.error || bps === undefined) {
    throw new Error(`iperf3 -c ${addr}: ${j.error ?? (r.stderr || r.stdout).trim().slice(-300)}`);
  }
  const cpu = j.end?.cpu_utilization_percent;
  const gbps = bps / 1e9;
  return {
    gbps,
    retransmits: j.end?.sum_sent?.retransmits ?? 0,
    cpuPerGbps: cpu ? (cpu.host_total + cpu.remote_total) / gbps : NaN,
  };
}

/** The rates of several runs summarised, in Gbit/s to 1 Mbit/s. */
export function gbpsSummary(xs: Iperf[]): Summary {
  // summarize rounds to 0.1 of its unit: work in Mbit/s, report Gbit/s.
  const s = summarize(xs.map((x) => x.gbps * 1000));
  const g = (v: number) => Math.round(v) / 1000;
  return {
    n: s.n,
    median: g(s.median),
    p90: g(s.p90),
    min: g(s.min),
    max: g(s.max),
    mean: g(s.mean),
  };
}

/** The median over rounds of a[i] / b[i] (runs of two paths in the same round), to 0.001. */
export function perRoundRatio(a: Iperf[], b: Iperf[]): number {
  return (
    Math.round(summarize(a.map((x, i) => (x.gbps / (b[i]?.gbps ?? NaN)) * 1000)).median) / 1000
  );
}
