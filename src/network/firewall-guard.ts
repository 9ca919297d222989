/**
 * Keeps Berth's firewall table what the daemon knows, whatever other programs
 * do to it. The table is the kernel side of every network and published port;
 * `nft flush ruleset` (or a deleted table or chain) would otherwise break
 * publishing, NAT and isolation until a restart, and every later firewall
 * change would fail with `No such file or directory`. Two ways back:
 *
 * - a timer asks the back-end whether another program changed the table
 *   (the nftables back-end reads the kernel's change notifications) and
 *   then rebuilds it from the daemon's state in one transaction;
 * - a change that fails because the table, a set or a map is missing
 *   rebuilds first and is tried once more, so a request arriving between
 *   the flush and the timer works.
 *
 * The daemon's state (networks, published ports) is in memory and in the
 * store, never read back from the kernel, so a rebuild loses nothing.
 */
import { hasCode, messageOf } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type {
  BridgeSpec,
  ControlEndpoint,
  Firewall,
  FirewallState,
  PortMapping,
  ReconcileResult,
} from '../kernel/firewall/index.js';

/** How often the timer checks by default. */
export const CHECK_MS = 250;

export class FirewallGuard implements Firewall {
  private timer?: NodeJS.Timeout;
  /** The last failure to check, said once rather than at every tick. */
  private lastFailure = '';

  constructor(
    private readonly inner: Firewall,
    /** What the kernel should hold: every bridge network and published port. */
    private readonly desired: () => FirewallState,
    private readonly log: Pick<Logger, 'warn' | 'error' | 'debug'>,
  ) {}

  /** Starts checking every `everyMs` ms (the timer keeps no process alive). */
  watch(everyMs = CHECK_MS): void {
    if (this.timer) return;
    // The first call subscribes; what happened before it, start-up reconciled.
    this.check();
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref();
  }

  /** Stops the timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check: rebuilds the table when another program changed it; true when it looked. */
  check(): boolean {
    let changed: boolean;
    try {
      changed = this.inner.tampered();
      this.lastFailure = '';
    } catch (e) {
      if (messageOf(e) !== this.lastFailure) {
        this.log.warn(`firewall: cannot check Berth's table: ${messageOf(e)}`);
      }
      this.lastFailure = messageOf(e);
      return false;
    }
    if (changed) this.restore('changed by another program');
    return changed;
  }

  /** Makes the table exactly the daemon's state, in one transaction; logs, never throws. */
  restore(why: string): void {
    try {
      const r = this.inner.reconcile(this.desired());
      if (r.rebuilt || r.applied.length) {
        this.log.warn(
          `firewall: Berth's table was ${why}; restored it` +
            (r.applied.length ? ` (${r.applied.length} element changes)` : ''),
        );
      } else {
        this.log.debug(`firewall: Berth's table was ${why}, and is intact`);
      }
    } catch (e) {
      this.log.error(`firewall: restoring Berth's table: ${messageOf(e)}`);
    }
  }

  /** Runs a change; when the table, a set or a map is gone, rebuilds and runs it once more. */
  private change(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (!hasCode(e, 'NOT_FOUND')) throw e;
      this.restore(`missing (${messageOf(e)})`);
      fn();
    }
  }

  ensureBase(): void {
    this.inner.ensureBase();
  }

  addBridge(spec: BridgeSpec): void {
    this.change(() => this.inner.addBridge(spec));
  }

  removeBridge(name: string): void {
    this.change(() => this.inner.removeBridge(name));
  }

  addPortMapping(m: PortMapping | readonly PortMapping[]): void {
    this.change(() => this.inner.addPortMapping(m));
  }

  removePortMapping(m: PortMapping | readonly PortMapping[]): void {
    this.change(() => this.inner.removePortMapping(m));
  }

  changeControlPlane(add: readonly ControlEndpoint[], remove: readonly ControlEndpoint[]): void {
    this.change(() => this.inner.changeControlPlane(add, remove));
  }

  dump(): FirewallState {
    return this.inner.dump();
  }

  reconcile(desired: FirewallState): ReconcileResult {
    return this.inner.reconcile(desired);
  }

  destroy(): void {
    this.inner.destroy();
  }

  tampered(): boolean {
    return this.inner.tampered();
  }

  close(): void {
    this.stop();
    this.inner.close();
  }
}
