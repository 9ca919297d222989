/**
 * Docker's stream formats: multiplexed frames (8-byte header: stream, 0,0,0,
 * uint32 BE length) for non-TTY streams, raw bytes for TTY ones; and the
 * bridge between a hijacked client connection and a shim's attach socket.
 */
import type { Socket } from 'node:net';
import { shimConnect } from '../kernel/runtime/runtime.js';
import type { Hijacked } from './server.js';

/** One frame of a multiplexed stream. */
export function frame(stream: 1 | 2 | 3, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/** Splits a multiplexed byte stream into frames, across chunk boundaries. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (stream: number, data: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      this.onFrame(this.buf[0] as number, this.buf.subarray(8, 8 + len));
      this.buf = this.buf.subarray(8 + len);
    }
  }
}

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** TTY streams are raw: frame headers are stripped. */
  tty: boolean;
  /** Called instead of ending the client's stream when the shim closes. */
  onShimClose?: () => void;
}

/**
 * Connects a client to the shim at `stateDir`: output to the client until the
 * process ends, the client's input to the process's stdin. Resolves when
 * the bridge is up.
 */
export async function bridgeToShim(stateDir: string, h: Hijacked, o: AttachOptions): Promise<void> {
  let sock: Socket;
  try {
    sock = await shimConnect(
      stateDir,
      `attach ${o.stdin ? 1 : 0} ${o.stdout ? 1 : 0} ${o.stderr ? 1 : 0}`,
      2000,
    );
  } catch {
    h.end();
    return;
  }
  const dec = new FrameDecoder((stream, data) =>
    h.write(o.tty ? data : frame(stream as 1 | 2, data)),
  );
  sock.on('data', (d: Buffer) => (o.tty ? dec.push(d) : h.write(d)));
  const closed = o.onShimClose ?? (() => h.end());
  sock.on('close', closed);
  sock.on('error', () => undefined);
  h.onClose(() => sock.destroy());
  h.onInput((b) => {
    if (!o.stdin) return;
    if (b === null) sock.end();
    else sock.write(b);
  });
}
