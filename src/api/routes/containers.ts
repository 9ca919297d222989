/** /containers/... routes. */
import { goArch } from '../../common/arch.js';
import { invalid } from '../../common/errors.js';
import { readLogs } from '../../containers/logs.js';
import { inspect, listRow, logDriver, statusOf } from '../../containers/render.js';
import type { PendingAttach } from '../../containers/service.js';
import type { ContainerRecord } from '../../containers/types.js';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { BerthError, conflict, messageOf } from '../../common/errors.js';
import { parseDetachKeys } from '../../containers/detach-keys.js';
import { empty, json, type Ctx, type Hijacked, type Router } from '../server.js';
import { writableSink, writeWaiting } from '../flow.js';
import { bridgeToShim, frame, RAW_STREAM, streamType } from '../stream.js';
import { parseFilters, qBool, qInt } from '../../common/validate.js';
import type { Services } from './services.js';
import { containerSizes } from './storage.js';

const STATUSES = new Set([
  'created',
  'restarting',
  'running',
  'removing',
  'paused',
  'exited',
  'dead',
]);

const HEALTH = new Set(['starting', 'healthy', 'unhealthy', 'none']);

/** Refuses bad filter values before any container is looked at, as dockerd. */
function checkFilterValues(f: Map<string, string[]>): void {
  for (const v of f.get('status') ?? []) {
    if (!STATUSES.has(v)) throw invalid(`Invalid filter 'status=${v}'`);
  }
  for (const v of f.get('health') ?? []) {
    if (!HEALTH.has(v)) throw invalid(`Unrecognised filter value for health: ${v}`);
  }
}

/** Docker's container list filters: id, name, label, status, health, exited, ancestor, network. */
function matches(c: ContainerRecord, f: Map<string, string[]>, s: Services): boolean {
  for (const [k, vals] of f) {
    if (vals.length === 0) continue;
    const any = (pred: (v: string) => boolean) => vals.some(pred);
    switch (k) {
      case 'id':
        if (!any((v) => c.Id.startsWith(v))) return false;
        break;
      case 'name':
        if (!any((v) => new RegExp(v.replace(/^\//, '')).test(c.Name.slice(1)))) return false;
        break;
      case 'label':
        if (
          !vals.every((v) => {
            const i = v.indexOf('=');
            return i < 0 ? v in c.Config.Labels : c.Config.Labels[v.slice(0, i)] === v.slice(i + 1);
          })
        )
          return false;
        break;
      case 'status':
        if (!any((v) => statusOf(c) === v)) return false;
        break;
      case 'health':
        if (!any((v) => v === (c.State.Health?.Status ?? 'none'))) return false;
        break;
      case 'exited':
        if (c.State.Status !== 'exited' || !any((v) => Number(v) === c.State.ExitCode))
          return false;
        break;
      case 'ancestor':
        if (!any((v) => v === c.Image || c.ImageID.includes(v.replace(/^sha256:/, ''))))
          return false;
        break;
      case 'network':
        if (
          !any((v) =>
            Object.entries(c.Networks).some(([n, e]) => n === v || e.NetworkID.startsWith(v)),
          )
        )
          return false;
        break;
      default:
        throw invalid(`Invalid filter '${k}'`);
    }
  }
  void s;
  return true;
}

export function containerRoutes(r: Router, s: Services): void {
  const { containers } = s;

  r.on('GET', '/containers/json', async ({ res, query }) => {
    const all = qBool(query.get('all'));
    const limit = qInt(query.get('limit'), 'limit');
    const f = parseFilters(query.get('filters'));
    checkFilterValues(f);
    let list = containers
      .list()
      .filter((c) =>
        all || f.has('status') || f.has('exited')
          ? true
          : c.State.Status === 'running' || c.State.Status === 'restarting',
      )
      .filter((c) => matches(c, f, s))
      .sort((a, b) => b.Created.localeCompare(a.Created));
    if (limit !== undefined && limit > 0) list = list.slice(0, limit);
    const withSize = qBool(query.get('size'));
    const rows = [];
    for (const c of list) {
      const sizes = withSize ? await containerSizes(s, c) : undefined;
      rows.push(listRow(c, s.networks.endpoints.publishedPorts(c.Id), sizes));
    }
    json(res!, 200, rows);
  });

  r.on('POST', '/containers/create', async (ctx) => {
    const body = await ctx.body();
    checkPlatform(ctx.query.get('platform'));
    const name = ctx.query.get('name') ?? undefined;
    json(ctx.res!, 201, await containers.create(body, name || undefined));
  });

  r.on('GET', '/containers/:id/json', async ({ res, params, query }) => {
    json(res!, 200, await inspectContainer(s, params[0]!, qBool(query.get('size'))));
  });

  r.on('POST', '/containers/:id/start', async ({ res, params }) => {
    await containers.start(params[0]!);
    empty(res!, 204);
  });

  r.on('POST', '/containers/:id/stop', async ({ res, params, query }) => {
    await containers.stop(
      params[0]!,
      qInt(query.get('t') ?? query.get('timeout'), 't'),
      query.get('signal') ?? undefined,
    );
    empty(res!, 204);
  });

  r.on('POST', '/containers/:id/restart', async ({ res, params, query }) => {
    await containers.restart(params[0]!, qInt(query.get('t') ?? query.get('timeout'), 't'));
    empty(res!, 204);
  });

  r.on('POST', '/containers/:id/update', async (ctx) => {
    const body = await ctx.body();
    const warnings = await containers.update(ctx.params[0]!, body);
    json(ctx.res!, 200, { Warnings: warnings.length ? warnings : null });
  });

  r.on('POST', '/containers/:id/rename', async ({ res, params, query }) => {
    await containers.rename(params[0]!, query.get('name') ?? '');
    empty(res!, 204);
  });

  r.on('POST', '/containers/:id/pause', async ({ res, params }) => {
    await containers.pause(params[0]!);
    empty(res!, 204);
  });

  r.on('POST', '/containers/:id/unpause', async ({ res, params }) => {
    await containers.unpause(params[0]!);
    empty(res!, 204);
  });

  r.on('POST', '/containers/:id/kill', async ({ res, params, query }) => {
    await containers.kill(params[0]!, query.get('signal') || 'SIGKILL');
    empty(res!, 204);
  });

  // `docker rm --link parent/alias` sends DELETE /containers/parent/alias?link=1;
  // without link=1 that path names the child, as dockerd resolves it.
  const removeLinked = async (res: ServerResponse, name: string, query: URLSearchParams) => {
    if (qBool(query.get('link'))) {
      await containers.networking.removeLink(name);
      return empty(res, 204);
    }
    const c = containers.get(containers.networking.linkByName(name).child);
    await containers.remove(c.Id, qBool(query.get('force')), qBool(query.get('v')));
    s.execs.forget(c.Id);
    empty(res, 204);
  };

  r.on('DELETE', '/containers/:id/:link', ({ res, params, query }) =>
    removeLinked(res!, `${params[0]!}/${params[1]!}`, query),
  );

  r.on('DELETE', '/containers/:id', async ({ res, params, query }) => {
    if (params[0]!.includes('/') || qBool(query.get('link'))) {
      return removeLinked(res!, params[0]!, query);
    }
    const c = containers.get(params[0]!);
    await containers.remove(c.Id, qBool(query.get('force')), qBool(query.get('v')));
    s.execs.forget(c.Id);
    empty(res!, 204);
  });

  r.on('POST', '/containers/:id/wait', async ({ res, params, query }) => {
    const waiting = containers.wait(params[0]!, query.get('condition') ?? 'not-running');
    // The CLI sends `start` only after these headers arrive.
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    const code = await waiting;
    res!.end(JSON.stringify({ Error: null, StatusCode: code }) + '\n');
  });

  r.on('POST', '/containers/:id/resize', async ({ res, params, query }) => {
    const c = containers.get(params[0]!);
    const h = qInt(query.get('h'), 'h') ?? 0;
    const w = qInt(query.get('w'), 'w') ?? 0;
    await containers.resize(c.Id, h, w);
    empty(res!, 200);
  });

  r.on('POST', '/containers/:id/attach', (ctx) => attach(ctx, s, false), { hijack: true });
  r.on('GET', '/containers/:id/attach/ws', (ctx) => attach(ctx, s, true), { hijack: true });

  r.on('GET', '/containers/:id/logs', async ({ res, params, query }) => {
    const c = containers.get(params[0]!);
    const stdout = qBool(query.get('stdout'));
    const stderr = qBool(query.get('stderr'));
    if (!stdout && !stderr) throw invalid('You must choose at least one stream');
    if (logDriver(c) === 'none') {
      throw new BerthError('NOT_IMPLEMENTED', 'configured logging driver does not support reading');
    }
    const tailQ = query.get('tail');
    const tail = !tailQ || tailQ === 'all' ? undefined : qInt(tailQ, 'tail');
    const since = query.get('since') ? Number(query.get('since')) : undefined;
    const until = query.get('until') ? Number(query.get('until')) : undefined;
    if (
      (since !== undefined && Number.isNaN(since)) ||
      (until !== undefined && Number.isNaN(until))
    ) {
      throw invalid('invalid value for since/until: expected a unix timestamp');
    }
    const follow = qBool(query.get('follow'));
    res!.writeHead(200, {
      'Content-Type': c.Config.Tty
        ? 'application/vnd.docker.raw-stream'
        : 'application/vnd.docker.multiplexed-stream',
    });
    res!.flushHeaders();
    const ac = new AbortController();
    res!.on('close', () => ac.abort());
    const out = writableSink(res!);
    const finished = () => containers.find(c.Id)?.State.Status !== 'running';
    for await (const line of readLogs(
      containers.logPath(c.Id),
      { stdout, stderr, follow, tail, timestamps: qBool(query.get('timestamps')), since, until },
      finished,
      ac.signal,
    )) {
      // A client that does not read holds the reader, not a queue here.
      await writeWaiting(out, c.Config.Tty ? line.data : frame(line.stream, line.data));
    }
    res!.end();
  });
}

/**
 * An error found once the stream was promised, written raw as dockerd
 * writes it on the connection it has already taken over, then closed.
 */
function rawError(ctx: Ctx, e: unknown): void {
  const status = e instanceof BerthError ? e.status : 500;
  ctx.socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: ${RAW_STREAM}\r\n\r\n${messageOf(e)}\r\n`,
  );
}

/**
 * POST /containers/{id}/attach and its websocket twin GET .../attach/ws:
 * with `logs`, the log so far (an exited container's output at once); with
 * `stream`, the live streams, now or from the next start, until the process
 * ends or the client detaches (detach keys, TTY only, as dockerd). A
 * websocket gets the bytes as binary frames, never multiplexed.
 */
async function attach(ctx: Ctx, s: Services, ws: boolean): Promise<void> {
  const { containers } = s;
  const q = ctx.query;
  let c: ContainerRecord;
  let detachKeys: Buffer | undefined;
  try {
    c = containers.get(ctx.params[0]!);
    const spec = q.get('detachKeys') ?? '';
    detachKeys = parseDetachKeys(spec);
    if (!detachKeys) throw invalid(`Invalid detach keys (${spec}) provided`);
    if (c.State.Status === 'running' && c.State.Paused) {
      throw conflict(`container ${ctx.params[0]!} is paused, unpause the container before attach`);
    }
  } catch (e) {
    if (ws) throw e;
    return rawError(ctx, e);
  }
  const tty = c.Config.Tty;
  const o = {
    stdin: qBool(q.get('stdin')),
    stdout: qBool(q.get('stdout')),
    stderr: qBool(q.get('stderr')),
    tty,
    raw: tty || ws,
    detachKeys,
  };
  // Registered before the upgrade is answered: a start that comes meanwhile
  // (`docker run` sends it at once) then has its shim wait for this client,
  // instead of starting without it and leaving it waiting for ever.
  const stream = qBool(q.get('stream'));
  // The shim's opener, kept until the client's stream is ready for it.
  const slot: { open?: Parameters<PendingAttach>[0]; bridge?: PendingAttach } = {};
  const ready: PendingAttach = (open) =>
    slot.bridge ? slot.bridge(open) : void (slot.open = open);
  if (stream) containers.whenAttachable(c.Id, ready);
  let h: Hijacked | undefined;
  try {
    if (ws) h = ctx.websocket();
    else h = await ctx.hijack(streamType(tty, ctx.version));
  } finally {
    if (!h && stream) containers.dropPendingAttach(c.Id, ready);
  }
  if (!h) return;
  const hj = h;
  if (stream) hj.onClose(() => containers.dropPendingAttach(c.Id, ready));
  // A client gone before its stream began: nothing to replay, nothing to bridge.
  if (hj.closed) return;
  if (qBool(q.get('logs')) && (o.stdout || o.stderr)) {
    const ac = new AbortController();
    hj.onClose(() => ac.abort());
    for await (const line of readLogs(
      containers.logPath(c.Id),
      { stdout: o.stdout, stderr: o.stderr, follow: false, timestamps: false },
      () => true,
      ac.signal,
    )) {
      if (hj.closed) return;
      await writeWaiting(hj, o.raw ? line.data : frame(line.stream, line.data));
    }
  }
  if (!stream || hj.closed) return hj.end();
  slot.bridge = (open) => void bridgeToShim(open, hj, o);
  if (slot.open) slot.bridge(slot.open);
}

/** Go's name of this machine's architecture, as image platforms spell it. */

/**
 * `?platform=` of a create: images here are only for the host's own
 * platform, so any other is refused rather than ignored.
 */
function checkPlatform(p: string | null): void {
  if (!p) return;
  const own = `linux/${goArch()}`;
  const [os, arch] = p.toLowerCase().split('/');
  if (os === 'linux' && (arch === undefined || own === `linux/${arch}`)) return;
  throw invalid(`berth does not support --platform ${p} yet: this host runs ${own} images only`);
}

/** `GET /containers/{id}/json`'s answer (also the live view's, decision 0034). */
export async function inspectContainer(s: Services, ref: string, size: boolean): Promise<unknown> {
  const c = s.containers.get(ref);
  const img = await s.images.resolve(c.ImageID);
  const sizes = size ? await containerSizes(s, c) : undefined;
  return inspect(c, {
    graph: s.containers.graphDriverData(c.Id, img?.layerDirs ?? []),
    dir: s.containers.dir(c.Id),
    logPath: s.containers.logPath(c.Id),
    netns: c.HostConfig.NetworkMode === 'host' ? undefined : s.networks.endpoints.netnsPath(c.Id),
    published: s.networks.endpoints.publishedPorts(c.Id),
    ...(sizes ? { sizes } : {}),
  });
}
