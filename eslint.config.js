// Lint rules: typescript-eslint's recommended set, plus decision 0001's
// boundaries: imports run one way between the folders of src/ (LAYERS), only
// the container service drives the OCI runtime and its shim, and only
// src/kernel (and the lab and the CLI, which build the world around the
// daemon or talk to it) may spawn processes or touch the kernel.
import tseslint from 'typescript-eslint';

/**
 * What each folder of src/ may import from the others (its own files it
 * imports freely); every other folder of src/ is refused. Lower layers first:
 *
 *   common                        pure helpers, nothing of Berth
 *   events, store, kernel         the event bus, the KV store, the machine
 *   network, images, volumes      the services
 *   containers                    containers use the network and volumes;
 *                                 they see images through ImageLookup
 *   build                         the classic builder, over the services
 *   cluster                       what hosts share through the cluster store
 *                                 (nodes, global networks), over the network
 *   api                           HTTP over the services, never kernel/store
 *   daemon                        the wiring: everything but the clients
 *   cli, lab                      clients: common, and named pure modules
 *
 * An entry with a slash allows that one module of another folder.
 */
export const LAYERS = {
  common: [],
  events: ['common'],
  store: ['common'],
  kernel: ['common'],
  network: ['common', 'events', 'store', 'kernel'],
  images: ['common', 'events', 'store', 'kernel'],
  volumes: ['common', 'events', 'store', 'kernel'],
  containers: ['common', 'events', 'store', 'kernel', 'network', 'volumes'],
  build: ['common', 'events', 'store', 'kernel', 'network', 'images', 'containers'],
  cluster: ['common', 'store', 'network'],
  api: ['common', 'events', 'network', 'images', 'volumes', 'containers', 'build'],
  daemon: [
    'common',
    'events',
    'store',
    'kernel',
    'network',
    'images',
    'volumes',
    'containers',
    'build',
    'cluster',
    'api',
  ],
  cli: [
    'common',
    // moby's patternmatcher rules: the CLI filters the context with them, the
    // daemon drops an ignored Dockerfile with the same code (pure).
    'build/dockerignore.js',
    // the API's shapes of networks and endpoints, and the zero-valued
    // EndpointSettings the CLI's EndpointConfig starts from (pure).
    'network/types.js',
    // (`berth lab` also loads src/lab/cli.js lazily, by a computed path.)
  ],
  lab: ['common'],
};

/** Folders that may use src/kernel/runtime (runc and berth-shim): the container service and the wiring. */
const RUNTIME_USERS = ['kernel', 'containers', 'daemon'];

/** Folders that may spawn processes: the kernel, and the lab and CLI (outside the daemon). */
const SPAWNERS = ['kernel', 'lab', 'cli'];

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A relative specifier that leaves the folder and enters src/<target>
 * (`../x/...`, `../../x/...`; no folder below src/ shares a top-level
 * folder's name, which a unit test checks, so the depth need not be known).
 */
const into = (target, except = []) =>
  `^(\\./)?(\\.\\./)+${esc(target)}/` +
  (except.length ? `(?!(${except.map(esc).join('|')})$)` : '');

function layerRule(folder) {
  const allowed = LAYERS[folder];
  const whole = new Set(allowed.filter((a) => !a.includes('/')));
  const patterns = [];
  for (const target of Object.keys(LAYERS)) {
    if (target === folder || whole.has(target)) continue;
    const modules = allowed
      .filter((a) => a.startsWith(`${target}/`))
      .map((a) => a.slice(target.length + 1));
    patterns.push({
      regex: into(target, modules),
      message:
        `src/${folder} must not import src/${target}` +
        (modules.length ? ` (only ${modules.join(', ')})` : '') +
        ': imports run one way (decision 0001, eslint.config.js LAYERS).',
    });
  }
  if (whole.has('kernel') && !RUNTIME_USERS.includes(folder)) {
    patterns.push({
      regex: into('kernel/runtime'),
      message:
        'Only the container service drives the OCI runtime and its shim: use ContainerService/ExecService (decision 0001).',
    });
  }
  const paths = SPAWNERS.includes(folder)
    ? []
    : ['node:child_process', 'child_process'].map((name) => ({
        name,
        message: 'Only src/kernel spawns processes.',
      }));
  return ['error', { paths, patterns }];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/build/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  ...Object.keys(LAYERS).map((folder) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': layerRule(folder) },
  })),
);
