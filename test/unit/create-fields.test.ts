/**
 * Walks every field of the ContainerCreate schema of the API version berthd
 * advertises (1.47) and proves each is either honoured or refused when set:
 * never accepted and ignored. And every field's JSON type is checked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCreate } from '../../src/containers/config.js';
import { CONFIG_FIELDS, HOST_CONFIG_FIELDS } from '../../src/containers/create-fields.js';

// The fields of moby's container.Config and container.HostConfig (with the
// Resources it embeds) at Engine API 1.47, as their JSON names. Written out
// here on purpose: a field added to the schema must be classified.
const API_CONFIG = `Hostname Domainname User AttachStdin AttachStdout AttachStderr ExposedPorts
  Tty OpenStdin StdinOnce Env Cmd Healthcheck ArgsEscaped Image Volumes WorkingDir Entrypoint
  NetworkDisabled MacAddress OnBuild Labels StopSignal StopTimeout Shell`;
const API_HOST_CONFIG = `Binds ContainerIDFile LogConfig NetworkMode PortBindings RestartPolicy
  AutoRemove VolumeDriver VolumesFrom ConsoleSize Annotations CapAdd CapDrop CgroupnsMode Dns
  DnsOptions DnsSearch ExtraHosts GroupAdd IpcMode Cgroup Links OomScoreAdj PidMode Privileged
  PublishAllPorts ReadonlyRootfs SecurityOpt StorageOpt Tmpfs UTSMode UsernsMode ShmSize Sysctls
  Runtime Isolation CpuShares Memory NanoCpus CgroupParent BlkioWeight BlkioWeightDevice
  BlkioDeviceReadBps BlkioDeviceWriteBps BlkioDeviceReadIOps BlkioDeviceWriteIOps CpuPeriod
  CpuQuota CpuRealtimePeriod CpuRealtimeRuntime CpusetCpus CpusetMems Devices DeviceCgroupRules
  DeviceRequests KernelMemory KernelMemoryTCP MemoryReservation MemorySwap MemorySwappiness
  OomKillDisable PidsLimit Ulimits CpuCount CpuPercent IOMaximumIOps IOMaximumBandwidth Mounts
  MaskedPaths ReadonlyPaths Init`;
const names = (s: string) => s.split(/\s+/).filter(Boolean).sort();

/** A set value of each kind; honoured fields with stricter rules get their own. */
const SAMPLE: Record<string, unknown> = {
  str: 'x',
  bool: true,
  int: 7,
  strs: ['x'],
  list: ['x'],
  strmap: { k: 'v' },
  obj: { K: 1 },
  objs: [{ K: 1 }],
  pair: [24, 80],
};
const HONOURED_SAMPLE: Record<string, unknown> = {
  Hostname: 'web',
  MacAddress: '02:42:ac:11:00:99',
  WorkingDir: '/srv',
  Env: ['A=1'],
  ExposedPorts: { '80/tcp': {} },
  Image: 'busybox',
  StopSignal: 'SIGTERM',
  NetworkMode: 'host',
  PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
  RestartPolicy: { Name: 'always' },
  Dns: ['192.0.2.53'],
  ExtraHosts: ['a:192.0.2.1'],
  CapAdd: ['NET_ADMIN'],
  CapDrop: ['MKNOD'],
  Links: ['other:alias'],
  SecurityOpt: ['no-new-privileges'],
  Runtime: 'runc',
  Isolation: 'default',
  IpcMode: 'shareable',
  PidMode: 'host',
  UTSMode: 'host',
  Sysctls: { 'net.core.somaxconn': '1024' },
  Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'rwm' }],
  Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
  LogConfig: { Type: 'none', Config: {} },
};
/** A value dockerd takes that Berth does not do yet, where the kind's sample is invalid. */
const UNSUPPORTED_SAMPLE: Record<string, unknown> = {
  CgroupnsMode: 'private',
};
/** The zero value of each kind, as Go's encoder writes it. */
const ZERO: Record<string, unknown> = {
  str: '',
  bool: false,
  int: 0,
  strs: [],
  list: [],
  strmap: {},
  obj: {},
  objs: [],
  pair: [0, 0],
};
/** A wrong JSON type for each kind. */
const WRONG: Record<string, unknown> = {
  str: {},
  bool: 'yes',
  int: 'x',
  strs: 5,
  list: 'x',
  strmap: ['x'],
  obj: 1,
  objs: {},
  pair: [1],
};

const create = (top: Record<string, unknown>, hc: Record<string, unknown> = {}) =>
  parseCreate({ Image: 'busybox', Cmd: ['true'], ...top, HostConfig: hc });

const refusedWith = (re: RegExp) => (e: Error & { code?: string }) =>
  e.code === 'INVALID_ARGUMENT' && re.test(e.message);

describe('every ContainerCreate field is honoured or refused', () => {
  it('the tables classify exactly the schema of API 1.47', () => {
    assert.deepEqual(Object.keys(CONFIG_FIELDS).sort(), names(API_CONFIG));
    assert.deepEqual(Object.keys(HOST_CONFIG_FIELDS).sort(), names(API_HOST_CONFIG));
  });

  for (const [section, fields] of [
    ['Config', CONFIG_FIELDS],
    ['HostConfig', HOST_CONFIG_FIELDS],
  ] as const) {
    for (const [name, f] of Object.entries(fields)) {
      const put = (v: unknown) =>
        section === 'Config' ? create({ [name]: v }) : create({}, { [name]: v });
      it(`${section}.${name}: a wrong JSON type is a 400 naming it`, () => {
        assert.throws(
          () => put(WRONG[f.kind]),
          refusedWith(new RegExp(`invalid (HostConfig\\.)?${name}\\b`)),
        );
      });
      it(`${section}.${name}: null and its zero value are accepted`, () => {
        if (name === 'Image') return;
        put(null);
        put(ZERO[f.kind]);
      });
      if (f.unsupported) {
        it(`${section}.${name}: set, it is refused as not supported yet`, () => {
          assert.throws(
            () => put(UNSUPPORTED_SAMPLE[name] ?? SAMPLE[f.kind]),
            refusedWith(new RegExp(`berth does not support .*\\((HostConfig\\.)?${name}\\)`)),
          );
        });
      } else {
        it(`${section}.${name}: set, it is accepted and kept`, () => {
          const v = HONOURED_SAMPLE[name] ?? SAMPLE[f.kind];
          const r = put(v);
          const kept = section === 'Config' ? r.config : r.hostConfig;
          assert.notEqual((kept as Record<string, unknown>)[name], undefined);
        });
      }
    }
  }

  it('the body the docker CLI sends for a plain run is accepted whole', () => {
    // docker CLI 28.2.2's body for `run -d busybox sh -c ...` (test/unit/cli-createbody.test.ts).
    const body = JSON.parse(
      '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["/bin/sh","-c","sleep 3600"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{}}}}',
    ) as unknown;
    const r = parseCreate(body);
    assert.equal(r.hostConfig.NetworkMode, 'default');
  });

  it("the defaults clients send for unset fields are accepted: -1 swappiness, 'host' userns", () => {
    create(
      {},
      {
        MemorySwappiness: -1,
        PidsLimit: -1,
        UsernsMode: 'host',
        IpcMode: 'private',
        CgroupnsMode: 'host',
        Isolation: 'default',
        LogConfig: { Type: 'json-file', Config: {} },
      },
    );
    create({ Healthcheck: { Test: ['NONE'] } });
  });

  it('set values of unsupported nested fields are refused too', () => {
    assert.throws(
      () => create({}, { LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } } }),
      refusedWith(/--log-opt/),
    );
    assert.throws(
      () => create({}, { LogConfig: { Type: 'syslog', Config: {} } }),
      refusedWith(/^berth does not support log driver syslog yet/),
    );
    assert.throws(
      () => create({}, { BlkioWeightDevice: [{ Path: '/dev/sda', Weight: 100 }] }),
      refusedWith(/--blkio-weight-device/),
    );
  });

  it('unknown fields are not kept in the HostConfig inspect shows', () => {
    const r = create({}, { NotAField: 'x' });
    assert.equal((r.hostConfig as Record<string, unknown>).NotAField, undefined);
  });

  it('a port binding without HostIp gets the empty address, as Go decodes it', () => {
    const r = create({}, { PortBindings: { '80/tcp': [{ HostPort: '1-65535' }] } });
    assert.deepEqual(r.hostConfig.PortBindings['80/tcp'], [{ HostIp: '', HostPort: '1-65535' }]);
  });
});
