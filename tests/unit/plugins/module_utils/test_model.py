"""Validation and normalisation of desired link state (pure, no root)."""

from __future__ import annotations

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model
from ansible_collections.hostnet.macvlan.plugins.module_utils._model import ModelError, normalize_link


def link(**params):
    base = {"name": "mv0", "parent": "eth1"}
    base.update(params)
    return normalize_link(base)


@pytest.mark.parametrize("name", ["mv0", "a", "x" * 15, "mv-web.10", "ünï"])
def test_valid_names(name):
    assert _model.validate_ifname(name) == name


@pytest.mark.parametrize(
    "name, reason",
    [
        ("x" * 16, "too long"),
        ("ü" * 8, "too long"),  # 16 bytes in UTF-8
        ("a/b", "must not contain"),
        ("a:b", "must not contain"),
        ("a b", "must not contain"),
        ("a\tb", "must not contain"),
        ("", "non-empty"),
        (".", "not a valid"),
        ("..", "not a valid"),
    ],
)
def test_invalid_names_name_option_and_value(name, reason):
    with pytest.raises(ModelError) as err:
        _model.validate_ifname(name, "name")
    assert str(err.value).startswith("name: %r" % name)
    assert reason in str(err.value)


@pytest.mark.parametrize(
    "mac, expected",
    [
        ("02:42:AC:11:00:10", "02:42:ac:11:00:10"),
        ("02-42-ac-11-00-10", "02:42:ac:11:00:10"),
        (" 02:00:00:00:00:01 ", "02:00:00:00:00:01"),
    ],
)
def test_mac_normalised(mac, expected):
    assert _model.normalize_mac(mac) == expected


@pytest.mark.parametrize(
    "mac, reason",
    [
        ("01:00:5e:00:00:01", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "multicast"),
        ("00:00:00:00:00:00", "all-zero"),
        ("02:42:ac:11:00", "not a MAC"),
        ("02:42:ac:11:00:1g", "not a MAC"),
        ("02:42-ac:11:00:10", "not a MAC"),
        ("0242ac110010", "not a MAC"),
    ],
)
def test_bad_macs(mac, reason):
    with pytest.raises(ModelError) as err:
        link(mac_address=mac)
    assert "mac_address: %r" % mac in str(err.value)
    assert reason in str(err.value)


def test_unknown_mode_names_option():
    with pytest.raises(ModelError, match=r"mode: 'bridged' is not one of private, vepa, bridge, passthru, source"):
        link(mode="bridged")


def test_defaults():
    spec = link()
    assert spec["mode"] == "bridge"
    assert spec["type"] == "macvlan"
    assert spec["link_state"] == "up"
    assert spec["recreate"] == "auto"
    for key in (
        "mac_address",
        "mtu",
        "source_macs",
        "nopromisc",
        "nodst",
        "bcqueuelen",
        "bclim",
        "addresses",
        "routes",
    ):
        assert spec[key] is None, key


@pytest.mark.parametrize("mtu", [0, 67, 65536, -1])
def test_mtu_range(mtu):
    with pytest.raises(ModelError, match=r"^mtu: %d is out of range 68\.\.65535" % mtu):
        link(mtu=mtu)


def test_parent_required_and_not_self():
    with pytest.raises(ModelError, match="parent: None is required"):
        normalize_link({"name": "mv0"})
    with pytest.raises(ModelError, match="own name"):
        link(parent="mv0")


def test_absent_needs_no_parent():
    assert normalize_link({"name": "mv0", "state": "absent"})["state"] == "absent"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"source_macs": ["02:00:00:00:00:01"]}, "source_macs: .* only valid with mode source \\(mode is bridge\\)"),
        ({"nopromisc": True}, "nopromisc: True is only valid with mode passthru"),
        ({"nodst": True, "mode": "private"}, "nodst: True is only valid with mode source \\(mode is private\\)"),
        ({"mode": "source", "source_macs": "02:00:00:00:00:01"}, "source_macs: .* must be a list"),
    ],
)
def test_mode_combinations(params, message):
    with pytest.raises(ModelError, match=message):
        link(**params)


def test_flags_false_outside_their_mode_are_unmanaged():
    assert link(nopromisc=False)["nopromisc"] is None
    assert link(mode="passthru", nopromisc=False)["nopromisc"] is False


def test_source_macs_exact_set_sorted_and_deduplicated():
    spec = link(mode="source", source_macs=["02:00:00:00:00:02", "02:00:00:00:00:01", "02-00-00-00-00-02"])
    assert spec["source_macs"] == ["02:00:00:00:00:01", "02:00:00:00:00:02"]
    assert link(mode="source", source_macs=[])["source_macs"] == []


def test_addresses_normalised():
    spec = link(addresses=["2001:DB8:0::10/64", "192.0.2.10/24", "192.0.2.10/24"])
    assert spec["addresses"] == ["192.0.2.10/24", "2001:db8::10/64"]


@pytest.mark.parametrize("value", ["192.0.2.10", "192.0.2.300/24", "2001:db8::10/129", "eth0"])
def test_bad_addresses(value):
    with pytest.raises(ModelError) as err:
        link(addresses=[value])
    assert str(err.value).startswith("addresses: %r " % value)


def test_same_address_two_prefixes_refused():
    with pytest.raises(ModelError, match="twice with different prefix"):
        link(addresses=["192.0.2.10/24", "192.0.2.10/25"])


def test_routes_normalised():
    spec = link(
        routes=[
            {"dest": "198.51.100.0/24", "gateway": "192.0.2.1"},
            {"dest": "default", "gateway": "2001:db8::1"},
            {"dest": "203.0.113.0/24", "metric": 50},
        ]
    )
    assert spec["routes"] == [
        {"dest": "198.51.100.0/24", "gateway": "192.0.2.1", "metric": 0},
        {"dest": "203.0.113.0/24", "gateway": None, "metric": 50},
        {"dest": "::/0", "gateway": "2001:db8::1", "metric": 1024},
    ]


@pytest.mark.parametrize(
    "route, message",
    [
        ({"dest": "198.51.100.1/24"}, "host bits set; did you mean 198.51.100.0/24"),
        ({"dest": "198.51.100.0"}, "explicit prefix length"),
        ({"dest": "198.51.100.0/24", "gateway": "2001:db8::1"}, "same address family"),
        ({"dest": "198.51.100.0/24", "gateway": "nope"}, r"routes\[0\]\.gateway: 'nope' is not an IP address"),
        (
            {"dest": "2001:db8:9::/64", "gateway": "fe80::1%p0"},
            r"routes\[0\]\.gateway: 'fe80::1%p0' names interface 'p0'",
        ),
        ({"dest": "2001:db8:9::/64", "gateway": "fe80::1%mv0\n"}, "control character"),
        ({"dest": "2001:db8:9::/64%x"}, r"routes\[0\]\.dest: .* scope id"),
        ({"dest": "198.51.100.0/24", "via": "192.0.2.1"}, "unknown keys"),
    ],
)
def test_bad_routes(route, message):
    with pytest.raises(ModelError, match=message):
        link(routes=[route])


def test_route_given_as_destination_string():
    # The macvlan_host_access role passes its routes through: a plain destination is a route without gateway.
    spec = link(routes=["192.0.2.0/25", {"dest": "198.51.100.0/24", "metric": "7"}, "default"])
    assert spec["routes"] == [
        {"dest": "0.0.0.0/0", "gateway": None, "metric": 0},
        {"dest": "192.0.2.0/25", "gateway": None, "metric": 0},
        {"dest": "198.51.100.0/24", "gateway": None, "metric": 7},
    ]


@pytest.mark.parametrize(
    "route, message",
    [
        ("", r"routes\[0\]: '' must be a destination network such as 198.51.100.0/24"),
        (5, r"routes\[0\]: 5 must be a destination network"),
        (["192.0.2.0/25"], r"routes\[0\]: \['192.0.2.0/25'\] must be a destination network"),
        ({"gateway": "192.0.2.1"}, r"routes\[0\]: .* or a dict with at least 'dest'"),
        ("192.0.2.0/33", r"routes\[0\]\.dest: '192.0.2.0/33' is not a network"),
        ("192.0.2.1/25", "host bits set; did you mean 192.0.2.0/25"),
        ({"dest": "192.0.2.0/25", "metric": True}, r"routes\[0\]\.metric: True is not an integer"),
        ({"dest": "192.0.2.0/25", "metric": "x"}, r"routes\[0\]\.metric: 'x' is not an integer"),
    ],
)
def test_bad_route_values_named(route, message):
    with pytest.raises(ModelError, match=message):
        link(routes=[route])


def test_routes_need_link_up():
    with pytest.raises(ModelError, match="need link_state up"):
        link(link_state="down", routes=[{"dest": "198.51.100.0/24"}])


@pytest.mark.parametrize("ns", ["bad/name", "has space", ".."])
def test_bad_netns(ns):
    with pytest.raises(ModelError, match="netns: "):
        link(netns=ns)


def test_netns_paths():
    assert _model.netns_path("lab") == "/run/netns/lab"
    assert _model.netns_path("/proc/1/ns/net") == "/proc/1/ns/net"
    assert link(link_netns="/proc/1/ns/net")["link_netns"] == "/proc/1/ns/net"


@pytest.mark.parametrize(
    "release, option, fails",
    [
        ("5.10.0-28-amd64", "bcqueuelen", True),
        ("5.11.0", "bcqueuelen", False),
        ("6.1.0-18-amd64", "bclim", True),
        ("6.4.0", "bclim", False),
        ("6.18.44-fc", "bclim", False),
    ],
)
def test_kernel_requirements(release, option, fails):
    spec = link(**{option: 10})
    if fails:
        with pytest.raises(ModelError, match=r"^%s: 10 needs Linux" % option):
            _model.check_kernel_support(spec, release)
    else:
        _model.check_kernel_support(spec, release)


def test_link_local_addresses_are_not_managed():
    current = ["192.0.2.10/24", "fe80::1/64", "2001:db8::1/64"]
    assert _model.managed_addresses(current, ["192.0.2.10/24"]) == ["192.0.2.10/24", "2001:db8::1/64"]
    assert _model.managed_addresses(current, ["fe80::1/64"]) == current


def test_gateway_scope_of_the_own_link_means_on_this_link():
    spec = link(name="mv0", routes=[{"dest": "2001:db8:9::/64", "gateway": "fe80::1%mv0"}])
    assert spec["routes"] == [{"dest": "2001:db8:9::/64", "gateway": "fe80::1", "metric": 1024}]


@pytest.mark.parametrize(
    "address",
    ["fe80::5%x/64", "fe80::5%x\n[Network]\nDNS=203.0.113.53\n#/64", "192.0.2.1/24\n", "2001:db8::1/64\x00"],
)
def test_addresses_with_scope_or_control_characters_are_refused(address):
    with pytest.raises(ModelError, match=r"^addresses: "):
        link(addresses=[address])


@pytest.mark.parametrize(
    "name, reason",
    [
        ("zq\0b", "NUL byte"),
        ("mv\u00e0x", "0xa0, which the kernel counts as white space"),
        ("mv\u00a0x", "whitespace"),
        ("mv\tx", "whitespace"),
        ("mv\x01x", "control character"),
        (["zl"], "must be a non-empty string"),
        ({"a": 1}, "must be a non-empty string"),
        (True, "must be a non-empty string"),
        (None, "must be a non-empty string"),
    ],
)
def test_names_the_kernel_would_read_differently(name, reason):
    with pytest.raises(ModelError, match="^name: ") as info:
        _model.validate_ifname(name)
    assert reason in str(info.value)


def test_integer_names_are_their_digits():
    assert _model.validate_ifname(10) == "10"


def test_a_link_may_share_its_parents_name_only_in_another_namespace():
    spec = link(name="eth0", parent="eth0", link_netns="/proc/1/ns/net")
    assert spec["parent"] == "eth0" and spec["link_netns"] == "/proc/1/ns/net"
    with pytest.raises(ModelError, match="own name"):
        link(name="eth0", parent="eth0")


def test_source_list_limit_is_stated():
    macs = ["02:00:00:%02x:%02x:%02x" % (i >> 16, (i >> 8) & 255, i & 255) for i in range(_model.MAX_SOURCE_MACS + 1)]
    with pytest.raises(ModelError, match="at most %d source MAC addresses" % _model.MAX_SOURCE_MACS):
        link(mode="source", source_macs=macs)
    assert len(link(mode="source", source_macs=macs[:-1])["source_macs"]) == _model.MAX_SOURCE_MACS


@pytest.mark.parametrize("ns", ["ns\n1", "/run/netns/x\x00y"])
def test_namespaces_with_control_characters_are_refused(ns):
    with pytest.raises(ModelError, match="^netns: .*control character"):
        _model.validate_netns(ns)


# --- links validated once (macvlan_state, macvlan_persist: no suboptions in Ansible's argument spec) -----------

KEYS = frozenset(["name", "parent", "mode", "mtu", "allmulticast", "addresses", "link_netns", "source_macs"])


def raw_link(**params):
    base = {"name": "mv0", "parent": "eth1"}
    base.update(params)
    return normalize_link(base, prefix="links[3].", raw=True)


def test_unknown_link_options_are_refused_by_name():
    with pytest.raises(ModelError) as err:
        _model.check_keys({"name": "mv0", "moed": "vepa", "mtuu": 1}, KEYS, "links[3]")
    msg = str(err.value)
    assert msg.startswith("links[3]: unknown options 'moed', 'mtuu'; a link's options are ")
    assert "mode" in msg and "mtu" in msg
    _model.check_keys({"name": "mv0", "mode": "vepa"}, KEYS, "links[3]")  # known options pass


def test_a_link_that_is_not_a_dict_is_refused():
    with pytest.raises(ModelError, match=r"^links\[0\]: 'mv0' must be a dict of link options"):
        _model.check_keys("mv0", KEYS, "links[0]")


def test_raw_link_converts_types_as_ansible_does():
    spec = raw_link(mtu="1400", allmulticast="yes", multicast="off", nodst=None, link_netns=1234)
    assert spec["mtu"] == 1400 and spec["allmulticast"] is True and spec["multicast"] is False
    assert spec["link_netns"] == "1234"
    spec = raw_link(addresses="192.0.2.2/24, 192.0.2.1/24", mode="source", source_macs="02:00:00:00:00:0A")
    assert spec["addresses"] == ["192.0.2.1/24", "192.0.2.2/24"]
    assert spec["source_macs"] == ["02:00:00:00:00:0a".lower()]
    assert raw_link(mtu=1500.0)["mtu"] == 1500


@pytest.mark.parametrize(
    "params, message",
    [
        ({"allmulticast": "maybe"}, r"^links\[3\]\.allmulticast: 'maybe' must be true or false"),
        ({"multicast": 2}, r"^links\[3\]\.multicast: 2 must be true or false"),
        ({"mtu": 1400.5}, r"^links\[3\]\.mtu: 1400\.5 is not an integer"),
        ({"mtu": "big"}, r"^links\[3\]\.mtu: 'big' is not an integer"),
        ({"mtu": 70000}, r"^links\[3\]\.mtu: 70000 is out of range 68\.\.65535"),
        ({"mode": ["vepa"]}, r"^links\[3\]\.mode: \['vepa'\] is not one of private, vepa"),
        ({"addresses": {"a": 1}}, r"^links\[3\]\.addresses: \{'a': 1\} must be a list of addresses"),
        ({"mac_address": ["02:00:00:00:00:01"]}, r"^links\[3\]\.mac_address: \[.*\] must be a string"),
        ({"name": None}, r"^links\[3\]\.name: None is required"),
    ],
)
def test_raw_link_bad_types_name_the_option_and_value(params, message):
    with pytest.raises(ModelError, match=message):
        raw_link(**params)


def test_sort_addresses_orders_as_ipaddress_does():
    import ipaddress
    import random

    rng = random.Random(7)
    cidrs = set()
    for _sample in range(400):
        if rng.random() < 0.5:
            ip = ipaddress.IPv4Address(rng.randrange(1 << 32))
            cidrs.add("%s/%d" % (ip, rng.randrange(8, 33)))
        else:
            ip = ipaddress.IPv6Address(rng.choice((0, 1 << 127, rng.randrange(1 << 128), (0xFE80 << 112) | 5)))
            cidrs.add("%s/%d" % (ip.compressed, rng.randrange(16, 129)))
    cidrs = list(cidrs)
    expected = sorted(
        cidrs, key=lambda c: (ipaddress.ip_interface(c).version, ipaddress.ip_interface(c).ip, int(c.split("/")[1]))
    )
    assert _model.sort_addresses(cidrs) == expected
    assert _model.sort_addresses(["192.0.2.1/24"]) == ["192.0.2.1/24"]
    assert _model.sort_addresses(set()) == []


@pytest.mark.parametrize(
    "cidr, link_local",
    [
        ("fe80::1/64", True),
        ("fe80::/10", True),
        ("febf:ffff::1/64", True),  # still inside fe80::/10
        ("fec0::1/64", False),
        ("fe7f::1/64", False),
        ("2001:db8::1/64", False),
        ("169.254.1.1/16", False),  # IPv4 link-local is an address the user manages
        ("::ffff:254.128.0.1/128", False),
    ],
)
def test_kernel_link_local(cidr, link_local):
    assert _model.is_kernel_link_local(cidr) is link_local


@pytest.mark.parametrize("option, value", [("ipv6_addr_gen_mode", "none"), ("ipv6_disabled", False)])
def test_ipv6_options_with_an_mtu_below_1280_are_refused(option, value):
    """Below 1280 the kernel keeps no IPv6 state on a link: the option could not be set (EAFNOSUPPORT part-way)."""
    with pytest.raises(ModelError, match=r"mtu: 1200 is below 1280, the IPv6 minimum: .* so %s cannot be set" % option):
        normalize_link({"name": "mv0", "parent": "eth1", "mtu": 1200, option: value})
    assert normalize_link({"name": "mv0", "parent": "eth1", "mtu": 1280, option: value})["mtu"] == 1280
