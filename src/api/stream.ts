/**
 * Docker's stream formats: multiplexed frames (8-byte header: stream, 0,0,0,
 * uint32 BE length) for non-TTY streams, raw bytes for TTY ones; and the
 * bridge between a hijacked client connection and a shim's attach socket.
 */
import type { Socket } from 'node:net';
import type { OpenAttach } from '../containers/attach.js';
import { DetachScanner } from '../containers/detach-keys.js';
import { paced, writableSink } from './flow.js';
import type { Hijacked } from './server.js';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MUX_STREAM = 'application/vnd.docker.multiplexed-stream';

/** Whether an API version (from the request's path; none is Berth's own, 1.47) is at least `min`. */
export function versionAtLeast(version: string | undefined, min: string): boolean {
  if (version === undefined) return true;
  const [a = 0, b = 0] = version.split('.').map(Number);
  const [c = 0, d = 0] = min.split('.').map(Number);
  return a !== c ? a > c : b >= d;
}

/**
 * The Content-Type of an attach or exec stream: dockerd says raw-stream for
 * TTY streams, and for multiplexed ones too up to API 1.41 (20.10); from
 * API 1.42 a multiplexed stream says so.
 */
export function streamType(tty: boolean, version: string | undefined): string {
  return !tty && versionAtLeast(version, '1.42') ? MUX_STREAM : RAW_STREAM;
}

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
  /** A TTY's stream: raw (frame headers stripped), and detach keys apply. */
  tty: boolean;
  /** Raw output whatever `tty` says (a websocket's). */
  raw?: boolean;
  /** Called instead of ending the client's stream when the shim closes. */
  onShimClose?: () => void;
  /**
   * The detach sequence (TTY streams with stdin only, as dockerd): when the
   * client types it, the bridge is cut and `onDetach` runs (by default the
   * client's stream ends); the process runs on.
   */
  detachKeys?: Buffer;
  onDetach?: () => void;
}

/**
 * Connects a client to a process's shim through the container service's
 * opener: output to the client until the process ends, the client's input
 * to the process's stdin. Resolves when the bridge is up.
 */
export async function bridgeToShim(open: OpenAttach, h: Hijacked, o: AttachOptions): Promise<void> {
  let sock: Socket;
  try {
    sock = await open(o);
  } catch {
    h.end();
    return;
  }
  if (h.closed) {
    // The client left while the shim was being reached: its connection goes too.
    sock.destroy();
    return;
  }
  const raw = o.raw ?? o.tty;
  // The shim waits while the client does not read, and the client while the
  // process does not read its stdin: neither side's backlog is kept here.
  const toClient = paced(h, sock);
  const toShim = paced(writableSink(sock), {
    pause: () => h.pauseInput(),
    resume: () => h.resumeInput(),
  });
  const dec = new FrameDecoder((stream, data) =>
    toClient(raw ? data : frame(stream as 1 | 2, data)),
  );
  sock.on('data', (d: Buffer) => (raw ? dec.push(d) : toClient(d)));
  const closed = o.onShimClose ?? (() => h.end());
  sock.on('close', closed);
  sock.on('error', () => undefined);
  h.onClose(() => sock.destroy());
  const scan = o.tty && o.stdin && o.detachKeys ? new DetachScanner(o.detachKeys) : undefined;
  let detached = false;
  h.onInput((b) => {
    if (!o.stdin || detached) return;
    if (b === null) return void sock.end();
    if (!scan) return toShim(b);
    const { pass, detach } = scan.push(b);
    if (pass.length) toShim(pass);
    if (!detach) return;
    detached = true;
    // The shim's connection goes without ending the process's stdin (and
    // without the client's end: only that listener goes, a pending drain's
    // stays so the client's paused input resumes).
    sock.off('close', closed);
    sock.destroy();
    (o.onDetach ?? (() => h.end()))();
  });
}
