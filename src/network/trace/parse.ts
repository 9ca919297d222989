/**
 * `nft monitor trace` output, parsed (pure). Each line is
 * `trace id ID FAMILY TABLE CHAIN KIND ...` where KIND is `packet:` (the
 * packet as the chain saw it: iif, oif, addresses, ports), `rule TEXT
 * (verdict V)`, `verdict V` (the chain ended) or `policy V` (a base chain's
 * policy decided). Only the traces that passed the probe's own table are
 * kept: the kernel numbers traces per packet, so a user's traced packets
 * have other IDs.
 */

export interface TraceEvent {
  id: string;
  family: string;
  table: string;
  chain: string;
  kind: 'packet' | 'rule' | 'verdict' | 'policy';
  /** rule: the rule's text. */
  rule?: string;
  /** rule, verdict, policy: the verdict (`accept`, `drop`, `continue`, `jump x`...). */
  verdict?: string;
  /** packet: fields read from the description. */
  packet?: PacketFields;
}

export interface PacketFields {
  iif?: string;
  oif?: string;
  saddr?: string;
  daddr?: string;
  sport?: number;
  dport?: number;
}

const LINE = /^trace id (\S+) (\S+) (\S+) (\S+) (packet:|rule|verdict|policy) ?(.*)$/;

function packetFields(text: string): PacketFields {
  const f: PacketFields = {};
  const word = (re: RegExp) => re.exec(text)?.[1];
  const iif = word(/\biif "([^"]+)"/);
  const oif = word(/\boif "([^"]+)"/);
  const saddr = word(/\bip saddr (\S+)/);
  const daddr = word(/\bip daddr (\S+)/);
  const sport = word(/\b(?:tcp|udp) sport (\d+)/);
  const dport = word(/\b(?:tcp|udp) dport (\d+)/);
  if (iif) f.iif = iif;
  if (oif) f.oif = oif;
  if (saddr) f.saddr = saddr;
  if (daddr) f.daddr = daddr;
  if (sport) f.sport = Number(sport);
  if (dport) f.dport = Number(dport);
  return f;
}

/** One line, or undefined for anything else (a blank line, a header). */
export function parseTraceLine(line: string): TraceEvent | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  const [, id, family, table, chain, kind, rest] = m as unknown as string[];
  const base = { id: id!, family: family!, table: table!, chain: chain! };
  if (kind === 'packet:') return { ...base, kind: 'packet', packet: packetFields(rest!) };
  if (kind === 'rule') {
    const v = /^(.*) \(verdict ([^)]+)\)$/.exec(rest!);
    return v
      ? { ...base, kind: 'rule', rule: v[1]!, verdict: v[2]! }
      : { ...base, kind: 'rule', rule: rest! };
  }
  return { ...base, kind: kind as 'verdict' | 'policy', verdict: rest!.trim() };
}

/** The events of the traces that went through `table` (the probe's; '': any trace table's), in order. */
export function probeEvents(lines: string[], table: string): TraceEvent[] {
  const events = lines.flatMap((l) => {
    const e = parseTraceLine(l);
    return e ? [e] : [];
  });
  // '' : every trace table's (lines filtered already).
  const ids = new Set(
    events
      .filter((e) => (table ? e.table === table : e.table.startsWith('berth-trace-')))
      .map((e) => e.id),
  );
  return events.filter((e) => ids.has(e.id));
}

/**
 * Whether a socket table (/proc/net/tcp, tcp6, udp, udp6 rows) has a socket
 * bound to `ip:port` or to the wildcard (IPv4's, IPv6's, or `::ffff:ip`);
 * for TCP a listening one.
 */
export function listens(table: string, ip: string, port: number, tcp: boolean): boolean {
  const hex = ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .reverse()
    .join('')
    .toUpperCase();
  const wanted = new Set([
    hex,
    '00000000',
    '0'.repeat(32),
    // ::ffff:a.b.c.d, as four host-order 32-bit words.
    `0000000000000000FFFF0000${hex}`,
  ]);
  return table.split('\n').some((row) => {
    const cols = row.trim().split(/\s+/);
    if (!/^\d+:$/.test(cols[0] ?? '')) return false; // a header
    const [addr, p] = (cols[1] ?? '').split(':');
    if (!addr || !p || parseInt(p, 16) !== port) return false;
    // TCP state 0A is LISTEN; UDP sockets are unconnected (07).
    return wanted.has(addr.toUpperCase()) && (!tcp || cols[3] === '0A');
  });
}

/** A dropping rule or chain policy in nftables' own terms. */
export function ruleWords(e: TraceEvent): string {
  const where = `${e.family} ${e.table} ${e.chain}`;
  return e.kind === 'policy'
    ? `the policy of chain ${where} is drop`
    : `rule "${e.rule ?? ''}" in ${where} drops it`;
}
