/**
 * Small DNS client programs that tests run inside a namespace (a lab
 * namespace or a container's), as `node -e SCRIPT ARGS...` with the repo as
 * working directory (for `require('dns-packet')`), and a runner for them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { REPO } from './lab-daemon.js';

/**
 * Sends queries one after the other and prints what came back as one JSON
 * array. argv[1]: JSON list of { name, server, type?, tcp?, timeout? }.
 */
export const DNS_CLIENT = `
const dp = require('dns-packet'), dgram = require('node:dgram'), net = require('node:net');
function one(q) {
  return new Promise((res) => {
    const id = Math.floor(Math.random() * 65536);
    const msg = dp.encode({ type: 'query', id, flags: dp.RECURSION_DESIRED, questions: [{ type: q.type || 'A', name: q.name }] });
    const t0 = Date.now(); let done = false;
    const fin = (r) => { if (done) return; done = true; clearTimeout(timer); try { s.destroy ? s.destroy() : s.close(); } catch {} res({ ...r, ms: Date.now() - t0 }); };
    const timer = setTimeout(() => fin({ error: 'timeout' }), q.timeout || 3000);
    const decode = (b) => { const p = dp.decode(b); return { id: p.id === id, rcode: p.flags & 15, tc: p.flag_tc,
      answers: (p.answers || []).map((a) => a.data) }; };
    let s;
    if (q.tcp) {
      s = net.connect(53, q.server); let got = Buffer.alloc(0);
      s.on('error', (e) => fin({ error: e.code }));
      s.on('close', () => fin({ error: 'closed' }));
      s.on('connect', () => { const l = Buffer.alloc(2); l.writeUInt16BE(msg.length); s.write(Buffer.concat([l, msg])); });
      s.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) fin(decode(got.subarray(2))); });
    } else {
      s = dgram.createSocket('udp4');
      s.on('error', (e) => fin({ error: e.code }));
      s.on('message', (m) => fin(decode(m)));
      s.connect(53, q.server, () => s.send(msg));
    }
  });
}
(async () => { const out = []; for (const q of JSON.parse(process.argv[1])) out.push(await one(q));
  process.stdout.write(JSON.stringify(out)); })();
`;

/**
 * Opens argv[2] TCP connections to argv[1]:53 and sends nothing on them.
 * Once every attempt has connected or failed (and 500 ms more), and again
 * for each line on stdin, prints { connected, open } (connections accepted
 * so far, and still open). Exits when stdin closes.
 */
export const DNS_HOG = `
const net = require('node:net');
const [server, n] = [process.argv[1], Number(process.argv[2])];
let settled = 0, connected = 0, open = 0;
const report = () => process.stdout.write(JSON.stringify({ connected, open }) + '\\n');
for (let i = 0; i < n; i++) {
  const c = net.connect(53, server);
  let up = false, done = false;
  const settle = () => { if (!done) { done = true; if (++settled === n) setTimeout(report, 500); } };
  c.on('connect', () => { up = true; connected++; open++; settle(); });
  c.on('error', () => {});
  c.on('close', () => { if (up) open--; settle(); });
  c.resume();
}
process.stdin.on('data', report);
process.stdin.on('end', () => process.exit(0));
`;

/**
 * Connects to argv[1]:53 and sends the bytes argv[2] (hex) one at a time,
 * argv[3] ms apart (nothing when argv[2] is empty). Prints
 * { closedAfter, sent } once the server closes the connection, or
 * { open: true, sent } if it is still open after argv[4] ms.
 */
export const DNS_DRIP = `
const net = require('node:net');
const [server, hex, every, limit] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const bytes = Buffer.from(hex, 'hex');
let sent = 0, t0 = 0, timer;
const c = net.connect(53, server, () => {
  t0 = Date.now();
  const next = () => { if (sent < bytes.length) c.write(bytes.subarray(sent, ++sent)); timer = setTimeout(next, every); };
  next();
});
c.on('error', () => {});
c.resume();
c.on('close', () => { process.stdout.write(JSON.stringify({ closedAfter: t0 ? Date.now() - t0 : -1, sent })); process.exit(0); });
setTimeout(() => { process.stdout.write(JSON.stringify({ open: true, sent })); process.exit(0); }, limit);
`;

/** Runs `node -e script args` in the network namespace at `netns` (a path) and collects its output. */
export function runScriptIn(
  netns: string,
  script: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, '-e', script, ...args], {
      cwd: REPO,
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, out, err });
    });
  });
}

/** Starts `node -e script args` in the network namespace at `netns`, talking lines on stdio. */
export function startScriptIn(
  netns: string,
  script: string,
  args: string[],
): { proc: ChildProcess; lines: Interface } {
  const proc = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, '-e', script, ...args], {
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return { proc, lines: createInterface({ input: proc.stdout as NodeJS.ReadableStream }) };
}

/** The next line a started script prints (rejects after `ms`). */
export function nextLine(lines: Interface, ms = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      lines.off('line', on);
      reject(new Error('no line from the script'));
    }, ms);
    const on = (l: string): void => {
      clearTimeout(t);
      lines.off('line', on);
      resolve(l);
    };
    lines.on('line', on);
  });
}
