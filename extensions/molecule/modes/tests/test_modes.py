"""The modes scenario: each macvlan mode proven with frames, inside the container hmv-modes.

files/lab.sh draws the lab; the converge created the children with hostnet.macvlan.macvlan_state.  Every
check reads the kernel (iproute2) or sends frames (ping); a mode the engine got wrong shows up here as a
wrong ``info_data.mode`` and as pings that do what another mode would do.
"""

from __future__ import annotations

import pytest

CONTAINER = "hmv-modes"
MAC_A = "02:00:00:00:0a:01"

# child: (VM namespace, parent, mode, address)
CHILDREN = {
    "br1": ("vm-br1", "p-br", "bridge", "203.0.113.17/28"),
    "br2": ("vm-br2", "p-br", "bridge", "203.0.113.18/28"),
    "pr1": ("vm-pr1", "p-pr", "private", "203.0.113.34/28"),
    "pr2": ("vm-pr2", "p-pr", "private", "203.0.113.35/28"),
    "vh1": ("vm-vh1", "p-vh", "vepa", "203.0.113.49/28"),
    "vh2": ("vm-vh2", "p-vh", "vepa", "203.0.113.50/28"),
    "vn1": ("vm-vn1", "p-vn", "vepa", "203.0.113.65/28"),
    "vn2": ("vm-vn2", "p-vn", "vepa", "203.0.113.66/28"),
    "pt1": ("vm-pt1", "p-pt", "passthru", "203.0.113.82/28"),
    "src1": ("vm-src1", "p-src", "source", "203.0.113.99/28"),
}


@pytest.fixture(scope="module")
def k(kernel):
    return kernel(CONTAINER)


def ip_of(child):
    return CHILDREN[child][3].split("/")[0]


@pytest.mark.parametrize("child", sorted(CHILDREN))
def test_child_exists_in_its_vm_with_its_mode_and_address(k, child):
    ns, parent, mode, address = CHILDREN[child]
    link = k.link(child, ns=ns)
    assert link is not None, "%s is not in %s" % (child, ns)
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == mode
    assert "UP" in link["flags"]
    assert k.addresses(child, ns=ns) == [address]
    # The child's lower device is the parent in the container's own namespace (ifindex there).
    assert link["link_index"] == k.link(parent)["ifindex"]
    assert k.link(child) is None, "%s must not be left in the container's own namespace" % child


@pytest.mark.parametrize("parent", ["p-br", "p-pr", "p-vh", "p-vn", "p-src"])
def test_shared_parents_are_promiscuous(k, parent):
    assert k.promisc(parent)


def test_bridge_children_talk_inside_the_kernel(k):
    assert k.reachable("203.0.113.18", ns="vm-br1"), "bridge-mode siblings must reach each other"
    assert k.reachable("203.0.113.17", ns="vm-br2")
    # Resolved now: a unicast echo between bridge-mode siblings never leaves through the parent.
    before = k.stats("p-br")
    assert k.ping("203.0.113.18", ns="vm-br1")
    assert k.stats("p-br")["tx"] == before["tx"], "unicast between bridge-mode siblings went out of the parent"


def test_private_children_reach_the_wire_but_not_each_other(k):
    assert k.reachable("203.0.113.33", ns="vm-pr1"), "a private child must reach the far end of the wire"
    assert k.reachable("203.0.113.33", ns="vm-pr2")
    assert k.unreachable("203.0.113.35", ns="vm-pr1"), "private siblings must not reach each other"
    assert k.unreachable("203.0.113.34", ns="vm-pr2")


def test_switch_ports_are_as_drawn(k):
    for ns, hairpin in (("sw-vh", True), ("sw-vn", False)):
        port = k.link("wire", ns=ns)
        assert port["master"] == "br0"
        assert port["linkinfo"]["info_slave_data"]["hairpin"] is hairpin, ns


def test_vepa_children_meet_through_a_hairpin_port(k):
    assert k.reachable("203.0.113.50", ns="vm-vh1"), "vepa siblings must meet through a hairpin bridge port"
    assert k.reachable("203.0.113.49", ns="vm-vh2")
    # Every frame crosses the wire: request and reply both leave through the parent and come back.
    before = k.stats("p-vh")
    assert k.ping("203.0.113.50", ns="vm-vh1")
    after = k.stats("p-vh")
    assert after["tx"] - before["tx"] >= 2 and after["rx"] - before["rx"] >= 2, (before, after)


def test_vepa_children_do_not_meet_without_hairpin(k):
    assert k.unreachable("203.0.113.66", ns="vm-vn1"), "vepa siblings met although the switch reflects nothing"
    assert k.unreachable("203.0.113.65", ns="vm-vn2")


def test_passthru_child_owns_its_parent(k):
    child = k.link("pt1", ns="vm-pt1")
    assert child["address"] == k.link("p-pt")["address"], "a passthru child takes its parent's MAC address"
    assert k.reachable("203.0.113.81", ns="vm-pt1"), "the passthru child must reach the far end of the wire"


def test_kernel_refuses_a_second_child_on_the_passthru_parent(k):
    # The converge asked the module for one (it had to fail): nothing may have been created.
    assert "pt2" not in k.names()
    assert [n for n, link in k.macvlans().items() if link.get("link") == "p-pt"] == []
    result = k.run("ip", "link", "add", "probe-pt", "link", "p-pt", "type", "macvlan", "mode", "bridge")
    if result.rc == 0:
        k.run("ip", "link", "del", "probe-pt")
    assert result.rc != 0, "the kernel accepted a second macvlan on a passthru parent: p-pt is not passthru"


def test_source_child_lists_exactly_one_sender(k):
    info = k.link("src1", ns="vm-src1")["linkinfo"]["info_data"]
    assert info["macaddr_data"] == [MAC_A]
    assert info.get("nodst") is True, info


def test_source_child_hears_only_the_listed_sender(k):
    assert k.reachable("203.0.113.97", ns="vm-src1"), "the source-mode child must hear the listed sender A"
    assert k.reachable("203.0.113.99", ns="snd-a"), "the listed sender A must reach the source-mode child"
    heard = k.stats("src1", ns="vm-src1")
    assert k.unreachable("203.0.113.98", ns="vm-src1"), "the source-mode child heard the unlisted sender B"
    assert k.stats("src1", ns="vm-src1")["rx"] == heard["rx"], "a frame from B reached the source-mode child"
    assert k.unreachable("203.0.113.99", ns="snd-b"), "the unlisted sender B reached the source-mode child"
