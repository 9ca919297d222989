/**
 * libnftables in-process through koffi: one context, one call per batch. The
 * library applies a whole buffer as one netlink transaction, so a batch either
 * takes effect entirely or not at all, and a failure comes back as a typed
 * error carrying the library's own message.
 *
 * Namespaces: a context's netlink socket is opened by nft_ctx_new, in the
 * namespace of the calling thread, and keeps that namespace for its life.
 * A context for another namespace is created, and every batch on it is run,
 * with the calling thread switched into that namespace for the duration of one
 * synchronous call (so the library's own lookups, like interface names, see the
 * same namespace) and switched back before any other JavaScript runs.
 */
import koffi from 'koffi';
import { BerthError, type ErrorCode } from '../../common/errors.js';
import { inNetns, withSignalsBlocked } from '../sys/libc.js';

/** A batch libnftables refused; nothing of it was applied. */
export class FirewallError extends BerthError {
  constructor(
    code: ErrorCode,
    /** The library's error text (its "Error: ..." lines with the caret). */
    readonly nftMessage: string,
    /** The batch that failed. */
    readonly batch: string,
  ) {
    super(code, `nftables: ${firstLine(nftMessage)}`);
    this.name = 'FirewallError';
  }
}

function firstLine(s: string): string {
  const lines = s.split('\n').filter((l) => l.trim());
  const err = lines.find((l) => l.startsWith('Error:'));
  return (err ?? lines[0] ?? 'command failed').replace(/^Error:\s*/, '');
}

/** Maps the errno text libnftables prints to a stable code. */
function codeOf(msg: string): ErrorCode {
  if (/File exists|Device or resource busy|interval overlaps/.test(msg)) return 'CONFLICT';
  if (/No such file or directory/.test(msg)) return 'NOT_FOUND';
  if (/Operation not permitted/.test(msg)) return 'FORBIDDEN';
  return 'INTERNAL';
}

const NFT_CTX_OUTPUT_JSON = 1 << 4;

interface Api {
  ctxNew(flags: number): unknown;
  ctxFree(ctx: unknown): void;
  bufferOutput(ctx: unknown): number;
  bufferError(ctx: unknown): number;
  getOutput(ctx: unknown): string | null;
  getError(ctx: unknown): string | null;
  run(ctx: unknown, buf: string): number;
  setOutputFlags(ctx: unknown, flags: number): void;
}

let api: Api | undefined;

function load(): Api {
  if (api) return api;
  let lib: koffi.IKoffiLib;
  try {
    lib = koffi.load('libnftables.so.1');
  } catch (e) {
    throw new BerthError('UNAVAILABLE', `libnftables is not available: ${(e as Error).message}`);
  }
  // An anonymous opaque type: a named one would clash with any other binding of it.
  const ctx = koffi.pointer(koffi.opaque());
  api = {
    ctxNew: lib.func('nft_ctx_new', ctx, ['uint32_t']),
    ctxFree: lib.func('nft_ctx_free', 'void', [ctx]),
    bufferOutput: lib.func('nft_ctx_buffer_output', 'int', [ctx]),
    bufferError: lib.func('nft_ctx_buffer_error', 'int', [ctx]),
    getOutput: lib.func('nft_ctx_get_output_buffer', 'const char *', [ctx]),
    getError: lib.func('nft_ctx_get_error_buffer', 'const char *', [ctx]),
    run: lib.func('nft_run_cmd_from_buffer', 'int', [ctx, 'const char *']),
    setOutputFlags: lib.func('nft_ctx_output_set_flags', 'void', [ctx, 'unsigned int']),
  } as Api;
  return api;
}

/** Options for a libnftables context. */
export interface NftablesOptions {
  /** A bind-mounted network namespace file; absent: the calling thread's namespace. */
  netns?: string;
}

/** One libnftables context. Not thread-safe; use it from the thread that opened it. */
export class Nftables {
  private ctx: unknown;

  private constructor(
    ctx: unknown,
    /** The namespace file this context works in, if not the caller's own. */
    readonly netns: string | undefined,
  ) {
    this.ctx = ctx;
  }

  /** Creates a context (its netlink socket opens in the chosen namespace). */
  static open(opts: NftablesOptions = {}): Nftables {
    const a = load();
    // NFT_CTX_DEFAULT (0): open the netlink socket now, in this thread's namespace.
    const make = () => a.ctxNew(0);
    const ctx = opts.netns ? inNetns(opts.netns, make) : make();
    if (!ctx) throw new BerthError('INTERNAL', 'nft_ctx_new failed');
    a.bufferOutput(ctx);
    a.bufferError(ctx);
    return new Nftables(ctx, opts.netns);
  }

  /** Applies `batch` as one transaction and returns the library's output text. */
  run(batch: string): string {
    return this.exec(batch, false);
  }

  /** Runs one listing command with JSON output and returns the parsed document. */
  runJson(cmd: string): unknown {
    const out = this.exec(cmd, true);
    return JSON.parse(out);
  }

  private exec(batch: string, json: boolean): string {
    const a = load();
    const ctx = this.ctx;
    if (!ctx) throw new BerthError('INTERNAL', 'nftables context is closed');
    const call = () => {
      a.setOutputFlags(ctx, json ? NFT_CTX_OUTPUT_JSON : 0);
      const rc = a.run(ctx, batch);
      // Reading both buffers also resets them for the next call.
      const out = a.getOutput(ctx) ?? '';
      const err = a.getError(ctx) ?? '';
      return { rc, out, err };
    };
    // libnftables waits for the kernel's answers in select(2), which a
    // signal (a child's SIGCHLD) interrupts for good: held back meanwhile.
    const { rc, out, err } = withSignalsBlocked(() =>
      this.netns ? inNetns(this.netns, call) : call(),
    );
    if (rc !== 0) throw new FirewallError(codeOf(err), err || out, batch);
    return out;
  }

  /** Frees the context and closes its socket; further calls throw. */
  close(): void {
    if (this.ctx) load().ctxFree(this.ctx);
    this.ctx = undefined;
  }
}
