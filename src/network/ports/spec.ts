/**
 * What a container asks to publish, from its create body (pure). The daemon
 * checks `HostConfig.PortBindings` as Docker 20.10's daemon does
 * (`invalid port specification: "..."`, 400 at create), whatever the client
 * checked before, and turns bindings, `PublishAllPorts` and the exposed ports
 * into one request per container port and host address.
 */
import { isIP } from 'node:net';
import { invalid } from '../../common/errors.js';
import { VXLAN_PORT, type Proto } from '../../kernel/firewall/index.js';

/** One binding as HostConfig.PortBindings holds it. */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** One container port to publish on one host address. */
export interface PortRequest {
  proto: Proto;
  containerPort: number;
  /**
   * Host address; '' means all addresses. From `portRequests`, '' is "none
   * given" and '0.0.0.0' all addresses until `onNetwork` settles it.
   */
  hostIp: string;
  /** Host ports to choose from, inclusive; [0, 0] means any free ephemeral port. */
  hostPorts: [number, number];
  /** Every IPv4 address only (an explicit 0.0.0.0): no `[::]` twin on dual-stack containers. */
  v4Only?: boolean;
}

/** A port as it is published: the request resolved to one host port. */
export interface PublishedPort {
  proto: Proto;
  containerPort: number;
  /** Host address; '' means all IPv4 addresses (shown as 0.0.0.0), '::' all IPv6 ones. */
  hostIp: string;
  hostPort: number;
}

const spec = (s: string): Error => invalid(`invalid port specification: ${JSON.stringify(s)}`);

/** nat.ParsePortRange with Docker's daemon-side error: "80", "8000-8010"; '' is [0,0]. */
function parseRange(s: string, allowEmpty: boolean): [number, number] {
  if (s === '' && allowEmpty) return [0, 0];
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s);
  if (!m) throw spec(s);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a > 65535 || b > 65535 || b < a) throw spec(s);
  return [a, b];
}

/** Splits "80/tcp" (no protocol means tcp) and checks both parts. */
export function parsePortKey(key: string): { proto: Proto; port: number } {
  const [port = '', proto = 'tcp', ...rest] = key.split('/');
  if (rest.length) throw spec(key);
  const p = (proto || 'tcp').toLowerCase();
  if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw invalid(`invalid proto: ${proto}`);
  const [start, end] = parseRange(port, false);
  if (start !== end || start === 0) throw spec(port);
  return { proto: p, port: start };
}

/**
 * Checks a create body's PortBindings; throws INVALID_ARGUMENT with Docker's
 * message for the first bad one. Keys may not be ranges (the CLI expands them).
 */
export function checkPortBindings(
  bindings: Record<string, unknown>,
): Record<string, PortBinding[] | null> {
  const out: Record<string, PortBinding[] | null> = {};
  for (const [key, list] of Object.entries(bindings)) {
    const { proto } = parsePortKey(key);
    if (list === null) {
      out[key] = null;
      continue;
    }
    if (!Array.isArray(list)) throw invalid(`invalid port binding for ${key}`);
    out[key] = (list as unknown[]).map((b) => {
      if (typeof b !== 'object' || b === null) throw invalid(`invalid port binding for ${key}`);
      // An omitted (or null) HostIp or HostPort is Go's zero value: "".
      const { HostIp = '', HostPort = '' } = b as Partial<Record<string, unknown>>;
      const ip = HostIp ?? '';
      const port = HostPort ?? '';
      if (typeof ip !== 'string' || typeof port !== 'string')
        throw invalid(`invalid port binding for ${key}`);
      if (ip !== '' && !isIP(ip)) throw invalid(`invalid IP address: ${ip}`);
      const [from, to] = parseRange(port, true);
      // Published, it would take the overlay's VXLAN traffic to this host into the container.
      if (proto === 'udp' && from <= VXLAN_PORT && VXLAN_PORT <= to) {
        throw invalid(
          `host port ${VXLAN_PORT}/udp carries Berth's overlay networks (VXLAN) and cannot be published; choose another host port`,
        );
      }
      return { HostIp: ip, HostPort: port };
    });
  }
  return out;
}

/**
 * The ports to publish: every binding, and with `publishAll` every exposed
 * port that has none, on any free port. A binding without an address ('')
 * means every address: IPv4, and IPv6 too when the container has IPv6.
 */
export function portRequests(
  exposed: string[],
  bindings: Record<string, PortBinding[] | null>,
  publishAll: boolean,
): PortRequest[] {
  const out: PortRequest[] = [];
  const keys = new Set(Object.keys(bindings));
  if (publishAll) for (const k of exposed) keys.add(k);
  for (const key of [...keys].sort(comparePortKeys)) {
    const { proto, port } = parsePortKey(key);
    let list = bindings[key] ?? [];
    if (list.length === 0 && publishAll) list = [{ HostIp: '', HostPort: '' }];
    for (const b of list) {
      out.push({
        proto,
        containerPort: port,
        hostIp: b.HostIp,
        hostPorts: parseRange(b.HostPort, true),
      });
    }
  }
  return out;
}

/**
 * The requests as published on one network: a binding without an address
 * takes the network's default (its `host_binding_ipv4` option; on the
 * default bridge dockerd's `--ip`), and 0.0.0.0 is every IPv4 address ('',
 * without the IPv6 twin a binding without an address gets).
 */
export function onNetwork(reqs: PortRequest[], defaultIp: string | undefined): PortRequest[] {
  const def = !defaultIp || defaultIp === '0.0.0.0' ? '' : defaultIp;
  return reqs.map((r) => {
    // As dockerd: an explicit 0.0.0.0 is IPv4 only; no address is both families.
    if (r.hostIp === '0.0.0.0') return { ...r, hostIp: '', v4Only: true };
    return r.hostIp === '' ? { ...r, hostIp: def } : r;
  });
}

/** "80/tcp" before "443/tcp" before "53/udp": by protocol name, then numerically. */
export function comparePortKeys(a: string, b: string): number {
  const [pa = '', ta = 'tcp'] = a.split('/');
  const [pb = '', tb = 'tcp'] = b.split('/');
  return ta.localeCompare(tb) || Number(pa) - Number(pb);
}
