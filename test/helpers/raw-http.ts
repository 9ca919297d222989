/**
 * Raw HTTP on a unix socket, for requests no client library would send
 * (bad escapes, broken request lines, oversized parts).
 */
import { connect } from 'node:net';

/** Sends `bytes`; resolves with all that came back once the server closed or went quiet. */
export function rawHttp(sock: string, bytes: string | Buffer, quietMs = 300): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(sock);
    const got: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      c.destroy();
      resolve(Buffer.concat(got).toString('latin1'));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    c.on('data', (d) => {
      got.push(d);
      arm();
    });
    c.on('close', done);
    c.on('error', done);
    c.write(bytes, () => arm());
  });
}

/** The status code of a raw reply (0 when it is not HTTP). */
export const statusOf = (reply: string): number =>
  Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);

/** The body of a raw reply. */
export const bodyOf = (reply: string): string => reply.slice(reply.indexOf('\r\n\r\n') + 4);

/** A step of a raw session: bytes to send `afterMs` after the previous step, or the end of input. */
export interface RawStep {
  send?: string | Buffer;
  end?: boolean;
  afterMs?: number;
}

/**
 * Sends `request`, then the steps; resolves with all that came back (latin1)
 * and whether the server closed the connection before `quietMs` of quiet.
 */
export function rawSession(
  sock: string,
  request: string | Buffer,
  steps: RawStep[] = [],
  quietMs = 1000,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const c = connect(sock);
    const got: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    const timers: NodeJS.Timeout[] = [];
    const done = () => {
      clearTimeout(timer);
      for (const t of timers) clearTimeout(t);
      c.destroy();
      resolve({ text: Buffer.concat(got).toString('latin1'), closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    c.on('data', (d) => {
      got.push(d);
      arm();
    });
    c.on('end', () => {
      closed = true;
      done();
    });
    c.on('close', done);
    c.on('error', done);
    c.write(request, () => {
      arm();
      let t = 0;
      for (const s of steps) {
        t += s.afterMs ?? 300;
        timers.push(
          setTimeout(() => {
            if (s.send !== undefined) c.write(s.send);
            if (s.end) c.end();
            arm();
          }, t),
        );
      }
    });
  });
}
