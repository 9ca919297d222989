/**
 * Issue 12, networking parts, against a lab berthd and the kernel: MAC
 * addresses on the interface and in inspect (Config.MacAddress,
 * EndpointConfig.MacAddress at create and connect), the endpoint settings
 * inspect keeps for a created and an exited container, networks with names
 * dockerd 20.10 takes, and `docker rm --link`. What dockerd 20.10 does:
 * docs/reference/docker-20.10-dockerpy-net.md.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
const LOOP = ['sleep', '3600'];

/** One Engine API call on the lab daemon's socket. */
const api = (method: string, path: string, body?: unknown) =>
  apiCall(env.daemon.env.DOCKER_HOST, method, path, body);

type Ep = Record<string, unknown>;
async function networks(name: string): Promise<Record<string, Ep>> {
  const r = await api('GET', `/containers/${name}/json`);
  assert.equal(r.status, 200);
  return (r.json.NetworkSettings as { Networks: Record<string, Ep> }).Networks;
}

function ok(args: string[]): string {
  const r = env.docker(args);
  assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

const macOf = (ctr: string, dev: string) =>
  ok(['exec', ctr, 'cat', `/sys/class/net/${dev}/address`]);

describe('docker-py networking (issue 12)', () => {
  before(async () => {
    env = await labWithDaemons();
    ok(['network', 'create', '--subnet', '10.71.0.0/24', 'mn']);
    ok(['network', 'create', '--subnet', '10.72.0.0/24', 'mn2']);
  });
  after(async () => {
    await env?.destroy();
  });

  it("Config.MacAddress is on the first network's interface, in inspect, again after a restart", async () => {
    const r = await api('POST', '/containers/create?name=m1', {
      Image: 'busybox',
      Cmd: LOOP,
      MacAddress: '02-42-AC-11-00-99',
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    ok(['start', 'm1']);
    assert.equal(macOf('m1', 'eth0'), '02:42:ac:11:00:99');
    ok(['network', 'connect', 'mn', 'm1']);
    // Only the first network's: the second gets Docker's MAC from its address.
    assert.equal(macOf('m1', 'eth1'), '02:42:0a:47:00:02');
    const nets = await networks('m1');
    assert.equal(nets.bridge!.MacAddress, '02:42:ac:11:00:99');
    assert.equal(
      ok(['inspect', '-f', '{{.NetworkSettings.MacAddress}}', 'm1']),
      '02:42:ac:11:00:99',
    );
    assert.equal(ok(['inspect', '-f', '{{.Config.MacAddress}}', 'm1']), '02-42-AC-11-00-99');
    ok(['stop', '-t', '0', 'm1']);
    assert.equal((await networks('m1')).bridge!.MacAddress, '');
    ok(['start', 'm1']);
    assert.equal(macOf('m1', 'eth0'), '02:42:ac:11:00:99');
  });

  it("EndpointConfig.MacAddress at create and at connect (running and stopped) is the interface's", async () => {
    const r = await api('POST', '/containers/create?name=m3', {
      Image: 'busybox',
      Cmd: LOOP,
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { mn: { MacAddress: '02:00:00:00:00:33' } } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    // Before the start inspect shows what was asked for, as dockerd 20.10.
    assert.equal((await networks('m3')).mn!.MacAddress, '02:00:00:00:00:33');
    ok(['start', 'm3']);
    assert.equal(macOf('m3', 'eth0'), '02:00:00:00:00:33');
    assert.equal((await networks('m3')).mn!.MacAddress, '02:00:00:00:00:33');
    const c = await api('POST', '/networks/mn2/connect', {
      Container: 'm3',
      EndpointConfig: { MacAddress: '02:00:00:00:00:34' },
    });
    assert.equal(c.status, 200, JSON.stringify(c.json));
    assert.equal(macOf('m3', 'eth1'), '02:00:00:00:00:34');
    assert.equal((await networks('m3')).mn2!.MacAddress, '02:00:00:00:00:34');
    ok(['network', 'disconnect', 'mn2', 'm3']);
    ok(['stop', '-t', '0', 'm3']);
    const c2 = await api('POST', '/networks/mn2/connect', {
      Container: 'm3',
      EndpointConfig: { MacAddress: '02:00:00:00:00:35' },
    });
    assert.equal(c2.status, 200, JSON.stringify(c2.json));
    assert.equal((await networks('m3')).mn2!.MacAddress, '02:00:00:00:00:35');
    ok(['start', 'm3']);
    assert.equal(macOf('m3', 'eth1'), '02:00:00:00:00:35');
  });

  it('an invalid MAC address is refused with 400 and nothing is made', async () => {
    const before = ok(['ps', '-aq']);
    for (const mac of ['zz', '01:00:5e:00:00:01']) {
      const r = await api('POST', '/containers/create?name=badmac', {
        Image: 'busybox',
        Cmd: LOOP,
        MacAddress: mac,
      });
      assert.equal(r.status, 400);
      assert.match(String(r.json.message), new RegExp(`^address ${mac}: invalid MAC address`));
    }
    assert.equal(ok(['ps', '-aq']), before);
    const c = await api('POST', '/networks/mn2/connect', {
      Container: 'm1',
      EndpointConfig: { MacAddress: 'nope' },
    });
    assert.equal(c.status, 400);
    assert.equal(c.json.message, 'address nope: invalid MAC address');
    assert.equal((await networks('m1')).mn2, undefined);
  });

  it('a created and an exited container keep the endpoint settings asked for', async () => {
    const ec = {
      Aliases: ['hello'],
      IPAMConfig: { IPv4Address: '10.71.0.50' },
      DriverOpts: { 'com.example.opt': 'v' },
      MacAddress: '02:00:00:00:00:60',
    };
    const r = await api('POST', '/containers/create?name=e1', {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { mn: ec } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const created = (await networks('e1')).mn!;
    assert.deepEqual(created.Aliases, ['hello']);
    assert.deepEqual(created.IPAMConfig, { IPv4Address: '10.71.0.50' });
    assert.deepEqual(created.DriverOpts, { 'com.example.opt': 'v' });
    assert.equal(created.MacAddress, '02:00:00:00:00:60');
    assert.equal(created.IPAddress, '');
    assert.equal(created.EndpointID, '');
    ok(['start', 'e1']);
    assert.equal(ok(['wait', 'e1']), '0');
    const exited = (await networks('e1')).mn!;
    // dockerd 20.10 added the short ID on the user network at start, and keeps it.
    assert.deepEqual(exited.Aliases, [
      'hello',
      ok(['inspect', '-f', '{{.Id}}', 'e1']).slice(0, 12),
    ]);
    assert.deepEqual(exited.IPAMConfig, { IPv4Address: '10.71.0.50' });
    assert.deepEqual(exited.DriverOpts, { 'com.example.opt': 'v' });
    // dockerd 20.10 clears what only a live endpoint has, the MAC address too.
    assert.equal(exited.MacAddress, '');
    assert.equal(exited.IPAddress, '');
    assert.equal(exited.EndpointID, '');
    // docker-py's containers.run(network=N, networking_config={N: {Aliases: [...]}}).
    ok(['run', '--name', 'e2', '--network', 'mn', '--network-alias', 'hello2', 'busybox', 'true']);
    assert.deepEqual((await networks('e2')).mn!.Aliases, [
      'hello2',
      ok(['inspect', '-f', '{{.Id}}', 'e2']).slice(0, 12),
    ]);
  });

  it('networks with names dockerd 20.10 takes: created, joined, inspected', async () => {
    const r = await api('POST', '/networks/create', { Name: 'test 01' });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const n = await api('GET', `/networks/${encodeURIComponent('test 01')}`);
    assert.equal(n.status, 200);
    assert.equal((n.json.IPAM as { Options: unknown }).Options, null);
    const out = ok([
      'run',
      '--rm',
      '--network',
      'test 01',
      'busybox',
      'ip',
      '-4',
      '-o',
      'addr',
      'show',
      'eth0',
    ]);
    assert.match(out, /inet \d+\.\d+\.\d+\.\d+\//);
    const blank = await api('POST', '/networks/create', { Name: ' ' });
    assert.equal(blank.status, 400);
    assert.equal(blank.json.message, 'invalid name:  ');
    const two = await api('POST', '/containers/create?name=two1', {
      Image: 'busybox',
      Cmd: LOOP,
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { mn: {}, mn2: {} } },
    });
    assert.equal(two.status, 400);
    assert.equal(two.json.message, 'Container cannot be connected to network endpoints: mn, mn2');
  });

  it("rm --link removes the link: HostConfig.Links, the running parent's /etc/hosts", async () => {
    ok(['run', '-d', '--name', 'child', 'busybox', ...LOOP]);
    ok(['run', '-d', '--name', 'child2', 'busybox', ...LOOP]);
    ok([
      'run',
      '-d',
      '--name',
      'parent',
      '--link',
      'child:ch',
      '--link',
      'child2',
      'busybox',
      ...LOOP,
    ]);
    assert.match(ok(['exec', 'parent', 'cat', '/etc/hosts']), /\tch [0-9a-f]{12} child$/m);
    const r = env.docker(['rm', '--link', 'parent/ch']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'parent/ch');
    assert.equal(
      ok(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']),
      '["/child2:/parent/child2"]',
    );
    const hosts = ok(['exec', 'parent', 'cat', '/etc/hosts']);
    assert.doesNotMatch(hosts, /\bch\b/);
    assert.match(hosts, /\tchild2 [0-9a-f]{12}$/m);
    // The child stays; an exec's environment (made from the links for each
    // exec, as dockerd's) loses the variables at once.
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'child']), 'running');
    const vars = ok(['exec', 'parent', 'env']);
    assert.doesNotMatch(vars, /^CH_/m);
    assert.match(vars, /^CHILD2_NAME=\/parent\/child2$/m);
    ok(['restart', '-t', '0', 'parent']);
    assert.doesNotMatch(ok(['exec', 'parent', 'cat', '/etc/hosts']), /\bch\b/);
    // Refusals, with dockerd's words.
    const again = await api('DELETE', '/containers/parent/ch?link=1');
    assert.equal(again.status, 404);
    assert.equal(again.json.message, 'No such container: parent/ch');
    const own = await api('DELETE', '/containers/parent?link=1');
    assert.equal(own.status, 409);
    assert.equal(
      own.json.message,
      'Conflict, cannot remove the default link name of the container',
    );
    // Without link=1 the path names the child (dockerd: a running one is 409).
    const child = await api('DELETE', '/containers/parent/child2');
    assert.equal(child.status, 409);
    assert.match(String(child.json.message), /You cannot remove a running container/);
    const encoded = await api('DELETE', '/containers/parent%2Fchild2?link=1');
    assert.equal(encoded.status, 204);
    assert.equal(ok(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']), 'null');
  });
});
