/**
 * What orders operations on one container: its lock (every change of a
 * container's state runs under it), and the clients waiting for its next
 * exit or its removal (POST /containers/{id}/wait).
 */
import { invalid, notFound } from '../common/errors.js';
import type { ContainerRepo } from './repo.js';
import type { ContainerRecord } from './types.js';

type Waiter = { condition: 'next-exit' | 'removed'; resolve: (code: number) => void };

/** Running, or waiting to restart: what Docker's State.Running means. */
export function isLive(c: ContainerRecord): boolean {
  return c.State.Status === 'running' || c.State.Status === 'restarting';
}

/** Per-container locks: operations on one container run one after another. */
export class ContainerLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly repo: ContainerRepo) {}

  /** Serialises operations on one container. */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(id, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    }
  }

  /**
   * Like locked, but 404 when the container was removed while `fn` waited
   * for the lock (a removal holds it): nothing may write its record again.
   */
  lockedLive<T>(c: ContainerRecord, fn: () => Promise<T>): Promise<T> {
    return this.locked(c.Id, () => {
      if (this.repo.find(c.Id) !== c) throw notFound(`No such container: ${c.Id}`);
      return fn();
    });
  }
}

/** Clients waiting for a container's next exit or its removal. */
export class Waiters {
  private readonly byId = new Map<string, Waiter[]>();

  /** Wakes the waiters of `condition` with `code`. */
  notify(id: string, condition: Waiter['condition'], code: number): void {
    const waiting = this.byId.get(id) ?? [];
    const keep = waiting.filter((w) => w.condition !== condition);
    for (const w of waiting) if (w.condition === condition) w.resolve(code);
    if (keep.length) this.byId.set(id, keep);
    else this.byId.delete(id);
  }

  /** POST /containers/{id}/wait: resolves with the exit code. */
  wait(c: ContainerRecord, condition: string): Promise<number> {
    if (!['not-running', 'next-exit', 'removed', ''].includes(condition)) {
      throw invalid(`invalid condition: "${condition}"`);
    }
    // A container waiting to restart still counts as running, as in Docker.
    if ((condition === 'not-running' || condition === '') && !isLive(c)) {
      return Promise.resolve(c.State.ExitCode);
    }
    const cond = condition === 'removed' ? 'removed' : 'next-exit';
    return new Promise((resolve) => {
      const waiting = this.byId.get(c.Id) ?? [];
      waiting.push({ condition: cond, resolve });
      this.byId.set(c.Id, waiting);
    });
  }
}
