"""An independent reader of IFLA_MACVLAN_* attributes, for what this machine's iproute2 does not print.

iproute2 6.1 (Debian 12) predates IFLA_MACVLAN_BC_CUTOFF (Linux 6.4), so ``ip -d link`` cannot show it.
This script asks the kernel directly over a raw AF_NETLINK socket (standard library only, none of the
collection's code and no pyroute2) and prints the link's macvlan attributes as JSON:
``ip netns exec NS python3 rtnl_oracle.py IFNAME``.
"""

from __future__ import annotations

import json
import socket
import struct
import sys

NETLINK_ROUTE = 0
RTM_GETLINK = 18
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
IFLA_IFNAME = 3
IFLA_LINKINFO = 18
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
NLA_TYPE_MASK = 0x3FFF
MACVLAN_ATTRS = {
    1: ("mode", "I"),
    2: ("flags", "H"),
    6: ("macaddr_count", "I"),
    7: ("bc_queue_len", "I"),
    8: ("bc_queue_len_used", "I"),
    9: ("bc_cutoff", "i"),
}


def attrs(data):
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("HH", data, offset)
        if length < 4:
            break
        yield kind & NLA_TYPE_MASK, data[offset + 4 : offset + length]
        offset += (length + 3) & ~3


def query(name):
    encoded = name.encode() + b"\0"
    nla = struct.pack("HH", 4 + len(encoded), IFLA_IFNAME) + encoded
    nla += b"\0" * ((4 - len(nla) % 4) % 4)
    body = struct.pack("BxHiII", 0, 0, 0, 0, 0) + nla
    header = struct.pack("IHHII", 16 + len(body), RTM_GETLINK, NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.send(header + body)
        reply = sock.recv(65536)
    length, msg_type = struct.unpack_from("IH", reply, 0)
    if msg_type == NLMSG_ERROR:
        raise SystemExit("no such link: %s" % name)
    result = {}
    for kind, value in attrs(reply[16 + 16 : length]):
        if kind != IFLA_LINKINFO:
            continue
        for info_kind, info_value in attrs(value):
            if info_kind == IFLA_INFO_KIND:
                result["kind"] = info_value.rstrip(b"\0").decode()
            elif info_kind == IFLA_INFO_DATA:
                for attr, raw in attrs(info_value):
                    if attr in MACVLAN_ATTRS:
                        key, fmt = MACVLAN_ATTRS[attr]
                        result[key] = struct.unpack_from(fmt, raw)[0]
    return result


if __name__ == "__main__":
    print(json.dumps(query(sys.argv[1])))
