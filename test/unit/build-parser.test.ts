import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DockerfileSyntaxError, parseDockerfile, parseWords } from '../../src/build/parser.js';
import { parseStages, type Instruction } from '../../src/build/instructions.js';

const nodes = (text: string) => parseDockerfile(text).nodes;

describe('Dockerfile parser', () => {
  it('joins continuation lines, skipping comments inside them, and keeps line numbers', () => {
    const n = nodes(
      'FROM busybox\n# comment\nRUN echo a \\\n  # inside\n  && echo b\n\nCMD ["sh"]\n',
    );
    assert.deepEqual(
      n.map((x) => [x.value, x.startLine, x.endLine]),
      [
        ['from', 1, 1],
        ['run', 3, 5],
        ['cmd', 7, 7],
      ],
    );
    assert.equal(n[1]!.original, 'RUN echo a   && echo b');
    assert.deepEqual(n[1]!.args, ['echo a   && echo b']);
    assert.equal(n[1]!.json, false);
  });

  it('warns about empty continuation lines as Docker does', () => {
    const r = parseDockerfile('FROM a\nRUN x \\\n\n  y\n');
    assert.equal(r.warnings.length, 2);
    assert.match(r.warnings[0]!, /Empty continuation line found in:\n {4}RUN x {3}y/);
    assert.deepEqual(r.nodes[1]!.args, ['x   y']);
  });

  it('honours the escape directive (backtick), a BOM and CRLF line ends', () => {
    const r = parseDockerfile('\uFEFF# escape=`\r\nFROM a\r\nRUN dir c:\\ `\r\n  && echo x\r\n');
    assert.equal(r.escapeToken, '`');
    assert.deepEqual(r.nodes[1]!.args, ['dir c:\\   && echo x']);
    // a directive after an instruction is only a comment
    assert.equal(parseDockerfile('FROM a\n# escape=`\nRUN x \\\ny').escapeToken, '\\');
    assert.throws(
      () => parseDockerfile('# escape=`\n# escape=\\\nFROM a'),
      /only one escape parser directive can be used/,
    );
  });

  it('reads the JSON exec form, and shell form when the JSON is not an array of strings', () => {
    const [, run, cmd, bad] = nodes(
      'FROM a\nRUN ["echo", "hi"]\nCMD [ "a" ] trailing\nRUN [oops\n',
    );
    assert.deepEqual([run!.args, run!.json], [['echo', 'hi'], true]);
    assert.deepEqual([cmd!.args, cmd!.json], [['a'], true]);
    assert.deepEqual([bad!.args, bad!.json], [['[oops'], false]);
    assert.throws(
      () => nodes('FROM a\nCMD ["a", 1]'),
      (e: unknown) =>
        e instanceof DockerfileSyntaxError &&
        e.line === 2 &&
        /arrays must be comprised of strings only/.test(e.message),
    );
  });

  it('splits ENV/LABEL pairs, keeping quotes for later, and the legacy form', () => {
    const [, env, legacy, label] = nodes(
      'FROM a\nENV A=1 B="two words" C=\\$x\nENV D the rest  of it\nLABEL "k"=v\n',
    );
    assert.deepEqual(env!.args, ['A', '1', 'B', '"two words"', 'C', '\\$x']);
    assert.deepEqual(legacy!.args, ['D', 'the rest  of it']);
    assert.deepEqual(label!.args, ['"k"', 'v']);
    assert.throws(() => nodes('FROM a\nENV A'), /ENV must have two arguments/);
    assert.throws(
      () => nodes('FROM a\nENV A=1 B'),
      /Syntax error - can't find = in "B". Must be of the form: name=value/,
    );
  });

  it('takes builder flags off the front of the arguments', () => {
    const [, copy, run] = nodes(
      'FROM a\nCOPY --chown=1:2 --from="build stage" src dst\nRUN --mount=type=cache echo --not-a-flag\n',
    );
    assert.deepEqual(copy!.flags, ['--chown=1:2', '--from=build stage']);
    assert.deepEqual(copy!.args, ['src', 'dst']);
    assert.deepEqual(run!.flags, ['--mount=type=cache']);
    assert.deepEqual(run!.args, ['echo --not-a-flag']);
  });

  it('parses ONBUILD with its inner instruction, HEALTHCHECK and whitespace lists', () => {
    const [, ob, hc, ex] = nodes(
      'FROM a\nONBUILD RUN echo x\nHEALTHCHECK --interval=5s CMD ["true"]\nEXPOSE 80  443/udp\n',
    );
    assert.equal(ob!.sub?.value, 'run');
    assert.deepEqual(ob!.args, ['run', 'echo x']);
    assert.deepEqual([hc!.flags, hc!.args, hc!.json], [['--interval=5s'], ['CMD', 'true'], true]);
    assert.deepEqual(ex!.args, ['80', '443/udp']);
  });

  it('splits words like the shell, keeping quotes and escapes', () => {
    assert.deepEqual(parseWords(`a "b c" 'd e'f g\\ h`), ['a', '"b c"', "'d e'f", 'g\\ h']);
    assert.deepEqual(parseWords('x=""'), ['x=""']);
  });

  it('refuses a file with no instructions', () => {
    assert.throws(() => parseDockerfile('# only a comment\n\n'), /file with no instructions/);
  });
});

describe('Dockerfile instructions and stages', () => {
  const stages = (text: string) => parseStages(nodes(text));

  it('groups instructions in stages; ARGs before the first FROM are meta ARGs', () => {
    const f = stages(
      'ARG V=1\nFROM busybox:$V AS Build\nRUN x\nFROM scratch\nCOPY --from=build /a /b\n',
    );
    assert.deepEqual(
      f.metaArgs.map((a) => a.args),
      [[{ key: 'V', value: '1' }]],
    );
    assert.deepEqual(
      f.stages.map((s) => [s.name, s.baseName, s.code, s.commands.length]),
      [
        ['build', 'busybox:$V', 'FROM busybox:$V AS Build', 1],
        ['', 'scratch', 'FROM scratch', 1],
      ],
    );
    const copy = f.stages[1]!.commands[0]!;
    assert.equal(copy.kind, 'copy');
    if (copy.kind === 'copy')
      assert.deepEqual([copy.from, copy.srcs, copy.dest], ['build', ['/a'], '/b']);
  });

  it("reports errors with the line, in Docker 20.10's words", () => {
    const cases: Array<[string, string]> = [
      ['FROM a\nRUN x\nFOO bar', 'dockerfile parse error line 3: unknown instruction: FOO'],
      ['RUN x', 'dockerfile parse error line 1: no build stage in current context'],
      [
        'FROM a\nCOPY x',
        'dockerfile parse error line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined',
      ],
      ['FROM a\nCOPY --nope=1 a b', 'dockerfile parse error line 2: Unknown flag: nope'],
      ['FROM a\nADD --from=x a b', 'dockerfile parse error line 2: Unknown flag: from'],
      ['FROM a\nCOPY --chown a b', 'dockerfile parse error line 2: Missing a value on flag: chown'],
      ['FROM a\nWORKDIR', 'dockerfile parse error line 2: WORKDIR requires exactly one argument'],
      ['FROM a\nUSER', 'dockerfile parse error line 2: USER requires exactly one argument'],
      ['FROM a b', 'dockerfile parse error line 1: FROM requires either one or three arguments'],
      [
        'FROM a AS 1x',
        'dockerfile parse error line 1: invalid name for build stage: "1x", name can\'t start with a number or contain symbols',
      ],
      [
        'FROM a\nSHELL sh -c',
        'dockerfile parse error line 2: SHELL requires the arguments to be in JSON form',
      ],
      [
        'FROM a\nHEALTHCHECK --interval=0.1ms CMD x',
        'dockerfile parse error line 2: Interval "interval" cannot be less than 1ms',
      ],
      [
        'FROM a\nONBUILD FROM b',
        "dockerfile parse error line 2: FROM isn't allowed as an ONBUILD trigger",
      ],
      ['FROM a\nEXPOSE', 'dockerfile parse error line 2: EXPOSE requires at least one argument'],
    ];
    for (const [text, msg] of cases) assert.throws(() => stages(text), { message: msg }, text);
  });

  it('gives each instruction its typed form', () => {
    const f = stages(
      'FROM a\nCMD echo hi\nENTRYPOINT []\nEXPOSE 443 80\nHEALTHCHECK --retries=3 CMD curl x\nRUN --mount=type=tmpfs,target=/t true\nARG A B=2\n',
    );
    const [cmd, ep, ex, hc, run, arg] = f.stages[0]!.commands as [
      Instruction,
      Instruction,
      Instruction,
      Instruction,
      Instruction,
      Instruction,
    ];
    assert.deepEqual(cmd, {
      code: 'CMD echo hi',
      line: 2,
      kind: 'cmd',
      cmdLine: ['echo hi'],
      prependShell: true,
    });
    assert.equal(ep.kind === 'entrypoint' && ep.empty, true);
    assert.deepEqual(ex.kind === 'expose' && ex.ports, ['443', '80']);
    assert.deepEqual(hc.kind === 'healthcheck' && hc.health, {
      Test: ['CMD-SHELL', 'curl x'],
      Interval: 0,
      Timeout: 0,
      StartPeriod: 0,
      Retries: 3,
    });
    assert.deepEqual(run.kind === 'run' && run.flagsUsed, ['mount']);
    assert.deepEqual(arg.kind === 'arg' && arg.args, [{ key: 'A' }, { key: 'B', value: '2' }]);
  });
});
