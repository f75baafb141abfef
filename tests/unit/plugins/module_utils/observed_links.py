"""Observed links as ``_observed.Snapshot`` holds them (the dicts ``_rtnl.parse_link`` returns): the one factory the
planning and resolving tests build them with."""

from __future__ import annotations


def nic(name, ifindex, **attrs):
    """An Ethernet interface that can be a parent (no kind of its own, no parent), up, not promiscuous."""
    link = {
        "name": name,
        "ifindex": ifindex,
        "kind": None,
        "mac_address": "52:54:00:00:00:%02x" % ifindex,
        "mtu": 1500,
        "link_state": "up",
        "operstate": "UP",
        "promisc": False,
        "promiscuity": 0,
        "parent_ifindex": None,
        "parent_netnsid": None,
    }
    link.update(attrs)
    return link


def macvlan(name, ifindex, **attrs):
    """A macvlan link on the interface of ifindex 2, as the kernel reports a new one (bridge mode, defaults)."""
    link = nic(name, ifindex, kind="macvlan", mac_address="02:00:00:00:00:%02x" % ifindex, parent_ifindex=2)
    link.update(
        {
            "mode": "bridge",
            "nopromisc": False,
            "nodst": False,
            "flags": 0,
            "source_macs": [],
            "bcqueuelen": 1000,
            "bcqueuelen_used": 1000,
            "bclim": 1,
        }
    )
    link.update(attrs)
    return link
