/**
 * A tiny fake Engine API on a unix socket for the CLI tests: records every
 * request and answers from a route table; upgrades answer 101 and stream
 * multiplexed frames.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import type { ApiContainer } from '../../src/cli/commands/ps.js';

/** One request the fake saw. */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A route answer: status + JSON (or raw string) body, or a custom handler. */
export type Answer =
  | { status: number; json?: unknown; raw?: string; contentType?: string }
  | ((req: http.IncomingMessage, res: http.ServerResponse, body: string) => void);

/** The fake daemon. */
export interface FakeDaemon {
  host: string;
  seen: Seen[];
  /** Route key "METHOD /path" (version prefix stripped) -> answer. */
  routes: Map<string, Answer>;
  /** Upgrade handler for attach / exec start. */
  onUpgrade?: (req: http.IncomingMessage, sock: Duplex, head: Buffer) => void;
  /** The last upgraded socket, for tests that write to it later. */
  onUpgradeSock?: Duplex;
  close(): Promise<void>;
}

/** Multiplexed-stream frame. */
export function frame(stream: number, s: string): Buffer {
  const b = Buffer.from(s);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(b.length, 4);
  return Buffer.concat([h, b]);
}

/** Starts a fake daemon on a fresh unix socket. */
export async function startFake(): Promise<FakeDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cli-test-'));
  const path = join(dir, 'd.sock');
  const seen: Seen[] = [];
  const routes = new Map<string, Answer>();
  const fake: FakeDaemon = {
    host: `unix://${path}`,
    seen,
    routes,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const url = (req.url ?? '').replace(/^\/v[0-9.]+/, '');
      seen.push({ method: req.method ?? '', url, headers: req.headers, body });
      const path = url.split('?')[0];
      if (path === '/_ping') {
        res.writeHead(200, { 'Api-Version': '1.47', Ostype: 'linux' });
        res.end(req.method === 'HEAD' ? '' : 'OK');
        return;
      }
      const a = routes.get(`${req.method} ${path}`);
      if (!a) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: 'page not found' }));
        return;
      }
      if (typeof a === 'function') return a(req, res, body);
      res.writeHead(a.status, { 'Content-Type': a.contentType ?? 'application/json' });
      res.end(a.raw ?? (a.json === undefined ? '' : JSON.stringify(a.json)));
    });
  });
  server.on('upgrade', (req, sock: Duplex, head: Buffer) => {
    seen.push({
      method: `UPGRADE ${req.method}`,
      url: (req.url ?? '').replace(/^\/v[0-9.]+/, ''),
      headers: req.headers,
      body: '',
    });
    sock.write(
      'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
    );
    fake.onUpgrade?.(req, sock, head);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return fake;
}

/** A stream that remembers what a command wrote to it. */
export function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let t = '';
  stream.on('data', (d: Buffer) => (t += d.toString()));
  return { stream, text: () => t };
}

// Containers and the table docker CLI 28.2.2 printed for them (recorded against a logging mock).
export function sampleContainers(now: number): ApiContainer[] {
  const t = Math.floor(now / 1000);
  return [
    {
      Id: 'f1e2d3c4b5a6978877665544332211009988776655443322110099aabbccddee',
      Names: ['/test1'],
      Image: 'busybox',
      ImageID: 'sha256:9c301fcfa162aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      Command: "/bin/sh -c 'while true; do sleep 3600; done'",
      Created: t - 7300,
      Ports: [
        { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { PrivatePort: 443, Type: 'tcp' },
        { PrivatePort: 444, Type: 'tcp' },
        { IP: '0.0.0.0', PrivatePort: 53, PublicPort: 53, Type: 'udp' },
      ],
      Labels: { a: '1', 'com.x': 'y' },
      State: 'running',
      Status: 'Up 2 hours',
      NetworkSettings: { Networks: { bridge: {} } },
      SizeRw: 12345,
      SizeRootFs: 4860000,
    },
    {
      Id: 'aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44',
      Names: ['/test2', '/test3/t2'],
      Image: 'sha256:9c301fcfa162aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      ImageID: 'sha256:9c301fcfa162aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      Command: 'sh',
      Created: t - 75,
      Ports: [],
      Labels: {},
      State: 'exited',
      Status: 'Exited (0) 3 seconds ago',
    },
    {
      Id: 'bb11bb22cc33dd44ee55ff66aa11bb22cc33dd44ee55ff66aa11bb22cc33dd44',
      Names: ['/web'],
      Image: 'nginx:1.2',
      ImageID: 'sha256:1111',
      Command: 'echo "hi"\ttab é',
      Created: t - 86400 * 3,
      Ports: [8000, 8001, 8002].map((p) => ({
        IP: '0.0.0.0',
        PrivatePort: p,
        PublicPort: p,
        Type: 'tcp',
      })),
      Labels: null,
      State: 'created',
      Status: 'Created',
    },
  ];
}

export const DOCKER_PS = `CONTAINER ID   IMAGE          COMMAND                  CREATED              STATUS                     PORTS                                                                      NAMES
f1e2d3c4b5a6   busybox        "/bin/sh -c 'while t…"   2 hours ago          Up 2 hours                 0.0.0.0:53->53/udp, 443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp   test1
aa11bb22cc33   9c301fcfa162   "sh"                     About a minute ago   Exited (0) 3 seconds ago                                                                              test2
bb11bb22cc33   nginx:1.2      "echo \\"hi\\"\\ttab é"     3 days ago           Created                    0.0.0.0:8000-8002->8000-8002/tcp                                           web
`;
