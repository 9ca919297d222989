import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ShellLex } from '../../src/build/shell.js';

const lex = new ShellLex();
const env = ['A=1', 'EMPTY=', 'SPACED=a  b', 'PATH=/bin'];
const w = (s: string) => lex.processWord(s, env);

describe('Dockerfile variable substitution', () => {
  it('expands $VAR and ${VAR}, unset as empty', () => {
    assert.equal(w('$A-${A}x-$NOPE-${NOPE}.'), '1-1x--.');
    assert.equal(w('$'), '$');
    assert.equal(w('a$ b'), 'a$ b');
  });

  it('supports ${VAR:-default} and ${VAR:+alternative}, nested', () => {
    assert.equal(w('${NOPE:-dflt}|${EMPTY:-dflt}|${A:-dflt}'), 'dflt|dflt|1');
    assert.equal(w('${A:+set}|${EMPTY:+set}|${NOPE:+set}'), 'set||');
    assert.equal(w('${NOPE:-$A/x}'), '1/x');
  });

  it('fails ${VAR?msg} and ${VAR:?msg} as Docker does', () => {
    assert.throws(
      () => w('${NOPE?must be set}'),
      /failed to process "\$\{NOPE\?must be set\}": NOPE: must be set/,
    );
    assert.throws(() => w('${EMPTY:?}'), /EMPTY: is not allowed to be empty/);
    assert.equal(w('${A:?x}'), '1');
  });

  it('removes quotes: no expansion in single quotes, escapes in double quotes', () => {
    assert.equal(w(`'$A' "$A" "\\$A" \\$A "a\\b"`), `$A 1 $A $A a\\b`);
    assert.equal(w('"two words"'), 'two words');
  });

  it('reports bad syntax', () => {
    assert.throws(() => w('${A'), /missing ':' in substitution/);
    assert.throws(() => w('${A:-x'), /missing '}'/);
    assert.throws(() => w('${}'), /bad substitution/);
    assert.throws(
      () => w('"open'),
      /unexpected end of statement while looking for matching double-quote/,
    );
    assert.throws(() => w('${A:=x}'), /unsupported modifier \(=\) in substitution/);
  });

  it('splits words after expansion (EXPOSE $PORTS), quotes kept together', () => {
    assert.deepEqual(lex.processWords('$SPACED "c d"', env), ['a', 'b', 'c d']);
  });

  it('uses the backtick as escape when the Dockerfile says so', () => {
    const bt = new ShellLex('`');
    assert.equal(bt.processWord('`$A c:\\dir', env), '$A c:\\dir');
  });
});
