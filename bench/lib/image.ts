/**
 * Gives the reference dockerd the same busybox image Berth has built in: the
 * very layer tar Berth builds from /bin/busybox (binary, applet hard links from
 * `busybox --list-full`, /etc/passwd and /etc/group), imported with the same
 * CMD and PATH. Both engines then start identical root filesystems, and the
 * layer's diffID proves it.
 *
 * Also an `iperf3` image for throughput benchmarks: the machine's
 * /usr/bin/iperf3 and the shared libraries `ldd` names, no shell.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { buildBusybox } from '../../src/images/busybox.js';
import { dockerAt } from './refdockerd.js';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type Target = { env: { DOCKER_HOST: string } };

/** The first layer's diffID of `busybox:latest` on an engine, or an error text. */
export function busyboxDiffId(d: Target, cliConfig: string): string {
  const r = dockerAt(d, cliConfig, [
    'image',
    'inspect',
    '--format',
    '{{index .RootFS.Layers 0}}',
    'busybox:latest',
  ]);
  return r.status === 0 ? r.stdout.trim() : `(inspect failed: ${r.stderr.trim()})`;
}

/**
 * Builds the rootfs tar in `dir` and imports it into `d` as busybox:latest.
 * Returns the layer's diffID (sha256 of the tar), which is also the diffID of
 * Berth's builtin image: the same builder makes both.
 */
export async function importBusybox(d: Target, cliConfig: string, dir: string): Promise<string> {
  const tarPath = join(dir, 'busybox-rootfs.tar');
  const tar = (await buildBusybox('/bin/busybox')).tar;
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  writeFileSync(tarPath, tar);
  const r = dockerAt(d, cliConfig, [
    'import',
    ...['-c', 'CMD ["sh"]', '-c', `ENV ${PATH_ENV}`],
    tarPath,
    'busybox:latest',
  ]);
  if (r.status !== 0) throw new Error(`docker import failed: ${r.stderr.trim()}`);
  const got = busyboxDiffId(d, cliConfig);
  if (got !== diffId) throw new Error(`dockerd stored busybox layer ${got}, expected ${diffId}`);
  return diffId;
}

/** The image name importIperf3 gives. */
export const IPERF3_IMAGE = 'berth-bench/iperf3:latest';

/** Absolute paths of the shared objects `ldd` lists for `binary` (loader included). */
function sharedLibraries(binary: string): string[] {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ldd ${binary}: ${(r.stderr ?? '').trim()}`);
  const libs = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)\s*$/.exec(line.trim());
    if (m?.[1]) libs.add(m[1]);
    else if (/=>\s*not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return [...libs].sort();
}

/**
 * A one-layer rootfs tar holding `binary` at the same path, every library it
 * loads at the path `ldd` shows (symbolic links resolved into regular files),
 * and a /tmp (iperf3 keeps its buffers in a deleted file there). Deterministic:
 * fixed times and owners, sorted entries.
 */
export async function buildBinaryTar(binary: string): Promise<Buffer> {
  const files = [binary, ...sharedLibraries(binary)].map((p) => ({
    name: p.replace(/^\/+/, ''),
    bytes: readFileSync(realpathSync(p)),
    mode: statSync(realpathSync(p)).mode & 0o777,
  }));
  const dirs = new Map<string, number>([['tmp', 0o1777]]);
  for (const f of files) {
    const parts = f.name.split('/');
    for (let i = 1; i < parts.length; i++) dirs.set(parts.slice(0, i).join('/'), 0o755);
  }
  const base = { mtime: new Date(0), uid: 0, gid: 0 };
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const d of [...dirs.keys()].sort()) {
    pack.entry({ ...base, name: d, type: 'directory', mode: dirs.get(d) as number });
  }
  for (const f of files.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    pack.entry({ ...base, name: f.name, mode: f.mode }, f.bytes);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Imports an iperf3-only image into each engine as IPERF3_IMAGE (command
 * `iperf3 -s`); the same tar for all, checked by the layer's diffID. Returns
 * that diffID.
 */
export async function importIperf3(
  engines: Target[],
  cliConfig: string,
  dir: string,
  binary = '/usr/bin/iperf3',
): Promise<string> {
  const tarPath = join(dir, 'iperf3-rootfs.tar');
  const layer = await buildBinaryTar(binary);
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  writeFileSync(tarPath, layer);
  for (const d of engines) {
    const r = dockerAt(d, cliConfig, [
      'import',
      ...['-c', `CMD ["${binary}", "-s"]`, '-c', `ENV ${PATH_ENV}`],
      tarPath,
      IPERF3_IMAGE,
    ]);
    if (r.status !== 0) throw new Error(`docker import (iperf3) failed: ${r.stderr.trim()}`);
    const got = dockerAt(d, cliConfig, [
      'image',
      'inspect',
      '--format',
      '{{index .RootFS.Layers 0}}',
      IPERF3_IMAGE,
    ]).stdout.trim();
    if (got !== diffId) throw new Error(`iperf3 image layer is ${got || '?'}, expected ${diffId}`);
  }
  return diffId;
}
