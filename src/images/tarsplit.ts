/**
 * A layer's tar, byte for byte, without keeping the tar: what dockerd keeps
 * as `tar-split.json.gz` beside each layer. While a layer is unpacked the
 * recorder keeps every byte of the stream except the contents of regular
 * files (headers, pax and GNU long-name records, padding, the end blocks and
 * anything after them), and for each file's contents only its name and
 * size. `docker save` then writes the layer's tar again from those records
 * and the files in the layer's directory, and the tar's sha256 is the
 * layer's diffID again, as `docker load` (Berth's and Docker's) checks.
 *
 * The records are gzip'd JSON lines: `{"r":"<base64>"}` for kept bytes,
 * `{"f":"<name>","s":<size>}` for a file's contents. Pure, but for the file
 * reads of `assemble`.
 */
import { createHash } from 'node:crypto';
import * as fss from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { cleanName } from '../kernel/unpack.js';

/** One record: bytes kept as they were, or a file's contents by name. */
export type SplitItem = { raw: Buffer } | { file: string; size: number };

const BLOCK = 512;

/** A header's NUL-terminated string field. */
function field(h: Buffer, start: number, len: number): string {
  const f = h.subarray(start, start + len);
  const end = f.indexOf(0);
  return f.subarray(0, end < 0 ? f.length : end).toString('utf8');
}

/** A numeric field: octal text, or GNU base-256 (high bit set). */
function numField(h: Buffer, start: number, len: number): number {
  const f = h.subarray(start, start + len);
  if ((f[0] as number) & 0x80) {
    let n = (f[0] as number) & 0x7f;
    for (let i = 1; i < f.length; i++) n = n * 256 + (f[i] as number);
    return n;
  }
  const t = f.toString('latin1').replace(/\0.*$/s, '').trim();
  return t === '' ? 0 : parseInt(t, 8);
}

/** The records of a pax header: `len key=value\n` lines. */
function paxRecords(b: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < b.length) {
    const sp = b.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(b.subarray(i, sp).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = b.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/** Records a tar stream as it goes by (see the file comment). */
export class SplitRecorder {
  private readonly items: SplitItem[] = [];
  private pending: Buffer[] = [];
  private head = Buffer.alloc(0);
  /** Bytes of the current entry's payload still to come, and whether they are kept. */
  private left = 0;
  private keep = true;
  private meta: Buffer[] | undefined;
  private metaKind = '';
  private pad = 0;
  private ended = false;
  private paxPath: string | undefined;
  private paxSize: number | undefined;
  private globalPath: string | undefined;
  private longName: string | undefined;
  private readonly names = new Set<string>();
  private readonly payloads = new Set<string>();
  /** Every directory above a recorded file. */
  private readonly payloadDirs = new Set<string>();
  /** Why the records cannot rebuild the tar (a file's contents named twice), if so. */
  unusable: string | undefined;

  /** Feeds the next bytes of the (uncompressed) tar. */
  write(chunk: Buffer): void {
    let b = chunk;
    while (b.length > 0) {
      if (this.ended) {
        this.keepBytes(b);
        return;
      }
      if (this.left > 0) {
        const n = Math.min(this.left, b.length);
        const part = b.subarray(0, n);
        if (this.meta) this.meta.push(part);
        if (this.keep) this.keepBytes(part);
        this.left -= n;
        b = b.subarray(n);
        if (this.left === 0) this.endPayload();
        continue;
      }
      if (this.pad > 0) {
        const n = Math.min(this.pad, b.length);
        this.keepBytes(b.subarray(0, n));
        this.pad -= n;
        b = b.subarray(n);
        continue;
      }
      const need = BLOCK - this.head.length;
      this.head = Buffer.concat([this.head, b.subarray(0, need)]);
      b = b.subarray(Math.min(need, b.length));
      if (this.head.length === BLOCK) {
        const h = this.head;
        this.head = Buffer.alloc(0);
        this.header(h);
      }
    }
  }

  private keepBytes(b: Buffer): void {
    if (b.length) this.pending.push(Buffer.from(b));
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.items.push({ raw: Buffer.concat(this.pending) });
    this.pending = [];
  }

  private header(h: Buffer): void {
    this.keepBytes(h);
    if (h.every((x) => x === 0)) {
      // the end blocks: everything from here on is kept as it is
      this.ended = true;
      return;
    }
    const type = String.fromCharCode(h[156] as number);
    let size = numField(h, 124, 12);
    let name = field(h, 0, 100);
    if (h.subarray(257, 263).toString('latin1') === 'ustar\0') {
      const prefix = field(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const meta = type === 'x' || type === 'g' || type === 'L' || type === 'K';
    if (!meta) {
      if (this.longName !== undefined) name = this.longName;
      if (this.paxPath !== undefined) name = this.paxPath;
      else if (this.globalPath !== undefined) name = this.globalPath;
      if (this.paxSize !== undefined) size = this.paxSize;
      this.paxPath = this.paxSize = this.longName = undefined;
    }
    this.left = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.meta = meta ? [] : undefined;
    this.metaKind = type;
    const base = name.slice(name.replace(/\/+$/, '').lastIndexOf('/') + 1);
    const regular = type === '0' || type === '\0' || type === '7';
    this.keep = meta || !regular || size === 0 || base.startsWith('.wh.');
    if (!meta) this.track(name, !this.keep, type === '5');
    if (!this.keep) {
      this.flush();
      this.items.push({ file: this.unusable ? name : cleanName(name), size });
    }
    if (size === 0) this.endPayload();
  }

  /**
   * A file whose contents are recorded by name must be the last word on that
   * path, and on every directory above it: an entry that later makes one of
   * them something else (a symlink `x` after `x/t`) would have the recorded
   * name lead elsewhere when the layer is rebuilt.
   */
  private track(name: string, payload: boolean, dir: boolean): void {
    let clean: string;
    try {
      clean = cleanName(name);
    } catch {
      this.unusable = `bad name ${JSON.stringify(name)}`;
      return;
    }
    if (this.payloads.has(clean) || (payload && this.names.has(clean))) {
      this.unusable ??= `${clean} appears twice`;
    }
    if (!dir && this.payloadDirs.has(clean)) {
      this.unusable ??= `${clean} replaces a directory holding recorded files`;
    }
    this.names.add(clean);
    if (payload) {
      this.payloads.add(clean);
      for (let i = clean.lastIndexOf('/'); i > 0; i = clean.lastIndexOf('/', i - 1)) {
        const parent = clean.slice(0, i);
        if (this.payloadDirs.has(parent)) break;
        this.payloadDirs.add(parent);
      }
    }
  }

  private endPayload(): void {
    const m = this.meta;
    this.meta = undefined;
    if (!m) return;
    const body = Buffer.concat(m);
    if (this.metaKind === 'L') this.longName = field(body, 0, body.length);
    else if (this.metaKind === 'x' || this.metaKind === 'g') {
      const recs = paxRecords(body);
      const path = recs.get('path');
      const size = recs.get('size');
      if (this.metaKind === 'g') {
        if (path !== undefined) this.globalPath = path;
      } else {
        if (path !== undefined) this.paxPath = path;
        if (size !== undefined) this.paxSize = Number(size);
      }
    }
  }

  /** The records, once the stream has ended. */
  finish(): SplitItem[] {
    this.flush();
    return this.items;
  }
}

/** The records as stored (gzip'd JSON lines). */
export function encodeSplit(items: SplitItem[]): Buffer {
  const lines = items.map((i) =>
    JSON.stringify('raw' in i ? { r: i.raw.toString('base64') } : { f: i.file, s: i.size }),
  );
  return gzipSync(lines.join('\n'));
}

/** Stored records back. */
export function decodeSplit(b: Buffer): SplitItem[] {
  const text = gunzipSync(b).toString('utf8');
  if (text === '') return [];
  return text.split('\n').map((l) => {
    const o = JSON.parse(l) as { r?: string; f?: string; s?: number };
    if (typeof o.r === 'string') return { raw: Buffer.from(o.r, 'base64') };
    if (typeof o.f === 'string' && typeof o.s === 'number') return { file: o.f, size: o.s };
    throw new Error('malformed tar-split record');
  });
}

/** The length of the tar the records rebuild. */
export function splitLength(items: SplitItem[]): number {
  return items.reduce((n, i) => n + ('raw' in i ? i.raw.length : i.size), 0);
}

/**
 * Whether every directory from `dir` down to the file `rel` is one, not a
 * symlink: a recorded name must not lead out of the layer (a layer is never
 * written once stored, so what is checked is what is read).
 */
function realDirsTo(dir: string, rel: string): boolean {
  let at = dir;
  const parts = rel.split('/');
  for (const p of parts.slice(0, -1)) {
    at += `/${p}`;
    if (!fss.lstatSync(at, { throwIfNoEntry: false })?.isDirectory()) return false;
  }
  return true;
}

/**
 * Rebuilds the tar from the records and the files under `dir`; the stream
 * fails if a file is not what was recorded or the result's sha256 is not
 * `diffId` (nothing else can be sent for that layer).
 */
export async function* assemble(
  items: SplitItem[],
  dir: string,
  diffId: string,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  for (const i of items) {
    if ('raw' in i) {
      hash.update(i.raw);
      yield i.raw;
      continue;
    }
    const path = `${dir}/${i.file}`;
    const st = realDirsTo(dir, i.file) ? fss.lstatSync(path, { throwIfNoEntry: false }) : undefined;
    if (!st?.isFile() || st.size !== i.size) {
      throw new Error(`layer ${diffId}: ${i.file} is not the file the layer was made with`);
    }
    if (i.size === 0) continue;
    for await (const chunk of fss.createReadStream(path, { end: i.size - 1 })) {
      hash.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== diffId) throw new Error(`layer ${diffId} was rebuilt as ${got}`);
}
