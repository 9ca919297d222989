/**
 * What a host reads from the cluster store, checked before anything uses it
 * (decision 0047). Every host writes there, and so can anyone with
 * `etcdctl`: a record of another shape (an older or newer Berth, a hand
 * edit, a hostile writer) must not end the daemon, wedge a watch, reach
 * the bridge driver or the firewall, or put a bad address in the kernel.
 * Each decoder returns the record, with defaults for optional fields, or
 * throws a coded INTERNAL error naming the key and what is wrong; the
 * mirrors take such a record as absent and log it once.
 */
import { isIP } from 'node:net';
import { BerthError, messageOf } from '../common/errors.js';
import { obj, optBool, optNum, optStr, optStrMap, optStrs, type Json } from '../common/validate.js';
import { cidrContains, parseCidr, parseIp } from '../network/ipam/addr.js';
import type { GlobalEndpoint, IpamConfig, NetworkRecord } from '../network/types.js';
import type { KvEntry } from '../store/types.js';
import type { NodeInfo } from './nodes.js';

/** Docker's first VXLAN ID. */
export const FIRST_VNI = 256;
/** The largest VXLAN ID (24 bits). */
export const MAX_VNI = (1 << 24) - 1;

/** A network's ID: 64 lower-case hex digits. */
const HEX64 = /^[0-9a-f]{64}$/;

/** Turns one stored value (its key without the prefix) into a record; throws what is wrong. */
export type Decoder<T> = (key: string, raw: string) => T;

/** A global network as stored: inspect's record, its VXLAN ID in Berth's own part. */
export interface GlobalNetworkRecord extends NetworkRecord {
  Scope: 'global';
  berth: { vni: number; autoSubnet?: boolean };
}

/**
 * The record at `key` (a key under `prefix`), decoded by `decode`; a coded
 * error naming the key if it is not one.
 */
export function decoded<T>(decode: Decoder<T>, prefix: string, key: string, raw: string): T {
  try {
    return decode(key.slice(prefix.length), raw);
  } catch (e) {
    throw new BerthError(
      'INTERNAL',
      `cluster store: the record at ${key} is not one Berth can use: ${messageOf(e)}`,
    );
  }
}

/** The entries of a list (keys with `prefix`) that decode; the others are left out. */
export function decodeAll<T>(entries: readonly KvEntry[], prefix: string, decode: Decoder<T>): T[] {
  return entries.flatMap((e) => {
    try {
      return [decode(e.key.slice(prefix.length), e.value)];
    } catch {
      return [];
    }
  });
}

/** A global network (key: its ID). */
export const decodeNetwork: Decoder<GlobalNetworkRecord> = (key, raw) => {
  const o = object(raw);
  const Id = required(o, 'Id');
  if (Id !== key || !HEX64.test(Id)) bad(`Id ${JSON.stringify(Id)} is not its key`);
  const Name = required(o, 'Name');
  if (!Name) bad('Name is empty');
  if (o.Scope !== 'global') bad(`Scope is ${JSON.stringify(o.Scope)}, not "global"`);
  if (o.Driver !== 'overlay') bad(`Driver is ${JSON.stringify(o.Driver)}, not "overlay"`);
  if (optBool(o, 'EnableIPv6')) bad('EnableIPv6 is set');
  const ipam = obj(o.IPAM, 'IPAM');
  const configs = ipam.Config;
  if (!Array.isArray(configs) || configs.length === 0) bad('IPAM.Config has no subnet');
  const berth = obj(o.berth, 'berth');
  const vni = optNum(berth, 'vni', 'berth.vni');
  if (vni === undefined || !Number.isInteger(vni) || vni < FIRST_VNI || vni > MAX_VNI)
    bad(`berth.vni ${JSON.stringify(berth.vni)} is not a VXLAN ID from ${FIRST_VNI} to ${MAX_VNI}`);
  const autoSubnet = optBool(berth, 'autoSubnet', 'berth.autoSubnet');
  // Field by field: what the API shows of it is exactly what Docker's types take.
  return {
    Name,
    Id,
    Created: optStr(o, 'Created') ?? '',
    Scope: 'global',
    Driver: 'overlay',
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: {
      Driver: optStr(ipam, 'Driver', 'IPAM.Driver') ?? 'default',
      Options: optStrMap(ipam, 'Options', 'IPAM.Options') ?? null,
      Config: (configs as unknown[]).map((c, i) => ipamConfig(c, `IPAM.Config[${i}]`)),
    },
    Internal: optBool(o, 'Internal') ?? false,
    Attachable: optBool(o, 'Attachable') ?? false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Options: optStrMap(o, 'Options') ?? {},
    Labels: optStrMap(o, 'Labels') ?? {},
    berth: autoSubnet === undefined ? { vni } : { vni, autoSubnet },
  };
};

/** One IPv4 subnet of a global network: its gateway, range and auxiliary addresses inside it. */
function ipamConfig(c: unknown, f: string): IpamConfig {
  const co = obj(c, f);
  const Subnet = required(co, 'Subnet', `${f}.Subnet`);
  const subnet = parseCidr(Subnet);
  if (!subnet || subnet.family !== 4)
    bad(`${f}.Subnet ${JSON.stringify(Subnet)} is no IPv4 subnet`);
  const inside = (what: string, ip: string | undefined) => {
    const at = ip === undefined ? undefined : parseIp(ip);
    if (!at || at.family !== 4 || !cidrContains(subnet, at))
      bad(`${f}.${what} ${JSON.stringify(ip)} is not an address of ${Subnet}`);
  };
  // Docker's order: Subnet, IPRange, Gateway, AuxiliaryAddresses.
  const out: IpamConfig = { Subnet };
  const IPRange = optStr(co, 'IPRange', `${f}.IPRange`);
  if (IPRange) {
    const range = parseCidr(IPRange);
    const within =
      range?.family === 4 &&
      range.prefix >= subnet.prefix &&
      cidrContains(subnet, { family: 4, value: range.first });
    if (!within) bad(`${f}.IPRange ${JSON.stringify(IPRange)} is no IPv4 range of ${Subnet}`);
    out.IPRange = IPRange;
  }
  const Gateway = optStr(co, 'Gateway', `${f}.Gateway`);
  if (Gateway) {
    inside('Gateway', Gateway);
    out.Gateway = Gateway;
  }
  const aux = optStrMap(co, 'AuxiliaryAddresses', `${f}.AuxiliaryAddresses`);
  if (aux) {
    for (const [name, ip] of Object.entries(aux)) inside(`AuxiliaryAddresses.${name}`, ip);
    out.AuxiliaryAddresses = aux;
  }
  return out;
}

/** An endpoint of a global network, on any host (key: `<network>/<endpoint>`). */
export const decodeEndpoint: Decoder<GlobalEndpoint> = (key, raw) => {
  const o = object(raw);
  const Id = required(o, 'Id');
  const NetworkID = required(o, 'NetworkID');
  if (!HEX64.test(NetworkID)) bad(`NetworkID ${JSON.stringify(NetworkID)} is no network ID`);
  if (!/^[^/]+$/.test(Id) || `${NetworkID}/${Id}` !== key) bad('NetworkID/Id is not its key');
  const ContainerID = required(o, 'ContainerID');
  if (!ContainerID) bad('ContainerID is empty');
  const IPv4 = required(o, 'IPv4');
  if (isIP(IPv4) !== 4) bad(`IPv4 ${JSON.stringify(IPv4)} is no IPv4 address`);
  const PrefixLen = optNum(o, 'PrefixLen') ?? -1;
  if (!Number.isInteger(PrefixLen) || PrefixLen < 0 || PrefixLen > 32)
    bad(`PrefixLen ${JSON.stringify(o.PrefixLen)} is no IPv4 prefix length`);
  const Mac = required(o, 'Mac');
  if (!isUnicastMac(Mac)) bad(`Mac ${JSON.stringify(Mac)} is no unicast MAC address`);
  const Node = required(o, 'Node');
  if (!nodeAddress(Node)) bad(`Node ${JSON.stringify(Node)} is no host address`);
  const Vtep = required(o, 'Vtep');
  if (isIP(Vtep) === 0) bad(`Vtep ${JSON.stringify(Vtep)} is no IP address`);
  const Awaited = optBool(o, 'Awaited');
  const NameHeld = optBool(o, 'NameHeld');
  return {
    Id,
    NetworkID,
    ContainerID,
    Name: required(o, 'Name'),
    Aliases: optStrs(o, 'Aliases') ?? [],
    IPv4,
    PrefixLen,
    Mac,
    Node,
    Vtep,
    ...(Awaited === undefined ? {} : { Awaited }),
    ...(NameHeld === undefined ? {} : { NameHeld }),
  };
};

/** A registered host (key: its advertise address, `IP:PORT`). */
export const decodeNode: Decoder<NodeInfo> = (key, raw) => {
  if (!nodeAddress(key)) bad('the key is no host address');
  const o = object(raw);
  if (o.Addr !== undefined && o.Addr !== key) bad(`Addr ${JSON.stringify(o.Addr)} is not its key`);
  return {
    Addr: key,
    Name: optStr(o, 'Name') ?? '',
    ID: optStr(o, 'ID') ?? '',
    Version: optStr(o, 'Version') ?? '',
    StartedAt: optStr(o, 'StartedAt') ?? '',
  };
};

/** The store revision a host has applied (key: its advertise address). */
export const decodeApplied: Decoder<number> = (key, raw) => {
  if (!nodeAddress(key)) bad('the key is no host address');
  const v = json(raw);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad('not a revision');
  return v;
};

/**
 * A host's advertise address as `--cluster-advertise` gives it (resolved):
 * `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address; undefined otherwise.
 */
export function nodeAddress(text: string): { ip: string; port?: number } | undefined {
  if (isIP(text) !== 0) return { ip: text };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  const ip = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!ip || !isIP(ip) || port < 1 || port > 65535) return undefined;
  return { ip, port };
}

/** Six lower-case hex octets, not multicast (nor broadcast), not all zero. */
function isUnicastMac(mac: string): boolean {
  if (!/^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/.test(mac)) return false;
  return (parseInt(mac.slice(0, 2), 16) & 1) === 0 && mac !== '00:00:00:00:00:00';
}

function json(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    bad('not JSON');
  }
}

function object(raw: string): Json {
  const v = json(raw);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('not a JSON object');
  return v as Json;
}

function required(o: Json, k: string, field = k): string {
  const v = optStr(o, k, field);
  if (v === undefined) bad(`${field} is missing`);
  return v;
}

function bad(what: string): never {
  throw new Error(what);
}
