/**
 * Micro-benchmark of the rtnetlink layer (docs/decisions/0006-netlink.md):
 * in a throwaway pair of namespaces ("host" with a bridge, "container"),
 *
 *   get      1000 × RTM_GETLINK by name through Rtnl
 *   attach   veth created with its peer born in the container, enslaved and
 *            up in one request, then the peer brought up from a socket
 *            opened inside the container (what the bridge driver does)
 *   detach   the veth deleted
 *
 * against `ip` processes doing the same, both as one `ip link add … peer …
 * netns` command and as the classic five steps (create, move, rename, up,
 * enslave). Engines alternate each iteration. Then Berth alone under each
 * offload policy (which requests are sent from a worker thread, see
 * src/kernel/netlink/socket.ts), with the longest event-loop stall of each,
 * and each request type alone. Then the bridge driver's own attach path
 * (src/network/drivers/bridge), kernel only: back to back, and each after
 * 200 ms of idleness, which is how the first call of a turn in net-ops finds
 * the machine: the floor under the daemon's attach. With `--netlink-pkg DIR` the npm
 * `netlink` package (installed elsewhere; not a dependency) is measured too.
 * Nothing outside the two namespaces is touched; they are deleted at exit.
 *
 *   node dist/bench/netlink.js [--iterations 100] [--netlink-pkg /tmp/x/node_modules/netlink]
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Rtnl, type OpenOptions, writeSysctl } from '../src/kernel/netlink/index.js';
import { newVethMsg } from '../src/kernel/netlink/msg-link.js';
import { median, percentile } from './lib/stats.js';

const prefix = `nlb${randomBytes(3).toString('hex')}`;
const HOST = `${prefix}-h`;
const CTR = `${prefix}-c`;
const nsPath = (n: string): string => `/run/netns/${n}`;

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

const now = (): number => performance.now();
const samples = new Map<string, number[]>();
function record(name: string, ms: number): void {
  const s = samples.get(name) ?? [];
  s.push(ms);
  samples.set(name, s);
}

async function berthAttachDetach(
  rt: Rtnl,
  i: number,
  opts: OpenOptions,
  tag: string,
): Promise<void> {
  const t0 = now();
  await rt.createVeth({
    name: `vb${i}`,
    master: 'br0',
    up: true,
    peer: { name: 'eth0', netns: nsPath(CTR) },
  });
  const inside = Rtnl.open({ ...opts, netns: nsPath(CTR) });
  await inside.setLink('eth0', { up: true });
  inside.close();
  const t1 = now();
  await rt.deleteLink(`vb${i}`);
  const t2 = now();
  record(`${tag} attach`, t1 - t0);
  record(`${tag} detach`, t2 - t1);
  record(`${tag} attach+detach`, t2 - t0);
}

function ipOneCommand(i: number): void {
  const t0 = now();
  ip(
    '-n',
    HOST,
    'link',
    'add',
    `vi${i}`,
    'master',
    'br0',
    'up',
    'type',
    'veth',
    'peer',
    'name',
    'eth0',
    'netns',
    CTR,
  );
  ip('-n', CTR, 'link', 'set', 'eth0', 'up');
  const t1 = now();
  ip('-n', HOST, 'link', 'del', `vi${i}`);
  const t2 = now();
  record('ip (one command) attach', t1 - t0);
  record('ip (one command) detach', t2 - t1);
  record('ip (one command) attach+detach', t2 - t0);
}

function ipClassic(i: number): void {
  const t0 = now();
  ip('-n', HOST, 'link', 'add', `vc${i}`, 'type', 'veth', 'peer', 'name', `vc${i}p`);
  ip('-n', HOST, 'link', 'set', `vc${i}p`, 'netns', CTR);
  ip('-n', CTR, 'link', 'set', `vc${i}p`, 'name', 'eth0');
  ip('-n', CTR, 'link', 'set', 'eth0', 'up');
  ip('-n', HOST, 'link', 'set', `vc${i}`, 'master', 'br0', 'up');
  const t1 = now();
  ip('-n', HOST, 'link', 'del', `vc${i}`);
  const t2 = now();
  record('ip (5 steps) attach', t1 - t0);
  record('ip (5 steps) detach', t2 - t1);
  record('ip (5 steps) attach+detach', t2 - t0);
}

/**
 * Each request type alone, sent inline (`offload: 'never'`), so the time is
 * the kernel's plus ~0.01 ms of ours: which requests are worth a worker thread.
 */
async function perRequest(iterations: number): Promise<void> {
  const h = Rtnl.open({ netns: nsPath(HOST), offload: 'never' });
  const c = Rtnl.open({ netns: nsPath(CTR), offload: 'never' });
  const time = async (name: string, f: () => Promise<unknown>): Promise<void> => {
    const t = now();
    await f();
    record(`request: ${name}`, now() - t);
  };
  for (let i = 0; i < iterations; i++) {
    await time('bridge create', () => h.createBridge({ name: `rb${i}` }));
    await time('link up', () => h.setLink(`rb${i}`, { up: true }));
    await time('address add', () => h.addAddress(`rb${i}`, `10.${i % 250}.0.1/24`));
    await time('veth create, peer in namespace', () =>
      h.createVeth({
        name: `rv${i}`,
        master: `rb${i}`,
        up: true,
        peer: { name: 'tmp0', netns: nsPath(CTR) },
      }),
    );
    await time('rename + up (inside)', () => c.setLink('tmp0', { name: 'eth0', up: true }));
    await time('address add (inside)', () => c.addAddress('eth0', `10.${i % 250}.0.2/24`));
    await time('default route add (inside)', () => c.addRoute({ gateway: `10.${i % 250}.0.1` }));
    await time('get link', () => h.getLink(`rv${i}`));
    await time('link dump', () => h.listLinks());
    await time('veth delete', () => h.deleteLink(`rv${i}`));
    await time('bridge delete', () => h.deleteLink(`rb${i}`));
  }
  h.close();
  c.close();
}

/**
 * The kernel requests of one bridge attach as the driver sends them: the veth
 * with one queue each way, MAC and MTU, enslaved by index and up, its peer
 * born in the container; the peer's index looked up inside; address, up and
 * default route in one round trip. Nothing is deleted between samples (the
 * daemon defers deletions too), so only idleness differs between the two.
 */
async function driverAttachFloor(iterations: number): Promise<void> {
  const h = Rtnl.open({ netns: nsPath(HOST) });
  const c = Rtnl.open({ netns: nsPath(CTR) });
  // As the daemon's sandboxes: no IPv6 until a network brings it.
  for (const k of ['all', 'default'])
    writeSysctl(`net.ipv6.conf.${k}.disable_ipv6`, 1, nsPath(CTR));
  const master = await h.index('br0');
  let n = 0;
  for (let i = 0; i < iterations; i++) {
    for (const idleMs of [0, 200]) {
      if (idleMs) await new Promise((r) => setTimeout(r, idleMs));
      const k = n++;
      const t = now();
      await h.createVeth({
        name: `vf${k}`,
        mtu: 1500,
        queues: 1,
        up: true,
        ipv6LinkLocal: false,
        master,
        peer: { name: `eth${k + 1}`, mtu: 1500, mac: '02:42:0a:63:00:02', netns: nsPath(CTR) },
      });
      const t1 = now();
      const index = await c.index(`eth${k + 1}`);
      const t2 = now();
      await c.configureLink(index, {
        addresses: [{ cidr: `10.${99 + (k % 100)}.0.2/24` }],
        up: true,
        routes: [],
      });
      const t3 = now();
      const tag = idleMs ? 'after 200 ms idle' : 'back to back';
      record(`driver attach ${tag}: veth`, t1 - t);
      record(`driver attach ${tag}: index`, t2 - t1);
      record(`driver attach ${tag}: configure`, t3 - t2);
      record(`driver attach ${tag}: total`, t3 - t);
    }
  }
  for (let k = 0; k < n; k++) await h.deleteLink(`vf${k}`);
  h.close();
  c.close();
}

/** Watches the event loop with a 0 ms timer chain; `stop()` gives the longest gap in ms. */
function stallProbe(): { stop(): number } {
  let last = now();
  let max = 0;
  let on = true;
  const tick = (): void => {
    const t = now();
    max = Math.max(max, t - last);
    last = t;
    if (on) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  return {
    stop: () => {
      on = false;
      return Math.max(max, now() - last);
    },
  };
}

/** The slice of the npm `netlink` package's API used here. */
interface NpmRtSocket {
  getLink(data: { index?: number }, attrs?: { ifname?: string }): Promise<unknown[]>;
  newLink(
    data: object,
    attrs: { ifname: string; linkinfo: Buffer },
    o: { flags: number },
  ): Promise<unknown>;
  delLink(data: object, attrs: { ifname: string }): Promise<unknown>;
  socket: { socket: { close(): void } };
}

async function npmPackage(dir: string, iterations: number, rt: Rtnl): Promise<void> {
  const lib = createRequire(import.meta.url)(dir) as { createRtNetlink(): NpmRtSocket };
  const { openSync, closeSync } = await import('node:fs');
  const { inNetns } = await import('../src/kernel/sys/libc.js');
  const sock = inNetns(nsPath(HOST), () => lib.createRtNetlink());
  for (let i = 0; i < 1000; i++) await sock.getLink({}, { ifname: 'br0' }); // warm-up
  let t = now();
  for (let i = 0; i < 10000; i++) await sock.getLink({}, { ifname: 'br0' });
  record('npm netlink get (per op, 10000)', (now() - t) / 10000);
  // The package takes IFLA_LINKINFO as raw bytes: the veth peer is encoded by our codec.
  const fd = openSync(nsPath(CTR), 'r');
  for (let i = 0; i < iterations; i++) {
    const full = newVethMsg({ name: `vn${i}`, peer: { name: 'eth0', nsFd: fd } });
    // IFLA_LINKINFO is the message's last attribute; its value starts at IFLA_INFO_KIND.
    const linkinfo = full.subarray(full.indexOf('veth\0') - 4);
    t = now();
    await sock.newLink({}, { ifname: `vn${i}`, linkinfo }, { flags: 0x600 });
    const t1 = now();
    const probe = stallProbe();
    await sock.delLink({}, { ifname: `vn${i}` });
    record('npm netlink veth delete longest stall', probe.stop());
    record('npm netlink veth create', t1 - t);
    record('npm netlink veth delete', now() - t1);
    // The same two requests through Rtnl, alternating.
    t = now();
    await rt.createVeth({ name: `vn${i}`, peer: { name: 'eth0', netns: nsPath(CTR) } });
    const t2 = now();
    const probe2 = stallProbe();
    await rt.deleteLink(`vn${i}`);
    record('berth veth delete longest stall', probe2.stop());
    record('berth veth create', t2 - t);
    record('berth veth delete', now() - t2);
  }
  closeSync(fd);
  sock.socket.socket.close();
}

function report(): void {
  const rows = [...samples.entries()].map(([name, s]) => {
    const sorted = [...s].sort((a, b) => a - b);
    const f = (x: number): string => x.toFixed(3);
    return `| ${name} | ${sorted.length} | ${f(median(sorted))} | ${f(percentile(sorted, 90))} | ${f(sorted[0] ?? NaN)} |`;
  });
  console.log('\n| operation | n | median ms | p90 ms | min ms |\n| --- | --- | --- | --- | --- |');
  console.log(rows.join('\n'));
}

async function main(argv: string[]): Promise<void> {
  let iterations = 100;
  let pkg: string | undefined;
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--iterations') iterations = Number(argv[i + 1]);
    else if (argv[i] === '--netlink-pkg') pkg = argv[i + 1];
    else throw new Error('usage: netlink [--iterations N] [--netlink-pkg DIR]');
  }
  ip('netns', 'add', HOST);
  ip('netns', 'add', CTR);
  const cleanup = (): void => {
    for (const n of [HOST, CTR]) spawnSync('ip', ['netns', 'del', n]);
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const rt = Rtnl.open({ netns: nsPath(HOST) });
    await rt.createBridge({ name: 'br0', up: true });
    for (let i = 0; i < 1000; i++) await rt.getLink('br0'); // warm-up
    const t = now();
    for (let i = 0; i < 10000; i++) await rt.getLink('br0');
    record('berth get (per op, 10000)', (now() - t) / 10000);
    const t2 = now();
    for (let i = 0; i < 1000; i++) Rtnl.open({ netns: nsPath(CTR) }).close();
    record('berth open+close a socket inside a namespace (per op, 1000)', (now() - t2) / 1000);
    // Side by side, alternating each iteration.
    for (let i = 0; i < iterations; i++) {
      await berthAttachDetach(rt, i, {}, 'berth');
      ipOneCommand(i);
      ipClassic(i);
    }
    // Offload policies, alternating, Berth alone (an `ip` run stalls the loop
    // for as long as it lives). Each operation's longest event-loop stall is
    // what a 0 ms timer chain saw (1 ms is the timer's own floor).
    const modes = ['deletes', 'links', 'never'] as const;
    const socks = modes.map((offload) => Rtnl.open({ netns: nsPath(HOST), offload }));
    for (let i = 0; i < iterations; i++) {
      for (const [k, offload] of modes.entries()) {
        const probe = stallProbe();
        await berthAttachDetach(socks[k]!, i, { offload }, `berth (offload ${offload})`);
        record(`berth (offload ${offload}) longest stall`, probe.stop());
      }
    }
    for (const s of socks) s.close();
    await perRequest(Math.min(iterations, 50));
    await driverAttachFloor(Math.min(iterations, 30));
    if (pkg) await npmPackage(pkg, iterations, rt);
    rt.close();
    report();
  } finally {
    cleanup();
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
