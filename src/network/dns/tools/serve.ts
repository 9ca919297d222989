/**
 * A stand-alone resolver for tests and benchmarks, run inside a lab namespace
 * (`nsenter --net=/run/netns/NS node dist/src/network/dns/tools/serve.js CONFIG`).
 * CONFIG is JSON: { port?, upstreams?, timeoutMs?, tcpIdleMs?, tcpMessageMs?, maxTcpPerClient?,
 * listeners: [{address, networkId?}],
 * endpoints: DnsEndpoint[], codec?: 'native' | 'dns-packet' }.
 * Prints `{"ready":true}` once listening, then takes one JSON command per
 * stdin line and answers one JSON line: upsert, remove, addListener,
 * removeListener, setUpstreams, stats. Exits when stdin closes.
 */
import { createInterface } from 'node:readline';
import dnsPacket from 'dns-packet';
import { messageOf } from '../../../common/errors.js';
import { DnsRecords, type DnsEndpoint } from '../records.js';
import { DnsResolver } from '../resolver.js';
import { DnsServer } from '../server.js';

interface Config {
  port?: number;
  upstreams?: string[];
  timeoutMs?: number;
  tcpIdleMs?: number;
  tcpMessageMs?: number;
  maxTcpPerClient?: number;
  listeners: { address: string; networkId?: string }[];
  endpoints?: DnsEndpoint[];
  codec?: 'native' | 'dns-packet';
}

type Command =
  | { op: 'upsert'; ep: DnsEndpoint }
  | { op: 'remove'; containerId: string; networkId: string }
  | { op: 'addListener'; address: string; networkId?: string }
  | { op: 'removeListener'; address: string }
  | { op: 'setUpstreams'; upstreams: string[] }
  | { op: 'stats' };

/**
 * The comparison point for decision 0009: the same lookups, with every
 * message decoded and encoded by dns-packet (local A names only).
 */
function dnsPacketHandler(records: DnsRecords) {
  return (msg: Buffer, source: string): Buffer | null => {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return null;
    }
    const question = q.questions?.[0];
    const scope = records.client(source);
    if (!question || !scope) return null;
    const set = records.resolve(scope, question.name.toLowerCase());
    const answers = (set?.eps ?? [])
      .filter((e) => e.rec.ipv4 !== undefined)
      .map((e) => ({
        type: 'A' as const,
        name: question.name,
        ttl: 600,
        data: e.rec.ipv4 as string,
      }));
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [question],
      answers,
    });
  };
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;
  const records = new DnsRecords();
  for (const ep of cfg.endpoints ?? []) records.upsertEndpoint(ep);
  const onError = (m: string): void => void process.stderr.write(`${m}\n`);
  const resolver = new DnsResolver({
    records,
    port: cfg.port,
    upstreams: cfg.upstreams,
    timeoutMs: cfg.timeoutMs,
    tcpIdleMs: cfg.tcpIdleMs,
    tcpMessageMs: cfg.tcpMessageMs,
    maxTcpPerClient: cfg.maxTcpPerClient,
    onError,
  });
  const alt =
    cfg.codec === 'dns-packet'
      ? new DnsServer(dnsPacketHandler(records), { port: cfg.port, onError })
      : undefined;
  for (const l of cfg.listeners) {
    if (alt) await alt.addListener(l.address, l.networkId);
    else await resolver.addListener(l.address, l.networkId);
  }
  const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  out({ ready: true, pid: process.pid });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    try {
      const c = JSON.parse(line) as Command;
      switch (c.op) {
        case 'upsert':
          records.upsertEndpoint(c.ep);
          break;
        case 'remove':
          records.removeEndpoint(c.containerId, c.networkId);
          break;
        case 'addListener':
          await resolver.addListener(c.address, c.networkId);
          break;
        case 'removeListener':
          await resolver.removeListener(c.address);
          break;
        case 'setUpstreams':
          resolver.setUpstreams(c.upstreams);
          break;
        case 'stats':
          out({ ok: true, stats: resolver.stats() });
          continue;
      }
      out({ ok: true });
    } catch (e) {
      out({ ok: false, error: messageOf(e) });
    }
  }
  await resolver.close();
  await alt?.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`${messageOf(e)}\n`);
  process.exit(1);
});
