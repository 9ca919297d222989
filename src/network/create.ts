/**
 * POST /networks/create: the request, validated before anything changes,
 * with Docker 20.10's messages and statuses (docs/reference/docker-20.10-networking.md, section 5). Pure.
 */
import { isIP, isIPv4 } from 'node:net';
import { BerthError, conflict, forbidden, invalid } from '../common/errors.js';
import { type Json, obj, optBool, optStr, optStrMap } from '../common/validate.js';
import type { IpamConfig } from './types.js';
import { PREDEFINED } from './records.js';

export interface NetworkCreate {
  Name: string;
  Driver: string;
  Internal: boolean;
  Attachable: boolean;
  EnableIPv6: boolean;
  /** Options: null when the request has none (as dockerd 20.10 shows it), else as given. */
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] };
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** The options an overlay network takes (its VXLAN IDs are the cluster's to give). */
const OVERLAY_OPTS = new Set(['com.docker.network.driver.mtu']);

const BRIDGE_OPTS = new Set([
  'com.docker.network.bridge.name',
  'com.docker.network.bridge.enable_icc',
  'com.docker.network.bridge.enable_ip_masquerade',
  'com.docker.network.bridge.host_binding_ipv4',
  'com.docker.network.driver.mtu',
  'com.docker.network.bridge.default_bridge',
]);

/**
 * Whether a network can have the name: dockerd 20.10 (libnetwork's
 * IsValidName) takes any name but an empty or all-blank one ("test 01",
 * "a/b", "日本", "-x" are names; docs/reference/docker-20.10-dockerpy-net.md).
 */
export function validNetworkName(name: string): boolean {
  return name.trim() !== '';
}

export function parseNetworkCreate(
  body: unknown,
  existing: (name: string) => boolean,
): NetworkCreate {
  const b = obj(body, 'body');
  // Without a name at all (a null or empty object body) dockerd 20.10 answers
  // 500 "invalid name: "; an empty Name is its 409 below (as the CLI sees it).
  if (b.Name === undefined || b.Name === null) {
    throw invalid('invalid name: a network create needs a Name');
  }
  const name = optStr(b, 'Name') ?? '';
  if (PREDEFINED.includes(name)) {
    throw forbidden(`operation is not permitted on predefined ${name} network `);
  }
  if (name === '' || existing(name))
    throw conflict(`network with name ${name} already exists`.replace('  ', ' '));
  // dockerd answers 500 "invalid name: <name>"; it is the client's error (decision 0018).
  if (!validNetworkName(name)) throw invalid(`invalid name: ${name}`);
  const driver = optStr(b, 'Driver') || 'bridge';
  if (driver === 'host' || driver === 'null') {
    throw forbidden(`only one instance of "${driver}" network is allowed`);
  }
  if (driver !== 'bridge' && driver !== 'overlay') {
    throw new BerthError('NOT_FOUND', `plugin "${driver}" not found`);
  }
  const ipam = obj(b.IPAM, 'IPAM');
  const ipamDriver = optStr(ipam, 'Driver', 'IPAM.Driver') || 'default';
  if (ipamDriver !== 'default')
    throw new BerthError('NOT_FOUND', `plugin "${ipamDriver}" not found`);
  const rawConfig = ipam.Config ?? [];
  if (!Array.isArray(rawConfig)) throw invalid('invalid IPAM.Config: expected an array');
  const config: IpamConfig[] = rawConfig.map((c, i) => {
    const o = obj(c, `IPAM.Config[${i}]`);
    const out: IpamConfig = {};
    for (const k of ['Subnet', 'IPRange', 'Gateway'] as const) {
      const v = optStr(o, k, `IPAM.Config[${i}].${k}`);
      if (v) out[k] = v;
    }
    const aux = optStrMap(o, 'AuxiliaryAddresses', `IPAM.Config[${i}].AuxiliaryAddresses`);
    if (aux && Object.keys(aux).length) out.AuxiliaryAddresses = aux;
    return out;
  });
  const options = optStrMap(b, 'Options') ?? {};
  for (const k of Object.keys(options)) {
    const known = driver === 'overlay' ? OVERLAY_OPTS : BRIDGE_OPTS;
    if (k.startsWith('com.docker.network.') && !known.has(k)) {
      throw invalid(`unsupported ${driver} option ${k}`);
    }
  }
  const mtu = options['com.docker.network.driver.mtu'];
  if (mtu !== undefined) checkMtu(mtu);
  for (const k of [
    'com.docker.network.bridge.enable_icc',
    'com.docker.network.bridge.enable_ip_masquerade',
  ]) {
    const v = options[k];
    if (v !== undefined && !/^(true|false|1|0)$/i.test(v))
      throw invalid(`invalid value for ${k}: ${v}`);
  }
  // As libnetwork's parseErr; an IPv6 one is refused too: without a proxy an
  // IPv6 host address cannot reach an IPv4 container.
  const binding = options['com.docker.network.bridge.host_binding_ipv4'];
  if (binding !== undefined && !isIPv4(binding)) {
    const why = isIP(binding) ? 'not an IPv4 address' : 'nil ip';
    throw invalid(
      `failed to parse com.docker.network.bridge.host_binding_ipv4 value: ${binding} (${why})`,
    );
  }
  const brName = options['com.docker.network.bridge.name'];
  if (brName) checkBridgeName(brName);
  const enableIPv6 = optBool(b, 'EnableIPv6') ?? false;
  refuseUnsupported(b, driver, options);
  // The kernel takes no IPv6 address on a link below 1280.
  if (enableIPv6 && mtu !== undefined && Number(mtu) > 0 && Number(mtu) < 1280) {
    throw invalid(`invalid MTU number: ${mtu} (an IPv6 network needs 1280 or more)`);
  }
  return {
    Name: name,
    Driver: driver,
    Internal: optBool(b, 'Internal') ?? false,
    Attachable: optBool(b, 'Attachable') ?? false,
    EnableIPv6: enableIPv6,
    IPAM: {
      Driver: ipamDriver,
      Options: optStrMap(ipam, 'Options', 'IPAM.Options') ?? null,
      Config: config,
    },
    Options: options,
    Labels: optStrMap(b, 'Labels') ?? {},
  };
}

/**
 * NetworkCreateRequest fields Berth does not honour: refused when set, never
 * accepted and ignored. (`CheckDuplicate` is ignored, as dockerd since API
 * 1.44 ignores it: a duplicate name is always refused.)
 */
function refuseUnsupported(b: Json, driver: string, options: Record<string, string>): void {
  // A driver's own scope is the network's; dockerd refuses only to make a
  // multi-host driver's network local (libnetwork's NewNetwork).
  const own = driver === 'overlay' ? 'global' : 'local';
  const scope = optStr(b, 'Scope') || own;
  if (scope === 'local' && own === 'global') {
    throw forbidden(`cannot downgrade network scope for ${driver} networks`);
  }
  if (scope !== own) {
    throw invalid(
      `berth does not support ${scope}-scoped ${driver} networks yet (Scope): use a ${own} network`,
    );
  }
  // dockerd 20.10 makes such a network and then refuses every container
  // ("cannot join secure network: encryption keys not present": its keys
  // come from swarm mode); Berth refuses it here, where nothing was made yet
  // (decision 0038). Its traffic would cross the underlay in clear.
  if (driver === 'overlay' && Object.hasOwn(options, 'encrypted')) {
    throw invalid(
      'berth does not support encrypted overlay networks yet (-o encrypted): their traffic would cross hosts unencrypted',
    );
  }
  for (const [k, what] of [
    ['Ingress', 'ingress networks (swarm mode)'],
    ['ConfigOnly', 'config-only networks (--config-only)'],
  ] as const) {
    if (optBool(b, k)) throw invalid(`berth does not support ${what} yet (${k})`);
  }
  const from = obj(b.ConfigFrom, 'ConfigFrom');
  if (optStr(from, 'Network', 'ConfigFrom.Network')) {
    throw invalid('berth does not support --config-from yet (ConfigFrom)');
  }
  if (optBool(b, 'EnableIPv4') === false) {
    throw invalid('berth does not support IPv6-only networks yet (EnableIPv4 false)');
  }
  optBool(b, 'CheckDuplicate');
}

/**
 * `com.docker.network.driver.mtu`: dockerd's messages for what it refuses
 * itself (not a number, negative); 0 is the default MTU, as dockerd's. A
 * value the kernel refuses (dockerd accepts it and every container start on
 * the network then fails with 500) is refused here (decision 0017).
 */
function checkMtu(v: string): void {
  if (!/^[+-]?\d+$/.test(v)) {
    throw invalid(
      `failed to parse com.docker.network.driver.mtu value: ${v} (strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax)`,
    );
  }
  const n = Number(v);
  if (n < 0) throw invalid(`invalid MTU number: ${v}`);
  if (n !== 0 && (n < MIN_MTU || n > MAX_MTU)) {
    throw invalid(
      `invalid MTU number: ${v} (an interface's MTU is ${MIN_MTU}-${MAX_MTU}, or 0 for the default)`,
    );
  }
}

/** The smallest MTU the kernel gives an interface with IPv4, and the largest a veth takes. */
const MIN_MTU = 68;
const MAX_MTU = 65535;

/**
 * `com.docker.network.bridge.name` (an empty one is the default name, as
 * dockerd's): names the kernel refuses are refused with the reason
 * (dockerd answers 500 "invalid argument" or "numerical result out of range").
 */
function checkBridgeName(name: string): void {
  const bad = (why: string): never => {
    throw invalid(`invalid bridge name ${JSON.stringify(name)}: ${why}`);
  };
  if (name.length > 15) bad('an interface name has at most 15 characters');
  if (name === '.' || name === '..') bad('"." and ".." are not interface names');
  if (!/^[a-zA-Z0-9_.-]+$/.test(name)) bad('only [a-zA-Z0-9_.-] are allowed');
}
