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
import type { GlobalEndpoint, NetworkRecord } from '../network/types.js';
import type { KvEntry } from '../store/types.js';
import type { NodeInfo } from './nodes.js';

/** Docker's first VXLAN ID. */
export const FIRST_VNI = 256;
/** The largest VXLAN ID (24 bits). */
export const MAX_VNI = (1 << 24) - 1;

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
  if (Id !== key || !/^[0-9a-f]{64}$/.test(Id)) bad(`Id ${JSON.stringify(Id)} is not its key`);
  if (!required(o, 'Name')) bad('Name is empty');
  if (o.Scope !== 'global') bad(`Scope is ${JSON.stringify(o.Scope)}, not "global"`);
  if (o.Driver !== 'overlay') bad(`Driver is ${JSON.stringify(o.Driver)}, not "overlay"`);
  if (optBool(o, 'EnableIPv6')) bad('EnableIPv6 is set');
  const ipam = obj(o.IPAM, 'IPAM');
  const configs = ipam.Config;
  if (!Array.isArray(configs) || configs.length === 0) bad('IPAM.Config has no subnet');
  const Config = (configs as unknown[]).map((c, i) => {
    const f = `IPAM.Config[${i}]`;
    const co = obj(c, f);
    const Subnet = required(co, 'Subnet', `${f}.Subnet`);
    const subnet = parseCidr(Subnet);
    if (!subnet || subnet.family !== 4)
      bad(`${f}.Subnet ${JSON.stringify(Subnet)} is no IPv4 subnet`);
    const Gateway = optStr(co, 'Gateway', `${f}.Gateway`);
    const gw = Gateway === undefined || Gateway === '' ? undefined : parseIp(Gateway);
    if (Gateway && (!gw || !cidrContains(subnet, gw)))
      bad(`${f}.Gateway ${JSON.stringify(Gateway)} is not an address of ${Subnet}`);
    const IPRange = optStr(co, 'IPRange', `${f}.IPRange`);
    if (IPRange && parseCidr(IPRange)?.family !== 4)
      bad(`${f}.IPRange ${JSON.stringify(IPRange)} is no IPv4 range`);
    return co as { Subnet: string; Gateway?: string; IPRange?: string };
  });
  const berth = obj(o.berth, 'berth');
  optBool(berth, 'autoSubnet', 'berth.autoSubnet');
  const vni = optNum(berth, 'vni', 'berth.vni');
  if (vni === undefined || !Number.isInteger(vni) || vni < FIRST_VNI || vni > MAX_VNI)
    bad(`berth.vni ${JSON.stringify(berth.vni)} is not a VXLAN ID from ${FIRST_VNI} to ${MAX_VNI}`);
  return {
    ...o,
    Id,
    Name: o.Name as string,
    Created: optStr(o, 'Created') ?? '',
    Scope: 'global',
    Driver: 'overlay',
    EnableIPv4: true,
    EnableIPv6: false,
    Internal: optBool(o, 'Internal') ?? false,
    Attachable: optBool(o, 'Attachable') ?? false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Options: optStrMap(o, 'Options') ?? {},
    Labels: optStrMap(o, 'Labels') ?? {},
    IPAM: {
      ...ipam,
      Driver: optStr(ipam, 'Driver', 'IPAM.Driver') ?? 'default',
      Options: optStrMap(ipam, 'Options', 'IPAM.Options') ?? null,
      Config,
    },
    berth: { ...berth, vni },
  };
};

/** An endpoint of a global network, on any host (key: `<network>/<endpoint>`). */
export const decodeEndpoint: Decoder<GlobalEndpoint> = (key, raw) => {
  const o = object(raw);
  const slash = key.indexOf('/');
  const Id = required(o, 'Id');
  const NetworkID = required(o, 'NetworkID');
  if (`${NetworkID}/${Id}` !== key || slash < 1) bad('NetworkID/Id is not its key');
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
  if (!hostPort(Node)) bad(`Node ${JSON.stringify(Node)} is not IP:PORT`);
  const Vtep = required(o, 'Vtep');
  if (isIP(Vtep) !== 4) bad(`Vtep ${JSON.stringify(Vtep)} is no IPv4 address`);
  optBool(o, 'Awaited');
  optBool(o, 'NameHeld');
  return {
    ...o,
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
  };
};

/** A registered host (key: its advertise address, `IP:PORT`). */
export const decodeNode: Decoder<NodeInfo> = (key, raw) => {
  if (!hostPort(key)) bad('the key is not IP:PORT');
  const o = object(raw);
  if (o.Addr !== undefined && o.Addr !== key) bad(`Addr ${JSON.stringify(o.Addr)} is not its key`);
  return {
    ...o,
    Addr: key,
    Name: optStr(o, 'Name') ?? '',
    ID: optStr(o, 'ID') ?? '',
    Version: optStr(o, 'Version') ?? '',
    StartedAt: optStr(o, 'StartedAt') ?? '',
  };
};

/** The store revision a host has applied (key: its advertise address). */
export const decodeApplied: Decoder<number> = (key, raw) => {
  if (!hostPort(key)) bad('the key is not IP:PORT');
  const v = JSON.parse(raw) as unknown;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad('not a revision');
  return v;
};

/** `IP:PORT` or `[IPv6]:PORT`, split; undefined otherwise. */
export function hostPort(text: string): { ip: string; port: number } | undefined {
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

function object(raw: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    bad('not JSON');
  }
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
