/**
 * POST /containers/{id}/update (`docker update`), as dockerd 20.10: the
 * limits checked as at create (with update's relaxations), merged into the
 * stored HostConfig (a zero value changes nothing), written to the running
 * container's cgroups with `runc update`, kept for its next start; a restart
 * policy too. Fields of the update body Berth does not change are refused.
 */
import { BerthError, conflict, invalid, messageOf } from '../common/errors.js';
import { obj, optNum, optStr, type Json } from '../common/validate.js';
import { sysInfo } from '../kernel/sysinfo.js';
import { checkFields, HOST_CONFIG_FIELDS, type Field } from './create-fields.js';
import type { Lifecycle } from './lifecycle.js';
import { checkResources, mergeUpdate, UPDATE_FIELDS, updateResources } from './resources.js';
import type { ContainerRecord } from './types.js';

/** The Resources fields of an update body, each honoured only if docker update changes it. */
const RESOURCE_FIELDS = [
  'CgroupParent',
  'BlkioWeight',
  'BlkioWeightDevice',
  'BlkioDeviceReadBps',
  'BlkioDeviceWriteBps',
  'BlkioDeviceReadIOps',
  'BlkioDeviceWriteIOps',
  'CpuRealtimePeriod',
  'CpuRealtimeRuntime',
  'Devices',
  'DeviceCgroupRules',
  'DeviceRequests',
  'KernelMemory',
  'KernelMemoryTCP',
  'MemorySwappiness',
  'OomKillDisable',
  'Ulimits',
  'CpuCount',
  'CpuPercent',
  'IOMaximumIOps',
  'IOMaximumBandwidth',
  ...UPDATE_FIELDS,
];

const honoured = new Set<string>(UPDATE_FIELDS);
/** The update body's fields: the type HostConfig gives each; those docker update does not change, refused. */
const FIELDS: Record<string, Field> = Object.fromEntries(
  RESOURCE_FIELDS.map((k) => {
    const f = HOST_CONFIG_FIELDS[k]!;
    return [
      k,
      honoured.has(k)
        ? f
        : {
            ...f,
            unsupported: f.unsupported ?? `${k} in docker update`,
            // The CLI's "not set" for swappiness.
            isDefault: k === 'MemorySwappiness' ? (v: unknown) => v === -1 : f.isDefault,
          },
    ];
  }),
);

const RESTART = new Set(['', 'no', 'always', 'unless-stopped', 'on-failure']);

/** Checks an update body; returns it with its restart policy (undefined: unchanged). */
export function parseUpdate(body: unknown): {
  u: Json;
  restart?: { Name: string; MaximumRetryCount: number };
} {
  const u = obj(body, 'body');
  checkFields(u, FIELDS, '');
  const rp = obj(u.RestartPolicy, 'RestartPolicy');
  const name = optStr(rp, 'Name', 'RestartPolicy.Name') ?? '';
  const max = optNum(rp, 'MaximumRetryCount', 'RestartPolicy.MaximumRetryCount') ?? 0;
  if (!RESTART.has(name)) throw invalid(`invalid restart policy '${name}'`);
  if (name === 'on-failure' && max < 0) throw invalid('maximum retry count cannot be negative');
  if (max && name !== 'on-failure') {
    throw invalid(`maximum retry count cannot be used with restart policy '${name}'`);
  }
  // The update route makes 0 and below "unlimited" (0).
  if (typeof u.PidsLimit === 'number' && u.PidsLimit <= 0) u.PidsLimit = 0;
  return { u, restart: name ? { Name: name, MaximumRetryCount: max } : undefined };
}

/** Updates `c` (its lock taken here); returns the answer's warnings. */
export async function updateContainer(
  life: Lifecycle,
  c: ContainerRecord,
  body: unknown,
): Promise<string[]> {
  const { u, restart } = parseUpdate(body);
  const warnings = checkResources(u, sysInfo(), true);
  if (typeof u.CpuShares === 'number' && u.CpuShares < 0) {
    throw invalid('shares: invalid argument');
  }
  const cannot = (e: unknown) =>
    new BerthError(
      e instanceof BerthError ? e.code : 'INTERNAL',
      `Cannot update container ${c.Id}: ${messageOf(e)}`,
    );
  await life.locks.lockedLive(c, async () => {
    if (c.State.Status === 'removing' || c.State.Status === 'dead' || life.removing.has(c.Id)) {
      throw cannot(conflict('container is marked for removal and cannot be "update"'));
    }
    const hc = { ...c.HostConfig } as Json;
    try {
      mergeUpdate(hc, u);
      if (restart) {
        if (c.HostConfig.AutoRemove && restart.Name !== 'no') {
          throw conflict(
            'Restart policy cannot be updated because AutoRemove is enabled for the container',
          );
        }
        hc.RestartPolicy = restart;
      }
    } catch (e) {
      throw cannot(e);
    }
    if (c.State.Status === 'running') {
      try {
        await life.runtime.update(c.Id, updateResources(hc));
      } catch (e) {
        throw cannot(new BerthError('INTERNAL', messageOf(e)));
      }
    }
    const before = c.HostConfig;
    c.HostConfig = hc as ContainerRecord['HostConfig'];
    try {
      await life.repo.save(c);
    } catch (e) {
      c.HostConfig = before;
      throw cannot(e);
    }
  });
  life.emit(c, 'update');
  return warnings;
}
