/** /networks routes: list (with filters), inspect, create, remove, connect, disconnect, prune. */
import { invalid } from '../../common/errors.js';
import type { NetworkRecord } from '../../network/types.js';
import { PREDEFINED } from '../../network/records.js';
import { GWBRIDGE, gatewayEndpointName } from '../../network/gwbridge.js';
import { checkEndpointConfig } from '../../containers/create-fields.js';
import { empty, json, type Router } from '../server.js';
import { labelsMatch, pruneFilter } from '../prune.js';
import { obj, optBool, optStr, parseFilters } from '../../common/validate.js';
import type { Services } from './services.js';

/** What `network prune` removes as dockerd 20.10 filters it (prune.ts). */
export function networkPruneFilter(
  f: Map<string, string[]>,
  now = Date.now(),
): (n: NetworkRecord) => boolean {
  const wanted = pruneFilter(f, [], now);
  return (n) => wanted({ labels: n.Labels, created: Date.parse(n.Created) });
}

const LIST_FILTERS = ['name', 'id', 'driver', 'scope', 'type', 'label', 'dangling'];

/**
 * `network ls` filters as one predicate, every filter checked first (a bad
 * one is refused even when no network would reach it); `inUse`: whether
 * containers are attached (for dangling).
 */
export function listFilter(
  f: Map<string, string[]>,
  inUse: (n: NetworkRecord) => boolean,
): (n: NetworkRecord) => boolean {
  for (const k of f.keys()) if (!LIST_FILTERS.includes(k)) throw invalid(`Invalid filter '${k}'`);
  const dangling = f.get('dangling') ?? [];
  if (dangling.length > 1) throw invalid('got more than one value for filter key "dangling"');
  if (dangling[0] !== undefined && !['1', 'true', '0', 'false'].includes(dangling[0])) {
    throw invalid(
      `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`,
    );
  }
  const builtin = (n: NetworkRecord) => PREDEFINED.includes(n.Name);
  const tests: Record<string, (n: NetworkRecord, vals: string[]) => boolean> = {
    name: (n, vals) => vals.some((v) => n.Name.includes(v)),
    id: (n, vals) => vals.some((v) => n.Id.startsWith(v)),
    driver: (n, vals) => vals.includes(n.Driver),
    scope: (n, vals) => vals.includes(n.Scope),
    type: (n, vals) =>
      vals.some((v) => (v === 'builtin' ? builtin(n) : v === 'custom' ? !builtin(n) : false)),
    label: (n, vals) => labelsMatch(n.Labels, vals),
    // Networks no container uses, other than the predefined ones (as Docker
    // documents it; 20.10 itself counts every custom network:
    // docs/reference/docker-20.10-networking.md, "Network filters").
    dangling: (n, [v]) => (!builtin(n) && !inUse(n)) === (v === '1' || v === 'true'),
  };
  const active = [...f].filter(([, vals]) => vals.length > 0);
  return (n) => active.every(([k, vals]) => tests[k]!(n, vals));
}

/** A network as the API shows it: without Berth's own facts. */
const shown = ({ berth: _own, ...n }: NetworkRecord): Omit<NetworkRecord, 'berth'> => n;

export function networkRoutes(r: Router, s: Services): void {
  const containersOn = async (n: NetworkRecord) => {
    const out: Record<string, object> = {};
    // Overlay containers' way out, not among their networks (gwbridge.ts).
    if (n.Name === GWBRIDGE) {
      for (const e of await s.networks.endpoints.on(n.Id)) {
        out[e.ContainerID] = {
          Name: gatewayEndpointName(e.ContainerID),
          EndpointID: e.Id,
          MacAddress: e.Mac ?? '',
          IPv4Address: e.IPv4 ? `${e.IPv4}/${e.PrefixLen}` : '',
          IPv6Address: e.IPv6 ? `${e.IPv6}/${e.PrefixLen6}` : '',
        };
      }
    }
    for (const c of s.containers.list()) {
      const ep = Object.values(c.Networks).find((e) => e.NetworkID === n.Id);
      if (!ep || !ep.EndpointID) continue;
      out[c.Id] = {
        Name: c.Name.slice(1),
        EndpointID: ep.EndpointID,
        MacAddress: ep.MacAddress,
        IPv4Address: ep.IPAddress ? `${ep.IPAddress}/${ep.IPPrefixLen}` : '',
        IPv6Address: ep.GlobalIPv6Address
          ? `${ep.GlobalIPv6Address}/${ep.GlobalIPv6PrefixLen}`
          : '',
      };
    }
    // Endpoints of a global network on other hosts, as dockerd 20.10 lists them.
    if (n.Scope === 'global') {
      for (const e of s.networks.global?.endpointsOf(n.Id) ?? []) {
        if (Object.values(out).some((o) => (o as { EndpointID: string }).EndpointID === e.Id))
          continue;
        out[`ep-${e.Id}`] = {
          Name: e.Name,
          EndpointID: e.Id,
          MacAddress: e.Mac,
          IPv4Address: `${e.IPv4}/${e.PrefixLen}`,
          IPv6Address: '',
        };
      }
    }
    return out;
  };

  r.on('GET', '/networks', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    const all = s.networks.list();
    const used = new Set<string>();
    for (const n of all) if (Object.keys(await containersOn(n)).length) used.add(n.Id);
    json(
      res!,
      200,
      all
        .filter(listFilter(f, (x) => used.has(x.Id)))
        .map((n) => ({ ...shown(n), Containers: {} })),
    );
  });

  r.on('GET', '/networks/:id', async ({ res, params }) => {
    const n = s.networks.get(params[0]!);
    json(res!, 200, { ...shown(n), Containers: await containersOn(n) });
  });

  r.on('POST', '/networks/create', async (ctx) => {
    const created = await s.networks.createNetwork(await ctx.body());
    const n = s.networks.get(created.Id);
    s.events.publish('network', 'create', n.Id, { name: n.Name, type: n.Driver });
    json(ctx.res!, 201, created);
  });

  r.on('DELETE', '/networks/:id', async ({ res, params }) => {
    const n = s.networks.get(params[0]!);
    await s.networks.removeNetwork(n.Id);
    s.events.publish('network', 'destroy', n.Id, { name: n.Name, type: n.Driver });
    empty(res!, 204);
  });

  r.on('POST', '/networks/:id/connect', async (ctx) => {
    const b = obj(await ctx.body(), 'body');
    const container = optStr(b, 'Container');
    if (!container) throw invalid('Container is required');
    checkEndpointConfig(b.EndpointConfig, 'EndpointConfig');
    const net = s.networks.get(ctx.params[0]!);
    await s.containers.networking.connect(
      container,
      net.Id,
      obj(b.EndpointConfig, 'EndpointConfig'),
    );
    empty(ctx.res!, 200);
  });

  r.on('POST', '/networks/:id/disconnect', async (ctx) => {
    const b = obj(await ctx.body(), 'body');
    const container = optStr(b, 'Container');
    if (!container) throw invalid('Container is required');
    await s.containers.networking.disconnect(
      container,
      ctx.params[0]!,
      optBool(b, 'Force') ?? false,
    );
    empty(ctx.res!, 200);
  });

  r.on('POST', '/networks/prune', async ({ res, query }) => {
    const wanted = networkPruneFilter(parseFilters(query.get('filters')));
    const deleted: string[] = [];
    for (const n of s.networks.list()) {
      if (PREDEFINED.includes(n.Name) || !wanted(n)) continue;
      if (Object.keys(await containersOn(n)).length) continue;
      try {
        await s.networks.removeNetwork(n.Id);
        s.events.publish('network', 'destroy', n.Id, { name: n.Name, type: n.Driver });
        deleted.push(n.Name);
      } catch {
        // in use since the check above: kept
      }
    }
    json(res!, 200, { NetworksDeleted: deleted.length ? deleted : null });
  });
}
