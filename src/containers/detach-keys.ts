/**
 * Detach keys: the key sequence that ends an attach or an exec session on a
 * TTY without stopping its process (Docker's `--detach-keys`, the
 * `detachKeys` query, an exec's `DetachKeys`, the client config's
 * `detachKeys`). The format and the default are Docker's (moby/term's
 * ToBytes): comma-separated keys, each one character or `ctrl-<c>` with
 * `<c>` one of `@ a-z [ \ ] ^ _`; default ctrl-p,ctrl-q.
 */

/** ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = Buffer.from([0x10, 0x11]);

const CTRL = '@abcdefghijklmnopqrstuvwxyz[\\]^_';

/** The bytes of a detach-key spec; undefined when it is not valid. Empty is the default. */
export function parseDetachKeys(spec: string): Buffer | undefined {
  if (spec === '') return DEFAULT_DETACH_KEYS;
  const out: number[] = [];
  for (const key of spec.split(',')) {
    if (key.length === 1) {
      out.push(key.charCodeAt(0));
      continue;
    }
    const m = /^ctrl-(.)$/i.exec(key);
    const code = m ? CTRL.indexOf(m[1]!.toLowerCase()) : -1;
    if (code < 0) return undefined;
    out.push(code);
  }
  return Buffer.from(out);
}

/**
 * Watches a stream of input for the detach sequence, across chunks. Bytes
 * that might start the sequence are held back; if the sequence breaks off
 * they go on with the rest. `push` returns what to pass on and whether the
 * sequence was completed (what came after it is dropped).
 */
export class DetachScanner {
  private pos = 0;
  constructor(private readonly keys: Buffer) {}

  push(chunk: Buffer): { pass: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.pos]) {
        this.pos++;
        if (this.pos === this.keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      if (this.pos > 0) {
        out.push(...this.keys.subarray(0, this.pos));
        this.pos = 0;
        if (b === this.keys[0]) {
          this.pos = 1;
          if (this.keys.length === 1) return { pass: Buffer.from(out), detach: true };
          continue;
        }
      }
      out.push(b);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
