/**
 * The daemon flags that shape the default bridge, as Docker 20.10's
 * (docs/reference/docker-20.10-bridge-flags.md): --mtu, --icc=false,
 * --ip-masq=false and --ip. Checked in the kernel and by traffic, then
 * undone by a restart without them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

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
