# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The only file that imports pyroute2, and the engine's only door to the kernel.

It reads links, addresses and routes into plain dicts (one dump each per namespace), applies one planned
action at a time, enters network namespaces, hides the differences between pyroute2 releases (0.7.x as
packaged by Debian 12, 0.9.x from PyPI), and turns kernel errors into messages a user can act on.

The dumps and link creation, whose cost grows with the number of links, go through ``_rtnl`` (rtnetlink on a
plain socket, decoded with ``struct``); every other change is a pyroute2 message built by hand
(``ifinfmsg``/``ifaddrmsg``/``rtmsg`` and ``nlm_request``) rather than through pyroute2's keyword APIs: those
changed between 0.7 and 0.9 and silently drop attributes they do not know.
"""

from __future__ import annotations

import contextlib
import errno
import os
import traceback

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _rtnl
from ansible_collections.hostnet.macvlan.plugins.module_utils._netns import (  # noqa: F401 (re-exported)
    NetlinkFailure,
    open_netns_fd,
    setns,
)

PYROUTE2_IMPORT_ERROR = None
try:
    from pyroute2 import IPRoute
    from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.rtnl import (
        RTM_DELADDR,
        RTM_DELLINK,
        RTM_DELROUTE,
        RTM_GETNSID,
        RTM_NEWADDR,
        RTM_NEWLINK,
        RTM_NEWNSID,
        RTM_NEWROUTE,
    )
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
except ImportError:
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

HAS_PYROUTE2 = PYROUTE2_IMPORT_ERROR is None

PYROUTE2_INSTALL_HINT = (
    "Install it on the managed node: 'apt-get install python3-pyroute2' (Debian/Ubuntu), "
    "'dnf install python3-pyroute2' (Fedora/RHEL with EPEL), or 'python3 -m pip install pyroute2' "
    "for the interpreter Ansible uses there (ansible_python_interpreter)."
)

# The kernel's numbers live in _rtnl; these are the ones only pyroute2 messages here need.
IFF_UP = _rtnl.IFF_UP
IFF_PROMISC = _rtnl.IFF_PROMISC
AF_INET = _rtnl.AF_INET
AF_INET6 = _rtnl.AF_INET6
RT_TABLE_MAIN = _rtnl.RT_TABLE_MAIN
RTN_UNICAST = _rtnl.RTN_UNICAST
MACADDR_SET = _rtnl.MACADDR_SET
MACVLAN_KINDS = _rtnl.MACVLAN_KINDS
RTPROT_STATIC = 4
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
MACADDR_FLUSH = 2

# pyroute2 (0.7.x to 0.9.x at least) knows IFLA_MACVLAN_* only up to MACADDR_COUNT and silently drops the
# broadcast queue attributes. This map is complete up to Linux 6.4 and decodes every value as an integer.
_MACVLAN_NLA_MAP = (
    ("IFLA_MACVLAN_UNSPEC", "none"),
    ("IFLA_MACVLAN_MODE", "uint32"),
    ("IFLA_MACVLAN_FLAGS", "uint16"),
    ("IFLA_MACVLAN_MACADDR_MODE", "uint32"),
    ("IFLA_MACVLAN_MACADDR", "l2addr"),
    ("IFLA_MACVLAN_MACADDR_DATA", "macaddr_data"),
    ("IFLA_MACVLAN_MACADDR_COUNT", "uint32"),
    ("IFLA_MACVLAN_BC_QUEUE_LEN", "uint32"),
    ("IFLA_MACVLAN_BC_QUEUE_LEN_USED", "uint32"),
    ("IFLA_MACVLAN_BC_CUTOFF", "int32"),
)


def _install_macvlan_map():
    """Point pyroute2's macvlan/macvtap IFLA_INFO_DATA decoders at the complete attribute map (idempotent)."""
    data_map = ifinfmsg.ifinfo.data_map
    for kind in MACVLAN_KINDS:
        current = data_map.get(kind)
        if current is None or getattr(current, "_hostnet_complete", False):
            continue
        data_map[kind] = type(
            "hostnet_%s_data" % kind, (current,), {"nla_map": _MACVLAN_NLA_MAP, "_hostnet_complete": True}
        )


def _fix_handle(ipr):
    """pyroute2 0.9.x: the sync IPRoute's nlm_request reads status['nlm_generator'], which it never sets."""
    status = getattr(ipr, "status", None)
    if status is not None:
        try:
            if "nlm_generator" not in status:
                status["nlm_generator"] = False
        except TypeError:
            pass


def _msgs(result, msg_type):
    return [m for m in (result or ()) if m.get("header", {}).get("type") == msg_type]


_KERNEL_RELEASE = None


def kernel_release():
    global _KERNEL_RELEASE
    if _KERNEL_RELEASE is None:
        _KERNEL_RELEASE = os.uname().release
    return _KERNEL_RELEASE


def _bc_cutoff_known():
    version = _model.kernel_version(kernel_release())
    return version is not None and version >= _model.KERNEL_REQUIREMENTS["bclim"][0]


# ---------------------------------------------------------------------------------------------------------
# Snapshot of one namespace
# ---------------------------------------------------------------------------------------------------------


class Snapshot:
    """Everything the engine knows about one namespace, from one dump per object type."""

    def __init__(self, ns, links, addresses=None, routes=None):
        self.ns = ns
        self.links = {link["name"]: link for link in links}
        self.by_index = {link["ifindex"]: link for link in links}
        self.addresses = addresses  # {ifindex: [cidr, ...]} or None when not dumped
        self.routes = routes  # {ifindex: [route, ...]} or None when not dumped
        self._children = None
        self._siblings = {}
        self._sorted_addresses = {}
        self._sorted_routes = {}
        # The id under which this namespace knows the namespace the parents live in (set by the engine when
        # the two differ): a link here whose IFLA_LINK_NETNSID equals it has its parent there.
        self.peer_nsid = None

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


# ---------------------------------------------------------------------------------------------------------
# Session: one handle per namespace, observe and apply
# ---------------------------------------------------------------------------------------------------------


class Session:
    """Netlink sockets for the namespaces one module run works in (usually one).

    Per namespace: a plain rtnetlink socket (``_rtnl``) for the dumps and link creation, the paths whose cost
    grows with the number of links, and a pyroute2 handle, opened on first use, for every other change.
    """

    def __init__(self):
        if not HAS_PYROUTE2:
            raise NetlinkFailure("pyroute2 is not installed. " + PYROUTE2_INSTALL_HINT)
        _install_macvlan_map()
        self._handles = {}
        self._sockets = {}
        self._indexes = {}  # (ns, name) -> ifindex, learned from dumps

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for handle in list(self._handles.values()) + list(self._sockets.values()):
            # Closing must never hide the real outcome of the run.
            with contextlib.suppress(Exception):
                handle.close()
        self._handles = {}
        self._sockets = {}

    def open(self, ns, option="netns"):
        """Enter namespace ``ns`` once; a missing or unenterable namespace fails here, named as ``option``."""
        self._socket(ns, option)

    def _socket(self, ns, option="netns"):
        if ns not in self._sockets:
            self._sockets[ns] = _in_netns(ns, option, _rtnl.RtnlSocket)
        return self._sockets[ns]

    def handle(self, ns, option="netns"):
        """The pyroute2 handle for namespace ``ns``."""
        if ns not in self._handles:
            ipr = _in_netns(ns, option, IPRoute)
            _fix_handle(ipr)
            self._handles[ns] = ipr
        return self._handles[ns]

    def _request(self, ns, msg, msg_type, flags):
        ipr = self.handle(ns)
        try:
            return list(ipr.nlm_request(msg, msg_type=msg_type, msg_flags=flags) or ())
        except NetlinkError as exc:
            raise NetlinkFailure(os.strerror(exc.code) if exc.code else str(exc), exc.code) from None

    def _drop_socket(self, ns):
        """Forget a socket after an error: it may still hold the rest of a failed dump."""
        sock = self._sockets.pop(ns, None)
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def _dump(self, ns, request_for, reply_type, parse):
        try:
            return self._socket(ns).dump(request_for, reply_type, parse)
        except _rtnl.RtnlError as exc:
            self._drop_socket(ns)
            raise NetlinkFailure("reading %s: %s" % (describe_ns(ns), exc), exc.code) from None

    def _dump_routes(self, ns):
        """The main table's routes, one family at a time. ENOENT: the family has no main table yet (IPv4
        creates it with its first route), so no routes. A kernel that refuses the table filter (EINVAL) is
        asked for every table instead (``parse_route`` keeps the main table's)."""
        found = []
        for family in (_rtnl.AF_INET, _rtnl.AF_INET6):

            def parse(buf, start, end, family=family):
                # A kernel without IPv6 answers an AF_INET6 dump with every family's routes.
                return _rtnl.parse_route(buf, start, end) if buf[start + _rtnl.NLMSGHDR.size] == family else None

            try:
                found += self._dump(ns, _rtnl.route_dump_request(family), _rtnl.RTM_NEWROUTE, parse)
            except NetlinkFailure as exc:
                if exc.code == errno.ENOENT:
                    continue
                if exc.code != errno.EINVAL:
                    raise
                found += self._dump(ns, _rtnl.route_dump_request(family, 0), _rtnl.RTM_NEWROUTE, parse)
        return found

    def dump_links(self, ns):
        bc_cutoff_known = _bc_cutoff_known()

        def parse(buf, start, end):
            return _rtnl.parse_link(buf, start, end, bc_cutoff_known)

        links = self._dump(ns, _rtnl.link_dump_request, _rtnl.RTM_NEWLINK, parse)
        for key in [k for k in self._indexes if k[0] == ns]:
            del self._indexes[key]
        for link in links:
            self._indexes[(ns, link["name"])] = link["ifindex"]
        return links

    def observe(self, ns, addresses=True, routes=True):
        """One dump of links (and of addresses and routes when asked) of namespace ``ns``."""
        links = self.dump_links(ns)
        addr_map = route_map = None
        if addresses:
            addr_map = {}
            for index, cidr in self._dump(ns, _rtnl.address_dump_request, _rtnl.RTM_NEWADDR, _rtnl.parse_address):
                addr_map.setdefault(index, []).append(cidr)
        if routes:
            route_map = {}
            for oif, route in self._dump_routes(ns):
                route_map.setdefault(oif, []).append(route)
        return Snapshot(ns, links, addr_map, route_map)

    def peer_nsid(self, ns, peer):
        """The id under which namespace ``ns`` knows namespace ``peer``; None when it has none yet (then no link
        of ``ns`` can have its parent in ``peer``)."""
        fd = os.open(_model.netns_path(peer) if peer is not None else "/proc/self/ns/net", os.O_RDONLY)
        try:
            msg = nsidmsg()
            msg["attrs"] = [("NETNSA_FD", fd)]
            replies = _msgs(self._request(ns, msg, RTM_GETNSID, NLM_F_REQUEST), RTM_NEWNSID)
        finally:
            os.close(fd)
        nsid = replies[0].get_attr("NETNSA_NSID") if replies else None
        return None if nsid is None or nsid in (-1, 0xFFFFFFFF) else nsid

    def ifindex(self, ns, name):
        """The index of ``name`` in ``ns``; one re-dump after creations serves every later lookup."""
        key = (ns, name)
        if key not in self._indexes:
            self.dump_links(ns)
        if key not in self._indexes:
            raise NetlinkFailure("interface %r not found in %s" % (name, describe_ns(ns)), errno.ENODEV)
        return self._indexes[key]

    def forget(self, ns, name):
        self._indexes.pop((ns, name), None)

    # -- apply -------------------------------------------------------------------------------------------

    def apply(self, action):
        """Carry out one planned action; raise NetlinkFailure with a clear message when the kernel refuses."""
        op = action["op"]
        try:
            getattr(self, "_op_" + op)(action)
        except NetlinkFailure as exc:
            raise NetlinkFailure(explain(exc.code, action, str(exc)), exc.code) from None

    def _link_msg(self, ns, name):
        msg = ifinfmsg()
        msg["family"] = 0
        msg["index"] = self.ifindex(ns, name)
        msg["attrs"] = []
        return msg

    def _newlink(self, ns, msg):
        """Change an existing link (creation goes through ``_rtnl``)."""
        self._request(ns, msg, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK)

    @staticmethod
    def _linkinfo(kind, data):
        return ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", kind), ("IFLA_INFO_DATA", {"attrs": data})]})

    def _op_create(self, action):
        spec = action["spec"]
        ns = action["ns"]
        parent_index = self.ifindex(ns, spec["parent"])
        target_fd = None
        if action.get("link_ns") != ns:
            target_fd = open_netns_fd(action["link_ns"], "link_netns")
        try:
            self._socket(ns).request(lambda seq: _rtnl.create_link_request(spec, parent_index, seq, target_fd))
        except _rtnl.RtnlError as exc:
            if not exc.kernel:
                self._drop_socket(ns)  # not the kernel's answer to the request: the socket's state is unknown
            raise NetlinkFailure(str(exc), exc.code) from None
        finally:
            if target_fd is not None:
                os.close(target_fd)
        self.forget(action["link_ns"], spec["name"])

    def _op_delete(self, action):
        msg = self._link_msg(action["ns"], action["name"])
        self._request(action["ns"], msg, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK)
        self.forget(action["ns"], action["name"])

    def _op_recreate(self, action):
        self._op_delete({"op": "delete", "ns": action["old_ns"], "name": action["spec"]["name"]})
        self._op_create(action)

    def _op_move_netns(self, action):
        msg = self._link_msg(action["ns"], action["name"])
        target_fd = open_netns_fd(action["link_ns"], "link_netns")
        try:
            msg["attrs"].append(("IFLA_NET_NS_FD", target_fd))
            self._newlink(action["ns"], msg)
        finally:
            os.close(target_fd)
        self.forget(action["ns"], action["name"])
        self.forget(action["link_ns"], action["name"])

    def _set_data(self, action, data):
        msg = self._link_msg(action["ns"], action["name"])
        msg["attrs"].append(self._linkinfo(action["kind"], data))
        self._newlink(action["ns"], msg)

    def _op_set_mode(self, action):
        self._set_data(action, [("IFLA_MACVLAN_MODE", _model.MODE_VALUES[action["after"]])])

    def _op_set_flags(self, action):
        self._set_data(action, [("IFLA_MACVLAN_FLAGS", action["after"])])

    def _op_set_source_macs(self, action):
        macs = action["after"]
        if macs:
            self._set_data(
                action,
                [("IFLA_MACVLAN_MACADDR_MODE", MACADDR_SET), ("IFLA_MACVLAN_MACADDR_DATA", _macaddr_data(macs))],
            )
        else:
            self._set_data(action, [("IFLA_MACVLAN_MACADDR_MODE", MACADDR_FLUSH)])

    def _op_set_bcqueuelen(self, action):
        self._set_data(action, [("IFLA_MACVLAN_BC_QUEUE_LEN", action["after"])])

    def _op_set_bclim(self, action):
        self._set_data(action, [("IFLA_MACVLAN_BC_CUTOFF", action["after"])])

    def _op_set_mac_address(self, action):
        msg = self._link_msg(action["ns"], action["name"])
        msg["attrs"].append(("IFLA_ADDRESS", action["after"]))
        self._newlink(action["ns"], msg)

    def _op_set_mtu(self, action):
        msg = self._link_msg(action["ns"], action["name"])
        msg["attrs"].append(("IFLA_MTU", action["after"]))
        self._newlink(action["ns"], msg)

    def _set_flag(self, action, bit, on):
        msg = self._link_msg(action["ns"], action["name"])
        msg["flags"] = bit if on else 0
        msg["change"] = bit
        self._newlink(action["ns"], msg)

    def _op_set_link_state(self, action):
        self._set_flag(action, IFF_UP, action["after"] == "up")

    def _op_set_promisc(self, action):
        self._set_flag(action, IFF_PROMISC, action["after"])

    def _addr_msg(self, action):
        cidr = action["address"]
        ip, prefix = cidr.split("/")
        family = AF_INET6 if ":" in ip else AF_INET
        msg = ifaddrmsg()
        msg["family"] = family
        msg["prefixlen"] = int(prefix)
        msg["index"] = self.ifindex(action["ns"], action["name"])
        msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)] if family == AF_INET else [("IFA_ADDRESS", ip)]
        return msg

    def _op_add_address(self, action):
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        self._request(action["ns"], self._addr_msg(action), RTM_NEWADDR, flags)

    def _op_ensure_address(self, action):
        try:
            self._op_add_address(action)
        except NetlinkFailure as exc:
            if exc.code != errno.EEXIST:  # still there: the goal is reached
                raise

    def _op_del_address(self, action):
        try:
            self._request(action["ns"], self._addr_msg(action), RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK)
        except NetlinkFailure as exc:
            if exc.code != errno.EADDRNOTAVAIL:  # already gone: the goal is reached
                raise

    def _route_msg(self, action, delete=False):
        route = action["route"]
        dest, dst_len = route["dest"].split("/")
        family = AF_INET6 if ":" in dest else AF_INET
        msg = rtmsg()
        msg["family"] = family
        msg["dst_len"] = int(dst_len)
        msg["table"] = RT_TABLE_MAIN
        msg["type"] = RTN_UNICAST
        if delete:
            # Match the route whoever added it ('ip route add' uses proto boot) and whatever its scope.
            msg["proto"] = 0
            msg["scope"] = RT_SCOPE_NOWHERE
        else:
            msg["proto"] = RTPROT_STATIC
            msg["scope"] = RT_SCOPE_UNIVERSE if route["gateway"] else RT_SCOPE_LINK
        msg["attrs"] = [("RTA_OIF", self.ifindex(action["ns"], action["name"])), ("RTA_PRIORITY", route["metric"])]
        if int(dst_len):
            msg["attrs"].append(("RTA_DST", dest))
        if route["gateway"]:
            msg["attrs"].append(("RTA_GATEWAY", route["gateway"]))
        return msg

    def _op_add_route(self, action):
        flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        self._request(action["ns"], self._route_msg(action), RTM_NEWROUTE, flags)

    def _op_ensure_route(self, action):
        # EEXIST: still there (or held by another device, which the read-back then reports).
        try:
            self._op_add_route(action)
        except NetlinkFailure as exc:
            if exc.code != errno.EEXIST:
                raise

    def _op_del_route(self, action):
        try:
            self._request(action["ns"], self._route_msg(action, delete=True), RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK)
        except NetlinkFailure as exc:
            # ESRCH: the kernel already dropped it (e.g. with the address its gateway depended on).
            if exc.code != errno.ESRCH:
                raise


def _in_netns(ns, option, factory):
    """``factory()`` called inside namespace ``ns`` (None: the module's own): a netlink socket stays bound to
    the namespace it was created in."""
    if ns is None:
        return factory()
    target = open_netns_fd(ns, option)
    try:
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
    except OSError:
        os.close(target)
        raise
    try:
        try:
            setns(target)
        except OSError as exc:
            raise NetlinkFailure(
                "%s: cannot enter network namespace %r: %s (entering a namespace needs root, CAP_SYS_ADMIN)"
                % (option, ns, exc.strerror),
                exc.errno,
            ) from None
        try:
            return factory()
        finally:
            setns(home)
    finally:
        os.close(target)
        os.close(home)


def _macaddr_data(macs):
    # pyroute2 0.9 accepts a plain list here and silently sends nothing: always give the nested form.
    return {"attrs": [("IFLA_MACVLAN_MACADDR", mac) for mac in macs]}


def describe_ns(ns):
    return "the module's own network namespace" if ns is None else "network namespace %r" % ns


def explain(code, action, detail):
    """Turn a kernel errno for one action into a message that says what to do."""
    op = action["op"]
    name = action.get("name") or action.get("spec", {}).get("name")
    spec = action.get("spec") or {}
    where = describe_ns(action.get("ns"))
    subject = name
    if action.get("address"):
        subject = "%s %s" % (name, action["address"])
    elif action.get("route"):
        route = action["route"]
        subject = "%s %s%s" % (name, route["dest"], " via %s" % route["gateway"] if route["gateway"] else "")
    elif "after" in action:
        subject = "%s (%s -> %s)" % (name, action.get("before"), action["after"])
    prefix = "%s %s in %s failed: %s" % (op, subject, where, detail)
    if code == errno.EPERM:
        return prefix + ". Changing links needs root (CAP_NET_ADMIN); run the task with become: true"
    if code == errno.EEXIST and op in ("create", "recreate"):
        return prefix + ". An interface named %r already exists (created concurrently?)" % name
    if code == errno.EEXIST and op == "add_route":
        return (
            prefix
            + ". The route %s already exists in the main table with another device or gateway"
            % (action["route"]["dest"])
        )
    if code == errno.EADDRINUSE:
        return (
            prefix + ". Another macvlan on the same parent (or the parent itself) already uses this MAC address; "
            "give each link a unique mac_address"
        )
    if code == errno.EINVAL and op in ("create", "recreate"):
        checks = []
        if spec.get("mtu") is not None:
            checks.append("that the MTU %s does not exceed the parent's" % spec["mtu"])
        checks.append(
            "that parent %r has no passthru link%s, possibly one moved into another network namespace where "
            "this module cannot see it"
            % (spec.get("parent"), " and no other link" if spec.get("mode") == "passthru" else "")
        )
        return prefix + ". The kernel refused the link: check " + ", and ".join(checks)
    if code == errno.EINVAL and op == "set_mode":
        return prefix + ". The kernel cannot switch a link into or out of passthru mode in place; use recreate: auto"
    if code == errno.EINVAL and op == "set_mtu":
        return prefix + ". The MTU %s is larger than the parent's MTU" % action.get("after")
    if code == errno.ENETDOWN:
        return prefix + ". The link is down: routes need link_state up"
    if code == errno.ENETUNREACH:
        return prefix + ". The gateway is not reachable through this link: add an address in its subnet first"
    if code == errno.EOPNOTSUPP:
        return prefix + ". The kernel does not support this operation for %s links" % action.get("kind", "these")
    if code == errno.ENODEV:
        return prefix + ". The interface disappeared while the module ran"
    return prefix
