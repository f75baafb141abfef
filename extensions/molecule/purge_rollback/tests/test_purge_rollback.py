"""The purge_rollback scenario: what purge removed and kept, and the state a refused change left behind.

files/lab.sh made the links that existed before the roles ran; the converge purged, then tried a change the
kernel refuses halfway.  The oracle is iproute2 and ping in the container hmv-purge.
"""

from __future__ import annotations

import pytest

CONTAINER = "hmv-purge"


@pytest.fixture(scope="module")
def k(kernel):
    return kernel(CONTAINER)


@pytest.mark.parametrize("name", ["old-a", "old-tap"])
def test_purge_deleted_unlisted_links_on_the_managed_parent(k, name):
    assert k.link(name) is None, "%s should have been purged" % name


@pytest.mark.parametrize(
    "name,kind,parent",
    [
        ("keep-me", "macvlan", "eth1"),  # in macvlan_topology_purge_exclude
        ("mv-host", "macvlan", "eth1"),  # the macvlan_host_access shim, in macvlan_topology_purge_exclude too
        ("other", "macvlan", "eth3"),  # on a parent the role does not manage
    ],
)
def test_purge_kept_excluded_links_and_other_parents(k, name, kind, parent):
    link = k.link(name)
    assert link is not None, "purge deleted %s" % name
    assert link["linkinfo"]["info_kind"] == kind
    assert link["link"] == parent


@pytest.mark.parametrize("name,kind", [("eth4", "veth"), ("eth5", "veth"), ("br-x", "bridge"), ("eth3", "veth")])
def test_purge_kept_interfaces_of_other_kinds(k, name, kind):
    link = k.link(name)
    assert link is not None, "purge deleted %s" % name
    assert link["linkinfo"]["info_kind"] == kind


def test_exactly_the_expected_macvlans_exist(k):
    assert sorted(k.macvlans()) == ["keep-me", "mv-1", "mv-2", "mv-host", "other"]


def test_refused_change_left_the_links_as_they_were(k):
    """The refused run changed mv-1 (mode, MTU) and created mv-3 and mv-4 before the kernel refused mv-4's
    route; the rollback restored all of it."""
    mv1 = k.link("mv-1")
    assert mv1["linkinfo"]["info_data"]["mode"] == "bridge", "mv-1's mode change was not rolled back"
    assert mv1["mtu"] == 1400, "mv-1's MTU change was not rolled back"
    assert k.addresses("mv-1") == ["203.0.113.11/24"]
    assert k.link("mv-2")["linkinfo"]["info_data"]["mode"] == "private"
    assert k.link("mv-3") is None, "mv-3 was created by the refused run and not removed"
    assert k.link("mv-4") is None, "mv-4 was created by the refused run and not removed"
    assert k.check("ip", "-j", "route", "show", "198.51.100.128/25").strip() in ("", "[]")


def test_managed_parent_is_promiscuous(k):
    assert k.promisc("eth1")


def test_the_surviving_link_still_works(k):
    assert k.reachable("203.0.113.1", source="mv-1")
