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

/** Splits the client's bytes into frames (masked or not), across chunks. */
export class WsDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (opcode: number, payload: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      const masked = (b[1]! & 0x80) !== 0;
      const mask = masked ? b.subarray(at, at + 4) : undefined;
      if (masked) at += 4;
      if (b.length < at + len) return;
      const payload = Buffer.from(b.subarray(at, at + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      this.buf = b.subarray(at + len);
      this.onFrame(b[0]! & 0x0f, payload);
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
  const dec = new WsDecoder((op, payload) => {
    if (op === 0 || op === 1 || op === 2) deliver(payload);
    else if (op === 8) {
      deliver(null);
      end();
    } else if (op === 9 && !closing) sock.write(wsFrame(10, payload));
  });
  input((b) => (b === null ? deliver(null) : dec.push(b)));
  return {
    write: (b) => {
      if (closed || closing) return;
      const data = typeof b === 'string' ? Buffer.from(b) : b;
      if (data.length) sock.write(wsFrame(2, data));
    },
    end,
    onInput: (cb) => {
      inputCb = cb;
      for (const b of early.splice(0)) cb(b);
    },
    onClose: (cb) => closeCbs.push(cb),
    get closed() {
      return closed;
    },
  };
}
