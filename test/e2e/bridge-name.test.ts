/**
 * `-o com.docker.network.bridge.name=X` when a link named X exists, and the
 * network create input the kernel would refuse (decision 0017,
 * docs/reference/docker-20.10-bridge-name.md): Berth never configures or
 * deletes a link it did not make. A non-bridge link (the loopback, a veth of
 * the user's), berth0 and another network's bridge are refused and left as
 * they were; a bridge the user made is used as Docker uses it and left in
 * place by `network rm`; bad names, MTUs and bodies are refused before
 * anything changes. And the reaper keeps deleting removed bridges when the
 * kernel refuses to delete its device group.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { eventually, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const NAME = 'com.docker.network.bridge.name';
const MTU = 'com.docker.network.driver.mtu';
/** A subnet for each refused create (10.77.N.0/24): free again afterwards, or a pool leaked. */
let refusals = 0;
const DOOMED_GROUP = 0x4252;

interface IpLink {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  group: string;
  link?: string;
  linkinfo?: { info_kind?: string };
}

/** A link of the lab host as `ip -j -d link` shows it (undefined when there is none). */
function link(name: string): IpLink | undefined {
  const r = env.inHost(['ip', '-j', '-d', 'link', 'show', 'dev', name]);
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as IpLink[])[0];
}

/** A link's addresses in the lab host (`a.b.c.d/len`). */
function addrs(name: string): string[] {
  const r = env.inHost(['ip', '-j', 'addr', 'show', 'dev', name]);
  assert.equal(r.status, 0, r.stderr);
  const [l] = JSON.parse(r.stdout) as Array<{
    addr_info: Array<{ local: string; prefixlen: number; scope: string }>;
  }>;
  return l!.addr_info.filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
}

/**
 * The lab host's links; without `doomed`, not those a removal before gave to
 * the reaper (br-x…, deleted in the background).
 */
const allLinks = (doomed = false): string[] =>
  (JSON.parse(env.inHost(['ip', '-j', 'link', 'show']).stdout) as IpLink[])
    .map((l) => l.ifname)
    .filter((n) => doomed || !n.startsWith('br-x'))
    .sort();

const networks = (): string[] =>
  env.docker(['network', 'ls', '--format', '{{.Name}}']).stdout.trim().split('\n').sort();

const ok = (args: string[]): string => {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

/** One Engine API call on the daemon's socket: status and body. */
function api(method: string, path: string, body?: string) {
  return new Promise<{ status: number; message: string }>((resolve, reject) => {
    const req = request(
      {
        socketPath: env.daemon.env.DOCKER_HOST.replace('unix://', ''),
        method,
        path: `/v1.41${path}`,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let message = text;
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? text;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, message });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** POST /networks/create with these options: the status and message. */
const create = (name: string, options: Record<string, string>, subnet?: string) =>
  api(
    'POST',
    '/networks/create',
    JSON.stringify({
      Name: name,
      Driver: 'bridge',
      IPAM: { Driver: 'default', Config: subnet ? [{ Subnet: subnet }] : [] },
      Options: options,
    }),
  );

/**
 * A refused create: its status and message, and nothing left — no network,
 * no new link, and the subnet it asked for free (created and removed again).
 */
async function refused(
  options: Record<string, string>,
  status: number,
  message: RegExp,
): Promise<void> {
  const before = { nets: networks(), links: allLinks() };
  const n = ++refusals;
  const subnet = `10.77.${n}.0/24`;
  const r = await create(`n-refused${n}`, options, subnet);
  assert.equal(r.status, status, `${JSON.stringify(options)}: ${r.status} ${r.message}`);
  assert.match(r.message, message);
  assert.deepEqual(networks(), before.nets);
  assert.deepEqual(allLinks(), before.links);
  ok(['network', 'create', '--subnet', subnet, 'n-subnet-free']);
  ok(['network', 'rm', 'n-subnet-free']);
}

describe('bridge names of links Berth did not make, and bad network create input', () => {
  before(async () => {
    env = await labWithDaemons();
  });
  after(async () => {
    await env?.destroy();
  });

  it('refuses the loopback as a bridge and leaves it alone (up, MTU 65536, named lo)', async () => {
    await refused({ [NAME]: 'lo' }, 403, /^existing interface lo is not a bridge/);
    const lo = link('lo')!;
    assert.equal(lo.mtu, 65536);
    assert.ok(lo.flags.includes('UP'), lo.flags.join());
    assert.equal(lo.group, 'default');
    assert.deepEqual(addrs('lo'), ['127.0.0.1/8', '::1/128']);
  });

  it("refuses berth0 and another network's bridge; the default network keeps working", async () => {
    const bridgeId = ok(['network', 'inspect', '-f', '{{.Id}}', 'bridge']);
    await refused(
      { [NAME]: 'berth0' },
      403,
      new RegExp(`conflicts with network ${bridgeId} \\(berth0\\): networks have same bridge name`),
    );
    assert.deepEqual(addrs('berth0'), ['172.17.0.1/16']);
    assert.equal(ok(['run', '--rm', 'busybox', 'echo', 'started']), 'started');

    const id = ok(['network', 'create', '-o', `${NAME}=ubr-a`, 'n-a']);
    await refused({ [NAME]: 'ubr-a' }, 403, new RegExp(`conflicts with network ${id} \\(ubr-a\\)`));
    const auto = ok(['network', 'create', 'n-b']);
    await refused({ [NAME]: `br-${auto.slice(0, 12)}` }, 403, /networks have same bridge name/);
    ok(['network', 'rm', 'n-a', 'n-b']);
  });

  it('refuses a veth the user made and leaves the pair as it was', async () => {
    assert.equal(
      env.inHost(['ip', 'link', 'add', 'vu0', 'type', 'veth', 'peer', 'name', 'vu1']).status,
      0,
    );
    try {
      await refused({ [NAME]: 'vu0' }, 403, /^existing interface vu0 is not a bridge/);
      assert.equal(link('vu0')?.link, 'vu1');
      assert.ok(link('vu1'));
      assert.deepEqual(addrs('vu0'), []);
      assert.equal(link('vu0')?.group, 'default');
    } finally {
      env.inHost(['ip', 'link', 'del', 'vu0']);
    }
  });

  it('uses a bridge the user made, as Docker, and network rm leaves it with its own addresses', async () => {
    const made = [
      ['ip', 'link', 'add', 'ubr0', 'mtu', '1400', 'type', 'bridge'],
      ['ip', 'addr', 'add', '10.96.0.1/24', 'dev', 'ubr0'],
    ];
    for (const c of made) assert.equal(env.inHost(c).status, 0);
    const localnet = () =>
      env.inHost(['cat', '/proc/sys/net/ipv4/conf/ubr0/route_localnet']).stdout.trim();
    try {
      const mac = link('ubr0')!.address;
      ok(['network', 'create', '-o', `${NAME}=ubr0`, '--subnet', '10.95.0.0/24', 'n-u']);
      // As dockerd: up, the gateway added, its MAC and MTU left as they were.
      assert.ok(link('ubr0')!.flags.includes('UP'));
      assert.equal(link('ubr0')!.address, mac);
      assert.equal(link('ubr0')!.mtu, 1400);
      const shown = JSON.parse(ok(['network', 'inspect', 'n-u'])) as Array<Record<string, unknown>>;
      assert.equal(shown[0]!.berth, undefined, "inspect shows Berth's own facts");
      assert.deepEqual(addrs('ubr0').sort(), ['10.95.0.1/24', '10.96.0.1/24']);
      ok(['run', '-d', '--name', 'c-u', '--network', 'n-u', 'busybox', 'sleep', '3600']);
      ok(['exec', 'c-u', 'ping', '-c1', '-W2', '10.95.0.1']);
      ok(['rm', '-f', 'c-u']);
      ok(['network', 'rm', 'n-u']);
      // Past the reaper's longest wait: the bridge is still there, as the user made it.
      await new Promise((r) => setTimeout(r, 1500));
      const l = link('ubr0');
      assert.ok(l, 'network rm deleted the bridge the user made');
      assert.equal(l.group, 'default');
      assert.deepEqual(addrs('ubr0'), ['10.96.0.1/24']);
      assert.equal(localnet(), '0', 'route_localnet left on');
      // And it can be used again.
      ok(['network', 'create', '-o', `${NAME}=ubr0`, 'n-u2']);
      ok(['network', 'rm', 'n-u2']);
      await new Promise((r) => setTimeout(r, 1500));
      assert.ok(link('ubr0'));
    } finally {
      env.inHost(['ip', 'link', 'del', 'ubr0']);
    }
  });

  it("keeps the user's bridges across daemon restarts, and makes one that went away", async () => {
    const restart = async (signal: 'SIGTERM' | 'SIGKILL', between?: () => void) => {
      await env.daemon.stop(signal);
      between?.();
      env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
      env.daemons[0] = env.daemon;
    };
    // A user's bridge with Berth's own naming scheme, on no network: not Berth's.
    const stranger = 'br-0123456789ab';
    for (const c of [
      ['ip', 'link', 'add', stranger, 'type', 'bridge'],
      ['ip', 'link', 'add', 'ubr9', 'type', 'bridge'],
      ['ip', 'addr', 'add', '10.94.0.1/24', 'dev', 'ubr9'],
    ]) {
      assert.equal(env.inHost(c).status, 0);
    }
    try {
      ok(['network', 'create', '-o', `${NAME}=ubr9`, '--subnet', '10.93.0.0/24', 'n-keep']);
      ok(['network', 'create', '-o', `${NAME}=own0`, 'n-own']);
      await restart('SIGKILL');
      assert.ok(link(stranger), "a restart deleted a user's bridge");
      assert.deepEqual(addrs('ubr9').sort(), ['10.93.0.1/24', '10.94.0.1/24']);
      for (const n of ['n-keep', 'n-own']) {
        assert.equal(ok(['run', '--rm', '--network', n, 'busybox', 'echo', n]), n);
      }
      // The user deletes their bridge while the daemon is away: Berth makes it
      // (as dockerd makes a missing bridge), so it is Berth's to delete.
      await restart('SIGTERM', () => env.inHost(['ip', 'link', 'del', 'ubr9']));
      assert.deepEqual(addrs('ubr9'), ['10.93.0.1/24']);
      ok(['network', 'rm', 'n-keep', 'n-own']);
      await eventually(() => {
        assert.equal(link('ubr9'), undefined);
        assert.equal(link('own0'), undefined);
      }, 3000);
      assert.ok(link(stranger));
    } finally {
      for (const l of [stranger, 'ubr9']) env.inHost(['ip', 'link', 'del', l]);
    }
  });

  it('refuses bridge names the kernel would refuse, with a reason, and takes an empty one as none', async () => {
    for (const [br, why] of [
      ['.', /^invalid bridge name "\.": /],
      ['..', /^invalid bridge name "\.\.": /],
      ['a/b', /^invalid bridge name "a\/b": /],
      ['a b', /^invalid bridge name "a b": /],
      ['abcdefghijklmnop', /^invalid bridge name "abcdefghijklmnop": .*15/],
    ] as const) {
      await refused({ [NAME]: br }, 400, why);
    }
    // As Docker: an empty name is the default br-<12 hex>.
    const id = ok(['network', 'create', '-o', `${NAME}=`, 'n-empty']);
    assert.ok(link(`br-${id.slice(0, 12)}`));
    ok(['network', 'rm', 'n-empty']);
  });

  it("refuses MTUs the kernel would refuse, with Docker's messages", async () => {
    for (const [mtu, why] of [
      ['99999999', /^invalid MTU number: 99999999 /],
      ['65536', /^invalid MTU number: 65536 /],
      ['67', /^invalid MTU number: 67 /],
      ['-1', /^invalid MTU number: -1$/],
      [
        'abc',
        /^failed to parse com\.docker\.network\.driver\.mtu value: abc \(strconv\.Atoi: parsing "abc": invalid syntax\)$/,
      ],
      ['', /^failed to parse com\.docker\.network\.driver\.mtu value: {2}\(strconv\.Atoi/],
    ] as const) {
      await refused({ [MTU]: mtu }, 400, why);
    }
    // 0 is the default MTU, as Docker's; 68 the smallest the kernel takes.
    for (const mtu of ['0', '68']) {
      const r = await create('n-mtu', { [MTU]: mtu });
      assert.equal(r.status, 201, `${mtu}: ${r.message}`);
      const want = mtu === '0' ? '1500' : mtu;
      const eth0 = ok([
        'run',
        '--rm',
        '--network',
        'n-mtu',
        'busybox',
        'ip',
        '-o',
        'link',
        'show',
        'eth0',
      ]);
      assert.match(eth0, new RegExp(`mtu ${want} `));
      ok(['network', 'rm', 'n-mtu']);
    }
  });

  it('answers a network create whose body is not a network with 400, creating nothing', async () => {
    const before = networks();
    for (const body of ['null', '{}', '[]', '"n-str"', '']) {
      const r = await api('POST', '/networks/create', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.message}`);
      if (body === 'null' || body === '{}') assert.match(r.message, /^invalid name/);
    }
    assert.deepEqual(networks(), before);
  });

  it("keeps deleting removed bridges when the kernel refuses to delete the reaper's group", async () => {
    // The loopback cannot be deleted: while it is in the group, the kernel
    // refuses the group delete as a whole.
    const setGroup = (g: string) =>
      assert.equal(env.inHost(['ip', 'link', 'set', 'lo', 'group', g]).status, 0);
    setGroup(String(DOOMED_GROUP));
    try {
      for (const n of ['n-r1', 'n-r2']) {
        const id = ok(['network', 'create', n]);
        ok(['network', 'rm', n]);
        await eventually(() => {
          assert.ok(!link(`br-${id.slice(0, 12)}`), `${n}'s bridge kept its name`);
          const left = allLinks(true).filter((l) => l.startsWith('br-'));
          assert.deepEqual(left, [], `removed bridges left: ${left.join()}`);
        }, 5000);
      }
      const lo = link('lo')!;
      assert.ok(lo.flags.includes('UP'));
      assert.equal(lo.mtu, 65536);
    } finally {
      setGroup('default');
    }
  });
});
