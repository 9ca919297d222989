/**
 * `berth cp`: files between a container and the local filesystem through the
 * archive API, with the docker CLI's rules (cli/command/container/cp.go and
 * moby's archive.CopyTo/PrepareArchiveCopy): a destination directory that
 * exists takes the source inside it; one that does not exist is made from a
 * source directory; a file over a file replaces it; `SRC/.` copies a
 * directory's contents; `-` streams a tar on stdin or stdout. The tar's top
 * entry is renamed (rebased) to the destination's name, as the CLI does. The
 * local side is packed and unpacked by GNU tar.
 */
import { spawn } from 'node:child_process';
import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, posix, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ClientError } from '../client.js';
import { StatusError, type Command, type Ctx } from '../command.js';

/** The stat dockerd sends in X-Docker-Container-Path-Stat. */
interface PathStat {
  name: string;
  size: number;
  mode: number;
  linkTarget: string;
}

const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_IRREGULAR = 2 ** 19;

const has = (mode: number, bit: number) => Math.floor(mode / bit) % 2 === 1;

/** cp.go's splitCpArg: `container:path`, unless the argument is a local path. */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (isAbsolute(arg)) return { path: arg };
  const at = arg.indexOf(':');
  if (at < 0 || arg.startsWith('.')) return { path: arg };
  return { container: arg.slice(0, at), path: arg.slice(at + 1) };
}

/** Go's filepath.Clean for slash paths. */
function clean(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** archive.SplitPathDirEntry: the directory and the last element, a final `.` kept. */
export function splitDirEntry(p: string): { dir: string; base: string } {
  let c = clean(p);
  if (posix.basename(p) === '.' || p === '.') c = c === '.' ? './.' : `${c}/.`;
  return { dir: posix.dirname(c), base: posix.basename(c) };
}

/** A path that asserts a directory: it ends with `/` or `/.`. */
const assertsDir = (p: string) => p.endsWith('/') || p.endsWith('/.');

/** archive.RebaseArchiveEntries: entries named `oldBase[/...]` become `newBase[/...]`. */
export function rebase(input: Readable, oldBase: string, newBase: string): Readable {
  const extract = tar.extract();
  const pack = tar.pack();
  const renamed = (name: string): string | undefined => {
    const n = name.replace(/^\.\/(?=.)/, oldBase === '.' ? './' : '');
    if (n === oldBase || n === `${oldBase}/`) return newBase + (n.endsWith('/') ? '/' : '');
    if (n.startsWith(`${oldBase}/`)) return newBase + n.slice(oldBase.length);
    return undefined;
  };
  extract.on('entry', (header, stream, next) => {
    const name = renamed(header.name);
    if (name === undefined) {
      stream.resume();
      stream.on('end', next);
      return;
    }
    header.name = name;
    if (header.type === 'link' && header.linkname)
      header.linkname = renamed(header.linkname) ?? header.linkname;
    stream.pipe(pack.entry(header, next));
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (e) => pack.destroy(e));
  input.pipe(extract);
  return Readable.from(pack);
}

/** Runs GNU tar with `args`, `input` on its stdin (or its stdout returned). */
function gnuTar(args: string[], input?: Readable): { out: Readable; done: Promise<void> } {
  const child = spawn('tar', args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  if (input && child.stdin) {
    input.on('error', (e) => child.stdin?.destroy(e));
    input.pipe(child.stdin);
  }
  const done = new Promise<void>((ok, fail) => {
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0 ? ok() : fail(new StatusError(1, err.trim() || `tar exited with ${code}`)),
    );
  });
  return { out: child.stdout!, done };
}

function decodeStat(header: string | string[] | undefined): PathStat | undefined {
  if (typeof header !== 'string') return undefined;
  return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat;
}

/** HEAD of the archive path: its stat, or undefined when it does not exist. */
async function statPath(ctx: Ctx, container: string, path: string) {
  const res = await ctx.client.request('HEAD', `/containers/${container}/archive`, {
    query: { path },
  });
  res.resume();
  if (res.statusCode === 404) {
    // No such container is an error; a missing path is not (yet).
    await ctx.client.json('GET', `/containers/${container}/json`);
    return undefined;
  }
  if ((res.statusCode ?? 500) >= 400) {
    throw new ClientError(
      res.statusCode ?? 500,
      `cannot stat ${container}:${path}: the daemon answered ${res.statusCode}`,
    );
  }
  return decodeStat(res.headers['x-docker-container-path-stat']);
}

async function fromContainer(
  ctx: Ctx,
  container: string,
  srcIn: string,
  dst: string,
  follow: boolean,
): Promise<void> {
  let src = srcIn;
  let rebaseName = '';
  if (follow) {
    const st = await statPath(ctx, container, src).catch(() => undefined);
    if (st && has(st.mode, GO_SYMLINK)) {
      const target = isAbsolute(st.linkTarget)
        ? st.linkTarget
        : posix.join(splitDirEntry(src).dir, st.linkTarget);
      rebaseName = splitDirEntry(src).base;
      src = target;
    }
  }
  // A non-2xx answer throws the daemon's message, as docker prints it.
  const res = await ctx.client.call('GET', `/containers/${container}/archive`, {
    query: { path: src },
  });
  if (dst === '-') {
    await pipeline(res, ctx.out);
    return;
  }
  const st = decodeStat(res.headers['x-docker-container-path-stat']);
  const srcIsDir = !!st && has(st.mode, GO_DIR);
  let content: Readable = res;
  const srcBase = splitDirEntry(src).base;
  if (rebaseName) content = rebase(content, srcBase, rebaseName);
  const base = rebaseName || srcBase;
  const dstPath = resolve(dst);
  const dstStat = await stat(dstPath).catch(() => undefined);
  let dir: string;
  if (dstStat?.isDirectory()) {
    dir = dstPath;
  } else if (dstStat && srcIsDir) {
    res.resume();
    throw new StatusError(1, 'cannot copy directory');
  } else {
    if (!dstStat) {
      const parent = await stat(dirname(dstPath)).catch(() => undefined);
      if (!parent?.isDirectory() || (!srcIsDir && assertsDir(dst))) {
        res.resume();
        throw new StatusError(1, `no such directory`);
      }
    }
    dir = dirname(dstPath);
    content = rebase(content, base, basename(dstPath));
  }
  const { done } = gnuTar(['-x', '-f', '-', '-C', dir], content);
  await done;
}

async function toContainer(
  ctx: Ctx,
  src: string,
  container: string,
  dstIn: string,
  copyUIDGID: boolean,
  follow: boolean,
): Promise<void> {
  let dst = dstIn;
  let dstStat = await statPath(ctx, container, dst);
  if (dstStat && has(dstStat.mode, GO_SYMLINK)) {
    dst = isAbsolute(dstStat.linkTarget)
      ? dstStat.linkTarget
      : posix.join(splitDirEntry(dst).dir, dstStat.linkTarget);
    dstStat = await statPath(ctx, container, dst);
  }
  // cp.go's ValidateOutputPathFileMode.
  const bad = !dstStat
    ? ''
    : has(dstStat.mode, GO_DEVICE)
      ? 'got a device'
      : has(dstStat.mode, GO_IRREGULAR)
        ? 'got an irregular file'
        : '';
  if (bad) {
    throw new StatusError(
      1,
      `destination "${container}:${dstIn}" must be a directory or a regular file: ${bad}`,
    );
  }
  const dstIsDir = !!dstStat && has(dstStat.mode, GO_DIR);
  let content: Readable;
  let target: string;
  if (src === '-') {
    if (!dstIsDir) {
      throw new StatusError(1, `destination "${container}:${dstIn}" must be a directory`);
    }
    content = ctx.in as unknown as Readable;
    target = dst;
  } else {
    let path = resolve(src) + (src.endsWith('/.') ? '/.' : '');
    let rebaseName = '';
    const linkInfo = await lstat(path).catch(() => undefined);
    if (!linkInfo) throw new StatusError(1, `lstat ${path}: no such file or directory`);
    let info = linkInfo;
    if (follow && linkInfo.isSymbolicLink()) {
      rebaseName = basename(path);
      path = await realpath(path);
      info = await stat(path);
    }
    const srcIsDir = info.isDirectory();
    const { dir, base } = splitDirEntry(path);
    const packed = gnuTar(['-c', '-f', '-', '-C', dir, base]).out;
    let from = base;
    let archive: Readable = packed;
    if (rebaseName) {
      archive = rebase(archive, base, rebaseName);
      from = rebaseName;
    }
    if (dstIsDir) {
      target = dst;
    } else if (dstStat && srcIsDir) {
      throw new StatusError(1, 'cannot copy directory');
    } else if (!dstStat && !srcIsDir && assertsDir(dst)) {
      throw new StatusError(1, 'no such directory');
    } else {
      const d = splitDirEntry(dst);
      target = d.dir;
      archive = rebase(archive, from, d.base);
    }
    content = archive;
  }
  await ctx.client
    .call('PUT', `/containers/${container}/archive`, {
      query: { path: target, noOverwriteDirNonDir: true, copyUIDGID: copyUIDGID || undefined },
      body: content,
      contentType: 'application/x-tar',
    })
    .then((r: Readable) => r.resume());
}

export const cpCommand: Command = {
  path: 'cp',
  aliases: ['container cp'],
  use: 'cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  short: 'Copy files/folders between a container and the local filesystem',
  flags: [
    {
      long: 'archive',
      short: 'a',
      type: 'bool',
      usage: 'Archive mode (copy all uid/gid information)',
    },
    {
      long: 'follow-link',
      short: 'L',
      type: 'bool',
      usage: 'Always follow symbol link in SRC_PATH',
    },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, f) {
    const src = splitCpArg(f.args[0] as string);
    const dst = splitCpArg(f.args[1] as string);
    if (src.container === undefined && dst.container === undefined) {
      throw new StatusError(1, 'must specify at least one container source');
    }
    if (src.container !== undefined && dst.container !== undefined) {
      throw new StatusError(1, 'copying between containers is not supported');
    }
    if (src.container !== undefined) {
      if (!src.path) throw new StatusError(1, 'filepath can not be empty');
      await fromContainer(ctx, src.container, src.path, dst.path, f.bool('follow-link'));
    } else {
      if (!dst.path) throw new StatusError(1, 'filepath can not be empty');
      await toContainer(
        ctx,
        src.path,
        dst.container as string,
        dst.path,
        f.bool('archive'),
        f.bool('follow-link'),
      );
    }
  },
};
