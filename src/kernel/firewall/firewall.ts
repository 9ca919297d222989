/**
 * The firewall back-end the network drivers call. One interface (so a fake or
 * another back-end can stand in, as netavark's firewall drivers do); the
 * nftables implementation builds its batches with ruleset.ts and applies each
 * one with a single libnftables call. All methods are synchronous: a change
 * is one short in-process call, and no other JavaScript can interleave with a
 * dump-and-repair.
 */
import { hasCode } from '../../common/errors.js';
import { Nftables, type NftablesOptions } from './libnftables.js';
import { NftMonitor, kernelPid } from './monitor.js';
import {
  addBridgeBatch,
  addPortBatch,
  baseBatch,
  chainRuleCounts,
  destroyBatch,
  removeBridgeBatch,
  removePortBatch,
  controlBatch,
  TABLE,
  USER_CHAINS,
  type BaseOptions,
  type BridgeSpec,
  type ControlEndpoint,
  type PortMapping,
} from './ruleset.js';
import {
  desiredElements,
  diffCommands,
  parseDump,
  stateFromElements,
  type Dump,
  type FirewallState,
} from './state.js';

/** What reconcile found and did. */
export interface ReconcileResult {
  /** The commands applied (empty when the kernel already matched). */
  applied: string[];
  /** The table, a set or a chain was missing or edited, and the base was applied again. */
  rebuilt: boolean;
  /** Elements found in Berth's sets that Berth cannot express; left alone. */
  foreign: Dump['foreign'];
}

/** A firewall back-end. Every change is atomic and idempotent. */
export interface Firewall {
  /** Creates Berth's table, chains, sets and maps if missing; keeps elements and the user chain. */
  ensureBase(): void;
  /** Adds (or converges) one bridge's elements. */
  addBridge(spec: BridgeSpec): void;
  /** Removes one bridge's elements; missing ones are fine. */
  removeBridge(name: string): void;
  /** Publishes one port; CONFLICT if that host port already maps elsewhere. */
  addPortMapping(m: PortMapping | readonly PortMapping[]): void;
  /** Unpublishes one port; missing is fine. */
  removePortMapping(m: PortMapping | readonly PortMapping[]): void;
  /** Adds and removes control-plane endpoints containers may not reach (decision 0040); idempotent. */
  changeControlPlane(add: readonly ControlEndpoint[], remove: readonly ControlEndpoint[]): void;
  /** What the kernel holds now, as bridges and ports. */
  dump(): FirewallState;
  /** Makes the kernel's elements exactly `desired` in one transaction (creating the base if missing). */
  reconcile(desired: FirewallState): ReconcileResult;
  /** Removes Berth's table entirely, the user chain included. */
  destroy(): void;
  /**
   * Whether another program may have changed Berth's table since the last
   * call (its table deleted, `nft flush ruleset`, a chain edited): the caller
   * then reconciles. Cheap enough for a timer.
   */
  tampered(): boolean;
  /** Releases the back-end's resources. */
  close(): void;
}

/** Options for the nftables back-end. */
export interface NftFirewallOptions extends NftablesOptions, BaseOptions {
  /**
   * How often `tampered()` also lists the tables (a fallback for lost
   * notifications); default 5000 ms.
   */
  tableCheckMs?: number;
}

/** nfproto of an `inet` table. */
const NFPROTO_INET = 1;

/** The nftables back-end: Berth's `inet berth` table through libnftables. */
export class NftFirewall implements Firewall {
  /** The libnftables context (exposed for tests and diagnostics). */
  readonly nft: Nftables;
  /** Notifications of other programs' changes; opened by the first `tampered()` (null: failed). */
  private monitor?: NftMonitor | null;
  private tableCheckedAt = 0;

  constructor(private readonly opts: NftFirewallOptions = {}) {
    this.nft = Nftables.open(opts);
  }

  tampered(): boolean {
    if (this.monitor === undefined) {
      // From now on every foreign change is seen; before, the caller reconciled.
      const spec = {
        family: NFPROTO_INET,
        table: TABLE.split(' ')[1]!,
        ignoreRulesOf: [...USER_CHAINS],
        ownPid: kernelPid(),
      };
      try {
        this.monitor = NftMonitor.open(spec, this.opts.netns);
      } catch (e) {
        // Said once; the periodic listing still sees a deleted table.
        this.monitor = null;
        throw e;
      }
    }
    let changed = this.monitor?.poll() ?? false;
    const now = Date.now();
    if (now - this.tableCheckedAt >= (this.opts.tableCheckMs ?? 5000)) {
      this.tableCheckedAt = now;
      changed = !this.tablePresent() || changed;
    }
    return changed;
  }

  /** Whether Berth's table exists (a listing of tables only: no chains, sets or elements). */
  private tablePresent(): boolean {
    const doc = this.nft.runJson('list tables inet') as { nftables?: unknown[] };
    const [, name] = TABLE.split(' ');
    return (doc.nftables ?? []).some(
      (i) => (i as { table?: { name?: unknown } }).table?.name === name,
    );
  }

  ensureBase(): void {
    this.nft.run(baseBatch(this.opts));
  }

  addBridge(spec: BridgeSpec): void {
    this.nft.run(addBridgeBatch(spec));
  }

  removeBridge(name: string): void {
    this.nft.run(removeBridgeBatch(name));
  }

  addPortMapping(m: PortMapping | readonly PortMapping[]): void {
    this.nft.run(addPortBatch(m));
  }

  removePortMapping(m: PortMapping | readonly PortMapping[]): void {
    this.nft.run(removePortBatch(m));
  }

  changeControlPlane(add: readonly ControlEndpoint[], remove: readonly ControlEndpoint[]): void {
    this.nft.run(controlBatch(add, remove));
  }

  /** The raw dump: canonical elements, missing sets, foreign elements. */
  dumpElements(): Dump {
    try {
      return parseDump(this.nft.runJson(`list table ${TABLE}`));
    } catch (e) {
      if (hasCode(e, 'NOT_FOUND'))
        return { present: false, elements: [], missingSets: [], foreign: [], chains: {} };
      throw e;
    }
  }

  dump(): FirewallState {
    return stateFromElements(this.dumpElements().elements);
  }

  reconcile(desired: FirewallState): ReconcileResult {
    const want = desiredElements(desired);
    // Only a user's concurrent `nft` can change elements between dump and
    // apply; the batch then fails as a whole and the next attempt sees it.
    for (let attempt = 1; ; attempt++) {
      const d = this.dumpElements();
      const cmds = diffCommands(want, d.elements);
      // A missing table, set or chain is created (an edited chain rewritten)
      // in the same transaction.
      const base =
        !d.present || d.missingSets.length || !this.chainsIntact(d) ? baseBatch(this.opts) : '';
      try {
        if (base || cmds.length) this.nft.run(base + cmds.map((c) => c + '\n').join(''));
        return { applied: cmds, foreign: d.foreign, rebuilt: base !== '' };
      } catch (e) {
        if (attempt >= 3) throw e;
      }
    }
  }

  /** Every chain of Berth's is there with its number of rules, and the user chains. */
  private chainsIntact(d: Dump): boolean {
    if (USER_CHAINS.some((c) => d.chains[c] === undefined)) return false;
    return Object.entries(chainRuleCounts(this.opts)).every(([c, n]) => d.chains[c] === n);
  }

  destroy(): void {
    this.nft.run(destroyBatch());
  }

  close(): void {
    this.monitor?.close();
    this.nft.close();
  }
}
