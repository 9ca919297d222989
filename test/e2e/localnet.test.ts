/**
 * Containers must not reach what the host binds to 127.0.0.1 (the
 * CVE-2020-8558 class). Berth's bridges have route_localnet=1 so published
 * ports answer on 127.0.0.1; a container crafting a TCP SYN to 127.0.0.1 at
 * the gateway's MAC would otherwise be answered by a host service bound to
 * loopback only. The probe is a raw AF_PACKET socket in the container's
 * namespace (what a container's default NET_RAW allows), run with the host's
 * Python through nsenter; it listens on the same socket for the answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
/** A host service bound to loopback only. */
const LOOPBACK_PORT = 9311;
/** A port published on 127.0.0.1 only. */
const PUBLISHED_LOCAL = 8481;

/** Sends one SYN from `src` to 127.0.0.1:port at the gateway's MAC; prints what came back. */
const PROBE = String.raw`
import socket, struct, sys, time, random
ifname, gwmac, src, dport = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind((ifname, 0x0800))
mymac = s.getsockname()[4]
saddr, daddr = socket.inet_aton(src), socket.inet_aton('127.0.0.1')
sport = random.randint(40000, 60000)
tcp = struct.pack('!HHIIBBHHH', sport, dport, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
tcp = tcp[:16] + struct.pack('!H', csum(saddr + daddr + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)) + tcp[18:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, saddr, daddr)
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
s.send(bytes.fromhex(gwmac.replace(':', '')) + mymac + b'\x08\x00' + ip + tcp)
s.settimeout(0.2)
end, got = time.time() + 1.5, 'NONE'
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    p = f[14:]
    if len(p) < 40 or p[9] != 6: continue
    t = p[(p[0] & 15) * 4:]
    sp, dp, flags = struct.unpack('!HH', t[:4]) + (t[13],)
    if sp == dport and dp == sport:
        got = 'SYNACK' if flags & 0x12 == 0x12 else 'RST' if flags & 0x04 else 'TCP'
        break
print(got)
`;

interface Target {
  name: string;
  netns: string;
  ip: string;
  gw: string;
  gwmac: string;
}

/** The container's namespace, address and its gateway's (the bridge's) MAC. */
function target(name: string, network: string, bridge: string): Target {
  const r = env.docker(['inspect', '-f', '{{.Id}}', name]);
  assert.equal(r.status, 0, r.stderr);
  const id = r.stdout.trim();
  const [ip, gw] = env
    .docker([
      'inspect',
      '-f',
      `{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}} {{.Gateway}}{{end}}`,
      name,
    ])
    .stdout.trim()
    .split(' ');
  const link = JSON.parse(env.inHost(['ip', '-j', 'link', 'show', 'dev', bridge]).stdout) as Array<{
    address: string;
  }>;
  return {
    name,
    netns: `${env.daemon.execRoot}/netns/${id.slice(0, 16)}`,
    ip: ip!,
    gw: gw!,
    gwmac: link[0]!.address,
  };
}

/**
 * Runs the probe inside the container's namespace. The container pings its
 * gateway first, as an attacker would: the host then knows its MAC (the
 * host's own ARP request for an answer from 127.0.0.1 goes unanswered).
 */
function probe(t: Target, port: number): string {
  const ping = env.docker(['exec', t.name, 'ping', '-c', '1', '-W', '1', t.gw]);
  assert.equal(ping.status, 0, ping.stderr);
  const r = env.lab.exec(1, [
    'nsenter',
    `--net=${t.netns}`,
    '/usr/bin/python3',
    '-c',
    PROBE,
    'eth0',
    t.gwmac,
    t.ip,
    String(port),
  ]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe('loopback is out of containers’ reach (route_localnet)', () => {
  let listener: ChildProcess | undefined;
  before(async () => {
    env = await labWithDaemons();
    listener = env.lab.spawn(1, [
      '/usr/bin/python3',
      '-c',
      `import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', ${LOOPBACK_PORT})); s.listen(16); print('ready', flush=True); time.sleep(600)`,
    ]);
    await new Promise<void>((resolve, reject) => {
      listener!.stdout!.once('data', () => resolve());
      listener!.once('exit', (c) => reject(new Error(`listener exited ${c}`)));
    });
    assert.equal(env.docker(['network', 'create', 'usernet']).status, 0);
    const loop = ['sh', '-c', 'while true; do sleep 3600; done'];
    for (const [name, net] of [
      ['c-default', 'bridge'],
      ['c-user', 'usernet'],
    ]) {
      const r = env.docker(['run', '-d', '--name', name!, '--network', net!, 'busybox', ...loop]);
      assert.equal(r.status, 0, r.stderr);
    }
    const web = env.docker([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      `127.0.0.1:${PUBLISHED_LOCAL}:80`,
      'busybox',
      'sh',
      '-c',
      'mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p 80 -h /www',
    ]);
    assert.equal(web.status, 0, web.stderr);
  });
  after(async () => {
    if (listener?.pid) listener.kill();
    await env?.destroy();
  });

  it('the lab host reaches its loopback service, and the probe sees answers', () => {
    const r = env.inHost([
      '/usr/bin/python3',
      '-c',
      `import socket; socket.create_connection(('127.0.0.1', ${LOOPBACK_PORT}), 2); print('ok')`,
    ]);
    assert.equal(r.stdout.trim(), 'ok', r.stderr);
    // The probe works: a SYN to a closed port on the gateway's own address is
    // answered (port 53: the one port of the host's containers may reach,
    // decision 0040; the default bridge has no resolver on it).
    const t = target('c-default', 'bridge', 'berth0');
    const r2 = env.lab.exec(1, [
      'nsenter',
      `--net=${t.netns}`,
      '/usr/bin/python3',
      '-c',
      PROBE.replace("inet_aton('127.0.0.1')", `inet_aton('${t.gw}')`),
      'eth0',
      t.gwmac,
      t.ip,
      '53',
    ]);
    assert.equal(r2.stdout.trim(), 'RST', r2.stderr);
  });

  for (const [name, net] of [
    ['c-default', 'bridge'],
    ['c-user', 'usernet'],
  ] as const) {
    it(`drops a SYN to 127.0.0.1 from a container on ${net}`, () => {
      const bridge =
        net === 'bridge'
          ? 'berth0'
          : `br-${env.docker(['network', 'inspect', '-f', '{{.Id}}', net]).stdout.slice(0, 12)}`;
      const t = target(name, net, bridge);
      assert.equal(probe(t, LOOPBACK_PORT), 'NONE', `host loopback service from ${net}`);
      assert.equal(probe(t, PUBLISHED_LOCAL), 'NONE', `port published on 127.0.0.1 from ${net}`);
    });
  }

  it('keeps a port published on 127.0.0.1 reachable from the host', async () => {
    let r = { status: 1 as number | null, stdout: '', stderr: '' };
    for (let i = 0; i < 50 && r.status !== 0; i++) {
      r = env.inHost(['curl', '-s', '-m', '3', `http://127.0.0.1:${PUBLISHED_LOCAL}/`]);
      if (r.status !== 0) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
  });
});
