/**
 * `docker top` as dockerd 20.10 answers it: the host's `ps` with the
 * client's arguments (`-ef` by default) and `-q` with the container's PIDs
 * (from its cgroup), retried without `-q` for arguments that cannot take it;
 * the lines of the container's processes kept (thread lines, `-` in the PID
 * column, with the process they follow), each split into as many fields as
 * the title line has (the last one keeps its spaces).
 */
import { invalid } from '../common/errors.js';
import { run } from '../kernel/process/run.js';

/** The body of GET /containers/{id}/top. */
export interface ProcessList {
  Titles: string[];
  Processes: string[][];
}

/** dockerd's refusal of `-o x=PID...` (renaming the PID column would hide it). */
export function validatePsArgs(psArgs: string): void {
  const re = /[ \t\n\v\f\r]+([^ \t\n\v\f\r]*)=[ \t\n\v\f\r]*(PID[^ \t\n\v\f\r]*)/g;
  for (const m of psArgs.matchAll(re)) {
    if (m[1] !== 'pid') throw invalid(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

/** Splits on ASCII white space only (ps output may hold other bytes in commands). */
export function fieldsAscii(s: string): string[] {
  return s.split(/[ \t\n\v\f\r]+/).filter(Boolean);
}

/** Keeps the lines of `ps` output that belong to `pids`. */
export function parsePsOutput(output: string, pids: readonly number[]): ProcessList {
  const lines = output.split('\n');
  const titles = fieldsAscii(lines[0] ?? '');
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw invalid("Couldn't find PID field in ps output");
  const own = new Set(pids);
  const out: ProcessList = { Titles: titles, Processes: [] };
  const keep = (fields: string[]) => {
    const head = fields.slice(0, titles.length - 1);
    out.Processes.push([...head, fields.slice(titles.length - 1).join(' ')]);
  };
  let inside = false;
  for (const line of lines.slice(1)) {
    if (line.length === 0) continue;
    const fields = fieldsAscii(line);
    const f = fields[pidIndex];
    if (f === '-') {
      if (inside) keep(fields);
      continue;
    }
    const p = Number(f);
    if (!/^-?\d+$/.test(f ?? '')) throw invalid(`Unexpected pid '${f}'`);
    inside = own.has(p);
    if (inside) keep(fields);
  }
  return out;
}

/** Runs the host's ps for `pids` and parses what it printed. */
export async function top(pids: readonly number[], psArgs: string): Promise<ProcessList> {
  const args = (psArgs || '-ef').split(' ');
  validatePsArgs(psArgs || '-ef');
  let r = await run(['ps', ...args, `-q${pids.join(',')}`]);
  if (r.code !== 0) {
    // Some options (such as f) cannot be used together with q.
    r = await run(['ps', ...args]);
    if (r.code !== 0) {
      const first = r.stderr.split('\n')[0] || `exit status ${r.code}`;
      // dockerd answers 500; the arguments are the client's, so Berth says 400.
      throw invalid(`ps: ${first}`);
    }
  }
  return parsePsOutput(r.stdout, pids);
}
