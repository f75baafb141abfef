"""The rtnetlink codec, and the session's use of it (pure: messages built and read in memory; a scripted socket
stands in for the kernel; no pyroute2 needed)."""

from __future__ import annotations

import errno
import ipaddress
import random
import struct

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _netlink, _rtnl

HDR = struct.Struct("=IHHII")
RtnlSocket = _rtnl.RtnlSocket  # the class itself, also while a test replaces the module's factory


def msg(msg_type, body, seq=1, flags=0):
    return HDR.pack(HDR.size + len(body), msg_type, flags, seq, 0) + body


def link_msg(index, name, flags=0, extra=b"", seq=1, msg_flags=0):
    body = _rtnl.IFINFOMSG.pack(0, 1, index, flags, 0) + _rtnl.nla(_rtnl.IFLA_IFNAME, name.encode() + b"\0") + extra
    return msg(_rtnl.RTM_NEWLINK, body, seq, msg_flags)


def parse(parser, data, *args):
    return parser(memoryview(data), 0, len(data), *args)


def spec(**values):
    base = {"name": "mv0", "type": "macvlan", "mode": "bridge", "link_state": "up"}
    base.update(values)
    return base


def test_create_request_header_and_flags():
    data = _rtnl.create_link_request(spec(), 7, seq=42)
    length, msg_type, flags, seq, pid = HDR.unpack_from(data)
    assert (length, msg_type, seq, pid) == (len(data), _rtnl.RTM_NEWLINK, 42, 0)
    assert flags == _rtnl.NLM_F_REQUEST | _rtnl.NLM_F_ACK | _rtnl.NLM_F_CREATE | _rtnl.NLM_F_EXCL
    family, _type, index, ifi_flags, change = _rtnl.IFINFOMSG.unpack_from(data, HDR.size)
    assert (family, index, ifi_flags, change) == (0, 0, _rtnl.IFF_UP, _rtnl.IFF_UP)
    assert len(data) % 4 == 0


def test_create_request_down_link_leaves_the_up_flag_alone():
    data = _rtnl.create_link_request(spec(link_state="down"), 7, seq=1)
    assert _rtnl.IFINFOMSG.unpack_from(data, HDR.size)[3:] == (0, 0)


# The kernel's UAPI values, copied by hand from include/uapi/linux/{netlink,rtnetlink,if_link,if_addr}.h so that
# a wrong constant in _rtnl cannot hide behind a round trip through the same constant.
UAPI = {
    "NLMSG_ERROR": 2,
    "NLMSG_DONE": 3,
    "NLM_F_REQUEST": 0x1,
    "NLM_F_ACK": 0x4,
    "NLM_F_DUMP_INTR": 0x10,
    "NLM_F_DUMP": 0x300,
    "NLM_F_EXCL": 0x200,
    "NLM_F_CREATE": 0x400,
    "RTM_NEWLINK": 16,
    "RTM_GETLINK": 18,
    "RTM_NEWADDR": 20,
    "RTM_GETADDR": 22,
    "RTM_NEWROUTE": 24,
    "RTM_GETROUTE": 26,
    "IFLA_ADDRESS": 1,
    "IFLA_IFNAME": 3,
    "IFLA_MTU": 4,
    "IFLA_LINK": 5,
    "IFLA_OPERSTATE": 16,
    "IFLA_LINKINFO": 18,
    "IFLA_NET_NS_FD": 28,
    "IFLA_EXT_MASK": 29,
    "IFLA_PROMISCUITY": 30,
    "IFLA_LINK_NETNSID": 37,
    "IFLA_INFO_KIND": 1,
    "IFLA_INFO_DATA": 2,
    "RTEXT_FILTER_SKIP_STATS": 8,
    "IFLA_MACVLAN_MODE": 1,
    "IFLA_MACVLAN_FLAGS": 2,
    "IFLA_MACVLAN_MACADDR_MODE": 3,
    "IFLA_MACVLAN_MACADDR": 4,
    "IFLA_MACVLAN_MACADDR_DATA": 5,
    "IFLA_MACVLAN_BC_QUEUE_LEN": 7,
    "IFLA_MACVLAN_BC_QUEUE_LEN_USED": 8,
    "IFLA_MACVLAN_BC_CUTOFF": 9,
    "MACADDR_SET": 3,
    "IFA_ADDRESS": 1,
    "IFA_LOCAL": 2,
    "IFA_FLAGS": 8,
    "IFA_F_PERMANENT": 0x80,
    "RTA_DST": 1,
    "RTA_OIF": 4,
    "RTA_GATEWAY": 5,
    "RTA_PRIORITY": 6,
    "RTA_TABLE": 15,
    "RT_TABLE_MAIN": 254,
    "RTN_UNICAST": 1,
    "SOL_NETLINK": 270,
    "NETLINK_GET_STRICT_CHK": 12,
}


@pytest.mark.parametrize("name", sorted(UAPI))
def test_constants_are_the_kernels(name):
    assert getattr(_rtnl, name) == UAPI[name]


def test_struct_sizes_are_the_kernels():
    sizes = (_rtnl.NLMSGHDR.size, _rtnl.IFINFOMSG.size, _rtnl.IFADDRMSG.size, _rtnl.RTMSG.size)
    assert sizes == (16, 16, 8, 12)


def test_create_request_golden_bytes():
    """Every byte of a create request, built here with literal numbers (not the module's constants)."""

    def attr(kind, payload):
        pad = b"\0" * (-(4 + len(payload)) % 4)
        return struct.pack("=HH", 4 + len(payload), kind) + payload + pad

    data = attr(1, struct.pack("=I", 16))  # IFLA_MACVLAN_MODE = MACVLAN_MODE_SOURCE (16)
    data += attr(2, struct.pack("=H", 2))  # IFLA_MACVLAN_FLAGS = NODST (u16)
    data += attr(3, struct.pack("=I", 3))  # IFLA_MACVLAN_MACADDR_MODE = SET
    data += attr(5, attr(4, bytes.fromhex("020000000001")))  # MACADDR_DATA [MACADDR]
    data += attr(7, struct.pack("=I", 50))  # BC_QUEUE_LEN
    data += attr(9, struct.pack("=i", -1))  # BC_CUTOFF (s32)
    info = attr(1, b"macvlan\0") + attr(2, data)
    attrs = attr(3, b"mv0\0") + attr(5, struct.pack("=I", 7)) + attr(18, info)
    attrs += attr(1, bytes.fromhex("0242ac110010")) + attr(4, struct.pack("=I", 1400)) + attr(28, struct.pack("=I", 9))
    body = struct.pack("=BxHiII", 0, 0, 0, 1, 1) + attrs
    expected = struct.pack("=IHHII", 16 + len(body), 16, 0x1 | 0x4 | 0x200 | 0x400, 5, 0) + body
    wanted = spec(
        mode="source",
        nodst=True,
        source_macs=["02:00:00:00:00:01"],
        bcqueuelen=50,
        bclim=-1,
        mac_address="02:42:ac:11:00:10",
        mtu=1400,
    )
    assert _rtnl.create_link_request(wanted, 7, seq=5, target_fd=9) == expected


def test_dump_requests_golden_bytes():
    link = _rtnl.link_dump_request(3)
    assert link == struct.pack("=IHHII", 40, 18, 0x301, 3, 0) + b"\0" * 16 + struct.pack("=HHI", 8, 29, 8)
    addr = _rtnl.address_dump_request(4)
    assert addr == struct.pack("=IHHII", 24, 22, 0x301, 4, 0) + b"\0" * 8
    route = _rtnl.route_dump_request(10)(5)
    assert route == struct.pack("=IHHII", 28, 26, 0x301, 5, 0) + struct.pack("=BBBBBBBBI", 10, 0, 0, 0, 254, 0, 0, 0, 0)
    assert _rtnl.route_dump_request(2, 0)(6)[16:] == struct.pack("=BBBBBBBBI", 2, 0, 0, 0, 0, 0, 0, 0, 0)


def test_create_request_round_trips_every_attribute():
    wanted = spec(
        name="mv-src",
        type="macvtap",
        mode="source",
        nodst=True,
        source_macs=["02:00:00:00:00:0b", "02:00:00:00:00:0a"],
        mac_address="02:42:ac:11:00:10",
        mtu=1400,
        bcqueuelen=333,
        bclim=-1,
    )
    data = _rtnl.create_link_request(wanted, 7, seq=1, target_fd=9)
    link = parse(_rtnl.parse_link, data, True)
    assert link["name"] == "mv-src" and link["kind"] == "macvtap" and link["parent_ifindex"] == 7
    assert link["mode"] == "source" and link["nodst"] is True and link["nopromisc"] is False
    assert link["source_macs"] == ["02:00:00:00:00:0a", "02:00:00:00:00:0b"]
    assert link["mac_address"] == "02:42:ac:11:00:10" and link["mtu"] == 1400
    assert link["bcqueuelen"] == 333 and link["bclim"] == -1 and link["link_state"] == "up"
    attrs = _rtnl.attributes(data, HDR.size + _rtnl.IFINFOMSG.size, len(data))
    start, _end = attrs[_rtnl.IFLA_NET_NS_FD]
    assert struct.unpack_from("=I", data, start)[0] == 9


def test_create_request_sends_only_what_is_asked():
    data = _rtnl.create_link_request(spec(), 3, seq=1)
    attrs = _rtnl.attributes(data, HDR.size + _rtnl.IFINFOMSG.size, len(data))
    assert set(attrs) == {_rtnl.IFLA_IFNAME, _rtnl.IFLA_LINK, _rtnl.IFLA_LINKINFO}
    info = _rtnl.attributes(data, *attrs[_rtnl.IFLA_LINKINFO])
    assert set(_rtnl.attributes(data, *info[_rtnl.IFLA_INFO_DATA])) == {_rtnl.IFLA_MACVLAN_MODE}


def test_parse_link_of_a_plain_interface():
    extra = (
        _rtnl.nla(_rtnl.IFLA_ADDRESS, bytes.fromhex("0242ac110010"))
        + _rtnl.nla(_rtnl.IFLA_MTU, struct.pack("=I", 9000))
        + _rtnl.nla(_rtnl.IFLA_OPERSTATE, b"\x06")
        + _rtnl.nla(_rtnl.IFLA_PROMISCUITY, struct.pack("=I", 2))
        + _rtnl.nla(_rtnl.IFLA_LINK, struct.pack("=I", 4))
        + _rtnl.nla(_rtnl.IFLA_LINKINFO, _rtnl.nla(_rtnl.IFLA_INFO_KIND, b"veth\0"))
        + _rtnl.nla(_rtnl.IFLA_TXQLEN, struct.pack("=I", 500))
        + _rtnl.nla(_rtnl.IFLA_MASTER, struct.pack("=I", 9))
        + _rtnl.nla(_rtnl.IFLA_GROUP, struct.pack("=I", 3))
        + _rtnl.nla(_rtnl.IFLA_IFALIAS, b"uplink\0")
        + _rtnl.nla(_rtnl.IFLA_MIN_MTU, struct.pack("=I", 68))
        + _rtnl.nla(_rtnl.IFLA_MAX_MTU, struct.pack("=I", 9216))
    )
    flags = _rtnl.IFF_UP | _rtnl.IFF_PROMISC | _rtnl.IFF_MULTICAST
    link = parse(_rtnl.parse_link, link_msg(3, "eth1", flags, extra), False)
    assert link == {
        "name": "eth1",
        "ifindex": 3,
        "kind": "veth",
        "mac_address": "02:42:ac:11:00:10",
        "mtu": 9000,
        "min_mtu": 68,
        "max_mtu": 9216,
        "link_state": "up",
        "operstate": "UP",
        "promisc": True,
        "allmulticast": False,
        "multicast": True,
        "promiscuity": 2,
        "parent_ifindex": 4,
        "parent_netnsid": None,
        "arphrd": 1,
        "ifi_flags": flags,
        "master": 9,
        "txqlen": 500,
        "group": 3,
        "ifalias": "uplink",
    }


def test_parse_link_netnsid_and_unknown_operstate():
    extra = _rtnl.nla(_rtnl.IFLA_LINK_NETNSID, struct.pack("=i", 3)) + _rtnl.nla(_rtnl.IFLA_OPERSTATE, b"\x63")
    link = parse(_rtnl.parse_link, link_msg(5, "mv0", 0, extra), False)
    assert link["parent_netnsid"] == 3 and link["operstate"] == "UNKNOWN" and link["link_state"] == "down"
    assert link["kind"] is None and link["mac_address"] is None and link["mtu"] is None
    assert link["min_mtu"] is None and link["max_mtu"] is None  # kernels before 4.19 do not report the range


@pytest.mark.parametrize(
    ("known", "with_queue_len", "expected"),
    [(True, True, 1), (True, False, None), (False, True, None)],
)
def test_parse_link_bclim_default_only_where_the_kernel_reports_it(known, with_queue_len, expected):
    data = _rtnl.nla(_rtnl.IFLA_MACVLAN_MODE, struct.pack("=I", 4))
    if with_queue_len:
        data += _rtnl.nla(_rtnl.IFLA_MACVLAN_BC_QUEUE_LEN, struct.pack("=I", 1000))
    info = _rtnl.nla(_rtnl.IFLA_INFO_KIND, b"macvlan\0") + _rtnl.nla(_rtnl.IFLA_INFO_DATA, data)
    link = parse(_rtnl.parse_link, link_msg(5, "mv0", 0, _rtnl.nla(_rtnl.IFLA_LINKINFO, info)), known)
    assert link["mode"] == "bridge" and link["bclim"] == expected


def test_attributes_stop_at_malformed_input():
    good = _rtnl.nla(1, b"abcd")
    assert _rtnl.attributes(good + struct.pack("=HH", 2, 5), 0, len(good) + 4) == {1: (4, 8)}
    assert _rtnl.attributes(good + struct.pack("=HH", 200, 5), 0, len(good) + 4) == {1: (4, 8)}
    assert _rtnl.attributes(b"\x01\x00", 0, 2) == {}


def addr_msg(family, prefixlen, index, attrs, flags=0x80):
    body = _rtnl.IFADDRMSG.pack(family, prefixlen, flags, 0, index) + attrs
    return msg(_rtnl.RTM_NEWADDR, body)


def test_parse_address_families_peer_and_flags():
    v4 = addr_msg(2, 24, 3, _rtnl.nla(_rtnl.IFA_LOCAL, bytes([192, 0, 2, 10])))
    assert parse(_rtnl.parse_address, v4) == (3, "192.0.2.10/24")
    peer = addr_msg(
        2, 32, 3, _rtnl.nla(_rtnl.IFA_ADDRESS, bytes([10, 0, 0, 2])) + _rtnl.nla(_rtnl.IFA_LOCAL, bytes([10, 0, 0, 1]))
    )
    assert parse(_rtnl.parse_address, peer) == (3, "10.0.0.1/32")
    v6 = addr_msg(10, 64, 4, _rtnl.nla(_rtnl.IFA_ADDRESS, bytes.fromhex("20010db8" + "00" * 11 + "05")))
    assert parse(_rtnl.parse_address, v6) == (4, "2001:db8::5/64")
    v6_peer = addr_msg(
        10,
        128,
        4,
        _rtnl.nla(_rtnl.IFA_ADDRESS, bytes.fromhex("20010db8" + "00" * 11 + "02"))
        + _rtnl.nla(_rtnl.IFA_LOCAL, bytes.fromhex("20010db8" + "00" * 11 + "01")),
    )
    assert parse(_rtnl.parse_address, v6_peer) == (4, "2001:db8::1/128")
    dynamic = addr_msg(2, 24, 3, _rtnl.nla(_rtnl.IFA_LOCAL, bytes([198, 18, 0, 1])), flags=0)
    assert parse(_rtnl.parse_address, dynamic) is None
    # IFA_FLAGS (32 bits) wins over the header's eight bits.
    overridden = addr_msg(
        2, 24, 3, _rtnl.nla(_rtnl.IFA_LOCAL, bytes([198, 18, 0, 1])) + _rtnl.nla(_rtnl.IFA_FLAGS, struct.pack("=I", 0))
    )
    assert parse(_rtnl.parse_address, overridden) is None
    assert parse(_rtnl.parse_address, addr_msg(17, 0, 3, b"")) is None


def route_msg(family, dst_len, attrs, table=254, proto=4, rtype=1):
    body = _rtnl.RTMSG.pack(family, dst_len, 0, 0, table, proto, 0, rtype, 0) + attrs
    return msg(_rtnl.RTM_NEWROUTE, body)


OIF = _rtnl.nla(_rtnl.RTA_OIF, struct.pack("=I", 6))


def test_parse_route_values():
    route = route_msg(
        2,
        24,
        _rtnl.nla(_rtnl.RTA_DST, bytes([198, 51, 100, 0]))
        + OIF
        + _rtnl.nla(_rtnl.RTA_GATEWAY, bytes([192, 0, 2, 1]))
        + _rtnl.nla(_rtnl.RTA_PRIORITY, struct.pack("=I", 7)),
    )
    assert parse(_rtnl.parse_route, route) == (
        6,
        {"dest": "198.51.100.0/24", "gateway": "192.0.2.1", "metric": 7},
        _netlink.RTPROT_STATIC,
    )
    default6 = route_msg(10, 0, OIF)
    assert parse(_rtnl.parse_route, default6) == (6, {"dest": "::/0", "gateway": None, "metric": 1024}, 4)


def test_parse_route_returns_the_kernels_routes_with_their_protocol():
    # The kernel's connected route is not managed, but a route asked for may be it (or collide with it).
    connected = route_msg(2, 24, OIF, proto=2)
    assert parse(_rtnl.parse_route, connected) == (6, {"dest": "0.0.0.0/24", "gateway": None, "metric": 0}, 2)


IPV6_SPELLINGS = [
    "::",
    "::1",
    "1::",
    "fe80::1",
    "2001:db8::",
    "2001:db8:0:0:1:0:0:1",  # two equal runs: the first becomes '::'
    "2001:0:0:1:0:0:0:1",  # the longer run wins
    "2001:db8:0:1:1:1:1:1",  # a single zero group stays '0'
    "1:2:3:4:5:6:7:8",
    "0:1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:0",
    "::ffff:192.0.2.1",  # v4-mapped: glibc's inet_ntop writes dotted quad, ipaddress hex
    "::192.0.2.1",
    "::ffff:0:0",
    "64:ff9b::c000:201",
    "FE80::ABCD:0:0:1",
]


@pytest.mark.parametrize("text", IPV6_SPELLINGS)
def test_ipv6_text_is_ipaddress_spelling(text):
    address = ipaddress.IPv6Address(text)
    assert _rtnl.ipv6_text(address.packed) == address.compressed


def test_ipv6_text_matches_ipaddress_on_random_and_sparse_addresses():
    rng = random.Random(5952)
    for _sample in range(20000):
        # Mostly zero groups, so that runs of every length and position occur.
        groups = [rng.choice((0, 0, 0, 1, 0xFFFF, rng.randrange(1 << 16))) for _group in range(8)]
        raw = struct.pack("!8H", *groups)
        assert _rtnl.ipv6_text(raw) == ipaddress.IPv6Address(raw).compressed


def test_parsed_addresses_and_routes_are_in_the_models_spelling():
    # The read side builds the canonical spelling itself; it must equal what the model makes of user input.
    for text in IPV6_SPELLINGS:
        raw = ipaddress.IPv6Address(text).packed
        v6 = addr_msg(10, 64, 4, _rtnl.nla(_rtnl.IFA_ADDRESS, raw))
        cidr = "%s/64" % text
        assert parse(_rtnl.parse_address, v6) == (4, _model.normalize_cidr(cidr))
        route = route_msg(10, 128, _rtnl.nla(_rtnl.RTA_DST, raw) + OIF + _rtnl.nla(_rtnl.RTA_GATEWAY, raw))
        wanted = _model.normalize_route({"dest": "%s/128" % text, "gateway": text})
        assert parse(_rtnl.parse_route, route)[1] == wanted


@pytest.mark.parametrize(
    "route",
    [
        route_msg(2, 24, OIF, table=100),
        route_msg(2, 24, OIF + _rtnl.nla(_rtnl.RTA_TABLE, struct.pack("=I", 1000))),
        route_msg(2, 24, OIF, rtype=6),  # blackhole
        route_msg(2, 24, b""),  # no single output interface (multipath)
    ],
)
def test_parse_route_leaves_out_what_the_collection_does_not_manage(route):
    assert parse(_rtnl.parse_route, route) is None


class ScriptedSocket:
    """Answers each send() with the datagrams its script gives for that request's sequence number."""

    def __init__(self, script):
        self.script = script
        self.sent = []
        self.queue = []

    def send(self, data):
        seq = HDR.unpack_from(data)[3]
        self.sent.append(data)
        self.queue.extend(self.script(len(self.sent), seq))
        return len(data)

    def recv_into(self, buf, size, flags=0):
        data = self.queue.pop(0)
        buf[: min(len(data), len(buf))] = data[: len(buf)]
        return len(data)

    def close(self):
        pass


def scripted(script, buffer=1 << 16):
    sock = object.__new__(RtnlSocket)
    sock._sock = ScriptedSocket(script)
    sock._buf = bytearray(buffer)
    sock._seq = 0
    return sock


def names(sock):
    return [link["name"] for link in sock.dump(_rtnl.link_dump_request, _rtnl.RTM_NEWLINK, _link_parser)]


def _link_parser(buf, start, end):
    return _rtnl.parse_link(buf, start, end, False)


def test_dump_reads_every_datagram_and_ignores_other_sequences():
    def script(_n, seq):
        return [
            link_msg(1, "lo", seq=seq) + link_msg(99, "stale", seq=seq + 100),
            link_msg(2, "eth0", seq=seq),
            msg(_rtnl.NLMSG_DONE, b"\0\0\0\0", seq),
        ]

    assert names(scripted(script)) == ["lo", "eth0"]


def test_dump_restarts_when_the_kernel_says_it_was_interrupted(monkeypatch):
    """The first dump is marked interrupted in its second part: it is drained, not parsed, and read again."""
    pauses = []
    monkeypatch.setattr(_rtnl.time, "sleep", pauses.append)

    def script(n, seq):
        flags = _rtnl.NLM_F_DUMP_INTR if n == 1 else 0
        return [
            link_msg(10 * n, "first%d" % n, seq=seq),
            link_msg(10 * n + 1, "second%d" % n, seq=seq, msg_flags=flags),
            msg(_rtnl.NLMSG_DONE, b"\0\0\0\0", seq),
        ]

    parsed = []

    def parser(buf, start, end):
        link = _link_parser(buf, start, end)
        parsed.append(link["name"])
        return link

    sock = scripted(script)
    links = sock.dump(_rtnl.link_dump_request, _rtnl.RTM_NEWLINK, parser)
    assert [link["name"] for link in links] == ["first2", "second2"]
    assert parsed == ["first2", "second2"]  # nothing of the interrupted dump was parsed
    assert len(sock._sock.sent) == 2
    assert pauses == [_rtnl.DUMP_FIRST_PAUSE]


def test_dump_pauses_grow_then_stay_even_up_to_the_patience():
    pauses = _rtnl.dump_pauses()
    assert pauses[0] == _rtnl.DUMP_FIRST_PAUSE
    assert pauses == sorted(pauses[:-1]) + pauses[-1:]  # growing (the last may be cut short)
    assert max(pauses) == _rtnl.DUMP_MAX_PAUSE
    assert sum(pauses) == pytest.approx(_rtnl.DUMP_PATIENCE)
    # long enough to outlast the IPv6 duplicate address detection of links a run just created (about 2 s)
    assert _rtnl.DUMP_PATIENCE >= 3


def test_dump_gives_up_when_always_interrupted(monkeypatch):
    pauses = []
    monkeypatch.setattr(_rtnl.time, "sleep", pauses.append)

    def script(_n, seq):
        return [msg(_rtnl.NLMSG_DONE, b"\0\0\0\0", seq, _rtnl.NLM_F_DUMP_INTR)]

    sock = scripted(script)
    with pytest.raises(_rtnl.RtnlError, match=r"kept changing while it was read \(27 attempts over 5.0 s\)"):
        names(sock)
    assert pauses == _rtnl.dump_pauses()
    assert len(sock._sock.sent) == len(pauses) + 1


def test_request_acknowledged_and_refused():
    def ack(_n, seq):
        return [msg(_rtnl.NLMSG_ERROR, struct.pack("=i", 0) + b"\0" * 16, seq)]

    scripted(ack).request(lambda seq: _rtnl.create_link_request(spec(), 3, seq))

    def refuse(_n, seq):
        return [msg(_rtnl.NLMSG_ERROR, struct.pack("=i", -errno.EADDRINUSE) + b"\0" * 16, seq)]

    with pytest.raises(_rtnl.RtnlError) as caught:
        scripted(refuse).request(lambda seq: _rtnl.create_link_request(spec(), 3, seq))
    assert caught.value.code == errno.EADDRINUSE


def test_reply_larger_than_the_buffer_is_an_error_not_a_silent_cut():
    def script(_n, seq):
        return [link_msg(1, "x" * 200, seq=seq)]

    with pytest.raises(_rtnl.RtnlError, match="did not fit"):
        names(scripted(script, buffer=64))


def test_malformed_reply_is_an_error():
    def script(_n, seq):
        return [HDR.pack(8, _rtnl.RTM_NEWLINK, 0, seq, 0) + b"\0" * 8]

    with pytest.raises(_rtnl.RtnlError, match="malformed"):
        names(scripted(script))


def test_dump_that_fails_part_way_is_an_error_not_an_empty_list():
    """The kernel ends a failed dump with NLMSG_DONE carrying the negative errno."""

    def script(_n, seq):
        return [link_msg(1, "lo", seq=seq) + msg(_rtnl.NLMSG_DONE, struct.pack("=i", -errno.EINVAL), seq)]

    with pytest.raises(_rtnl.RtnlError) as caught:
        names(scripted(script))
    assert caught.value.code == errno.EINVAL and caught.value.kernel is True


def test_error_in_the_middle_of_a_dump():
    def script(_n, seq):
        return [
            link_msg(1, "lo", seq=seq),
            msg(_rtnl.NLMSG_ERROR, struct.pack("=i", -errno.EBUSY) + b"\0" * 16, seq),
        ]

    with pytest.raises(_rtnl.RtnlError) as caught:
        names(scripted(script))
    assert caught.value.code == errno.EBUSY


def test_ack_found_among_other_sequences():
    def script(_n, seq):
        return [
            msg(_rtnl.NLMSG_ERROR, struct.pack("=i", -errno.EEXIST) + b"\0" * 16, seq + 7)
            + link_msg(3, "noise", seq=seq + 8),
            msg(_rtnl.NLMSG_ERROR, struct.pack("=i", 0) + b"\0" * 16, seq),
        ]

    sock = scripted(script)
    sock.request(lambda seq: _rtnl.create_link_request(spec(), 3, seq))
    assert not sock._sock.queue


def test_socket_failure_is_an_rtnl_error_that_is_not_the_kernels_answer():
    class Broken(ScriptedSocket):
        def recv_into(self, buf, size, flags=0):
            raise OSError(errno.ENOBUFS, "No buffer space available")

    sock = scripted(lambda _n, _seq: [])
    sock._sock = Broken(lambda _n, _seq: [])
    with pytest.raises(_rtnl.RtnlError) as caught:
        names(sock)
    assert caught.value.code == errno.ENOBUFS and caught.value.kernel is False
    with pytest.raises(_rtnl.RtnlError) as caught:
        sock.request(lambda seq: _rtnl.create_link_request(spec(), 3, seq))
    assert caught.value.kernel is False


# -- the session's route dumps and failed dumps ------------------------------------------------------------


def route(seq, family, table, oif, dst, dst_len=24):
    attrs = _rtnl.nla(_rtnl.RTA_OIF, struct.pack("=I", oif)) + _rtnl.nla(_rtnl.RTA_DST, dst)
    body = _rtnl.RTMSG.pack(family, dst_len, 0, 0, table, 4, 0, 1, 0) + attrs
    return msg(_rtnl.RTM_NEWROUTE, body, seq)


def done(seq, code=0):
    return msg(_rtnl.NLMSG_DONE, struct.pack("=i", -code), seq)


class Kernel:
    """Answers route dumps: refuses the table filter when ``strict_refuses``, else sends main and table 100."""

    def __init__(self, strict_refuses, no_ipv4_main=False):
        self.strict_refuses = strict_refuses
        self.no_ipv4_main = no_ipv4_main
        self.requests = []
        self.opened = 0

    def socket(self):
        self.opened += 1
        sock = object.__new__(RtnlSocket)
        sock._sock = ScriptedSocket(self.answer)
        sock._buf = bytearray(1 << 16)
        sock._seq = 0
        return sock

    def answer(self, _n, seq):
        family, table = struct.unpack_from("=B3xB", self.sent_body)
        self.requests.append((family, table))
        if table and self.strict_refuses:
            return [done(seq, errno.EINVAL)]
        if family == _rtnl.AF_INET and table and self.no_ipv4_main:
            return [done(seq, errno.ENOENT)]  # "ipv4: FIB table does not exist"
        if family == _rtnl.AF_INET:
            return [
                route(seq, 2, 254, 5, bytes([198, 51, 100, 0]))
                + route(seq, 2, 100, 5, bytes([203, 0, 113, 0]))
                + done(seq)
            ]
        # Like a kernel without IPv6: every family's routes come back; only AF_INET6 ones may count.
        return [route(seq, 2, 254, 5, bytes([198, 51, 100, 0])) + done(seq)]


@pytest.fixture
def session(monkeypatch):
    def make(kernel):
        session = object.__new__(_netlink.Session)
        session._handles, session._sockets, session._indexes = {}, {}, {}

        def factory():
            sock = kernel.socket()
            original = sock._sock.send

            def send(data):
                kernel.sent_body = data[HDR.size :]
                return original(data)

            sock._sock.send = send
            return sock

        monkeypatch.setattr(_netlink._rtnl, "RtnlSocket", factory)
        return session

    return make


def test_routes_one_family_at_a_time_main_table_only(session):
    kernel = Kernel(strict_refuses=False)
    routes = session(kernel)._dump_routes(None)
    assert kernel.requests == [(2, 254), (10, 254)]
    assert routes == [(5, {"dest": "198.51.100.0/24", "gateway": None, "metric": 0}, 4)]


def test_a_refused_table_filter_falls_back_to_every_table(session):
    kernel = Kernel(strict_refuses=True)
    routes = session(kernel)._dump_routes(None)
    assert kernel.requests == [(2, 254), (2, 0), (10, 254), (10, 0)]
    assert routes == [(5, {"dest": "198.51.100.0/24", "gateway": None, "metric": 0}, 4)]
    assert kernel.opened == 3  # the socket is replaced after each failed dump


def test_a_failed_dump_is_reported_with_the_namespace(session):
    kernel = Kernel(strict_refuses=True)
    sess = session(kernel)
    with pytest.raises(_netlink.NetlinkFailure, match="reading the module's own network namespace: .*") as caught:
        sess._dump(None, _rtnl.route_dump_request(2), _rtnl.RTM_NEWROUTE, _rtnl.parse_route)
    assert caught.value.code == errno.EINVAL and not sess._sockets


def test_a_family_without_a_main_table_has_no_routes(session):
    """IPv4 creates its main table with the first route: until then a filtered dump answers ENOENT."""
    kernel = Kernel(strict_refuses=False, no_ipv4_main=True)
    assert session(kernel)._dump_routes(None) == []
    assert kernel.requests == [(2, 254), (10, 254)]


def test_create_request_sets_allmulticast_and_multicast_with_the_link():
    data = _rtnl.create_link_request(spec(allmulticast=True, multicast=False), 3, seq=1)
    dummy_family, dummy_type, dummy_index, flags, change = _rtnl.IFINFOMSG.unpack_from(data, HDR.size)
    assert flags & _rtnl.IFF_ALLMULTI and not flags & _rtnl.IFF_MULTICAST
    assert change & _rtnl.IFF_ALLMULTI and change & _rtnl.IFF_MULTICAST
    plain = _rtnl.create_link_request(spec(), 3, seq=1)
    assert not _rtnl.IFINFOMSG.unpack_from(plain, HDR.size)[4] & (_rtnl.IFF_ALLMULTI | _rtnl.IFF_MULTICAST)
