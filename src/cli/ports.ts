/**
 * `-p/--publish` and `--expose` parsing, as go-connections/nat does it for the
 * docker CLI (ParsePortSpecs), with Docker 20.10's error wording.
 */
import { isIP } from 'node:net';

/** One host binding of a container port, as in HostConfig.PortBindings. */
export interface PortBinding {
  /** Host address; "" = all. */
  HostIp: string;
  /** Host port or range; "" = any free port. */
  HostPort: string;
}

/** Exposed ports and bindings, keyed "80/tcp". */
export interface PortSpecs {
  /** Config.ExposedPorts. */
  exposed: Record<string, Record<string, never>>;
  /** HostConfig.PortBindings. */
  bindings: Record<string, PortBinding[]>;
}

/** A user error in a port spec (docker reports it like a flag error, exit 125). */
export class PortSpecError extends Error {}

function parseUint16(s: string): number {
  if (!/^\d+$/.test(s)) throw new Error('invalid syntax');
  const n = Number(s);
  if (n > 65535) throw new Error('value out of range');
  return n;
}

/** nat.ParsePortRange: "80" or "8000-8010". */
export function parsePortRange(ports: string): [number, number] {
  if (ports === '') throw new PortSpecError('Empty string specified for ports.');
  if (!ports.includes('-')) {
    const p = parseUint16(ports);
    return [p, p];
  }
  const [a = '', b = ''] = ports.split('-');
  const start = parseUint16(a);
  const end = parseUint16(b);
  if (end < start) throw new PortSpecError(`Invalid range specified for the Port: ${ports}`);
  return [start, end];
}

/** nat.SplitProtoPort: "80/udp" -> ["udp","80"]; no proto means tcp. */
export function splitProtoPort(raw: string): [string, string] {
  const parts = raw.split('/');
  if (raw === '' || parts[0] === '') return ['', ''];
  if (parts.length === 1) return ['tcp', raw];
  if (parts[1] === '') return ['tcp', parts[0]!];
  return [parts[1]!, parts[0]!];
}

function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(':');
  const n = parts.length;
  const container = parts[n - 1]!;
  if (n === 1) return ['', '', container];
  if (n === 2) return ['', parts[0]!, container];
  if (n === 3) return [parts[0]!, parts[1]!, container];
  return [parts.slice(0, n - 2).join(':'), parts[n - 2]!, container];
}

/** nat.ParsePortSpec: one `-p` value into (port, binding) pairs. */
export function parsePortSpec(raw: string): { port: string; binding: PortBinding }[] {
  const parts = splitParts(raw);
  let ip = parts[0];
  const hostPort = parts[1];
  const [proto, containerPort] = splitProtoPort(parts[2]);
  if (ip.startsWith('[')) {
    if (!ip.endsWith(']'))
      throw new PortSpecError(`Invalid ip address ${ip}: missing ']' in address`);
    ip = ip.slice(1, -1);
  }
  if (ip !== '' && !isIP(ip)) throw new PortSpecError(`Invalid ip address: ${ip}`);
  if (containerPort === '') throw new PortSpecError(`No port specified: ${raw}<empty>`);
  let start: number, end: number;
  try {
    [start, end] = parsePortRange(containerPort);
  } catch {
    throw new PortSpecError(`Invalid containerPort: ${containerPort}`);
  }
  // Port 0 is no container port at all; docker accepts it and fails later.
  if (start === 0) throw new PortSpecError(`Invalid containerPort: ${containerPort}`);
  let hStart = 0,
    hEnd = 0;
  if (hostPort !== '') {
    try {
      [hStart, hEnd] = parsePortRange(hostPort);
    } catch {
      throw new PortSpecError(`Invalid hostPort: ${hostPort}`);
    }
  }
  if (hostPort !== '' && end - start !== hEnd - hStart && end !== start) {
    throw new PortSpecError(
      `Invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`,
    );
  }
  const p = proto.toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(p)) throw new PortSpecError(`Invalid proto: ${proto}`);
  const out: { port: string; binding: PortBinding }[] = [];
  for (let i = 0; i <= end - start; i++) {
    let hp = hostPort === '' ? '' : String(hStart + i);
    // A single container port with a host range: the range is where to pick a free port.
    if (start === end && hStart !== hEnd) hp = `${hStart}-${hEnd}`;
    out.push({ port: `${start + i}/${p}`, binding: { HostIp: ip, HostPort: hp } });
  }
  return out;
}

/** nat.ParsePortSpecs plus `--expose` merging, as the docker CLI builds a create body. */
export function parsePortSpecs(publish: string[], expose: string[] = []): PortSpecs {
  const exposed: PortSpecs['exposed'] = {};
  const bindings: PortSpecs['bindings'] = {};
  for (const raw of publish) {
    for (const { port, binding } of parsePortSpec(raw)) {
      exposed[port] = {};
      (bindings[port] ??= []).push(binding);
    }
  }
  for (const e of expose) {
    if (e.includes(':')) throw new PortSpecError(`invalid port format for --expose: ${e}`);
    const [proto, port] = splitProtoPort(e);
    let start: number, end: number;
    try {
      [start, end] = parsePortRange(port);
    } catch (err) {
      throw new PortSpecError(
        `invalid range format for --expose: ${e}, error: ${err instanceof PortSpecError ? err.message : `strconv.ParseUint: parsing "${port}": invalid syntax`}`,
      );
    }
    for (let i = start; i <= end; i++) exposed[`${i}/${proto}`] = {};
  }
  return { exposed: sortKeys(exposed), bindings: sortKeys(bindings) };
}

/** Go marshals maps with sorted keys; keep the same order on the wire. */
export function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  const r: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) r[k] = o[k]!;
  return r;
}
