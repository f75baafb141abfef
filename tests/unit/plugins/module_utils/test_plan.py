"""Planning: observed snapshot + desired spec -> ordered actions (pure, no root, no netlink)."""

from __future__ import annotations

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _plan
from ansible_collections.hostnet.macvlan.plugins.module_utils._model import normalize_link
from ansible_collections.hostnet.macvlan.plugins.module_utils._observed import Snapshot
from ansible_collections.hostnet.macvlan.plugins.module_utils._plan import PlanError, plan_link
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.observed_links import macvlan as mv
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.observed_links import nic

PARENT = nic("eth1", 2, mac_address="52:54:00:00:00:01", promisc=True, promiscuity=1)


def snap(*links, addresses=None, routes=None, ns=None):
    return Snapshot(ns, [PARENT, *links], addresses or {}, routes or {})


def plan(snapshot, **params):
    params.setdefault("name", "mv0")
    if params.get("state") != "absent":
        params.setdefault("parent", "eth1")
    spec = normalize_link(params)
    return plan_link(spec, snapshot, snapshot)


def ops(actions):
    return [a["op"] for a in actions]


def test_create_when_missing():
    actions, before, after = plan(snap(), mode="private", mtu=1400, mac_address="02:42:ac:11:00:10")
    assert ops(actions) == ["create"]
    assert before is None
    assert after["mode"] == "private" and after["mtu"] == 1400 and after["mac_address"] == "02:42:ac:11:00:10"
    assert (
        _plan.describe(actions[0])
        == "create macvlan mv0 on eth1 (mode private, mac address 02:42:ac:11:00:10, mtu 1400, up) in the host namespace"
    )


def test_a_new_passthru_link_gets_its_mac_address_after_the_creation():
    """The kernel ignores the address in a passthru link's creation request (the link takes its parent's): the
    address is a step of its own, journaled with the creation's undo (deleting the link)."""
    actions, before, after = plan(snap(), mode="passthru", mac_address="02:aa:bb:cc:dd:ee")
    assert ops(actions) == ["create", "set_mac_address"]
    assert actions[0]["spec"]["mac_address"] is None
    assert actions[1]["after"] == "02:aa:bb:cc:dd:ee" and actions[1]["new"] is True
    assert after["mac_address"] == "02:aa:bb:cc:dd:ee"
    assert "new passthru link mv0 (and with it of its parent): 02:aa:bb:cc:dd:ee" in _plan.describe(actions[1])
    assert ops(plan(snap(), mode="bridge", mac_address="02:aa:bb:cc:dd:ee")[0]) == ["create"]


def test_no_change_is_empty_plan():
    actions, before, after = plan(snap(mv("mv0", 5)))
    assert actions == []
    assert before == after


def test_unset_attributes_are_left_alone():
    actions = plan(snap(mv("mv0", 5, mtu=1400, mac_address="02:aa:00:00:00:01")))[0]
    assert actions == []


def test_in_place_changes_in_order():
    current = mv("mv0", 5, mode="private", link_state="down")
    actions, before, after = plan(snap(current), mode="vepa", mtu=1300, mac_address="02:00:00:00:00:99")
    assert ops(actions) == ["set_mode", "set_mac_address", "set_mtu", "set_link_state"]
    assert before["mode"] == "private" and after["mode"] == "vepa" and after["link_state"] == "up"


def test_source_macs_exact_set():
    current = mv("mv0", 5, mode="source", source_macs=["02:00:00:00:00:01", "02:00:00:00:00:02"])
    actions, dummy, after = plan(snap(current), mode="source", source_macs=["02:00:00:00:00:02", "02:00:00:00:00:03"])
    assert ops(actions) == ["set_source_macs"]
    assert actions[0]["add"] == ["02:00:00:00:00:03"]
    assert actions[0]["remove"] == ["02:00:00:00:00:01"]
    assert after["source_macs"] == ["02:00:00:00:00:02", "02:00:00:00:00:03"]


def test_flags():
    current = mv("mv0", 5, mode="source", flags=0)
    actions, dummy, after = plan(snap(current), mode="source", nodst=True)
    assert ops(actions) == ["set_flags"] and actions[0]["after"] == 2 and after["nodst"] is True


@pytest.mark.parametrize(
    "current, params, reason",
    [
        (mv("mv0", 5, parent_ifindex=9), {}, "parent"),
        (mv("mv0", 5, kind="macvtap"), {}, "type"),
        (mv("mv0", 5), {"mode": "passthru"}, "into or out of passthru"),
        (mv("mv0", 5, mode="passthru"), {"mode": "bridge"}, "into or out of passthru"),
    ],
)
def test_immutable_changes_recreate_or_fail(current, params, reason):
    other = dict(PARENT, name="eth9", ifindex=9)
    snapshot = Snapshot(None, [PARENT, other, current], {}, {})
    actions = plan_link(normalize_link(dict(name="mv0", parent="eth1", **params)), snapshot, snapshot)[0]
    assert ops(actions) == ["recreate"]
    assert reason in _plan.describe(actions[0])
    with pytest.raises(PlanError, match="recreate is never"):
        plan_link(normalize_link(dict(name="mv0", parent="eth1", recreate="never", **params)), snapshot, snapshot)


def test_missing_parent():
    with pytest.raises(PlanError, match=r"parent: 'eth7' does not exist in the host namespace"):
        plan(snap(), parent="eth7")


def test_mtu_above_parent():
    with pytest.raises(PlanError, match=r"mtu: 9000 is larger than the MTU of parent 'eth1' \(1500\)"):
        plan(snap(), mtu=9000)


def test_parent_that_is_a_macvlan():
    with pytest.raises(PlanError, match="is itself a macvlan"):
        plan(snap(mv("mv1", 6)), parent="mv1")


def test_second_link_on_passthru_parent():
    with pytest.raises(PlanError, match="already has the passthru link mv1"):
        plan(snap(mv("mv1", 6, mode="passthru")))


def test_passthru_on_shared_parent():
    with pytest.raises(PlanError, match="passthru needs parent 'eth1' to itself, but it already has mv1"):
        plan(snap(mv("mv1", 6)), mode="passthru")


def test_duplicate_sibling_mac():
    with pytest.raises(PlanError, match="already used by 'mv1'"):
        plan(snap(mv("mv1", 6, mac_address="02:00:00:00:00:aa")), mac_address="02:00:00:00:00:AA")


def test_parent_mac():
    with pytest.raises(PlanError, match="is the MAC address of parent"):
        plan(snap(), mac_address=PARENT["mac_address"])


def test_other_kind_is_never_touched():
    veth = dict(PARENT, name="mv0", ifindex=7, kind="veth")
    for params in ({}, {"state": "absent"}):
        with pytest.raises(PlanError, match="already exists in the host namespace as a veth interface"):
            plan(snap(veth), **params)


def test_absent():
    assert plan(snap(), state="absent")[0] == []
    actions, before, after = plan(snap(mv("mv0", 5)), state="absent")
    assert ops(actions) == ["delete"] and before["name"] == "mv0" and after is None


def test_addresses_exact_set_ignores_link_local():
    current = mv("mv0", 5)
    snapshot = snap(current, addresses={5: ["192.0.2.9/24", "fe80::1/64"]})
    actions, dummy, after = plan(snapshot, addresses=["192.0.2.10/24"])
    assert [(a["op"], a["address"]) for a in actions] == [
        ("del_address", "192.0.2.9/24"),
        ("add_address", "192.0.2.10/24"),
    ]
    assert after["addresses"] == ["192.0.2.10/24", "fe80::1/64"]
    assert plan(snapshot, addresses=["192.0.2.9/24"])[0] == []


def test_addresses_untouched_when_omitted():
    snapshot = snap(mv("mv0", 5), addresses={5: ["192.0.2.9/24"]})
    assert plan(snapshot)[0] == []


def test_routes_exact_set():
    route = {"dest": "198.51.100.0/24", "gateway": "192.0.2.1", "metric": 0}
    snapshot = snap(mv("mv0", 5), routes={5: [route]})
    assert plan(snapshot, routes=[{"dest": "198.51.100.0/24", "gateway": "192.0.2.1"}])[0] == []
    actions = plan(snapshot, routes=[])[0]
    assert ops(actions) == ["del_route"]
    actions = plan(snapshot, routes=[{"dest": "198.51.100.0/24", "gateway": "192.0.2.1", "metric": 5}])[0]
    assert ops(actions) == ["del_route", "add_route"]


def test_move_into_link_netns():
    work = snap(mv("mv0", 5), ns=None)
    where = Snapshot("vm1", [], {}, {})
    spec = normalize_link({"name": "mv0", "parent": "eth1", "link_netns": "vm1", "addresses": ["192.0.2.10/24"]})
    actions, before, after = plan_link(spec, work, where)
    assert ops(actions) == ["move_netns", "set_link_state", "add_address"]
    assert before["name"] == "mv0" and after["addresses"] == ["192.0.2.10/24"]


def test_link_in_link_netns_with_parent_in_work_namespace():
    work = snap(ns=None)
    moved = mv("mv0", 3, parent_netnsid=0, parent_ifindex=2)
    where = Snapshot("vm1", [moved], {}, {})
    where.peer_nsid = 0
    spec = normalize_link({"name": "mv0", "parent": "eth1", "link_netns": "vm1"})
    assert plan_link(spec, work, where)[0] == []


def test_promisc_plan():
    snapshot = snap()
    assert _plan.plan_promisc("eth1", True, snapshot) == []
    assert [a["after"] for a in _plan.plan_promisc("eth1", False, snapshot)] == [False]
    with pytest.raises(PlanError, match="name: 'eth5' does not exist"):
        _plan.plan_promisc("eth5", True, snapshot)


def test_verify_names_the_attribute():
    spec = normalize_link({"name": "mv0", "parent": "eth1", "bcqueuelen": 300})
    view = _plan.link_view(mv("mv0", 5, bcqueuelen=None), snap(), snap())
    assert _plan.verify_link(spec, view) == ["bcqueuelen is None, expected 300"]


def test_spec_from_view_round_trip():
    current = mv("mv0", 5, mode="source", source_macs=["02:00:00:00:00:01"], flags=2, nodst=True)
    snapshot = snap(current, addresses={5: ["192.0.2.1/24"]})
    view = _plan.link_view(current, snapshot, snapshot)
    spec = _plan.spec_from_view(view)
    assert plan_link(spec, snapshot, snapshot)[0] == []


def specs(*links):
    return [normalize_link(dict({"parent": "eth1"}, **link)) for link in links]


def test_link_set_rules():
    _plan.check_link_set(specs({"name": "a"}, {"name": "b"}, {"name": "a", "link_netns": "vm1"}))
    with pytest.raises(PlanError, match=r"links\[1\]\.name: 'a' is listed twice \(also links\[0\]\)"):
        _plan.check_link_set(specs({"name": "a"}, {"name": "a"}))
    with pytest.raises(PlanError, match=r"links\[1\]\.mode: passthru needs parent 'eth1' to itself"):
        _plan.check_link_set(specs({"name": "a"}, {"name": "b", "mode": "passthru"}))
    with pytest.raises(PlanError, match=r"links\[1\]\.mac_address: 02:00:00:00:00:01 is also given to links\[0\]"):
        _plan.check_link_set(
            specs({"name": "a", "mac_address": "02:00:00:00:00:01"}, {"name": "b", "mac_address": "02:00:00:00:00:01"})
        )
    with pytest.raises(PlanError, match=r"different values \[2, 3\]"):
        _plan.check_link_set(specs({"name": "a", "bclim": 2}, {"name": "b", "bclim": 3}))
    # Absent links do not count against a passthru parent.
    _plan.check_link_set(specs({"name": "a", "mode": "passthru"}) + [normalize_link({"name": "b", "state": "absent"})])


def test_order_actions_phases():
    ops_in = [
        "delete",
        "add_address",
        "set_mtu",
        "create",
        "set_promisc",
        "recreate",
        "move_netns",
        "add_route",
        "create",
    ]
    actions = [{"op": op, "n": i} for i, op in enumerate(ops_in)]
    ordered = _plan.order_actions(actions)
    assert [a["op"] for a in ordered] == [
        "set_promisc",
        "create",
        "create",
        "move_netns",
        "set_mtu",
        "recreate",
        "add_address",
        "add_route",
        "delete",
    ]
    assert [a["n"] for a in ordered if a["op"] == "create"] == [3, 8]


def test_plan_purge_only_unlisted_on_managed_parents():
    other_parent = dict(PARENT, name="eth2", ifindex=3)
    links = [mv("keep", 5), mv("old", 6), mv("excluded", 7), mv("elsewhere", 8, parent_ifindex=3)]
    veth = dict(PARENT, name="veth9", ifindex=9, kind="veth")
    work = Snapshot(None, [PARENT, other_parent, veth, *links], {}, {})
    moved = mv("inside", 4, parent_netnsid=0, parent_ifindex=2)
    stranger = mv("stranger", 5, parent_netnsid=1, parent_ifindex=2)  # same index, parent in a third netns
    vm = Snapshot("vm1", [moved, stranger], {}, {})
    vm.peer_nsid = 0
    keep = {(None, "keep"), (_plan.ANY_NS, "excluded")}
    entries = _plan.plan_purge({None: work, "vm1": vm}, None, {"eth1"}, keep)
    assert [(e["actions"][0]["ns"], e["spec"]["name"]) for e in entries] == [(None, "old"), ("vm1", "inside")]
    # A name the desired state lists in the host namespace keeps that link only, not a namesake elsewhere; an
    # excluded name is kept everywhere.
    entries = _plan.plan_purge({None: work, "vm1": vm}, None, {"eth1"}, keep | {(None, "inside")})
    assert [(e["actions"][0]["ns"], e["spec"]["name"]) for e in entries] == [(None, "old"), ("vm1", "inside")]
    entries = _plan.plan_purge({None: work, "vm1": vm}, None, {"eth1"}, keep | {(_plan.ANY_NS, "inside")})
    assert [(e["actions"][0]["ns"], e["spec"]["name"]) for e in entries] == [(None, "old")]
    assert all(e["purged"] and e["before"]["parent"] == "eth1" for e in entries)
    assert _plan.plan_purge({None: work}, None, set(), set()) == []


def test_link_with_parent_in_a_third_namespace_is_not_ours():
    """Interface indexes repeat across namespaces: only IFLA_LINK_NETNSID == the parents' nsid counts."""
    work = snap(ns=None)
    stranger = mv("mv0", 3, parent_netnsid=1, parent_ifindex=2)
    where = Snapshot("vm1", [stranger], {}, {})
    where.peer_nsid = 0
    assert _plan.resolve_parent(stranger, where, work) == ("<another netns>", None)
    spec = normalize_link({"name": "mv0", "parent": "eth1", "link_netns": "vm1"})
    actions = plan_link(spec, work, where)[0]
    assert [a["op"] for a in actions] == ["recreate"]


def entry_for(snapshot, departing=frozenset(), **params):
    params.setdefault("name", "mv0")
    if params.get("state") != "absent":
        params.setdefault("parent", "eth1")
    spec = normalize_link(params)
    actions, before, after = plan_link(spec, snapshot, snapshot, departing)
    return {"spec": spec, "actions": actions, "before": before, "after": after}


def test_departing_link_makes_room_for_its_mac_and_goes_first():
    current = snap(mv("old", 6, mac_address="02:00:00:00:00:aa"), mv("other", 7))
    with pytest.raises(PlanError, match="already used by 'old'"):
        entry_for(current, name="new", mac_address="02:00:00:00:00:aa")
    new = entry_for(current, {(None, "old")}, name="new", mac_address="02:00:00:00:00:aa")
    old = entry_for(current, name="old", state="absent")
    other = entry_for(current, name="other", state="absent")
    assert _plan.mark_early_deletes([new, old, other]) == ["old"]
    ordered = _plan.order_actions(new["actions"] + old["actions"] + other["actions"])
    assert [(a["op"], a["name"]) for a in ordered] == [("delete", "old"), ("create", "new"), ("delete", "other")]


def test_departing_links_make_room_for_a_passthru_link():
    current = snap(mv("a", 6), mv("b", 7))
    with pytest.raises(PlanError, match="passthru needs parent 'eth1' to itself"):
        entry_for(current, name="pt", mode="passthru")
    new = entry_for(current, {(None, "a"), (None, "b")}, name="pt", mode="passthru")
    gone = [entry_for(current, name=name, state="absent") for name in ("a", "b")]
    assert _plan.mark_early_deletes([new, *gone]) == ["a", "b"]


def test_departing_passthru_link_makes_room_for_any_link():
    current = snap(mv("pt", 6, mode="passthru"))
    new = entry_for(current, {(None, "pt")}, name="new")
    gone = entry_for(current, name="pt", state="absent")
    assert _plan.mark_early_deletes([new, gone]) == ["pt"]


def test_deletes_stay_last_when_they_make_no_room():
    current = snap(mv("old", 6, mac_address="02:00:00:00:00:aa"))
    new = entry_for(current, {(None, "old")}, name="new", mac_address="02:00:00:00:00:bb")
    gone = entry_for(current, name="old", state="absent")
    assert _plan.mark_early_deletes([new, gone]) == []
    ordered = _plan.order_actions(new["actions"] + gone["actions"])
    assert ops(ordered) == ["create", "delete"]


def test_departing_elsewhere_does_not_count():
    """Only the named link in that namespace departs: a same-named link in another namespace does not."""
    current = snap(mv("old", 6, mac_address="02:00:00:00:00:aa"))
    with pytest.raises(PlanError, match="already used by 'old'"):
        entry_for(current, {("other-ns", "old")}, name="new", mac_address="02:00:00:00:00:aa")


def foreign_pair(*links):
    """The parents' namespace (PARENT only) and a container namespace 'vm' that knows it as nsid 5 and holds
    ``links`` on that parent (IFLA_LINK_NETNSID 5)."""
    work = snap()
    where = Snapshot("vm", [dict(link, parent_netnsid=5) for link in links], {}, {})
    where.peer_nsid = 5
    return work, where


def test_sibling_in_the_links_namespace_counts():
    spec = normalize_link({"name": "mv0", "parent": "eth1", "link_netns": "vm"})
    work, where = foreign_pair(mv("pt", 6, mode="passthru"))
    with pytest.raises(PlanError, match="already has the passthru link pt"):
        plan_link(spec, work, where)
    spec = normalize_link({"name": "mv0", "parent": "eth1", "link_netns": "vm", "mac_address": "02:00:00:00:00:aa"})
    work, where = foreign_pair(mv("other", 6, mac_address="02:00:00:00:00:aa"))
    with pytest.raises(PlanError, match="already used by 'other'"):
        plan_link(spec, work, where)


def test_sibling_under_another_nsid_is_another_parent():
    """ifindex 2 in the container under nsid 7 is not our parent (indexes repeat across namespaces)."""
    spec = normalize_link({"name": "mv0", "parent": "eth1", "link_netns": "vm"})
    work, where = foreign_pair(mv("pt", 6, mode="passthru"))
    where.peer_nsid = 7
    assert ops(plan_link(spec, work, where)[0]) == ["create"]


# -- issue 9: what the kernel would refuse, refused before anything is touched ---------------------------------


@pytest.mark.parametrize(
    "parent, words",
    [
        (dict(PARENT, name="lo", ifindex=1, arphrd=772, ifi_flags=0x9), "is a loopback interface"),
        (dict(PARENT, name="wg0", ifindex=5, arphrd=65534, ifi_flags=0x1), "is not an Ethernet interface"),
    ],
)
def test_non_ethernet_parents_are_refused_with_what_they_are(parent, words):
    snapshot = Snapshot(None, [PARENT, parent], {}, {})
    with pytest.raises(PlanError, match="^parent: %r %s .*needs an Ethernet parent" % (parent["name"], words)):
        plan(snapshot, parent=parent["name"])


def test_deleting_a_link_with_a_vlan_on_it_is_refused():
    vlan = {**PARENT, "name": "mv0.10", "ifindex": 9, "kind": "vlan", "parent_ifindex": 7}
    snapshot = snap(mv("mv0", 7), vlan)
    with pytest.raises(PlanError, match=r"^name: deleting 'mv0' would also delete mv0\.10 \(vlan\)"):
        plan(snapshot, state="absent")


def container_pair():
    """The host namespace has eth1 (the parent) and a veth named eth0; the container namespace is empty."""
    host = snap({**PARENT, "name": "eth0", "ifindex": 3, "kind": "veth"})
    ctr = Snapshot("/proc/42/ns/net", [], {}, {})
    return host, ctr


def test_a_containers_eth0_is_created_while_the_host_has_an_eth0():
    host, ctr = container_pair()
    spec = normalize_link({"name": "eth0", "parent": "eth1", "link_netns": "/proc/42/ns/net"})
    actions, before, dummy = plan_link(spec, host, ctr)
    assert ops(actions) == ["create"] and before is None
    assert actions[0]["link_ns"] == "/proc/42/ns/net"


def test_a_containers_eth0_on_the_hosts_eth0():
    host = snap({**PARENT, "name": "eth0", "ifindex": 2})
    ctr = Snapshot("/proc/42/ns/net", [], {}, {})
    spec = normalize_link({"name": "eth0", "parent": "eth0", "link_netns": "/proc/42/ns/net"})
    actions, dummy, dummy2 = plan_link(spec, host, ctr)
    assert ops(actions) == ["create"]


def test_a_host_macvlan_another_link_claims_is_not_moved_into_link_netns():
    host = snap(mv("mv0", 7))
    ctr = Snapshot("ctr", [], {}, {})
    spec = normalize_link({"name": "mv0", "parent": "eth1", "link_netns": "ctr"})
    assert ops(plan_link(spec, host, ctr)[0]) == ["move_netns", "set_link_state"]
    assert ops(plan_link(spec, host, ctr, claimed={(None, "mv0")})[0]) == ["create"]


def test_a_route_to_the_links_own_subnet_is_the_kernels_prefix_route():
    params = {"addresses": ["192.168.244.1/24"], "routes": [{"dest": "192.168.244.0/24"}]}
    spec = normalize_link(dict(params, name="mv0", parent="eth1"))
    actions, dummy, after = plan_link(spec, snap(), snap())
    assert ops(actions) == ["create", "add_address"]
    assert after["routes"] == []
    assert spec["kernel_routes"] == [{"dest": "192.168.244.0/24", "gateway": None, "metric": 0}]
    # Existing: the kernel's route is there, so nothing to add; the read-back does not expect it either.
    existing = snap(
        mv("mv0", 7),
        addresses={7: ["192.168.244.1/24"]},
        routes={},
    )
    existing.unmanaged_routes = {7: [{"dest": "192.168.244.0/24", "gateway": None, "metric": 0, "proto": 2}]}
    spec = normalize_link(dict(params, name="mv0", parent="eth1"))
    actions, dummy, dummy2 = plan_link(spec, existing, existing)
    assert actions == []
    view = _plan.link_view(existing.links["mv0"], existing, existing)
    assert _plan.verify_link(spec, view) == []


def test_a_route_with_its_own_metric_is_added_next_to_the_prefix_route():
    spec = normalize_link(
        {
            "name": "mv0",
            "parent": "eth1",
            "addresses": ["192.168.244.1/24"],
            "routes": [{"dest": "192.168.244.0/24", "metric": 100}],
        }
    )
    actions = plan_link(spec, snap(), snap())[0]
    assert ops(actions) == ["create", "add_address", "add_route"]


def entries_for(snapshot, *params):
    entries = []
    for index, p in enumerate(params):
        spec = normalize_link(dict(p, parent=p.get("parent", "eth1")))
        actions, before, after = plan_link(spec, snapshot, snapshot)
        entries.append({"spec": spec, "actions": actions, "label": "links[%d] (%s): " % (index, spec["name"])})
    return entries


def test_a_route_another_link_holds_is_refused_naming_the_holder():
    snapshot = snap(mv("mva", 7), routes={7: [{"dest": "203.0.113.0/24", "gateway": None, "metric": 0}]})
    entries = entries_for(snapshot, {"name": "mvb", "routes": [{"dest": "203.0.113.0/24"}]})
    with pytest.raises(PlanError, match=r"^links\[0\] \(mvb\): routes: 203.0.113.0/24 metric 0 .* a route through mva"):
        _plan.check_route_collisions(entries, {None: snapshot})


def test_a_route_the_kernel_holds_for_another_links_subnet_is_named_as_such():
    snapshot = snap(mv("mva", 7))
    snapshot.unmanaged_routes = {7: [{"dest": "192.168.244.0/24", "gateway": None, "metric": 0, "proto": 2}]}
    entries = entries_for(snapshot, {"name": "mvb", "routes": [{"dest": "192.168.244.0/24"}]})
    with pytest.raises(PlanError, match="the kernel's route for an address of mva in that subnet"):
        _plan.check_route_collisions(entries, {None: snapshot})


def test_a_route_that_moves_between_links_in_one_run_is_not_a_collision():
    snapshot = snap(mv("mva", 7), routes={7: [{"dest": "203.0.113.0/24", "gateway": None, "metric": 0}]})
    entries = entries_for(
        snapshot, {"name": "mva", "routes": []}, {"name": "mvb", "routes": [{"dest": "203.0.113.0/24"}]}
    )
    _plan.check_route_collisions(entries, {None: snapshot})
    ordered = [a["op"] for a in _plan.order_actions([a for e in entries for a in e["actions"]])]
    assert ordered.index("del_route") < ordered.index("add_route")


def test_two_links_asking_for_one_route_are_refused():
    snapshot = snap()
    entries = entries_for(
        snapshot,
        {"name": "mva", "routes": [{"dest": "203.0.113.0/24"}]},
        {"name": "mvb", "routes": [{"dest": "203.0.113.0/24"}]},
    )
    with pytest.raises(
        PlanError, match=r"^links\[1\] \(mvb\): routes: 203.0.113.0/24 metric 0 is also asked for on mva"
    ):
        _plan.check_route_collisions(entries, {None: snapshot})


def test_every_action_line_names_its_namespace():
    actions = plan(snap(mv("mv0", 7)), mode="private", addresses=["192.0.2.1/24"], netns="ns1")[0]
    lines = [_plan.describe(a) for a in actions]
    assert lines and all(line.endswith(" in netns ns1") for line in lines), lines


def test_protected_interfaces_by_name_address_and_default_route():
    eth0 = {**PARENT, "name": "eth0", "ifindex": 3, "kind": None}
    snapshot = snap(eth0, routes={3: [{"dest": "0.0.0.0/0", "gateway": "192.0.2.1", "metric": 0}]})
    assert _plan.protected_interfaces(snapshot, default_route=True) == {"eth0": "carries a default route"}
    assert _plan.protected_interfaces(snapshot, addresses={2: ["192.0.2.5"]}) == {"eth1": "holds 192.0.2.5"}
    assert _plan.protected_interfaces(snapshot, interfaces=["eth1", "nope"]) == {
        "eth1": "is listed in protect.interfaces"
    }


def test_a_plan_that_touches_a_protected_interface_is_refused():
    snapshot = snap()
    entries = entries_for(snapshot, {"name": "mv0"})
    with pytest.raises(
        PlanError, match=r"^protect: eth1 holds 192.0.2.5, and this task would create macvlan mv0 on eth1"
    ):
        _plan.check_protected(entries, [], {"eth1": "holds 192.0.2.5"}, None)
    promisc = [{"actions": _plan.plan_promisc("eth1", False, snapshot)}]
    with pytest.raises(PlanError, match="set promisc of eth1"):
        _plan.check_protected([], promisc, {"eth1": "carries a default route"}, None)
    _plan.check_protected(entries, [], {"eth9": "x"}, None)


def test_allmulticast_and_multicast_in_place_and_unmanaged_when_unset():
    current = mv("mv0", 5, allmulticast=False, multicast=True)
    actions, before, after = plan(snap(current), allmulticast=True, multicast=False)
    assert [(a["op"], a["before"], a["after"]) for a in actions] == [
        ("set_allmulticast", False, True),
        ("set_multicast", True, False),
    ]
    assert after["allmulticast"] is True and after["multicast"] is False
    assert plan(snap(dict(current, allmulticast=True, multicast=False)), allmulticast=True, multicast=False)[0] == []
    assert plan(snap(dict(current, allmulticast=True)))[0] == []  # unset: whatever the kernel has


def test_a_new_link_gets_its_multicast_flags_with_the_creation():
    actions, dummy, after = plan(snap(), allmulticast=True)
    assert ops(actions) == ["create"] and actions[0]["spec"]["allmulticast"] is True
    assert after["allmulticast"] is True and after["multicast"] is True
    assert "allmulticast" in _plan.describe(actions[0])


def test_allmulticast_must_be_a_bool():
    with pytest.raises(ValueError, match="allmulticast: 'yes' must be true or false"):
        plan(snap(), allmulticast="yes")


def restore_fixture():
    """eth1 (mtu 9000, promisc) and eth2 in the work namespace: keep (bridge, an address), old and excluded on
    eth1, elsewhere on eth2, mover on eth1 (to be moved into vm1); in vm1 inside (on eth1) and stranger (its
    parent in a third namespace)."""
    eth1 = dict(PARENT, mtu=9000)
    eth2 = dict(PARENT, name="eth2", ifindex=3, promisc=False, link_state="down")
    links = [mv("keep", 5), mv("old", 6), mv("excluded", 7), mv("elsewhere", 8, parent_ifindex=3), mv("mover", 9)]
    work = Snapshot(None, [eth1, eth2, *links], {5: ["192.0.2.5/24"]}, {})
    vm = Snapshot(
        "vm1", [mv("inside", 4, parent_netnsid=0, parent_ifindex=2), mv("stranger", 5, parent_netnsid=1)], {}, {}
    )
    vm.peer_nsid = 0
    return {None: work, "vm1": vm}


def test_restore_args_give_back_what_the_call_names_and_nothing_else():
    snapshots = restore_fixture()
    links = specs(
        {"name": "keep", "mode": "vepa", "addresses": []},
        {"name": "new"},
        {"name": "gone", "state": "absent"},
        {"name": "mover", "link_netns": "vm1"},
        {"name": "fresh", "link_netns": "vm1"},
        {"name": "inside", "link_netns": "vm1", "mtu": 1400},
    )
    parents = [{"name": "eth2", "promisc": True, "mtu": 1400, "link_state": "up"}]
    args = _plan.restore_args(links, parents, snapshots, None)
    by_key = {(entry.get("link_netns"), entry["name"]): entry for entry in args["links"]}
    assert list(by_key) == [
        (None, "gone"),
        (None, "keep"),
        (None, "mover"),
        (None, "new"),
        ("vm1", "fresh"),
        ("vm1", "inside"),
        ("vm1", "mover"),
    ]
    keep = by_key[(None, "keep")]
    assert (keep["mode"], keep["addresses"], keep["parent"], keep["state"]) == (
        "bridge",
        ["192.0.2.5/24"],
        "eth1",
        "present",
    )
    assert by_key[(None, "new")] == {"name": "new", "state": "absent"}
    assert by_key[("vm1", "fresh")] == {"name": "fresh", "state": "absent", "link_netns": "vm1"}
    assert by_key[("vm1", "mover")] == {"name": "mover", "state": "absent", "link_netns": "vm1"}
    assert by_key[(None, "mover")]["state"] == "present"  # given back where it is now
    assert (by_key[("vm1", "inside")]["parent"], by_key[("vm1", "inside")]["link_netns"]) == ("eth1", "vm1")
    # the parents the call manages, as they are now; without purge nothing else
    assert args["parents"] == [{"name": "eth2", "promisc": False, "mtu": 1500, "link_state": "down"}]
    assert args["left_out"] == []
    # every entry is a valid macvlan_state link, and the set is one macvlan_state accepts
    _plan.check_link_set([normalize_link(entry) for entry in args["links"]])


def test_restore_args_with_purge_add_every_link_the_purge_may_delete():
    snapshots = restore_fixture()
    args = _plan.restore_args(
        specs({"name": "keep"}),
        [{"name": "eth1", "promisc": True, "mtu": None, "link_state": None}],
        snapshots,
        None,
        purge=True,
        purge_exclude=["excluded"],
    )
    names = [(entry.get("link_netns"), entry["name"]) for entry in args["links"]]
    # elsewhere is on eth2, which the call does not manage; excluded is excluded; stranger is not on eth1
    assert names == [(None, "keep"), (None, "mover"), (None, "old"), ("vm1", "inside")]
    assert args["parents"] == [{"name": "eth1", "promisc": True, "mtu": 9000, "link_state": "up"}]


def test_restore_args_name_a_link_they_cannot_give_back():
    snapshots = restore_fixture()
    args = _plan.restore_args(specs({"name": "stranger", "link_netns": "vm1"}), [], snapshots, None)
    assert args == {"links": [], "parents": [], "left_out": ["stranger (in vm1)"]}


def test_restore_args_given_back_plan_nothing_on_the_snapshot_they_came_from():
    snapshots = restore_fixture()
    args = _plan.restore_args(specs({"name": "keep"}, {"name": "old"}), [], snapshots, None)
    for entry in args["links"]:
        spec = normalize_link(entry)
        assert plan_link(spec, snapshots[None], snapshots[None])[0] == [], entry


def test_a_mac_address_held_in_another_namespace_on_the_same_parent_counts():
    """The kernel keeps one MAC set per parent: a link moved into another namespace of the run still holds its
    address there. A creation is refused while it stays, and deletes it first when the same plan deletes it."""
    work = snap(ns=None)
    vm = Snapshot("vm1", [mv("moved", 4, parent_netnsid=0, parent_ifindex=2, mac_address="02:00:00:00:aa:03")], {}, {})
    vm.peer_nsid = 0
    work.peers = [vm]
    spec = normalize_link({"name": "back", "parent": "eth1", "mac_address": "02:00:00:00:aa:03"})
    with pytest.raises(PlanError, match="already used by 'moved' on parent 'eth1'"):
        plan_link(spec, work, work)
    actions = plan_link(spec, work, work, departing={("vm1", "moved")})[0]
    assert actions[0]["op"] == "create" and actions[0]["room"] == [("vm1", "moved")]


def test_a_recreated_link_gets_its_ipv6_settings_and_comes_up_after_the_recreation():
    """The new link's IPv6 settings and its bringing up follow the re-creation (they went to the old link, in
    the earlier in-place phase, and the new one stayed down)."""
    snapshot = snap(mv("mv0", 5))
    actions = plan(snapshot, mode="passthru", ipv6_addr_gen_mode="none", ipv6_autoconf=False)[0]
    ordered = _plan.order_actions(actions)
    assert ops(ordered) == ["recreate", "set_ipv6_addr_gen_mode", "set_ipv6_autoconf", "set_link_state"]
    assert ordered[0]["spec"]["link_state"] == "down" and ordered[-1]["after"] == "up"


def test_restore_args_keep_the_siblings_of_a_link_given_bclim():
    """The kernel keeps one broadcast cutoff per parent: a call giving a link bclim changes its siblings'."""
    snapshots = restore_fixture()
    args = _plan.restore_args(specs({"name": "new", "bclim": 5}), [], snapshots, None)
    names = [(entry.get("link_netns"), entry["name"]) for entry in args["links"]]
    assert names == [
        (None, "excluded"),
        (None, "keep"),
        (None, "mover"),
        (None, "new"),
        (None, "old"),
        ("vm1", "inside"),
    ]


def test_a_new_link_gets_its_bclim_after_the_creation_in_a_step_that_can_be_undone():
    """The cutoff is the parent's, shared by every link on it (also in namespaces the run does not see): the
    creation leaves it alone and a ``shared`` step sets it, which reports what it replaced for the undo."""
    actions = plan(snap(mv("mva", 5, bclim=1)), bclim=6)[0]
    assert ops(actions) == ["create", "set_bclim"]
    assert actions[0]["spec"]["bclim"] is None
    assert actions[1]["shared"] is True and actions[1]["after"] == 6 and "new" not in actions[1]
    assert _plan.describe(actions[1]).startswith("set bclim of new link mv0: 6 (the broadcast cutoff")
    recreated = plan(snap(mv("mv0", 5, kind="macvtap")), bclim=6)[0]
    assert ops(_plan.order_actions(recreated)) == ["recreate", "set_bclim"]


def test_ipv6_on_a_link_that_keeps_an_mtu_below_1280_is_refused():
    """Below 1280 the kernel keeps no IPv6 state on a link: an inherited MTU (the parent's, for a new or
    re-created link; the link's own, in place) counts as an explicit one does (_model)."""
    small = Snapshot(None, [dict(PARENT, mtu=1200), mv("mv1", 6, mtu=1200)], {}, {})
    with pytest.raises(PlanError, match=r"ipv6_addr_gen_mode: mv0 would have MTU 1200 \(its parent's\), below 1280"):
        plan(small, ipv6_addr_gen_mode="none")
    with pytest.raises(PlanError, match=r"addresses: mv1 would have MTU 1200 \(its own\), below 1280"):
        plan(small, name="mv1", addresses=["2001:db8::1/64"])
    assert ops(plan(small, name="mv1", addresses=["192.0.2.1/24"])[0]) == ["add_address"]


def test_the_address_a_leaving_passthru_link_gave_its_parent_is_free_for_a_new_link():
    """A passthru link with its own MAC gives it to the parent; re-created out of passthru (or deleted by the same
    plan) it leaves, and the parent has its earlier address again: its present one is no conflict."""
    mac = "02:00:00:00:21:01"
    parent = dict(PARENT, mac_address=mac)
    passthru = mv("mv0", 5, mode="passthru", mac_address=mac)
    snapshot = Snapshot(None, [parent, passthru], {}, {})
    assert ops(plan(snapshot, mode="bridge", mac_address=mac)[0]) == ["recreate"]
    with pytest.raises(PlanError, match="already has the passthru link mv0"):  # while it stays
        plan_link(normalize_link({"name": "mv1", "parent": "eth1", "mac_address": mac}), snapshot, snapshot)
    actions = plan_link(
        normalize_link({"name": "mv1", "parent": "eth1", "mac_address": mac}),
        snapshot,
        snapshot,
        departing={(None, "mv0")},
    )[0]
    assert actions[0]["op"] == "create" and set(actions[0]["room"]) == {(None, "mv0")}


def test_one_shared_bclim_step_per_parent():
    """The cutoff is the parent's: the first new link's step sets it for every new link on that parent (and its
    undo sets it back); the others are created without bclim and read and set nothing."""
    snapshot = snap(mv("mva", 5, bclim=1))
    entries = []
    for name in ("mv0", "mv1", "mv2"):
        spec = normalize_link({"name": name, "parent": "eth1", "bclim": 6})
        entries.append({"spec": spec, "actions": plan_link(spec, snapshot, snapshot)[0]})
    _plan.share_bclim_steps(entries)
    assert [ops(e["actions"]) for e in entries] == [["create", "set_bclim"], ["create"], ["create"]]
    assert all(e["actions"][0]["spec"]["bclim"] is None for e in entries)
