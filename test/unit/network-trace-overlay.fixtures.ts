/**
 * `nft monitor trace` output captured in the cluster lab
 * (test/e2e/cluster-trace.test.ts): app on host 1 pings db on host 2 over
 * the overlay `demo` (VNI 256). `host`: host 1's namespace (the
 * encapsulated packet leaving); `overlay`: the overlay network's namespace
 * (the frame crossing br0). Only the probe's trace IDs.
 */
export const overlayPing = {
  table: 'berth-trace-afc186da',
  host: [
    'trace id 3ad3dcee inet berth-trace-afc186da output packet: oif "eth0" @ll,0,160 0x2420a00000302420a0000020800450000243919 ip saddr 192.168.205.10 ip daddr 192.168.205.11 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 24969 ip protocol udp ip length 86 udp sport 40010 udp dport 4789 udp length 66 @th,64,96 0x80000000001000002420a00',
    'trace id 3ad3dcee inet berth-trace-afc186da output unknown rule handle 5 (verdict continue)',
    'trace id 3ad3dcee inet berth-trace-afc186da output policy accept',
    'trace id 3ad3dcee inet berth output packet: oif "eth0" @ll,0,160 0x2420a00000302420a0000020800450000243919 ip saddr 192.168.205.10 ip daddr 192.168.205.11 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 24969 ip protocol udp ip length 86 udp sport 40010 udp dport 4789 udp length 66 @th,64,96 0x80000000001000002420a00',
    'trace id 3ad3dcee inet berth output policy accept',
    'trace id 3ad3dcee inet berth-trace-afc186da postrouting packet: iif 4 oif "eth0" ether saddr 02:42:0a:00:00:02 ether daddr 02:42:0a:00:00:03 @ll,112,48 0x450000243919 ip saddr 192.168.205.10 ip daddr 192.168.205.11 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 24969 ip protocol udp ip length 86 udp sport 40010 udp dport 4789 udp length 66 @th,64,96 0x80000000001000002420a00',
    'trace id 3ad3dcee inet berth-trace-afc186da postrouting unknown rule handle 12 (verdict continue)',
    'trace id 3ad3dcee inet berth-trace-afc186da postrouting policy accept',
    'trace id 3ad3dcee inet berth postrouting packet: iif 4 oif "eth0" ether saddr 02:42:0a:00:00:02 ether daddr 02:42:0a:00:00:03 @ll,112,48 0x450000243919 ip saddr 192.168.205.10 ip daddr 192.168.205.11 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 24969 ip protocol udp ip length 86 udp sport 40010 udp dport 4789 udp length 66 @th,64,96 0x80000000001000002420a00',
    'trace id 3ad3dcee inet berth postrouting policy accept',
  ],
  overlay: [
    'trace id a8b9ec3c bridge berth-trace-afc186da prerouting packet: iif "veth4d72d15" ether saddr 02:42:0a:00:00:02 ether daddr 02:42:0a:00:00:03 ip saddr 10.0.0.2 ip daddr 10.0.0.3 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 14617 ip protocol icmp ip length 36 icmp type echo-request icmp code net-unreachable icmp id 57272 icmp sequence 1 @th,64,64 0x6265727468747263',
    'trace id a8b9ec3c bridge berth-trace-afc186da prerouting unknown rule handle 2 (verdict continue)',
    'trace id a8b9ec3c bridge berth-trace-afc186da prerouting policy accept',
    'trace id a8b9ec3c bridge berth-trace-afc186da forward packet: iif "veth4d72d15" oif "vxlan0" ether saddr 02:42:0a:00:00:02 ether daddr 02:42:0a:00:00:03 ip saddr 10.0.0.2 ip daddr 10.0.0.3 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 14617 ip protocol icmp ip length 36 icmp type echo-request icmp code net-unreachable icmp id 57272 icmp sequence 1 @th,64,64 0x6265727468747263',
    'trace id a8b9ec3c bridge berth-trace-afc186da forward unknown rule handle 4 (verdict continue)',
    'trace id a8b9ec3c bridge berth-trace-afc186da forward policy accept',
    'trace id a8b9ec3c bridge berth-trace-afc186da postrouting packet: oif "vxlan0" ether saddr 02:42:0a:00:00:02 ether daddr 02:42:0a:00:00:03 ip saddr 10.0.0.2 ip daddr 10.0.0.3 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 14617 ip protocol icmp ip length 36 icmp type echo-request icmp code net-unreachable icmp id 57272 icmp sequence 1 @th,64,64 0x6265727468747263',
    'trace id a8b9ec3c bridge berth-trace-afc186da postrouting unknown rule handle 6 (verdict continue)',
    'trace id a8b9ec3c bridge berth-trace-afc186da postrouting policy accept',
  ],
};
