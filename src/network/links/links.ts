/**
 * Legacy `--link` on the default bridge (moby's daemon/links): the child's
 * name and ports as environment variables of the parent, and a line in the
 * parent's /etc/hosts. One-directional: the child learns nothing. Pure.
 */
import { invalid } from '../../common/errors.js';

/** `--link name[:alias]` → the child's name and the alias the parent uses. */
export function parseLink(spec: string): { name: string; alias: string } {
  const [rawName = '', rawAlias] = spec.split(':', 2);
  const name = rawName.replace(/^\//, '');
  const alias = (rawAlias ?? name).replace(/^.*\//, '');
  if (!name || !alias || spec.split(':').length > 2) {
    throw invalid(`invalid link format: ${spec}: expected name or name:alias`);
  }
  return { name, alias };
}

export interface LinkedChild {
  /** The child's name without the slash ("test1"). */
  name: string;
  /** The child's IPv4 address on the default bridge. */
  ip: string;
  /** The child's exposed ports ("80/tcp"). */
  exposedPorts: string[];
  /** The child's environment ("K=V"). */
  env: string[];
}

interface Port {
  port: number;
  proto: string;
}

function parsePorts(list: string[]): Port[] {
  return list
    .map((p) => {
      const [n, proto = 'tcp'] = p.split('/');
      return { port: Number(n), proto };
    })
    .filter((p) => Number.isInteger(p.port) && p.port > 0)
    .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}

/**
 * The variables Docker gives the parent for one link (links.go ToEnv):
 * ALIAS_PORT (lowest port), per port ALIAS_PORT_<p>_<PROTO>[_ADDR|_PORT|_PROTO],
 * contiguous ranges also as _START/_END, ALIAS_NAME=/parent/alias, and the
 * child's own environment as ALIAS_ENV_<k> (except HOME and PATH).
 */
export function linkEnv(parentName: string, alias: string, child: LinkedChild): string[] {
  const A = alias.toUpperCase().replace(/-/g, '_');
  const env: string[] = [];
  const ports = parsePorts(child.exposedPorts);
  const first = ports[0];
  if (first) env.push(`${A}_PORT=${first.proto}://${child.ip}:${first.port}`);
  for (let i = 0; i < ports.length;) {
    // j: the last index of a run of consecutive ports of the same protocol.
    let j = i;
    while (
      j + 1 < ports.length &&
      ports[j + 1]!.port === ports[j]!.port + 1 &&
      ports[j + 1]!.proto === ports[i]!.proto
    )
      j++;
    const p = ports[i]!;
    const P = `${A}_PORT_${p.port}_${p.proto.toUpperCase()}`;
    if (j > i) {
      const q = ports[j]!;
      env.push(`${P}_START=${p.proto}://${child.ip}:${p.port}`);
      env.push(`${P}_ADDR=${child.ip}`);
      env.push(`${P}_PROTO=${p.proto}`);
      env.push(`${P}_PORT_START=${p.port}`);
      env.push(`${P}_END=${q.proto}://${child.ip}:${q.port}`);
      env.push(`${P}_PORT_END=${q.port}`);
    }
    for (let k = i; k <= j; k++) {
      const x = ports[k]!;
      const X = `${A}_PORT_${x.port}_${x.proto.toUpperCase()}`;
      env.push(`${X}=${x.proto}://${child.ip}:${x.port}`);
      env.push(`${X}_ADDR=${child.ip}`);
      env.push(`${X}_PORT=${x.port}`);
      env.push(`${X}_PROTO=${x.proto}`);
    }
    i = j + 1;
  }
  env.push(`${A}_NAME=/${parentName.replace(/^\//, '')}/${alias}`);
  for (const e of child.env) {
    const at = e.indexOf('=');
    if (at < 0) continue;
    const k = e.slice(0, at);
    if (k === 'HOME' || k === 'PATH') continue;
    env.push(`${A}_ENV_${k}=${e.slice(at + 1)}`);
  }
  return env;
}

/** The names a link puts on the child's /etc/hosts line in the parent: alias, short ID, then the name if different. */
export function linkHostNames(alias: string, childName: string, childId: string): string[] {
  const short = childId.slice(0, 12);
  return alias === childName ? [alias, short] : [alias, short, childName];
}
