/** Polling for asynchronous effects in tests (watch deliveries, reconnects). */
import assert from 'node:assert/strict';

/** Resolves once `cond` holds, polling every 5 ms; fails after `ms`, naming `what`. */
export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
