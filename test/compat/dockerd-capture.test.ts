/**
 * berthd against what dockerd 20.10 answered to the same requests
 * (docs/reference/docker-20.10-inspect.json, bench/capture-docker-inspect.ts):
 * the swarm routes of a node not in a swarm, the volume routes with no
 * volume, every create body dockerd refuses (same status, same message), and
 * the key sets of the inspect answers (container, network, image, exec,
 * volume list, info, version). Where Berth differs on purpose, the case names
 * the reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { apiCall } from '../helpers/api.js';
import { labWithDaemons, REPO, type LabEnv } from '../helpers/lab-daemon.js';

interface Answer {
  method: string;
  path: string;
  body?: unknown;
  status: number;
  response: unknown;
}
type Obj = Record<string, unknown>;
const REF = JSON.parse(readFileSync(`${REPO}docs/reference/docker-20.10-inspect.json`, 'utf8')) as {
  containers: Record<string, unknown>;
  networks: Record<string, unknown>;
  image: unknown;
  images: unknown;
  exec: Record<string, unknown>;
  volumes: Record<string, Answer>;
  info: unknown;
  version: unknown;
  swarm: Answer[];
  refusals: Answer[];
};

/**
 * Create bodies dockerd 20.10 takes and Berth refuses at once, and why. Berth
 * refuses what it does not do yet (never accepted and ignored: log drivers
 * but json-file, local and none, log options), and
 * checks at create what dockerd checks only at start (then failing with a
 * 500 or a 404): a bad MAC or DNS address, a missing network container, a
 * namespace mode that is none (decision 0032).
 */
const REFUSED_ON_PURPOSE: Record<string, RegExp> = {
  'log-json-file-opts': /^berth does not support --log-opt/,
  'log-syslog': /^berth does not support log driver syslog yet/,
  'log-empty-type-opts': /^berth does not support --log-opt/,
  // dockerd's words at start (a 500) for IPC; it runs bogus PID and UTS modes as private.
  'ipc-bogus': /^Invalid IPC mode: bogus$/,
  'pid-bogus': /^Invalid PID mode: bogus$/,
  'uts-bogus': /^Invalid UTS mode: bogus$/,
  'userns-bogus': /^berth does not support --userns/,
  'mac-bad': /^address xx: invalid MAC address$/,
  'dns-bad': /^not-an-ip is not an ip address$/,
  'container-missing': /^No such container: nosuch$/,
  'console-size-bad': /^invalid HostConfig.ConsoleSize/,
  // dockerd makes a container that has no image and cannot start.
  'image-empty': /^Config cannot be empty in order to create a container$/,
};

/**
 * Bodies dockerd refuses and Berth refuses differently, and why: a field
 * Berth does not support yet is refused as such whatever its value, and a
 * client's mistake is a 400, not dockerd's 500.
 */
const REFUSED_OTHERWISE: Record<string, { status: number; message: RegExp }> = {
  'isolation-hyperv': { status: 400, message: /^Invalid isolation: "hyperv"/ },
  'isolation-bogus': { status: 400, message: /^Invalid isolation: "bogus"/ },
  // dockerd lists the networks in Go's random map order.
  'second-network': {
    status: 400,
    message:
      /^Container cannot be connected to network endpoints: (usernet, bridge|bridge, usernet)$/,
  },
};

/**
 * Keys Berth shows and dockerd 20.10 does not, or the reverse, and why:
 * fields of the Engine API version Berth advertises (1.47), and what Berth
 * does not have.
 */
const KEY_DIFFERENCES = [
  // API 1.44+: what the DNS answers for an endpoint; API 1.47: the gateway's priority.
  'NetworkSettings.Networks.*.DNSNames',
  'NetworkSettings.Networks.*.GwPriority',
  '[].NetworkSettings.Networks.*.DNSNames',
  '[].NetworkSettings.Networks.*.GwPriority',
  // API 1.47: IPv4 can be switched off per network (Berth refuses that yet).
  'EnableIPv4',
  '[].EnableIPv4',
  // Known at create: Berth has one runtime (dockerd fills it in at start).
  'HostConfig.Runtime',
  // The default bridge's gateway, as dockerd shows it once the bridge has its address.
  'IPAM.Config[].Gateway',
  // Berth pulls from no registry.
  'RegistryConfig.IndexConfigs.*',
  'RegistryConfig.IndexConfigs.*.Mirrors',
  'RegistryConfig.IndexConfigs.*.Name',
  'RegistryConfig.IndexConfigs.*.Official',
  'RegistryConfig.IndexConfigs.*.Secure',
];

/** Objects whose keys are data (names, labels, paths), not fields: compared as `*`. */
const MAPS = new Set([
  'Networks',
  'Containers',
  'Labels',
  'Options',
  'Ports',
  'ExposedPorts',
  'Volumes',
  'Data',
  'Runtimes',
  'IndexConfigs',
  'Config.LogConfig.Config',
  'DriverOpts',
]);

/** Every key path of a JSON value; arrays of objects as `[]`, data maps as `*`. */
function keyPaths(v: unknown, at = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) {
    for (const e of v) keyPaths(e, `${at}[]`, out);
  } else if (v && typeof v === 'object') {
    const name = at.split('.').pop() ?? '';
    for (const [k, child] of Object.entries(v as Obj)) {
      const p = MAPS.has(name) ? `${at}.*` : at ? `${at}.${k}` : k;
      out.add(p);
      keyPaths(child, p, out);
    }
  }
  return out;
}

/** Keys one side has and the other lacks, minus those `allowed` names. */
function keyDiff(berth: unknown, docker: unknown, allowed = KEY_DIFFERENCES) {
  const b = keyPaths(berth);
  const d = keyPaths(docker);
  const ok = (p: string) => !allowed.includes(p);
  return {
    missing: [...d].filter((p) => !b.has(p) && ok(p)).sort(),
    extra: [...b].filter((p) => !d.has(p) && ok(p)).sort(),
  };
}

/** Fails with every difference of every pair at once. */
function assertSameKeys(pairs: Array<[string, unknown, unknown]>): void {
  const diffs: Record<string, ReturnType<typeof keyDiff>> = {};
  for (const [name, mine, theirs] of pairs) {
    const d = keyDiff(mine, theirs);
    if (d.missing.length || d.extra.length) diffs[name] = d;
  }
  assert.deepEqual(diffs, {}, JSON.stringify(diffs, null, 1));
}

let env: LabEnv;
const api = (method: string, path: string, body?: unknown) =>
  apiCall(env.daemon.env.DOCKER_HOST, method, path, body);
const LOOP = ['sleep', '3600'];

describe('berthd answers as the captured dockerd 20.10', () => {
  const got: Record<string, unknown> = {};
  before(async () => {
    env = await labWithDaemons();
    const idOf = (r: { json: Obj }) => String(r.json.Id);
    const running = await api('POST', '/containers/create?name=api-running', {
      Image: 'busybox',
      Cmd: LOOP,
    });
    assert.equal(running.status, 201, running.text);
    await api('POST', `/containers/${idOf(running)}/start`);
    got.running = (await api('GET', '/containers/api-running/json')).json;
    await api('POST', '/containers/create?name=api-created', { Image: 'busybox', Cmd: ['true'] });
    got.created = (await api('GET', '/containers/api-created/json')).json;
    await api('POST', '/containers/create?name=api-exited', { Image: 'busybox', Cmd: ['true'] });
    await api('POST', '/containers/api-exited/start');
    await api('POST', '/containers/api-exited/wait');
    got.exited = (await api('GET', '/containers/api-exited/json')).json;
    got.list = JSON.parse((await api('GET', '/containers/json?all=1')).text);
    const ex = await api('POST', '/containers/api-running/exec', {
      Cmd: ['true'],
      AttachStdout: true,
      AttachStderr: true,
    });
    got.execCreated = (await api('GET', `/exec/${idOf(ex)}/json`)).json;
    await api('POST', `/exec/${idOf(ex)}/start`, { Detach: true });
    await new Promise((r) => setTimeout(r, 500));
    got.execFinished = (await api('GET', `/exec/${idOf(ex)}/json`)).json;
    got.bridge = (await api('GET', '/networks/bridge')).json;
    got.userCreate = (await api('POST', '/networks/create', { Name: 'usernet' })).json;
    await api('POST', '/networks/usernet/connect', { Container: 'api-running' });
    got.user = (await api('GET', '/networks/usernet')).json;
    got.networks = JSON.parse((await api('GET', '/networks')).text);
    got.twoNetworks = (await api('GET', '/containers/api-running/json')).json;
    got.image = (await api('GET', '/images/busybox/json')).json;
    got.images = JSON.parse((await api('GET', '/images/json')).text);
    got.info = (await api('GET', '/info')).json;
    got.version = (await api('GET', '/version')).json;
  });
  after(async () => {
    await env?.destroy();
  });

  it('swarm routes answer as on a node that is not in a swarm', async () => {
    for (const a of REF.swarm) {
      const r = await api(a.method, a.path, a.body);
      assert.equal(r.status, a.status, `${a.method} ${a.path}: ${r.text}`);
      assert.deepEqual(r.json, a.response, `${a.method} ${a.path}`);
    }
    const init = await api('POST', '/swarm/init', { ListenAddr: '0.0.0.0:2377' });
    assert.equal(init.status, 400);
    assert.match(String(init.json.message), /berth does not support swarm mode/);
    assert.equal((got.info as { Swarm: Obj }).Swarm.LocalNodeState, 'inactive');
  });

  it('volume routes answer as dockerd: none, then one made, inspected, listed, removed', async () => {
    for (const k of ['list', 'listFiltered', 'inspectMissing', 'removeMissing', 'prune']) {
      const a = REF.volumes[k]!;
      const r = await api(a.method, a.path, a.body);
      assert.equal(r.status, a.status, `${a.method} ${a.path}: ${r.text}`);
      assert.deepEqual(r.json, a.response, `${a.method} ${a.path}`);
    }
    // The creation time and the data root are this daemon's.
    const mine = (v: Obj) => ({
      ...v,
      CreatedAt: '2026-12-05T03:24:00Z',
      Mountpoint: String(v.Mountpoint).replace(
        /^.*\/volumes\//,
        '/var/lib/berth-lab/hi1/h1/docker/volumes/',
      ),
    });
    for (const k of ['create', 'inspect', 'listOne', 'remove']) {
      const a = REF.volumes[k]!;
      const r = await api(a.method, a.path, a.body);
      assert.equal(r.status, a.status, `${a.method} ${a.path}: ${r.text}`);
      if (k === 'remove') continue;
      const got =
        k === 'listOne'
          ? { ...r.json, Volumes: (r.json.Volumes as Obj[]).map(mine) }
          : mine(r.json);
      assert.deepEqual(got, a.response, `${a.method} ${a.path}`);
    }
  });

  it('refuses every create body dockerd refuses, with its status and message', async () => {
    const wrong: string[] = [];
    for (const a of REF.refusals) {
      const label = /\((.+)\)$/.exec(a.path)?.[1] ?? a.path;
      const path = a.path.replace(/ \(.+\)$/, '');
      const r = await api('POST', path, a.body);
      const msg = String(r.json.message ?? '');
      if (a.status !== 201) {
        const want = (a.response as Obj).message;
        const other = REFUSED_OTHERWISE[label];
        const fine = other
          ? r.status === other.status && other.message.test(msg)
          : r.status === a.status && msg === want;
        if (!fine) {
          wrong.push(`${label}: dockerd ${a.status} ${String(want)}; berth ${r.status} ${msg}`);
        }
      } else if (r.status !== 201) {
        const why = REFUSED_ON_PURPOSE[label];
        if (!why || r.status >= 500 || r.status < 400 || !why.test(msg)) {
          wrong.push(`${label}: dockerd 201; berth ${r.status} ${msg}`);
        }
      }
      if (r.status === 201) await api('DELETE', `/containers/${String(r.json.Id)}?force=1&v=1`);
    }
    assert.deepEqual(wrong, []);
    // bind-relative made the volume "rel", as dockerd does.
    assert.equal((await api('DELETE', '/volumes/rel')).status, 204);
  });

  it('container inspect has the keys dockerd 20.10 shows, in every state', () => {
    const c = REF.containers;
    assertSameKeys([
      ['running', got.running, c.running],
      ['created', got.created, c.created],
      ['exited', got.exited, c.exited],
      ['twoNetworks', got.twoNetworks, c.runningTwoNetworks],
      ['list', got.list, c.list],
    ]);
  });

  it('network, image, exec, info and version have the keys dockerd 20.10 shows', () => {
    const pairs: Array<[string, unknown, unknown]> = [
      ['bridge', got.bridge, REF.networks.bridge],
      ['user', got.user, REF.networks.user],
      ['userCreate', got.userCreate, REF.networks.userCreate],
      ['networks', got.networks, REF.networks.list],
      ['image', got.image, REF.image],
      ['images', got.images, REF.images],
      ['execCreated', got.execCreated, REF.exec.created],
      ['execFinished', got.execFinished, REF.exec.finished],
      ['info', got.info, REF.info],
      ['version', got.version, REF.version],
    ];
    assertSameKeys(pairs);
  });
});
