/**
 * Stream decoding: Docker's multiplexed stdout/stderr framing (8-byte header:
 * stream, 0, 0, 0, uint32 BE length), NDJSON progress streams and their
 * jsonmessage display rules.
 */
import type { Readable, Writable } from 'node:stream';
import { progressText } from '../common/units.js';

/** One decoded frame of a multiplexed stream. */
export interface Frame {
  /** 0 stdin, 1 stdout, 2 stderr, 3 daemon error. */
  stream: number;
  /** Payload bytes. */
  data: Buffer;
}

/** Incremental decoder of the multiplexed stream; frames may span chunks. */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns every frame completed by them. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      frames.push({ stream: this.buf[0]!, data: this.buf.subarray(8, 8 + len) });
      this.buf = this.buf.subarray(8 + len);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still waiting for more input. */
  get pending(): number {
    return this.buf.length;
  }
}

/** Raised when the daemon reports an error inside a stream (frame type 3, or an error line). */
export class StreamError extends Error {
  constructor(
    message: string,
    /** The error line's `errorDetail.code` (a build's failed RUN exit code), 0 when none. */
    readonly code = 0,
  ) {
    super(message);
  }
}

/**
 * Copies a multiplexed (tty=false) or raw (tty=true) output stream to
 * stdout/stderr; resolves when it ends.
 */
export function copyOutput(
  src: Readable,
  tty: boolean,
  out: Writable,
  err: Writable,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const demux = new Demuxer();
    let failure: Error | undefined;
    src.on('data', (chunk: Buffer) => {
      if (tty) {
        out.write(chunk);
        return;
      }
      for (const f of demux.push(chunk)) {
        if (f.stream === 0 || f.stream === 1) out.write(f.data);
        else if (f.stream === 2) err.write(f.data);
        else if (f.stream === 3)
          failure ??= new StreamError(`error from daemon in stream: ${f.data.toString()}`);
        else failure ??= new StreamError(`Unrecognized input header: ${f.stream}`);
      }
    });
    const done = (): void => (failure ? reject(failure) : resolve());
    src.on('end', done);
    src.on('close', done);
    src.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? done() : reject(e)));
  });
}

/** Yields each JSON object of an NDJSON stream (blank lines skipped). */
export async function* ndjson(src: Readable): AsyncGenerator<Record<string, unknown>> {
  let buf = '';
  for await (const chunk of src) {
    buf += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as Record<string, unknown>;
    }
  }
  if (buf.trim()) yield JSON.parse(buf.trim()) as Record<string, unknown>;
}

/** One line of a pull/load/import/build stream. */
export interface JSONMessage {
  /** Plain text output (load, build). */
  stream?: string;
  /** Status text (pull, import). */
  status?: string;
  /** Layer or image id the status is about. */
  id?: string;
  /** Progress numbers; a bar is only drawn on terminals. */
  progressDetail?: { current?: number; total?: number };
  /** Legacy progress text. */
  progress?: string;
  /** Error details; the stream fails with this message. */
  errorDetail?: { message?: string; code?: number };
  /** Legacy error text. */
  error?: string;
  /** Out-of-band data (build's image ID). */
  aux?: unknown;
}

/**
 * jsonmessage's DisplayJSONMessagesStream. Not on a terminal, lines with
 * progress numbers are left out. On one (`out.isTTY`), each id keeps a line
 * of its own that later messages for it rewrite in place (cursor up, clear,
 * write, cursor down), with the bar drawn from progressDetail; a message
 * without an id starts a new block.
 */
export async function displayJSONMessages(
  src: Readable,
  out: Writable & { isTTY?: boolean; columns?: number },
  onAux?: (aux: unknown) => void,
): Promise<void> {
  const tty = out.isTTY === true;
  let ids = new Map<string, number>();
  for await (const obj of ndjson(src)) {
    const m = obj as JSONMessage;
    if (m.errorDetail?.message || m.error)
      throw new StreamError(m.errorDetail?.message || m.error || '', m.errorDetail?.code ?? 0);
    if (m.aux !== undefined) {
      onAux?.(m.aux);
      continue;
    }
    const pd = m.progressDetail;
    const counted = !!pd && ((pd.current ?? 0) > 0 || (pd.total ?? 0) > 0);
    if (!tty) {
      if (counted) continue;
      const id = m.id ? `${m.id}: ` : '';
      if (m.progress && m.status !== undefined) out.write(`${id}${m.status} ${m.progress}`);
      else if (m.stream !== undefined) out.write(id + m.stream);
      else out.write(`${id}${m.status ?? ''}\n`);
      continue;
    }
    let diff = 0;
    if (m.id && (pd !== undefined || m.progress)) {
      let line = ids.get(m.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(m.id, line);
        out.write('\n');
      }
      diff = ids.size - line;
      out.write(`\x1b[${diff}A`);
    } else {
      ids = new Map();
    }
    out.write(terminalLine(m, out.columns ?? 80));
    if (m.id && diff) out.write(`\x1b[${diff}B`);
  }
}

/** jsonmessage's Display on a terminal: progress lines end in \r after a cleared line. */
function terminalLine(m: JSONMessage, width: number): string {
  const pd = m.progressDetail;
  const progress = m.stream === undefined && pd !== undefined;
  const start = progress ? '\x1b[2K\r' : '';
  const endl = progress ? '\r' : '';
  const id = m.id ? `${m.id}: ` : '';
  if (pd !== undefined) {
    return `${start}${id}${m.status ?? ''} ${progressText(pd.current ?? 0, pd.total ?? 0, width)}${endl}`;
  }
  if (m.progress) return `${start}${id}${m.status ?? ''} ${m.progress}${endl}`;
  if (m.stream !== undefined) return `${start}${id}${m.stream}${endl}`;
  return `${start}${id}${m.status ?? ''}${endl}\n`;
}
