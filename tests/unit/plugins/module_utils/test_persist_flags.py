"""allmulticast and multicast in each stack's files (or reported as not persisted where the stack has no setting)."""

from __future__ import annotations

from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_ifupdown as ifupdown
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_networkd as networkd
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_nm as nm
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.test_persist_helpers import (
    IF,
    ND,
    NM,
    PREFIX,
    SD,
)

LINK = {"name": "mv-mc", "parent": "eth1", "mode": "bridge"}


def want(**flags):
    return _persist.prepare({"links": [dict(LINK, **flags)], "parents": []})


def text_of(plan, suffix):
    return "".join(spec["content"] for path, spec in plan.files.items() if path.endswith(suffix))


def test_networkd_writes_the_flags_in_the_links_network_file():
    plan = networkd.plan(want(allmulticast=True, multicast=False), PREFIX, ND, {}, None, None)
    network = text_of(plan, "link-mv-mc.network")
    assert "Multicast=no\n" in network and "AllMulticast=yes\n" in network
    assert plan.warnings == []
    plain = networkd.plan(want(), PREFIX, ND, {}, None, None)
    assert "Multicast" not in text_of(plain, "link-mv-mc.network")


def test_ifupdown_sets_the_flags_before_the_link_comes_up():
    plan = ifupdown.plan(want(allmulticast=True, multicast=False), PREFIX, IF, {})
    stanza = text_of(plan, "link-mv-mc")
    assert "    pre-up ip link set dev mv-mc multicast off\n" in stanza
    assert "    pre-up ip link set dev mv-mc allmulticast on\n" in stanza
    assert stanza.index("ip link add") < stanza.index("allmulticast on")
    assert plan.warnings == []


def test_networkmanager_reports_what_it_cannot_persist():
    plan = nm.plan(want(allmulticast=True, multicast=False), PREFIX, NM, SD, {})
    assert any("not persisted: allmulticast, multicast (NetworkManager" in text for text in plan.warnings)
    # multicast true is the kernel's default: nothing to persist, nothing to report
    quiet = nm.plan(want(multicast=True, allmulticast=False), PREFIX, NM, SD, {})
    assert not any("not persisted" in text for text in quiet.warnings)


def test_networkd_writes_bclim_from_systemd_256_on():
    bclim = _persist.prepare({"links": [dict(LINK, bclim=8)], "parents": []})
    new = networkd.plan(bclim, PREFIX, ND, {}, None, None, 256)
    assert "BroadcastQueueThreshold=8\n" in text_of(new, "link-mv-mc.netdev")
    assert new.warnings == []
    old = networkd.plan(bclim, PREFIX, ND, {}, None, None, 252)
    assert "BroadcastQueueThreshold" not in text_of(old, "link-mv-mc.netdev")
    assert any("bclim is not persisted" in text and "this host has systemd 252" in text for text in old.warnings)


def test_networkd_bclim_off_is_no_and_other_negatives_are_reported():
    off = networkd.plan(want(bclim=-1), PREFIX, ND, {}, None, None, 257)
    assert "BroadcastQueueThreshold=no\n" in text_of(off, "link-mv-mc.netdev")
    odd = networkd.plan(want(bclim=-5), PREFIX, ND, {}, None, None, 257)
    assert "BroadcastQueueThreshold" not in text_of(odd, "link-mv-mc.netdev")
    assert any("bclim -5 is not persisted" in text for text in odd.warnings)
