/**
 * A connection the API takes over for attach and exec streams: an upgraded
 * socket, or a plain response whose socket is written directly.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** How many bytes a unix socket's peer has not read yet (src/kernel's), undefined if unknown. */
export type PeerUnread = (fd: number) => number | undefined;

/** A bidirectional stream to a client: an upgraded socket, or a plain response + request. */
export interface Hijacked {
  write(b: Buffer | string): void;
  end(): void;
  /** Input from the client after the request body (stdin); null at its end. */
  onInput(cb: (b: Buffer | null) => void): void;
  /** The client went away. */
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
): Hijacked {
  let closed = false;
  const closeCbs: Array<() => void> = [];
  closing.on('close', () => {
    closed = true;
    for (const c of closeCbs) c();
  });
  return {
    write: (b) => {
      if (!closed) sock.write(b);
    },
    end: () => {
      if (!closed) sock.end();
    },
    onInput: input,
    onClose: (cb) => closeCbs.push(cb),
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
  return hijacked(sock, sock, input);
}

/**
 * A connection taken over without an upgrade: the head and the stream are
 * written on the socket itself (the response object is never used); input
 * is the request's body.
 */
export function responseHijack(req: IncomingMessage, res: ServerResponse): Hijacked {
  return hijacked(req.socket, res, (cb) => {
    req.on('data', (d: Buffer) => cb(d));
    req.on('end', () => cb(null));
  });
}
