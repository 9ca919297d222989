/**
 * Captures what a real Docker 20.10 (Debian docker.io) does for the
 * networking parts of issue 12 (docker-py compatibility): MAC addresses at
 * create and connect (kernel and inspect, invalid ones, stop/start), the
 * endpoint settings inspect shows for a created, running and exited
 * container, network create details (IPAM Options, which names it accepts,
 * NetworkingConfig naming two networks), and `docker rm --link` (the URL the
 * CLI sends, /etc/hosts, HostConfig.Links, env). One dockerd (--debug, so
 * its log shows the URLs) in lab host 1. Writes a markdown transcript
 * (docs/reference/docker-20.10-dockerpy-net*.md).
 *
 *   node dist/bench/capture-docker-dockerpy-net.js [--out DIR]
 *
 * Everything is removed in `finally`, and the machine's own namespace is
 * compared before and after.
 */
import { readFileSync } from 'node:fs';
import { CLI_2010 } from './lib/capture.js';
import { runCapture } from './lib/capture-run.js';

const LOOP = ['sleep', '3600'];
const NS = 'NetworkSettings';

runCapture({
  name: 'capture-docker-dockerpy-net',
  title: 'Docker 20.10 MAC addresses, endpoint settings, network names, rm --link: raw capture',
  hosts: 1,
  steps: async ({ cap: c, dockerd }) => {
    const ref = await dockerd(0, ['--debug']);
    const mac = (ctr: string, dev = 'eth0') =>
      c.docker(['exec', ctr, 'cat', `/sys/class/net/${dev}/address`]);
    const macs = (ctr: string) =>
      c.api('GET', `/containers/${ctr}/json`, undefined, [
        'Config.MacAddress',
        `${NS}.MacAddress`,
        `${NS}.Networks`,
      ]);

    c.sec('MAC addresses: --mac-address on the default bridge');
    c.docker(
      ['run', '-d', '--name', 'm1', '--mac-address', '02:42:ac:11:00:99', 'busybox', ...LOOP],
      {
        bin: CLI_2010,
      },
    );
    mac('m1');
    await macs('m1');
    c.docker(['network', 'create', '--subnet', '10.71.0.0/24', 'mn']);
    c.docker(['network', 'connect', 'mn', 'm1']);
    mac('m1', 'eth1');
    await macs('m1');
    c.docker(['stop', '-t', '0', 'm1']);
    await macs('m1');
    c.docker(['start', 'm1']);
    mac('m1');
    mac('m1', 'eth1');
    await macs('m1');

    c.sec('MAC addresses: --mac-address on a user network; created, running, exited');
    c.docker(
      [
        'create',
        '--name',
        'm2',
        '--network',
        'mn',
        '--mac-address',
        '02:00:00:00:00:22',
        'busybox',
        ...LOOP,
      ],
      { bin: CLI_2010 },
    );
    await macs('m2');
    c.docker(['start', 'm2']);
    mac('m2');
    await macs('m2');
    c.docker(['network', 'connect', 'bridge', 'm2']);
    mac('m2', 'eth1');
    await macs('m2');
    c.docker(['stop', '-t', '0', 'm2']);
    await macs('m2');
    c.heading('the same MAC on a second container of the same network');
    c.docker(
      [
        'run',
        '-d',
        '--name',
        'm2b',
        '--network',
        'mn',
        '--mac-address',
        '02:00:00:00:00:22',
        'busybox',
        ...LOOP,
      ],
      { bin: CLI_2010 },
    );
    mac('m2b');
    c.docker(['rm', '-f', 'm2b']);

    c.sec('MAC addresses: EndpointConfig.MacAddress in NetworkingConfig and at connect');
    await c.api('POST', '/containers/create?name=m3', {
      Image: 'busybox',
      Cmd: LOOP,
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { mn: { MacAddress: '02:00:00:00:00:33' } } },
    });
    await macs('m3');
    c.docker(['start', 'm3']);
    mac('m3');
    await macs('m3');
    c.heading('Config.MacAddress and EndpointConfig.MacAddress both');
    await c.api('POST', '/containers/create?name=m4', {
      Image: 'busybox',
      Cmd: LOOP,
      MacAddress: '02:00:00:00:00:41',
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { mn: { MacAddress: '02:00:00:00:00:42' } } },
    });
    c.docker(['start', 'm4']);
    mac('m4');
    await macs('m4');
    c.heading('network connect with EndpointConfig.MacAddress');
    c.docker(['network', 'create', 'mn2']);
    await c.api('POST', '/networks/mn2/connect', {
      Container: 'm3',
      EndpointConfig: { MacAddress: '02:00:00:00:00:34' },
    });
    mac('m3', 'eth1');
    await macs('m3');
    c.docker(['network', 'inspect', '-f', '{{json .Containers}}', 'mn2']);
    c.docker(['network', 'disconnect', 'mn2', 'm3']);
    c.heading('connect of a stopped container with a MAC');
    c.docker(['stop', '-t', '0', 'm3']);
    await c.api('POST', '/networks/mn2/connect', {
      Container: 'm3',
      EndpointConfig: { MacAddress: '02:00:00:00:00:35' },
    });
    await macs('m3');
    c.docker(['start', 'm3']);
    mac('m3', 'eth1');
    await macs('m3');

    c.sec('MAC addresses: invalid values');
    c.docker(['run', '-d', '--name', 'bad1', '--mac-address', 'zz', 'busybox', ...LOOP], {
      bin: CLI_2010,
    });
    for (const [i, m] of [
      'zz',
      '02:00:00:00:00',
      '02-00-00-00-00-51',
      '0200.0000.0052',
      '01:00:5e:00:00:01',
      '00:00:00:00:00:00',
      'ff:ff:ff:ff:ff:ff',
      '02:00:00:00:00:00:00:53',
      '02:AB:CD:EF:00:54',
    ].entries()) {
      const name = `badm${i}`;
      const r = await c.api('POST', `/containers/create?name=${name}`, {
        Image: 'busybox',
        Cmd: LOOP,
        MacAddress: m,
      });
      if (r.status === 201) {
        const st = await c.api('POST', `/containers/${name}/start`);
        if (st.status < 300) mac(name);
        await macs(name);
        c.docker(['rm', '-f', name]);
      }
    }
    c.heading('invalid EndpointConfig.MacAddress at create and at connect');
    await c.api('POST', '/containers/create?name=badep', {
      Image: 'busybox',
      Cmd: LOOP,
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { mn: { MacAddress: 'nope' } } },
    });
    c.docker(['start', 'badep']);
    c.docker(['rm', '-f', 'badep']);
    c.docker(['run', '-d', '--name', 'cn1', 'busybox', ...LOOP]);
    await c.api('POST', '/networks/mn/connect', {
      Container: 'cn1',
      EndpointConfig: { MacAddress: 'nope' },
    });
    await c.api('POST', '/networks/mn/connect', {
      Container: 'cn1',
      EndpointConfig: { MacAddress: '01:00:5e:00:00:01' },
    });
    c.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'cn1']);

    c.sec('Endpoint settings: created, running, exited');
    c.docker(['network', 'create', '--subnet', '10.72.0.0/24', 'en']);
    c.docker(['run', '-d', '--name', 'target', '--network', 'en', 'busybox', ...LOOP]);
    const epc = {
      Aliases: ['hello'],
      IPAMConfig: { IPv4Address: '10.72.0.50' },
      Links: ['target:tg'],
      DriverOpts: { 'com.example.opt': 'v' },
      MacAddress: '02:00:00:00:00:60',
    };
    await c.api('POST', '/containers/create?name=e1', {
      Image: 'busybox',
      Cmd: ['sleep', '2'],
      HostConfig: { NetworkMode: 'en' },
      NetworkingConfig: { EndpointsConfig: { en: epc } },
    });
    await c.api('GET', '/containers/e1/json', undefined, [NS, 'HostConfig.Links']);
    c.docker(['start', 'e1']);
    await c.api('GET', '/containers/e1/json', undefined, NS);
    c.docker(['wait', 'e1']);
    await c.api('GET', '/containers/e1/json', undefined, [NS, 'HostConfig.Links']);
    c.docker(['start', 'e1']);
    await c.api('GET', '/containers/e1/json', undefined, `${NS}.Networks`);
    c.docker(['wait', 'e1']);
    c.heading('docker-py containers.run(network=en, networking_config={en: {Aliases: [hello]}})');
    await c.api('POST', '/containers/create?name=e2', {
      Image: 'busybox',
      Cmd: ['true'],
      HostConfig: { NetworkMode: 'en' },
      NetworkingConfig: { EndpointsConfig: { en: { Aliases: ['hello'] } } },
    });
    c.docker(['start', 'e2']);
    c.docker(['wait', 'e2']);
    await c.api('GET', '/containers/e2/json', undefined, `${NS}.Networks`);
    c.heading('docker run --network-alias on a user network, exited');
    c.docker([
      'run',
      '--name',
      'e3',
      '--network',
      'en',
      '--network-alias',
      'al3',
      'busybox',
      'true',
    ]);
    await c.api('GET', '/containers/e3/json', undefined, `${NS}.Networks`);
    c.heading('default bridge: created, exited');
    c.docker(['create', '--name', 'e4', 'busybox', 'true']);
    await c.api('GET', '/containers/e4/json', undefined, NS);
    c.docker(['start', '-a', 'e4']);
    await c.api('GET', '/containers/e4/json', undefined, NS);
    c.heading('a network connected to a stopped container, then disconnected');
    c.docker(['network', 'connect', '--alias', 'x5', 'mn', 'e4']);
    await c.api('GET', '/containers/e4/json', undefined, `${NS}.Networks`);
    c.docker(['network', 'disconnect', 'mn', 'e4']);
    await c.api('GET', '/containers/e4/json', undefined, `${NS}.Networks`);

    c.sec('Network create: IPAM Options, names');
    c.docker(['network', 'create', 'ip1']);
    await c.api('GET', '/networks/ip1', undefined, 'IPAM');
    await c.api('POST', '/networks/create', { Name: 'ip2', IPAM: { Driver: 'default' } });
    await c.api('GET', '/networks/ip2', undefined, 'IPAM');
    await c.api('POST', '/networks/create', { Name: 'ip3', IPAM: { Options: {} } });
    await c.api('GET', '/networks/ip3', undefined, 'IPAM');
    await c.api('POST', '/networks/create', {
      Name: 'ip4',
      IPAM: { Config: [{ Subnet: '10.73.0.0/24' }], Options: { foo: 'bar' } },
    });
    await c.api('GET', '/networks/ip4', undefined, 'IPAM');
    await c.api('GET', '/networks/bridge', undefined, 'IPAM');
    c.heading('names');
    const names = [
      'test 01',
      '',
      ' ',
      '/',
      'a/b',
      '/lead',
      'trail/',
      'a'.repeat(64),
      'b'.repeat(200),
      'c'.repeat(1000),
      'ünïcødé',
      '日本',
      'a.b',
      '.dot',
      '..',
      '-lead',
      '_under',
      'x:y',
      'x@y',
      'x\\y',
      'x%y',
      'x?y',
      'x#y',
      'tab\tx',
      '\t',
      ' lead',
      'trail ',
      'nl\nx',
      'a,b',
      'A-UPPER',
      'bridge',
      'host',
      'none',
      'default',
      'container:x',
      'test 01',
    ];
    for (const n of names) await c.api('POST', '/networks/create', { Name: n });
    c.docker(['network', 'ls', '--format', '{{json .Name}}']);
    c.docker(['network', 'create', ''], { bin: CLI_2010 });
    c.docker(['network', 'create', ' '], { bin: CLI_2010 });
    c.docker(['network', 'rm', 'ip1', 'ip2', 'ip3', 'ip4', '/lead', 'trail/']);
    c.docker(['network', 'create', 'test 02']);
    c.docker(['network', 'inspect', '-f', '{{.Name}}', 'test 02']);
    c.heading('containers on networks with such names (NetworkMode)');
    c.docker([
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
    c.docker(['run', '--rm', '--network', 'a.b', 'busybox', 'true']);
    c.docker(['run', '--rm', '--network', '-lead', 'busybox', 'true']);
    for (const mode of ['test 01', 'ünïcødé', 'a/b', 'nosuch', 'nosuch x', '', 'x:y']) {
      const r = await c.api('POST', '/containers/create', {
        Image: 'busybox',
        Cmd: ['true'],
        HostConfig: { NetworkMode: mode },
      });
      const id = (r.json as { Id?: string } | undefined)?.Id;
      if (id) await c.api('DELETE', `/containers/${id}?force=1`);
    }
    c.docker(['network', 'connect', 'test 01', 'cn1']);
    c.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'cn1']);

    c.sec('NetworkingConfig naming a second network at create');
    await c.api('POST', '/containers/create?name=two1', {
      Image: 'busybox',
      Cmd: LOOP,
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { mn: {}, en: {} } },
    });
    await c.api('POST', '/containers/create?name=two2', {
      Image: 'busybox',
      Cmd: LOOP,
      NetworkingConfig: { EndpointsConfig: { mn: {}, en: {} } },
    });
    c.heading('one EndpointsConfig network other than NetworkMode');
    const r3 = await c.api('POST', '/containers/create?name=two3', {
      Image: 'busybox',
      Cmd: LOOP,
      HostConfig: { NetworkMode: 'mn' },
      NetworkingConfig: { EndpointsConfig: { en: { Aliases: ['other'] } } },
    });
    if (r3.status === 201) {
      await c.api('GET', '/containers/two3/json', undefined, `${NS}.Networks`);
      c.docker(['start', 'two3']);
      await c.api('GET', '/containers/two3/json', undefined, `${NS}.Networks`);
    }
    const r4 = await c.api('POST', '/containers/create?name=two4', {
      Image: 'busybox',
      Cmd: LOOP,
      NetworkingConfig: { EndpointsConfig: { en: { Aliases: ['other'] } } },
    });
    if (r4.status === 201) {
      await c.api('GET', '/containers/two4/json', undefined, [
        'HostConfig.NetworkMode',
        `${NS}.Networks`,
      ]);
    }
    c.heading('two networks, one of them the default bridge; host mode with an endpoint');
    await c.api('POST', '/containers/create?name=two5', {
      Image: 'busybox',
      Cmd: LOOP,
      NetworkingConfig: { EndpointsConfig: { bridge: {}, mn: {} } },
    });
    await c.api('POST', '/containers/create?name=two6', {
      Image: 'busybox',
      Cmd: LOOP,
      HostConfig: { NetworkMode: 'host' },
      NetworkingConfig: { EndpointsConfig: { host: {}, mn: {} } },
    });

    c.sec('rm --link');
    c.docker(['run', '-d', '--name', 'child', 'busybox', ...LOOP]);
    c.docker(['run', '-d', '--name', 'child2', '--env', 'FOO=bar', 'busybox', ...LOOP]);
    c.docker([
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
    c.docker(['exec', 'parent', 'cat', '/etc/hosts']);
    c.docker(['exec', 'parent', 'sh', '-c', 'env | grep -i "^ch_\\|^child2_" | sort']);
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']);
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'child']);
    c.docker(['rm', '--link', 'parent/ch'], { bin: CLI_2010 });
    c.note(
      'dockerd --debug log: the rm --link request of the 20.10 CLI',
      readFileSync(ref.log, 'utf8')
        .split('\n')
        .filter((l) => /Calling DELETE .*link/.test(l))
        .join('\n'),
    );
    c.heading('the running parent after the link is removed');
    c.docker(['exec', 'parent', 'cat', '/etc/hosts']);
    c.docker(['exec', 'parent', 'sh', '-c', 'env | grep -i "^ch_\\|^child2_" | sort']);
    c.docker(['exec', 'parent', 'ping', '-c1', '-W1', 'ch']);
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']);
    c.docker(['inspect', '-f', '{{.State.Status}}', 'child']);
    await c.api('GET', '/containers/parent/json', undefined, [
      'HostConfig.Links',
      'NetworkSettings.Networks.bridge.Links',
    ]);
    c.heading('the link again, and refusals (API statuses)');
    await c.api('DELETE', '/containers/parent/ch?link=1');
    await c.api('DELETE', '/containers/parent?link=1');
    await c.api('DELETE', '/containers/nosuch/ch?link=1');
    await c.api('DELETE', '/containers/parent/nosuch?link=1');
    await c.api('DELETE', '/containers/child/ch?link=1');
    await c.api('DELETE', '/containers/parent/child2');
    await c.api('DELETE', '/containers/parent/child2?link=0');
    await c.api('DELETE', '/containers/parent%2Fchild2?link=1');
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']);
    c.docker(['rm', '-f', '--link', 'parent/child2']);
    c.docker(['inspect', '-f', '{{.State.Status}}', 'child2']);
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent']);
    c.docker(['exec', 'parent', 'cat', '/etc/hosts']);
    c.heading('after a restart of the parent');
    c.docker(['restart', '-t', '0', 'parent']);
    c.docker(['exec', 'parent', 'cat', '/etc/hosts']);
    c.docker(['exec', 'parent', 'sh', '-c', 'env | grep -i "^ch_\\|^child2_" | sort']);
    c.heading('a stopped parent');
    c.docker(['create', '--name', 'parent2', '--link', 'child:c2', 'busybox', ...LOOP]);
    c.docker(['rm', '--link', 'parent2/c2'], { bin: CLI_2010 });
    c.docker(['inspect', '-f', '{{json .HostConfig.Links}}', 'parent2']);
    c.docker(['start', 'parent2']);
    c.docker(['exec', 'parent2', 'cat', '/etc/hosts']);
    c.heading('rm --link events');
    c.docker([
      'events',
      '--since',
      '0',
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      'container=parent2',
    ]);
    c.heading('a link on a user network (an alias there)');
    c.docker([
      'run',
      '-d',
      '--name',
      'uparent',
      '--network',
      'en',
      '--link',
      'target:tl',
      'busybox',
      ...LOOP,
    ]);
    c.docker(['inspect', '-f', '{{json .NetworkSettings.Networks.en.Links}}', 'uparent']);
    c.docker(['rm', '--link', 'uparent/tl']);
    c.heading('dockerd log lines of the deletes');
    c.note(
      'dockerd --debug log: DELETE requests',
      readFileSync(ref.log, 'utf8')
        .split('\n')
        .filter((l) => /Calling DELETE/.test(l))
        .join('\n'),
    );
  },
});
