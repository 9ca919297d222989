// Decision 0001's layers are lint rules (eslint.config.js): these tests lint
// small snippets as if they were files of src/ with the project's own config,
// so a rule that could never fail (a pattern that matches nothing) fails here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const eslint = new ESLint({ cwd: root });

/** The no-restricted-imports messages for `code` linted as the file `path`. */
async function refusals(path: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(root, path) });
  assert.ok(r);
  const fatal = r.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${path} did not parse`);
  return r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

async function refused(path: string, spec: string, why?: RegExp): Promise<void> {
  const m = await refusals(path, `import { x } from '${spec}';\nvoid x;\n`);
  assert.equal(m.length, 1, `${path} importing ${spec} should be refused`);
  if (why) assert.match(m[0]!, why);
}

async function allowed(path: string, spec: string): Promise<void> {
  const m = await refusals(path, `import { x } from '${spec}';\nvoid x;\n`);
  assert.deepEqual(m, [], `${path} importing ${spec} should be allowed`);
}

describe('lint: imports run one way (decision 0001)', () => {
  it('refuses the API importing the kernel, at any depth', async () => {
    await refused(
      'src/api/routes/containers.ts',
      '../../kernel/runtime/runtime.js',
      /src\/api must not import src\/kernel/,
    );
    await refused('src/api/stream.ts', '../kernel/runtime/runtime.js');
    await refused('src/api/server.ts', './../kernel/mount/mounts.js');
    await refused('src/api/routes/system.ts', '../../store/types.js');
  });

  it('refuses a service importing one above it', async () => {
    await refused(
      'src/network/records.ts',
      '../containers/types.js',
      /src\/network must not import src\/containers/,
    );
    await refused('src/network/dns/server.ts', '../../containers/types.js');
    await refused('src/containers/service.ts', '../api/server.js');
    await refused('src/containers/service.ts', '../images/store.js');
    await refused('src/kernel/netlink/index.ts', '../../network/types.js');
    await refused('src/store/index.ts', '../events/bus.js');
    await refused('src/common/log.ts', '../kernel/sys/libc.js');
    await refused('src/build/steps.ts', '../api/stream.js');
    await refused('src/api/server.ts', '../daemon/main.js');
  });

  it('leaves the runtime and shim to the container service', async () => {
    await refused('src/build/steps.ts', '../kernel/runtime/runtime.js', /container service/);
    await refused('src/network/endpoints.ts', '../kernel/runtime/runtime.js');
    await allowed('src/build/steps.ts', '../kernel/mount/mounts.js');
    await allowed('src/containers/exec.ts', '../kernel/runtime/runtime.js');
    await allowed('src/daemon/main.ts', '../kernel/runtime/runtime.js');
  });

  it('allows the intended direction', async () => {
    await allowed('src/containers/networking.ts', '../network/types.js');
    await allowed('src/network/dns/server.ts', '../../kernel/netns/netns.js');
    await allowed('src/network/dns/server.ts', '../ports/spec.js');
    await allowed('src/api/routes/build.ts', '../../build/steps.js');
    await allowed('src/api/routes/system.ts', '../../events/bus.js');
    await allowed('src/daemon/main.ts', '../api/server.js');
    await allowed('src/kernel/firewall/addr.ts', '../../common/ip.js');
  });

  it('lets the clients import common and the named pure modules only', async () => {
    await allowed('src/cli/buildcontext.ts', '../build/dockerignore.js');
    await allowed('src/cli/runopts.ts', '../network/types.js');
    await allowed('src/cli/commands/system.ts', '../../common/arch.js');
    await refused('src/cli/commands/build.ts', '../../build/builder.js', /only dockerignore\.js/);
    await refused('src/cli/runopts.ts', '../network/records.js');
    await refused('src/cli/main.ts', '../daemon/flags.js');
    await refused('src/cli/main.ts', '../containers/types.js');
    await refused('src/lab/daemon.ts', '../daemon/main.js');
    await refused('src/lab/lab.ts', '../kernel/netns/netns.js');
  });

  it('checks type imports and re-exports too', async () => {
    const t = await refusals(
      'src/network/records.ts',
      "import type { ContainerRecord } from '../containers/types.js';\nexport type X = ContainerRecord;\n",
    );
    assert.equal(t.length, 1);
    const e = await refusals(
      'src/api/stream.ts',
      "export * from '../kernel/runtime/runtime.js';\n",
    );
    assert.equal(e.length, 1);
  });

  it('still keeps process spawning in the kernel', async () => {
    await refused('src/network/controller.ts', 'node:child_process', /Only src\/kernel spawns/);
    await refused('src/api/server.ts', 'child_process');
    await allowed('src/kernel/process/run.ts', 'node:child_process');
    await allowed('src/lab/proc.ts', 'node:child_process');
  });

  it('knows every folder of src/, and no folder below shares a layer name', async () => {
    const { LAYERS } = (await import(pathToFileURL(join(root, 'eslint.config.js')).href)) as {
      LAYERS: Record<string, string[]>;
    };
    const src = join(root, 'src');
    const top = readdirSync(src, { withFileTypes: true });
    assert.deepEqual(
      top.filter((d) => !d.isDirectory()).map((d) => d.name),
      [],
      'files directly in src/ would be outside every layer',
    );
    const names = top.map((d) => d.name).sort();
    assert.deepEqual(names, Object.keys(LAYERS).sort(), 'a folder of src/ without a layer entry');
    // The patterns match `../<layer>/` at any depth: a nested folder named
    // like a layer would make them ambiguous.
    const nested: string[] = [];
    const walk = (dir: string, depth: number): void => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        if (!d.isDirectory()) continue;
        if (depth > 0 && names.includes(d.name)) nested.push(join(dir, d.name));
        walk(join(dir, d.name), depth + 1);
      }
    };
    walk(src, 0);
    assert.deepEqual(nested, []);
  });
});
