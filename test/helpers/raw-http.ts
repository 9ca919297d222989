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
