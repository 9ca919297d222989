import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, flagUsages, parseFlags, type FlagDef } from '../../src/cli/flags.js';

const defs: FlagDef[] = [
  { long: 'detach', short: 'd', type: 'bool', usage: 'd' },
  { long: 'interactive', short: 'i', type: 'bool', usage: 'i' },
  { long: 'tty', short: 't', type: 'bool', usage: 't' },
  { long: 'name', type: 'string', usage: 'n' },
  { long: 'env', short: 'e', type: 'list', usage: 'e' },
  { long: 'publish', short: 'p', type: 'list', usage: 'p' },
  { long: 'label', short: 'l', type: 'list', usage: 'l' },
  { long: 'last', short: 'n', type: 'int', usage: 'n', def: -1 },
];

test('combined short flags and values', () => {
  const f = parseFlags(defs, ['-it', '-d', '--name', 'x', 'busybox']);
  assert.equal(f.bool('interactive'), true);
  assert.equal(f.bool('tty'), true);
  assert.equal(f.bool('detach'), true);
  assert.equal(f.str('name'), 'x');
  assert.deepEqual(f.args, ['busybox']);
});

test('--x=y, -p80:80, -e=A=1 and repeatables keep order', () => {
  const f = parseFlags(defs, [
    '--name=web',
    '-p80:80',
    '-p',
    '8080:8080',
    '-e=A=1',
    '--env',
    'B=2',
    '-l',
    'a=b',
    '--label=c',
  ]);
  assert.equal(f.str('name'), 'web');
  assert.deepEqual(f.list('publish'), ['80:80', '8080:8080']);
  assert.deepEqual(f.list('env'), ['A=1', 'B=2']);
  assert.deepEqual(f.list('label'), ['a=b', 'c']);
});

test('a value flag at the end of a cluster takes the next word', () => {
  const f = parseFlags(defs, ['-de', 'A=1', 'img']);
  assert.equal(f.bool('detach'), true);
  assert.deepEqual(f.list('env'), ['A=1']);
  assert.deepEqual(f.args, ['img']);
});

test('parsing stops at the first positional when not interspersed', () => {
  const f = parseFlags(defs, ['-d', 'busybox', 'sh', '-c', 'echo -d --name x'], false);
  assert.equal(f.bool('detach'), true);
  assert.equal(f.has('name'), false);
  assert.deepEqual(f.args, ['busybox', 'sh', '-c', 'echo -d --name x']);
});

test('interspersed flags after positionals, and -- ends flags', () => {
  const f = parseFlags(defs, ['a', '-d', 'b', '--', '-i']);
  assert.equal(f.bool('detach'), true);
  assert.equal(f.bool('interactive'), false);
  assert.deepEqual(f.args, ['a', 'b', '-i']);
});

test('bool with explicit value, ints, defaults', () => {
  const f = parseFlags(defs, ['--detach=false', '-n', '3']);
  assert.equal(f.bool('detach'), false);
  assert.equal(f.int('last'), 3);
  assert.equal(parseFlags(defs, []).int('last'), -1);
});

test('pflag error wording', () => {
  assert.throws(() => parseFlags(defs, ['--foo']), new FlagError('unknown flag: --foo'));
  assert.throws(() => parseFlags(defs, ['-z']), new FlagError("unknown shorthand flag: 'z' in -z"));
  assert.throws(
    () => parseFlags(defs, ['--name']),
    new FlagError('flag needs an argument: --name'),
  );
  assert.throws(() => parseFlags(defs, ['-e']), new FlagError("flag needs an argument: 'e' in -e"));
  assert.throws(
    () => parseFlags(defs, ['-n', 'x']),
    new FlagError(
      'invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid syntax',
    ),
  );
});

test('--help is recognised; usage lines are aligned like pflag', () => {
  assert.equal(parseFlags(defs, ['--help']).help, true);
  const u = flagUsages(defs.slice(0, 4)).split('\n');
  assert.deepEqual(u, [
    '  -d, --detach        d',
    '  -i, --interactive   i',
    '      --name string   n',
    '  -t, --tty           t',
  ]);
});
