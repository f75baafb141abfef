# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""EXPERIMENT (benchmarks only, not the collection's code): read netlink dumps without pyroute2's decoder.

Profiling the module (docs/benchmarks.md) shows that about 0.35 ms of every link's cost in a dump is
pyroute2 decoding the whole RTM_NEWLINK message (some 50 attributes, nested) into Python objects, plus its
receive machinery, while the engine needs ten attributes. This module is the proposed replacement for
``_netlink.Session.dump_links``: one RTM_GETLINK dump over a plain ``AF_NETLINK`` socket opened in the
namespace, parsed with ``struct``, producing exactly the dicts ``_netlink.link_from_msg`` produces.

``phases.py --patch raw-dump`` applies it to ``Session`` from the outside (monkeypatch) so the effect can be
measured before the change is made in plugins/module_utils/_netlink.py; ``check_equal`` compares both
decoders on a live namespace.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 1
NLM_F_DUMP = 0x300
IFF_UP = 0x1
IFF_PROMISC = 0x100

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_PROMISCUITY = 30
IFLA_LINK_NETNSID = 37
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_MACVLAN_MODE = 1
IFLA_MACVLAN_FLAGS = 2
IFLA_MACVLAN_MACADDR = 4
IFLA_MACVLAN_MACADDR_DATA = 5
IFLA_MACVLAN_BC_QUEUE_LEN = 7
IFLA_MACVLAN_BC_QUEUE_LEN_USED = 8
IFLA_MACVLAN_BC_CUTOFF = 9
NLA_TYPE_MASK = 0x3FFF
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")

_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_NLA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_U16 = struct.Struct("=H")


def _attrs(buf, start, end):
    """{type: (value_start, value_end)} of the attributes in buf[start:end] (last one wins, like get_attr)."""
    found = {}
    unpack = _NLA.unpack_from
    while start + 4 <= end:
        length, kind = unpack(buf, start)
        if length < 4:
            break
        found[kind & NLA_TYPE_MASK] = (start + 4, start + length)
        start += (length + 3) & ~3
    return found


def _mac(buf, span):
    return bytes(buf[span[0] : span[1]])[:6].ljust(6, b"\0").hex(":")


def _u32(buf, attrs, kind):
    span = attrs.get(kind)
    return _U32.unpack_from(buf, span[0])[0] if span else None


def link_from_bytes(buf, start, end, model, bc_cutoff_known):
    """The dict ``_netlink.link_from_msg`` returns, from one RTM_NEWLINK message in buf[start:end]."""
    index, flags = _IFINFO.unpack_from(buf, start + 16)[2:4]
    attrs = _attrs(buf, start + 32, end)
    name = attrs.get(IFLA_IFNAME)
    kind = None
    info_data = None
    if IFLA_LINKINFO in attrs:
        info = _attrs(buf, *attrs[IFLA_LINKINFO])
        if IFLA_INFO_KIND in info:
            kind = bytes(buf[info[IFLA_INFO_KIND][0] : info[IFLA_INFO_KIND][1]]).rstrip(b"\0").decode()
        if IFLA_INFO_DATA in info:
            info_data = info[IFLA_INFO_DATA]
    operstate = attrs.get(IFLA_OPERSTATE)
    netnsid = attrs.get(IFLA_LINK_NETNSID)
    link = {
        "name": bytes(buf[name[0] : name[1]]).rstrip(b"\0").decode() if name else None,
        "ifindex": index,
        "kind": kind,
        "mac_address": _mac(buf, attrs[IFLA_ADDRESS]) if IFLA_ADDRESS in attrs else None,
        "mtu": _u32(buf, attrs, IFLA_MTU),
        "link_state": "up" if flags & IFF_UP else "down",
        "operstate": OPERSTATES[buf[operstate[0]]] if operstate and buf[operstate[0]] < len(OPERSTATES) else "UNKNOWN",
        "promisc": bool(flags & IFF_PROMISC),
        "promiscuity": _u32(buf, attrs, IFLA_PROMISCUITY) or 0,
        "parent_ifindex": _u32(buf, attrs, IFLA_LINK),
        "parent_netnsid": _I32.unpack_from(buf, netnsid[0])[0] if netnsid else None,
    }
    if kind in ("macvlan", "macvtap"):
        data = _attrs(buf, *info_data) if info_data else {}
        mode = _u32(buf, data, IFLA_MACVLAN_MODE)
        flag_span = data.get(IFLA_MACVLAN_FLAGS)
        mvflags = (_U16.unpack_from(buf, flag_span[0])[0] if flag_span else 0) or 0
        macs = []
        if IFLA_MACVLAN_MACADDR_DATA in data:
            start_m, end_m = data[IFLA_MACVLAN_MACADDR_DATA]
            seen = set()
            while start_m + 4 <= end_m:
                length, sub = _NLA.unpack_from(buf, start_m)
                if length < 4:
                    break
                if sub & NLA_TYPE_MASK == IFLA_MACVLAN_MACADDR:
                    seen.add(_mac(buf, (start_m + 4, start_m + length)))
                start_m += (length + 3) & ~3
            macs = sorted(seen)
        cutoff = data.get(IFLA_MACVLAN_BC_CUTOFF)
        bclim = _I32.unpack_from(buf, cutoff[0])[0] if cutoff else None
        link.update(
            {
                "mode": model.MODE_NAMES.get(mode, mode),
                "nopromisc": bool(mvflags & model.FLAG_NOPROMISC),
                "nodst": bool(mvflags & model.FLAG_NODST),
                "flags": mvflags,
                "source_macs": macs,
                "bcqueuelen": _u32(buf, data, IFLA_MACVLAN_BC_QUEUE_LEN),
                "bcqueuelen_used": _u32(buf, data, IFLA_MACVLAN_BC_QUEUE_LEN_USED),
                "bclim": bclim
                if bclim is not None
                else (model.BCLIM_DEFAULT if bc_cutoff_known and IFLA_MACVLAN_BC_QUEUE_LEN in data else None),
            }
        )
    return link


def dump_links_raw(sock, model, bc_cutoff_known, seq=1):
    """One RTM_GETLINK dump on ``sock`` (an AF_NETLINK/NETLINK_ROUTE socket); the links as dicts."""
    request = _HDR.pack(_HDR.size + _IFINFO.size, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.send(request + _IFINFO.pack(0, 0, 0, 0, 0))
    links = []
    buf = bytearray(1 << 18)
    view = memoryview(buf)
    while True:
        size = sock.recv_into(buf)
        offset = 0
        while offset + _HDR.size <= size:
            length, msg_type, _flags, msg_seq = _HDR.unpack_from(buf, offset)[:4]
            if length < _HDR.size:
                raise OSError("malformed netlink message")
            if msg_seq == seq:
                if msg_type == NLMSG_DONE:
                    return links
                if msg_type == NLMSG_ERROR:
                    code = -_I32.unpack_from(buf, offset + 16)[0]
                    raise OSError(code, os.strerror(code))
                if msg_type == RTM_NEWLINK:
                    links.append(link_from_bytes(view, offset, offset + length, model, bc_cutoff_known))
            offset += (length + 3) & ~3


def open_socket():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((0, 0))
    return sock


def _socket_for(session, netlink, ns):
    """A raw NETLINK_ROUTE socket in namespace ``ns``, one per session and namespace."""
    socks = session.__dict__.setdefault("_raw_socks", {})
    if ns not in socks:
        session.handle(ns)  # the same errors as before for a missing namespace
        if ns is None:
            socks[ns] = open_socket()
        else:
            setns = getattr(netlink, "setns", None) or netlink._setns
            target = netlink.open_netns_fd(ns)
            home = os.open("/proc/self/ns/net", os.O_RDONLY)
            try:
                setns(target)
                try:
                    socks[ns] = open_socket()
                finally:
                    setns(home)
            finally:
                os.close(target)
                os.close(home)
    return socks[ns]


def _strict_socket_for(session, netlink, ns):
    """The namespace's raw socket, with strict checking switched on where the kernel has it."""
    sock = _socket_for(session, netlink, ns)
    if not session.__dict__.setdefault("_raw_strict", {}).get(ns):
        with contextlib.suppress(OSError):
            sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        session.__dict__["_raw_strict"][ns] = True
    return sock


def _next_seq(session):
    session.__dict__["_raw_seq"] = session.__dict__.get("_raw_seq", 0) + 1
    return session.__dict__["_raw_seq"]


def _nla(kind, payload):
    length = 4 + len(payload)
    return _NLA.pack(length, kind) + payload + b"\0" * (-length % 4)


def _mac_bytes(mac):
    return bytes(int(part, 16) for part in mac.split(":"))


IFLA_NET_NS_FD = 28
IFLA_MACVLAN_MACADDR_MODE = 3
IFLA_MACVLAN_BC_CUTOFF_ATTR = IFLA_MACVLAN_BC_CUTOFF
MACADDR_SET = 3
NLM_F_ACK = 4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400


def create_message(spec, parent_index, model, seq, target_fd=None):
    """RTM_NEWLINK creating ``spec`` (the attributes ``_netlink.Session._op_create`` sends), as bytes."""
    data = _nla(IFLA_MACVLAN_MODE, _U32.pack(model.MODE_VALUES[spec["mode"]]))
    flags = (model.FLAG_NOPROMISC if spec.get("nopromisc") else 0) | (model.FLAG_NODST if spec.get("nodst") else 0)
    if flags:
        data += _nla(IFLA_MACVLAN_FLAGS, _U16.pack(flags))
    if spec.get("source_macs"):
        data += _nla(IFLA_MACVLAN_MACADDR_MODE, _U32.pack(MACADDR_SET))
        macs = b"".join(_nla(IFLA_MACVLAN_MACADDR, _mac_bytes(mac)) for mac in spec["source_macs"])
        data += _nla(IFLA_MACVLAN_MACADDR_DATA, macs)
    if spec.get("bcqueuelen") is not None:
        data += _nla(IFLA_MACVLAN_BC_QUEUE_LEN, _U32.pack(spec["bcqueuelen"]))
    if spec.get("bclim") is not None:
        data += _nla(IFLA_MACVLAN_BC_CUTOFF_ATTR, _I32.pack(spec["bclim"]))
    info = _nla(IFLA_INFO_KIND, spec["type"].encode() + b"\0") + _nla(IFLA_INFO_DATA, data)
    attrs = _nla(IFLA_IFNAME, spec["name"].encode() + b"\0") + _nla(IFLA_LINK, _U32.pack(parent_index))
    attrs += _nla(IFLA_LINKINFO, info)
    if spec.get("mac_address"):
        attrs += _nla(IFLA_ADDRESS, _mac_bytes(spec["mac_address"]))
    if spec.get("mtu") is not None:
        attrs += _nla(IFLA_MTU, _U32.pack(spec["mtu"]))
    if target_fd is not None:
        attrs += _nla(IFLA_NET_NS_FD, _U32.pack(target_fd))
    up = IFF_UP if spec.get("link_state") == "up" else 0
    body = _IFINFO.pack(0, 0, 0, up, up) + attrs
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return _HDR.pack(_HDR.size + len(body), RTM_NEWLINK, flags, seq, 0) + body


def wait_ack(sock, seq):
    """The kernel's errno for request ``seq`` (0: done)."""
    buf = bytearray(1 << 16)
    while True:
        size = sock.recv_into(buf)
        offset = 0
        while offset + _HDR.size <= size:
            length, kind, _flags, msg_seq = _HDR.unpack_from(buf, offset)[:4]
            if length < _HDR.size:
                raise OSError("malformed netlink message")
            if msg_seq == seq and kind == NLMSG_ERROR:
                return -_I32.unpack_from(buf, offset + 16)[0]
            offset += (length + 3) & ~3


RTM_NEWADDR = 20
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RT_TABLE_MAIN = 254
NETLINK_GET_STRICT_CHK = 12
SOL_NETLINK = 270
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
IFADDR_FIELDS = ("family", "prefixlen", "flags", "scope", "index")
RTMSG_FIELDS = ("family", "dst_len", "src_len", "tos", "table", "proto", "scope", "type", "flags")
# The attributes address_from_msg and route_from_msg read: number -> (name, decoder)
ADDR_ATTRS = {1: ("IFA_ADDRESS", "ip"), 2: ("IFA_LOCAL", "ip"), 8: ("IFA_FLAGS", "u32")}
ROUTE_ATTRS = {
    1: ("RTA_DST", "ip"),
    4: ("RTA_OIF", "u32"),
    5: ("RTA_GATEWAY", "ip"),
    6: ("RTA_PRIORITY", "u32"),
    15: ("RTA_TABLE", "u32"),
}


class LiteMessage:
    """Just enough of a pyroute2 message for _netlink.address_from_msg / route_from_msg."""

    __slots__ = ("fields", "attrs")

    def __init__(self, fields, attrs):
        self.fields = fields
        self.attrs = attrs

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)

    def get_attr(self, name):
        return self.attrs.get(name)


def _lite(buf, start, end, header, names, wanted):
    values = header.unpack_from(buf, start + 16)
    fields = dict(zip(names, values, strict=True))
    family = fields["family"]
    attrs = {}
    for kind, span in _attrs(buf, start + 16 + header.size, end).items():
        if kind in wanted:
            name, decoder = wanted[kind]
            raw = bytes(buf[span[0] : span[1]])
            if decoder == "u32":
                attrs[name] = _U32.unpack_from(raw)[0]
            else:
                attrs[name] = socket.inet_ntop(family, raw)
    return LiteMessage(fields, attrs)


def dump_raw(sock, msg_type, seq, reply_type, header, names, wanted, body):
    request = _HDR.pack(_HDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
    sock.send(request)
    found = []
    buf = bytearray(1 << 18)
    view = memoryview(buf)
    while True:
        size = sock.recv_into(buf)
        offset = 0
        while offset + _HDR.size <= size:
            length, kind, _flags, msg_seq = _HDR.unpack_from(buf, offset)[:4]
            if length < _HDR.size:
                raise OSError("malformed netlink message")
            if msg_seq == seq:
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR:
                    code = -_I32.unpack_from(buf, offset + 16)[0]
                    raise OSError(code, os.strerror(code))
                if kind == reply_type:
                    found.append(_lite(view, offset, offset + length, header, names, wanted))
            offset += (length + 3) & ~3


def patch(netlink, model, requests=False):
    """Replace ``Session.dump_links`` with the raw dump; with ``requests`` also replace ``Session._op_create``
    by a struct-encoded RTM_NEWLINK sent on the raw socket (instead of pyroute2 encoding the nested message)."""
    original_close = netlink.Session.close

    def close(self):
        for sock in self.__dict__.pop("_raw_socks", {}).values():
            sock.close()
        original_close(self)

    def dump_links(self, ns):
        sock = _socket_for(self, netlink, ns)
        links = dump_links_raw(sock, model, netlink._bc_cutoff_known(), _next_seq(self))
        for key in [k for k in self._indexes if k[0] == ns]:
            del self._indexes[key]
        for link in links:
            self._indexes[(ns, link["name"])] = link["ifindex"]
        return links

    def op_create(self, action):
        spec = action["spec"]
        ns = action["ns"]
        target_fd = None
        if action.get("link_ns") != ns:
            target_fd = netlink.open_netns_fd(action["link_ns"], "link_netns")
        try:
            sock = _socket_for(self, netlink, ns)
            seq = _next_seq(self)
            sock.send(create_message(spec, self.ifindex(ns, spec["parent"]), model, seq, target_fd))
            code = wait_ack(sock, seq)
        finally:
            if target_fd is not None:
                os.close(target_fd)
        if code:
            raise netlink.NetlinkFailure(os.strerror(code), code)
        self.forget(action["link_ns"], spec["name"])

    original_dump = netlink.Session._dump

    def dump(self, ns, msg, msg_type, reply_type):
        if msg_type == RTM_GETADDR:
            body = _IFADDR.pack(0, 0, 0, 0, 0)
            return dump_raw(
                _socket_for(self, netlink, ns),
                msg_type,
                _next_seq(self),
                RTM_NEWADDR,
                _IFADDR,
                IFADDR_FIELDS,
                ADDR_ATTRS,
                body,
            )
        if msg_type == RTM_GETROUTE:
            # Only the main table: with strict checking (Linux 4.20+) the kernel filters by rtm_table;
            # route_from_msg drops the other tables anyway.
            body = _RTMSG.pack(0, 0, 0, 0, RT_TABLE_MAIN, 0, 0, 0, 0)
            return dump_raw(
                _strict_socket_for(self, netlink, ns),
                msg_type,
                _next_seq(self),
                RTM_NEWROUTE,
                _RTMSG,
                RTMSG_FIELDS,
                ROUTE_ATTRS,
                body,
            )
        return original_dump(self, ns, msg, msg_type, reply_type)

    netlink.Session.dump_links = dump_links
    netlink.Session._dump = dump
    netlink.Session.close = close
    if requests:
        netlink.Session._op_create = op_create
    return netlink


def check_equal(ns=None):
    """Both decoders on the same namespace must give the same snapshot (prints the first difference)."""
    from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _netlink

    with _netlink.Session() as session:
        snap = session.observe(ns)
        before = session.dump_links(ns)
    patch(_netlink, _model)
    with _netlink.Session() as session:
        snap2 = session.observe(ns)
        after = session.dump_links(ns)
    if (snap.addresses, snap.routes) != (snap2.addresses, snap2.routes):
        print("addresses or routes differ:", snap.addresses, snap2.addresses, snap.routes, snap2.routes)
        return False
    print("same addresses (%d links) and routes (%d links)" % (len(snap.addresses), len(snap.routes)))
    for a, b in zip(before, after, strict=False):
        if a != b:
            print("differs:", a, b)
            return False
    print("same: %d links" % len(before) if len(before) == len(after) else "count differs")
    return len(before) == len(after)
