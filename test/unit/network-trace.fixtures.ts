/**
 * `nft monitor trace` output captured in a lab (test/e2e/network-trace.test.ts)
 * for three probes: bridge → my-bridge (isolated), world → a published port,
 * and two containers on one user network. Only the probe's trace IDs.
 */
export const isolation = {
  table: 'berth-trace-84ba7f48',
  lines: [
    'trace id 486ab5b0 bridge berth-trace-84ba7f48 prerouting packet: iif "vethc129168" ether saddr 02:42:ac:11:00:02 ether daddr 02:42:f3:e7:a7:c2 ip saddr 172.17.0.2 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 36874 ip protocol tcp ip length 60 tcp sport 59492 tcp dport 80 tcp flags == syn tcp window 64240',
    'trace id 486ab5b0 bridge berth-trace-84ba7f48 prerouting unknown rule handle 2 (verdict continue)',
    'trace id 486ab5b0 bridge berth-trace-84ba7f48 prerouting policy accept',
    'trace id 486ab5b0 inet berth-trace-84ba7f48 prerouting packet: iif "berth0" ether saddr 02:42:ac:11:00:02 ether daddr 02:42:f3:e7:a7:c2 ip saddr 172.17.0.2 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 36874 ip protocol tcp ip length 60 tcp sport 59492 tcp dport 80 tcp flags == syn tcp window 64240',
    'trace id 486ab5b0 inet berth-trace-84ba7f48 prerouting unknown rule handle 2 (verdict continue)',
    'trace id 486ab5b0 inet berth-trace-84ba7f48 prerouting policy accept',
    'trace id 486ab5b0 inet berth raw-prerouting packet: iif "berth0" ether saddr 02:42:ac:11:00:02 ether daddr 02:42:f3:e7:a7:c2 ip saddr 172.17.0.2 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 36874 ip protocol tcp ip length 60 tcp sport 59492 tcp dport 80 tcp flags == syn tcp window 64240',
    'trace id 486ab5b0 inet berth raw-prerouting policy accept',
    'trace id 486ab5b0 inet berth prerouting packet: iif "berth0" ether saddr 02:42:ac:11:00:02 ether daddr 02:42:f3:e7:a7:c2 ip saddr 172.17.0.2 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 36874 ip protocol tcp ip length 60 tcp sport 59492 tcp dport 80 tcp flags == syn tcp window 64240',
    'trace id 486ab5b0 inet berth prerouting policy accept',
    'trace id 58caa99f inet berth-trace-84ba7f48 forward packet: iif "berth0" oif "br-7c5b1f0549a8" ether saddr 02:42:ac:11:00:02 ether daddr 02:42:f3:e7:a7:c2 ip saddr 172.17.0.2 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 36874 ip protocol tcp ip length 60 tcp sport 59492 tcp dport 80 tcp flags == syn tcp window 64240',
    'trace id 58caa99f inet berth-trace-84ba7f48 forward unknown rule handle 6 (verdict continue)',
    'trace id 58caa99f inet berth-trace-84ba7f48 forward policy accept',
    'trace id 58caa99f inet berth forward packet: iif "berth0" oif "br-7c5b1f0549a8" ether saddr 02:42:ac:11:00:02 ether daddr 02:42:f3:e7:a7:c2 ip saddr 172.17.0.2 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 36874 ip protocol tcp ip length 60 tcp sport 59492 tcp dport 80 tcp flags == syn tcp window 64240',
    'trace id 58caa99f inet berth forward rule jump berth-user (verdict jump berth-user)',
    'trace id 58caa99f inet berth forward rule iifname @bridges oifname @bridges drop (verdict drop)',
  ],
};

export const sameBridge = {
  table: 'berth-trace-f10fc466',
  lines: [
    'trace id 39b895b1 bridge berth-trace-f10fc466 prerouting packet: iif "veth0bcaef0" ether saddr 02:42:ac:12:00:03 ether daddr 02:42:ac:12:00:02 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 bridge berth-trace-f10fc466 prerouting unknown rule handle 2 (verdict continue)',
    'trace id 39b895b1 bridge berth-trace-f10fc466 prerouting policy accept',
    'trace id 39b895b1 inet berth-trace-f10fc466 prerouting packet: iif "br-7c5b1f0549a8" ether saddr 02:42:ac:12:00:03 ether daddr 02:42:ac:12:00:02 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 inet berth-trace-f10fc466 prerouting unknown rule handle 2 (verdict continue)',
    'trace id 39b895b1 inet berth-trace-f10fc466 prerouting policy accept',
    'trace id 39b895b1 inet berth raw-prerouting packet: iif "br-7c5b1f0549a8" ether saddr 02:42:ac:12:00:03 ether daddr 02:42:ac:12:00:02 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 inet berth raw-prerouting policy accept',
    'trace id 39b895b1 inet berth prerouting packet: iif "br-7c5b1f0549a8" ether saddr 02:42:ac:12:00:03 ether daddr 02:42:ac:12:00:02 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 inet berth prerouting policy accept',
    'trace id 39b895b1 inet berth-trace-f10fc466 forward packet: iif "br-7c5b1f0549a8" oif "br-7c5b1f0549a8" ether saddr 02:42:ac:12:00:03 ether daddr 02:42:ac:12:00:02 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 inet berth-trace-f10fc466 forward unknown rule handle 6 (verdict continue)',
    'trace id 39b895b1 inet berth-trace-f10fc466 forward policy accept',
    'trace id 39b895b1 inet berth forward packet: iif "br-7c5b1f0549a8" oif "br-7c5b1f0549a8" ether saddr 02:42:ac:12:00:03 ether daddr 02:42:ac:12:00:02 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 inet berth forward rule jump berth-user (verdict jump berth-user)',
    'trace id 39b895b1 inet berth forward rule iifname . oifname @same-bridge goto intra (verdict goto intra)',
    'trace id 39b895b1 inet berth intra rule iifname @icc accept (verdict accept)',
    'trace id 39b895b1 inet berth-trace-f10fc466 postrouting packet: oif "br-7c5b1f0549a8" @ll,0,112 0x242ac1200020242ac1200030800 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 inet berth-trace-f10fc466 postrouting unknown rule handle 10 (verdict continue)',
    'trace id 39b895b1 inet berth-trace-f10fc466 postrouting policy accept',
    'trace id 39b895b1 inet berth postrouting packet: oif "br-7c5b1f0549a8" @ll,0,112 0x242ac1200020242ac1200030800 ip saddr 172.18.0.3 ip daddr 172.18.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 32600 ip protocol tcp ip length 60 tcp sport 49827 tcp dport 81 tcp flags == syn tcp window 64240',
    'trace id 39b895b1 inet berth postrouting policy accept',
  ],
};

export const published = {
  table: 'berth-trace-a5fbbd8e',
  lines: [
    'trace id 531dad10 inet berth-trace-a5fbbd8e output packet: oif "lo" ip saddr 198.51.100.11 ip daddr 198.51.100.11 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 37332 ip protocol tcp ip length 60 tcp sport 42968 tcp dport 8000 tcp flags == syn tcp window 65495',
    'trace id 531dad10 inet berth-trace-a5fbbd8e output unknown rule handle 4 (verdict continue)',
    'trace id 531dad10 inet berth-trace-a5fbbd8e output policy accept',
    'trace id 531dad10 inet berth output packet: oif "lo" ip saddr 198.51.100.11 ip daddr 198.51.100.11 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 37332 ip protocol tcp ip length 60 tcp sport 42968 tcp dport 8000 tcp flags == syn tcp window 65495',
    'trace id 531dad10 inet berth output rule meta nfproto ipv4 fib daddr type local jump ports (verdict jump ports)',
    'trace id 531dad10 inet berth ports rule dnat ip to meta l4proto . th dport map @ports4 (verdict accept)',
    'trace id 531dad10 inet berth-trace-a5fbbd8e postrouting packet: oif "berth0" ip saddr 198.51.100.11 ip daddr 172.17.0.3 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 37332 ip protocol tcp ip length 60 tcp sport 42968 tcp dport 80 tcp flags == syn tcp window 65495',
    'trace id 531dad10 inet berth-trace-a5fbbd8e postrouting unknown rule handle 10 (verdict continue)',
    'trace id 531dad10 inet berth-trace-a5fbbd8e postrouting policy accept',
    'trace id 531dad10 inet berth postrouting packet: oif "berth0" ip saddr 198.51.100.11 ip daddr 172.17.0.3 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 37332 ip protocol tcp ip length 60 tcp sport 42968 tcp dport 80 tcp flags == syn tcp window 65495',
    'trace id 531dad10 inet berth postrouting policy accept',
  ],
};
