/**
 * The build context `berth build` sends, as the docker CLI makes it: the
 * context directory as a tar (owned by root, files in walk order),
 * `.dockerignore` applied (the Dockerfile and `.dockerignore` themselves are
 * always sent), a Dockerfile from stdin or from outside the context added
 * under a random `.dockerfile.<id>` name, and stdin as the whole context
 * (a tar, or a lone Dockerfile).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { keepBuildFiles, PatternMatcher, readDockerignore } from '../build/dockerignore.js';

/** A context ready to send. */
export interface BuildContext {
  /** The tar stream. */
  body: Readable;
  /** The Dockerfile's name inside it (the `dockerfile` query parameter). */
  dockerfile: string;
}

/** A context that cannot be made (the CLI prints `unable to prepare context: ...`). */
export class ContextError extends Error {}

type Entry = { name: string; path?: string; st?: fs.Stats; content?: Buffer };

/** Entries of `dir` for the tar, in filepath.Walk order, `.dockerignore` rules applied. */
function walk(dir: string, pm: PatternMatcher): Entry[] {
  const out: Entry[] = [];
  const visit = (rel: string): void => {
    const abs = rel === '' ? dir : join(dir, rel);
    let names: string[];
    try {
      names = fs.readdirSync(abs).sort();
    } catch {
      throw new ContextError(`can't stat '${abs}'`);
    }
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const p = join(dir, r);
      const st = fs.lstatSync(p);
      if (pm.matches(r)) {
        // an excluded directory is still walked when an exception may match below it
        if (st.isDirectory() && pm.exclusions && !pm.canSkipDir(r)) visit(r);
        continue;
      }
      if (st.isFile()) {
        try {
          fs.closeSync(fs.openSync(p, 'r'));
        } catch {
          throw new ContextError(`error checking context: no permission to read from '${p}'`);
        }
      }
      out.push({ name: r, path: p, st });
      if (st.isDirectory()) visit(r);
    }
  };
  visit('');
  return out;
}

/** Streams a file into a tar entry (streamx's writable: write/drain, then end()). */
async function copyInto(path: string, w: ReturnType<tar.Pack['entry']>): Promise<void> {
  for await (const chunk of fs.createReadStream(path)) {
    if (!w.write(chunk as Buffer)) await once(w as unknown as NodeJS.EventEmitter, 'drain');
  }
  (w as unknown as { end(): void }).end();
}

function tarOf(entries: Entry[]): Readable {
  const pack = tar.pack();
  void (async () => {
    for (const e of entries) {
      const st = e.st;
      const base = { uid: 0, gid: 0, mtime: st?.mtime ?? new Date() };
      await new Promise<void>((ok, fail) => {
        const done = (err?: Error | null): void => (err ? fail(err) : ok());
        if (!st) {
          const content = e.content ?? Buffer.alloc(0);
          pack.entry({ ...base, name: e.name, mode: 0o600, size: content.length }, content, done);
        } else if (st.isDirectory()) {
          pack.entry(
            { ...base, name: `${e.name}/`, type: 'directory', mode: st.mode & 0o7777 },
            Buffer.alloc(0),
            done,
          );
        } else if (st.isSymbolicLink()) {
          const linkname = fs.readlinkSync(e.path as string);
          pack.entry(
            { ...base, name: e.name, type: 'symlink', linkname, mode: st.mode & 0o7777 },
            Buffer.alloc(0),
            done,
          );
        } else if (st.isFile()) {
          const w = pack.entry(
            { ...base, name: e.name, mode: st.mode & 0o7777, size: st.size },
            done,
          );
          void copyInto(e.path as string, w).catch(fail);
        } else ok(); // sockets, FIFOs and devices are not sent
      });
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

/** `-f` resolved against the context: its path inside, or undefined when it lies outside. */
function dockerfileIn(dir: string, given: string): { rel?: string; abs: string } {
  let abs = given ? resolve(given) : join(dir, 'Dockerfile');
  if (!given && !fs.existsSync(abs) && fs.existsSync(join(dir, 'dockerfile'))) {
    abs = join(dir, 'dockerfile');
  }
  try {
    abs = fs.realpathSync(abs);
  } catch {
    if (!fs.existsSync(abs))
      throw new ContextError(`Cannot locate Dockerfile: ${JSON.stringify(abs)}`);
  }
  const rel = relative(dir, abs);
  if (rel.startsWith(`..${sep}`) || isAbsolute(rel)) return { abs };
  return { rel: rel.split(sep).join('/'), abs };
}

/** Reads the local directory `contextPath` into a context; `dockerfileText` is a Dockerfile from stdin. */
export function contextFromDir(
  contextPath: string,
  file: string,
  dockerfileText?: Buffer,
): BuildContext {
  let dir: string;
  try {
    dir = fs.realpathSync(resolve(contextPath));
  } catch {
    throw new ContextError(`path ${JSON.stringify(contextPath)} not found`);
  }
  if (!fs.statSync(dir).isDirectory())
    throw new ContextError(`context must be a directory: ${dir}`);
  let extra = dockerfileText;
  let name = 'Dockerfile';
  if (extra === undefined) {
    const df = dockerfileIn(dir, file);
    if (df.rel !== undefined) name = df.rel;
    else extra = fs.readFileSync(df.abs);
  }
  const ignorePath = join(dir, '.dockerignore');
  let patterns = fs.existsSync(ignorePath)
    ? readDockerignore(fs.readFileSync(ignorePath, 'utf8'))
    : [];
  patterns = keepBuildFiles(patterns, name, extra !== undefined);
  const entries = walk(dir, new PatternMatcher(patterns));
  if (extra !== undefined) {
    // as the docker CLI: a Dockerfile from elsewhere goes in under a random name, ignored by the context
    name = `.dockerfile.${randomBytes(10).toString('hex')}`;
    const ignore = entries.find((e) => e.name === '.dockerignore');
    const text = `${ignore ? fs.readFileSync(ignorePath, 'utf8') : ''}\n${name}\n`;
    if (ignore) Object.assign(ignore, { st: undefined, content: Buffer.from(text) });
    else entries.push({ name: '.dockerignore', content: Buffer.from(text) });
    entries.push({ name, content: extra });
  }
  return { body: tarOf(entries), dockerfile: name };
}

/** Whether bytes start a tar archive or a compressed stream (docker's IsArchive). */
export function isArchive(head: Buffer): boolean {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return true;
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true;
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return true;
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
}

/** Stdin as the context: a tar as is, or a lone Dockerfile made into one. */
export function contextFromStdin(input: Buffer, file: string): BuildContext {
  if (isArchive(input)) return { body: Readable.from([input]), dockerfile: file || 'Dockerfile' };
  if (file === '-') throw new ContextError('build context is not an archive');
  if (file)
    throw new ContextError(
      'ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles',
    );
  return { body: tarOf([{ name: 'Dockerfile', content: input }]), dockerfile: 'Dockerfile' };
}
