/**
 * Property-based fuzzing of every route berthd serves, against a lab daemon:
 * random and mutated paths, query strings, bodies, types, sizes and
 * encodings. Invariants: never a 500 (nor a crash), 4xx answers carry a
 * JSON message, and a 4xx changes nothing — the store and the kernel
 * (links, addresses, nftables, mounts, namespaces) are dumped before and
 * after, with the daemon settled.
 *
 * Short in CI (BERTH_FUZZ_RUNS, default 250); BERTH_FUZZ_LONG=1 for 5000.
 * A failure prints fast-check's seed: BERTH_FUZZ_SEED=<seed> replays it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { apiRouter } from '../../src/api/routes/index.js';
import type { Services } from '../../src/api/routes/services.js';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, type LabEnv } from '../helpers/lab-daemon.js';

const LONG = process.env.BERTH_FUZZ_LONG === '1';
const RUNS = Number(process.env.BERTH_FUZZ_RUNS ?? (LONG ? 5000 : 250));
const SEED = process.env.BERTH_FUZZ_SEED ? Number(process.env.BERTH_FUZZ_SEED) : undefined;

/** Every route, as the daemon registers them (handlers are never called here). */
const ROUTES = apiRouter({} as Services).list();

interface Reply {
  status: number;
  headers: string;
  body: string;
}

/** One request on its own connection; streams are cut after `ms` (status kept). */
function send(sock: string, bytes: Buffer, ms = 1500): Promise<Reply | 'closed'> {
  return new Promise((resolve) => {
    const c = connect(sock);
    const got: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      c.destroy();
      const text = Buffer.concat(got).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m) return resolve('closed');
      const end = text.indexOf('\r\n\r\n');
      resolve({
        status: Number(m[1]),
        headers: text.slice(0, end),
        body: end < 0 ? '' : text.slice(end + 4),
      });
    };
    const timer = setTimeout(finish, ms);
    c.on('data', (d) => got.push(d));
    c.on('close', finish);
    c.on('error', () => undefined);
    c.write(bytes);
  });
}

// ---- generators --------------------------------------------------------

const junk = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.fullUnicodeString({ maxLength: 20 }),
  fc.constantFrom('', '.', '..', '%', '%zz', '%E0%A4%A', '%ff', '%00', '%2F', '..%2F..%2Fetc'),
  fc.constantFrom('a'.repeat(300), 'x:y', '-1', '0', '18446744073709551616', 'null', '{}'),
);
const pct = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return s.replace(/[^\x21-\x7e]/g, '_');
  }
};
const rawSegment = fc.oneof(
  junk.map(pct),
  fc.constantFrom('%E0%A4%A', '%C0%AF', '%ED%A0%80', '%', '%%', '..', '.'),
);

const QUERY_KEYS = [
  'all',
  'filters',
  'force',
  'v',
  'link',
  't',
  'signal',
  'name',
  'condition',
  'stream',
  'stdout',
  'stderr',
  'stdin',
  'logs',
  'follow',
  'tail',
  'since',
  'until',
  'timestamps',
  'h',
  'w',
  'fromImage',
  'fromSrc',
  'repo',
  'tag',
  'dockerfile',
  'buildargs',
  'labels',
  'q',
  'nocache',
  'platform',
  'size',
  'verbose',
  'scope',
  'detachKeys',
  'noprune',
  'changes',
];
const queryValue = fc.oneof(
  junk,
  fc.constantFrom('1', 'true', '0', 'false', '-5', '1e9', 'SIGKILL', 'KILL', '99'),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('{"name":["x"]}', '{"label":{"a":true}}', '{"dangling":["maybe"]}', '{'),
);
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), junk), queryValue, fc.boolean()), {
    maxLength: 4,
  })
  .map((kv) =>
    kv.length
      ? '?' +
        kv
          .map(([k, v, raw]) => `${pct(k)}=${raw ? v.replace(/[^\x21-\x7e]|#/g, '') : pct(v)}`)
          .join('&')
      : '',
  );

/** A JSON body a route might accept, to mutate. */
function template(method: string, path: string, names: string[]): unknown {
  if (path === '/containers/create')
    return {
      Image: 'busybox',
      Cmd: ['true'],
      Env: ['A=1'],
      Labels: { fuzz: '1' },
      ExposedPorts: { '80/tcp': {} },
      HostConfig: {
        NetworkMode: 'bridge',
        PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] },
        RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
        Dns: [],
        ExtraHosts: null,
        ShmSize: 0,
      },
      NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['a'], IPAMConfig: null } } },
    };
  if (path === '/networks/create')
    return {
      Name: `fz-${Math.floor(Math.random() * 1e6)}`,
      Driver: 'bridge',
      Internal: false,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.231.0.0/24', Gateway: '10.231.0.1' }] },
      Options: { 'com.docker.network.driver.mtu': '1400' },
      Labels: {},
    };
  if (path.endsWith('/connect'))
    return { Container: names[0], EndpointConfig: { Aliases: ['x'], IPAMConfig: {} } };
  if (path.endsWith('/disconnect')) return { Container: names[0], Force: false };
  if (path.endsWith('/exec'))
    return { Cmd: ['true'], AttachStdout: true, AttachStderr: true, Tty: false, Env: [] };
  if (path.startsWith('/exec/') && path.endsWith('/start')) return { Detach: true, Tty: false };
  return method === 'POST' ? {} : undefined;
}

/** Replaces, deletes or adds a field somewhere in `v` (depth-first walk). */
function mutate(v: unknown, r: () => number, value: unknown): unknown {
  if (v === null || typeof v !== 'object') return value;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(v) ? [...v] : { ...v };
  const keys = Object.keys(copy);
  const pick = r();
  if (keys.length === 0 || pick < 0.15) {
    (copy as Record<string, unknown>)[pick < 0.07 ? 'Unknown' : 'Image'] = value;
    return copy;
  }
  const k = keys[Math.floor(r() * keys.length)]!;
  const cur = (copy as Record<string, unknown>)[k];
  if (pick < 0.3) delete (copy as Record<string, unknown>)[k];
  else if (pick < 0.6 || cur === null || typeof cur !== 'object')
    (copy as Record<string, unknown>)[k] = value;
  else (copy as Record<string, unknown>)[k] = mutate(cur, r, value);
  return copy;
}

const weird = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    -1,
    0,
    2 ** 53,
    1e308,
    -1e308,
    0.5,
    '',
    'x'.repeat(5000),
    '../../etc/passwd',
    '1-65535',
    '0.0.0.0',
    '::1',
    '300.1.1.1',
    [],
    {},
    [null],
    { '': '' },
    true,
    null,
  ),
);

interface FuzzRequest {
  /** The route it was made from (its registered path). */
  route: string;
  method: string;
  path: string;
  contentType: string | undefined;
  body: Buffer;
}

function requestArb(names: () => string[]): fc.Arbitrary<FuzzRequest> {
  const route = fc.constantFrom(...ROUTES);
  return fc
    .record({
      route,
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant('') },
        { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD') },
      ),
      fillers: fc.array(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant('@fixture') },
          { weight: 2, arbitrary: rawSegment },
        ),
        { minLength: 3, maxLength: 3 },
      ),
      prefix: fc.constantFrom('', '', '/v1.41', '/v1.47', '/v0.1', '/v999.9'),
      q: query,
      bodyKind: fc.constantFrom(
        'template',
        'mutated',
        'mutated',
        'mutated',
        'random',
        'bytes',
        'none',
      ),
      value: weird,
      seed: fc.integer(),
      bytes: fc.uint8Array({ maxLength: 200 }),
      contentType: fc.constantFrom(
        'application/json',
        'application/json',
        'application/json',
        'text/plain',
        'application/x-tar',
        undefined,
      ),
    })
    .map((x) => {
      const ns = names();
      let i = 0;
      const path = x.route.path.replace(/:\w+|\*/g, () => {
        const f = x.fillers[i++ % 3]!;
        return f === '@fixture' ? pct(ns[Math.abs(x.seed + i) % ns.length]!) : f;
      });
      let s = x.seed;
      const r = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
      const t = template(x.route.method, x.route.path, ns);
      let body: Buffer;
      switch (x.bodyKind) {
        case 'template':
          body = Buffer.from(t === undefined ? '' : JSON.stringify(t));
          break;
        case 'mutated':
          body = Buffer.from(JSON.stringify(mutate(t ?? {}, r, x.value)) ?? 'null');
          break;
        case 'random':
          body = Buffer.from(JSON.stringify(x.value) ?? '');
          break;
        case 'bytes':
          body = Buffer.from(x.bytes);
          break;
        default:
          body = Buffer.alloc(0);
      }
      return {
        route: x.route.path,
        method: x.method || x.route.method,
        path: x.prefix + path + x.q,
        contentType: x.contentType,
        body,
      };
    });
}

function encode(r: FuzzRequest): Buffer {
  const head =
    `${r.method} ${r.path} HTTP/1.1\r\nHost: berth\r\n` +
    (r.contentType ? `Content-Type: ${r.contentType}\r\n` : '') +
    `Content-Length: ${r.body.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), r.body]);
}

/**
 * Routes whose answer may stream for as long as the client stays: cut after
 * 1.5 s. Every other request must be answered whole, however long it takes
 * (a `stop?t=99` takes 99 s): cutting it would let its effect land while a
 * later 4xx is checked.
 */
const STREAMS = new Set([
  '/events',
  '/containers/:id/attach',
  '/containers/:id/logs',
  // One sample a second until the client goes, unless stream=false.
  '/containers/:id/stats',
  '/containers/:id/wait',
  '/exec/:id/start',
]);

/**
 * The errors dockerd 20.10 writes raw, not as JSON
 * (docs/reference/docker-20.10-streams.md): one found after the attach took
 * over the connection, and a websocket attach without the upgrade headers.
 */
function rawError(route: string, r: { status: number; headers: string; body: string }): boolean {
  if (route === '/containers/:id/attach') {
    return (
      /Content-Type: application\/vnd\.docker\.raw-stream/i.test(r.headers) &&
      /^\S.*\r\n$/.test(r.body)
    );
  }
  return (
    route === '/containers/:id/attach/ws' && r.status === 400 && r.body === 'not websocket protocol'
  );
}

// ---- state -------------------------------------------------------------

describe('API fuzzing against a lab berthd', () => {
  let env: LabEnv;
  let fixtureNames: string[] = [];
  const counts = { requests: 0, s2xx: 0, s4xx: 0, s5xx: 0, streamsCut: 0, checkedUnchanged: 0 };

  const sh = (argv: string[]) => env.inHost(argv).stdout;
  /** Store and kernel as a string: what a 4xx must not change. */
  const snapshot = (): string => {
    const db = new Database(join(env.daemon.dataRoot, 'berth.db'), {
      readonly: true,
      fileMustExist: true,
    });
    let rows: unknown[];
    try {
      rows = db.prepare('SELECT key, value FROM kv ORDER BY key').all();
    } finally {
      db.close();
    }
    const links = (
      JSON.parse(sh(['ip', '-j', '-d', 'link', 'show'])) as Array<Record<string, unknown>>
    )
      .map(
        (l) =>
          `${String(l.ifname)} ${String(l.master ?? '')} ${String(l.mtu)} ${String(l.address)}`,
      )
      .sort();
    const addrs = sh(['ip', '-o', 'addr', 'show'])
      .split('\n')
      // "tentative" goes when the kernel's duplicate address detection ends, seconds later.
      .map((l) =>
        l
          .replace(/valid_lft.*$/, '')
          .replace(/^\d+:\s*/, '')
          .replace(/ tentative\b/, ''),
      )
      .sort();
    const nft = sh(['nft', 'list', 'ruleset']).replace(/counter packets \d+ bytes \d+/g, 'counter');
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .filter((l) => l.includes(env.daemon.dataRoot) || l.includes(env.daemon.execRoot))
      .sort();
    let netns: string[] = [];
    try {
      netns = readdirSync(join(env.daemon.execRoot, 'netns')).sort();
    } catch {
      netns = [];
    }
    return JSON.stringify({ rows, links, addrs, nft, mounts, netns }, null, 1);
  };
  /** Waits until nothing moves (exits, the reaper), then returns the state. */
  const settled = async (): Promise<string> => {
    let prev = snapshot();
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const cur = snapshot();
      if (cur === prev) return cur;
      prev = cur;
    }
    return prev;
  };

  /** The daemon's containers and networks, through the API (the CLI costs a process each). */
  const listing = async () => {
    const host = `unix://${env.daemon.socket}`;
    const cs = JSON.parse((await apiCall(host, 'GET', '/containers/json?all=1')).text) as Array<{
      Id: string;
      Names: string[];
      State: string;
    }>;
    const nets = JSON.parse((await apiCall(host, 'GET', '/networks')).text) as Array<{
      Id: string;
      Name: string;
    }>;
    const container = (name: string) => cs.find((c) => c.Names.includes(`/${name}`));
    return { host, cs, nets, container, net: (name: string) => nets.find((n) => n.Name === name) };
  };

  /** Fixtures the fuzzer aims at: put back whenever a 2xx took them away. */
  const ensureFixtures = async () => {
    let l = await listing();
    if (!l.net('fz-net')) env.docker(['network', 'create', 'fz-net']);
    if (!l.container('fz-run'))
      env.docker([
        'run',
        '-d',
        '--name',
        'fz-run',
        '--network',
        'fz-net',
        // tini passes on SIGTERM: a fuzzed stop or restart ends at once, not at its timeout.
        '--init',
        'busybox',
        'sleep',
        '100000',
      ]);
    else if (l.container('fz-run')?.State !== 'running') env.docker(['start', 'fz-run']);
    if (!l.container('fz-stopped'))
      env.docker(['create', '--name', 'fz-stopped', 'busybox', 'true']);
    l = await listing();
    const ids = [
      l.container('fz-run')?.Id,
      l.container('fz-stopped')?.Id,
      l.net('fz-net')?.Id,
    ].filter((i): i is string => !!i);
    fixtureNames = [
      'fz-run',
      'fz-stopped',
      'fz-net',
      'busybox',
      'busybox:latest',
      'bridge',
      'host',
      'none',
      ...ids,
      ...ids.map((i) => i.slice(0, 12)),
    ];
  };

  /** What a 2xx made besides the fixtures (a restart-looping container never settles). */
  const removeStrays = async () => {
    const l = await listing();
    const keep = new Set(['/fz-run', '/fz-stopped']);
    for (const c of l.cs.filter((c) => !c.Names.some((n) => keep.has(n)))) {
      await apiCall(l.host, 'DELETE', `/containers/${c.Id}?force=1`);
    }
    for (const n of l.nets.filter((n) => !['bridge', 'host', 'none', 'fz-net'].includes(n.Name))) {
      await apiCall(l.host, 'DELETE', `/networks/${n.Id}`);
    }
  };

  before(async () => {
    env = await labWithDaemons();
    await ensureFixtures();
  });
  after(async () => {
    process.stdout.write(`# api fuzz: ${JSON.stringify(counts)}\n`);
    await env?.destroy();
  });

  it(`${RUNS} random and mutated requests: no 500, no crash, no change on a 4xx`, async () => {
    let state = await settled();
    await fc.assert(
      fc.asyncProperty(
        requestArb(() => fixtureNames),
        async (req) => {
          counts.requests++;
          const reply = await send(
            env.daemon.socket,
            encode(req),
            STREAMS.has(req.route) ? 1500 : 150_000,
          );
          process.kill(env.daemon.pid, 0); // throws if the daemon is gone
          if (reply === 'closed') {
            // Cut before any status: only a stream may do that (events, wait, attach).
            assert.ok(STREAMS.has(req.route), `no answer to ${req.method} ${req.path}`);
            counts.streamsCut++;
            state = await settled();
          } else if (reply.status >= 500) {
            counts.s5xx++;
            assert.ok(
              reply.status === 501 || reply.status === 503,
              `${reply.status} for ${req.method} ${req.path}: ${reply.body.slice(0, 300)}`,
            );
          } else if (reply.status >= 400) {
            counts.s4xx++;
            if (rawError(req.route, reply)) {
              // dockerd's words, raw, as it writes them there.
            } else if (req.method !== 'HEAD' && reply.status !== 405 && reply.status !== 413) {
              assert.match(
                reply.headers,
                /Content-Type: application\/json/i,
                `${req.method} ${req.path}`,
              );
              assert.ok(
                typeof (JSON.parse(reply.body) as { message?: unknown }).message === 'string',
                `no JSON message: ${reply.body.slice(0, 200)}`,
              );
            }
            const now = snapshot();
            if (now !== state) {
              // Something may still have been settling from an earlier 2xx: look again.
              const again = await settled();
              if (again !== state) {
                const was = new Set(state.split('\n'));
                const is = new Set(again.split('\n'));
                const gone = [...was].filter((l) => !is.has(l));
                const added = [...is].filter((l) => !was.has(l));
                assert.fail(
                  `${reply.status} to ${req.method} ${req.path} changed state:\n` +
                    `- ${gone.join('\n- ')}\n+ ${added.join('\n+ ')}`,
                );
              }
            }
            counts.checkedUnchanged++;
          } else {
            counts.s2xx++;
            if (req.method !== 'GET' && req.method !== 'HEAD') {
              await removeStrays();
              await ensureFixtures();
              state = await settled();
            }
          }
        },
      ),
      { numRuns: RUNS, seed: SEED, endOnFailure: true, verbose: true },
    );
    const ping = await send(
      env.daemon.socket,
      Buffer.from('GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    );
    assert.ok(ping !== 'closed' && ping.status === 200, 'the daemon answers after the campaign');
  });
});
