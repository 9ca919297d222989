import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  familiarMatch,
  familiarString,
  noSuchImageMessage,
  parseAnyReference,
  parseNormalizedNamed,
  parseRepoTag,
  parseTagKey,
  tagKeyOf,
  withDefaultTag,
} from '../../src/images/reference.js';
import { cleanName } from '../../src/images/extract.js';
import { isImageIdPrefix, planRemoval, type RemovalInput } from '../../src/images/remove.js';
import {
  unixSeconds,
  fullContainerConfig,
  checkFilters,
  normaliseFilters,
} from '../../src/images/format.js';
import { staticElfArch } from '../../src/images/busybox.js';

const HEX = 'a'.repeat(64);

describe('image references', () => {
  it('normalises names as Docker does', () => {
    const cases: Array<[string, string, string]> = [
      ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
      ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
      ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
      ['docker.io/library/busybox:x', 'docker.io/library/busybox:x', 'busybox:x'],
      ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
      ['user/app:v1', 'docker.io/user/app:v1', 'user/app:v1'],
      ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
      ['localhost:5000/a/b:t', 'localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
      ['quay.io/org/app', 'quay.io/org/app:latest', 'quay.io/org/app:latest'],
      ['my-app_x.y', 'docker.io/library/my-app_x.y:latest', 'my-app_x.y:latest'],
    ];
    for (const [input, key, familiar] of cases) {
      const r = withDefaultTag(parseNormalizedNamed(input));
      assert.equal(tagKeyOf(r), key, input);
      assert.equal(familiarString(r), familiar, input);
      assert.deepEqual(parseTagKey(key), r, input);
    }
  });

  it('keeps digests and does not add a tag to them', () => {
    const r = withDefaultTag(parseNormalizedNamed(`busybox@sha256:${HEX}`));
    assert.equal(r.tag, undefined);
    assert.equal(familiarString(r), `busybox@sha256:${HEX}`);
  });

  it('reads ids: 64 hex and sha256:<64 hex>; anything shorter is a name', () => {
    assert.deepEqual(parseAnyReference(HEX), { kind: 'id', id: `sha256:${HEX}` });
    assert.deepEqual(parseAnyReference(`sha256:${HEX}`), { kind: 'id', id: `sha256:${HEX}` });
    assert.equal(parseAnyReference('abc123').kind, 'named');
    assert.equal(parseAnyReference('sha256:abc').kind, 'named');
  });

  it('rejects malformed references with Docker messages', () => {
    assert.throws(() => parseNormalizedNamed('Busybox'), {
      code: 'INVALID_ARGUMENT',
      message: 'invalid reference format: repository name must be lowercase',
    });
    assert.throws(() => parseNormalizedNamed('bad name'), { message: 'invalid reference format' });
    assert.throws(() => parseNormalizedNamed('a:b:c'), { message: 'invalid reference format' });
    assert.throws(() => parseNormalizedNamed('-x'), { message: 'invalid reference format' });
    assert.throws(() => parseNormalizedNamed(''), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => parseRepoTag(HEX), /cannot specify 64-byte hexadecimal strings/);
    assert.throws(() => parseRepoTag('x', 'bad tag'), { message: 'invalid tag format' });
    assert.throws(() => parseRepoTag(`x@sha256:${HEX}`), /digest/);
  });

  it('parses tag requests: repo may carry the tag, an explicit tag wins, latest by default', () => {
    assert.equal(tagKeyOf(parseRepoTag('app')), 'docker.io/library/app:latest');
    assert.equal(tagKeyOf(parseRepoTag('app:v1')), 'docker.io/library/app:v1');
    assert.equal(tagKeyOf(parseRepoTag('app:v1', 'v2')), 'docker.io/library/app:v2');
    assert.equal(tagKeyOf(parseRepoTag('app', '')), 'docker.io/library/app:latest');
  });

  it('words "No such image" as Docker', () => {
    assert.equal(noSuchImageMessage('nosuch'), 'No such image: nosuch:latest');
    assert.equal(noSuchImageMessage('docker.io/library/x:1'), 'No such image: x:1');
    assert.equal(noSuchImageMessage(HEX), `No such image: sha256:${HEX}`);
    assert.equal(noSuchImageMessage('Bad'), 'No such image: Bad');
  });

  it('matches reference filters like path.Match on the familiar string or name', () => {
    const r = withDefaultTag(parseNormalizedNamed('busybox:1.36'));
    assert.ok(familiarMatch('busybox', r));
    assert.ok(familiarMatch('busybox:1.*', r));
    assert.ok(familiarMatch('busy*', r));
    assert.ok(!familiarMatch('busybox:latest', r));
    const u = withDefaultTag(parseNormalizedNamed('user/app'));
    assert.ok(familiarMatch('user/*', u));
    assert.ok(!familiarMatch('*', u));
  });
});

describe('tar entry names', () => {
  it('cleans names and refuses escapes', () => {
    assert.equal(cleanName('./a/b/'), 'a/b');
    assert.equal(cleanName('/etc/passwd'), 'etc/passwd');
    assert.equal(cleanName('./'), '');
    assert.equal(cleanName('a/./b//c'), 'a/b/c');
    assert.equal(cleanName('a/../b'), 'b');
    assert.equal(cleanName('/../x'), 'x');
    assert.throws(() => cleanName('../x'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => cleanName('a/../../x'), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => cleanName('a\0b'), { code: 'INVALID_ARGUMENT' });
  });
});

describe('image removal rules', () => {
  const id = `sha256:${'b'.repeat(64)}`;
  const key = (n: string) => `docker.io/library/${n}:latest`;
  const base = (over: Partial<RemovalInput>): RemovalInput => ({
    ref: 'busybox',
    id,
    tagKeys: [key('busybox')],
    hasChildren: false,
    force: false,
    refTagKey: (r) => key(r),
    ...over,
  });

  it('knows id prefixes', () => {
    assert.ok(isImageIdPrefix(id, 'bbbb'));
    assert.ok(isImageIdPrefix(id, 'sha256:bb'));
    assert.ok(!isImageIdPrefix(id, 'busybox'));
  });

  it('untags one of several tags and deletes with the last', () => {
    assert.deepEqual(planRemoval(base({ tagKeys: [key('busybox'), key('other')] })), {
      untag: [key('busybox')],
      deleteImage: false,
    });
    assert.deepEqual(planRemoval(base({})), { untag: [key('busybox')], deleteImage: true });
  });

  it('refuses the last tag of an image in use, unless forced, and then keeps the image', () => {
    const user = { containerId: 'c'.repeat(64), running: false };
    const p = planRemoval(base({ user }));
    assert.equal(
      p.error,
      `conflict: unable to remove repository reference "busybox" (must force) - container cccccccccccc is using its referenced image bbbbbbbbbbbb`,
    );
    assert.deepEqual(planRemoval(base({ user, force: true })), {
      untag: [key('busybox')],
      deleteImage: false,
    });
    const running = planRemoval(base({ user: { ...user, running: true }, force: true }));
    assert.deepEqual(running, { untag: [key('busybox')], deleteImage: false });
  });

  it('by id: refuses several tags unless forced, and a running user even when forced', () => {
    const two = base({ ref: 'bbbbbb', tagKeys: [key('a'), key('b')] });
    assert.match(
      planRemoval(two).error ?? '',
      /\(must be forced\) - image is referenced in multiple repositories/,
    );
    assert.deepEqual(planRemoval({ ...two, force: true }), {
      untag: [key('a'), key('b')],
      deleteImage: true,
    });
    const run = base({
      ref: 'bbbbbb',
      user: { containerId: 'd'.repeat(64), running: true },
      force: true,
    });
    assert.equal(
      planRemoval(run).error,
      'conflict: unable to delete bbbbbbbbbbbb (cannot be forced) - image is being used by running container dddddddddddd',
    );
    const stopped = base({
      ref: 'bbbbbb',
      tagKeys: [],
      user: { containerId: 'd'.repeat(64), running: false },
    });
    assert.match(
      planRemoval(stopped).error ?? '',
      /must be forced\) - image is being used by stopped container dddddddddddd/,
    );
    assert.deepEqual(planRemoval(base({ ref: 'bbbbbb', tagKeys: [] })), {
      untag: [],
      deleteImage: true,
    });
  });
});

describe('image JSON helpers', () => {
  it('reads Go RFC 3339 times with nanoseconds', () => {
    assert.equal(unixSeconds('2022-08-03T19:00:00.123456789Z'), 1659553200);
    assert.equal(unixSeconds(undefined), 0);
    assert.equal(unixSeconds('garbage'), 0);
  });

  it('fills every container config field', () => {
    const c = fullContainerConfig({ Cmd: ['sh'] });
    assert.deepEqual(Object.keys(c), [
      'Hostname',
      'Domainname',
      'User',
      'AttachStdin',
      'AttachStdout',
      'AttachStderr',
      'Tty',
      'OpenStdin',
      'StdinOnce',
      'Env',
      'Cmd',
      'Image',
      'Volumes',
      'WorkingDir',
      'Entrypoint',
      'OnBuild',
      'Labels',
    ]);
    assert.deepEqual(c.Cmd, ['sh']);
    assert.equal(c.Env, null);
  });
});

describe('builtin busybox checks', () => {
  /** A minimal ELF64 header with one program header of type `ptype`. */
  function elf(machine: number, ptype: number): Buffer {
    const b = Buffer.alloc(64 + 56);
    b.writeUInt32BE(0x7f454c46, 0);
    b[4] = 2;
    b[5] = 1;
    b.writeUInt16LE(machine, 18);
    b.writeBigUInt64LE(64n, 32);
    b.writeUInt16LE(56, 54);
    b.writeUInt16LE(1, 56);
    b.writeUInt32LE(ptype, 64);
    return b;
  }

  it('accepts a static executable and names its architecture', () => {
    assert.equal(staticElfArch(elf(62, 1), 'bb'), 'amd64');
    assert.equal(staticElfArch(elf(183, 1), 'bb'), 'arm64');
  });

  it('refuses a dynamic executable and non-ELF files', () => {
    assert.throws(
      () => staticElfArch(elf(62, 3), '/bin/busybox'),
      /dynamically linked.*busybox-static/,
    );
    assert.throws(() => staticElfArch(Buffer.from('#!/bin/sh\n'.padEnd(80)), 'x'), /not an ELF/);
  });
});

describe('image list filters', () => {
  it('accepts both filter encodings and refuses unknown keys', () => {
    assert.deepEqual(
      normaliseFilters({ dangling: ['true'], reference: { 'busy*': true, x: false } }),
      {
        dangling: ['true'],
        reference: ['busy*'],
      },
    );
    assert.throws(() => checkFilters({ nope: ['1'] }), {
      code: 'INVALID_ARGUMENT',
      message: "invalid filter 'nope'",
    });
    assert.throws(() => checkFilters({ dangling: ['maybe'] }), /invalid filter 'dangling=maybe'/);
  });
});
