# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""rtnetlink on a plain socket, for the engine's hot paths (standard library only).

Reading a namespace and creating links cost time per link, and with many links pyroute2 dominates that
cost: it decodes every attribute of every RTM_NEWLINK (about fifty, nested) into Python objects and encodes
requests attribute by attribute, while the engine reads about ten attributes (docs/benchmarks.md has the
profile and the before/after numbers). This file does those three things with ``struct`` instead:

- dump links, addresses and routes, decoding only what the engine reads, into the same plain values the
  rest of the engine uses (``parse_link``, ``parse_address``, ``parse_route``);
- encode the RTM_NEWLINK that creates a macvlan/macvtap link (``create_link_request``);
- send a request and wait for the kernel's acknowledgement (``RtnlSocket.request``).

Every other change (in-place updates, deletes, addresses, routes, namespace ids) still goes through
pyroute2 in ``_netlink``, which owns the session and is the only caller of this file.

Layouts are the kernel's UAPI (include/uapi/linux/{netlink,rtnetlink,if_link,if_addr}.h), native byte order.
"""

import contextlib
import ipaddress
import os
import socket
import struct
import time

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model

NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP = 0x300
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RTM_NEWNSID = 88
RTM_GETNSID = 90
NETNSA_NSID = 1
NETNSA_FD = 3

AF_INET = 2
AF_INET6 = 10
IFF_UP = 0x1
IFF_PROMISC = 0x100
IFA_F_SECONDARY = 0x01
IFA_F_PERMANENT = 0x80

IFF_LOOPBACK = 0x8
IFF_NOARP = 0x80
IFF_ALLMULTI = 0x200
IFF_MULTICAST = 0x1000
# The flags a link's owner sets (restored with the link); the others are the kernel's.
IFF_USER_FLAGS = IFF_UP | IFF_NOARP | IFF_PROMISC | IFF_ALLMULTI | IFF_MULTICAST
ARPHRD_ETHER = 1

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_GROUP = 27
IFLA_NET_NS_FD = 28
IFLA_EXT_MASK = 29
IFLA_PROMISCUITY = 30
IFLA_LINK_NETNSID = 37
IFLA_AF_SPEC = 26
IFLA_MIN_MTU = 50
IFLA_MAX_MTU = 51
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
RTEXT_FILTER_SKIP_STATS = 1 << 3

IFLA_MACVLAN_MODE = 1
IFLA_MACVLAN_FLAGS = 2
IFLA_MACVLAN_MACADDR_MODE = 3
IFLA_MACVLAN_MACADDR = 4
IFLA_MACVLAN_MACADDR_DATA = 5
IFLA_MACVLAN_BC_QUEUE_LEN = 7
IFLA_MACVLAN_BC_QUEUE_LEN_USED = 8
IFLA_MACVLAN_BC_CUTOFF = 9
MACADDR_SET = 3

# IFLA_AF_SPEC -> AF_INET6 (include/uapi/linux/if_link.h) and the indexes of its devconf array (enum in
# include/uapi/linux/ipv6.h: the s32 values of /proc/sys/net/ipv6/conf/<link>/*).
IFLA_INET6_CONF = 2
IFLA_INET6_ADDR_GEN_MODE = 8
DEVCONF_ACCEPT_RA = 3
DEVCONF_AUTOCONF = 5
DEVCONF_DISABLE_IPV6 = 26

IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_FLAGS = 8

RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_MULTIPATH = 9
RTA_CACHEINFO = 12
RTA_TABLE = 15
RT_TABLE_MAIN = 254
RT_TABLE_UNSPEC = 0
RTN_UNICAST = 1
RTPROT_KERNEL = 2
RTPROT_RA = 9
RTNH_F_ONLINK = 4
RTM_F_CLONED = 0x200
# Route origins the collection never touches: the kernel's connected routes, router advertisements, DHCP.
UNMANAGED_ROUTE_PROTOCOLS = (RTPROT_KERNEL, 9, 16)

NLA_TYPE_MASK = 0x3FFF
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
MACVLAN_KINDS = ("macvlan", "macvtap")

NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, seq, pid
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags
NLA = struct.Struct("=HH")  # length, type
U16 = struct.Struct("=H")
U32 = struct.Struct("=I")
I32 = struct.Struct("=i")
IPV6_GROUPS = struct.Struct("!8H")  # an IPv6 address as eight 16-bit groups, network byte order
IPV4_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"  # ::ffff:0:0/96

# A dump the kernel marks as interrupted (the set changed while it was read) is read again after a pause that
# grows up to DUMP_MAX_PAUSE, until the pauses add up to DUMP_PATIENCE seconds. The change is usually over after
# a moment (another process, such as a container runtime, creating links), but not always: after a run creates
# many links, the kernel goes on adding and confirming their IPv6 link-local addresses (duplicate address
# detection: up to a second's random delay, then a second per probe) and marks every address dump of that time
# interrupted; on a busy 2-core machine, reading back 1024 new links took up to 8 restarts. The namespace lock
# makes other causes rare among the collection's own runs.
DUMP_PATIENCE = 5.0
DUMP_FIRST_PAUSE = 0.005
DUMP_PAUSE_GROWTH = 1.8
DUMP_MAX_PAUSE = 0.25
RECV_BUFFER = 1 << 18


class RtnlError(Exception):
    """The kernel answered a request with an error (``kernel`` true, ``code`` the errno), or the socket failed
    or the reply made no sense (``kernel`` false: the socket's state is unknown)."""

    def __init__(self, msg, code=None, kernel=False):
        super().__init__(msg)
        self.code = code
        self.kernel = kernel


# ---------------------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------------------


def attributes(buf, start, end):
    """{type: (value start, value end)} of the netlink attributes in buf[start:end]; a repeated type keeps its
    last occurrence."""
    found = {}
    unpack = NLA.unpack_from
    while start + 4 <= end:
        length, kind = unpack(buf, start)
        if length < 4 or start + length > end:
            break
        found[kind & NLA_TYPE_MASK] = (start + 4, start + length)
        start += (length + 3) & ~3
    return found


def _string(buf, span):
    return bytes(buf[span[0] : span[1]]).split(b"\0", 1)[0].decode("utf-8", "replace")


def _hwaddr(buf, span):
    return ":".join("%02x" % octet for octet in bytearray(buf[span[0] : span[1]]))


def _u32(buf, attrs, kind):
    span = attrs.get(kind)
    return U32.unpack_from(buf, span[0])[0] if span and span[1] - span[0] >= 4 else None


def _ip(buf, family, span):
    """An address as the kernel sent it, in the canonical spelling of ``_model`` (Python's ipaddress)."""
    raw = bytes(buf[span[0] : span[1]])
    if family == AF_INET6 and len(raw) == 16:
        return ipv6_text(raw)
    return socket.inet_ntop(family, raw)


def ipv6_text(raw):
    """RFC 5952 text of a 16-byte IPv6 address, spelled exactly as ``ipaddress.IPv6Address(...).compressed``: lower
    case hex without leading zeros, the longest run of two or more zero groups (the first of equal runs) as '::'.

    Written out instead of taken from inet_ntop(3), whose spelling is the C library's (glibc writes
    ``::ffff:192.0.2.1`` where ipaddress before Python 3.13 writes ``::ffff:c000:201``), and instead of ipaddress,
    which costs ten times as much: a namespace with a thousand links has thousands of addresses and routes to read
    on every run. IPv4-mapped addresses, whose spelling depends on the Python release, are left to ipaddress.
    """
    if raw[:12] == IPV4_MAPPED_PREFIX:
        # IPv4-mapped (::ffff:0:0/96): Python 3.13's ipaddress writes ::ffff:192.0.2.1, older ones ::ffff:c000:201.
        # Rare enough to ask the running Python's ipaddress, so the spelling always equals _model's.
        return ipaddress.IPv6Address(raw).compressed
    groups = IPV6_GROUPS.unpack(raw)
    best_start, best_len, run_start = -1, 1, -1
    for index, group in enumerate(groups):
        if group == 0:
            if run_start < 0:
                run_start = index
            if index - run_start + 1 > best_len:
                best_start, best_len = run_start, index - run_start + 1
        else:
            run_start = -1
    if best_start < 0:
        return "%x:%x:%x:%x:%x:%x:%x:%x" % groups
    head = ":".join("%x" % group for group in groups[:best_start])
    tail = ":".join("%x" % group for group in groups[best_start + best_len :])
    return head + "::" + tail


def nla(kind, payload):
    """One attribute, padded to four bytes."""
    length = 4 + len(payload)
    return NLA.pack(length, kind) + payload + b"\0" * (-length % 4)


def mac_bytes(mac):
    return bytes(int(part, 16) for part in mac.split(":"))


# ---------------------------------------------------------------------------------------------------------
# Decoding: one message (buf[start:end], netlink header included) -> the engine's plain values
# ---------------------------------------------------------------------------------------------------------


def parse_link(buf, start, end, bc_cutoff_known):
    """A link as a plain dict; the macvlan attributes are filled in for macvlan/macvtap links only.

    ``bc_cutoff_known``: the running kernel reports IFLA_MACVLAN_BC_CUTOFF (Linux 6.4+). It leaves the
    attribute out while it holds its default, so there absent means the default.
    """
    _family, arphrd, index, flags, _change = IFINFOMSG.unpack_from(buf, start + NLMSGHDR.size)
    attrs = attributes(buf, start + NLMSGHDR.size + IFINFOMSG.size, end)
    kind = None
    data = None
    if IFLA_LINKINFO in attrs:
        info = attributes(buf, *attrs[IFLA_LINKINFO])
        if IFLA_INFO_KIND in info:
            kind = _string(buf, info[IFLA_INFO_KIND])
        if IFLA_INFO_DATA in info:
            data = info[IFLA_INFO_DATA]
    name = attrs.get(IFLA_IFNAME)
    operstate = attrs.get(IFLA_OPERSTATE)
    operstate = buf[operstate[0]] if operstate and operstate[1] > operstate[0] else 0
    netnsid = attrs.get(IFLA_LINK_NETNSID)
    link = {
        "name": _string(buf, name) if name else None,
        "ifindex": index,
        "kind": kind,
        "mac_address": _hwaddr(buf, attrs[IFLA_ADDRESS]) if IFLA_ADDRESS in attrs else None,
        "mtu": _u32(buf, attrs, IFLA_MTU),
        # The device's MTU range (Linux 4.19+; None on older kernels): a parent's mtu is checked against it.
        "min_mtu": _u32(buf, attrs, IFLA_MIN_MTU),
        "max_mtu": _u32(buf, attrs, IFLA_MAX_MTU),
        "link_state": "up" if flags & IFF_UP else "down",
        "operstate": OPERSTATES[operstate] if operstate < len(OPERSTATES) else "UNKNOWN",
        "promisc": bool(flags & IFF_PROMISC),
        "allmulticast": bool(flags & IFF_ALLMULTI),
        "multicast": bool(flags & IFF_MULTICAST),
        "promiscuity": _u32(buf, attrs, IFLA_PROMISCUITY) or 0,
        "parent_ifindex": _u32(buf, attrs, IFLA_LINK),
        "parent_netnsid": I32.unpack_from(buf, netnsid[0])[0] if netnsid else None,
        "arphrd": arphrd,
        "ifi_flags": flags,
        "master": _u32(buf, attrs, IFLA_MASTER),
        "txqlen": _u32(buf, attrs, IFLA_TXQLEN),
        "group": _u32(buf, attrs, IFLA_GROUP) or 0,
        "ifalias": _string(buf, attrs[IFLA_IFALIAS]) if IFLA_IFALIAS in attrs else None,
    }
    if kind in MACVLAN_KINDS:
        link.update(_macvlan_data(buf, data, bc_cutoff_known))
        link.update(parse_inet6(buf, attrs.get(IFLA_AF_SPEC)))
    return link


def parse_inet6(buf, span):
    """The IPv6 settings of a link from its IFLA_AF_SPEC (``span``): {'ipv6_disabled', 'ipv6_accept_ra',
    'ipv6_autoconf'} from the devconf array (the sysctls' values: 0 and 1 as booleans, accept_ra 2 as 2) and
    'ipv6_addr_gen_mode' (a name). All None when the link has no IPv6 state (IPv6 off at boot, or no IPv6 in the
    kernel). Wire values only: the option names are the model's."""
    found = {"ipv6_disabled": None, "ipv6_accept_ra": None, "ipv6_autoconf": None, "ipv6_addr_gen_mode": None}
    if not span:
        return found
    families = attributes(buf, *span)
    if AF_INET6 not in families:
        return found
    inet6 = attributes(buf, *families[AF_INET6])
    conf = inet6.get(IFLA_INET6_CONF)
    if conf:
        count = (conf[1] - conf[0]) // 4
        for key, index in (
            ("ipv6_disabled", DEVCONF_DISABLE_IPV6),
            ("ipv6_accept_ra", DEVCONF_ACCEPT_RA),
            ("ipv6_autoconf", DEVCONF_AUTOCONF),
        ):
            if index < count:
                value = I32.unpack_from(buf, conf[0] + 4 * index)[0]
                found[key] = bool(value) if value in (0, 1) else value
    mode = inet6.get(IFLA_INET6_ADDR_GEN_MODE)
    if mode and mode[1] > mode[0]:
        value = buf[mode[0]]
        found["ipv6_addr_gen_mode"] = _model.ADDR_GEN_MODE_NAMES.get(value, value)
    return found


def _macvlan_data(buf, span, bc_cutoff_known):
    data = attributes(buf, *span) if span else {}
    mode = _u32(buf, data, IFLA_MACVLAN_MODE)
    flags = data.get(IFLA_MACVLAN_FLAGS)
    flags = U16.unpack_from(buf, flags[0])[0] if flags else 0
    macs = set()
    if IFLA_MACVLAN_MACADDR_DATA in data:
        # A list of IFLA_MACVLAN_MACADDR attributes: every one counts (attributes() keeps only the last).
        start, end = data[IFLA_MACVLAN_MACADDR_DATA]
        while start + 4 <= end:
            length, kind = NLA.unpack_from(buf, start)
            if length < 4 or start + length > end:
                break
            if kind & NLA_TYPE_MASK == IFLA_MACVLAN_MACADDR:
                macs.add(_hwaddr(buf, (start + 4, start + length)))
            start += (length + 3) & ~3
    cutoff = data.get(IFLA_MACVLAN_BC_CUTOFF)
    bclim = I32.unpack_from(buf, cutoff[0])[0] if cutoff else None
    if bclim is None and bc_cutoff_known and IFLA_MACVLAN_BC_QUEUE_LEN in data:
        bclim = _model.BCLIM_DEFAULT
    return {
        "mode": _model.MODE_NAMES.get(mode, mode),
        "nopromisc": bool(flags & _model.FLAG_NOPROMISC),
        "nodst": bool(flags & _model.FLAG_NODST),
        "flags": flags,
        "source_macs": sorted(macs),
        "bcqueuelen": _u32(buf, data, IFLA_MACVLAN_BC_QUEUE_LEN),
        "bcqueuelen_used": _u32(buf, data, IFLA_MACVLAN_BC_QUEUE_LEN_USED),
        "bclim": bclim,
    }


def parse_address(buf, start, end):
    """(ifindex, cidr) of a statically configured address; None for the rest.

    Addresses without IFA_F_PERMANENT come and go with their lifetimes (IPv6 autoconfiguration from router
    advertisements, privacy addresses, DHCPv6 leases): the kernel and those daemons own them, not us.
    """
    family, prefixlen, flags, _scope, index = IFADDRMSG.unpack_from(buf, start + NLMSGHDR.size)
    if family not in (AF_INET, AF_INET6):
        return None
    attrs = attributes(buf, start + NLMSGHDR.size + IFADDRMSG.size, end)
    if IFA_FLAGS in attrs:  # the 32-bit flags; the header holds only the low eight
        flags = _u32(buf, attrs, IFA_FLAGS)
    if not flags & IFA_F_PERMANENT:
        return None
    # Peer addresses ('ip addr add A peer B'): IFA_LOCAL is the address, IFA_ADDRESS the peer's (IPv4 always
    # sends IFA_LOCAL, IPv6 only with a peer).
    span = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if span is None:
        return None
    # Already canonical (``_ip``): the kernel sends a valid address and prefix length, nothing to validate.
    return index, "%s/%d" % (_ip(buf, family, span), prefixlen)


def parse_route(buf, start, end):
    """A unicast route of the main table through one interface, as (oif, {'dest', 'gateway', 'metric'}, protocol);
    None for the rest (other tables, other types, multipath routes without one output interface).

    Routes of the protocols in UNMANAGED_ROUTE_PROTOCOLS (the kernel's own prefix route of a connected subnet,
    router advertisements', DHCP's) are returned too: the collection never changes them, but a route the user
    asks for may be one of them already, or collide with one.
    """
    family, dst_len, _src, _tos, table, proto, _scope, rtype, _flags = RTMSG.unpack_from(buf, start + NLMSGHDR.size)
    if family not in (AF_INET, AF_INET6) or rtype != RTN_UNICAST:
        return None
    attrs = attributes(buf, start + NLMSGHDR.size + RTMSG.size, end)
    if RTA_TABLE in attrs:  # tables above 255 only fit here
        table = _u32(buf, attrs, RTA_TABLE)
    if table != RT_TABLE_MAIN or RTA_OIF not in attrs:
        return None
    dst = _ip(buf, family, attrs[RTA_DST]) if RTA_DST in attrs else ("::" if family == AF_INET6 else "0.0.0.0")
    # The spelling ``_model.normalize_route`` gives (``_ip`` is canonical; the kernel clears a route's host bits),
    # without its validation of user input.
    metric = _u32(buf, attrs, RTA_PRIORITY) or 0
    if metric == 0 and family == AF_INET6:
        metric = _model.default_metric(6)
    route = {
        "dest": "%s/%d" % (dst, dst_len),
        "gateway": _ip(buf, family, attrs[RTA_GATEWAY]) if RTA_GATEWAY in attrs else None,
        "metric": metric,
    }
    return _u32(buf, attrs, RTA_OIF), route, proto


# ---------------------------------------------------------------------------------------------------------
# Capture: addresses and routes kept as the kernel sent them, to be sent back unchanged (exact restore)
# ---------------------------------------------------------------------------------------------------------


def capture_address(buf, start, end):
    """Every address as {'index', 'family', 'address', 'prefixlen', 'raw'}: ``raw`` is the message's body (hex),
    which ``replay_request`` sends back as RTM_NEWADDR: flags (noprefixroute, nodad, ...), label, broadcast, peer,
    metric and remaining lifetimes come back exactly."""
    family, prefixlen, _flags, _scope, index = IFADDRMSG.unpack_from(buf, start + NLMSGHDR.size)
    if family not in (AF_INET, AF_INET6):
        return None
    attrs = attributes(buf, start + NLMSGHDR.size + IFADDRMSG.size, end)
    span = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if span is None:
        return None
    return {
        "index": index,
        "family": family,
        "address": "%s/%d" % (_ip(buf, family, span), prefixlen),
        "raw": bytes(buf[start + NLMSGHDR.size : end]).hex(),
    }


def captured_address(raw):
    """(family, 'address/prefixlen', header flags) of an address body that ``capture_address`` kept."""
    body = bytes.fromhex(raw)
    family, prefixlen, flags, _scope, _index = IFADDRMSG.unpack_from(body, 0)
    attrs = attributes(body, IFADDRMSG.size, len(body))
    span = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    return family, "%s/%d" % (_ip(body, family, span), prefixlen), flags


def capture_route(buf, start, end):
    """Every route as {'oif', 'family', 'table', 'proto', 'dest', 'prefsrc', 'multipath', 'raw'} (``raw``: the body
    in hex, for ``replay_request``); cached clones are left out."""
    family, dst_len, _src, _tos, table, proto, _scope, _rtype, flags = RTMSG.unpack_from(buf, start + NLMSGHDR.size)
    if family not in (AF_INET, AF_INET6) or flags & RTM_F_CLONED:
        return None
    attrs = attributes(buf, start + NLMSGHDR.size + RTMSG.size, end)
    if RTA_TABLE in attrs:
        table = _u32(buf, attrs, RTA_TABLE)
    dst = _ip(buf, family, attrs[RTA_DST]) if RTA_DST in attrs else ("::" if family == AF_INET6 else "0.0.0.0")
    oifs = []
    if RTA_MULTIPATH in attrs:  # struct rtnexthop {u16 len; u8 flags; u8 hops; s32 ifindex} then its attributes
        offset, stop = attrs[RTA_MULTIPATH]
        while offset + 8 <= stop:
            length = U16.unpack_from(buf, offset)[0]
            if length < 8:
                break
            oifs.append(I32.unpack_from(buf, offset + 4)[0])
            offset += (length + 3) & ~3
    return {
        "oif": _u32(buf, attrs, RTA_OIF),
        "oifs": oifs,
        "family": family,
        "table": table,
        "proto": proto,
        "dest": "%s/%d" % (dst, dst_len),
        "prefsrc": _ip(buf, family, attrs[RTA_PREFSRC]) if RTA_PREFSRC in attrs else None,
        "multipath": RTA_MULTIPATH in attrs,
        "raw": bytes(buf[start + NLMSGHDR.size : end]).hex(),
    }


# ---------------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------------


def message(msg_type, flags, seq, body):
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), msg_type, flags, seq, 0) + body


def link_dump_request(seq):
    """RTM_GETLINK for every link, without the statistics (the kernel then skips collecting them)."""
    body = IFINFOMSG.pack(0, 0, 0, 0, 0) + nla(IFLA_EXT_MASK, U32.pack(RTEXT_FILTER_SKIP_STATS))
    return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, body)


def link_get_request(name):
    """A builder of RTM_GETLINK for the one link called ``name`` (the reply is one RTM_NEWLINK, or ENODEV)."""

    def build(seq):
        body = IFINFOMSG.pack(0, 0, 0, 0, 0) + nla(IFLA_IFNAME, name.encode() + b"\0")
        body += nla(IFLA_EXT_MASK, U32.pack(RTEXT_FILTER_SKIP_STATS))
        return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body)

    return build


def nsid_request(fd):
    """A builder of RTM_GETNSID: the id under which the socket's namespace knows the namespace of file ``fd``."""

    def build(seq):
        return message(RTM_GETNSID, NLM_F_REQUEST | NLM_F_ACK, seq, b"\0\0\0\0" + nla(NETNSA_FD, U32.pack(fd)))

    return build


def parse_nsid(buf, start, end):
    attrs = attributes(buf, start + NLMSGHDR.size + 4, end)
    span = attrs.get(NETNSA_NSID)
    return I32.unpack_from(buf, span[0])[0] if span else None


def address_dump_request(seq):
    return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, IFADDRMSG.pack(0, 0, 0, 0, 0))


def route_dump_request(family, table=RT_TABLE_MAIN):
    """A builder of RTM_GETROUTE for one family. With strict checking (Linux 4.20+) the kernel sends only
    ``table``; older kernels send every table and ``parse_route`` drops the others. One family at a time: an
    AF_UNSPEC dump also asks MPLS, which refuses any table filter (EINVAL)."""

    def build(seq):
        body = RTMSG.pack(family, 0, 0, 0, table, 0, 0, 0, 0)
        return message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, body)

    return build


def replay_request(msg_type, raw, seq, index=None):
    """A captured address (RTM_NEWADDR) or route (RTM_NEWROUTE) body sent back to the kernel as a new object
    (NLM_F_EXCL: EEXIST means it is there already). ``index``: the link's ifindex now, when it changed (a
    re-created link). Route bodies lose what the kernel reports but refuses or ignores as input: the cache info,
    and the flags that are state rather than configuration (linkdown, dead, offload; ONLINK is kept)."""
    body = bytearray(bytes.fromhex(raw))
    if msg_type == RTM_NEWADDR:
        if index is not None:
            struct.pack_into("=I", body, 4, index)
        head, attrs = bytes(body[: IFADDRMSG.size]), bytes(body[IFADDRMSG.size :])
    else:
        flags = U32.unpack_from(body, 8)[0]
        struct.pack_into("=I", body, 8, flags & RTNH_F_ONLINK)
        head, attrs = bytes(body[: RTMSG.size]), bytes(body[RTMSG.size :])
        kept = b""
        offset = 0
        while offset + 4 <= len(attrs):
            length, kind = NLA.unpack_from(attrs, offset)
            if length < 4:
                break
            chunk = attrs[offset : offset + ((length + 3) & ~3)]
            if kind & NLA_TYPE_MASK == RTA_CACHEINFO:
                pass
            elif kind & NLA_TYPE_MASK == RTA_OIF and index is not None:
                kept += nla(RTA_OIF, U32.pack(index))
            else:
                kept += chunk
            offset += (length + 3) & ~3
        attrs = kept
    return message(msg_type, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, head + attrs)


def create_link_request(spec, parent_index, seq, target_fd=None):
    """The RTM_NEWLINK that creates the macvlan/macvtap link ``spec`` (a normalised link) on the parent with
    index ``parent_index``; ``target_fd``: a namespace file to create it in (IFLA_NET_NS_FD)."""
    data = nla(IFLA_MACVLAN_MODE, U32.pack(_model.MODE_VALUES[spec["mode"]]))
    flags = (_model.FLAG_NOPROMISC if spec.get("nopromisc") else 0) | (_model.FLAG_NODST if spec.get("nodst") else 0)
    if flags:
        data += nla(IFLA_MACVLAN_FLAGS, U16.pack(flags))
    if spec.get("source_macs"):
        data += nla(IFLA_MACVLAN_MACADDR_MODE, U32.pack(MACADDR_SET))
        macs = b"".join(nla(IFLA_MACVLAN_MACADDR, mac_bytes(mac)) for mac in spec["source_macs"])
        data += nla(IFLA_MACVLAN_MACADDR_DATA, macs)
    if spec.get("bcqueuelen") is not None:
        data += nla(IFLA_MACVLAN_BC_QUEUE_LEN, U32.pack(spec["bcqueuelen"]))
    if spec.get("bclim") is not None:
        data += nla(IFLA_MACVLAN_BC_CUTOFF, I32.pack(spec["bclim"]))
    info = nla(IFLA_INFO_KIND, spec["type"].encode() + b"\0") + nla(IFLA_INFO_DATA, data)
    attrs = nla(IFLA_IFNAME, spec["name"].encode() + b"\0") + nla(IFLA_LINK, U32.pack(parent_index))
    attrs += nla(IFLA_LINKINFO, info)
    if spec.get("mac_address"):
        attrs += nla(IFLA_ADDRESS, mac_bytes(spec["mac_address"]))
    if spec.get("mtu") is not None:
        attrs += nla(IFLA_MTU, U32.pack(spec["mtu"]))
    if target_fd is not None:
        attrs += nla(IFLA_NET_NS_FD, U32.pack(target_fd))
    # What a restored link had beyond the collection's options (rollback re-creates it exactly).
    if spec.get("txqlen") is not None:
        attrs += nla(IFLA_TXQLEN, U32.pack(spec["txqlen"]))
    if spec.get("group"):
        attrs += nla(IFLA_GROUP, U32.pack(spec["group"]))
    if spec.get("master_index"):
        attrs += nla(IFLA_MASTER, U32.pack(spec["master_index"]))
    flags = IFF_UP if spec.get("link_state") == "up" else 0
    change = flags
    # allmulticast and multicast in the same request: the link never exists without them, even for a moment.
    for key, bit in (("allmulticast", IFF_ALLMULTI), ("multicast", IFF_MULTICAST)):
        if spec.get(key) is not None:
            flags |= bit if spec[key] else 0
            change |= bit
    if spec.get("ifi_flags") is not None:
        flags = (spec["ifi_flags"] & IFF_USER_FLAGS & ~IFF_UP) | flags
        change = IFF_USER_FLAGS
    body = IFINFOMSG.pack(0, 0, spec.get("ifindex") or 0, flags, change) + attrs
    return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def addr_gen_mode_request(index, mode):
    """A builder of the RTM_NEWLINK that sets the IPv6 address generation mode (IFLA_AF_SPEC -> AF_INET6 ->
    IFLA_INET6_ADDR_GEN_MODE, a u8) of the existing link ``index``; ``mode`` is the kernel's number."""

    def build(seq):
        inet6 = nla(IFLA_INET6_ADDR_GEN_MODE, struct.pack("=B", mode))
        body = IFINFOMSG.pack(0, 0, index, 0, 0) + nla(IFLA_AF_SPEC, nla(AF_INET6, inet6))
        return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body)

    return build


# ---------------------------------------------------------------------------------------------------------
# The socket
# ---------------------------------------------------------------------------------------------------------


def dump_pauses():
    """The pauses before each restart of an interrupted dump: growing, then even, DUMP_PATIENCE seconds in all."""
    pauses = []
    pause = DUMP_FIRST_PAUSE
    while sum(pauses) < DUMP_PATIENCE:
        pauses.append(min(pause, DUMP_MAX_PAUSE, DUMP_PATIENCE - sum(pauses)))
        pause *= DUMP_PAUSE_GROWTH
    return pauses


class RtnlSocket:
    """A NETLINK_ROUTE socket, bound to the network namespace it is created in (create it inside ``setns``)."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._sock.bind((0, 0))
        except OSError:
            self._sock.close()
            raise
        # Strict checking lets the kernel filter dumps (the main routing table only); kernels before 4.20
        # refuse the option and send everything, which the parsers filter.
        with contextlib.suppress(OSError):
            self._sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        self._buf = bytearray(RECV_BUFFER)
        self._seq = 0

    def close(self):
        self._sock.close()

    def _next_seq(self):
        self._seq += 1
        return self._seq

    def _replies(self, seq):
        """Yield (type, flags, start, end) for each message answering ``seq`` until NLMSG_DONE or an error."""
        buf = self._buf
        while True:
            size = self._sock.recv_into(buf, len(buf), socket.MSG_TRUNC)
            if size > len(buf):
                raise RtnlError("a netlink reply of %d bytes did not fit the %d-byte buffer" % (size, len(buf)))
            offset = 0
            while offset + NLMSGHDR.size <= size:
                length, msg_type, flags, msg_seq, _pid = NLMSGHDR.unpack_from(buf, offset)
                if length < NLMSGHDR.size or offset + length > size:
                    raise RtnlError("malformed netlink reply")
                if msg_seq == seq:
                    if msg_type == NLMSG_DONE:
                        # A dump that failed part-way ends with DONE carrying the (negative) errno.
                        if length >= NLMSGHDR.size + 4:
                            code = -I32.unpack_from(buf, offset + NLMSGHDR.size)[0]
                            if code > 0:
                                raise RtnlError(os.strerror(code), code, kernel=True)
                        yield msg_type, flags, offset, offset + length
                        return
                    if msg_type == NLMSG_ERROR:
                        code = -I32.unpack_from(buf, offset + NLMSGHDR.size)[0]
                        if code:
                            raise RtnlError(os.strerror(code), code, kernel=True)
                        yield msg_type, flags, offset, offset + length
                        return
                    yield msg_type, flags, offset, offset + length
                offset += (length + 3) & ~3

    def dump(self, request_for, reply_type, parse):
        """Send the dump request ``request_for(seq)`` and return ``parse(buf, start, end)`` of every reply of
        type ``reply_type`` that is not None. An interrupted dump is read again. After an error the socket may
        hold the rest of the failed dump: the caller closes it."""
        try:
            return self._dump(request_for, reply_type, parse)
        except OSError as exc:
            raise RtnlError("netlink socket: %s" % (exc.strerror or exc), exc.errno) from None

    def _dump(self, request_for, reply_type, parse):
        pauses = dump_pauses()
        for attempt in range(len(pauses) + 1):
            if attempt:
                time.sleep(pauses[attempt - 1])
            seq = self._next_seq()
            self._sock.send(request_for(seq))
            # The replies are copied as they arrive and parsed once the dump is whole: the kernel marks a dump
            # interrupted when its state changes between two parts, so the dump is read as fast as it comes (after
            # creating a thousand links, the kernel is still adding their IPv6 addresses and routes), and an
            # interrupted dump is drained without parsing.
            replies = []
            interrupted = False
            view = memoryview(self._buf)
            try:
                for msg_type, flags, start, end in self._replies(seq):
                    interrupted = interrupted or bool(flags & NLM_F_DUMP_INTR)
                    if msg_type == reply_type and not interrupted:
                        replies.append(view[start:end].tobytes())
            finally:
                view.release()
            if not interrupted:
                found = []
                for reply in replies:
                    item = parse(reply, 0, len(reply))
                    if item is not None:
                        found.append(item)
                return found
        raise RtnlError(
            "the kernel's state kept changing while it was read (%d attempts over %.1f s): another program is "
            "creating or deleting interfaces in this namespace all the time" % (len(dump_pauses()) + 1, DUMP_PATIENCE)
        )

    def request(self, build, reply_type=None, parse=None):
        """Send ``build(seq)`` (a request with NLM_F_ACK) and wait for the acknowledgement; RtnlError on error.
        Returns ``parse(buf, start, end)`` of each reply of type ``reply_type`` (for a "get" request)."""
        seq = self._next_seq()
        found = []
        try:
            self._sock.send(build(seq))
            view = memoryview(self._buf)
            try:
                for msg_type, _flags, start, end in self._replies(seq):
                    if parse is not None and msg_type == reply_type:
                        found.append(parse(view, start, end))
            finally:
                view.release()
        except OSError as exc:
            raise RtnlError("netlink socket: %s" % (exc.strerror or exc), exc.errno) from None
        return found
