/**
 * Backpressure for the API's streams (decision 0048): what a client does
 * not read is not queued in the daemon. A source feeding one client (a
 * shim's output, a log reader, a client's stdin to a shim) waits while its
 * sink's buffer is full; a fan-out (events) drops the client that falls too
 * far behind instead of holding its backlog.
 */
import type { Writable } from 'node:stream';

/** Where a stream is written, with Node's contract: false means "full, wait for the drain". */
export interface Sink {
  write(b: Buffer): boolean;
  /** Calls `cb` once what was written has drained, or at once if nothing waits (or the sink is gone). */
  onDrain(cb: () => void): void;
}

/** A source that can stop and go on (a socket, a request's body, a client's input). */
export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

/** Calls `cb` once `w` has drained (or closed); at once if it is not waiting for a drain. */
export function whenDrained(w: Writable, cb: () => void): void {
  if (!w.writableNeedDrain || w.destroyed) return void queueMicrotask(cb);
  const done = () => {
    w.off('drain', done);
    w.off('close', done);
    cb();
  };
  w.on('drain', done);
  w.on('close', done);
}

/** A Node writable (a socket, a response) as a Sink. */
export function writableSink(w: Writable): Sink {
  return { write: (b) => w.write(b), onDrain: (cb) => whenDrained(w, cb) };
}

/**
 * A writer to `sink` that pauses `source` when the sink is full and resumes
 * it at the drain: at most one high-water mark (and the chunk that crossed
 * it) is held for a client that does not read.
 */
export function paced(sink: Sink, source: Pausable): (b: Buffer) => void {
  let waiting = false;
  return (b) => {
    if (sink.write(b) || waiting) return;
    waiting = true;
    source.pause();
    sink.onDrain(() => {
      waiting = false;
      source.resume();
    });
  };
}

/** Writes `b` and, when the sink is full, waits for its drain (for a producer that awaits: a log reader). */
export function writeWaiting(sink: Sink, b: Buffer): Promise<void> | undefined {
  if (sink.write(b)) return undefined;
  return new Promise((r) => sink.onDrain(r));
}

/** How far behind a fan-out client (events) may fall before it is dropped. */
export const MAX_FANOUT_BACKLOG = 16 << 20;

/**
 * Writes `b` to one client of a fan-out unless it already holds over
 * `limit` bytes it has not read: then it is destroyed (its 'close' ends its
 * subscription) and false is returned.
 */
export function writeOrDrop(w: Writable, b: Buffer | string, limit = MAX_FANOUT_BACKLOG): boolean {
  if (w.destroyed) return false;
  if (w.writableLength > limit) {
    w.destroy();
    return false;
  }
  w.write(b);
  return true;
}
