/**
 * A small DNS load generator for decision 0009's measurements (dnsperf's two
 * modes): closed loop with a window of outstanding queries (saturation), or
 * an open loop at a fixed rate (latency at a given load). Run it inside a lab
 * namespace, never against an outside server:
 *   node dist/src/network/dns/tools/loadgen.js --server 10.89.1.1 --name web \
 *     [--name db ...] [--type A] [--qps 10000 | --window 64] [--duration 10]
 *     [--sockets 1] [--port 53] [--timeout 1000] [--bind SOURCE_IP]
 * Prints one JSON line: sent, answered, lost, qps, meanMs, p50Ms, p99Ms, rcodes.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    port: { type: 'string', default: '53' },
    name: { type: 'string', multiple: true, default: ['web'] },
    type: { type: 'string', default: 'A' },
    qps: { type: 'string', default: '0' },
    window: { type: 'string', default: '64' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    sockets: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '1000' },
    bind: { type: 'string' },
  },
});

const server = values.server;
if (!server) throw new Error('--server is required');
const port = Number(values.port);
const qps = Number(values.qps);
const window = Number(values.window);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const timeoutMs = Number(values.timeout);
const queries = (values.name as string[]).map((name) =>
  dnsPacket.encode({
    type: 'query',
    id: 0,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: values.type as dnsPacket.RecordType, name, class: 'IN' }],
  }),
);

const sentAt = new Float64Array(65536).fill(-1);
const latencies: number[] = [];
const rcodes: Record<number, number> = {};
let nextId = 0;
let sent = 0;
let answered = 0;
let lost = 0;
let measuredSent = 0;
let measuring = false;
let stopped = false;
const start = performance.now();

const sockets: Socket[] = [];
function send(): void {
  // Skip IDs still outstanding (they time out eventually).
  for (let tries = 0; tries < 65536 && sentAt[nextId] !== -1; tries++)
    nextId = (nextId + 1) & 0xffff;
  const id = nextId;
  nextId = (nextId + 1) & 0xffff;
  const q = queries[sent % queries.length] as Buffer;
  const buf = Buffer.allocUnsafe(q.length);
  q.copy(buf);
  buf.writeUInt16BE(id, 0);
  sentAt[id] = performance.now();
  sent++;
  if (measuring) measuredSent++;
  (sockets[sent % sockets.length] as Socket).send(buf, port, server);
}

function onMessage(m: Buffer): void {
  if (m.length < 12) return;
  const id = m.readUInt16BE(0);
  const t = sentAt[id] as number;
  if (t < 0) return;
  sentAt[id] = -1;
  if (measuring) {
    answered++;
    latencies.push(performance.now() - t);
    const rc = (m[3] as number) & 0x0f;
    rcodes[rc] = (rcodes[rc] ?? 0) + 1;
  }
  if (qps === 0 && !stopped) send();
}

for (let i = 0; i < Number(values.sockets); i++) {
  const s = createSocket(server.includes(':') ? 'udp6' : 'udp4');
  s.on('message', onMessage);
  s.on('error', () => {});
  // The source address is what the resolver identifies the client by.
  if (values.bind) s.bind({ address: values.bind, port: 0 });
  sockets.push(s);
}

// Expire what never came back, so a lost packet does not shrink the window forever.
const sweeper = setInterval(() => {
  const now = performance.now();
  for (let id = 0; id < 65536; id++) {
    const t = sentAt[id] as number;
    if (t >= 0 && now - t > timeoutMs) {
      sentAt[id] = -1;
      if (measuring) lost++;
      if (qps === 0 && !stopped) send();
    }
  }
}, 100);

let measureStart = 0;
setTimeout(() => {
  measuring = true;
  measureStart = performance.now();
}, warmupMs);

if (qps === 0) {
  for (let i = 0; i < window; i++) send();
} else {
  const ticker = setInterval(() => {
    if (stopped) return clearInterval(ticker);
    const due = Math.floor(((performance.now() - start) * qps) / 1000);
    while (sent < due) send();
  }, 1);
}

setTimeout(() => {
  stopped = true;
  const elapsed = (performance.now() - measureStart) / 1000;
  setTimeout(
    () => {
      clearInterval(sweeper);
      for (const s of sockets) s.close();
      latencies.sort((a, b) => a - b);
      const pct = (p: number): number => latencies[Math.floor(latencies.length * p)] ?? NaN;
      const mean = latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1);
      const r = (x: number): number => Math.round(x * 1000) / 1000;
      process.stdout.write(
        `${JSON.stringify({
          mode: qps === 0 ? `window ${window}` : `rate ${qps}`,
          sent: measuredSent,
          answered,
          lost,
          qps: Math.round(answered / elapsed),
          meanMs: r(mean),
          p50Ms: r(pct(0.5)),
          p99Ms: r(pct(0.99)),
          rcodes,
        })}\n`,
      );
    },
    Math.min(timeoutMs, 500),
  );
}, warmupMs + durationMs);
