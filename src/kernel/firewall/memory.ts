/**
 * An in-memory firewall with the nftables back-end's semantics (same element
 * model, same errors), for unit tests of the network layers that must run
 * without root. The integration test runs the same operations against both
 * back-ends and compares their dumps.
 */
import { BerthError } from '../../common/errors.js';
import type { Firewall, ReconcileResult } from './firewall.js';
import {
  bridgeElements,
  checkIfname,
  controlElement,
  listOf,
  portElement,
  type BridgeSpec,
  type ControlEndpoint,
  type Element,
  type PortMapping,
} from './ruleset.js';
import { desiredElements, diffCommands, stateFromElements, type FirewallState } from './state.js';

const id = (e: Element): string => `${e.set} ${e.key}`;

/** Berth's sets and maps as a JavaScript Map; no kernel involved. */
export class MemoryFirewall implements Firewall {
  private base = false;
  private els = new Map<string, Element>();
  private lost = false;

  /** How many batches were applied (tests assert one per operation). */
  batches = 0;

  private apply(add: Element[], remove: Element[]): void {
    if (!this.base) throw new BerthError('NOT_FOUND', 'nftables: No such file or directory');
    // Validate everything first: like a transaction, all or nothing.
    for (const e of [...add, ...remove]) {
      const have = this.els.get(id(e));
      if (have && e.value !== undefined && have.value !== e.value) {
        throw new BerthError('CONFLICT', 'nftables: Could not process rule: File exists');
      }
    }
    for (const e of remove) this.els.delete(id(e));
    for (const e of add) this.els.set(id(e), e);
    this.batches++;
  }

  ensureBase(): void {
    this.base = true;
    this.batches++;
  }

  addBridge(spec: BridgeSpec): void {
    const { present, absent } = bridgeElements(spec);
    this.apply(present, absent);
  }

  removeBridge(name: string): void {
    checkIfname(name);
    const all = bridgeElements({
      name,
      icc: true,
      internal: true,
      masquerade: true,
      masquerade6: true,
    });
    this.apply([], [...all.present, ...all.absent]);
  }

  addPortMapping(m: PortMapping | readonly PortMapping[]): void {
    this.apply(listOf(m).map(portElement), []);
  }

  removePortMapping(m: PortMapping | readonly PortMapping[]): void {
    this.apply([], listOf(m).map(portElement));
  }

  changeControlPlane(add: readonly ControlEndpoint[], remove: readonly ControlEndpoint[]): void {
    this.apply(add.map(controlElement), remove.map(controlElement));
  }

  dump(): FirewallState {
    return stateFromElements([...this.els.values()]);
  }

  reconcile(desired: FirewallState): ReconcileResult {
    const want = desiredElements(desired);
    const applied = diffCommands(want, [...this.els.values()]);
    const rebuilt = !this.base;
    this.base = true;
    this.els = new Map(want.map((e) => [id(e), e]));
    this.batches++;
    return { applied, foreign: [], rebuilt };
  }

  destroy(): void {
    this.base = false;
    this.els.clear();
    this.batches++;
  }

  /** Plays another program deleting Berth's table (`nft flush ruleset`). */
  deletedByOthers(): void {
    this.base = false;
    this.els.clear();
    this.lost = true;
  }

  tampered(): boolean {
    const t = this.lost;
    this.lost = false;
    return t;
  }

  close(): void {}
}
