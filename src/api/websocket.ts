/**
 * The server side of RFC 6455, as much as the attach endpoint
 * (`/containers/{id}/attach/ws`) needs, framed as dockerd 20.10
 * (golang.org/x/net/websocket) frames it: the handshake, one unmasked
 * binary frame per chunk of output, the payloads of the client's text and
 * binary frames as input, pings answered, and a close frame with status
 * 1000 at the end of the stream (or in answer to the client's).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { whenDrained } from './flow.js';
import { closeTaken } from './hijack.js';
import type { Hijacked } from './server.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Whether the request asks for a websocket (RFC 6455 4.2.1). */
export function isWebsocketRequest(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    req.method === 'GET' &&
    (h.upgrade ?? '').toLowerCase() === 'websocket' &&
    /(^|,)\s*upgrade\s*(,|$)/i.test(h.connection ?? '') &&
    typeof h['sec-websocket-key'] === 'string' &&
    h['sec-websocket-version'] === '13'
  );
}

/** dockerd's answer to an attach/ws request that is not a websocket handshake. */
export const NOT_WEBSOCKET = 'HTTP/1.1 400 Bad Request\r\n\r\nnot websocket protocol';

/** The accept value for a client's key (RFC 6455 4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** One unmasked frame from the server, FIN set. */
export function wsFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  let head: Buffer;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 0x10000) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

const CLOSE_NORMAL = wsFrame(8, Buffer.from([0x03, 0xe8]));
/** 1009: the client sent a frame over MAX_WS_PAYLOAD. */
const CLOSE_TOO_BIG = wsFrame(
  8,
  Buffer.concat([Buffer.from([0x03, 0xf1]), Buffer.from('message too big')]),
);

/**
 * The largest frame payload read from a client (its stdin: a few bytes a
 * frame). Past it the connection is closed with 1009, "message too big"
 * (RFC 6455 7.4.1), and nothing of the frame is kept.
 */
export const MAX_WS_PAYLOAD = 1 << 20;

/**
 * Splits the client's bytes into frames (masked or not), across chunks. The
 * chunks of a frame are kept as they come and joined once, when it is
 * whole; a frame that says it is over `maxPayload` calls `onTooBig`, and
 * nothing more is read.
 */
export class WsDecoder {
  private chunks: Buffer[] = [];
  private size = 0;
  private failed = false;
  constructor(
    private readonly onFrame: (opcode: number, payload: Buffer) => void,
    private readonly onTooBig: () => void = () => undefined,
    private readonly maxPayload = MAX_WS_PAYLOAD,
  ) {}

  /** The first `n` bytes kept (n is at most a header's 14), joined only if they span chunks. */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const b = Buffer.concat(this.chunks, this.size);
    this.chunks = [b];
    return b;
  }

  /** Takes the first `n` bytes kept, joining the chunks they span once. */
  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        parts.push(c);
        this.chunks.shift();
        left -= c.length;
      } else {
        parts.push(c.subarray(0, left));
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.size -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  push(chunk: Buffer): void {
    if (this.failed || !chunk.length) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    for (;;) {
      if (this.size < 2) return;
      const b = this.peek(Math.min(this.size, 14));
      let len = b[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        len = big > BigInt(this.maxPayload) ? this.maxPayload + 1 : Number(big);
        at = 10;
      }
      if (len > this.maxPayload) {
        this.failed = true;
        this.chunks = [];
        this.size = 0;
        this.onTooBig();
        return;
      }
      const masked = (b[1]! & 0x80) !== 0;
      if (masked) at += 4;
      if (b.length < at || this.size < at + len) return;
      const opcode = b[0]! & 0x0f;
      const mask = masked ? Buffer.from(b.subarray(at - 4, at)) : undefined;
      const whole = this.take(at + len);
      const payload = Buffer.from(whole.subarray(at));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      this.onFrame(opcode, payload);
    }
  }
}

/**
 * Answers the handshake on `sock` and returns the connection as a stream:
 * `write` sends binary frames, `end` a close frame and then closes; input is
 * the payloads of data frames (null after the client's close frame or end).
 * `input` gives the bytes that follow the request on the socket.
 */
export function acceptWebsocket(
  req: IncomingMessage,
  sock: Duplex,
  input: (cb: (b: Buffer | null) => void) => void,
): Hijacked {
  sock.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
  );
  let closed = false;
  let closing = false;
  const closeCbs: Array<() => void> = [];
  sock.on('close', () => {
    closed = true;
    for (const c of closeCbs) c();
  });
  const end = () => {
    if (closed || closing) return;
    closing = true;
    sock.end(CLOSE_NORMAL);
  };
  let inputCb: ((b: Buffer | null) => void) | undefined;
  const early: Array<Buffer | null> = [];
  const deliver = (b: Buffer | null) => (inputCb ? inputCb(b) : early.push(b));
  const dec = new WsDecoder(
    (op, payload) => {
      if (op === 0 || op === 1 || op === 2) deliver(payload);
      else if (op === 8) {
        deliver(null);
        end();
      } else if (op === 9 && !closing) sock.write(wsFrame(10, payload));
    },
    () => {
      // Answered first (a taker's end on the input's end would close it
      // normally), then nothing more is read or kept: the socket goes.
      if (!closed && !closing) {
        closing = true;
        closeTaken(sock, CLOSE_TOO_BIG);
      }
      deliver(null);
    },
  );
  // The client's frames are read once a taker is there: until then what it
  // sends waits in the upgrade's bounded early input (body.ts), not here.
  let taking = false;
  const take = () => {
    if (taking) return;
    taking = true;
    input((b) => (b === null ? deliver(null) : dec.push(b)));
  };
  return {
    write: (b) => {
      if (closed || closing) return true;
      const data = typeof b === 'string' ? Buffer.from(b) : b;
      return !data.length || sock.write(wsFrame(2, data));
    },
    onDrain: (cb) => (closed ? queueMicrotask(cb) : whenDrained(sock, cb)),
    pauseInput: () => void sock.pause(),
    resumeInput: () => void sock.resume(),
    end,
    onInput: (cb) => {
      inputCb = cb;
      for (const b of early.splice(0)) cb(b);
      take();
    },
    onClose: (cb) => (closed ? cb() : closeCbs.push(cb)),
    get closed() {
      return closed;
    },
  };
}
