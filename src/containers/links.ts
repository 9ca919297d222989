/** A container's --link children: stored in Docker's form, resolved to addresses, names and variables. */
import { conflict, invalid } from '../common/errors.js';
import { linkEnv, linkHostNames, parseLink } from '../network/links/links.js';
import type { LinkedEntry } from './bundle.js';
import type { ContainerRepo } from './repo.js';
import type { ContainerRecord } from './types.js';

/** `--link child[:alias]` as Docker stores it, "/child:/parent/alias"; the child must exist (400). */
export function normaliseLinks(repo: ContainerRepo, c: ContainerRecord): string[] | null {
  const links = c.HostConfig.Links;
  if (!links?.length) return null;
  return links.map((spec) => {
    // Clients send "child" or "child:alias"; the stored form parses the same.
    const { name, alias } = parseLink(spec);
    const target = repo.find(name);
    if (!target) throw invalid(`could not get container for ${name}: No such container: ${name}`);
    return `${target.Name}:${c.Name}/${alias}`;
  });
}

/**
 * The links of a container on the default bridge: each child's address,
 * hosts names and variables. A stopped child is an error (409), as in Docker.
 */
export function resolveLinks(repo: ContainerRepo, c: ContainerRecord): LinkedEntry[] {
  if (!c.HostConfig.Links?.length || !['default', 'bridge'].includes(c.HostConfig.NetworkMode)) {
    return [];
  }
  return c.HostConfig.Links.map((l) => {
    const [childName = '', aliasPath = ''] = l.split(':');
    const alias = aliasPath.slice(aliasPath.lastIndexOf('/') + 1);
    const child = repo.find(childName);
    const ip = child?.Networks.bridge?.IPAddress;
    if (!child || child.State.Status !== 'running' || !ip) {
      throw conflict(`Cannot link to a non running container: ${childName} AS ${aliasPath}`);
    }
    const name = child.Name.slice(1);
    return {
      ip,
      names: linkHostNames(alias, name, child.Id),
      env: linkEnv(c.Name, alias, {
        name,
        ip,
        exposedPorts: Object.keys(child.Config.ExposedPorts ?? {}),
        env: child.Config.Env,
      }),
    };
  });
}
