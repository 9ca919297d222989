/**
 * Reading a request's body: the bounds (body, headers, target), JSON bodies
 * read whole, and the body that came with an upgrade (attach and exec
 * input) split from the stream after it.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { BerthError, invalid } from '../common/errors.js';

/**
 * The largest request body read into memory: JSON bodies (a create with every
 * field set is a few KiB; dockerd decodes them as a stream). Archives (build
 * contexts, image loads) are streamed by their routes and never read here.
 */
export const MAX_JSON_BODY = 4 << 20;

/** The request line and headers together: Go's default, so dockerd's (Node's is 16 KiB). */
export const MAX_HEADER_BYTES = 1 << 20;

/** The longest request target served; longer ones get a 414. */
export const MAX_URL = 64 << 10;

export function tooLarge(): BerthError {
  return new BerthError(
    'TOO_LARGE',
    `request body too large: berthd reads at most ${MAX_JSON_BODY >> 20} MiB of JSON`,
  );
}

export function readAll(req: IncomingMessage): Promise<string> {
  // Events, not `for await`: the async iterator costs more than a small body.
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > MAX_JSON_BODY) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_JSON_BODY) {
        // Stop keeping it; what else arrives is drained and dropped.
        req.off('data', onData);
        chunks.length = 0;
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Whether the request carries a body (a length over 0, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * dockerd's CheckForJSON: a body sent to a JSON endpoint must say
 * `application/json`; an empty body without a type is "no body".
 */
export function checkJsonType(req: IncomingMessage): void {
  const ct = req.headers['content-type'] ?? '';
  if (/^application\/json\s*(;|$)/i.test(ct) || !hasBody(req)) return;
  throw invalid(`Content-Type specified (${ct}) must be 'application/json'`);
}

/**
 * The client's stream input kept while nobody takes it yet (an attach waits
 * for its container's start before its bridge to the shim is up). Past it
 * the socket is paused: the client waits, the daemon does not store more.
 */
export const MAX_EARLY_INPUT = 1 << 20;

/** What splitUpgradeBody gives: the body, the stream input after it, and the end of both. */
export interface UpgradeBody {
  body: Promise<string>;
  input: (cb: (b: Buffer | null) => void) => void;
  /** Nothing more is read for the request: the listener goes, what was kept is dropped. */
  stop(): void;
}

/**
 * How long an upgraded request's body may take: Node's request timeouts end
 * at the upgrade, and a body that never comes whole must not hold the
 * connection (nor an attach waiting on it) for ever.
 */
export const UPGRADE_BODY_MS = 60_000;

/**
 * On an upgraded connection Node leaves the request body unread: it arrives in
 * `head` and on the socket. Takes Content-Length bytes as the body; the rest
 * is the client's stream input, kept (up to MAX_EARLY_INPUT) until someone
 * takes it.
 */
export function splitUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): UpgradeBody {
  return splitBody(Number(req.headers['content-length'] ?? 0) || 0, socket, head);
}

/** The input of a connection taken from Node's HTTP parser after its request was read whole. */
export function socketInput(socket: Duplex): UpgradeBody {
  return splitBody(0, socket, Buffer.alloc(0));
}

function splitBody(want: number, socket: Duplex, head: Buffer): UpgradeBody {
  const got: Buffer[] = [];
  let gotLength = 0;
  let rest: Buffer[] = [];
  let restLength = 0;
  let inputCb: ((b: Buffer | null) => void) | undefined;
  // A client gone, or done sending, before this was set up: its input has ended.
  let ended = socket.destroyed || socket.readableEnded;
  let stopped = false;
  let resolveBody!: (s: string) => void;
  let rejectBody!: (e: Error) => void;
  const body = new Promise<string>((res, rej) => {
    resolveBody = res;
    rejectBody = rej;
  });
  // Whoever reads it handles its failure; a route that never does must not
  // leave an unhandled rejection.
  body.catch(() => undefined);
  let bodyDone = false;
  /** The body will not come whole: the client left, reset, half-closed or was too slow. */
  const bodyFails = (why: string) => {
    if (bodyDone) return;
    bodyDone = true;
    got.length = 0;
    rejectBody(invalid(`request body incomplete: ${why}`));
  };
  const timer = setTimeout(
    () => bodyFails(`not read whole in ${UPGRADE_BODY_MS / 1000} s`),
    UPGRADE_BODY_MS,
  );
  timer.unref();
  const keep = (b: Buffer) => {
    rest.push(b);
    restLength += b.length;
    if (restLength > MAX_EARLY_INPUT) socket.pause();
  };
  const feed = (chunk: Buffer) => {
    if (!bodyDone) {
      got.push(chunk);
      gotLength += chunk.length;
      if (gotLength >= want) {
        bodyDone = true;
        clearTimeout(timer);
        const all = Buffer.concat(got);
        got.length = 0;
        resolveBody(all.subarray(0, want).toString('utf8'));
        const extra = all.subarray(want);
        if (extra.length) keep(extra);
      }
    } else keep(chunk);
    if (inputCb && rest.length) {
      const r = rest;
      rest = [];
      restLength = 0;
      for (const b of r) inputCb(b);
    }
  };
  const onEnd = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    bodyFails('the client ended its side first');
    inputCb?.(null);
  };
  // A reset or an error ends the socket without 'end': the body (and an
  // attach waiting on it) must not wait for ever.
  const onClose = () => {
    clearTimeout(timer);
    bodyFails('the connection closed');
    if (!ended && !stopped) {
      ended = true;
      inputCb?.(null);
    }
  };
  socket.on('data', feed);
  socket.on('end', onEnd);
  socket.on('close', onClose);
  if (want === 0) {
    bodyDone = true;
    clearTimeout(timer);
    resolveBody('');
  }
  if (head.length) feed(head);
  return {
    body,
    input: (cb) => {
      if (stopped) return;
      inputCb = cb;
      const r = rest;
      rest = [];
      restLength = 0;
      // Resumed before what was held goes out: the taker pauses the socket
      // again if its sink is full (a process that does not read its stdin).
      if (!ended) socket.resume();
      for (const b of r) cb(b);
      if (ended) cb(null);
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      socket.off('data', feed);
      socket.off('end', onEnd);
      socket.off('close', onClose);
      rest = [];
      restLength = 0;
      got.length = 0;
      inputCb = undefined;
    },
  };
}
