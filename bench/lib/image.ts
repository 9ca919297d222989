/**
 * Gives the reference dockerd the same busybox image Berth has built in: the
 * very layer tar Berth builds from /bin/busybox (binary, applet hard links from
 * `busybox --list-full`, /etc/passwd and /etc/group), imported with the same
 * CMD and PATH. Both engines then start identical root filesystems, and the
 * layer's diffID proves it.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
