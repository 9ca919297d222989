/**
 * A connection the API takes over for attach and exec streams: an upgraded
 * socket, or a plain response whose socket is written directly.
 */
import type { Duplex } from 'node:stream';
import { whenDrained, type Pausable } from './flow.js';

/** How many bytes a unix socket's peer has not read yet (src/kernel's), undefined if unknown. */
export type PeerUnread = (fd: number) => number | undefined;

/** A bidirectional stream to a client: an upgraded socket, or a plain response + request. */
export interface Hijacked {
  /** Writes to the client; false when its buffer is full: wait for `onDrain` (src/api/flow.ts). */
  write(b: Buffer | string): boolean;
  /** Calls `cb` once what was written has drained (at once if nothing waits, or the client is gone). */
  onDrain(cb: () => void): void;
  end(): void;
  /** Input from the client after the request body (stdin); null at its end. */
  onInput(cb: (b: Buffer | null) => void): void;
  /** Stops reading the client's input (its consumer is full), and goes on. */
  pauseInput(): void;
  resumeInput(): void;
  /** The client went away (`cb` runs at once if it has already). */
  onClose(cb: () => void): void;
  readonly closed: boolean;
}

/**
 * The head of a hijacked stream goes out alone. docker-py reads the head
 * with http.client's buffered reader and the stream from the raw socket
 * under it: bytes that arrive in the same read as the head are lost (it
 * gets `b''` for the logs of an exited container). dockerd's stream comes
 * later than its head; Berth's may be at hand at once (a log replay).
 *
 * On a unix socket the stream waits until the client has read the head
 * (the kernel says what it has not read yet), up to HEAD_READ_MAX_MS; a
 * fixed pause was too short for a client on a loaded machine. Elsewhere
 * (TCP) it waits HEAD_ALONE_MS.
 */
const HEAD_ALONE_MS = 5;
const HEAD_READ_MAX_MS = 1000;

export function headAlone(sock: Duplex, head: string, peerUnread?: PeerUnread): Promise<void> {
  return new Promise((resolve) => {
    sock.write(head, () => {
      const fd = peerUnread && unixFd(sock);
      if (!peerUnread || fd === undefined) {
        setTimeout(resolve, HEAD_ALONE_MS);
        return;
      }
      const until = Date.now() + HEAD_READ_MAX_MS;
      const check = (): void => {
        // A client gone meanwhile: its descriptor may be another's already.
        if (sock.destroyed || !(peerUnread(fd) ?? 0) || Date.now() >= until) resolve();
        else setTimeout(check, 1);
      };
      check();
    });
  });
}

/** The descriptor under a unix socket's stream, if it is one. */
function unixFd(sock: Duplex): number | undefined {
  const handle = (sock as { _handle?: { fd?: number; constructor: { name: string } } })._handle;
  return handle?.constructor.name === 'Pipe' && typeof handle.fd === 'number' && handle.fd >= 0
    ? handle.fd
    : undefined;
}

/** Writes go to `sock` until `closing` emits 'close'; input comes from `input`. */
function hijacked(
  sock: Duplex,
  closing: { on(event: 'close', cb: () => void): unknown },
  input: (cb: (b: Buffer | null) => void) => void,
  inputFlow: Pausable,
): Hijacked {
  // A client gone before the stream was made (while an exec launched) is gone for it too.
  let closed = sock.destroyed;
  const closeCbs: Array<() => void> = [];
  closing.on('close', () => {
    closed = true;
    for (const c of closeCbs) c();
  });
  return {
    write: (b) => closed || sock.write(b),
    onDrain: (cb) => (closed ? queueMicrotask(cb) : whenDrained(sock, cb)),
    pauseInput: () => void inputFlow.pause(),
    resumeInput: () => void inputFlow.resume(),
    end: () => {
      if (!closed) sock.end();
    },
    onInput: input,
    // A client gone already (while its head was written) gets it at once.
    onClose: (cb) => (closed ? cb() : closeCbs.push(cb)),
    get closed() {
      return closed;
    },
  };
}

/** An upgraded connection: its socket both ways. */
export function socketHijack(
  sock: Duplex,
  input: (cb: (b: Buffer | null) => void) => void,
): Hijacked {
  return hijacked(sock, sock, input, sock);
}

/**
 * Takes a connection from Node's HTTP server once its request was read
 * whole, as dockerd hijacks it: the parser stops reading it (the bytes the
 * client sends next are the stream's input, never requests), and the
 * server's listeners go (but its 'close' bookkeeping). Node does the same
 * to a socket it hands to 'upgrade'.
 */
export function takeFromHttp(sock: Duplex): void {
  for (const ev of ['data', 'end', 'drain', 'timeout', 'error', 'pause', 'resume']) {
    sock.removeAllListeners(ev);
  }
  const parser = (sock as { parser?: { _consumed?: boolean; unconsume?: () => void } | null })
    .parser;
  if (parser?._consumed) {
    parser.unconsume?.();
    parser._consumed = false;
  }
  sock.on('error', () => undefined);
}

/**
 * How long a connection that carries no stream lingers once its answer is
 * out: what the client still sends is read and dropped meanwhile, so a close
 * with unread input does not reset the connection before the answer is read
 * (Go's server waits the same way). CLOSE_MAX_MS bounds the whole close, for
 * a client that never reads its answer.
 */
const LINGER_MS = 500;
const CLOSE_MAX_MS = 5000;
const closing = new WeakSet<Duplex>();

/**
 * Ends a taken-over connection that will carry no stream (a refused
 * upgrade, an answer written raw): the answer if it has one, then nothing
 * the client sends is kept, and the socket is destroyed once the answer is
 * flushed (LINGER_MS later), or CLOSE_MAX_MS at the latest.
 */
export function closeTaken(sock: Duplex, answer?: string | Buffer): void {
  if (sock.destroyed || closing.has(sock)) return;
  closing.add(sock);
  sock.removeAllListeners('data');
  sock.on('data', () => undefined);
  sock.resume();
  const timers: NodeJS.Timeout[] = [];
  const later = (ms: number) => timers.push(setTimeout(() => sock.destroy(), ms).unref());
  sock.once('close', () => timers.forEach(clearTimeout));
  later(CLOSE_MAX_MS);
  if (sock.writableFinished) later(LINGER_MS);
  else sock.once('finish', () => later(LINGER_MS));
  if (!sock.writableEnded) {
    if (answer !== undefined) sock.end(answer);
    else sock.end();
  }
}
