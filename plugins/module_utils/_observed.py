# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Observed state: what one namespace holds, as plain data (no netlink, no pyroute2).

``_netlink.Session.observe`` fills a ``Snapshot`` from one dump each of links, addresses and routes; planning
(``_plan``), the results and the facts read it. ``Capture`` is the complete record of a namespace taken before a
run changes something it cannot simply set back (a deletion, a removed address or route, a link taken down): the
journal restores links, addresses and routes from it exactly.
"""

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model

MACVLAN_KINDS = ("macvlan", "macvtap")
# Kinds of links the kernel deletes together with the link they are stacked on (their lower device).
STACKED_KINDS = ("vlan", "macvlan", "macvtap", "ipvlan", "ipvtap", "macsec")

# Route origins a capture never replays: the kernel re-creates its own routes with the addresses, and router
# advertisements come again.
KERNEL_PROTO = 2
RA_PROTO = 9


class Snapshot:
    """Everything the engine knows about one namespace, from one dump per object type."""

    def __init__(self, ns, links, addresses=None, routes=None, unmanaged_routes=None):
        self.ns = ns
        self.links = {link["name"]: link for link in links}
        self.by_index = {link["ifindex"]: link for link in links}
        self._uppers = None
        self._children = None
        self._siblings = {}
        self.set_l3(addresses, routes, unmanaged_routes)
        # The id under which this namespace knows the namespace the parents live in (set by the engine when
        # the two differ): a link here whose IFLA_LINK_NETNSID equals it has its parent there.
        self.peer_nsid = None
        # The other namespaces of the same run (set by the engine on the parents' namespace): links there on a
        # parent here count against a new link's MAC address and mode, as the kernel counts them.
        self.peers = ()

    def set_l3(self, addresses, routes, unmanaged_routes=None):
        """The addresses and routes (None: not dumped), set when the snapshot is made or added later."""
        self.addresses = addresses  # {ifindex: [cidr, ...]} or None when not dumped
        self.routes = routes  # {ifindex: [route, ...]} the main table's managed routes, or None when not dumped
        # {ifindex: [route, ...]}: the main table's routes of the kernel (connected subnets), RA and DHCP
        self.unmanaged_routes = unmanaged_routes or {}
        self._sorted_addresses = {}
        self._sorted_routes = {}
        self._holders = None  # route_holders' index, from the routes

    def link_addresses(self, name):
        """The link's static addresses, sorted (sorted once per link and snapshot; a new list each call)."""
        link = self.links.get(name)
        if link is None or self.addresses is None:
            return []
        index = link["ifindex"]
        if index not in self._sorted_addresses:
            self._sorted_addresses[index] = _model.sort_addresses(self.addresses.get(index, []))
        return list(self._sorted_addresses[index])

    def link_routes(self, name):
        link = self.links.get(name)
        if link is None or self.routes is None:
            return []
        index = link["ifindex"]
        if index not in self._sorted_routes:
            self._sorted_routes[index] = _model.sort_routes(self.routes.get(index, []))
        return [dict(route) for route in self._sorted_routes[index]]

    def uppers(self, ifindex):
        """Links of this namespace stacked on link ``ifindex`` (deleted with it by the kernel)."""
        if self._uppers is None:
            self._uppers = {}
            for link in self.links.values():
                if link.get("kind") in STACKED_KINDS and link.get("parent_netnsid") is None:
                    self._uppers.setdefault(link.get("parent_ifindex"), []).append(link)
        return list(self._uppers.get(ifindex, ()))

    def kernel_routes(self, name):
        """Keys of the routes the kernel (or RA, DHCP) put on the link: a route asked for may be one of them."""
        link = self.links.get(name)
        if link is None:
            return set()
        return {_model.route_key(route) for route in self.unmanaged_routes.get(link["ifindex"], ())}

    def route_holders(self, dest, metric):
        """[(link name, route)] of the main table's routes to ``dest`` with ``metric``: the kernel keeps one route
        per destination and metric (with NLM_F_EXCL, a second one is refused with EEXIST)."""
        if self._holders is None:
            self._holders = {}
            for table in (self.routes or {}, self.unmanaged_routes):
                for index, routes in table.items():
                    link = self.by_index.get(index)
                    for route in routes:
                        holder = (link["name"] if link else "ifindex %d" % index, route)
                        self._holders.setdefault((route["dest"], route["metric"]), []).append(holder)
        return list(self._holders.get((dest, metric), ()))

    def parent_name(self, link):
        """The parent's name when it lives in this namespace, else None."""
        if link.get("parent_netnsid") is not None:
            return None
        parent = self.by_index.get(link.get("parent_ifindex"))
        return parent["name"] if parent else None

    def children(self, parent_ifindex, foreign=False):
        """macvlan/macvtap links of this namespace on parent ``parent_ifindex``: a parent in this namespace, or
        with ``foreign`` one in the parents' namespace (``peer_nsid``; the link was moved here). Indexed once."""
        if self._children is None:
            self._children = {}
            for link in self.links.values():
                if link["kind"] in MACVLAN_KINDS:
                    key = (link["parent_ifindex"], link.get("parent_netnsid"))
                    self._children.setdefault(key, []).append(link)
        if foreign and self.peer_nsid is None:
            return []
        return list(self._children.get((parent_ifindex, self.peer_nsid if foreign else None), []))

    def sibling_index(self, parent_ifindex, foreign=False):
        """``children()`` with the facts planning checks: {'links', 'passthru': the passthru ones, 'by_mac':
        {mac: [links]}}; built once per parent."""
        key = (parent_ifindex, foreign, self.peer_nsid)
        if key not in self._siblings:
            links = self.children(parent_ifindex, foreign)
            by_mac = {}
            for link in links:
                by_mac.setdefault(link["mac_address"], []).append(link)
            self._siblings[key] = {
                "links": links,
                "passthru": [link for link in links if link.get("mode") == "passthru"],
                "by_mac": by_mac,
            }
        return self._siblings[key]


class Capture:
    """Links, addresses and routes of one namespace as the kernel sent them (``_rtnl.capture_*``), taken before
    the first destructive step of a run in that namespace."""

    def __init__(self, ns, links, addresses, routes):
        self.ns = ns
        self.links = {link["name"]: link for link in links}
        self.by_index = {link["ifindex"]: link for link in links}
        self.addresses = {}
        for record in addresses:
            self.addresses.setdefault(record["index"], []).append(record)
        self.routes = routes

    def l3(self, name):
        """What the link named ``name`` holds: {'index', 'addresses': [raw], 'routes': [{'raw', 'oif'}],
        'lost': [what cannot be replayed]}; None when the link did not exist."""
        link = self.links.get(name)
        if link is None:
            return None
        index = link["ifindex"]
        addresses = self.addresses.get(index, [])
        local = {record["address"].split("/")[0] for record in addresses}
        routes = []
        lost = []
        for route in self.routes:
            through = route["oif"] == index or index in route.get("oifs", ())
            by_source = route["prefsrc"] is not None and route["prefsrc"] in local
            if not (through or by_source) or route["proto"] in (KERNEL_PROTO, RA_PROTO):
                continue
            if route["multipath"] and through:
                lost.append("multipath route %s (table %d)" % (route["dest"], route["table"]))
                continue
            routes.append({"raw": route["raw"], "oif": route["oif"], "dest": route["dest"], "table": route["table"]})
        return {
            "index": index,
            "addresses": [record["raw"] for record in addresses],
            "routes": routes,
            "lost": lost,
        }
