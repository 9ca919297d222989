/** Berth's embedded DNS resolver: the daemon's entry points. */
export { DnsResolver, type ResolverOptions, type ResolverStats } from './resolver.js';
export { DnsRecords, type DnsEndpoint } from './records.js';
export { parseUpstream, type Upstream, type UpstreamTransport } from './upstream.js';
