"""The default scenario: what the macvlan_topology role left in the kernel of each Debian release.

Runs once per container (testinfra's ``host`` fixture, hosts listed in molecule.yml).  Everything is read
with iproute2 (``ip -j -d link``, ``ip -j addr``, ``ip -j route``) or proven with ping through the links.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

# name: (kind, parent, mode)
LINKS = {
    "mv-web": ("macvlan", "eth1", "bridge"),
    "mv-db": ("macvlan", "eth1", "bridge"),
    "mv-priv": ("macvlan", "eth1", "private"),
    "mv-vepa": ("macvlan", "eth1", "vepa"),
    "mv-src": ("macvlan", "eth1", "source"),
    "mvtap0": ("macvtap", "eth1", "bridge"),
    "mv-pt": ("macvlan", "eth2", "passthru"),
}
DOWN = {"mv-priv"}


@pytest.fixture
def k(kernel, host):
    return kernel(host)


def info(k, name):
    link = k.link(name)
    assert link is not None, "%s does not exist" % name
    return link, link["linkinfo"].get("info_data", {})


def test_exactly_the_listed_links_exist(k):
    assert sorted(k.macvlans()) == sorted(LINKS)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_kind_parent_mode_and_state(k, name):
    kind, parent, mode = LINKS[name]
    link, data = info(k, name)
    assert link["linkinfo"]["info_kind"] == kind
    assert link["link"] == parent
    assert data["mode"] == mode
    if name in DOWN:
        assert "UP" not in link["flags"]
    else:
        assert "UP" in link["flags"]


def test_mac_address_and_mtu(k):
    link, _data = info(k, "mv-web")
    assert link["address"] == "02:42:ac:11:00:10"
    assert link["mtu"] == 1400
    assert info(k, "mv-db")[0]["mtu"] == 1500, "an MTU left out is the parent's"


def test_stable_mac_address_derives_from_the_machine_id(k, host):
    """mac_address stable: HMAC-SHA256 of the namespace ("" here) and the name, keyed with /etc/machine-id,
    computed here apart from the collection; locally administered unicast."""
    machine_id = host.file("/etc/machine-id").content_string.strip()
    message = b"hostnet.macvlan stable mac v1\0" + b"" + b"\0" + b"mv-db"
    digest = bytearray(hmac.new(bytes.fromhex(machine_id), message, hashlib.sha256).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02
    assert info(k, "mv-db")[0]["address"] == ":".join("%02x" % octet for octet in digest)


def test_multicast_flags(k):
    assert "ALLMULTI" in info(k, "mv-db")[0]["flags"]
    assert "MULTICAST" not in info(k, "mv-vepa")[0]["flags"]
    assert "MULTICAST" in info(k, "mv-web")[0]["flags"] and "ALLMULTI" not in info(k, "mv-web")[0]["flags"]


def test_addresses(k):
    assert k.addresses("mv-web") == sorted(["203.0.113.10/24", "2001:db8:1::10/64"])
    assert k.addresses("mv-db") == ["203.0.113.11/24"]
    assert k.addresses("mv-pt") == ["198.51.100.66/26"]
    for name in ("mv-priv", "mv-vepa", "mv-src", "mvtap0"):
        assert k.addresses(name) == [], name


def test_routes(k):
    assert k.routes("mv-web") == [("198.51.100.0/24", "203.0.113.1", 0)]
    assert k.routes("mv-db") == []


def test_source_mode_lists_and_flags(k):
    _link, data = info(k, "mv-src")
    assert sorted(data["macaddr_data"]) == ["02:00:00:00:0a:01", "02:00:00:00:0a:02"]
    data = k.link_seen_from_outside("mv-src")["linkinfo"]["info_data"]
    assert data.get("nodst") is True, data


def test_broadcast_queue_length(k):
    data = k.link_seen_from_outside("mv-vepa")["linkinfo"]["info_data"]
    assert data["bcqueuelen"] == 500, data


def test_passthru_keeps_its_parent_out_of_promiscuous_mode(k):
    _link, data = info(k, "mv-pt")
    assert data.get("nopromisc") is True, data
    assert not k.promisc("eth2"), "nopromisc passthru (and promisc: false): eth2 must not be promiscuous"
    assert info(k, "mv-pt")[0]["address"] == k.link("eth2")["address"], "passthru takes the parent's MAC"


def test_shared_parent_is_promiscuous(k):
    assert k.promisc("eth1")


@pytest.mark.parametrize("link", ["mv-web", "mv-db"])
def test_bridge_links_reach_the_far_end_of_the_wire(k, link):
    assert k.reachable("203.0.113.1", source=link)


def test_route_through_the_far_end(k):
    assert k.reachable("198.51.100.1"), "198.51.100.0/24 is routed through 203.0.113.1 on mv-web"


def test_ipv6_through_a_bridge_link(k):
    assert k.reachable("2001:db8:1::1", source="2001:db8:1::10")


def test_passthru_link_reaches_its_wire(k):
    assert k.reachable("198.51.100.65", source="mv-pt")
