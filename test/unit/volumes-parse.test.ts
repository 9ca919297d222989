/**
 * Mount specs as dockerd 20.10 parses them (volumes/parse.ts) and the OCI
 * mounts they become (containers/mounts.ts ociMounts, spec.ts mergeMounts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  localOptsError,
  parseBind,
  parseVolumesFrom,
  readWrite,
  tmpfsData,
  tmpfsOptions,
  toMountPoint,
  validateMount,
  validMode,
  volumeNameError,
  type MountRequest,
} from '../../src/volumes/parse.js';
import { checkMounts, ociMounts, readMount } from '../../src/containers/mounts.js';
import { mergeMounts } from '../../src/containers/spec.js';
import { parseMountOptions } from '../../src/kernel/mount/mounts.js';
import type { HostConfig } from '../../src/containers/types.js';

const msg = (re: RegExp) => (e: unknown) => re.test((e as Error).message);

describe('-v specs (dockerd ParseMountRaw)', () => {
  it('a bind: absolute source, mode kept, rprivate, made at start', () => {
    const p = parseBind('/srv/x:/data:ro,z');
    assert.deepEqual(p.point, {
      Type: 'bind',
      Source: '/srv/x',
      Destination: '/data',
      Mode: 'ro,z',
      RW: false,
      Propagation: 'rprivate',
      CreateSource: true,
    });
    assert.equal(parseBind('/a/b/:/d/').point.Source, '/a/b');
    assert.equal(parseBind('/a:/d/e/').point.Destination, '/d/e');
    assert.equal(parseBind('/a:/d:rslave').point.Propagation, 'rslave');
  });

  it('a named volume, with nocopy; an anonymous one', () => {
    const p = parseBind('data:/var/lib/x:nocopy');
    assert.equal(p.point.Type, 'volume');
    assert.equal(p.point.Name, 'data');
    assert.equal(p.point.CopyData, false);
    assert.equal(p.point.Anonymous, false);
    assert.equal(parseBind('/only').point.Anonymous, true);
    assert.equal(parseBind('data:/x', 'local').driver, 'local');
  });

  it("refuses as dockerd, in dockerd's words", () => {
    assert.throws(
      () => parseBind('/a:/b:c:d'),
      msg(/^invalid volume specification: '\/a:\/b:c:d'$/),
    );
    assert.throws(() => parseBind(':/b'), msg(/^invalid volume specification: ':\/b'$/));
    assert.throws(() => parseBind('/foo:rw'), msg(/^invalid volume specification: '\/foo:rw'$/));
    assert.throws(() => parseBind('/a:/b:xyz'), msg(/^invalid mode: xyz$/));
    assert.throws(() => parseBind('/a:/b:ro,rw'), msg(/^invalid mode: ro,rw$/));
    assert.throws(
      () => parseBind('/a:/'),
      msg(
        /^invalid volume specification: '\/a:\/': invalid mount config for type "bind": invalid specification: destination can't be '\/'$/,
      ),
    );
    assert.throws(
      () => parseBind('/a:rel'),
      msg(/invalid mount path: 'rel' mount path must be absolute$/),
    );
    assert.throws(
      () => parseBind('vol:/x:rshared'),
      msg(/invalid mount config for type "volume": field BindOptions must not be specified$/),
    );
  });

  it('modes: one of each kind', () => {
    assert.ok(validMode('ro,Z,rslave,nocopy,cached'));
    assert.ok(!validMode('z,Z'));
    assert.ok(!validMode('shared,slave'));
    assert.equal(readWrite('rw'), true);
    assert.equal(readWrite('z,ro'), false);
  });
});

const req = (o: Partial<MountRequest>): MountRequest => ({
  Type: 'bind',
  Source: '/src',
  Target: '/dst',
  ReadOnly: false,
  NonRecursive: false,
  CreateMountpoint: false,
  NoCopy: false,
  Driver: '',
  TmpfsSize: 0,
  TmpfsMode: 0,
  has: { bind: false, volume: false, tmpfs: false },
  ...o,
});

describe('--mount (dockerd validateMountConfig)', () => {
  it('a bind source must exist unless CreateMountpoint', () => {
    const none = () => false;
    assert.throws(
      () => validateMount(req({}), none),
      msg(/^invalid mount config for type "bind": bind source path does not exist: \/src$/),
    );
    validateMount(req({ CreateMountpoint: true }), none);
    validateMount(req({}), () => true);
    // And it is made at start: the mount point says so.
    assert.equal(toMountPoint(req({ CreateMountpoint: true })).point.CreateSource, true);
    assert.equal(toMountPoint(req({})).point.CreateSource, undefined);
  });

  it('fields that do not fit the type, an unknown type', () => {
    const t = () => true;
    assert.throws(
      () => validateMount(req({ Type: 'tmpfs' }), t),
      msg(/^invalid mount config for type "tmpfs": field Source must not be specified$/),
    );
    assert.throws(
      () => validateMount(req({ Type: 'volume', Source: '', ReadOnly: true }), t),
      msg(/must not set ReadOnly mode when using anonymous volumes$/),
    );
    assert.throws(
      () => validateMount(req({ Type: 'npipe' }), t),
      msg(/^invalid mount config for type "npipe": mount type unknown$/),
    );
    assert.throws(
      () => validateMount(req({ Target: '' }), t),
      msg(/field Target must not be empty$/),
    );
    assert.throws(
      () => validateMount(req({ Propagation: 'sideways' }), t),
      msg(/invalid propagation mode: sideways$/),
    );
  });

  it('reads the API object; refuses the later fields Berth lacks', () => {
    const m = readMount(
      {
        Type: 'volume',
        Source: 'v',
        Target: '/d',
        VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local' } },
      },
      'HostConfig.Mounts[0]',
    );
    assert.equal(m.NoCopy, true);
    assert.deepEqual(m.Labels, { a: 'b' });
    assert.throws(
      () =>
        readMount(
          { Type: 'volume', Source: 'v', Target: '/d', VolumeOptions: { Subpath: 'x' } },
          'M',
        ),
      msg(/^berth does not support volume-subpath \(M.VolumeOptions.Subpath\) yet/),
    );
    assert.throws(() => readMount({ Type: 1 }, 'M'), msg(/^invalid M.Type: expected a string/));
  });

  it('checkMounts refuses another volume driver, a bad tmpfs, before anything is made', () => {
    const hc = (o: Record<string, unknown>) => o as unknown as HostConfig;
    assert.throws(
      () => checkMounts({ Volumes: null }, hc({ VolumeDriver: 'flocker' })),
      msg(/does not support the volume driver "flocker"/),
    );
    assert.throws(
      () => checkMounts({ Volumes: null }, hc({ Tmpfs: { '/t': 'nope' } })),
      msg(/^Invalid tmpfs option \["nope"\]$/),
    );
    assert.throws(
      () => checkMounts({ Volumes: { rel: {} } }, hc({})),
      msg(/^invalid mount path: 'rel' mount path must be absolute$/),
    );
    assert.throws(
      () => checkMounts({ Volumes: null }, hc({ VolumesFrom: ['c:shared'] })),
      msg(/^invalid mode: shared$/),
    );
  });
});

describe('tmpfs, volumes-from, names, driver options', () => {
  it("tmpfs options merged as moby's MergeTmpfsOptions", () => {
    assert.deepEqual(tmpfsOptions(''), ['noexec', 'nosuid', 'nodev', 'rprivate']);
    assert.deepEqual(tmpfsOptions('size=1m,exec'), [
      'nosuid',
      'nodev',
      'rprivate',
      'size=1m',
      'exec',
    ]);
    assert.deepEqual(tmpfsOptions('size=1m,size=2m,shared'), [
      'noexec',
      'nosuid',
      'nodev',
      'size=2m',
      'shared',
    ]);
    assert.throws(() => tmpfsOptions('foo=1'), msg(/^Invalid tmpfs option \["foo" "1"\]$/));
    assert.equal(tmpfsData(2 * 1024 * 1024, 0o1770, true), 'ro,mode=1770,size=2m');
    assert.equal(tmpfsData(1000, 0, false), 'size=1000');
  });

  it('volumes-from', () => {
    assert.deepEqual(parseVolumesFrom('c1'), { id: 'c1', mode: 'rw' });
    assert.deepEqual(parseVolumesFrom('c1:ro'), { id: 'c1', mode: 'ro' });
    assert.throws(() => parseVolumesFrom('c1:nocopy'), msg(/^invalid mode: nocopy$/));
    assert.throws(() => parseVolumesFrom(''), msg(/cannot be an empty string/));
  });

  it('local names and options', () => {
    assert.equal(volumeNameError('ok_1.x'), undefined);
    assert.match(volumeNameError('a') ?? '', /too short/);
    assert.match(volumeNameError('a/b') ?? '', /"a\/b" includes invalid characters/);
    assert.equal(localOptsError({ type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }), undefined);
    assert.equal(localOptsError({ foo: 'x' }), 'invalid option: "foo"');
    assert.equal(localOptsError({ type: 'nfs' }), 'missing required option: "device"');
    assert.equal(localOptsError({ o: 'x', device: 'd' }), 'missing required option: "type"');
  });

  it('mount(8) options as flags and data', () => {
    assert.deepEqual(parseMountOptions('size=1m'), { flags: 0, data: 'size=1m' });
    assert.deepEqual(parseMountOptions('bind,ro'), { flags: 0x1001, data: '' });
    assert.deepEqual(parseMountOptions('rw,noexec,addr=1.2.3.4'), {
      flags: 0x8,
      data: 'addr=1.2.3.4',
    });
  });
});

describe('OCI mounts', () => {
  it('binds rbind with ro and propagation, volumes without, tmpfs; root shared for rshared', () => {
    const r = ociMounts(
      [
        {
          Type: 'bind',
          Source: '/s',
          Destination: '/b',
          Mode: 'ro',
          RW: false,
          Propagation: 'rprivate',
        },
        {
          Type: 'volume',
          Name: 'v',
          Source: '/root/volumes/v/_data',
          Destination: '/v',
          Mode: 'z',
          RW: true,
          Propagation: '',
        },
        {
          Type: 'bind',
          Source: '/h',
          Destination: '/h',
          Mode: '',
          RW: true,
          Propagation: 'rshared',
          NonRecursive: true,
        },
      ],
      { '/t': 'size=1m' },
    );
    assert.deepEqual(r.mounts, [
      {
        destination: '/t',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['noexec', 'nosuid', 'nodev', 'rprivate', 'size=1m'],
      },
      { destination: '/b', type: 'bind', source: '/s', options: ['rbind', 'ro', 'rprivate'] },
      { destination: '/v', type: 'bind', source: '/root/volumes/v/_data', options: ['rbind'] },
      { destination: '/h', type: 'bind', source: '/h', options: ['bind', 'rshared'] },
    ]);
    assert.equal(r.rootfsPropagation, 'rshared');
  });

  it('user mounts replace defaults and /etc files; parents before children', () => {
    const m = (destination: string, source = 'x') => ({
      destination,
      type: 'bind',
      source,
      options: [],
    });
    const out = mergeMounts(
      [m('/proc'), m('/dev'), m('/dev/shm'), m('/dev/pts')],
      [m('/etc/resolv.conf'), m('/etc/hosts')],
      [m('/etc/hosts', 'mine'), m('/etc'), m('/dev/shm', 'mine'), m('/a/b/c'), m('/a')],
    );
    assert.deepEqual(
      out.map((x) => `${x.destination}:${x.source}`),
      [
        '/proc:x',
        '/dev:x',
        '/dev/pts:x',
        '/etc:x',
        '/a:x',
        '/etc/resolv.conf:x',
        '/etc/hosts:mine',
        '/dev/shm:mine',
        '/a/b/c:x',
      ],
    );
    const dev = mergeMounts([m('/proc'), m('/dev'), m('/dev/shm')], [], [m('/dev', 'mine')]);
    assert.deepEqual(
      dev.map((x) => `${x.destination}:${x.source}`),
      ['/proc:x', '/dev:mine'],
    );
  });
});
