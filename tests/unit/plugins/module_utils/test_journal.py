"""The journal: the undo steps of every applied step, and a replay that never raises (pure, no root)."""

from __future__ import annotations

import json
import struct

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _journal, _observed, _rtnl
from ansible_collections.hostnet.macvlan.plugins.module_utils._netns import NetlinkFailure

VIEW = {
    "name": "mv0",
    "type": "macvlan",
    "parent": "eth1",
    "mode": "source",
    "mac_address": "02:00:00:00:00:07",
    "mtu": 1500,
    "link_state": "up",
    "source_macs": ["02:00:00:00:00:aa"],
    "nopromisc": False,
    "nodst": True,
    "bcqueuelen": 1000,
    "bclim": 1,
    "addresses": ["192.0.2.1/24"],
    "routes": [],
}

LINK = {
    "name": "mv0",
    "ifindex": 7,
    "kind": "macvlan",
    "txqlen": 500,
    "group": 2,
    "ifalias": "web",
    "ifi_flags": 0x1043,
    "master": None,
}


def capture(routes=(), addresses=None):
    addresses = (
        addresses if addresses is not None else [{"index": 7, "family": 2, "address": "192.0.2.1/24", "raw": "aa"}]
    )
    return _observed.Capture("ns1", [LINK], addresses, list(routes))


def route(raw, oif=7, proto=4, prefsrc=None, multipath=False, oifs=(), table=254, dest="198.51.100.0/24"):
    return {
        "oif": oif,
        "oifs": list(oifs),
        "family": 2,
        "table": table,
        "proto": proto,
        "dest": dest,
        "prefsrc": prefsrc,
        "multipath": multipath,
        "raw": raw,
    }


def context(**kwargs):
    return _journal.Context(views={("ns1", "mv0"): (VIEW, None)}, captures={"ns1": capture(**kwargs)})


def step(op, **extra):
    base = {"op": op, "ns": "ns1", "link_ns": "ns1", "name": "mv0", "kind": "macvlan"}
    base.update(extra)
    return base


def test_a_created_link_is_undone_by_deleting_only_that_link():
    created = step("create", spec={"type": "macvtap", "name": "mv0", "parent": "eth1"})
    assert _journal.undo_for(created, True, context()) == [
        {"op": "undo_create", "ns": "ns1", "name": "mv0", "kind": "macvtap", "parent": "eth1"}
    ]
    # Created in another namespace (link_netns): its parent is not there to check.
    moved = step("create", link_ns="ns2", spec={"type": "macvlan", "name": "mv0", "parent": "eth1"})
    assert _journal.undo_for(moved, True, context()) == [
        {"op": "undo_create", "ns": "ns2", "name": "mv0", "kind": "macvlan"}
    ]


def test_a_deleted_link_comes_back_from_its_record_with_its_addresses_and_routes():
    ctx = context(routes=[route("r1"), route("r2", oif=3, prefsrc="192.0.2.1"), route("r3", proto=2)])
    (undo,) = _journal.undo_for(step("delete"), True, ctx)
    assert undo["op"] == "restore_link" and undo["ns"] is None and undo["link_ns"] == "ns1"
    spec = undo["spec"]
    assert spec["ifindex"] == 7 and spec["txqlen"] == 500 and spec["group"] == 2 and spec["ifalias"] == "web"
    assert spec["ifi_flags"] == 0x1043 and spec["mode"] == "source" and spec["source_macs"] == ["02:00:00:00:00:aa"]
    assert spec["nodst"] is True and spec["parent"] == "eth1"
    assert undo["l3"]["addresses"] == ["aa"]
    # Its own route and another link's route using its address as source come back; the kernel's do not.
    assert [r["raw"] for r in undo["l3"]["routes"]] == ["r1", "r2"]


def test_multipath_routes_through_the_link_are_reported_as_lost():
    ctx = context(routes=[route("m", oif=None, multipath=True, oifs=[7, 3], table=100, dest="203.0.113.0/24")])
    (undo,) = _journal.undo_for(step("delete"), True, ctx)
    assert undo["l3"]["routes"] == []
    assert undo["l3"]["lost"] == ["multipath route 203.0.113.0/24 (table 100)"]


def test_a_link_whose_parent_cannot_be_seen_cannot_be_restored():
    ctx = _journal.Context(views={("ns1", "mv0"): (dict(VIEW, parent=None), None)}, captures={"ns1": capture()})
    (undo,) = _journal.undo_for(step("delete"), True, ctx)
    assert undo == {"op": "cannot", "name": "mv0", "why": "its parent is in a network namespace this run cannot see"}


@pytest.mark.parametrize(
    "op, before, after",
    [
        ("set_flags", 0, 2),
        ("set_mac_address", "02:00:00:00:00:07", "02:00:00:00:00:08"),
        ("set_bcqueuelen", 1000, 10),
        ("set_bclim", 1, 5),
        ("set_promisc", False, True),
        ("set_mtu", 1400, 1500),
        ("set_link_state", "down", "up"),
    ],
)
def test_in_place_changes_are_set_back(op, before, after):
    (undo,) = _journal.undo_for(step(op, before=before, after=after), True, context())
    assert (undo["op"], undo["before"], undo["after"]) == (op, after, before)


@pytest.mark.parametrize("op, before, after", [("set_link_state", "up", "down"), ("set_mtu", 1500, 1200)])
def test_changes_that_make_the_kernel_drop_addresses_also_restore_them(op, before, after):
    undo = _journal.undo_for(step(op, before=before, after=after), True, context())
    assert [u["op"] for u in undo] == [op, "restore_l3"]
    assert undo[1]["addresses"] == ["aa"] and undo[1]["index"] == 7


def test_leaving_source_mode_restores_the_flushed_source_list():
    undo = _journal.undo_for(step("set_mode", before="source", after="bridge"), True, context())
    assert [(u["op"], u["after"]) for u in undo] == [("set_mode", "source"), ("set_source_macs", ["02:00:00:00:00:aa"])]


def test_source_lists_are_set_back_exactly():
    (undo,) = _journal.undo_for(
        step("set_source_macs", before=["a"], after=["b"], add=["b"], remove=["a"]), True, context()
    )
    assert (undo["op"], undo["before"], undo["after"]) == ("set_source_macs", ["b"], ["a"])


def test_addresses_and_routes_added_are_removed_and_ensure_steps_that_added_nothing_leave_nothing_to_undo():
    r = {"dest": "198.51.100.0/24", "gateway": None, "metric": 0}
    assert _journal.undo_for(step("add_address", address="192.0.2.9/24"), True, context())[0]["op"] == "del_address"
    (undo,) = _journal.undo_for(step("add_route", route=r), True, context())
    assert (undo["op"], undo["proto"]) == ("del_route", 4)  # removes exactly the static route the run added
    assert _journal.undo_for(step("ensure_address", address="192.0.2.9/24"), False, context()) == []
    assert _journal.undo_for(step("ensure_route", route=r), False, context()) == []
    assert _journal.undo_for(step("del_address", address="192.0.2.1/24"), False, context()) == []


def test_removed_addresses_and_routes_are_restored_from_the_capture():
    for op in ("del_address", "del_route"):
        (undo,) = _journal.undo_for(step(op, address="192.0.2.1/24", route={}), True, context())
        assert undo["op"] == "restore_l3" and undo["ns"] == "ns1" and undo["name"] == "mv0"


def test_a_move_is_undone_by_moving_back_bringing_up_and_restoring_addresses():
    undo = _journal.undo_for(step("move_netns", link_ns="ctr"), True, context())
    assert [(u["op"], u.get("ns"), u.get("link_ns")) for u in undo] == [
        ("move_netns", "ctr", "ns1"),
        ("set_link_state", "ns1", None),
        ("restore_l3", "ns1", None),
    ]


def test_a_recreation_is_a_deletion_then_a_creation_each_journaled():
    action = {
        "op": "recreate",
        "ns": None,
        "link_ns": None,
        "name": "mv0",
        "old_ns": "ns1",
        "old_kind": "macvtap",
        "reasons": ["type macvtap -> macvlan"],
        "spec": {"type": "macvlan", "name": "mv0"},
    }
    delete, create = _journal.expand(action)
    assert delete == {"op": "delete", "ns": "ns1", "name": "mv0", "kind": "macvtap"}
    assert create["op"] == "create" and "old_ns" not in create and create["spec"]["type"] == "macvlan"


@pytest.mark.parametrize(
    "action, needed",
    [
        ({"op": "delete", "ns": "a"}, True),
        ({"op": "recreate", "ns": "b", "old_ns": "a"}, True),
        ({"op": "del_route", "ns": "a"}, True),
        ({"op": "set_link_state", "ns": "a", "after": "down"}, True),
        ({"op": "set_link_state", "ns": "a", "after": "up"}, False),
        ({"op": "set_mtu", "ns": "a", "before": 1500, "after": 9000}, False),
        ({"op": "create", "ns": "a"}, False),
    ],
)
def test_only_destructive_steps_need_a_capture(action, needed):
    assert _journal.needs_capture(action) is needed
    if needed:
        assert _journal.captured_ns(action) == "a"


class FakeSession:
    """Records the steps it is given; fails the ones named in ``fail`` (by op), returns ``results`` by op."""

    def __init__(self, fail=(), results=None, crash=False):
        self.applied = []
        self.fail = fail
        self.results = results or {}
        self.crash = crash

    def forget_all(self):
        if self.crash:
            raise RuntimeError("socket gone")

    def apply(self, action):
        if action["op"] in self.fail:
            if action["op"] == "set_promisc":
                raise ValueError("boom")
            raise NetlinkFailure("No such device", 19)
        self.applied.append(action["op"])
        return self.results.get(action["op"], True)


SPEC = {"type": "macvlan", "name": "mv1", "parent": "eth1", "mode": "bridge", "link_state": "up"}


def journal_of(*steps):
    journal = _journal.Journal()
    ctx = context()
    for s in steps:
        journal.add(s, _journal.undo_for(s, True, ctx))
    return journal


def test_replay_undoes_the_last_step_first_and_reports_what_it_could_not():
    journal = journal_of(
        step("set_promisc", before=False, after=True, name="eth1"),
        step("create", spec=SPEC, name="mv1"),
        step("set_mtu", before=1400, after=1500),
    )
    session = FakeSession(fail=("set_promisc",), results={"undo_create": ["mv1: already gone"]})
    restored, problems = _journal.replay(journal, session)
    assert session.applied == ["set_mtu", "undo_create"]
    assert len(restored) == 2
    assert problems[0] == "mv1: already gone"
    assert problems[1].startswith("eth1: set promisc of eth1: True -> False in netns ns1 FAILED (ValueError: boom)")


def test_what_a_later_restore_of_the_same_link_put_back_is_not_reported():
    """Undoing "take p0 down" restores its addresses while its MTU is still 1200 (IPv6 refuses them); undoing the
    lower MTU then restores them all: the first restore's problems are not reported, another link's are."""

    class Session(FakeSession):
        def __init__(self):
            super().__init__()
            self.l3 = 0

        def apply(self, action):
            if action["op"] != "restore_l3":
                return super().apply(action)
            self.l3 += 1
            if action["name"] == "ex":
                return ["ex: address not restored: Invalid argument"]
            return ["p0: address not restored: Invalid argument"] if self.l3 == 1 else []

    l3 = {"index": 3, "addresses": [], "routes": [], "lost": []}
    ctx = context()
    ctx.captures["ns1"] = type("Capture", (), {"l3": staticmethod(lambda name: l3)})()
    journal = _journal.Journal()
    for s in (
        step("set_mtu", before=1500, after=1200, name="ex"),
        step("set_mtu", before=1500, after=1200, name="p0"),
        step("set_link_state", before="up", after="down", name="p0"),
    ):
        journal.add(s, _journal.undo_for(s, True, ctx))
    restored, problems = _journal.replay(journal, Session())
    assert [line for line in restored if "restore the addresses" in line] != []
    assert problems == ["ex: address not restored: Invalid argument"]


def test_replay_never_raises():
    journal = journal_of(step("set_mtu", before=1400, after=1500))
    restored, problems = _journal.replay(journal, FakeSession(fail=("set_mtu",), crash=True))
    assert restored == [] and "FAILED (No such device)" in problems[0]


def test_the_journal_is_plain_data():
    journal = journal_of(step("delete"), step("add_address", address="192.0.2.9/24"))
    again = _journal.Journal.from_data(json.loads(json.dumps(journal.data())))
    assert again.undo_steps() == journal.undo_steps()
    assert again.done() == ["delete macvlan mv0 in netns ns1", "add address 192.0.2.9/24 to mv0 in netns ns1"]


def test_long_reports_are_summarized():
    assert _journal.summarize(["x%d" % i for i in range(25)])[-1] == "... and 6 more"
    assert len(_journal.summarize(["x%d" % i for i in range(25)])) == _journal.SUMMARY_LINES
    assert _journal.summarize(["a", "b"]) == ["a", "b"]


# -- replaying captured messages -------------------------------------------------------------------------------


def test_an_address_is_replayed_as_captured_with_the_new_index():
    body = _rtnl.IFADDRMSG.pack(2, 24, 0x80, 0, 7) + _rtnl.nla(_rtnl.IFA_LOCAL, bytes([192, 0, 2, 1]))
    data = _rtnl.replay_request(_rtnl.RTM_NEWADDR, body.hex(), seq=5, index=11)
    length, msg_type, flags, seq, _pid = _rtnl.NLMSGHDR.unpack_from(data)
    assert (length, msg_type, seq) == (len(data), _rtnl.RTM_NEWADDR, 5)
    assert flags == _rtnl.NLM_F_REQUEST | _rtnl.NLM_F_ACK | _rtnl.NLM_F_CREATE | _rtnl.NLM_F_EXCL
    assert _rtnl.IFADDRMSG.unpack_from(data, _rtnl.NLMSGHDR.size) == (2, 24, 0x80, 0, 11)
    assert data[_rtnl.NLMSGHDR.size + _rtnl.IFADDRMSG.size :] == body[_rtnl.IFADDRMSG.size :]


def test_a_route_is_replayed_without_cache_info_or_state_flags_and_with_the_new_interface():
    attrs = (
        _rtnl.nla(_rtnl.RTA_TABLE, struct.pack("=I", 100))
        + _rtnl.nla(_rtnl.RTA_OIF, struct.pack("=I", 7))
        + _rtnl.nla(_rtnl.RTA_CACHEINFO, b"\0" * 32)
        + _rtnl.nla(_rtnl.RTA_PRIORITY, struct.pack("=I", 77))
    )
    flags = _rtnl.RTNH_F_ONLINK | 16  # onlink, linkdown
    body = _rtnl.RTMSG.pack(2, 24, 0, 0, 100, 42, 253, 1, flags) + attrs
    data = _rtnl.replay_request(_rtnl.RTM_NEWROUTE, body.hex(), seq=1, index=12)
    head = _rtnl.RTMSG.unpack_from(data, _rtnl.NLMSGHDR.size)
    assert head == (2, 24, 0, 0, 100, 42, 253, 1, _rtnl.RTNH_F_ONLINK)
    found = _rtnl.attributes(data, _rtnl.NLMSGHDR.size + _rtnl.RTMSG.size, len(data))
    assert set(found) == {_rtnl.RTA_TABLE, _rtnl.RTA_OIF, _rtnl.RTA_PRIORITY}
    assert struct.unpack_from("=I", data, found[_rtnl.RTA_OIF][0])[0] == 12
    assert struct.unpack_from("=I", data, found[_rtnl.RTA_PRIORITY][0])[0] == 77


def test_a_guarded_replay_leaves_a_setting_someone_changed_since():
    """A revert minutes later: the change set mv0's MTU to 1500 and its mode to vepa; someone set the MTU to 1300
    since. The guarded replay sets the mode back, leaves the MTU and says why; an unguarded one (the rollback
    within the run, under the lock) reads nothing and sets both back."""

    class Session(FakeSession):
        def __init__(self):
            super().__init__()
            self.looked_up = []

        def lookup(self, ns, name):
            self.looked_up.append((ns, name))
            return {"name": name, "mtu": 1300, "mode": "vepa", "link_state": "up"}

    journal = journal_of(
        step("set_mode", before="bridge", after="vepa"),
        step("set_mtu", before=1400, after=1500),
        step("set_ipv6_autoconf", before=True, after=False),
    )
    session = Session()
    restored, problems = _journal.replay(journal, session, guarded=True)
    assert session.applied == ["set_ipv6_autoconf", "set_mode"]
    assert problems == [
        "mv0: mtu left as it is: mtu is 1300 now, not 1500 as the change set it (changed since by someone else)"
    ]
    assert len(restored) == 2
    session = Session()
    _journal.replay(journal, session)
    assert session.applied == ["set_ipv6_autoconf", "set_mtu", "set_mode"] and session.looked_up == []


def test_the_shared_cutoff_a_new_link_set_is_set_back_to_what_it_replaced():
    shared = step("set_bclim", before=None, after=6, shared=True)
    assert _journal.undo_for(shared, {"replaced": 1}, context()) == [
        {"op": "set_bclim", "ns": "ns1", "name": "mv0", "kind": "macvlan", "before": 6, "after": 1}
    ]
    assert _journal.undo_for(shared, {"replaced": 6}, context()) == []  # it was already 6
    assert _journal.undo_for(shared, {"replaced": None}, context()) == []  # a kernel that does not report it
