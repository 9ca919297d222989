/**
 * Keeps one engine's leftovers off the other engine's figures. Berth deletes
 * the links it gives up later, when it is idle (decision 0010,
 * src/network/reaper.ts); dockerd and containerd have background work of
 * their own. So when the turn passes from one engine to the other, Berth's
 * deferred deletions are waited for, and either way the machine gets the same
 * quiet gap before the next timed call. Turns that stay with one engine
 * follow each other at once.
 */
import { Rtnl } from '../../src/kernel/netlink/index.js';
import { DOOMED_GROUP } from '../../src/network/reaper.js';
import type { Engine } from './report.js';

/** The quiet gap at every change of engine, whichever went last. */
const SWITCH_GAP_MS = 200;

/** Resolves once the namespace at `netns` holds no link of Berth's reaper group (at most `ms`). */
export async function berthSettled(netns: string, ms = 3000): Promise<void> {
  const rt = Rtnl.open({ netns });
  try {
    const end = Date.now() + ms;
    while ((await rt.listLinks()).some((l) => l.group === DOOMED_GROUP)) {
      if (Date.now() > end) throw new Error(`links still waiting for deletion after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    rt.close();
  }
}

/** Tracks whose turn it is; `begin(e)` before each engine's timed calls. */
export class Turns {
  private last?: Engine;

  /** `berthNetns`: the namespace Berth's daemon runs in. */
  constructor(private readonly berthNetns: string) {}

  /** Returns true when the turn changed hands (the call comes after the quiet gap). */
  async begin(next: Engine): Promise<boolean> {
    const last = this.last;
    this.last = next;
    if (last === undefined || last === next) return false;
    const start = Date.now();
    if (last === 'berth') await berthSettled(this.berthNetns);
    const left = SWITCH_GAP_MS - (Date.now() - start);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    return true;
  }
}
