/** Docker-style events (`GET /events`): a bus with a short replay buffer for `since`. */

export interface BerthEvent {
  Type: 'container' | 'image' | 'network' | 'volume' | 'daemon';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local' | 'swarm';
  time: number;
  timeNano: number;
  /** Legacy fields Docker still sends for containers. */
  status?: string;
  id?: string;
  from?: string;
}

type Listener = (e: BerthEvent) => void;

export class EventBus {
  private listeners = new Set<Listener>();
  private recent: BerthEvent[] = [];

  /** Publishes an event to every subscriber and keeps it for `since` queries. */
  publish(
    type: BerthEvent['Type'],
    action: string,
    id: string,
    attributes: Record<string, string> = {},
  ): void {
    const nowNs = BigInt(Date.now()) * 1000000n;
    const e: BerthEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Number(nowNs / 1000000000n),
      timeNano: Number(nowNs),
    };
    if (type === 'container') {
      e.status = action;
      e.id = id;
      if (attributes.image) e.from = attributes.image;
    }
    this.recent.push(e);
    if (this.recent.length > 1024) this.recent.splice(0, this.recent.length - 1024);
    for (const l of this.listeners) l(e);
  }

  /** Events kept in memory at or after `sinceSeconds`. */
  since(sinceSeconds: number): BerthEvent[] {
    return this.recent.filter((e) => e.time >= sinceSeconds);
  }

  /** Subscribes; returns the unsubscribe function. */
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
