/**
 * The everyday per-container tools beyond the lifecycle: GET
 * /containers/{id}/top (the host's ps over the container's cgroup) and
 * /containers/{id}/stats (its cgroup counters, one sample, or one a second).
 */
import { emptyStats, sample, type StatsJson } from '../../containers/stats.js';
import { top } from '../../containers/top.js';
import { conflict, invalid } from '../../common/errors.js';
import { qBool } from '../../common/validate.js';
import {
  archiveError,
  archivePath,
  extractInto,
  lstatIsDir,
  resolvePath,
  statHeader,
  tarTree,
} from '../../containers/archive.js';
import { containerChanges } from '../../containers/changes.js';
import { resolveUser } from '../../containers/user.js';
import { empty, json, type Router } from '../server.js';
import { sendAllButLast } from '../tar-answer.js';
import type { Services } from './services.js';

/** Docker's BoolValueOrDefault: absent is `def`; "", 0, no, false, none are false. */
function qBoolDefault(v: string | null, def: boolean): boolean {
  if (v === null) return def;
  return !['', '0', 'no', 'false', 'none'].includes(v.trim().toLowerCase());
}

const TICK_MS = 1000;

export function containerToolRoutes(r: Router, s: Services): void {
  const { containers } = s;

  r.on('GET', '/containers/:id/top', async ({ res, params, query }) => {
    const c = containers.get(params[0]!);
    if (c.State.Status === 'restarting') {
      throw conflict(`Container ${c.Id} is restarting, wait until the container is running`);
    }
    if (c.State.Status !== 'running') throw conflict(`Container ${c.Id} is not running`);
    const list = await top(containers.cgroupPids(c.Id), query.get('ps_args') ?? '');
    containers.emit(c, 'top');
    json(res!, 200, list);
  });

  r.on('GET', '/containers/:id/stats', async ({ res, params, query }) => {
    const c = containers.get(params[0]!);
    const stream = qBoolDefault(query.get('stream'), true);
    const oneShot = qBoolDefault(query.get('one-shot'), false);
    if (stream && oneShot) throw invalid('cannot have stream=true and one-shot=true');
    const running = () => c.State.Status === 'running';
    if (!running() && !stream) return json(res!, 200, emptyStats(c.Name, c.Id));
    let prev: StatsJson | undefined;
    const next = (): StatsJson => {
      const cur = running()
        ? sample(
            {
              name: c.Name,
              id: c.Id,
              pid: c.State.Pid,
              hostNetwork: c.HostConfig.NetworkMode === 'host',
            },
            containers.cgroupDirs(c.Id),
          )
        : emptyStats(c.Name, c.Id);
      if (prev) {
        cur.precpu_stats = prev.cpu_stats;
        cur.preread = prev.read;
      }
      prev = cur;
      return cur;
    };
    if (oneShot) return json(res!, 200, next());
    if (!stream) {
      // As dockerd: a first sample primes the CPU figures, the second is sent.
      next();
      await new Promise((ok) => setTimeout(ok, TICK_MS));
      return json(res!, 200, next());
    }
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    let closed = false;
    res!.on('close', () => (closed = true));
    while (!closed && containers.find(c.Id) === c) {
      res!.write(JSON.stringify(next()) + '\n');
      await new Promise((ok) => setTimeout(ok, TICK_MS));
    }
    res!.end();
  });

  // `docker cp`: the archive API (containers/archive.ts for the path rules).
  r.on('GET', '/containers/:id/archive', async ({ req, res, params, query }) => {
    const ref = params[0]!;
    const path = query.get('path') ?? '';
    if (!path) throw invalid('path is required');
    const c = containers.get(ref);
    let last: Buffer | undefined;
    await containers.withRootfs(c.Id, { write: false }, async (root) => {
      let out;
      try {
        out = archivePath(root, resolvePath(root, path));
      } catch (e) {
        throw archiveError(e, path, ref);
      }
      res!.writeHead(200, {
        'Content-Type': 'application/x-tar',
        'X-Docker-Container-Path-Stat': statHeader(out.stat),
      });
      if (req.method === 'HEAD') return;
      containers.emit(c, 'archive-path');
      last = await sendAllButLast(out.tar, res!);
    });
    // The archive's end, after the thaw (tar-answer.ts).
    res!.end(last);
  });

  r.on('PUT', '/containers/:id/archive', async ({ req, res, params, query }) => {
    const ref = params[0]!;
    const path = query.get('path') ?? '';
    if (!path) throw invalid('path is required');
    const c = containers.get(ref);
    await containers.withRootfs(c.Id, { write: true }, async (root) => {
      const target = resolvePath(root, path);
      try {
        if (!lstatIsDir(target)) {
          throw invalid('extraction point is not a directory');
        }
      } catch (e) {
        throw archiveError(e, path, ref);
      }
      if (c.HostConfig.ReadonlyRootfs) throw invalid('container rootfs is marked read-only');
      const chown =
        qBool(query.get('copyUIDGID')) && c.Config.User
          ? await resolveUser(root, c.Config.User)
          : undefined;
      await extractInto(target.host, req, {
        noOverwriteDirNonDir: qBool(query.get('noOverwriteDirNonDir')),
        chown,
      });
    });
    containers.emit(c, 'extract-to-dir');
    empty(res!, 200);
  });

  r.on('GET', '/containers/:id/changes', async ({ res, params }) => {
    const c = containers.get(params[0]!);
    const img = await s.images.resolve(c.ImageID);
    json(res!, 200, await containerChanges(containers.upperDir(c.Id), img?.layerDirs ?? []));
  });

  r.on('GET', '/containers/:id/export', async ({ res, params }) => {
    const c = containers.get(params[0]!);
    let last: Buffer | undefined;
    await containers.withRootfs(c.Id, { write: false }, async (root) => {
      res!.writeHead(200, { 'Content-Type': 'application/x-tar' });
      last = await sendAllButLast(tarTree(root, ''), res!);
    });
    // The archive's end, after the thaw (tar-answer.ts).
    res!.end(last);
    containers.emit(c, 'export');
  });
}
