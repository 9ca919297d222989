/**
 * Driving a hijacked attach/exec connection like docker's hijackedIOStreamer:
 * local stdin (raw when a TTY) to the socket, half-close when it ends (at once
 * when stdin is not attached), output demultiplexed or raw until the daemon
 * closes, window-size changes forwarded as resize calls.
 */
import type { Duplex } from 'node:stream';
import type { Ctx } from './command.js';
import { copyOutput } from './streams.js';

/** How one hijacked session is wired. */
export interface HijackOptions {
  /** The container (or exec) was created with a TTY: raw bytes, no framing. */
  tty: boolean;
  /** Send local stdin to the socket. */
  stdin: boolean;
  /** Stdout is attached (stderr follows it in TTY mode). */
  stdout?: boolean;
}

/** Pumps a hijacked socket until the daemon closes the output side. */
export async function streamHijacked(ctx: Ctx, sock: Duplex, o: HijackOptions): Promise<void> {
  const rawMode =
    o.stdin && o.tty && ctx.in.isTTY === true && typeof ctx.in.setRawMode === 'function';
  if (rawMode) ctx.in.setRawMode!(true);
  const onData = (d: Buffer): void => {
    sock.write(d);
  };
  const onEnd = (): void => {
    sock.end();
  };
  if (o.stdin) {
    ctx.in.on('data', onData);
    ctx.in.once('end', onEnd);
    ctx.in.resume();
  } else {
    // Docker closes its write side at once when it has nothing to send.
    sock.end();
  }
  try {
    await copyOutput(sock, o.tty, ctx.out, o.tty ? ctx.out : ctx.err);
  } finally {
    if (o.stdin) {
      ctx.in.off('data', onData);
      ctx.in.off('end', onEnd);
      ctx.in.pause();
    }
    if (rawMode) ctx.in.setRawMode!(false);
    sock.destroy();
  }
}

/** The local terminal size [rows, columns], or [0,0] when stdout is no TTY. */
export function ttySize(ctx: Ctx): [number, number] {
  if (!ctx.out.isTTY) return [0, 0];
  return [ctx.out.rows ?? 0, ctx.out.columns ?? 0];
}

/**
 * Sends the terminal size now and on every SIGWINCH (docker retries the first
 * resize because the process may not exist yet). Returns the stop function.
 */
export function monitorTtySize(ctx: Ctx, path: string): () => void {
  const send = async (retries: number): Promise<void> => {
    const [h, w] = ttySize(ctx);
    if (!h && !w) return;
    for (let i = 0; ; i++) {
      try {
        const res = await ctx.client.call('POST', path, { query: { h, w } });
        res.resume();
        return;
      } catch (e) {
        if (i >= retries) {
          ctx.err.write(`failed to resize tty, using default size\n`);
          void e;
          return;
        }
        await new Promise((r) => setTimeout(r, 10 * (i + 1)));
      }
    }
  };
  void send(10);
  const onWinch = (): void => void send(0);
  process.on('SIGWINCH', onWinch);
  return () => process.off('SIGWINCH', onWinch);
}

const PROXIED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/** Forwards the signals berth receives to the container (docker's --sig-proxy). */
export function proxySignals(ctx: Ctx, containerId: string): () => void {
  const handlers = PROXIED.map((sig) => {
    const h = (): void => {
      ctx.client
        .call('POST', `/containers/${containerId}/kill`, { query: { signal: sig } })
        .then((r) => r.resume())
        .catch(() => undefined);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => handlers.forEach(([sig, h]) => process.off(sig, h));
}
