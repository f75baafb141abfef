# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The only file that imports pyroute2, and the engine's only door to the kernel.

It reads links, addresses and routes into plain data (one dump each per namespace: ``_observed.Snapshot``),
applies one action at a time, enters network namespaces, hides the differences between pyroute2 releases (0.5.x
to 0.9.x), and turns kernel errors into messages a user can act on.

Reading (dumps, single lookups, namespace ids), link creation, and the exact restore of captured addresses and
routes go through ``_rtnl`` (rtnetlink on a plain socket, standard library only). pyroute2 carries every other
change, as messages built by hand (``ifinfmsg``/``ifaddrmsg``/``rtmsg`` and ``nlm_request``) rather than through
its keyword APIs, which changed between releases and silently drop attributes they do not know. It is imported
on the first such change: a run that changes nothing, check mode and the facts module never load it.
"""

import contextlib
import errno
import ipaddress
import os
import traceback
from importlib.util import find_spec

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _observed, _rtnl
from ansible_collections.hostnet.macvlan.plugins.module_utils._netns import (  # noqa: F401 (re-exported)
    NetlinkFailure,
    in_netns,
    ipv6_conf_path,
    open_netns_fd,
    read_sysctl,
    write_sysctl,
)

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

# pyroute2 (0.5.x to 0.9.x at least) knows IFLA_MACVLAN_* only up to MACADDR_COUNT and silently drops the
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


# ---------------------------------------------------------------------------------------------------------
# pyroute2, imported on first use
# ---------------------------------------------------------------------------------------------------------


class _Pyroute2:
    """The pyroute2 names this file uses, imported once (``pyroute2()``)."""

    def __init__(self):
        from pyroute2 import IPRoute
        from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
        from pyroute2.netlink.exceptions import NetlinkError
        from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
        from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
        from pyroute2.netlink.rtnl.rtmsg import rtmsg

        self.IPRoute = IPRoute
        self.NetlinkError = NetlinkError
        self.ifaddrmsg = ifaddrmsg
        self.ifinfmsg = ifinfmsg
        self.rtmsg = rtmsg
        self.NLM_F_ACK = NLM_F_ACK
        self.NLM_F_CREATE = NLM_F_CREATE
        self.NLM_F_EXCL = NLM_F_EXCL
        self.NLM_F_REQUEST = NLM_F_REQUEST
        self.RTM_DELADDR = RTM_DELADDR
        self.RTM_DELLINK = RTM_DELLINK
        self.RTM_DELROUTE = RTM_DELROUTE
        self.RTM_NEWADDR = RTM_NEWADDR
        self.RTM_NEWLINK = RTM_NEWLINK
        self.RTM_NEWROUTE = RTM_NEWROUTE
        _install_macvlan_map(ifinfmsg)


_PYROUTE2 = None


def pyroute2_available():
    """True when pyroute2 can be found (without importing it)."""
    if _PYROUTE2 is not None:
        return True
    try:
        return find_spec("pyroute2") is not None
    except (ImportError, ValueError):
        return False


def pyroute2_version():
    """pyroute2's version when it can be found (without importing it), "unknown" when it is there but its metadata
    cannot be read (Python before 3.8), None when it is missing."""
    if not pyroute2_available():
        return None
    try:
        from importlib.metadata import version  # Python 3.8+

        return version("pyroute2")
    except Exception:  # noqa: BLE001 (no metadata, or an older Python: the package is still there)
        return "unknown"


def pyroute2():
    """The pyroute2 names; NetlinkFailure (with the traceback in ``detail``) when it cannot be imported."""
    global _PYROUTE2
    if _PYROUTE2 is None:
        try:
            _PYROUTE2 = _Pyroute2()
        except ImportError:
            failure = NetlinkFailure("pyroute2 cannot be imported on the managed node. " + PYROUTE2_INSTALL_HINT)
            failure.detail = traceback.format_exc()
            raise failure from None
    return _PYROUTE2


def _install_macvlan_map(ifinfmsg):
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
# Session: sockets per namespace, observe and apply
# ---------------------------------------------------------------------------------------------------------


class Session:
    """Netlink sockets for the namespaces one module run works in (usually one).

    Per namespace: a plain rtnetlink socket (``_rtnl``) for reading, link creation and restores, and a pyroute2
    handle, opened on first use, for every other change.
    """

    def __init__(self):
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
            self._sockets[ns] = in_netns(ns, option, _rtnl.RtnlSocket)
        return self._sockets[ns]

    def handle(self, ns, option="netns"):
        """The pyroute2 handle for namespace ``ns``."""
        if ns not in self._handles:
            ipr = in_netns(ns, option, pyroute2().IPRoute)
            _fix_handle(ipr)
            self._handles[ns] = ipr
        return self._handles[ns]

    def _request(self, ns, msg, msg_type, flags):
        ipr = self.handle(ns)
        try:
            return list(ipr.nlm_request(msg, msg_type=msg_type, msg_flags=flags) or ())
        except pyroute2().NetlinkError as exc:
            raise NetlinkFailure(os.strerror(exc.code) if exc.code else str(exc), exc.code) from None

    def _drop_socket(self, ns):
        """Forget a socket after an error: it may still hold the rest of a failed dump."""
        sock = self._sockets.pop(ns, None)
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def _rtnl_call(self, ns, method, *args):
        """``RtnlSocket.<method>(*args)`` in ``ns``; errors become NetlinkFailure (the socket is replaced when its
        state is unknown)."""
        try:
            return getattr(self._socket(ns), method)(*args)
        except _rtnl.RtnlError as exc:
            if method == "dump" or not exc.kernel:
                self._drop_socket(ns)
            raise NetlinkFailure(str(exc), exc.code) from None

    def _dump(self, ns, request_for, reply_type, parse):
        try:
            return self._rtnl_call(ns, "dump", request_for, reply_type, parse)
        except NetlinkFailure as exc:
            raise NetlinkFailure("reading %s: %s" % (describe_ns(ns), exc), exc.code) from None

    def _dump_routes(self, ns, table=RT_TABLE_MAIN, parse=_rtnl.parse_route):
        """Routes of ``table`` (0: every table), one family at a time. ENOENT: the family has no such table yet
        (IPv4 creates its main table with its first route), so no routes. A kernel that refuses the table filter
        (EINVAL) is asked for every table instead (the parsers keep what they want)."""
        found = []
        for family in (_rtnl.AF_INET, _rtnl.AF_INET6):

            def parse_family(buf, start, end, family=family):
                # A kernel without IPv6 answers an AF_INET6 dump with every family's routes.
                return parse(buf, start, end) if buf[start + _rtnl.NLMSGHDR.size] == family else None

            try:
                found += self._dump(ns, _rtnl.route_dump_request(family, table), _rtnl.RTM_NEWROUTE, parse_family)
            except NetlinkFailure as exc:
                if exc.code == errno.ENOENT:
                    continue
                if exc.code != errno.EINVAL or table == 0:
                    raise
                found += self._dump(ns, _rtnl.route_dump_request(family, 0), _rtnl.RTM_NEWROUTE, parse_family)
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
        snapshot = _observed.Snapshot(ns, self.dump_links(ns))
        self.observe_l3(snapshot, addresses, routes)
        return snapshot

    def observe_l3(self, snapshot, addresses=True, routes=True):
        """Add one dump of the addresses and one of the routes of the snapshot's namespace to ``snapshot``."""
        ns = snapshot.ns
        addr_map = route_map = unmanaged = None
        if addresses:
            addr_map = {}
            for index, cidr in self._dump(ns, _rtnl.address_dump_request, _rtnl.RTM_NEWADDR, _rtnl.parse_address):
                addr_map.setdefault(index, []).append(cidr)
        if routes:
            route_map = {}
            unmanaged = {}
            for oif, route, proto in self._dump_routes(ns):
                if proto in _rtnl.UNMANAGED_ROUTE_PROTOCOLS:
                    unmanaged.setdefault(oif, []).append(dict(route, proto=proto))
                else:
                    route_map.setdefault(oif, []).append(route)
        snapshot.set_l3(addr_map, route_map, unmanaged)

    def capture(self, ns):
        """The complete record of a namespace (``_observed.Capture``): links, every address and every route of
        every table as the kernel sent them."""
        links = self.dump_links(ns)
        addresses = self._dump(ns, _rtnl.address_dump_request, _rtnl.RTM_NEWADDR, _rtnl.capture_address)
        routes = self._dump_routes(ns, 0, _rtnl.capture_route)
        return _observed.Capture(ns, links, addresses, routes)

    def addresses(self, ns):
        """(ifindex, address) of every address of ``ns``, dynamic ones included (a DHCP lease, SLAAC)."""
        found = self._dump(ns, _rtnl.address_dump_request, _rtnl.RTM_NEWADDR, _rtnl.capture_address)
        return [(record["index"], record["address"].split("/")[0]) for record in found]

    def lookup(self, ns, name):
        """The link called ``name`` in ``ns`` (one RTM_GETLINK), or None."""
        bc_cutoff_known = _bc_cutoff_known()

        def parse(buf, start, end):
            return _rtnl.parse_link(buf, start, end, bc_cutoff_known)

        try:
            found = self._rtnl_call(ns, "request", _rtnl.link_get_request(name), _rtnl.RTM_NEWLINK, parse)
        except NetlinkFailure as exc:
            if exc.code == errno.ENODEV:
                self.forget(ns, name)
                return None
            raise
        if not found:
            return None
        self._indexes[(ns, name)] = found[0]["ifindex"]
        return found[0]

    def peer_nsid(self, ns, peer):
        """The id under which namespace ``ns`` knows namespace ``peer``; None when it has none yet (then no link
        of ``ns`` can have its parent in ``peer``)."""
        path = _model.netns_path(peer) if peer is not None else "/proc/self/ns/net"
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise NetlinkFailure(
                "network namespace %r disappeared while the module ran (%s)" % (peer, exc.strerror), exc.errno
            ) from None
        try:
            found = self._rtnl_call(ns, "request", _rtnl.nsid_request(fd), _rtnl.RTM_NEWNSID, _rtnl.parse_nsid)
        finally:
            os.close(fd)
        nsid = found[0] if found else None
        return None if nsid is None or nsid < 0 else nsid

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

    def forget_all(self):
        """Drop every learned index (the rollback starts from what the kernel holds now)."""
        self._indexes = {}

    # -- apply -------------------------------------------------------------------------------------------

    def apply(self, action):
        """Carry out one action; raise NetlinkFailure with a clear message when the kernel refuses. Returns what
        it did: False when the goal was already reached (an "ensure" step found the address or route there, a
        removal found it gone), a list of what could not be restored for the restore steps, True otherwise."""
        op = action["op"]
        try:
            result = getattr(self, "_op_" + op)(action)
        except NetlinkFailure as exc:
            raise NetlinkFailure(explain(exc.code, action, str(exc)), exc.code) from None
        return True if result is None else result

    def _link_msg(self, ns, name):
        msg = pyroute2().ifinfmsg()
        msg["family"] = 0
        msg["index"] = self.ifindex(ns, name)
        msg["attrs"] = []
        return msg

    def _newlink(self, ns, msg):
        """Change an existing link (creation goes through ``_rtnl``)."""
        p = pyroute2()
        self._request(ns, msg, p.RTM_NEWLINK, p.NLM_F_REQUEST | p.NLM_F_ACK)

    @staticmethod
    def _linkinfo(kind, data):
        return ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", kind), ("IFLA_INFO_DATA", {"attrs": data})]})

    def _create(self, ns, link_ns, spec):
        parent_index = self.ifindex(ns, spec["parent"])
        target_fd = None
        if link_ns != ns:
            target_fd = open_netns_fd(link_ns, "link_netns")
        try:
            self._rtnl_call(ns, "request", lambda seq: _rtnl.create_link_request(spec, parent_index, seq, target_fd))
        finally:
            if target_fd is not None:
                os.close(target_fd)
        self.forget(link_ns, spec["name"])

    def _op_create(self, action):
        self._create(action["ns"], action["link_ns"], action["spec"])

    def _op_delete(self, action):
        p = pyroute2()
        msg = self._link_msg(action["ns"], action["name"])
        self._request(action["ns"], msg, p.RTM_DELLINK, p.NLM_F_REQUEST | p.NLM_F_ACK)
        self.forget(action["ns"], action["name"])

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
        """``shared`` (a new link's cutoff, which its parent's other links share): returns {"replaced": the value
        the link had, that is the parent's} for the undo (one RTM_GETLINK)."""
        replaced = None
        if action.get("shared"):
            link = self.lookup(action["ns"], action["name"])
            replaced = link.get("bclim") if link is not None else None
        self._set_data(action, [("IFLA_MACVLAN_BC_CUTOFF", action["after"])])
        return {"replaced": replaced} if action.get("shared") else None

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

    def _set_flag_if_needed(self, action, bit, key):
        """Set a flag another program may have set meanwhile (``ip link set ... promisc on`` between this run's
        observe and its step): False when it is already as wanted, so the rollback does not switch off a flag this
        run did not set. One RTM_GETLINK; these steps are few (a parent's, or a link's when asked)."""
        link = self.lookup(action["ns"], action["name"])
        if link is not None and link[key] == action["after"]:
            return False
        self._set_flag(action, bit, action["after"])
        return None

    def _op_set_promisc(self, action):
        return self._set_flag_if_needed(action, IFF_PROMISC, "promisc")

    def _op_set_allmulticast(self, action):
        return self._set_flag_if_needed(action, _rtnl.IFF_ALLMULTI, "allmulticast")

    def _op_set_multicast(self, action):
        self._set_flag(action, _rtnl.IFF_MULTICAST, action["after"])

    # -- IPv6: sysctls of the link's namespace, the address generation mode over netlink ----------------------

    def _set_ipv6_sysctl(self, action, option):
        write_sysctl(action["ns"], ipv6_conf_path(action["name"], _model.IPV6_SYSCTLS[option]), action["after"])

    def _op_set_ipv6_disabled(self, action):
        self._set_ipv6_sysctl(action, "ipv6_disabled")

    def _op_set_ipv6_accept_ra(self, action):
        self._set_ipv6_sysctl(action, "ipv6_accept_ra")

    def _op_set_ipv6_autoconf(self, action):
        self._set_ipv6_sysctl(action, "ipv6_autoconf")

    def _op_set_ipv6_addr_gen_mode(self, action):
        index = self.ifindex(action["ns"], action["name"])
        mode = _model.ADDR_GEN_MODES[action["after"]]
        self._rtnl_call(action["ns"], "request", _rtnl.addr_gen_mode_request(index, mode))

    def ipv6_available(self, ns):
        """True when namespace ``ns`` has IPv6 (/proc/sys/net/ipv6/conf/default exists there)."""
        return read_sysctl(ns, ipv6_conf_path("default", "disable_ipv6")) is not None

    def stable_secret_set(self, ns, name):
        """True when link ``name`` (None: a link still to be created, which inherits the namespace's default) or
        the namespace's default has net.ipv6.conf.*.stable_secret set (stable_privacy needs one)."""
        links = ("default",) if name is None else (name, "default")
        return any(read_sysctl(ns, ipv6_conf_path(link, "stable_secret")) for link in links)

    def _addr_msg(self, action):
        cidr = action["address"]
        ip, prefix = cidr.split("/")
        family = AF_INET6 if ":" in ip else AF_INET
        msg = pyroute2().ifaddrmsg()
        msg["family"] = family
        msg["prefixlen"] = int(prefix)
        msg["index"] = self.ifindex(action["ns"], action["name"])
        msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)] if family == AF_INET else [("IFA_ADDRESS", ip)]
        return msg

    def _op_add_address(self, action):
        p = pyroute2()
        flags = p.NLM_F_REQUEST | p.NLM_F_ACK | p.NLM_F_CREATE | p.NLM_F_EXCL
        self._request(action["ns"], self._addr_msg(action), p.RTM_NEWADDR, flags)

    def _op_ensure_address(self, action):
        try:
            self._op_add_address(action)
        except NetlinkFailure as exc:
            if exc.code != errno.EEXIST:
                raise
            return False  # still there: the goal is reached, and nothing was added
        return True

    def _op_del_address(self, action):
        p = pyroute2()
        try:
            self._request(action["ns"], self._addr_msg(action), p.RTM_DELADDR, p.NLM_F_REQUEST | p.NLM_F_ACK)
        except NetlinkFailure as exc:
            if exc.code != errno.EADDRNOTAVAIL:
                raise
            return False  # already gone: the goal is reached
        return True

    def _route_msg(self, action, delete=False):
        route = action["route"]
        dest, dst_len = route["dest"].split("/")
        family = AF_INET6 if ":" in dest else AF_INET
        msg = pyroute2().rtmsg()
        msg["family"] = family
        msg["dst_len"] = int(dst_len)
        msg["table"] = RT_TABLE_MAIN
        msg["type"] = RTN_UNICAST
        if delete:
            # Match the route whoever added it ('ip route add' uses proto boot) and whatever its scope, unless
            # the action names the protocol (a rollback removes exactly the route the run added).
            msg["proto"] = action.get("proto", 0)
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
        p = pyroute2()
        flags = p.NLM_F_REQUEST | p.NLM_F_ACK | p.NLM_F_CREATE | p.NLM_F_EXCL
        self._request(action["ns"], self._route_msg(action), p.RTM_NEWROUTE, flags)

    def _op_ensure_route(self, action):
        # EEXIST: still there (or held by another device, which the read-back then reports).
        try:
            self._op_add_route(action)
        except NetlinkFailure as exc:
            if exc.code != errno.EEXIST:
                raise
            return False
        return True

    def _op_del_route(self, action):
        p = pyroute2()
        try:
            self._request(
                action["ns"], self._route_msg(action, delete=True), p.RTM_DELROUTE, p.NLM_F_REQUEST | p.NLM_F_ACK
            )
        except NetlinkFailure as exc:
            # ESRCH: the kernel already dropped it (e.g. with the address its gateway depended on).
            if exc.code != errno.ESRCH:
                raise
            return False
        return True

    # -- the journal's own steps (rollback) ---------------------------------------------------------------

    def _op_undo_create(self, action):
        """Delete a link this run created, if it is still there and still what the run created."""
        link = self.lookup(action["ns"], action["name"])
        if link is None:
            return ["%s: already gone" % action["name"]]
        if link["kind"] != action["kind"]:
            return [
                "%s: left alone: it is now a %s, not the %s this run created"
                % (action["name"], link["kind"] or "plain interface", action["kind"])
            ]
        if action.get("parent") and link.get("parent_netnsid") is None:
            # The link's parent is in its namespace (a parent moved away since leaves the link's own, created by
            # this run, to be deleted): it must be the one the run created the link on.
            parent = self.lookup(action["ns"], action["parent"])
            if parent is not None and link.get("parent_ifindex") != parent["ifindex"]:
                # Someone else deleted the run's link and made one of the same name and kind on another parent.
                return [
                    "%s: left alone: it is no longer on %s, where this run created it (someone else made it)"
                    % (action["name"], action["parent"])
                ]
        self._op_delete(action)
        return []

    def _op_restore_link(self, action):
        """Re-create a link the run deleted, as the capture recorded it: same ifindex when the kernel still has it
        free, every attribute, then its addresses and routes."""
        spec = action["spec"]
        ns, link_ns = action["ns"], action["link_ns"]
        if self.lookup(link_ns, spec["name"]) is not None:
            raise NetlinkFailure("an interface named %r exists again in %s" % (spec["name"], describe_ns(link_ns)))
        spec = dict(spec)
        if spec.get("master"):
            master = self.lookup(link_ns, spec["master"])
            spec["master_index"] = master["ifindex"] if master is not None else None
        ipv6 = [key for key in _model.IPV6_OPTIONS if spec.get(key) is not None]
        up = spec.get("link_state") == "up"
        if ipv6:  # created down, its IPv6 settings back, then up (as the link had them, never a moment without)
            spec["link_state"] = "down"
        try:
            self._create(ns, link_ns, spec)
        except NetlinkFailure as exc:
            # The old index is taken (or, for a link in another namespace, taken where the request is sent).
            if not spec.get("ifindex") or exc.code not in (errno.EEXIST, errno.EBUSY):
                raise
            self._create(ns, link_ns, dict(spec, ifindex=None))
        problems = []
        if spec.get("ifalias"):
            # The kernel takes an alias only on a link that exists (it drops one in the creation request).
            msg = self._link_msg(link_ns, spec["name"])
            msg["attrs"].append(("IFLA_IFALIAS", spec["ifalias"]))
            try:
                self._newlink(link_ns, msg)
            except NetlinkFailure as exc:
                problems.append("%s: alias %r not restored: %s" % (spec["name"], spec["ifalias"], exc))
        if spec.get("mode") == "passthru" and spec.get("mac_address"):
            # A new passthru link has its parent's address (the one in the request is ignored); one the link had
            # of its own is set again, and with it the parent's, as before the run.
            link = self.lookup(link_ns, spec["name"])
            if link is not None and link["mac_address"] != spec["mac_address"]:
                step = {"op": "set_mac_address", "ns": link_ns, "name": spec["name"], "after": spec["mac_address"]}
                try:
                    self.apply(step)
                except NetlinkFailure as exc:
                    problems.append("%s: mac_address %s not restored: %s" % (spec["name"], spec["mac_address"], exc))
        for key in ipv6:
            step = {"op": "set_" + key, "ns": link_ns, "name": spec["name"], "before": None, "after": spec[key]}
            try:
                self.apply(step)
            except NetlinkFailure as exc:
                problems.append("%s: %s %s not restored: %s" % (spec["name"], key, spec[key], exc))
        if ipv6 and up:
            self._set_flag({"ns": link_ns, "name": spec["name"]}, IFF_UP, True)
        if spec.get("master") and not spec.get("master_index"):
            problems.append("%s: its master %s no longer exists" % (spec["name"], spec["master"]))
        if action.get("l3"):
            problems += self._op_restore_l3(dict(action["l3"], ns=link_ns, name=spec["name"]))
        return problems

    def _op_restore_l3(self, action):
        """Put back the captured addresses and routes of a link that are missing now (EEXIST: still there)."""
        ns, name = action["ns"], action["name"]
        link = self.lookup(ns, name)
        if link is None:
            return ["%s: its addresses and routes cannot be restored: it no longer exists" % name]
        index = link["ifindex"]
        old = action.get("index")
        moved = index if old is not None and index != old else None
        problems = list(action.get("lost", ()))
        problems += self._make_way_for_primaries(ns, name, index, action.get("addresses", ()))
        for raw in action.get("addresses", ()):
            problem = self._replay(ns, _rtnl.RTM_NEWADDR, raw, moved)
            if problem:
                problems.append("%s: address not restored: %s" % (name, problem))
        for route in action.get("routes", ()):
            problem = self._replay(ns, _rtnl.RTM_NEWROUTE, route["raw"], moved if route["oif"] == old else None)
            if problem:
                problems.append(
                    "%s: route %s (table %s) not restored: %s" % (name, route["dest"], route["table"], problem)
                )
        return problems

    def _make_way_for_primaries(self, ns, name, index, raws):
        """IPv4 keeps one primary address per subnet, the others secondary in the order they came. Removing the
        primary removes the secondaries too, or (``promote_secondaries``, systemd's default) promotes the next one,
        which then holds the subnet's routes as their source. A captured primary that is missing while addresses
        of its subnet are there (all of them captured ones: never an address the run does not know) gets its place
        back: those addresses are removed here, and the replay adds them all again in the captured order."""
        captured = [_rtnl.captured_address(raw) for raw in raws]
        v4 = [(cidr, flags) for family, cidr, flags in captured if family == _rtnl.AF_INET]
        if not any(not flags & _rtnl.IFA_F_SECONDARY for dummy, flags in v4):
            return []
        current = [
            record["address"]
            for record in self._dump(ns, _rtnl.address_dump_request, _rtnl.RTM_NEWADDR, _rtnl.capture_address)
            if record["index"] == index and record["family"] == _rtnl.AF_INET
        ]
        ours = {cidr for cidr, dummy in v4}
        problems = []
        for cidr, flags in v4:
            if flags & _rtnl.IFA_F_SECONDARY or cidr in current:
                continue
            subnet = ipaddress.ip_interface(cidr).network
            same = [a for a in current if ipaddress.ip_interface(a).network == subnet]
            if not same or not set(same) <= ours:
                continue
            for address in same:
                try:
                    self._op_del_address({"ns": ns, "name": name, "address": address})
                except NetlinkFailure as exc:
                    problems.append("%s: address %s could not make way for primary %s: %s" % (name, address, cidr, exc))
            current = [a for a in current if a not in same]
        return problems

    def _replay(self, ns, msg_type, raw, index):
        try:
            self._rtnl_call(ns, "request", lambda seq: _rtnl.replay_request(msg_type, raw, seq, index))
        except NetlinkFailure as exc:
            if exc.code == errno.EEXIST:
                return None
            return str(exc)
        return None

    def route_holder(self, ns, route):
        """Who holds the main table's route to ``route['dest']`` with its metric now: 'DEV (proto N)', or None."""
        with contextlib.suppress(NetlinkFailure):
            snapshot = self.observe(ns, addresses=False)
            for name, held in snapshot.route_holders(route["dest"], route["metric"]):
                origin = "the kernel's route for an address's subnet" if held.get("proto") == 2 else None
                via = " via %s" % held["gateway"] if held.get("gateway") else ""
                return "%s%s%s" % (name, via, " (%s)" % origin if origin else "")
        return None


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
    if code == errno.EEXIST and op in ("create", "restore_link"):
        return prefix + ". An interface named %r already exists (created concurrently?)" % name
    if code == errno.EEXIST and op == "add_route":
        return prefix + (
            ". The main table already has a route to %s with metric %d (the kernel keeps one per destination and "
            "metric)" % (action["route"]["dest"], action["route"]["metric"])
        )
    if code == errno.EADDRINUSE:
        return (
            prefix + ". Another macvlan on the same parent (or the parent itself) already uses this MAC address; "
            "give each link a unique mac_address"
        )
    if code == errno.EINVAL and op == "create":
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
    if code == errno.EINVAL and op == "set_mtu" and action.get("role") == "parent":
        return prefix + (
            ". The device refused the MTU %s: it is outside the range the device supports (ip -d link show: minmtu, "
            "maxmtu)" % action.get("after")
        )
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
    if op == "set_ipv6_addr_gen_mode" and code == errno.EINVAL:
        return prefix + (
            ". The kernel refused ipv6_addr_gen_mode %s: stable_privacy needs net.ipv6.conf.%s.stable_secret or "
            "net.ipv6.conf.default.stable_secret set, random needs Linux 4.15 or later" % (action["after"], name)
        )
    if op.startswith("set_ipv6_") and code == errno.ENOENT:
        return prefix + ". The namespace has no IPv6 (the kernel runs with ipv6.disable=1 or without IPv6)"
    return prefix


MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def read_machine_id(paths=MACHINE_ID_FILES):
    """The managed node's machine id (``_model.normalize_machine_id``), from the first of ``paths`` that exists."""
    problem = None
    for path in paths:
        try:
            with open(path) as handle:
                text = handle.read(256)
        except OSError:
            continue
        try:
            return _model.normalize_machine_id(text, path)
        except _model.ModelError as exc:  # empty or "uninitialized" (an image not booted yet): try the next
            problem = problem or exc
    if problem is not None:
        raise problem
    raise _model.ModelError(
        "mac_address: 'stable' needs the machine id, and none of %s exists (systemd-machine-id-setup writes one)"
        % ", ".join(paths)
    )
