/** `berth top` and `berth stats`: docker's columns and arithmetic (cli/command/container). */
import { StatusError, errorLine, type Command, type Ctx } from '../command.js';
import { makeRow, renderList, type ListSpec, type Row } from '../format/formatter.js';
import { tabwrite } from '../format/table.js';
import { goFormatG, humanSize } from '../format/units.js';

/** `berth top`. */
export const topCommand: Command = {
  path: 'top',
  aliases: ['container top'],
  use: 'top CONTAINER [ps OPTIONS]',
  short: 'Display the running processes of a container',
  flags: [],
  interspersed: false,
  args: { min: 1 },
  async run(ctx, f) {
    const [name, ...psArgs] = f.args;
    const body = await ctx.client.json<{ Titles: string[]; Processes: string[][] | null }>(
      'GET',
      `/containers/${name}/top`,
      { query: { ps_args: psArgs.length ? psArgs.join(' ') : undefined } },
    );
    const lines = [body.Titles.join('\t'), ...(body.Processes ?? []).map((p) => p.join('\t'))];
    ctx.out.write(tabwrite(lines.join('\n') + '\n', { minWidth: 20, padding: 3 }));
  },
};

/** The part of Docker's StatsJSON the columns are made of. */
export interface ApiStats {
  read?: string;
  name?: string;
  id?: string;
  pids_stats?: { current?: number };
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  cpu_stats?: ApiCpu;
  precpu_stats?: ApiCpu;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

interface ApiCpu {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
  system_cpu_usage?: number;
  online_cpus?: number;
}

/** One row's figures, as the docker CLI computes them. */
export interface StatsFigures {
  cpuPercent: number;
  memory: number;
  memoryLimit: number;
  memoryPercent: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
}

/** docker's calculateCPUPercentUnix, calculateMemUsageUnixNoCache, network and blkio sums. */
export function statsFigures(s: ApiStats): StatsFigures {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 0;
  const cpuPercent = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const mem = s.memory_stats ?? {};
  const usage = mem.usage ?? 0;
  const inactive = mem.stats?.total_inactive_file ?? mem.stats?.inactive_file;
  const memory = inactive !== undefined && inactive < usage ? usage - inactive : usage;
  const limit = mem.limit ?? 0;
  let netRx = 0;
  let netTx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    netRx += n.rx_bytes;
    netTx += n.tx_bytes;
  }
  let blockRead = 0;
  let blockWrite = 0;
  for (const b of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = b.op.toLowerCase();
    if (op === 'read') blockRead += b.value;
    else if (op === 'write') blockWrite += b.value;
  }
  return {
    cpuPercent,
    memory,
    memoryLimit: limit,
    memoryPercent: limit ? (memory / limit) * 100 : 0,
    netRx,
    netTx,
    blockRead,
    blockWrite,
    pids: s.pids_stats?.current ?? 0,
  };
}

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** go-units BytesSize: base 1024, `%.4g`. */
export function bytesSize(n: number): string {
  let i = 0;
  while (n >= 1024 && i < BINARY.length - 1) {
    n /= 1024;
    i++;
  }
  return goFormatG(n, 4) + BINARY[i];
}

const STATS_SPEC: ListSpec = {
  table:
    'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}',
  quiet: '{{.ID}}',
  goType: '*formatter.statsContext',
  headers: {
    Container: 'CONTAINER',
    ID: 'CONTAINER ID',
    Name: 'NAME',
    CPUPerc: 'CPU %',
    MemUsage: 'MEM USAGE / LIMIT',
    MemPerc: 'MEM %',
    NetIO: 'NET I/O',
    BlockIO: 'BLOCK I/O',
    PIDs: 'PIDS',
  },
};

/** One row of the table (a stopped container's figures are zeros, as the daemon sends them). */
export function statsRow(ref: string, s: ApiStats, trunc: boolean): Row {
  const id = s.id ?? ref;
  const f = statsFigures(s);
  const pct = (v: number) => `${v.toFixed(2)}%`;
  return makeRow(
    {
      Container: ref,
      ID: trunc ? id.slice(0, 12) : id,
      Name: (s.name ?? '').replace(/^\//, '') || '--',
      CPUPerc: pct(f.cpuPercent),
      MemUsage: `${bytesSize(f.memory)} / ${bytesSize(f.memoryLimit)}`,
      MemPerc: pct(f.memoryPercent),
      NetIO: `${humanSize(f.netRx)} / ${humanSize(f.netTx)}`,
      BlockIO: `${humanSize(f.blockRead)} / ${humanSize(f.blockWrite)}`,
      PIDs: String(f.pids),
    },
    '*formatter.statsContext',
  );
}

/** The containers `stats` shows without names: the running ones (all with -a). */
async function listed(ctx: Ctx, all: boolean): Promise<string[]> {
  const list = await ctx.client.json<Array<{ Id: string }>>('GET', '/containers/json', {
    query: { all: all || undefined },
  });
  return (list ?? []).map((c) => c.Id);
}

/** `berth stats`. */
export const statsCommand: Command = {
  path: 'stats',
  aliases: ['container stats'],
  use: 'stats [OPTIONS] [CONTAINER...]',
  short: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    {
      long: 'all',
      short: 'a',
      type: 'bool',
      usage: 'Show all containers (default shows just running)',
    },
    { long: 'format', type: 'string', usage: 'Format output using a custom template' },
    {
      long: 'no-stream',
      type: 'bool',
      usage: 'Disable streaming stats and only pull the first result',
    },
    { long: 'no-trunc', type: 'bool', usage: 'Do not truncate output' },
  ],
  async run(ctx, f) {
    const refs = f.args.length ? f.args : await listed(ctx, f.bool('all'));
    const trunc = !f.bool('no-trunc');
    const render = (latest: Map<string, ApiStats>) =>
      renderList(
        refs.filter((r) => latest.has(r)).map((r) => statsRow(r, latest.get(r)!, trunc)),
        STATS_SPEC,
        f.str('format'),
      );
    if (f.bool('no-stream')) {
      const latest = new Map<string, ApiStats>();
      const errs: string[] = [];
      await Promise.all(
        refs.map(async (r) => {
          try {
            latest.set(
              r,
              await ctx.client.json<ApiStats>('GET', `/containers/${r}/stats`, {
                query: { stream: false },
              }),
            );
          } catch (e) {
            errs.push(errorLine(e));
          }
        }),
      );
      if (errs.length) throw new StatusError(1, errs.join('\n'));
      ctx.out.write(render(latest));
      return;
    }
    const latest = new Map<string, ApiStats>();
    const streams = refs.map(async (r) => {
      const res = await ctx.client.call('GET', `/containers/${r}/stats`, {
        query: { stream: true },
      });
      let buf = '';
      for await (const chunk of res) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) latest.set(r, JSON.parse(line) as ApiStats);
        }
      }
    });
    const timer = setInterval(() => {
      // As docker: the screen cleared and the table drawn again every second.
      ctx.out.write('\x1b[2J\x1b[H' + render(latest));
    }, 1000);
    try {
      await Promise.all(streams);
    } catch (e) {
      throw new StatusError(1, errorLine(e));
    } finally {
      clearInterval(timer);
    }
  },
};
