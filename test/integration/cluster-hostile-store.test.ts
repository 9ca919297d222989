// Records in etcd that no Berth wrote (decision 0047): null, not JSON, a
// "bridge" network naming the host's own interface, a node key that is no
// address, endpoints with a bad MAC or naming another host's container. Both
// berthds go on, and start again, with the cluster working around them:
// they are ignored and logged, never thrown into a watch, a sweep, the
// bridge driver, the firewall or the kernel. Two lab hosts, the docker CLI,
// etcdctl, bridge and ip, as a user would. Needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { which } from '../../src/lab/proc.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

const ready = process.getuid?.() === 0 && !!which('etcd') && !!which('etcdctl');

describe(
  'a cluster store holding records no Berth wrote',
  { skip: !ready && 'needs root, etcd and etcdctl' },
  () => {
    let env: LabEnv;
    const ok = (host: number, args: string[]) => {
      const r = env.docker(args, { host });
      assert.equal(r.status, 0, `docker ${args.join(' ')} on host ${host}: ${r.stderr}`);
      return r.stdout.trim();
    };
    const put = (key: string, value: string) => {
      const r = env.lab.etcdctl(1, ['put', `/berth/${key}`, value]);
      assert.equal(r.status, 0, r.stderr);
    };

    before(async () => {
      env = await labWithDaemons({
        hosts: 2,
        cluster: true,
        name: `hs${randomBytes(2).toString('hex')}`,
      });
    });
    after(() => env?.destroy());

    it('ignores them, logs them, and keeps the overlay working, across a restart', async () => {
      const netId = ok(1, ['network', 'create', '-d', 'overlay', '--subnet', '10.20.0.0/24', 'ov']);
      ok(2, ['run', '-d', '--name', 'web', '--network', 'ov', 'busybox', 'sleep', '1000']);
      const webId = ok(2, ['inspect', '-f', '{{.Id}}', 'web']);
      const fake = randomBytes(32).toString('hex');
      const evil = (over: Record<string, unknown>) =>
        JSON.stringify({
          NetworkID: netId,
          ContainerID: 'f'.repeat(64),
          Name: 'evil',
          Aliases: [],
          IPv4: '10.20.0.99',
          PrefixLen: 24,
          Mac: '02:42:0a:14:00:63',
          Node: '192.168.205.10:2375',
          Vtep: '192.168.205.10',
          ...over,
        });
      put('networks/by-id/zz', 'null');
      put(
        `networks/by-id/${fake}`,
        JSON.stringify({
          Id: fake,
          Name: 'hijack',
          Driver: 'bridge',
          Internal: true,
          Options: { 'com.docker.network.bridge.name': 'eth0' },
          berth: { bridgeCreated: true },
        }),
      );
      put('nodes/junk', 'junk');
      put(`endpoints/${netId}/nul`, 'null');
      put(`endpoints/${netId}/badmac`, evil({ Id: 'badmac', Mac: 'zz' }));
      put(`endpoints/${netId}/v6`, evil({ Id: 'v6', IPv4: 'fe80::1', Mac: '02:42:0a:14:00:64' }));
      // Another host's endpoint naming host 2's own container.
      put(`endpoints/${netId}/impostor`, evil({ Id: 'impostor', ContainerID: webId }));
      put('applied/junk', 'junk');

      // Both hosts go on: the network is the real one, the fakes are not listed.
      for (const h of [1, 2]) {
        const names = ok(h, ['network', 'ls', '--format', '{{.Name}}']).split('\n');
        assert.ok(names.includes('ov'), `host ${h}: ${names.join(' ')}`);
        assert.ok(!names.includes('hijack'), `host ${h} lists the fake bridge`);
      }
      ok(1, ['run', '-d', '--name', 'cli', '--network', 'ov', 'busybox', 'sleep', '1000']);
      ok(1, ['exec', 'cli', 'ping', '-c1', '-W2', 'web']);
      ok(2, ['exec', 'web', 'ping', '-c1', '-W2', 'cli']);
      // Host 2 answers its own container's name with its own address.
      const webIp = ok(2, ['inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', 'web']);
      const looked = ok(2, ['exec', 'web', 'nslookup', 'web', '10.20.0.1']);
      assert.match(looked, new RegExp(`Address: ${webIp.replace(/\./g, '\\.')}`));
      assert.doesNotMatch(looked, /10\.20\.0\.99/);

      // A restart reads them all at once: it starts, and programs the rest.
      const d2 = await env.restart(2);
      ok(2, ['exec', 'web', 'ping', '-c1', '-W2', 'cli']);
      ok(1, ['exec', 'cli', 'ping', '-c1', '-W2', 'web']);
      const ns = `--net=${join(d2.execRoot, 'overlay', `ov-${netId.slice(0, 12)}`)}`;
      const fdb = spawnSync('nsenter', [ns, 'bridge', 'fdb', 'show', 'dev', 'vxlan0'], {
        encoding: 'utf8',
      }).stdout;
      const cliMac = ok(1, ['inspect', '-f', '{{.NetworkSettings.Networks.ov.MacAddress}}', 'cli']);
      assert.match(fdb, new RegExp(`^${cliMac} dst 192\\.168\\.205\\.10`, 'm'));
      assert.doesNotMatch(fdb, /02:42:0a:14:00:64/, 'no entry of the bad records');
      // The host's own interface is not made a Berth bridge: no rule names it.
      const rules = env.inHost(['nft', 'list', 'table', 'inet', 'berth'], 2).stdout;
      assert.doesNotMatch(rules, /"eth0"/);
      assert.match(d2.logTail(2000), /ignoring networks\/by-id\/zz .*not a record Berth can use/);
      for (const d of env.daemons) {
        assert.doesNotThrow(() => process.kill(d.pid, 0), `berthd ${d.pid} runs`);
      }
    });
  },
);
