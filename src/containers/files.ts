/**
 * The files Docker generates per container: /etc/hosts, /etc/hostname,
 * /etc/resolv.conf (moby's libnetwork/etchosts and resolvconf). Pure.
 */

export interface HostsEntry {
  ip: string;
  names: string[];
}

/** /etc/hosts: Docker's fixed header, then the container's own and extra entries. */
export function hostsFile(entries: HostsEntry[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const e of entries) lines.push(`${e.ip}\t${e.names.join(' ')}`);
  return lines.join('\n') + '\n';
}

export interface ResolvInput {
  /** Nameservers of the daemon (its --dns, or its resolv.conf). */
  daemonServers: string[];
  /** Search domains and options of the daemon's resolv.conf. */
  daemonSearch: string[];
  daemonOptions: string[];
  /** Per-container overrides (HostConfig.Dns, DnsSearch, DnsOptions). */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
}

/** Parses a resolv.conf into nameservers, search domains and options. */
export function parseResolvConf(text: string): {
  servers: string[];
  search: string[];
  options: string[];
} {
  const servers: string[] = [];
  let search: string[] = [];
  const options: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [k, ...rest] = line.split(/\s+/);
    if (k === 'nameserver' && rest[0]) servers.push(rest[0]);
    else if (k === 'search' || k === 'domain') search = rest;
    else if (k === 'options') options.push(...rest);
  }
  return { servers, search, options };
}

/**
 * resolv.conf for a container without Berth's DNS: the daemon's servers minus
 * loopback ones (they would point into the container itself), unless the
 * container overrides them.
 */
export function resolvConf(i: ResolvInput): string {
  const servers = i.dns.length ? i.dns : i.daemonServers.filter((s) => !/^127\.|^::1$/.test(s));
  const search = i.dnsSearch.length ? i.dnsSearch : i.daemonSearch;
  const options = i.dnsOptions.length ? i.dnsOptions : i.daemonOptions;
  const lines: string[] = [];
  if (search.length) lines.push(`search ${search.join(' ')}`);
  for (const s of servers) lines.push(`nameserver ${s}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}
