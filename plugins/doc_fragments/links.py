# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The links option, shared by the modules that take a host's whole macvlan state (macvlan_state applies it,
    # macvlan_persist persists it): one text for both. Their parents options differ (applied vs persisted) and stay
    # in each module.
    DOCUMENTATION = r"""
options:
  links:
    description:
      - The links, with the options of M(hostnet.macvlan.macvlan) (except O(hostnet.macvlan.macvlan#module:netns),
        which is O(netns) here for all links, and O(hostnet.macvlan.macvlan#module:lock_timeout)). See that module
        for each option's meaning.
      - Each link name may appear once (per namespace it lives in). At most one link per parent may be
        V(passthru), and then it must be the parent's only link. MAC addresses must be unique per parent, and all
        links on one parent must agree on C(bclim), a property of the parent.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Link name (a string; at most 15 bytes, no C(/), C(:), C(%), white space or control characters).
          - Names are unique per namespace the links live in, so two links named C(eth0) may exist when their
            C(link_netns) differ.
        type: raw
        required: true
      parent:
        description:
          - Parent interface in O(netns) (a string); required when C(state=present). It must be an Ethernet
            interface (not the loopback, a tunnel or another macvlan).
          - A link with C(link_netns) set may have the same name as its parent (a container's C(eth0) on the
            host's C(eth0)).
          - V(default) is the interface of the IPv4 default route of O(netns) (main table, lowest metric), resolved
            on every run and reported in the C(resolved) result of M(hostnet.macvlan.macvlan_state); no default
            route, or a tie, is an error that changes nothing.
        type: raw
      type:
        description: V(macvlan) or V(macvtap).
        type: str
        choices: [macvlan, macvtap]
        default: macvlan
      mode:
        description: V(bridge), V(private), V(vepa), V(passthru) or V(source).
        type: str
        choices: [private, vepa, bridge, passthru, source]
        default: bridge
      state:
        description: V(present) or V(absent).
        type: str
        choices: [present, absent]
        default: present
      link_state:
        description: V(up) or V(down).
        type: str
        choices: [up, down]
        default: up
      mac_address:
        description:
          - Unicast MAC address; omit to keep the current one.
          - V(stable) derives a locally administered address from the machine id (C(/etc/machine-id)), the
            namespace the link lives in and its name, the same whenever the link is re-created on this host;
            reported in the C(resolved) result of M(hostnet.macvlan.macvlan_state).
        type: str
      mtu:
        description: MTU, at most the parent's; omit to keep the current one. Below 1280 the kernel keeps no IPv6 on
          the link, so IPv6 addresses and options are refused with it.
        type: int
      source_macs:
        description: Exact set of source MACs (mode V(source) only).
        type: list
        elements: str
      nopromisc:
        description: V(passthru) only; do not make the parent promiscuous.
        type: bool
      nodst:
        description: V(source) only; do not also deliver by destination MAC.
        type: bool
      bcqueuelen:
        description: Broadcast queue length requested by the link (Linux 5.11).
        type: int
      bclim:
        description: Broadcast cutoff of the parent's port (Linux 6.4), shared by all its links.
        type: int
      allmulticast:
        description: Receive all multicast frames (C(IFF_ALLMULTI)); omit to leave it as it is (new links have it off).
        type: bool
      multicast:
        description: The multicast flag (C(IFF_MULTICAST)); omit to leave it as it is (new links have it on).
        type: bool
      ipv6_disabled:
        description: IPv6 off on the link (C(net.ipv6.conf.<link>.disable_ipv6)); omit to leave it as it is.
        type: bool
      ipv6_accept_ra:
        description: Accept router advertisements (C(accept_ra); V(true) is 1); omit to leave it as it is.
        type: bool
      ipv6_autoconf:
        description: SLAAC addresses from router advertisements (C(autoconf)); omit to leave it as it is.
        type: bool
      ipv6_addr_gen_mode:
        description: IPv6 link-local address generation (C(IFLA_INET6_ADDR_GEN_MODE)); omit to leave it as it is.
        type: str
        choices: [eui64, none, stable_privacy, random]
      addresses:
        description: Exact set of addresses with prefix length; omit to leave them untouched.
        type: list
        elements: str
      routes:
        description:
          - Exact set of routes through the link (main table); omit to leave them untouched.
          - Each route is a destination with prefix length (or V(default)), or a dict with C(dest), C(gateway)
            and C(metric).
        type: list
        elements: raw
      link_netns:
        description: Namespace the link is moved into and found in.
        type: str
      recreate:
        description: V(auto) re-creates a link when an immutable attribute differs; V(never) fails instead.
        type: str
        choices: [auto, never]
        default: auto
"""
