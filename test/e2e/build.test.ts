/**
 * The classic builder through the stock docker CLI (which uses it without
 * buildx) and through berth: every instruction of the subset, .dockerignore,
 * build args, a RUN that deletes a base-image file (whiteouts), the cache
 * (every step served from it, same image ID, well under a second), Docker's
 * output and errors, and nothing left behind by a failed build.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

let env: LabEnv;
let ctx: string;

const DOCKERFILE = `# a small app
FROM busybox
ARG GREETING=hello
ENV APP_HOME=/app \\
    MODE=test
WORKDIR $APP_HOME
COPY app/ ./
COPY --chown=nobody:nogroup owned.txt secret/ /srv/
RUN echo "$GREETING from $MODE" > made.txt \\
 && rm /etc/group \\
 && mkdir -p /opt/d/old && rm -rf /opt/d && mkdir /opt/d && echo new > /opt/d/n
EXPOSE 8080/tcp
LABEL org.example.name="berth test"
USER nobody
CMD ["sh", "-c", "cat /app/made.txt"]
`;

/** What a build may leave behind: images, containers, the builder's scratch space. */
function snapshot(): { images: string[]; containers: string[]; scratch: string[] } {
  const lines = (s: string) => s.split('\n').filter(Boolean).sort();
  return {
    images: lines(env.docker(['images', '-aq', '--no-trunc']).stdout),
    containers: lines(env.docker(['ps', '-aq', '--no-trunc']).stdout),
    scratch: readdirSync(join(env.daemon.dataRoot, 'build')),
  };
}

function write(rel: string, text: string, mode?: number): void {
  const p = join(ctx, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  if (mode !== undefined) chmodSync(p, mode);
}

const builtId = (out: string): string => /Successfully built ([0-9a-f]{12})\n/.exec(out)?.[1] ?? '';

describe('docker build / berth build (classic builder)', () => {
  before(async () => {
    env = await labWithDaemons();
    ctx = mkdtempSync(join(tmpdir(), 'berth-build-'));
    write('Dockerfile', DOCKERFILE);
    write('.dockerignore', '*.log\nsecret\n!secret/public.txt\n');
    write('app/index.html', '<h1>hi</h1>\n');
    write('app/run.sh', '#!/bin/sh\necho run\n', 0o755);
    write('owned.txt', 'mine\n');
    write('debug.log', 'ignored\n');
    write('secret/private.txt', 'ignored\n');
    write('secret/public.txt', 'public\n');
  });
  after(async () => {
    if (ctx) rmSync(ctx, { recursive: true, force: true });
    await env?.destroy();
  });

  let firstId = '';
  /** The newest image of the main Dockerfile with GREETING=hey (the cache prefers the newest, as Docker's). */
  let latestId = '';

  it('docker build runs every step with Docker 20.10 output', () => {
    const r = env.docker([
      'build',
      '-t',
      'app:1',
      '-t',
      'app:latest',
      '--build-arg',
      'GREETING=hey',
      ctx,
    ]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = r.stdout;
    assert.match(out, /^Sending build context to Docker daemon +\d/);
    assert.match(out, /^Step 1\/11 : FROM busybox\n ---> [0-9a-f]{12}\n/m);
    assert.match(
      out,
      /^Step 3\/11 : ENV APP_HOME=\/app {5}MODE=test\n ---> Running in ([0-9a-f]{12})\nRemoving intermediate container \1\n ---> [0-9a-f]{12}\n/m,
    );
    assert.match(out, /^Step 5\/11 : COPY app\/ \.\/\n ---> [0-9a-f]{12}\n/m);
    assert.match(
      out,
      /^Step 7\/11 : RUN echo .*\n ---> Running in ([0-9a-f]{12})\nRemoving intermediate container \1\n/m,
    );
    assert.match(out, /^Step 11\/11 : CMD \["sh", "-c", "cat \/app\/made.txt"\]\n/m);
    assert.doesNotMatch(out, /Using cache/);
    firstId = builtId(out);
    assert.match(firstId, /^[0-9a-f]{12}$/);
    assert.match(
      out,
      new RegExp(
        `Successfully built ${firstId}\nSuccessfully tagged app:1\nSuccessfully tagged app:latest\n$`,
      ),
    );
    assert.deepEqual(snapshot().containers, [], '--rm is the default: no build container stays');
    assert.deepEqual(snapshot().scratch, [], 'the build directory is gone');
  });

  it('the image runs with its config, files, ownership and deletions', () => {
    const run = env.docker(['run', '--rm', 'app:1']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'hey from test\n');
    const check = env.docker([
      'run',
      '--rm',
      'app:1',
      'sh',
      '-c',
      'id -u; pwd; ls -A /app; test -x /app/run.sh && echo exec; ls -n /srv | awk \'NR>1{print $3":"$4,$9}\'; ls /etc/group 2>&1; ls -A /opt/d; echo $MODE',
    ]);
    assert.equal(check.status, 0, check.stderr);
    assert.equal(
      check.stdout,
      [
        '65534',
        '/app',
        'index.html',
        'made.txt',
        'run.sh',
        'exec',
        '65534:65534 owned.txt',
        '65534:65534 public.txt',
        'ls: /etc/group: No such file or directory',
        'n',
        'test',
        '',
      ].join('\n'),
      'COPY dir content, --chown by name, .dockerignore exception, whiteout, opaque dir',
    );
    const [img] = JSON.parse(env.docker(['image', 'inspect', 'app:1']).stdout) as Array<{
      Parent: string;
      Config: Record<string, unknown>;
      RootFS: { Layers: string[] };
    }>;
    assert.equal(img!.Config.User, 'nobody');
    assert.equal(img!.Config.WorkingDir, '/app');
    assert.deepEqual(img!.Config.ExposedPorts, { '8080/tcp': {} });
    assert.deepEqual(img!.Config.Labels, { 'org.example.name': 'berth test' });
    assert.deepEqual(img!.Config.Cmd, ['sh', '-c', 'cat /app/made.txt']);
    assert.ok((img!.Config.Env as string[]).includes('APP_HOME=/app'));
    assert.ok(
      !(img!.Config.Env as string[]).some((e) => e.startsWith('GREETING=')),
      'ARGs are not ENV',
    );
    assert.match(img!.Parent, /^sha256:[0-9a-f]{64}$/);
    // busybox + WORKDIR, two COPYs and RUN: metadata steps add no layer
    assert.equal(img!.RootFS.Layers.length, 5);
    const hist = env.docker([
      'history',
      '--no-trunc',
      '--format',
      '{{.ID}} {{.CreatedBy}}',
      'app:1',
    ]);
    assert.equal(hist.status, 0, hist.stderr);
    const rows = hist.stdout.trim().split('\n');
    assert.equal(rows.length, 11, "one row per step after FROM, and busybox's own");
    assert.match(
      rows[0]!,
      new RegExp(
        `^sha256:${firstId}[0-9a-f]{52} /bin/sh -c #\\(nop\\)  CMD \\["sh" "-c" "cat /app/made.txt"\\]$`,
      ),
    );
    assert.match(
      rows[5]!,
      /\/bin\/sh -c #\(nop\) COPY --chown=nobody:nogroupmulti:[0-9a-f]{64} in \/srv\/ $/,
    );
    const all = env.docker(['images', '-a']).stdout;
    assert.equal(all.split('\n').filter((l) => l.startsWith('<none>')).length, 9, all);
    assert.doesNotMatch(env.docker(['images']).stdout, /<none>/);
  });

  it('a second build takes every step from the cache, same image, well under a second', () => {
    const t0 = Date.now();
    const r = env.docker(['build', '-t', 'app:1', '--build-arg', 'GREETING=hey', ctx]);
    const ms = Date.now() - t0;
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.match(/ ---> Using cache\n/g)?.length, 10, r.stdout);
    assert.doesNotMatch(r.stdout, /Running in/);
    assert.equal(builtId(r.stdout), firstId);
    assert.ok(ms < 1000, `warm build took ${ms} ms`);
    process.stdout.write(`# warm docker build: ${ms} ms\n`);
  });

  it('a changed build arg busts the cache from the RUN on; --no-cache runs all', () => {
    const r = env.docker(['build', '--build-arg', 'GREETING=other', ctx]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.match(/Using cache/g)?.length, 5, 'up to the COPYs');
    assert.notEqual(builtId(r.stdout), firstId);
    const n = env.docker(['build', '--no-cache', '--build-arg', 'GREETING=hey', ctx]);
    assert.equal(n.status, 0, n.stderr);
    assert.doesNotMatch(n.stdout, /Using cache/);
    latestId = builtId(n.stdout);
    assert.notEqual(latestId, firstId);
  });

  it('berth build gives the same output and shares the cache', () => {
    const r = env.berth(['build', '-t', 'app:berth', '--build-arg', 'GREETING=hey', ctx]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^Sending build context to Docker daemon +\d/);
    assert.equal(r.stdout.match(/ ---> Using cache\n/g)?.length, 10, r.stdout);
    assert.equal(builtId(r.stdout), latestId, "its context hashes like docker's");
    assert.match(r.stdout, /Successfully tagged app:berth\n$/);
    const q = env.berth(['build', '-q', '--build-arg', 'GREETING=hey', ctx]);
    assert.equal(q.status, 0, q.stderr);
    assert.match(q.stdout, new RegExp(`^sha256:${latestId}[0-9a-f]{52}\n$`));
    const run = env.berth(['run', '--rm', 'app:berth']);
    assert.equal(run.stdout, 'hey from test\n');
  });

  for (const cli of ['docker', 'berth'] as const) {
    it(`${cli}: a syntax error names the line and leaves nothing behind`, () => {
      const before = snapshot();
      const bad = 'FROM busybox\nRUN echo ok\nFOO bar\n';
      const r = env[cli](['build', '-f', '-', ctx], { input: bad });
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /Error response from daemon: dockerfile parse error line 3: unknown instruction: FOO/,
      );
      assert.deepEqual(snapshot(), before);
    });

    it(`${cli}: a failing RUN exits with its code; its container stays unless --force-rm`, () => {
      const before = snapshot();
      const df = 'FROM busybox\nRUN echo out; echo err >&2; exit 3\n';
      const r = env[cli](['build', '-f', '-', ctx], { input: df });
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stdout, /\nout\n/);
      assert.match(
        r.stderr,
        /The command '\/bin\/sh -c echo out; echo err >&2; exit 3' returned a non-zero code: 3/,
      );
      const kept = snapshot().containers.filter((c) => !before.containers.includes(c));
      assert.equal(kept.length, 1, "Docker keeps the failed step's container");
      env.docker(['rm', kept[0]!]);
      const f = env[cli](['build', '--force-rm', '-f', '-', ctx], { input: df });
      assert.equal(f.status, 3);
      assert.deepEqual(snapshot(), before);
    });
  }

  it('multi-stage: COPY --from a named stage, --target stops early', () => {
    const df = [
      'FROM busybox AS build',
      'RUN echo artifact > /out',
      'FROM busybox',
      'COPY --from=build /out /res/',
      'CMD ["cat", "/res/out"]',
      '',
    ].join('\n');
    const r = env.docker(['build', '-t', 'multi', '-f', '-', ctx], { input: df });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(env.docker(['run', '--rm', 'multi']).stdout, 'artifact\n');
    const t = env.docker(['build', '--target', 'build', '-f', '-', ctx], { input: df });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /Step 2\/2 : RUN echo artifact > \/out\n ---> Using cache/);
    assert.doesNotMatch(t.stdout, /Step 3\//);
  });

  it('a RUN after a VOLUME writes into a throwaway volume, as dockerd: its files are lost', () => {
    const df = [
      'FROM busybox',
      'RUN mkdir /data && echo before > /data/b',
      'VOLUME /data',
      'RUN echo after > /after && echo lost > /data/a',
      '',
    ].join('\n');
    const r = env.docker(['build', '-t', 'withvol', '-f', '-', ctx], { input: df });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const ls = env.docker(['run', '--rm', 'withvol', 'sh', '-c', 'cat /after; ls /data']);
    assert.equal(ls.stdout, 'after\nb\n');
    assert.equal(env.docker(['volume', 'ls', '-q']).stdout, '', 'the steps left no volume');
    assert.equal(env.docker(['rmi', 'withvol']).status, 0);
  });

  it('rmi of a built image removes its intermediate images too', () => {
    for (const t of ['app:1', 'app:latest', 'app:berth']) {
      assert.equal(env.docker(['rmi', t]).status, 0);
    }
    const r = env.docker(['images', '-a']).stdout;
    assert.doesNotMatch(r, new RegExp(firstId));
  });
});
