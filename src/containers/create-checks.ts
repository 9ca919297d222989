/**
 * The create-time checks dockerd 20.10 makes on a ContainerCreate body, in its
 * words (docs/reference/docker-20.10-inspect.json, "refusals"). They run
 * before Berth's own "does not support yet" refusals, so a value dockerd
 * would refuse gets dockerd's answer. Values of the wrong JSON type are left
 * to the field checks. Pure.
 */
import { constants as osConstants } from 'node:os';
import { invalid } from '../common/errors.js';
import type { Json } from '../common/validate.js';
import { ALL_CAPS, capName } from './spec.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** A `strs` field (an array, or one string). */
const strs = (v: unknown): unknown[] => (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown): boolean =>
  Array.isArray(v) ? v.length > 0 : isObj(v) ? Object.keys(v).length > 0 : false;

/** The logging drivers dockerd 20.10 (Linux) has built in. */
const LOG_DRIVERS = new Set([
  'json-file',
  'local',
  'none',
  'syslog',
  'journald',
  'gelf',
  'fluentd',
  'awslogs',
  'splunk',
  'gcplogs',
  'logentries',
]);
/** The options the json-file driver takes. */
const JSON_FILE_OPTS = new Set([
  'max-file',
  'max-size',
  'compress',
  'labels',
  'labels-regex',
  'env',
  'env-regex',
  'tag',
]);

/** Docker's signal names (SIGRTMIN+n and SIGRTMAX-n included), numbers 1..64. */
export function validSignal(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) >= 1 && Number(s) <= 64;
  const name = s.toUpperCase().replace(/^SIG/, '');
  if (/^RTMIN(\+([1-9]|1[0-5]))?$|^RTMAX(-([1-9]|1[0-4]))?$/.test(name)) return true;
  return `SIG${name}` in osConstants.signals;
}

function checkLogConfig(lc: unknown): void {
  if (!isObj(lc)) return;
  const type = str(lc.Type) || 'json-file';
  if (!LOG_DRIVERS.has(type)) {
    throw invalid(`error looking up logging plugin ${type}: plugin "${type}" not found`);
  }
  if (type === 'json-file' && isObj(lc.Config)) {
    for (const k of Object.keys(lc.Config)) {
      if (!JSON_FILE_OPTS.has(k)) throw invalid(`unknown log opt '${k}' for json-file log driver`);
    }
  }
}

function checkCaps(field: 'CapAdd' | 'CapDrop', caps: unknown): void {
  for (const c of strs(caps)) {
    if (typeof c !== 'string') continue;
    const n = capName(c);
    if (n !== 'ALL' && !ALL_CAPS.includes(n)) {
      throw invalid(`invalid ${field}: unknown capability: "${n}"`);
    }
  }
}

/** dockerd's validateNetMode and validateNetContainerMode (runconfig, 20.10). */
function checkNetworkMode(b: Json, hc: Json): void {
  const mode = str(hc.NetworkMode) ?? '';
  const container = mode.startsWith('container:');
  const host = mode === 'host';
  if (host && nonEmpty(hc.Links)) {
    throw invalid(
      "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
    );
  }
  if (!container && !host) return;
  if (container && str(b.Hostname)) {
    throw invalid('conflicting options: hostname and the network mode');
  }
  if (container && nonEmpty(hc.Links)) {
    throw invalid(
      "conflicting options: container type network can't be used with links. This would result in undefined behavior",
    );
  }
  if (container && nonEmpty(hc.Dns)) throw invalid('conflicting options: dns and the network mode');
  if (container && nonEmpty(hc.ExtraHosts)) {
    throw invalid('conflicting options: custom host-to-IP mapping and the network mode');
  }
  if (str(b.MacAddress)) throw invalid('conflicting options: mac-address and the network mode');
  if (container && (nonEmpty(hc.PortBindings) || hc.PublishAllPorts === true)) {
    throw invalid('conflicting options: port publishing and the container type network mode');
  }
  if (container && nonEmpty(b.ExposedPorts)) {
    throw invalid('conflicting options: port exposing and the container type network mode');
  }
}

/** Throws dockerd's 400 for a create body dockerd 20.10 refuses. */
export function checkCreateAsDockerd(b: Json, hc: Json): void {
  const rp = isObj(hc.RestartPolicy) ? hc.RestartPolicy : {};
  if (rp.Name === 'on-failure' && typeof rp.MaximumRetryCount === 'number') {
    if (rp.MaximumRetryCount < 0) throw invalid('maximum retry count cannot be negative');
  }
  checkLogConfig(hc.LogConfig);
  const iso = str(hc.Isolation);
  if (iso && iso !== 'default') {
    throw invalid(`Invalid isolation: "${iso}" - linux only supports 'default'`);
  }
  const cgroupns = str(hc.CgroupnsMode);
  if (cgroupns && cgroupns !== 'host' && cgroupns !== 'private') {
    throw invalid(`invalid cgroup namespace mode: ${cgroupns}`);
  }
  const stop = str(b.StopSignal);
  if (stop && !validSignal(stop)) throw invalid(`Invalid signal: ${stop}`);
  checkCaps('CapAdd', hc.CapAdd);
  checkCaps('CapDrop', hc.CapDrop);
  for (const h of list(hc.ExtraHosts)) {
    if (typeof h === 'string' && !/^[^:]+:.+$/.test(h)) {
      throw invalid(`bad format for add-host: "${h}"`);
    }
  }
  checkNetworkMode(b, hc);
}
