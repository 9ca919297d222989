import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keepBuildFiles, PatternMatcher, readDockerignore } from '../../src/build/dockerignore.js';

describe('.dockerignore', () => {
  it('reads patterns: comments, blanks, exceptions, leading slashes and cleaning', () => {
    assert.deepEqual(
      readDockerignore('\uFEFF# comment\n\n  node_modules/ \n/abs\n! keep.txt\na/../b\n./c\n'),
      ['node_modules', 'abs', '!keep.txt', 'b', 'c'],
    );
  });

  it('matches like moby/patternmatcher: *, ?, **, directories cover their content', () => {
    const m = new PatternMatcher(['*.md', 'build', 'docs/**/*.png', 'tmp?', '**/secret']);
    const yes = [
      'README.md',
      'build',
      'build/out/x.o',
      'docs/a/b/c.png',
      'docs/c.png',
      'tmp1',
      'secret',
      'a/b/secret',
    ];
    const no = ['sub/README.md', 'builder', 'docs/c.jpg', 'tmp12', 'secrets'];
    for (const p of yes) assert.equal(m.matches(p), true, p);
    for (const p of no) assert.equal(m.matches(p), false, p);
  });

  it('lets the last matching pattern win, with ! exceptions', () => {
    const m = new PatternMatcher(['*.txt', '!keep*.txt', 'keep-not.txt']);
    assert.equal(m.matches('a.txt'), true);
    assert.equal(m.matches('keep.txt'), false);
    assert.equal(m.matches('keep-not.txt'), true);
  });

  it('walks an excluded directory only when an exception lies below it', () => {
    const m = new PatternMatcher(['sub', '!sub/keep']);
    assert.equal(m.exclusions, true);
    assert.equal(m.matches('sub/x'), true);
    assert.equal(m.matches('sub/keep'), false);
    assert.equal(m.matches('sub/keep/file'), false);
    assert.equal(m.canSkipDir('sub'), false);
    assert.equal(m.canSkipDir('other'), true);
    assert.throws(() => new PatternMatcher(['!']), /illegal exclusion pattern: "!"/);
  });

  it('always sends the Dockerfile and .dockerignore, as the docker CLI', () => {
    assert.deepEqual(keepBuildFiles(['*'], 'Dockerfile', false), [
      '*',
      '!.dockerignore',
      '!Dockerfile',
    ]);
    assert.deepEqual(keepBuildFiles(['*.md'], 'Dockerfile', false), ['*.md']);
    assert.deepEqual(keepBuildFiles(['*'], 'Dockerfile', true), ['*', '!.dockerignore']);
  });
});
