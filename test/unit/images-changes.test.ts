import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyChanges,
  parseDuration,
  parseInstructions,
  processWord,
  rawWords,
} from '../../src/images/changes.js';

describe('import --change', () => {
  it('splits instructions: case-insensitive keywords, continuations, comments', () => {
    assert.deepEqual(parseInstructions(['cmd ["sh"]', '# note', '', 'ENV A=1 \\', '  B=2']), [
      { keyword: 'cmd', args: '["sh"]' },
      { keyword: 'env', args: 'A=1   B=2' },
    ]);
    assert.deepEqual(
      parseInstructions(['ENV A=1\nLABEL x=y']).map((i) => i.keyword),
      ['env', 'label'],
    );
  });

  it('CMD and ENTRYPOINT: JSON exec form or shell form', () => {
    assert.deepEqual(applyChanges({}, ['CMD ["/bin/sh", "-c", "echo hi"]']).Cmd, [
      '/bin/sh',
      '-c',
      'echo hi',
    ]);
    assert.deepEqual(applyChanges({}, ['CMD echo $HOME']).Cmd, ['/bin/sh', '-c', 'echo $HOME']);
    assert.deepEqual(applyChanges({}, ['CMD [not json']).Cmd, ['/bin/sh', '-c', '[not json']);
    const c = applyChanges({ Cmd: ['old'] }, ['ENTRYPOINT ["/init"]']);
    assert.deepEqual(c.Entrypoint, ['/init']);
    assert.equal(c.Cmd, null, 'ENTRYPOINT resets an inherited CMD');
    const d = applyChanges({}, ['CMD ["a"]', 'ENTRYPOINT ["/init"]']);
    assert.deepEqual(d.Cmd, ['a'], 'but not one set by the same changes');
  });

  it('ENV: key=value pairs with quotes and expansion, and the legacy form', () => {
    const c = applyChanges({ Env: ['PATH=/bin', 'A=old'] }, [
      'ENV A=1 B="two words" C=\'$A\' D=$A E=${A}x F=${NOPE:-dflt} G=${A:+set}',
      'ENV H  the rest  of the line',
      'ENV PATH=/usr/bin:$PATH',
    ]);
    assert.deepEqual(c.Env, [
      'PATH=/usr/bin:/bin',
      'A=1',
      'B=two words',
      'C=$A',
      // as Docker: one instruction expands every word with the env from before it
      'D=old',
      'E=oldx',
      'F=dflt',
      'G=set',
      'H=the rest  of the line',
    ]);
    assert.throws(() => applyChanges({}, ['ENV A=1 B']), /can't find = in "B"/);
    assert.throws(() => applyChanges({}, ['ENV']), /ENV requires at least one argument/);
    assert.throws(() => applyChanges({}, ['ENV A']), /ENV must have two arguments/);
  });

  it('LABEL, WORKDIR, USER, EXPOSE, VOLUME, HEALTHCHECK, ONBUILD', () => {
    const c = applyChanges({ Env: ['DIR=app'] }, [
      'LABEL a=b "c d"=e',
      'WORKDIR /srv',
      'WORKDIR $DIR',
      'USER nobody:nogroup',
      'EXPOSE 80 53/udp 8000-8001/tcp',
      'VOLUME ["/data"]',
      'VOLUME /a /b',
      'HEALTHCHECK --interval=1m30s --retries=2 CMD wget -q localhost',
      'onbuild run echo hi',
    ]);
    assert.deepEqual(c.Labels, { a: 'b', 'c d': 'e' });
    assert.equal(c.WorkingDir, '/srv/app');
    assert.equal(c.User, 'nobody:nogroup');
    assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), [
      '80/tcp',
      '53/udp',
      '8000/tcp',
      '8001/tcp',
    ]);
    assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/data', '/a', '/b']);
    assert.deepEqual(c.Healthcheck, {
      Test: ['CMD-SHELL', 'wget -q localhost'],
      Interval: 90e9,
      Retries: 2,
    });
    assert.deepEqual(c.OnBuild, ['RUN echo hi']);
    assert.deepEqual(applyChanges({}, ['HEALTHCHECK NONE']).Healthcheck, { Test: ['NONE'] });
  });

  it('refuses instructions Docker does not accept as changes', () => {
    assert.throws(() => applyChanges({}, ['RUN echo']), {
      code: 'INVALID_ARGUMENT',
      message: 'run is not a valid change command',
    });
    assert.throws(() => applyChanges({}, ['FROM x']), /from is not a valid change command/);
    assert.throws(() => applyChanges({}, ['EXPOSE abc']), /Invalid containerPort: abc/);
    assert.throws(() => applyChanges({}, ['USER']), /USER requires exactly one argument/);
  });

  it('does not modify its input', () => {
    const input = { Env: ['A=1'] };
    applyChanges(input, ['ENV A=2']);
    assert.deepEqual(input, { Env: ['A=1'] });
  });

  it('words and durations', () => {
    assert.deepEqual(rawWords(`a "b c" d\\ e 'f g'`), ['a', '"b c"', 'd\\ e', "'f g'"]);
    const env = new Map([['X', '1']]);
    assert.equal(processWord(`"a $X" '$X' \\$X`, env), 'a 1 $X $X');
    assert.equal(processWord('"q\\"x"', env), 'q"x');
    assert.equal(parseDuration('1h2m3s'), 3723e9);
    assert.equal(parseDuration('500ms'), 5e8);
    assert.throws(() => parseDuration('5'), /invalid duration/);
  });
});
