import { access } from 'node:fs/promises';

/** Resolves once `path` exists, polling briefly (gives up silently after `ms`). */
export async function waitForPath(path: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      await access(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}
