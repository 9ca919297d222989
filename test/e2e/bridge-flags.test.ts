/**
 * The daemon flags that shape the default bridge, as Docker 20.10's
 * (docs/reference/docker-20.10-bridge-flags.md): --mtu, --icc=false,
 * --ip-masq=false and --ip, checked in the kernel and by traffic, then
 * undone by a restart without them; --fixed-cidr, --ipv6 --fixed-cidr-v6;
 * and the same directives from a daemon.json (--config-file).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const WORLD = '198.51.100.1';
const LOOP = ['sh', '-c', 'while true; do sleep 3600; done'];
const HTTPD = ['sh', '-c', 'echo hi > /index.html; exec httpd -f -p 80 -h /'];
const FLAGS = ['--mtu', '1400', '--icc=false', '--ip-masq=false', '--ip', '127.0.0.1'];

const ok = (args: string[]): string => {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const pings = (from: string, ip: string): boolean =>
  env.docker(['exec', from, 'ping', '-c1', '-W1', ip]).status === 0;
const ipOf = (c: string): string =>
  ok(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', c]);
const mtuOf = (c: string): string =>
  /mtu (\d+)/.exec(ok(['exec', c, 'ip', '-o', 'link', 'show', 'eth0']))?.[1] ?? '';

/** Runs berthd in the lab host with `args`: it must refuse to start, saying `message`. */
function refusedStart(e: LabEnv, args: string[], message: RegExp | string): void {
  const r = e.inHost([process.execPath, `${REPO}dist/src/daemon/main.js`, ...args]);
  assert.notEqual(r.status, 0, r.stdout);
  if (typeof message === 'string') assert.ok(r.stderr.includes(message), r.stderr);
  else assert.match(r.stderr, message);
}

/** A daemon's socket, data and exec roots under `dir`. */
const roots = (dir: string, sock = `${dir}/sock`) => [
  ...['-H', `unix://${sock}`, '--data-root', `${dir}/data`, '--exec-root', `${dir}/run`],
];

describe('default bridge daemon flags (--mtu, --icc, --ip-masq, --ip)', () => {
  before(async () => {
    env = await labWithDaemons({ args: FLAGS });
  });
  after(async () => {
    await env?.destroy();
  });

  it("shows the flags in the default bridge's options, as dockerd", () => {
    assert.deepEqual(JSON.parse(ok(['network', 'inspect', '-f', '{{json .Options}}', 'bridge'])), {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.enable_icc': 'false',
      'com.docker.network.bridge.enable_ip_masquerade': 'false',
      'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1',
      'com.docker.network.bridge.name': 'berth0',
      'com.docker.network.driver.mtu': '1400',
    });
  });

  it('keeps containers on the default bridge apart and inside, at the MTU given', () => {
    ok(['run', '-d', '--name', 'ca', 'busybox', ...LOOP]);
    ok(['run', '-d', '--name', 'cb', 'busybox', ...LOOP]);
    assert.equal(mtuOf('ca'), '1400');
    assert.equal(pings('ca', ipOf('cb')), false, 'icc=false: containers reach each other');
    assert.equal(pings('ca', '172.17.0.1'), true, 'the gateway stays reachable');
    assert.equal(pings('ca', WORLD), false, 'ip-masq=false: the world answered unmasqueraded');
  });

  it('publishes on --ip where a binding names no address, and where it does as told', () => {
    ok(['run', '-d', '--name', 'p1', '-p', '8080:80', 'busybox', ...HTTPD]);
    ok(['run', '-d', '--name', 'p2', '-p', '0.0.0.0:8081:80', 'busybox', ...HTTPD]);
    ok(['run', '-d', '--name', 'p3', '-P', '--expose', '80', 'busybox', ...HTTPD]);
    assert.equal(ok(['port', 'p1']), '80/tcp -> 127.0.0.1:8080');
    assert.equal(ok(['port', 'p2']), '80/tcp -> 0.0.0.0:8081');
    assert.match(ok(['port', 'p3']), /^80\/tcp -> 127\.0\.0\.1:\d+$/);
    const listening = env.inHost(['ss', '-Hltn']).stdout;
    assert.match(listening, /127\.0\.0\.1:8080\b/);
    assert.match(listening, /0\.0\.0\.0:8081\b/);
  });

  it('leaves user-defined networks their own ICC, masquerade and host address', () => {
    ok(['network', 'create', 'u1']);
    assert.equal(ok(['network', 'inspect', '-f', '{{json .Options}}', 'u1']), '{}');
    ok(['run', '-d', '--name', 'cu', '--network', 'u1', '-p', '8082:80', 'busybox', ...HTTPD]);
    ok(['run', '-d', '--name', 'cv', '--network', 'u1', 'busybox', ...LOOP]);
    assert.equal(pings('cv', 'cu'), true);
    assert.equal(pings('cv', WORLD), true);
    assert.equal(ok(['port', 'cu']), '80/tcp -> 0.0.0.0:8082');
    // Berth's deliberate difference: --mtu is every network's default.
    assert.equal(mtuOf('cu'), '1400');
    ok(['network', 'create', '-o', 'com.docker.network.bridge.host_binding_ipv4=127.0.0.2', 'u2']);
    ok(['run', '-d', '--name', 'cw', '--network', 'u2', '-p', '8083:80', 'busybox', ...HTTPD]);
    assert.equal(ok(['port', 'cw']), '80/tcp -> 127.0.0.2:8083');
  });

  it('goes back to the defaults at a restart without the flags', async () => {
    ok(['rm', '-f', 'ca', 'cb', 'p1', 'p2', 'p3', 'cu', 'cv', 'cw']);
    await env.daemon.stop('SIGTERM');
    env.daemon = await env.lab.startDaemon(env.lab.hosts[0]!);
    env.daemons[0] = env.daemon;
    const opts = JSON.parse(
      ok(['network', 'inspect', '-f', '{{json .Options}}', 'bridge']),
    ) as Record<string, string>;
    assert.equal(opts['com.docker.network.bridge.enable_icc'], 'true');
    assert.equal(opts['com.docker.network.bridge.enable_ip_masquerade'], 'true');
    assert.equal(opts['com.docker.network.bridge.host_binding_ipv4'], '0.0.0.0');
    const uplink = /mtu (\d+)/.exec(env.inHost(['ip', '-o', 'link', 'show', 'eth0']).stdout)?.[1];
    assert.equal(opts['com.docker.network.driver.mtu'], uplink);
    ok(['run', '-d', '--name', 'da', 'busybox', ...LOOP]);
    ok(['run', '-d', '--name', 'db', 'busybox', ...LOOP]);
    assert.equal(mtuOf('da'), uplink);
    assert.equal(pings('da', ipOf('db')), true);
    assert.equal(pings('da', WORLD), true);
    ok(['run', '-d', '--name', 'p4', '-p', '8084:80', 'busybox', ...HTTPD]);
    assert.equal(ok(['port', 'p4']), '80/tcp -> 0.0.0.0:8084');
  });
});

describe('default bridge address flags (--fixed-cidr, --ipv6 --fixed-cidr-v6)', () => {
  let env6: LabEnv;
  const ok6 = (args: string[]): string => {
    const r = env6.docker(args);
    assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const FMT =
    '{{.NetworkSettings.IPAddress}}/{{.NetworkSettings.IPPrefixLen}} gw {{.NetworkSettings.Gateway}} v6 {{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} gw6 {{.NetworkSettings.IPv6Gateway}} mac {{.NetworkSettings.MacAddress}}';
  before(async () => {
    env6 = await labWithDaemons({
      args: ['--fixed-cidr', '172.17.5.0/24', '--ipv6', '--fixed-cidr-v6', 'fd00:9::/64'],
    });
  });
  after(async () => {
    await env6?.destroy();
  });

  it('gives containers addresses from the range and MAC-derived IPv6, as dockerd 20.10', () => {
    assert.equal(
      ok6(['network', 'inspect', '-f', '{{.EnableIPv6}} {{json .IPAM.Config}}', 'bridge']),
      'true [{"Subnet":"172.17.0.0/16","IPRange":"172.17.5.0/24","Gateway":"172.17.5.0"},{"Subnet":"fd00:9::/64"}]',
    );
    const br = env6.inHost(['ip', 'addr', 'show', 'berth0']).stdout;
    assert.match(br, /inet 172\.17\.5\.0\/16/);
    assert.match(br, /inet6 fd00:9::1\/64 scope global/);
    for (const n of ['c1', 'c2']) ok6(['run', '-d', '--name', n, 'busybox', ...LOOP]);
    assert.deepEqual(ok6(['inspect', '-f', FMT, 'c1', 'c2']).split('\n'), [
      '172.17.5.1/16 gw 172.17.5.0 v6 fd00:9::242:ac11:501/64 gw6 fd00:9::1 mac 02:42:ac:11:05:01',
      '172.17.5.2/16 gw 172.17.5.0 v6 fd00:9::242:ac11:502/64 gw6 fd00:9::1 mac 02:42:ac:11:05:02',
    ]);
    assert.match(ok6(['exec', 'c1', 'ip', '-6', 'route']), /default via fd00:9::1 dev eth0/);
    assert.match(ok6(['exec', 'c1', 'cat', '/etc/hosts']), /^fd00:9::242:ac11:501\t\w{12}$/m);
    const r = env6.docker(['exec', 'c1', 'ping', '-6', '-c1', '-W2', 'fd00:9::242:ac11:502']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // A stopped container keeps no address, IPv6 included (Docker's cleanOperationalData).
    ok6(['stop', '-t', '0', 'c2']);
    assert.equal(ok6(['inspect', '-f', FMT, 'c2']), '/0 gw  v6 /0 gw6  mac');
  });

  it('goes back to 172.17.0.0/16 without IPv6 at a restart without the flags', async () => {
    ok6(['rm', '-f', 'c1', 'c2']);
    await env6.daemon.stop('SIGTERM');
    env6.daemon = await env6.lab.startDaemon(env6.lab.hosts[0]!);
    env6.daemons[0] = env6.daemon;
    assert.equal(
      ok6(['network', 'inspect', '-f', '{{.EnableIPv6}} {{json .IPAM.Config}}', 'bridge']),
      'false [{"Subnet":"172.17.0.0/16","Gateway":"172.17.5.0"}]',
    );
    ok6(['run', '-d', '--name', 'c3', 'busybox', ...LOOP]);
    assert.match(
      ok6(['inspect', '-f', FMT, 'c3']),
      /^172\.17\.0\.1\/16 gw 172\.17\.5\.0 v6 \/0 gw6  /,
    );
  });

  it('refuses --ipv6 without a subnet and a range outside the subnet: the daemon does not start', async () => {
    // Each in the lab host, with its own state: only the first flag check differs.
    const dir = `${env6.lab.hosts[0]!.dir}/refused`;
    for (const [args, message] of [
      [['--ipv6'], /IPv6 is enabled for the default bridge, but no subnet is configured/],
      [['--fixed-cidr', 'bogus'], /invalid CIDR address: bogus/],
      [
        ['--bip', '10.77.0.1/24', '--fixed-cidr', '10.78.0.0/24'],
        /--fixed-cidr 10\.78\.0\.0\/24 is not inside the default bridge's subnet 10\.77\.0\.0\/24/,
      ],
    ] as const) {
      refusedStart(env6, [...roots(dir), ...args], message);
    }
    // Against the running setup's own state: refused before anything changed.
    const h = env6.lab.hosts[0]!;
    ok6(['network', 'create', '--subnet', '10.88.0.0/16', 'taken']);
    await env6.daemon.stop('SIGTERM');
    const own = roots(h.dir, `${h.dir}/berth.sock`);
    refusedStart(env6, [...own, '--bip', '10.88.5.1/24'], /Pool overlaps with other one/);
    refusedStart(
      env6,
      [...own, '--fixed-cidr', '10.78.0.0/24'],
      /--fixed-cidr 10\.78\.0\.0\/24 is not inside the default bridge's subnet 172\.17\.0\.0\/16/,
    );
    env6.daemon = await env6.lab.startDaemon(h);
    env6.daemons[0] = env6.daemon;
    assert.equal(
      ok6(['network', 'inspect', '-f', '{{.EnableIPv6}} {{json .IPAM.Config}}', 'bridge']),
      'false [{"Subnet":"172.17.0.0/16","Gateway":"172.17.5.0"}]',
    );
    assert.equal(env6.docker(['exec', 'c3', 'ping', '-c1', '-W2', '172.17.5.0']).status, 0);
  });
});

describe("berthd's configuration file (--config-file, dockerd's daemon.json)", () => {
  let envc: LabEnv;
  const dir = mkdtempSync(join(tmpdir(), 'berth-conf-'));
  const conf = (name: string, doc: object): string => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(doc));
    return p;
  };
  before(async () => {
    const file = conf('daemon.json', {
      bip: '10.77.0.1/24',
      mtu: 1400,
      icc: false,
      'default-address-pools': [{ base: '10.128.0.0/9', size: 24 }],
    });
    envc = await labWithDaemons({ args: ['--config-file', file] });
  });
  after(async () => {
    await envc?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes its directives as the flags they stand for', () => {
    const out = envc.docker([
      'network',
      'inspect',
      '-f',
      '{{json .IPAM.Config}} {{index .Options "com.docker.network.bridge.enable_icc"}} {{index .Options "com.docker.network.driver.mtu"}}',
      'bridge',
    ]);
    assert.equal(out.stdout.trim(), '[{"Subnet":"10.77.0.0/24","Gateway":"10.77.0.1"}] false 1400');
    assert.equal(envc.docker(['network', 'create', 'fromconf']).status, 0);
    const sub = envc.docker([
      'network',
      'inspect',
      '-f',
      '{{range .IPAM.Config}}{{.Subnet}}{{end}}',
      'fromconf',
    ]);
    assert.equal(sub.stdout.trim(), '10.128.0.0/24');
  });

  it("refuses a directive given twice, unknown ones and a missing file, with dockerd's words", () => {
    const h = envc.lab.hosts[0]!;
    const both = conf('both.json', { bip: '10.2.0.1/24', debug: true });
    const unknown = conf('unknown.json', { foo: 1 });
    for (const [args, message] of [
      [
        ['--config-file', both, '--bip', '10.1.0.1/24', '-D'],
        `unable to configure berthd with file ${both}: the following directives are specified both as a flag and in the configuration file: bip: (from flag: 10.1.0.1/24, from file: 10.2.0.1/24), debug: (from flag: true, from file: true)`,
      ],
      [
        ['--config-file', unknown],
        `unable to configure berthd with file ${unknown}: the following directives don't match any configuration option: foo`,
      ],
      [
        ['--config-file', join(dir, 'missing.json')],
        `unable to configure berthd with file ${join(dir, 'missing.json')}: open ${join(dir, 'missing.json')}: no such file or directory`,
      ],
    ] as const) {
      refusedStart(envc, [...roots(`${h.dir}/refused`), ...args], message);
    }
  });
});
