#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: macvlan
short_description: Manage one Linux macvlan or macvtap link
version_added: 0.1.0
description:
  - Creates, changes and removes one macvlan or macvtap link on a parent interface, over netlink.
  - Attributes the kernel can change in place (mode between V(private), V(vepa), V(bridge) and V(source),
    MAC address, MTU, source MACs, flags, broadcast queue settings, addresses, routes, up/down) are changed in
    place. Attributes it cannot change (parent, type, moving into or out of V(passthru), namespace placement)
    follow O(recreate).
  - Every change is read back from the kernel and compared with what was asked; a difference fails the task
    and names the attribute. When a step or the read-back fails, the link is restored to what it was before
    the task, and the failure lists what was restored.
  - Bad input (invalid names or MAC addresses, an MTU above the parent's, a missing parent or namespace,
    options that do not fit the mode, an interface of another kind with the same name) fails before anything
    is changed.
author:
  - hostnet.macvlan maintainers (@hostnet)
extends_documentation_fragment:
  - hostnet.macvlan.bytecode_cache
  - hostnet.macvlan.netns
  - hostnet.macvlan.lock
  - hostnet.macvlan.pyroute2
attributes:
  check_mode:
    support: full
    description: Plans the change, reports it (and the diff) and changes nothing.
  diff_mode:
    support: full
    description: Shows the link's attributes before and after.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  name:
    description:
      - Name of the link, a string; at most 15 bytes, without C(/), C(:), C(%), white space or control characters
        (checked byte by byte as the kernel does; the UTF-8 of letters such as C(à) holds a byte the kernel counts
        as white space).
      - An existing interface of another kind (veth, bridge, a physical NIC) with this name in the namespace
        where the link lives is never changed or deleted; the task fails instead. A name is taken only there; a
        link with O(link_netns) may be called like an interface of O(netns) (a container's C(eth0)).
    type: raw
    required: true
  parent:
    description:
      - Parent ("lower") interface, looked up in O(netns), a string. Required when O(state=present).
      - Must be an Ethernet interface (a NIC, veth, bond, bridge, VLAN; not the loopback or a tunnel), and not
        itself a macvlan or macvtap.
      - Changing the parent of an existing link re-creates it (see O(recreate)).
      - V(default) is the interface of the IPv4 default route of O(netns) (main table, lowest metric), as CNI
        chooses C(master) when it is omitted; resolved on every run, reported in RV(resolved). No default route,
        or two interfaces sharing the lowest metric, is an error. An interface really named C(default) cannot be
        named as a parent.
    type: raw
  type:
    description:
      - V(macvlan) for a network interface, V(macvtap) for a tap character device (C(/dev/tapN)) as used by
        QEMU/libvirt.
      - Changing the type of an existing link re-creates it.
    type: str
    choices: [macvlan, macvtap]
    default: macvlan
  mode:
    description:
      - How the link talks to its siblings on the same parent.
      - V(bridge) - siblings talk directly inside the kernel (the default here, as in Docker, CNI and
        NetworkManager; the kernel's own default is V(vepa)).
      - V(private) - siblings do not talk to each other. The kernel drops frames between them, and reflected
        broadcasts (so ARP and neighbour discovery between siblings fail). It is not a filter for unicast that
        an external switch reflects back.
      - V(vepa) - every frame leaves through the parent; siblings talk only if the switch port reflects frames
        (hairpin/reflective relay).
      - V(passthru) - the link owns the parent, may change its MAC address; no other link can share the parent.
      - V(source) - the link receives only frames from the MAC addresses in O(source_macs).
      - Changing between V(private), V(vepa), V(bridge) and V(source) is done in place; into or out of
        V(passthru) re-creates the link.
    type: str
    choices: [private, vepa, bridge, passthru, source]
    default: bridge
  state:
    description:
      - V(present) creates or updates the link, V(absent) deletes it (if it is a macvlan or macvtap).
    type: str
    choices: [present, absent]
    default: present
  link_state:
    description:
      - Administrative state of the link (the C(IFF_UP) flag).
    type: str
    choices: [up, down]
    default: up
  mac_address:
    description:
      - Unicast MAC address of the link, e.g. C(02:42:ac:11:00:10). Lower-cased. Omit to keep the current one
        (a new link gets a random address).
      - Must differ from the parent's and from every other link on the same parent.
      - V(stable) derives a locally administered unicast address from the host's machine id (C(/etc/machine-id)),
        the namespace the link lives in (by name, C(NAME) and C(/run/netns/NAME) being one) and the link's name
        (HMAC-SHA256, like systemd's C(MACAddressPolicy=persistent)), so the link gets the same address every time
        it is created on this host, so a DHCP reservation keeps matching. Reported in RV(resolved). A namespace
        given as C(/proc/PID/ns/net) enters as that path, which changes with the PID.
    type: str
  mtu:
    description:
      - MTU of the link (68-65535); it cannot exceed the parent's MTU. Omit to keep the current one (a new
        link inherits the parent's).
      - Below 1280 the kernel keeps no IPv6 state on the link, so IPv6 addresses and the IPv6 options are refused
        together with such an MTU.
    type: int
  source_macs:
    description:
      - The exact set of source MAC addresses a V(source) mode link accepts frames from. Addresses not listed
        are removed. Only valid with O(mode=source). Omit to leave the list as it is.
      - At most 5000 addresses, because the kernel takes and reports the list in one netlink attribute (64 KiB).
    type: list
    elements: str
  nopromisc:
    description:
      - V(passthru) mode only. When true, the kernel does not put the parent into promiscuous mode for this
        link (C(MACVLAN_FLAG_NOPROMISC)). Omit to keep the current setting.
    type: bool
  nodst:
    description:
      - V(source) mode only. When true, frames that match a source MAC are not also delivered by destination
        MAC (C(MACVLAN_FLAG_NODST)). Omit to keep the current setting.
    type: bool
  bcqueuelen:
    description:
      - Length of the broadcast/multicast receive queue requested by this link
        (C(IFLA_MACVLAN_BC_QUEUE_LEN), Linux 5.11 or later). The parent uses the largest value requested by
        its links (reported as C(bcqueuelen_used)).
    type: int
  bclim:
    description:
      - Broadcast cutoff of the parent's macvlan port (C(IFLA_MACVLAN_BC_CUTOFF), Linux 6.4 or later).
        Multicast is queued and delivered to all links only while the number of links is below this limit.
        V(-1) disables queued delivery. This setting is shared by all links of the parent.
    type: int
  allmulticast:
    description:
      - Receive all multicast frames (C(IFF_ALLMULTI), C(ip link set allmulticast on)), as routing daemons and
        multicast receivers in containers need. A new link gets it in its creation request. Omit to leave it as
        it is (a new link has it off).
      - Persisted by systemd-networkd (C(AllMulticast=)) and ifupdown; NetworkManager has no setting for it
        (reported by M(hostnet.macvlan.macvlan_persist)).
    type: bool
  multicast:
    description:
      - The link's multicast flag (C(IFF_MULTICAST)); V(false) stops IPv4/IPv6 multicast on it (IPv6 neighbour
        discovery needs it). Omit to leave it as it is (a new link has it on).
      - Persisted by systemd-networkd (C(Multicast=)) and ifupdown; NetworkManager has no setting for V(false).
    type: bool
  ipv6_disabled:
    description:
      - Turn IPv6 off on the link (the sysctl C(net.ipv6.conf.<name>.disable_ipv6) of the namespace the link
        lives in); V(false) turns it on. The kernel drops the link's IPv6 addresses and routes when IPv6 is
        turned off, so O(addresses) and O(routes) must not list IPv6 ones with V(true) (refused).
      - Omit to leave it as it is. A new link gets it before it comes up, and never has an IPv6 address.
      - Needs a kernel with IPv6 (not booted with C(ipv6.disable=1)).
    type: bool
  ipv6_accept_ra:
    description:
      - Accept IPv6 router advertisements (the sysctl C(accept_ra)); V(true) is the kernel's 1, V(false) its 0.
        The kernel's 2 (accept even when forwarding) is reported as V(2) by the facts and changed by either value.
      - Omit to leave it as it is.
    type: bool
  ipv6_autoconf:
    description:
      - Configure addresses from the prefixes of router advertisements (SLAAC; the sysctl C(autoconf)).
      - Omit to leave it as it is.
    type: bool
  ipv6_addr_gen_mode:
    description:
      - How the kernel generates the link's IPv6 link-local (and SLAAC interface) address
        (C(IFLA_INET6_ADDR_GEN_MODE), C(ip link set addrgenmode)). V(eui64) from the MAC address, V(none) no
        link-local address at all, V(stable_privacy) RFC 7217 addresses from a stable secret, V(random)
        (Linux 4.15) a random one.
      - V(stable_privacy) needs C(net.ipv6.conf.<name>.stable_secret) or C(net.ipv6.conf.default.stable_secret)
        set in the link's namespace (a new link inherits the default); without one the task fails before any
        change.
      - A new link gets it before it comes up. Changed in place, it applies to addresses generated later (the
        next time the link comes up); an existing link-local address stays.
      - Omit to leave it as it is.
    type: str
    choices: [eui64, none, stable_privacy, random]
  addresses:
    description:
      - The exact set of IP addresses with prefix length (IPv4 and IPv6), e.g. V(192.0.2.10/24),
        V(2001:db8::10/64). Addresses not listed are removed, except IPv6 link-local ones the kernel adds and
        addresses with a lifetime (IPv6 autoconfiguration, privacy addresses, DHCP leases), which their owners
        manage.
      - An IPv6 scope id (V(fe80::5%eth0/64)) is refused, because an address belongs to the link it is listed on.
      - Omit to leave the link's addresses untouched.
    type: list
    elements: str
  routes:
    description:
      - The exact set of routes through this link in the main table. Routes the kernel adds for addresses
        (C(proto kernel)), and routes from router advertisements or DHCP, are never touched.
      - A route to the subnet of one of the link's addresses with the default metric (IPv4 metric 0) is the
        kernel's own prefix route; it is already there and is not added again. Give it another metric to have a
        second route.
      - The main table keeps one route per destination and metric; a route another link (or gateway) already
        holds is refused before anything changes, naming the holder.
      - Omit to leave the link's routes untouched. Needs O(link_state=up).
      - Each route is a destination network with prefix length (V(198.51.100.0/24)) or V(default), or a dict
        with the keys C(dest) (that destination, required), C(gateway) and C(metric). Any other value or key is
        refused, naming the route.
      - C(gateway) is the next hop; omit it for a route straight onto the link. An IPv6 link-local gateway may
        carry this link's own name as scope id (V(fe80::1%mv0)); another scope id is refused (the route always
        leaves through this link).
      - C(metric) is the route metric; the kernel's default (0 for IPv4, 1024 for IPv6) when omitted.
    type: list
    elements: raw
  link_netns:
    description:
      - Network namespace the link is moved into after it is created in O(netns) (where the parent is); the
        link is looked for there afterwards. A name from C(ip netns list) or a path such as
        C(/proc/PID/ns/net).
      - A link that exists in O(netns) is moved in place. Moving drops its addresses and routes (they are then
        set again in the new namespace) and takes it down.
    type: str
  recreate:
    description:
      - What to do when an attribute the kernel cannot change in place differs (parent, type, into or out of
        V(passthru), namespace placement).
      - V(auto) deletes and re-creates the link (reported in RV(actions)); V(never) fails naming the attribute
        and changes nothing.
    type: str
    choices: [auto, never]
    default: auto
seealso:
  - module: hostnet.macvlan.promisc
  - module: hostnet.macvlan.macvlan_info
  - name: Linux macvlan driver
    description: The kernel's macvlan and macvtap documentation.
    link: https://docs.kernel.org/networking/macvlan.html
"""

EXAMPLES = r"""
- name: The parent accepts frames for its macvlans' MAC addresses
  hostnet.macvlan.promisc:
    name: eth1
    promisc: true

- name: A bridge-mode macvlan with a fixed MAC, MTU and addresses
  hostnet.macvlan.macvlan:
    name: mv-web
    parent: eth1
    mode: bridge
    mac_address: "02:42:ac:11:00:10"
    mtu: 1400
    addresses:
      - 192.0.2.10/24
      - 2001:db8::10/64
    routes:
      - dest: 198.51.100.0/24
        gateway: 192.0.2.1

- name: A source-mode macvlan that only hears two peers
  hostnet.macvlan.macvlan:
    name: mv-src
    parent: eth1
    mode: source
    source_macs:
      - "02:00:00:00:00:01"
      - "02:00:00:00:00:02"
    nodst: true

- name: A passthru macvtap for a VM that owns eth2
  hostnet.macvlan.macvlan:
    name: mvtap0
    parent: eth2
    mode: passthru
    type: macvtap
    nopromisc: true

- name: A macvlan for a container, moved into its network namespace
  hostnet.macvlan.macvlan:
    name: mv-app
    parent: eth1
    link_netns: /proc/4242/ns/net
    addresses: [192.0.2.20/24]

- name: Remove a link
  hostnet.macvlan.macvlan:
    name: mv-old
    state: absent
"""

RETURN = r"""
link:
  description:
    - The link as read back from the kernel after the change (in check mode, as predicted).
    - When O(state=absent), only RV(link.name) and RV(link.state).
  returned: always
  type: dict
  contains:
    name:
      description: Link name.
      type: str
      sample: mv-web
    state:
      description: V(present) or V(absent).
      type: str
      sample: present
    type:
      description: V(macvlan) or V(macvtap).
      type: str
      sample: macvlan
    parent:
      description: Parent interface name.
      type: str
      sample: eth1
    mode:
      description: Mode.
      type: str
      sample: bridge
    mac_address:
      description: MAC address (lower case).
      type: str
      sample: "02:42:ac:11:00:10"
    mtu:
      description: MTU.
      type: int
      sample: 1400
    link_state:
      description: V(up) or V(down) (the administrative flag).
      type: str
      sample: up
    operstate:
      description: Operational state reported by the kernel (C(UP), C(LOWERLAYERDOWN), ...).
      type: str
      sample: UP
    source_macs:
      description: Source MAC addresses (source mode), sorted.
      type: list
      elements: str
      sample: []
    nopromisc:
      description: The C(nopromisc) flag.
      type: bool
      sample: false
    nodst:
      description: The C(nodst) flag.
      type: bool
      sample: false
    bcqueuelen:
      description: Broadcast queue length requested by this link; null when the kernel does not report it.
      type: int
      sample: 1000
    bcqueuelen_used:
      description: Broadcast queue length the parent uses (the largest requested).
      type: int
      sample: 1000
    bclim:
      description: Broadcast cutoff of the parent's macvlan port; null when the kernel does not support it.
      type: int
      sample: 1
    allmulticast:
      description: Whether the link receives all multicast frames (C(IFF_ALLMULTI) as set by the user).
      type: bool
      sample: false
    multicast:
      description: The link's multicast flag (C(IFF_MULTICAST)).
      type: bool
      sample: true
    ipv6_disabled:
      description: Whether IPv6 is off on the link (C(disable_ipv6)); null when the kernel has no IPv6.
      type: bool
      sample: false
    ipv6_accept_ra:
      description:
        - Whether the link accepts router advertisements (C(accept_ra) 1 or 0); the integer 2 when the kernel
          holds 2 (accept even when forwarding); null when the kernel has no IPv6.
      type: raw
      sample: true
    ipv6_autoconf:
      description: Whether SLAAC addresses are configured (C(autoconf)); null when the kernel has no IPv6.
      type: bool
      sample: true
    ipv6_addr_gen_mode:
      description: The IPv6 address generation mode (V(eui64), V(none), V(stable_privacy), V(random)).
      type: str
      sample: eui64
    addresses:
      description: IP addresses with prefix length, IPv4 first.
      type: list
      elements: str
      sample: [192.0.2.10/24, "2001:db8::10/64", "fe80::42:acff:fe11:10/64"]
    routes:
      description: Routes through the link in the main table that the collection manages.
      type: list
      elements: dict
      sample: [{dest: 198.51.100.0/24, gateway: 192.0.2.1, metric: 0}]
    netns:
      description: Namespace the link lives in; null for the module's own.
      type: str
      sample: null
    ifindex:
      description: Interface index (absent when check mode plans a change).
      type: int
      sample: 7
    promisc:
      description: The link's own IFF_PROMISC flag (absent when check mode plans a change).
      type: bool
      sample: false
    promiscuity:
      description: The link's promiscuity counter (absent when check mode plans a change).
      type: int
      sample: 0
resolved:
  description:
    - What C(parent=default) and C(mac_address=stable) resolved to on this run, keyed by the option.
  returned: when a link asks for either
  type: dict
  sample:
    parent: eth0
    mac_address: 06:5e:2b:91:7c:0d
actions:
  description: What was done (or, in check mode, would be done), one line per step, in order.
  returned: always
  type: list
  elements: str
  sample:
    - create macvlan mv-web on eth1 (mode bridge, mac address 02:42:ac:11:00:10, mtu 1400, up)
    - add address 192.0.2.10/24 to mv-web
rolled_back:
  description: On failure, the steps that undid the task's changes, last change first.
  returned: failure after a change was started
  type: list
  elements: str
  sample: ["delete macvlan mv-web (created by this run) in the host namespace"]
not_restored:
  description: On failure, what the rollback could not restore, and why (empty when everything was restored).
  returned: failure after a change was started
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

_boot.use_bytecode_cache()  # first: the collection's code below then loads without compiling (see _boot)

from ansible_collections.hostnet.macvlan.plugins.module_utils._options import LINK_OPTIONS
from ansible_collections.hostnet.macvlan.plugins.module_utils._runner import run_link_module


def main():
    module = AnsibleModule(argument_spec=LINK_OPTIONS, supports_check_mode=True)
    run_link_module(module)


if __name__ == "__main__":
    main()
