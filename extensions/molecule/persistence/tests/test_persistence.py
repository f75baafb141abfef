"""The persistence scenario: after `podman restart` (side_effect.yml), what came back from the files alone.

Runs on both containers (systemd-networkd and NetworkManager).  The oracle is iproute2 in the rebooted
containers; the network stacks may still be bringing links up right after boot, so each check polls for up
to a minute before it fails.
"""

from __future__ import annotations

import pytest
from conftest import wait_for

# The converge's numbering of the two hosts (host_vars persistence_n in molecule.yml).
N = {"hmv-persist-nd": 1, "hmv-persist-nm": 2}


def links(n):
    """name: (mode, MAC, MTU or None, addresses, routes) of host number n, as converge.yml asks."""
    return {
        "mv-a": (
            "bridge",
            "02:00:00:0%d:0a:10" % n,
            1400,
            ["198.51.100.1%d/25" % n, "2001:db8:2::1%d/64" % n],
            [("198.51.100.128/25", "198.51.100.1"), ("2001:db8:3::/64", "2001:db8:2::1")],
        ),
        "mv-b": ("private", "02:00:00:0%d:0b:10" % n, None, ["198.51.100.2%d/25" % n], []),
        "mv-c": ("vepa", "02:00:00:0%d:0c:10" % n, None, [], []),
        # the macvlan_host_access shim
        "mv-host": ("bridge", "02:00:00:0%d:0d:10" % n, None, ["203.0.113.25%d/32" % n], [("203.0.113.240/28", None)]),
    }


NAMES = sorted(links(1))
TIMEOUT = 60


@pytest.fixture
def k(kernel, host):
    return kernel(host)


@pytest.fixture
def want(host):
    return links(N[host.backend.name])


def test_the_container_was_rebooted(k):
    assert k.run("test", "-e", "/run/hmv-before-reboot").rc != 0, "/run survived: the container did not reboot"


def test_exactly_the_persisted_links_came_back(k):
    assert wait_for(lambda: sorted(k.macvlans()) == NAMES, TIMEOUT), sorted(k.macvlans())


@pytest.mark.parametrize("name", NAMES)
def test_link_came_back_as_it_was(k, want, name):
    mode, mac, mtu, _addresses, _routes = want[name]
    link = wait_for(lambda: k.link(name), TIMEOUT)
    assert link is not None, "%s did not come back" % name
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == mode
    assert link["link"] == "eth0"
    assert link["address"] == mac
    if mtu is not None:
        assert link["mtu"] == mtu
    assert wait_for(lambda: "UP" in k.link(name)["flags"], TIMEOUT), "%s is not up" % name


@pytest.mark.parametrize("name", NAMES)
def test_addresses_came_back(k, want, name):
    addresses = sorted(want[name][3])
    assert wait_for(lambda: k.link(name) and k.addresses(name) == addresses, TIMEOUT), k.addresses(name)


@pytest.mark.parametrize("name", NAMES)
def test_routes_came_back(k, want, name):
    expected = sorted(want[name][4], key=str)

    def routes():
        # (dest, gateway): the metric is the network stack's business (networkd and NetworkManager differ)
        return sorted(((dest, gateway) for dest, gateway, _metric in k.routes(name)), key=str)

    assert wait_for(lambda: k.link(name) and routes() == expected, TIMEOUT), routes()


def test_parent_is_promiscuous_again(k):
    assert wait_for(lambda: k.promisc("eth0"), TIMEOUT), "eth0 lost its promiscuous flag in the reboot"


@pytest.mark.parametrize("source,target", [("hmv-persist-nd", "hmv-persist-nm"), ("hmv-persist-nm", "hmv-persist-nd")])
def test_links_on_the_two_rebooted_hosts_reach_each_other(kernel, source, target):
    """Frames through the links that came back: mv-a on one host pings mv-a on the other (over eth0)."""
    k = kernel(source)
    assert wait_for(lambda: k.link("mv-a") and "UP" in k.link("mv-a")["flags"], TIMEOUT)
    assert wait_for(lambda: k.reachable("198.51.100.1%d" % N[target], source="mv-a"), TIMEOUT)
