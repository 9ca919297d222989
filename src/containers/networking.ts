/**
 * A container's side of networking: the endpoint settings and published
 * ports it asks for, its sandbox and the joins of its networks when it
 * starts (in order, the default route by libnetwork's), its /etc/hosts and
 * resolv.conf as its networks and --link children change, and `network
 * connect` / `disconnect` on it.
 *
 * Size: joins, connect and disconnect share the hosts/resolv.conf rewrites;
 * those files (and host-gateway) are the next to move out, to files.ts.
 */
import { join } from 'node:path';
import { conflict, forbidden, invalid, messageOf, notFound } from '../common/errors.js';
import { rewriteSync } from '../common/rewrite.js';
import { Stopwatch } from '../common/stopwatch.js';
import type { Logger } from '../common/log.js';
import type { EventBus } from '../events/bus.js';
import type { NetworkController } from '../network/controller.js';
import type { Joined } from '../network/records.js';
import { type EndpointSettings, type NetworkRecord } from '../network/types.js';
import { GWBRIDGE, needsGatewayBridge } from '../network/gwbridge.js';
import { hostsFor, resolvFor, type DaemonDns, type LinkedEntry } from './bundle.js';
import {
  configuredEndpoint,
  endpointConfigFor,
  gatewayNetwork,
  joinOptions,
  joinedSettings,
  portsOf,
} from './endpoint-settings.js';
import { resolveLinks } from './links.js';
import type { ContainerRepo } from './repo.js';
import type { Op } from '../store/types.js';
import type { ContainerRecord } from './types.js';

/** What the container service lends this part. */
export interface NetworkingDeps {
  repo: ContainerRepo;
  networks: NetworkController;
  events: EventBus;
  dns: DaemonDns;
  log: Logger;
  /** The container's own directory (hosts and resolv.conf live there). */
  dir: (id: string) => string;
  /** The container service's per-container lock. */
  locked: <T>(id: string, fn: () => Promise<T>) => Promise<T>;
  /** --host-gateway-ip: what `--add-host NAME:host-gateway` names instead of the default bridge's gateway. */
  hostGatewayIp?: string;
}

export class ContainerNetworking {
  constructor(private readonly deps: NetworkingDeps) {}

  /** dockerd's HostGatewayIP: --host-gateway-ip, else the default bridge's IPv4 gateway. */
  hostGateway(): string | undefined {
    if (this.deps.hostGatewayIp) return this.deps.hostGatewayIp;
    const bridge = this.deps.networks.find('bridge');
    return bridge?.IPAM.Config.find((p) => p.Gateway && !p.Gateway.includes(':'))?.Gateway;
  }

  /**
   * Start's sandbox: a namespace made for the container, or the one of the
   * running container whose network it shares. `undo` gets the sandbox's
   * teardown as soon as it exists: it removes every endpoint a failed join
   * loop left. Returns the namespace's path (none for `--network host`).
   */
  sandboxAtStart(c: ContainerRecord, undo: Array<() => Promise<void>>): string | undefined {
    const mode = c.HostConfig.NetworkMode;
    const endpoints = this.deps.networks.endpoints;
    if (mode.startsWith('container:')) {
      const other = this.deps.repo.get(mode.slice('container:'.length));
      if (other.State.Status !== 'running') {
        throw conflict(`cannot join network of a non running container: ${other.Id}`);
      }
      return endpoints.netnsPath(other.Id);
    }
    const netnsPath = endpoints.createSandbox(c.Id, mode);
    undo.push(() => endpoints.teardown(c.Id));
    return netnsPath;
  }

  /** Start's joins (joinAll) into the sandbox: none when it is another container's. */
  async joinAtStart(
    c: ContainerRecord,
    netnsPath: string | undefined,
    othersConverged?: (wait: Promise<void>) => void,
  ): Promise<void> {
    if (c.HostConfig.NetworkMode.startsWith('container:')) return;
    await this.joinAll(c, netnsPath, othersConverged);
  }

  /**
   * Joins a starting container to its networks: the primary (NetworkMode)
   * first, then those it was connected to while stopped; the default route
   * goes to the first in libnetwork's order, not the first joined.
   * `c.Networks` lists each endpoint as soon as it is joined (so a failure
   * part-way leaves the record naming what the teardown removes), and only
   * the joined networks once all are.
   */
  async joinAll(
    c: ContainerRecord,
    netnsPath: string | undefined,
    othersConverged?: (wait: Promise<void>) => void,
  ): Promise<void> {
    const networks = this.deps.networks;
    const primary = networks.forMode(c.HostConfig.NetworkMode);
    const names = [primary.Name, ...Object.keys(c.Networks).filter((n) => n !== primary.Name)];
    // The default route: libnetwork's endpoint order, not attach order.
    const gateway = gatewayNetwork(names.flatMap((n) => networks.find(n) ?? []));
    const joined: ContainerRecord['Networks'] = {};
    for (const name of names) {
      const ec = endpointConfigFor(c, name);
      const r = await networks.endpoints.join(c.Id, netnsPath, name, {
        ...joinOptions(c, ec, name === gateway?.Name, name === primary.Name),
        ...(othersConverged ? { othersConverged } : {}),
      });
      joined[r.name] = joinedSettings(r.endpoint, ec);
      c.Networks = { ...c.Networks, ...joined };
    }
    c.Networks = joined;
    await this.followGatewayBridge(c, this.netsOf(c), netnsPath);
  }

  /**
   * The gateway bridge follows a running container's networks (gwbridge.ts):
   * joined after them, with the default route and the published ports, when
   * an overlay needs it; left when a bridge network gives the route. Its
   * endpoint is not among the container's networks (Docker's is not either).
   */
  private async followGatewayBridge(
    c: ContainerRecord,
    nets: NetworkRecord[],
    netnsPath: string | undefined,
  ): Promise<void> {
    const networks = this.deps.networks;
    const need = needsGatewayBridge(nets);
    const gw = need ? await networks.gatewayBridge() : networks.find(GWBRIDGE);
    if (gw?.Name !== GWBRIDGE) return;
    const has = await networks.endpoints.has(gw.Id, c.Id);
    if (need && !has) {
      await networks.endpoints.join(c.Id, netnsPath, gw.Id, {
        defaultRoute: true,
        ports: portsOf(c),
      });
    } else if (!need && has) {
      await networks.endpoints.leave(c.Id, gw.Id);
    }
  }

  /** Points a running container's default route at the first of its networks in libnetwork's order. */
  private async routeByOrder(c: ContainerRecord): Promise<void> {
    const gw = gatewayNetwork(this.netsOf(c));
    const ep = gw && c.Networks[gw.Name];
    if (!ep?.Gateway && !ep?.IPv6Gateway) return;
    await this.deps.networks.endpoints
      .setDefaultRoute(c.Id, [ep.Gateway, ep.IPv6Gateway])
      .catch((e) => this.deps.log.warn(`default route of ${c.Name}: ${messageOf(e)}`));
  }

  /** The networks a container's record lists (those that still exist). */
  private netsOf(c: ContainerRecord): NetworkRecord[] {
    return Object.keys(c.Networks).flatMap((n) => this.deps.networks.find(n) ?? []);
  }

  /** The resolved --link children of a container (also recomputed for each exec). */
  linksOf(c: ContainerRecord): LinkedEntry[] {
    return resolveLinks(this.deps.repo, c);
  }

  /** Where Berth's resolver answers on a network whose endpoints show no gateway (an overlay's). */
  readonly resolverOf = (ep: EndpointSettings): string | undefined =>
    this.deps.networks.resolverAt(ep.NetworkID);

  /** After connect/disconnect: the container's /etc/hosts and resolv.conf follow its networks. */
  rewriteFiles(c: ContainerRecord): void {
    if (c.HostConfig.NetworkMode === 'host') return;
    // In place (they are bind-mounted into the container) and synchronous:
    // two small rewrites cost ~0.02 ms inline, ~1 ms through the thread pool.
    rewriteSync(
      join(this.deps.dir(c.Id), 'hosts'),
      hostsFor(c, this.linksOf(c), this.hostGateway()),
    );
    rewriteSync(
      join(this.deps.dir(c.Id), 'resolv.conf'),
      resolvFor(c, this.deps.dns, this.resolverOf),
    );
  }

  /** A child came back (maybe with a new address): rewrite its running parents' /etc/hosts. */
  refreshLinkParents(child: ContainerRecord): void {
    for (const p of this.linkParents(child.Name)) {
      if (p.State.Status !== 'running') continue;
      try {
        rewriteSync(
          join(this.deps.dir(p.Id), 'hosts'),
          hostsFor(p, this.linksOf(p), this.hostGateway()),
        );
      } catch (e) {
        this.deps.log.warn(`links of ${p.Name}: ${messageOf(e)}`);
      }
    }
  }

  /**
   * A link by its name, "parent/alias" (dockerd's name of the child under
   * that parent): the parent and its stored entry "/child:/parent/alias".
   * 404 "No such container: <name>" when there is none, as dockerd.
   */
  linkByName(name: string): { parent: ContainerRecord; entry: string; child: string } {
    const full = name.startsWith('/') ? name : `/${name}`;
    const cut = full.lastIndexOf('/');
    const parentName = full.slice(0, cut);
    const parent = this.deps.repo.all().find((p) => p.Name === parentName);
    const entry = parent?.HostConfig.Links?.find((l) => l.slice(l.indexOf(':') + 1) === full);
    if (!parent || !entry) throw notFound(`No such container: ${name}`);
    return { parent, entry, child: entry.slice(0, entry.indexOf(':')) };
  }

  /**
   * `DELETE /containers/{parent}/{alias}?link=1` (`docker rm --link`): the
   * entry leaves the parent's HostConfig.Links; a running parent's
   * /etc/hosts loses the child's line now, and an exec's environment the
   * variables (docs/reference/docker-20.10-dockerpy-net.md).
   * `name` without a slash is the container itself: 409 (dockerd: 500).
   */
  async removeLink(name: string): Promise<void> {
    if (!name.replace(/^\//, '').includes('/')) {
      this.deps.repo.get(name);
      throw conflict('Conflict, cannot remove the default link name of the container');
    }
    const { parent } = this.linkByName(name);
    await this.deps.locked(parent.Id, async () => {
      const { entry } = this.linkByName(name);
      const rest = (parent.HostConfig.Links ?? []).filter((l) => l !== entry);
      const next = {
        ...parent,
        HostConfig: { ...parent.HostConfig, Links: rest.length ? rest : null },
      };
      await this.deps.repo.save(next);
      Object.assign(parent, next);
    });
    if (parent.State.Status !== 'running') return;
    try {
      rewriteSync(
        join(this.deps.dir(parent.Id), 'hosts'),
        hostsFor(parent, this.linksOf(parent), this.hostGateway()),
      );
    } catch (e) {
      this.deps.log.warn(`links of ${parent.Name}: ${messageOf(e)}`);
    }
  }

  /** The containers whose --link entries ("/child:/parent/alias") name `child` (with its slash). */
  private linkParents(child: string): ContainerRecord[] {
    return this.deps.repo
      .all()
      .filter((p) => p.HostConfig.Links?.some((l) => l.startsWith(`${child}:`)));
  }

  /**
   * The networking side of renaming `c` to `name` (with its slash): the
   * record as it will be (DNSNames, its own --link entries), its link
   * parents' records (their entries naming it), its endpoints' records, as
   * store ops; `publish` after the commit. Parents' /etc/hosts keep the old
   * name until they restart, as Docker's.
   */
  async renamed(
    c: ContainerRecord,
    name: string,
  ): Promise<{
    next: ContainerRecord;
    parents: ContainerRecord[];
    ops: Op[];
    publish: () => void;
    /** Names the endpoints in the cluster store back, when the rename is not committed. */
    undo: () => Promise<void>;
  }> {
    const old = c.Name;
    const rename = (n: string) => (n === old ? name : n);
    // DNSNames hold the name without its slash.
    const Networks = Object.fromEntries(
      Object.entries(c.Networks).map(([k, e]) => [
        k,
        {
          ...e,
          DNSNames: e.DNSNames?.map((d) => (d === old.slice(1) ? name.slice(1) : d)) ?? null,
        },
      ]),
    );
    // Stored as "/child:/parent/alias": this container as parent, then as child.
    const relink = (links: string[] | null | undefined, asParent: boolean) =>
      links?.map((l) => {
        const [child = '', path = ''] = l.split(':');
        return asParent ? `${child}:${name}${path.slice(old.length)}` : `${rename(child)}:${path}`;
      }) ?? null;
    const next: ContainerRecord = {
      ...c,
      Name: name,
      Networks,
      HostConfig: { ...c.HostConfig, Links: relink(c.HostConfig.Links, true) },
    };
    const parents = this.linkParents(old)
      .filter((p) => p.Id !== c.Id)
      .map((p) => ({
        ...p,
        HostConfig: { ...p.HostConfig, Links: relink(p.HostConfig.Links, false) },
      }));
    const eps = await this.deps.networks.endpoints.renamed(c.Id, name.slice(1));
    return {
      next,
      parents,
      ops: [...parents.map((p) => this.deps.repo.saveOp(p)), ...eps.ops],
      publish: eps.publish,
      undo: eps.undo,
    };
  }

  /** POST /networks/{id}/connect: now if the container runs, else at its next start. */
  async connect(
    ref: string,
    netRef: string,
    endpointConfig: Record<string, unknown>,
  ): Promise<void> {
    const net = this.deps.networks.get(netRef);
    const c = this.deps.repo.get(ref);
    const mode = c.HostConfig.NetworkMode;
    if (mode === 'host' || net.Name === 'host') {
      throw invalid(
        'container cannot be disconnected from host network or connected to host network',
      );
    }
    if (mode === 'none' || net.Name === 'none' || mode.startsWith('container:')) {
      throw invalid(
        'container cannot be connected to multiple networks with one of the networks in private (none) mode',
      );
    }
    await this.deps.locked(c.Id, async () => {
      if (c.Networks[net.Name]) {
        throw forbidden(
          `endpoint with name ${c.Name.slice(1)} already exists in network ${net.Name}`,
        );
      }
      // The record changes only once the connect has succeeded: a refused
      // one (a taken --ip, say) leaves no settings behind, not even in memory.
      const EndpointsConfig = { ...c.EndpointsConfig, [net.Name]: endpointConfig };
      const ec = endpointConfigFor({ ...c, EndpointsConfig }, net.Name);
      if (c.State.Status === 'running') {
        const sw = new Stopwatch();
        const withIt = (j: Joined): ContainerRecord['Networks'] => ({
          ...c.Networks,
          [j.name]: joinedSettings(j.endpoint, ec),
        });
        const netnsPath = this.deps.networks.endpoints.netnsPath(c.Id);
        const before = this.netsOf(c);
        // A bridge network takes the default route and the published ports
        // from the gateway bridge, which goes first (libnetwork's moveExtConn).
        if (!needsGatewayBridge([...before, net])) {
          await this.followGatewayBridge(c, [...before, net], netnsPath);
        }
        // It takes the default route when it comes first in libnetwork's order.
        const takesRoute = gatewayNetwork([...before, net])?.Id === net.Id;
        const r = await this.deps.networks.endpoints
          .join(c.Id, netnsPath, net.Id, {
            ...joinOptions(c, ec, takesRoute),
            // On an overlay, the other hosts program it from the watch; a
            // connect answers without their reports, as Docker's does
            // (decision 0035), and they write none for it (decision 0039).
            awaitOthers: false,
            // The container's record lists it in the endpoint's own transaction.
            commit: (j) => [this.deps.repo.saveOp({ ...c, EndpointsConfig, Networks: withIt(j) })],
          })
          .catch(async (e: unknown) => {
            // A join that failed after taking the route gave it up with its interface.
            if (takesRoute) await this.routeByOrder(c);
            await this.followGatewayBridge(c, before, netnsPath).catch((err: unknown) =>
              this.deps.log.warn(`gateway bridge of ${c.Name}: ${messageOf(err)}`),
            );
            throw e;
          });
        const old = { ...c };
        Object.assign(c, { EndpointsConfig, Networks: withIt(r) });
        // An overlay's way out: a connect that cannot give it is undone.
        await this.followGatewayBridge(c, this.netsOf(c), netnsPath).catch(async (e: unknown) => {
          await this.deps.networks.endpoints.leave(c.Id, net.Id, [this.deps.repo.saveOp(old)]);
          Object.assign(c, old);
          throw e;
        });
        sw.lap('join');
        this.rewriteFiles(c);
        sw.lap('files');
        this.deps.log.debug(`connect ${c.Id.slice(0, 12)} ${net.Name}: ${sw}`);
      } else {
        // Its start joins it; what that join would refuse is refused now, as dockerd does.
        this.deps.networks.endpoints.check(net.Id, ec);
        const Networks = { ...c.Networks, [net.Name]: configuredEndpoint(net, ec) };
        await this.deps.repo.save({ ...c, EndpointsConfig, Networks });
        Object.assign(c, { EndpointsConfig, Networks });
      }
    });
    this.deps.events.publish('network', 'connect', net.Id, {
      container: c.Id,
      name: net.Name,
      type: net.Driver,
    });
  }

  /**
   * POST /networks/{id}/disconnect. With `force`, as dockerd's: a container
   * this host does not have is taken for a stale endpoint of that name
   * (NetworkController.forceEndpointDelete), and a network that no longer
   * exists is dropped from the container's record.
   */
  async disconnect(ref: string, netRef: string, force: boolean): Promise<void> {
    const found = this.deps.repo.find(ref);
    if (!found && force) return this.deps.networks.forceEndpointDelete(ref, netRef);
    const c = found ?? this.deps.repo.get(ref);
    const net = this.deps.networks.find(netRef);
    if (c.HostConfig.NetworkMode === 'host' || net?.Name === 'host') {
      throw invalid(
        'container cannot be disconnected from host network or connected to host network',
      );
    }
    if (!net && force) return this.forgetNetwork(c, netRef);
    // dockerd 20.10 answers these with a 500; they are the client's error, so
    // Berth keeps its words and answers 404 / 409 (decision 0018).
    if (!net) {
      throw notFound(`container ${c.Id} is not connected to the network ${netRef}`);
    }
    if (!c.Networks[net.Name]) {
      throw conflict(`container ${c.Id} is not connected to network ${netRef}`);
    }
    await this.deps.locked(c.Id, async () => {
      const { [net.Name]: _gone, ...Networks } = c.Networks;
      const { [net.Name]: _cfg, ...EndpointsConfig } = c.EndpointsConfig;
      const next = { ...c, Networks, EndpointsConfig };
      // Running: the record goes in the endpoint's removal transaction.
      if (c.State.Status === 'running') {
        const hadRoute = gatewayNetwork(this.netsOf(c))?.Id === net.Id;
        await this.deps.networks.endpoints.leave(c.Id, net.Id, [this.deps.repo.saveOp(next)]);
        // The default route left with it: the next network in order takes it.
        if (hadRoute) await this.routeByOrder(next);
        await this.followGatewayBridge(
          next,
          this.netsOf(next),
          this.deps.networks.endpoints.netnsPath(c.Id),
        ).catch((e: unknown) => this.deps.log.warn(`gateway bridge of ${c.Name}: ${messageOf(e)}`));
      } else {
        await this.deps.repo.save(next);
      }
      Object.assign(c, { Networks, EndpointsConfig });
      if (c.State.Status === 'running') this.rewriteFiles(c);
    });
    this.deps.events.publish('network', 'disconnect', net.Id, {
      container: c.Id,
      name: net.Name,
      type: net.Driver,
    });
  }

  /**
   * `disconnect -f` of a network that exists no more (removed on another
   * host while this container was stopped, say): the container's record
   * forgets it, as dockerd's does (a start still fails while the container's
   * network mode names it, as dockerd's). Nothing to forget is no error.
   */
  private async forgetNetwork(c: ContainerRecord, name: string): Promise<void> {
    await this.deps.locked(c.Id, async () => {
      if (!c.Networks[name] && !c.EndpointsConfig[name]) return;
      const { [name]: _gone, ...Networks } = c.Networks;
      const { [name]: _cfg, ...EndpointsConfig } = c.EndpointsConfig;
      await this.deps.repo.save({ ...c, Networks, EndpointsConfig });
      Object.assign(c, { Networks, EndpointsConfig });
    });
  }
}
