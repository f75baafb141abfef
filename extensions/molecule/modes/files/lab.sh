#!/bin/sh
# The modes scenario's lab, built inside its one privileged container (a test fixture; run by prepare.yml).
#
# The container's own namespace is the "host": it holds one parent per mode, each a veth end whose peer
# (the "cable") leads into a namespace standing in for what is on the other side of the wire.  The
# converge creates the macvlan children on these parents and moves each into its own "VM" namespace
# (vm-*), created here empty.  IPv6 is off everywhere so the wire carries only the test's own frames.
# Addresses: 203.0.113.0/24 (TEST-NET-3), one /28 per mode.
#
#   parent  peer namespace  on the far side                                   children (converge)
#   p-br    wire-br         plain veth end                                    br1, br2  bridge
#   p-pr    wire-pr         plain veth end, 203.0.113.33 (a peer on the wire) pr1, pr2  private
#   p-vh    sw-vh           port of bridge br0, hairpin ON (reflective relay) vh1, vh2  vepa
#   p-vn    sw-vn           port of bridge br0, hairpin off                   vn1, vn2  vepa
#   p-pt    wire-pt         plain veth end, 203.0.113.81                      pt1       passthru
#   p-src   sw-src          bridge br0 with two senders behind it:            src1      source (A listed)
#                           snd-a 203.0.113.97 MAC 02:00:00:00:0a:01,
#                           snd-b 203.0.113.98 MAC 02:00:00:00:0b:01
#
# Idempotent: removes what an earlier run left (namespaces, parents and their children) first.
set -eu

NAMESPACES="wire-br wire-pr sw-vh sw-vn wire-pt sw-src snd-a snd-b
vm-br1 vm-br2 vm-pr1 vm-pr2 vm-vh1 vm-vh2 vm-vn1 vm-vn2 vm-pt1 vm-src1"
PARENTS="p-br p-pr p-vh p-vn p-pt p-src"

for ns in $NAMESPACES; do
    ip netns del "$ns" 2>/dev/null || true
done
for dev in $PARENTS; do
    ip link del "$dev" 2>/dev/null || true
done

sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
for ns in $NAMESPACES; do
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
done

cable() {  # PARENT PEER_NAMESPACE: a veth pair, the parent here and its peer "wire" there, both up
    ip link add "$1" type veth peer name wire netns "$2"
    ip link set "$1" up
    ip -n "$2" link set wire up
}

switch() {  # NAMESPACE HAIRPIN: bridge br0 in NAMESPACE with the cable's end as a port
    ip -n "$1" link add br0 type bridge
    ip -n "$1" link set br0 up
    ip -n "$1" link set wire master br0
    ip -n "$1" link set wire type bridge_slave hairpin "$2"
}

cable p-br wire-br

cable p-pr wire-pr
ip -n wire-pr addr add 203.0.113.33/28 dev wire

cable p-vh sw-vh
switch sw-vh on

cable p-vn sw-vn
switch sw-vn off

cable p-pt wire-pt
ip -n wire-pt addr add 203.0.113.81/28 dev wire

cable p-src sw-src
switch sw-src off
for sender in a b; do
    ip -n sw-src link add "port-$sender" type veth peer name eth0 netns "snd-$sender"
    ip -n sw-src link set "port-$sender" master br0 up
done
ip -n snd-a link set eth0 address 02:00:00:00:0a:01 up
ip -n snd-a addr add 203.0.113.97/28 dev eth0
ip -n snd-b link set eth0 address 02:00:00:00:0b:01 up
ip -n snd-b addr add 203.0.113.98/28 dev eth0
