#!/bin/sh
# The purge_rollback scenario's fixture (run by prepare.yml): parents and links that exist before the
# roles run, made with iproute2.
#
#   eth1  managed parent (in macvlan_topology_parents); peer wire1 in namespace far1 with 203.0.113.1/24
#         old-a    macvlan  unlisted                      -> purge deletes it
#         old-tap  macvtap  unlisted                      -> purge deletes it
#         keep-me  macvlan  in macvlan_topology_purge_exclude -> stays
#         mv-host  macvlan  the macvlan_host_access shim's name -> stays
#   eth3  unmanaged parent; peer wire3 in namespace far3
#         other    macvlan  on a parent the role does not manage -> stays
#   br-x  a bridge, and the veth pair eth4/eth5: interfaces of other kinds -> stay
set -eu

for ns in far1 far3; do
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
for dev in old-a old-tap keep-me mv-host other eth1 eth3 eth4 br-x; do
    ip link del "$dev" 2>/dev/null || true
done

ip link add eth1 type veth peer name wire1 netns far1
ip link add eth3 type veth peer name wire3 netns far3
ip link add eth4 type veth peer name eth5
ip link add br-x type bridge
for dev in eth1 eth3 eth4 eth5 br-x; do
    ip link set "$dev" up
done
ip -n far1 link set wire1 up
ip -n far3 link set wire3 up
ip -n far1 addr add 203.0.113.1/24 dev wire1

ip link add old-a link eth1 type macvlan mode bridge
ip link add old-tap link eth1 type macvtap mode vepa
ip link add keep-me link eth1 type macvlan mode private
ip link add mv-host link eth1 type macvlan mode bridge
ip link add other link eth3 type macvlan mode bridge
