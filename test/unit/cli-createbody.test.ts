import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../../src/cli/flags.js';
import { buildCreateRequest, CONTAINER_FLAGS, OptionError } from '../../src/cli/runopts.js';

// Bodies the docker CLI 28.2.2 sent for the same command lines (recorded against a logging mock).
const DOCKER_RUN_D =
  '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["/bin/sh","-c","while true; do sleep 3600; done"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}';
const DOCKER_CREATE_FULL =
  '{"Hostname":"myhost","Domainname":"","User":"1000","AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"5000/tcp":{},"53/udp":{},"7000/tcp":{},"7001/tcp":{},"80/tcp":{},"9000/tcp":{},"9001/tcp":{}},"Tty":true,"OpenStdin":true,"StdinOnce":true,"Env":["A=1","C="],"Cmd":["-c","echo hi"],"Image":"busybox","Volumes":{},"WorkingDir":"/tmp","Entrypoint":["/bin/sh"],"OnBuild":null,"Labels":{"a":"b","c":"","d":"e"},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"my-bridge","PortBindings":{"5000/tcp":[{"HostIp":"","HostPort":""}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"53"}],"80/tcp":[{"HostIp":"","HostPort":"8080"}],"9000/tcp":[{"HostIp":"","HostPort":"9000"}],"9001/tcp":[{"HostIp":"","HostPort":"9001"}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":["CAP_NET_ADMIN"],"CapDrop":["CAP_MKNOD"],"CgroupnsMode":"","Dns":["8.8.8.8"],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":["test1","test2:alias"],"OomScoreAdj":0,"PidMode":"","Privileged":true,"PublishAllPorts":true,"ReadonlyRootfs":true,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null,"Init":true},"NetworkingConfig":{"EndpointsConfig":{"my-bridge":{"IPAMConfig":{"IPv4Address":"172.30.0.9"},"Links":["test1","test2:alias"],"Aliases":["web","w2"],"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}';

const flags = [
  ...CONTAINER_FLAGS,
  { long: 'detach', short: 'd', type: 'bool' as const, usage: '' },
];

function build(
  argv: string[],
  detach = false,
  env: NodeJS.ProcessEnv = {},
): Record<string, unknown> {
  const f = parseFlags(flags, argv, false);
  const [image = '', ...cmd] = f.args;
  const req = buildCreateRequest(f, image, cmd, { detach, env });
  return { name: req.name, ...req.body };
}

type Body = {
  HostConfig: { NetworkMode: string; Links: unknown };
  NetworkingConfig: {
    EndpointsConfig: Record<string, { Aliases: unknown; Links: unknown; IPAMConfig: unknown }>;
  };
};

test('run -d body is byte-identical to docker CLI 28', () => {
  const b = build(
    ['--name', 'test1', 'busybox', '/bin/sh', '-c', 'while true; do sleep 3600; done'],
    true,
  );
  assert.equal(b['name'], 'test1');
  delete b['name'];
  assert.equal(JSON.stringify(b), DOCKER_RUN_D);
});

test('a create with every networking flag is byte-identical to docker CLI 28', () => {
  const argv = (
    '-e A=1 -e C= -p 8080:80 -p 127.0.0.1:53:53/udp -p 9000-9001:9000-9001 -p 5000 --expose 7000-7001 -P ' +
    '--network my-bridge --ip 172.30.0.9 --network-alias web --network-alias w2 --link test1 --link test2:alias ' +
    '-l a=b -l c --label d=e --dns 8.8.8.8 --restart on-failure:3 --privileged --cap-add NET_ADMIN --cap-drop MKNOD ' +
    '-w /tmp -u 1000 -h myhost --entrypoint /bin/sh --read-only --init -it --name x busybox -c'
  ).split(' ');
  const b = build([...argv, 'echo hi']);
  delete b['name'];
  assert.equal(JSON.stringify(b), DOCKER_CREATE_FULL);
});

test('no --network: NetworkMode default and an empty default endpoint', () => {
  const b = build(['busybox']) as unknown as Body;
  assert.equal(b.HostConfig.NetworkMode, 'default');
  assert.deepEqual(Object.keys(b.NetworkingConfig.EndpointsConfig), ['default']);
  assert.equal(b.NetworkingConfig.EndpointsConfig['default']!.Aliases, null);
});

test('a bare --network X is left out of EndpointsConfig; --ip puts it in', () => {
  const bare = build(['--network', 'none', 'busybox']) as unknown as Body;
  assert.deepEqual(bare.NetworkingConfig.EndpointsConfig, {});
  const ip = build(['--net=bridge', '--ip', '1.2.3.4', 'busybox']) as unknown as Body;
  assert.deepEqual(ip.NetworkingConfig.EndpointsConfig['bridge']!.IPAMConfig, {
    IPv4Address: '1.2.3.4',
  });
});

test('--link on the default bridge only goes to HostConfig.Links', () => {
  const b = build(['--link', 'test1', 'busybox']) as unknown as Body;
  assert.deepEqual(b.HostConfig.Links, ['test1']);
  assert.equal(b.NetworkingConfig.EndpointsConfig['default']!.Links, null);
});

test('attached run: stdout/stderr attached, -i opens stdin once; env from the caller', () => {
  const b = build(['-i', '-e', 'HOME', '-e', 'NOPE', 'busybox'], false, { HOME: '/root' });
  assert.equal(b['AttachStdin'], true);
  assert.equal(b['AttachStdout'], true);
  assert.equal(b['OpenStdin'], true);
  assert.equal(b['StdinOnce'], true);
  assert.deepEqual(b['Env'], ['HOME=/root', 'NOPE']);
  assert.equal(b['Cmd'], null);
});

test('option errors use docker wording', () => {
  const err = (argv: string[], msg: string): void =>
    assert.throws(() => build(argv), new OptionError(msg));
  err(
    ['--network-alias', 'x', 'busybox'],
    'network-scoped aliases are only supported for user-defined networks',
  );
  err(['--rm', '--restart', 'always', 'busybox'], 'Conflicting options: --restart and --rm');
  err(['--restart', 'on-failure:x', 'busybox'], 'maximum retry count must be an integer');
  err(
    ['--network', 'a', '--network', 'host', 'busybox'],
    'conflicting options: cannot attach both user-defined and non-user-defined network-modes',
  );
});
