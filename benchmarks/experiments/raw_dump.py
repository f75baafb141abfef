# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""EXPERIMENT (benchmarks only, not the collection's code): read link dumps without pyroute2's decoder.

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


def patch(netlink, model):
    """Replace ``Session.dump_links`` with the raw dump (a socket per namespace, opened like the handle)."""
    original_close = netlink.Session.close

    def close(self):
        for sock in self.__dict__.pop("_raw_socks", {}).values():
            sock.close()
        original_close(self)

    def dump_links(self, ns):
        socks = self.__dict__.setdefault("_raw_socks", {})
        if ns not in socks:
            self.handle(ns)  # same errors as before for a missing namespace
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
        self._raw_seq = getattr(self, "_raw_seq", 0) + 1
        links = dump_links_raw(socks[ns], model, netlink._bc_cutoff_known(), self._raw_seq)
        for key in [k for k in self._indexes if k[0] == ns]:
            del self._indexes[key]
        for link in links:
            self._indexes[(ns, link["name"])] = link["ifindex"]
        return links

    netlink.Session.dump_links = dump_links
    netlink.Session.close = close
    return netlink


def check_equal(ns=None):
    """Both decoders on the same namespace must give the same links (prints the first difference)."""
    from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _netlink

    with _netlink.Session() as session:
        before = session.dump_links(ns)
    patch(_netlink, _model)
    with _netlink.Session() as session:
        after = session.dump_links(ns)
    for a, b in zip(before, after, strict=False):
        if a != b:
            print("differs:", a, b)
            return False
    print("same: %d links" % len(before) if len(before) == len(after) else "count differs")
    return len(before) == len(after)
