"""The persistence_ifupdown scenario: after `podman restart` (side_effect.yml), what ifupdown brought back.

The oracle is iproute2 in the rebooted container (``ip -j -d link``, ``ip -j addr``, ``ip -j route show table
all``), ifupdown's own reading of its files (``ifquery``) and its state (``ifquery --state``), systemd's view of
the units, and pings to the far end of the lab's wire (the namespace "far", files/hmv-lab-wire).  IPv6 addresses
may still be tentative right after boot, so the checks poll for up to a minute before they fail.
"""

from __future__ import annotations

import json

import pytest
from conftest import wait_for

HOST = "hmv-persist-ifupdown"
TIMEOUT = 60
PREFIX = "60-hostnet-macvlan-"
INTERFACES_D = "/etc/network/interfaces.d"

# name: (parent, mode, MAC or None, MTU or None, up, addresses, routes (dest, gateway, metric)), as converge.yml asks
LINKS = {
    "mv-a": (
        "lab0",
        "bridge",
        "02:00:00:00:0a:01",
        1400,
        True,
        ["198.51.100.10/24", "2001:db8:1::10/64"],
        [
            ("198.51.100.128/25", None, 7),
            ("2001:db8:3::/64", "2001:db8:1::fe", 1024),
            ("203.0.113.0/25", "198.51.100.254", 0),
        ],
    ),
    "mv-b": ("lab0", "private", "02:00:00:00:0b:01", None, True, ["198.51.100.11/24"], []),
    "mv-src": ("lab0", "source", None, None, True, [], []),
    "mv-c": ("eth0", "vepa", "02:00:00:00:0c:01", None, False, ["203.0.113.130/25"], []),
    "mv-e": ("eth0", "bridge", "02:00:00:00:0e:01", 1280, True, [], []),
}
NAMES = sorted(LINKS)
PARENTS = ["eth0", "lab0"]


@pytest.fixture
def k(kernel):
    return kernel(HOST)


def sh(k, command):
    """Run a shell command in the container; its stdout (the test fails with its output unless it exits 0)."""
    return k.check("sh", "-c", command)


def test_the_container_was_rebooted(k):
    assert k.run("test", "-e", "/run/hmv-before-reboot").rc != 0, "/run survived: the container did not reboot"


def test_ifupdown_is_the_network_stack_and_its_boot_succeeded(k):
    """networking.service (`ifup -a`) ran at boot and every interface it brought up succeeded; no other stack."""
    assert k.run("systemctl", "is-active", "networking.service").stdout.strip() == "active", sh(
        k, "systemctl status --no-pager -l networking.service || true"
    )
    assert k.run("systemctl", "is-active", "systemd-networkd.service").stdout.strip() != "active"
    assert k.run("systemctl", "cat", "NetworkManager.service").rc != 0, "NetworkManager is installed"


def test_interfaces_file_sources_the_directory(k):
    lines = [line.strip() for line in sh(k, "cat /etc/network/interfaces").splitlines()]
    assert "source %s/*" % INTERFACES_D in lines, lines


def test_the_files_are_the_collections(k):
    """One file per link and one per promiscuous parent, with the collection's prefix and header."""
    files = sorted(sh(k, "ls %s" % INTERFACES_D).split())
    assert files == sorted(
        [PREFIX + "link-" + name for name in NAMES] + [PREFIX + "parent-" + parent for parent in PARENTS]
    ), files
    for name in files:
        head = sh(k, "head -n 1 %s/%s" % (INTERFACES_D, name))
        assert head.startswith("# Written by the hostnet.macvlan collection"), (name, head)


def test_ifquery_lists_every_link_and_parent(k):
    """ifquery reads the files through the interfaces file's source line."""
    listed = sh(k, "ifquery --list").split()
    for name in NAMES + PARENTS:
        assert name in listed, (name, listed)


@pytest.mark.parametrize("name", NAMES)
def test_ifquery_reads_the_link_stanza(k, name):
    parent, mode, mac, mtu, _up, addresses, _routes = LINKS[name]
    options = sh(k, "ifquery %s" % name).splitlines()
    pre_up = [line for line in options if line.startswith("pre-up: ")]
    assert any("ip link add link %s name %s type macvlan mode %s" % (parent, name, mode) in line for line in pre_up), (
        options
    )
    if mac:
        assert "hwaddress: %s" % mac in options, options
    if mtu:
        assert "mtu: %d" % mtu in options, options
    for address in addresses:
        assert "up: ip address replace %s dev %s" % (address, name) in options, options


@pytest.mark.parametrize("name", NAMES + PARENTS)
def test_ifupdown_brought_it_up_at_boot(k, name):
    """ifupdown's state: the interface was configured by ifup in this boot (its state lives in /run)."""
    assert sh(k, "ifquery --state %s" % name).strip() == "%s=%s" % (name, name)


def test_exactly_the_persisted_links_came_back(k):
    assert wait_for(lambda: sorted(k.macvlans()) == NAMES, TIMEOUT), sorted(k.macvlans())


@pytest.mark.parametrize("name", NAMES)
def test_link_came_back_as_it_was(k, name):
    parent, mode, mac, mtu, up, _addresses, _routes = LINKS[name]
    link = wait_for(lambda: k.link(name), TIMEOUT)
    assert link is not None, "%s did not come back" % name
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == mode
    assert link["link"] == parent
    if mac:
        assert link["address"] == mac
    assert link["mtu"] == (mtu or 1500)
    if up:
        assert wait_for(lambda: "UP" in k.link(name)["flags"], TIMEOUT), "%s is not up" % name
    else:
        assert "UP" not in link["flags"], "%s was asked down" % name


def test_source_list_and_nodst_came_back(k):
    data = k.link("mv-src")["linkinfo"]["info_data"]
    assert sorted(data.get("macaddr_data", [])) == ["02:00:00:00:ff:02", "02:00:00:00:ff:03"], data
    assert data.get("macaddr_count") == 2, data
    assert data.get("nodst") is True, data


def test_broadcast_queue_length_came_back(k):
    data = k.link("mv-b")["linkinfo"]["info_data"]
    assert data.get("bcqueuelen") == 300, data


@pytest.mark.parametrize("name", NAMES)
def test_addresses_came_back(k, name):
    addresses = sorted(LINKS[name][5])
    assert wait_for(lambda: k.link(name) and k.addresses(name) == addresses, TIMEOUT), k.addresses(name)


def routes_in_every_table(k, name):
    """``ip -j route show table all`` through ``name`` (both families), the kernel's own left out (protocol kernel,
    the local table's local/broadcast/multicast/anycast routes, IPv6 link-local and multicast): sorted
    (table, dest, gateway or None, metric); the main table is 'main'."""
    found = []
    for family in ("-4", "-6"):
        out = sh(k, "ip -j %s route show table all dev %s" % (family, name))
        for route in json.loads(out) if out.strip() else []:
            if route.get("protocol") == "kernel" or route.get("type", "unicast") != "unicast":
                continue
            if route["dst"].startswith(("fe80:", "ff00:")):
                continue
            found.append((route.get("table", "main"), route["dst"], route.get("gateway"), route.get("metric", 0)))
    return sorted(found, key=str)


@pytest.mark.parametrize("name", NAMES)
def test_routes_came_back(k, name):
    """Destination, gateway and metric, in the main table and in no other: ifupdown's stanza writes the metric the
    role asked (IPv6's default 1024)."""
    expected = sorted((("main",) + route for route in LINKS[name][6]), key=str)
    assert wait_for(lambda: k.link(name) and routes_in_every_table(k, name) == expected, TIMEOUT), (
        routes_in_every_table(k, name)
    )


@pytest.mark.parametrize("parent", PARENTS)
def test_parent_is_promiscuous_again(k, parent):
    assert wait_for(lambda: k.link(parent) and k.promisc(parent), TIMEOUT), "%s is not promiscuous" % parent


@pytest.mark.parametrize("link", ["mv-a", "mv-b"])
def test_links_reach_the_far_end_of_the_wire(k, link):
    """Frames through the links that came back: bridge and private children reach the wire."""
    assert wait_for(lambda: k.reachable("198.51.100.254", source=link), TIMEOUT)


def test_routes_that_came_back_carry_traffic(k):
    assert wait_for(lambda: k.reachable("203.0.113.1", source="mv-a"), TIMEOUT), "203.0.113.0/25 via the far end"
    assert wait_for(lambda: k.reachable("2001:db8:3::1", source="2001:db8:1::10"), TIMEOUT), "2001:db8:3::/64"
