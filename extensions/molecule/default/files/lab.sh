#!/bin/sh
# The default scenario's parents (a test fixture; run by prepare.yml).  The container has no network
# (podman --network none); two veth pairs stand in for its network cards:
#
#   eth1 (parent of the bridge, private, vepa, source and macvtap links)  <->  wire1 in namespace far1:
#        203.0.113.1/24, 2001:db8:1::1/64, and 198.51.100.1/32 on its loopback (a network behind a router)
#   eth2 (parent of the passthru link)                                     <->  wire2 in namespace far2:
#        198.51.100.65/26
#
# Idempotent: removes what an earlier run left first.
set -eu

for ns in far1 far2; do
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
for dev in eth1 eth2; do
    ip link del "$dev" 2>/dev/null || true
done

ip link add eth1 type veth peer name wire1 netns far1
ip link add eth2 type veth peer name wire2 netns far2
ip link set eth1 up
ip link set eth2 up
ip -n far1 link set wire1 up
ip -n far2 link set wire2 up
ip -n far1 addr add 203.0.113.1/24 dev wire1
ip -n far1 addr add 2001:db8:1::1/64 dev wire1 nodad
ip -n far1 addr add 198.51.100.1/32 dev lo
ip netns exec far1 sysctl -qw net.ipv4.ip_forward=1
ip -n far2 addr add 198.51.100.65/26 dev wire2
