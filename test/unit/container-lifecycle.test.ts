// The container lifecycle's parts without root, on the network controller's
// fakes (test/helpers/fake-network.ts) and a fake runtime: create's record
// building, start's join loop (its order, the default route, what a failed
// join leaves for the undo), an exit and the restart policy (backoff,
// calling a restart off, restarts held back during recovery), kill's
// signals, and the locks and waiters. Before the service was split
// (issue 15) these were reachable only through root e2e tests.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runtime } from '../../src/kernel/runtime/runtime.js';
import { EventBus } from '../../src/events/bus.js';
import { buildRecord, createContainer } from '../../src/containers/create.js';
import { HealthMonitors } from '../../src/containers/health.js';
import { onExit, RestartPolicy } from '../../src/containers/exit.js';
import type { ImageLookup, Lifecycle } from '../../src/containers/lifecycle.js';
import { ContainerNetworking } from '../../src/containers/networking.js';
import { ContainerDirs } from '../../src/containers/paths.js';
import { VolumeService } from '../../src/volumes/service.js';
import { ContainerRepo } from '../../src/containers/repo.js';
import { kill, sameSignal } from '../../src/containers/stop.js';
import { withRootfs } from '../../src/containers/fsaccess.js';
import { pause, thawAfterSignal, unpause } from '../../src/containers/pause.js';
import { ContainerLocks, Waiters } from '../../src/containers/sync.js';
import type { ContainerRecord } from '../../src/containers/types.js';
import type { Op } from '../../src/store/types.js';
import { fakeWorld, type FakeWorld } from '../helpers/fake-network.js';

const NETNS = '/nonexistent/netns/c1';

const image = {
  id: `sha256:${'ab'.repeat(32)}`,
  config: { config: { Cmd: ['sh'], Env: ['PATH=/bin'] } },
  layerDirs: [],
  repoTags: ['busybox:latest'],
};
const images: ImageLookup = {
  resolve: async (ref) => (ref === image.id || ref === 'busybox' ? image : undefined),
};

/** How long the fake runtime's freezes and thaws take. */
const timing = { freezerMs: 0 };

/** A runtime that records its calls and runs nothing. */
function fakeRuntime() {
  const calls: string[] = [];
  const runtime = {
    binary: '/usr/sbin/runc',
    kill: async (id: string, signal: string) => void calls.push(`kill ${id.slice(0, 4)} ${signal}`),
    delete: async (id: string) => void calls.push(`delete ${id.slice(0, 4)}`),
    // Each freeze or thaw takes `freezerMs` (0: at once).
    pause: async (id: string) => {
      await new Promise((r) => setTimeout(r, timing.freezerMs));
      calls.push(`pause ${id.slice(0, 4)}`);
    },
    resume: async (id: string) => {
      await new Promise((r) => setTimeout(r, timing.freezerMs));
      calls.push(`resume ${id.slice(0, 4)}`);
    },
    list: async () => [],
  } as unknown as Runtime;
  return { runtime, calls };
}

interface Harness {
  life: Lifecycle;
  repo: ContainerRepo;
  /** The runtime's calls. */
  runtimeCalls: string[];
  /** Events as `action name`, and the steps the lifecycle's callbacks were asked for. */
  events: string[];
  steps: string[];
}

let w: FakeWorld;
let dir: string;
let h: Harness;

/** A Lifecycle on the fake world, whose start, cleanup and removal only record that they ran. */
async function harness(): Promise<Harness> {
  const repo = new ContainerRepo(w.kv);
  await repo.load();
  const { runtime, calls } = fakeRuntime();
  const events: string[] = [];
  const steps: string[] = [];
  const locks = new ContainerLocks(repo);
  const waiters = new Waiters();
  const paths = new ContainerDirs({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec') });
  const stopping = new Set<string>();
  const removing = new Set<string>();
  const networking = new ContainerNetworking({
    repo,
    networks: w.controller,
    events: new EventBus(),
    dns: { daemonServers: [], daemonSearch: [], daemonOptions: [] },
    log: w.log,
    dir: (id) => paths.dir(id),
    locked: (id, fn) => locks.locked(id, fn),
  });
  const startLocked = async (c: ContainerRecord) => {
    steps.push(`start ${c.Name}`);
    c.State = { ...c.State, Status: 'running' };
  };
  const life: Lifecycle = {
    repo,
    images,
    networks: w.controller,
    volumes: new VolumeService(w.kv, join(dir, 'data'), undefined, w.log),
    runtime,
    dns: { daemonServers: [], daemonSearch: [], daemonOptions: [] },
    log: w.log,
    paths,
    networking,
    locks,
    waiters,
    liveRestore: true,
    restarts: new RestartPolicy({
      repo,
      log: w.log,
      locks,
      waiters,
      stopping,
      removing,
      startLocked,
    }),
    health: new HealthMonitors({
      probe: async () => ({ exitCode: 0, output: '' }),
      current: (id) => repo.find(id),
      save: (c) => repo.save(c),
      emit: (c, action) => void events.push(`${action} ${c.Name}`),
      warn: () => undefined,
    }),
    stopping,
    removing,
    pendingAttach: new Map(),
    emit: (c, action) => void events.push(`${action} ${c.Name}`),
    wait: (ref, condition = 'not-running') => waiters.wait(repo.get(ref), condition),
    startLocked,
    watchExit: (c) => void steps.push(`watch ${c.Name}`),
    onExit: (c, st) => onExit(life, c, st),
    removeLocked: async (c) => {
      steps.push(`remove ${c.Name}`);
      await repo.remove(c);
    },
    cleanupRuntime: async (c) => void steps.push(`cleanup ${c.Name}`),
  };
  return { life, repo, runtimeCalls: calls, events, steps };
}

beforeEach(async () => {
  w = await fakeWorld();
  dir = mkdtempSync(join(tmpdir(), 'berth-lifecycle-'));
  h = await harness();
});
afterEach(async () => {
  h.life.restarts.close();
  await w.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Creates a container (record and directory) from a create body; returns its record. */
async function created(body: Record<string, unknown>, name?: string): Promise<ContainerRecord> {
  const { record } = await createContainer(h.life, { Image: 'busybox', ...body }, name);
  return record;
}

/** A created container marked running (what start would have recorded). */
async function running(
  body: Record<string, unknown> = {},
  name?: string,
): Promise<ContainerRecord> {
  const c = await created(body, name);
  c.State = { ...c.State, Status: 'running', Pid: 42, StartedAt: new Date().toISOString() };
  await h.repo.save(c);
  return c;
}

const keyOf = (o: Op) => ('key' in o ? o.key : '');

describe('create: the record', () => {
  it('merges the image, names the container, lists its network as configured', async () => {
    await w.controller.createNetwork({
      Name: 'web',
      IPAM: { Config: [{ Subnet: '10.50.0.0/24' }] },
    });
    const web = w.controller.get('web');
    const { record: c, warnings } = await buildRecord(
      h.life,
      {
        Image: 'busybox',
        HostConfig: { NetworkMode: 'web' },
        NetworkingConfig: { EndpointsConfig: { web: { Aliases: ['db'] } } },
      },
      '/one',
    );
    assert.deepEqual(warnings, []);
    assert.equal(c.Name, '/one');
    assert.equal(c.ImageID, image.id);
    assert.equal(c.Path, 'sh');
    assert.equal(c.Config.Hostname, c.Id.slice(0, 12));
    assert.equal(c.HostConfig.Runtime, 'runc');
    assert.equal(c.State.Status, 'created');
    assert.deepEqual(Object.keys(c.Networks), ['web']);
    assert.equal(c.Networks.web!.NetworkID, web.Id);
    assert.deepEqual(c.Networks.web!.Aliases, ['db']);
    assert.equal(c.Networks.web!.IPAddress, '');
    // Built, not stored.
    assert.equal(h.repo.find(c.Id), undefined);
  });

  it("refuses another runtime, a missing image and a missing container:'s container", async () => {
    await assert.rejects(
      buildRecord(h.life, { Image: 'busybox', HostConfig: { Runtime: 'crun' } }),
      /Unknown runtime specified crun/,
    );
    await assert.rejects(buildRecord(h.life, { Image: 'nothere' }), /No such image: nothere/);
    await assert.rejects(
      buildRecord(h.life, { Image: 'busybox', HostConfig: { NetworkMode: 'container:nope' } }),
      /No such container: nope/,
    );
  });

  it('warns that host networking discards published ports', async () => {
    const { warnings, record } = await buildRecord(h.life, {
      Image: 'busybox',
      HostConfig: { NetworkMode: 'host', PortBindings: { '80/tcp': [{ HostPort: '8080' }] } },
    });
    assert.deepEqual(warnings, ['Published ports are discarded when using host network mode']);
    assert.notEqual(record.Config.Hostname, record.Id.slice(0, 12));
  });

  it('keeps a --link on a user network with the endpoint (HostConfig.Links null)', async () => {
    await w.controller.createNetwork({
      Name: 'web',
      IPAM: { Config: [{ Subnet: '10.50.0.0/24' }] },
    });
    const { record } = await buildRecord(h.life, {
      Image: 'busybox',
      HostConfig: { NetworkMode: 'web', Links: ['db:database'] },
    });
    assert.equal(record.HostConfig.Links, null);
    assert.deepEqual((record.EndpointsConfig.web as { Links: string[] }).Links, ['db:database']);
    assert.deepEqual(record.Networks.web!.Links, ['db:database']);
  });

  it('stores the record with its name and makes its directory', async () => {
    const c = await created({}, '/two');
    assert.equal(h.repo.get('two'), c);
    assert.ok((await w.kv.get(`containers/by-id/${c.Id}`))?.value);
    assert.equal((await w.kv.get('containers/names/two'))?.value, c.Id);
    await assert.rejects(created({}, '/two'), /is already in use/);
  });
});

describe("start's network step: the join loop", () => {
  /** Networks zeta (the container's own), alpha and an internal aaa, each a /24. */
  async function threeNetworks(): Promise<void> {
    await w.controller.createNetwork({
      Name: 'zeta',
      IPAM: { Config: [{ Subnet: '10.61.0.0/24' }] },
    });
    await w.controller.createNetwork({
      Name: 'alpha',
      IPAM: { Config: [{ Subnet: '10.62.0.0/24' }] },
    });
    await w.controller.createNetwork({
      Name: 'aaa',
      Internal: true,
      IPAM: { Config: [{ Subnet: '10.63.0.0/24' }] },
    });
  }

  /** The fake driver's endpoints of `id`, by network name: interface and whether it routes. */
  function driverEndpoints(id: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const ep of w.driver.endpoints.values()) {
      if (ep.containerId !== id) continue;
      const net = w.controller.get(ep.networkId);
      out[net.Name] = `${ep.addrs.ifName}${ep.addrs.defaultRoute ? ' route' : ''}`;
    }
    return out;
  }

  it('joins the primary network first, then those connected while stopped; the route goes by order', async () => {
    await threeNetworks();
    const c = await created({
      HostConfig: { NetworkMode: 'zeta' },
      MacAddress: '02:42:0a:3d:00:99',
    });
    await h.life.networking.connect(c.Id, 'aaa', {});
    await h.life.networking.connect(c.Id, 'alpha', {});
    assert.deepEqual(Object.keys(c.Networks), ['zeta', 'aaa', 'alpha']);

    await h.life.networking.joinAll(c, NETNS);
    assert.deepEqual(
      w.driver.calls.filter((s) => s.startsWith('join')),
      ['join zeta eth0', 'join aaa eth1', 'join alpha eth2'],
    );
    // libnetwork's order: non-internal first, then by name: alpha, not zeta.
    assert.deepEqual(driverEndpoints(c.Id), {
      zeta: 'eth0',
      aaa: 'eth1',
      alpha: 'eth2 route',
    });
    assert.deepEqual(Object.keys(c.Networks), ['zeta', 'aaa', 'alpha']);
    assert.match(c.Networks.zeta!.IPAddress, /^10\.61\.0\./);
    assert.match(c.Networks.alpha!.IPAddress, /^10\.62\.0\./);
    // Config.MacAddress is the primary network's, as dockerd 20.10's.
    assert.equal(c.Networks.zeta!.MacAddress, '02:42:0a:3d:00:99');
    assert.notEqual(c.Networks.alpha!.MacAddress, '02:42:0a:3d:00:99');
  });

  it("refuses a stopped container's connect that its start would refuse, in dockerd's words, and records nothing", async () => {
    await threeNetworks();
    await w.controller.createNetwork({ Name: 'autonet' });
    const c = await created({ HostConfig: { NetworkMode: 'zeta' } });
    const before = JSON.stringify(await h.repo.get(c.Id));
    const ip = (a: string) => ({ IPAMConfig: { IPv4Address: a } });
    await assert.rejects(h.life.networking.connect(c.Id, 'autonet', ip('172.30.0.9')), {
      message:
        'user specified IP address is supported only when connecting to networks with user configured subnets',
    });
    await assert.rejects(h.life.networking.connect(c.Id, 'bridge', ip('172.17.0.9')), {
      message: 'user specified IP address is supported on user defined networks only',
    });
    await assert.rejects(h.life.networking.connect(c.Id, 'bridge', { Aliases: ['x'] }), {
      message: 'network-scoped alias is supported only for containers in user defined networks',
    });
    assert.deepEqual(Object.keys(c.Networks), ['zeta']);
    assert.equal(JSON.stringify(await h.repo.get(c.Id)), before);
    // One the start can honour is recorded, as before.
    await h.life.networking.connect(c.Id, 'alpha', ip('10.62.0.9'));
    assert.deepEqual(Object.keys(c.Networks), ['zeta', 'alpha']);
  });

  it('a failed join leaves the record naming what was joined, and the undo the teardown of all', async () => {
    await threeNetworks();
    const alpha = w.controller.get('alpha');
    const c = await created({ HostConfig: { NetworkMode: 'zeta' } });
    await h.life.networking.connect(c.Id, 'alpha', {});
    const endpoints = w.controller.endpoints;
    const sandboxes: string[] = [];
    const teardowns: string[] = [];
    // The sandbox (a namespace) and its deletion need root: the fakes stand
    // in for them; the endpoints' removal is the controller's own.
    endpoints.createSandbox = (id) => (sandboxes.push(id), NETNS);
    endpoints.teardown = async (id) => {
      teardowns.push(id);
      for (const net of w.controller.list()) await endpoints.leave(id, net.Id);
    };
    w.kv.failNext((ops) => ops.some((o) => keyOf(o).startsWith(`endpoints/${alpha.Id}/`)));

    const undo: Array<() => Promise<void>> = [];
    const netns = h.life.networking.sandboxAtStart(c, undo);
    await assert.rejects(h.life.networking.joinAtStart(c, netns), /disk on fire/);
    assert.deepEqual(sandboxes, [c.Id]);
    assert.equal(undo.length, 1);
    // zeta joined and listed as joined; alpha only as configured.
    assert.match(c.Networks.zeta!.IPAddress, /^10\.61\.0\./);
    assert.equal(c.Networks.alpha!.IPAddress, '');
    assert.deepEqual(driverEndpoints(c.Id), { zeta: 'eth0' });

    for (const u of undo.reverse()) await u();
    assert.deepEqual(teardowns, [c.Id]);
    assert.deepEqual(await w.kv.list('endpoints/'), []);
    assert.deepEqual(driverEndpoints(c.Id), {});
  });

  it('joins nothing for container:<id> but needs that container running', async () => {
    const other = await created({}, '/other');
    const c = await created({ HostConfig: { NetworkMode: `container:${other.Id}` } });
    const undo: Array<() => Promise<void>> = [];
    assert.throws(
      () => h.life.networking.sandboxAtStart(c, undo),
      new RegExp(`cannot join network of a non running container: ${other.Id}`),
    );
    other.State.Status = 'running';
    const netns = h.life.networking.sandboxAtStart(c, undo);
    assert.equal(netns, w.controller.endpoints.netnsPath(other.Id));
    await h.life.networking.joinAtStart(c, netns);
    assert.deepEqual(undo, []);
    assert.deepEqual(
      w.driver.calls.filter((s) => s.startsWith('join')),
      [],
    );
  });
});

describe('exit and the restart policy', () => {
  const always = { RestartPolicy: { Name: 'always' } };

  it('backs off 100 ms, doubling to a minute, and again from 100 ms after 10 s up', async () => {
    const c = await created({ HostConfig: always });
    const delays = Array.from({ length: 12 }, () => h.life.restarts.delay(c, 1, 50));
    assert.deepEqual(
      delays,
      [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000],
    );
    assert.equal(h.life.restarts.delay(c, 1, 10_000), 100);
    assert.equal(h.life.restarts.delay(c, 1, 50), 200);
    h.life.restarts.reset(c);
    assert.equal(h.life.restarts.delay(c, 1, 50), 100);
  });

  it('restarts as the policy says: no, on-failure (with its count), unless-stopped', async () => {
    const no = await created({});
    assert.equal(h.life.restarts.delay(no, 1, 0), undefined);
    const onFailure = await created({
      HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } },
    });
    assert.equal(h.life.restarts.delay(onFailure, 0, 0), undefined);
    assert.equal(h.life.restarts.delay(onFailure, 3, 0), 100);
    onFailure.RestartCount = 2;
    assert.equal(h.life.restarts.delay(onFailure, 3, 0), undefined);
    const unless = await created({ HostConfig: { RestartPolicy: { Name: 'unless-stopped' } } });
    assert.equal(h.life.restarts.delay(unless, 0, 0), 100);
  });

  it('records an exit: state, cleanup, die, waiters; then restarts after the delay', async () => {
    const c = await running({ HostConfig: always }, '/rr');
    const next = h.life.wait(c.Id, 'next-exit');
    await h.life.locks.locked(c.Id, () =>
      h.life.onExit(c, { code: 3, finishedAt: new Date(Date.now() + 20) }),
    );
    assert.equal(c.State.Status, 'restarting');
    assert.equal(c.State.ExitCode, 3);
    assert.equal(c.State.Pid, 0);
    assert.equal(c.RestartCount, 1);
    assert.equal(await next, 3);
    assert.deepEqual(h.events, ['die /rr']);
    assert.equal(
      JSON.parse((await w.kv.get(`containers/by-id/${c.Id}`))!.value).State.Status,
      'restarting',
    );
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(h.steps, ['cleanup /rr', 'start /rr']);
    assert.equal(c.State.Status, 'running');
  });

  it('a container stopped on purpose, or --rm, does not restart; --rm is removed', async () => {
    const stopped = await running({ HostConfig: always }, '/ss');
    h.life.stopping.add(stopped.Id);
    await h.life.onExit(stopped, { code: 0, finishedAt: new Date() });
    assert.equal(stopped.State.Status, 'exited');
    assert.equal(h.life.stopping.has(stopped.Id), false);
    const rm = await running({ HostConfig: { AutoRemove: true } }, '/rm');
    await h.life.onExit(rm, { code: 0, finishedAt: new Date() });
    assert.deepEqual(h.steps, ['cleanup /ss', 'cleanup /rm', 'remove /rm']);
    assert.equal(h.repo.find(rm.Id), undefined);
  });

  it('a monitor gone without an exit status: the process is killed, the exit is 255 and says so', async () => {
    const c = await running({}, '/lost');
    await h.life.onExit(c, undefined);
    assert.deepEqual(h.runtimeCalls, [`kill ${c.Id.slice(0, 4)} SIGKILL`]);
    assert.equal(c.State.Status, 'exited');
    assert.equal(c.State.ExitCode, 255);
    assert.match(c.State.Error, /container process lost/);
  });

  it('settle calls a pending restart off: the container is exited for good and its waiters wake', async () => {
    const c = await running({ HostConfig: always }, '/pp');
    await h.life.onExit(c, { code: 1, finishedAt: new Date() });
    assert.equal(c.State.Status, 'restarting');
    const next = h.life.wait(c.Id, 'next-exit');
    h.life.stopping.add(c.Id);
    assert.equal(await h.life.restarts.settle(c), true);
    assert.equal(c.State.Status, 'exited');
    assert.equal(await next, 1);
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(h.steps, ['cleanup /pp'], 'no restart');
  });

  it('restarts scheduled during recovery wait for it; after close none starts', async () => {
    const c = await running({ HostConfig: always }, '/dd');
    c.State.Status = 'restarting';
    let during: string[] = [];
    await h.life.restarts.deferDuring(async () => {
      h.life.restarts.schedule(c, 0);
      await new Promise((r) => setTimeout(r, 50));
      during = [...h.steps];
    });
    assert.deepEqual(during, []);
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(h.steps, ['start /dd']);

    c.State.Status = 'restarting';
    h.life.restarts.schedule(c, 0);
    h.life.restarts.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(h.steps, ['start /dd']);
  });
});

describe('kill', () => {
  it('spells signals as Docker does and refuses what is not one', async () => {
    assert.ok(sameSignal('SIGTERM', 'TERM'));
    assert.ok(sameSignal('15', 'sigterm'));
    assert.ok(!sameSignal('SIGTERM', 'SIGINT'));
    const c = await running({}, '/kk');
    await assert.rejects(kill(h.life, c, 'kk', 'not a signal'), /Invalid signal: not a signal/);
    await kill(h.life, c, 'kk', 'hup');
    assert.deepEqual(h.runtimeCalls, [`kill ${c.Id.slice(0, 4)} SIGHUP`]);
    c.State.Status = 'exited';
    await assert.rejects(
      kill(h.life, c, 'kk', 'hup'),
      new RegExp(`Cannot kill container: kk: Container ${c.Id} is not running`),
    );
  });

  it('SIGKILL of a container waiting to restart calls the restart off without a signal', async () => {
    const c = await running({ HostConfig: { RestartPolicy: { Name: 'always' } } }, '/ww');
    await h.life.onExit(c, { code: 1, finishedAt: new Date() });
    await kill(h.life, c, 'ww');
    assert.equal(c.State.Status, 'exited');
    assert.deepEqual(h.runtimeCalls, []);
    // Another signal than the stop signal leaves a pending restart alone.
    const s = await running(
      { HostConfig: { RestartPolicy: { Name: 'always' } }, StopSignal: 'SIGTERM' },
      '/xx',
    );
    await h.life.onExit(s, { code: 1, finishedAt: new Date() });
    await kill(h.life, s, 'xx', 'SIGHUP');
    assert.equal(s.State.Status, 'restarting');
    assert.deepEqual(h.runtimeCalls, []);
  });
});

describe("the daemon in a running container's files (fsaccess.ts)", () => {
  const freezer = () =>
    h.runtimeCalls.filter((c) => /^(pause|resume) /.test(c)).map((c) => c.split(' ')[0]);
  /** A read of the container's files, under way once this resolves, lasting until `end()`. */
  const reading = async (c: ContainerRecord) => {
    let end!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const done = withRootfs(h.life, c, { write: false }, async () => {
      entered();
      await new Promise<void>((r) => (end = r));
    });
    await inside;
    return { end: () => end(), done };
  };

  it("no unpause thaws a paused container while the daemon reads it; the read's end does", async () => {
    const c = await running({}, 'fz');
    c.State.Paused = true;
    const r = await reading(c);
    await unpause(h.life, c);
    assert.equal(c.State.Paused, false, 'the record says running');
    assert.deepEqual(freezer(), [], 'still frozen: nothing resumed yet');
    r.end();
    await r.done;
    assert.deepEqual(freezer(), ['resume']);
  });

  it('a read asked while an unpause thaws waits for it and freezes again; a pause in flight is not undone', async () => {
    const c = await running({}, 'fw');
    await pause(h.life, c);
    timing.freezerMs = 30;
    try {
      const unpausing = unpause(h.life, c);
      await new Promise((r) => setTimeout(r, 5)); // its thaw under way
      const seen: string[] = [];
      const read = withRootfs(h.life, c, { write: false }, async () => {
        seen.push(freezer().join(' '));
      });
      await Promise.all([unpausing, read]);
      assert.deepEqual(seen, ['pause resume pause'], 'the read ran frozen, after the thaw');
      assert.deepEqual(freezer(), ['pause', 'resume', 'pause', 'resume']);
      // A read that ends while a pause freezes: the pause stands.
      const r = await reading(c);
      const pausing = pause(h.life, c);
      await new Promise((res) => setTimeout(res, 5));
      r.end();
      await Promise.all([pausing, r.done]);
      assert.equal(c.State.Paused, true);
      assert.deepEqual(freezer().slice(4), ['pause'], 'frozen by the read, kept by the pause');
    } finally {
      timing.freezerMs = 0;
    }
  });

  it("a pause during a read keeps it frozen after; a signal's thaw waits for the read", async () => {
    const c = await running({}, 'fy');
    const r = await reading(c);
    await pause(h.life, c);
    r.end();
    await r.done;
    assert.deepEqual(freezer(), ['pause'], 'frozen once, never thawed: the user paused it');
    const again = await reading(c);
    await thawAfterSignal(h.life, c);
    assert.deepEqual(freezer(), ['pause']);
    again.end();
    await again.done;
    assert.deepEqual(freezer(), ['pause', 'resume']);
  });
});

describe('locks and waiters', () => {
  it('runs one container’s operations in order, past failures', async () => {
    const order: string[] = [];
    const slow = h.life.locks.locked('a', async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('first');
      throw new Error('boom');
    });
    const second = h.life.locks.locked('a', async () => void order.push('second'));
    await assert.rejects(slow, /boom/);
    await second;
    assert.deepEqual(order, ['first', 'second']);
  });

  it('lockedLive refuses a container removed while it waited', async () => {
    const c = await created({}, '/gone');
    const removal = h.life.locks.locked(c.Id, () => h.repo.remove(c));
    await assert.rejects(
      h.life.locks.lockedLive(c, async () => 'ran'),
      new RegExp(`No such container: ${c.Id}`),
    );
    await removal;
  });

  it('wait: not-running answers at once for a stopped container; removed waits for removal', async () => {
    const c = await created({});
    assert.equal(await h.life.waiters.wait(c, 'not-running'), 0);
    assert.throws(() => h.life.waiters.wait(c, 'sometime'), /invalid condition: "sometime"/);
    const removed = h.life.waiters.wait(c, 'removed');
    const next = h.life.waiters.wait(c, 'next-exit');
    h.life.waiters.notify(c.Id, 'removed', 7);
    assert.equal(await removed, 7);
    h.life.waiters.notify(c.Id, 'next-exit', 8);
    assert.equal(await next, 8);
  });
});
