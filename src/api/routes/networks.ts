/** /networks routes (list and inspect; create, connect and the rest arrive with the bridge driver). */
import { BerthError, invalid } from '../../common/errors.js';
import type { NetworkRecord } from '../../network/types.js';
import { json, type Router } from '../server.js';
import { parseFilters } from '../validate.js';
import type { Services } from './services.js';

function matches(n: NetworkRecord, f: Map<string, string[]>): boolean {
  for (const [k, vals] of f) {
    if (!vals.length) continue;
    const ok = (() => {
      switch (k) {
        case 'name':
          return vals.some((v) => n.Name.includes(v));
        case 'id':
          return vals.some((v) => n.Id.startsWith(v));
        case 'driver':
          return vals.includes(n.Driver);
        case 'scope':
          return vals.includes(n.Scope);
        case 'type':
          return vals.some((v) =>
            v === 'builtin'
              ? ['bridge', 'host', 'none'].includes(n.Name)
              : v === 'custom'
                ? !['bridge', 'host', 'none'].includes(n.Name)
                : false,
          );
        case 'label':
          return vals.every((v) => {
            const i = v.indexOf('=');
            return i < 0 ? v in n.Labels : n.Labels[v.slice(0, i)] === v.slice(i + 1);
          });
        case 'dangling':
          return true;
        default:
          throw invalid(`Invalid filter '${k}'`);
      }
    })();
    if (!ok) return false;
  }
  return true;
}

export function networkRoutes(r: Router, s: Services): void {
  const containersOn = (n: NetworkRecord) => {
    const out: Record<string, object> = {};
    for (const c of s.containers.repo.all()) {
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
    return out;
  };

  r.on('GET', '/networks', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    json(
      res!,
      200,
      s.networks
        .list()
        .filter((n) => matches(n, f))
        .map((n) => ({ ...n, Containers: {} })),
    );
  });

  r.on('GET', '/networks/:id', async ({ res, params }) => {
    const n = s.networks.get(params[0]!);
    json(res!, 200, { ...n, Containers: containersOn(n) });
  });

  const notYet = async () => {
    throw new BerthError(
      'NOT_IMPLEMENTED',
      'this Berth version has only the predefined networks: network create, connect, disconnect and rm arrive with the bridge driver',
    );
  };
  r.on('POST', '/networks/create', notYet);
  r.on('POST', '/networks/:id/connect', notYet);
  r.on('POST', '/networks/:id/disconnect', notYet);
  r.on('DELETE', '/networks/:id', async ({ params }) => {
    const n = s.networks.get(params[0]!);
    if (['bridge', 'host', 'none'].includes(n.Name)) {
      throw new BerthError('FORBIDDEN', `${n.Name} is a pre-defined network and cannot be removed`);
    }
    await notYet();
  });
  r.on('POST', '/networks/prune', async ({ res }) => json(res!, 200, { NetworksDeleted: null }));
}
