/**
 * A unix-socket proxy in front of a server, for the fault where a request
 * arrives and its answer does not: while `mute` is set, what the server
 * sends back is dropped and counted, and the connections stay open.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class MutingProxy {
  mute = false;
  /** Bytes the server sent while muted. */
  dropped = 0;
  /** Called when muted bytes are first dropped (an answer was lost). */
  onDrop?: () => void;
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Listens on `path`, passing every connection on to the unix socket `target`. */
  static async start(path: string, target: string): Promise<MutingProxy> {
    const server = createServer();
    const proxy = new MutingProxy(path, server);
    server.on('connection', (client) => proxy.pass(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    return proxy;
  }

  private pass(client: Socket, target: string): void {
    const server = createConnection(target);
    for (const s of [client, server]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        server.destroy();
      });
    }
    client.on('data', (d: Buffer) => server.write(d));
    server.on('data', (d: Buffer) => {
      if (!this.mute) {
        client.write(d);
        return;
      }
      if (this.dropped === 0) this.onDrop?.();
      this.dropped += d.length;
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
