/** /containers/{id}/exec and /exec/... routes. */
import { obj, optBool, qInt } from '../../common/validate.js';
import { empty, json, type Router } from '../server.js';
import { bridgeToShim, frame, streamType } from '../stream.js';
import type { Hijacked } from '../server.js';
import { messageOf } from '../../common/errors.js';

/** What dockerd 20.10 writes when a client detaches from a TTY exec (then it kills the process). */
const DETACHED = 'exec attach failed: error on attach stdin: read escape sequence\r\n';
import type { Services } from './services.js';

export function execRoutes(r: Router, s: Services): void {
  r.on('POST', '/containers/:id/exec', async (ctx) => {
    const id = s.execs.create(ctx.params[0]!, await ctx.body());
    json(ctx.res!, 201, { Id: id });
  });

  r.on(
    'POST',
    '/exec/:id/start',
    async (ctx) => {
      const e = s.execs.get(ctx.params[0]!);
      const b = obj(await ctx.body(), 'body');
      const detach = optBool(b, 'Detach') ?? false;
      // As dockerd: the process has a TTY if its exec was created with one; the
      // start's `Tty` (Go's zero value: false) only says how the stream is
      // framed (raw, or multiplexed even around a TTY's output).
      const tty = e.ProcessConfig.tty;
      const rawStream = optBool(b, 'Tty') ?? false;
      if (detach) {
        await s.execs.start(e.ID, { detach: true, tty });
        // No stream: an answer as any route's, then the connection closes
        // (written raw on an upgraded one, whose socket is closed after it).
        if (ctx.res) {
          ctx.res.writeHead(200, { 'Content-Type': 'application/json' }).end();
          ctx.req.socket.end();
        } else {
          ctx.socket.end(
            'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
          );
        }
        return;
      }
      const type = streamType(rawStream, ctx.version);
      let h: Hijacked | undefined;
      // The client's stream ends when the process does, but only after a launch
      // failure (reported in the stream itself, as Docker does) has been written.
      let settled!: () => void;
      const launchSettled = new Promise<void>((r) => (settled = r));
      try {
        await s.execs.start(e.ID, {
          detach: false,
          tty,
          onAttachable: (open) => {
            void ctx.hijack(type).then((hj) => {
              h = hj;
              return bridgeToShim(open, hj, {
                stdin: e.OpenStdin,
                stdout: e.OpenStdout,
                stderr: e.OpenStderr,
                tty,
                raw: rawStream,
                // inspect must see the exit code once the client sees the end of the stream
                onShimClose: () => void launchSettled.then(() => e.done).then(() => hj.end()),
                detachKeys: e.detachKeys,
                onDetach: () => {
                  const msg = Buffer.from(DETACHED);
                  hj.write(rawStream ? msg : frame(1, msg));
                  void launchSettled
                    .then(() => s.execs.killOnDetach(e.ID))
                    .catch(() => undefined)
                    .then(() => hj.end());
                },
              });
            });
          },
        });
      } catch (err) {
        const hj = h ?? (await ctx.hijack(type));
        const msg = Buffer.from(`${messageOf(err)}\r\n`);
        hj.write(rawStream ? msg : frame(1, msg));
        hj.end();
      } finally {
        settled();
      }
    },
    { hijack: true },
  );

  r.on('POST', '/exec/:id/resize', async ({ res, params, query }) => {
    const e = s.execs.get(params[0]!);
    const h = qInt(query.get('h'), 'h') ?? 0;
    const w = qInt(query.get('w'), 'w') ?? 0;
    await s.execs.resize(e.ID, h, w);
    empty(res!, 200);
  });

  r.on('GET', '/exec/:id/json', async ({ res, params }) => {
    json(res!, 200, s.execs.inspect(params[0]!));
  });
}
