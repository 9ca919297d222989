/**
 * Reading a container's json-file log (written by its shim) for `logs`,
 * with Docker's options: stdout/stderr, tail, since/until, timestamps, follow.
 */
import { open } from 'node:fs/promises';

export interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  /** Number of last lines, or undefined for all. */
  tail?: number;
  timestamps: boolean;
  /** Unix seconds (fractional). */
  since?: number;
  until?: number;
}

export interface LogLine {
  /** 1 stdout, 2 stderr. */
  stream: 1 | 2;
  /** The bytes of the line, timestamp prefixed when asked for. */
  data: Buffer;
}

interface Entry {
  log: string;
  stream: string;
  time: string;
}

function toLine(e: Entry, o: LogOptions): LogLine | undefined {
  const stream = e.stream === 'stderr' ? 2 : 1;
  if ((stream === 1 && !o.stdout) || (stream === 2 && !o.stderr)) return undefined;
  const t = Date.parse(e.time) / 1000;
  if (o.since !== undefined && t < o.since) return undefined;
  if (o.until !== undefined && o.until > 0 && t > o.until) return undefined;
  const text = o.timestamps ? `${e.time} ${e.log}` : e.log;
  return { stream, data: Buffer.from(text, 'utf8') };
}

function parse(text: string): Entry[] {
  const out: Entry[] = [];
  for (const l of text.split('\n')) {
    if (!l) continue;
    try {
      out.push(JSON.parse(l) as Entry);
    } catch {
      // A torn last line (the shim was mid-write) is skipped; follow re-reads it.
    }
  }
  return out;
}

/**
 * Yields the log's lines; with `follow`, keeps yielding new ones until
 * `finished()` is true and the file has been read to its end.
 */
export async function* readLogs(
  path: string,
  o: LogOptions,
  finished: () => boolean,
  signal: AbortSignal,
): AsyncGenerator<LogLine> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    if (!o.follow) return;
    // The log appears when the container first starts.
    while (!signal.aborted && !finished()) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        fh = await open(path, 'r');
        break;
      } catch {
        /* not yet */
      }
    }
    if (!fh) return;
  }
  try {
    const first = await fh.readFile('utf8');
    let offset = Buffer.byteLength(first);
    let pending = '';
    const lastNl = first.lastIndexOf('\n');
    if (lastNl < first.length - 1) {
      pending = first.slice(lastNl + 1);
      offset -= Buffer.byteLength(pending);
    }
    let entries = parse(first.slice(0, lastNl + 1))
      .map((e) => toLine(e, o))
      .filter((x): x is LogLine => !!x);
    if (o.tail !== undefined && o.tail >= 0)
      entries = entries.slice(Math.max(0, entries.length - o.tail));
    for (const l of entries) yield l;
    if (!o.follow) return;
    const buf = Buffer.alloc(64 * 1024);
    let rest = '';
    for (;;) {
      if (signal.aborted) return;
      const done = finished();
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      if (bytesRead > 0) {
        offset += bytesRead;
        rest += buf.subarray(0, bytesRead).toString('utf8');
        const nl = rest.lastIndexOf('\n');
        if (nl >= 0) {
          for (const e of parse(rest.slice(0, nl + 1))) {
            const l = toLine(e, o);
            if (l) yield l;
          }
          rest = rest.slice(nl + 1);
        }
        continue;
      }
      if (done) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await fh.close();
  }
}
