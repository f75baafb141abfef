"""Parents' MTU and administrative state (issue 13 item 3): validation, the plan's order and refusals, results, and
each persistence backend's files (pure, no root, no netlink)."""

from __future__ import annotations

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist, _plan, _results
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_ifupdown as ifupdown
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_networkd as networkd
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_nm as nm
from ansible_collections.hostnet.macvlan.plugins.module_utils._engine import EngineError, LinkEngine
from ansible_collections.hostnet.macvlan.plugins.module_utils._model import (
    ModelError,
    normalize_link,
    normalize_parent,
    normalize_parents,
)
from ansible_collections.hostnet.macvlan.plugins.module_utils._observed import Snapshot
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.observed_links import macvlan, nic
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.test_persist_helpers import (
    IF,
    ND,
    NM,
    PREFIX,
    SD,
    listing_of,
)

# --- validation ------------------------------------------------------------------------------------------


def test_a_parent_entry_is_normalised():
    assert normalize_parent({"name": "eth1"}, 0) == {"name": "eth1", "promisc": True, "mtu": None, "link_state": None}
    assert normalize_parent({"name": "eth1", "promisc": False, "mtu": "9000", "link_state": "down"}, 0) == {
        "name": "eth1",
        "promisc": False,
        "mtu": 9000,
        "link_state": "down",
    }


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "eth1", "mtu": 67}, "parents[2].mtu: 67 is out of range 68..65535"),
        ({"name": "eth1", "mtu": 65536}, "parents[2].mtu: 65536 is out of range 68..65535"),
        ({"name": "eth1", "mtu": "jumbo"}, "parents[2].mtu: 'jumbo' is not an integer"),
        ({"name": "eth1", "mtu": True}, "parents[2].mtu: True is not an integer"),
        ({"name": "eth1", "link_state": "UP"}, "parents[2].link_state: 'UP' is not one of up, down"),
        ({"name": "eth1", "promisc": "yes"}, "parents[2].promisc: 'yes' must be true or false"),
        ({"name": "eth/1"}, "parents[2].name: 'eth/1'"),
        ("eth1", "parents[2]: 'eth1' must be a dict"),
    ],
)
def test_bad_parent_values_name_the_option_and_the_value(entry, message):
    with pytest.raises(ModelError) as info:
        normalize_parent(entry, 2)
    assert str(info.value).startswith(message), str(info.value)


def test_a_parent_is_listed_once():
    with pytest.raises(ModelError, match=r"parents\[1\].name: 'eth1' is listed twice"):
        normalize_parents([{"name": "eth1"}, {"name": "eth1", "mtu": 9000}])


# --- planning ----------------------------------------------------------------------------------------------

PARENT = nic("eth1", 2, kind="veth", mac_address="52:54:00:00:00:01", min_mtu=68, max_mtu=9216)


def child(name, ifindex, mtu=1500, **attrs):
    return macvlan(name, ifindex, mtu=mtu, **attrs)


def planned(links=(), parents=(), observed=(), parent=None):
    """(ordered actions, entries, parent entries) of a macvlan_state run, as the engine plans it."""
    snapshot = Snapshot(None, [dict(PARENT, **(parent or {})), *observed], {}, {})
    specs = [normalize_link(dict(link, netns=None), prefix="links[%d]." % i) for i, link in enumerate(links)]
    engine = LinkEngine(None, check_mode=True, multi=True)
    entries, parent_entries = engine.plan(specs, {None: snapshot}, normalize_parents(parents), None)
    actions = _plan.order_actions([a for e in parent_entries + entries for a in e["actions"]])
    return actions, entries, parent_entries


def steps(actions):
    return [(a["op"], a["name"]) for a in actions]


def refusal(**args):
    with pytest.raises(EngineError) as info:
        planned(**args)
    return str(info.value)


def test_the_parent_is_raised_before_the_child_that_needs_it_is_created():
    actions, entries, parents = planned(
        links=[{"name": "mvj", "parent": "eth1", "mtu": 9000}, {"name": "mvk", "parent": "eth1"}],
        parents=[{"name": "eth1", "promisc": False, "mtu": 9000}],
    )
    assert steps(actions) == [("set_mtu", "eth1"), ("create", "mvj"), ("create", "mvk")]
    assert (actions[0]["before"], actions[0]["after"]) == (1500, 9000)
    # Check mode's prediction: a link without mtu gets its parent's planned MTU.
    assert [entry["after"]["mtu"] for entry in entries] == [9000, 9000]
    assert parents[0]["before"] == {"promisc": False, "mtu": 1500, "link_state": "up"}


def test_without_the_parent_entry_the_big_child_is_refused():
    message = refusal(links=[{"name": "mvj", "parent": "eth1", "mtu": 9000}])
    assert message == (
        "links[0] (mvj): mtu: 9000 is larger than the MTU of parent 'eth1' (1500); a macvlan cannot exceed its parent"
    )


def test_a_child_above_the_parents_planned_mtu_is_refused_naming_both():
    message = refusal(
        links=[{"name": "mvj", "parent": "eth1", "mtu": 9000}],
        parents=[{"name": "eth1", "mtu": 4000}],
    )
    assert message.startswith(
        "links[0] (mvj): mtu: 9000 is larger than the MTU of parent 'eth1' (4000, as parents asks for it)"
    )


def test_the_parent_is_lowered_after_the_children_change_and_go():
    actions, dummy, dummy = planned(
        links=[{"name": "mvj", "parent": "eth1", "mtu": 1400}, {"name": "mvx", "state": "absent"}],
        parents=[{"name": "eth1", "promisc": False, "mtu": 1500}],
        observed=[child("mvj", 3, mtu=9000), child("mvx", 4, mtu=9000)],
        parent={"mtu": 9000},
    )
    assert steps(actions) == [("set_mtu", "mvj"), ("delete", "mvx"), ("set_mtu", "eth1")]


@pytest.mark.parametrize(
    "links, observed, who",
    [
        # listed without mtu: it keeps its 9000
        ([{"name": "mvj", "parent": "eth1"}], [child("mvj", 3, mtu=9000)], "links[0] (mvj) (9000)"),
        # not listed (unmanaged): its current MTU counts
        ([], [child("other", 3, mtu=8000)], "macvlan other (not managed by this task) (8000)"),
    ],
)
def test_lowering_below_a_child_is_refused_before_anything(links, observed, who):
    message = refusal(links=links, parents=[{"name": "eth1", "mtu": 1500}], observed=observed, parent={"mtu": 9000})
    assert message.startswith("parents[0].mtu: 1500 is below the MTU of %s on parent 'eth1'" % who), message


def test_a_child_the_run_deletes_does_not_hold_the_parent_up():
    actions, dummy, dummy = planned(
        links=[{"name": "mvj", "state": "absent"}],
        parents=[{"name": "eth1", "promisc": False, "mtu": 1500}],
        observed=[child("mvj", 3, mtu=9000)],
        parent={"mtu": 9000},
    )
    assert steps(actions) == [("delete", "mvj"), ("set_mtu", "eth1")]


def test_the_devices_range_is_checked():
    message = refusal(parents=[{"name": "eth1", "mtu": 9500}])
    assert message == (
        "parents[0].mtu: 9500 is out of the range of 'eth1': the kernel reports 68..9216 for it "
        "(IFLA_MIN_MTU..IFLA_MAX_MTU)"
    )
    # A kernel that does not report the range (before 4.19): the kernel itself decides.
    actions, dummy, dummy = planned(
        parents=[{"name": "eth1", "promisc": False, "mtu": 9500}], parent={"min_mtu": None, "max_mtu": None}
    )
    assert steps(actions) == [("set_mtu", "eth1")]
    # max_mtu 0 means no limit
    actions, dummy, dummy = planned(parents=[{"name": "eth1", "promisc": False, "mtu": 65000}], parent={"max_mtu": 0})
    assert steps(actions) == [("set_mtu", "eth1")]


def test_up_goes_first_and_down_last():
    actions, dummy, dummy = planned(
        links=[{"name": "mvd", "parent": "eth1"}], parents=[{"name": "eth1", "promisc": True, "link_state": "down"}]
    )
    assert steps(actions) == [("set_promisc", "eth1"), ("create", "mvd"), ("set_link_state", "eth1")]
    actions, dummy, dummy = planned(
        links=[{"name": "mvd", "parent": "eth1"}],
        parents=[{"name": "eth1", "promisc": False, "link_state": "up"}],
        parent={"link_state": "down"},
    )
    assert steps(actions) == [("set_link_state", "eth1"), ("create", "mvd")]


def test_omitted_mtu_and_state_are_left_alone():
    actions, dummy, parents = planned(
        parents=[{"name": "eth1", "promisc": False}], parent={"mtu": 9000, "link_state": "down"}
    )
    assert actions == [] and parents[0]["actions"] == []


def test_results_and_diff_of_a_parent():
    dummy, dummy, parents = planned(parents=[{"name": "eth1", "mtu": 9000, "link_state": "down"}])
    fact = _results.parent_fact(parents[0])  # check mode: predicted
    assert fact == {"name": "eth1", "promisc": True, "promiscuity": None, "mtu": 9000, "link_state": "down"}
    before, after = _results.parents_diff(parents, {"eth1": fact})
    assert before == {"eth1": {"promisc": False, "mtu": 1500, "link_state": "up"}}
    assert after == {"eth1": {"promisc": True, "mtu": 9000, "link_state": "down"}}


def test_describe_a_parent_step():
    actions, dummy, dummy = planned(parents=[{"name": "eth1", "promisc": False, "mtu": 9000}])
    assert _plan.describe(actions[0]) == "set mtu of eth1: 1500 -> 9000 in the host namespace"


# --- persistence -------------------------------------------------------------------------------------------


def want(parents, links=()):
    return _persist.prepare({"links": list(links), "parents": parents})


def text_of(plan, suffix):
    return "".join(spec.get("content", "") for path, spec in plan.files.items() if path.endswith(suffix))


def test_a_persisted_parent_mtu_below_a_persisted_childs_is_refused():
    with pytest.raises(_persist.PersistError) as info:
        want([{"name": "eth1", "mtu": 1500}], [{"name": "mvj", "parent": "eth1", "mtu": 9000}])
    assert str(info.value) == (
        "parents[0].mtu: 1500 is below the MTU of links[0] (mvj), 9000, on parent 'eth1': a macvlan cannot exceed "
        "its parent"
    )


def test_networkd_drop_in_follows_parents():
    desired = want([{"name": "eth1", "promisc": False, "mtu": 9000, "link_state": "up"}])
    plan = networkd.plan(desired, PREFIX, ND, {}, {"eth1": "10-eth1.network"}, None, 252)
    path = ND + "/10-eth1.network.d/" + PREFIX + "parent.conf"
    assert plan.files[path]["content"] == (
        _persist.HEADER + "# Parent: eth1\n[Link]\nMTUBytes=9000\nActivationPolicy=up\n"
    )
    assert not any(p.endswith("promisc.conf") for p in plan.files)  # promisc false: no flag file
    assert plan.warnings == []
    on_disk = listing_of(plan)
    # Listed without mtu and link_state: our drop-in goes; not listed: it stays.
    gone = networkd.plan(want([{"name": "eth1", "promisc": False}]), PREFIX, ND, on_disk, {"eth1": "10-eth1.network"})
    assert path in gone.remove
    kept = networkd.plan(want([]), PREFIX, ND, on_disk, {"eth1": "10-eth1.network"})
    assert path not in kept.remove and path not in kept.files


def test_networkd_drop_ins_left_where_the_parent_no_longer_is_are_removed():
    """eth1's drop-ins (its flag, its MTU) went into 10-eth1.network.d while networkd_parent_network named that file;
    once it does not (networkd now reports another .network, or none), they are written at the new place and
    removed from the old one, which networkd would otherwise still apply to eth1."""
    asked = [{"name": "eth1", "promisc": True, "mtu": 9000}]
    on_disk = listing_of(networkd.plan(want(asked), PREFIX, ND, {}, {"eth1": "10-eth1.network"}, None, 252))
    old = [ND + "/10-eth1.network.d/" + PREFIX + name for name in ("promisc.conf", "parent.conf")]
    assert set(old) <= set(on_disk)
    moved = networkd.plan(want(asked), PREFIX, ND, on_disk, None, None, 252)
    assert set(old) <= moved.remove
    new = ND + "/" + PREFIX + "parent-eth1.network.d/" + PREFIX + "promisc.conf"
    assert "Promiscuous=yes" in moved.files[new]["content"]
    # A parent that is neither listed nor has links here: its drop-ins stay where they are.
    assert not set(old) & networkd.plan(want([]), PREFIX, ND, on_disk, None, None, 252).remove


def test_networkd_says_when_link_state_is_not_read():
    desired = want([{"name": "eth1", "promisc": False, "link_state": "down"}])
    plan = networkd.plan(desired, PREFIX, ND, {}, None, None, 247)
    assert "ActivationPolicy=down\n" in text_of(plan, PREFIX + "parent.conf")
    assert plan.warnings == [
        "parents[0] (eth1): link_state is not persisted: systemd-networkd reads ActivationPolicy= from systemd 248 "
        "on, and this host has systemd 247"
    ]


def test_networkd_reads_the_systemd_version_for_every_activation_policy():
    """ActivationPolicy= (networkd 248 and later) is written for a parent's link_state and for a link that is
    down: either makes the run read the host's systemd version, and on 247 both are reported."""
    assert networkd.needs_systemd_version(want([{"name": "eth1", "promisc": False, "link_state": "up"}]))
    assert not networkd.needs_systemd_version(want([{"name": "eth1", "promisc": True}]))
    down = _persist.prepare({"links": [{"name": "mv0", "parent": "eth1", "link_state": "down"}], "parents": []})
    assert networkd.needs_systemd_version(down)
    plan = networkd.plan(down, PREFIX, ND, {}, None, None, 247)
    assert "ActivationPolicy=down\n" in text_of(plan, PREFIX + "link-mv0.network")
    assert plan.warnings == [
        "links[0] (mv0): link_state down is not persisted: systemd-networkd reads ActivationPolicy= from systemd "
        "248 on, and this host has systemd 247 (the link comes up at boot)"
    ]
    assert networkd.plan(down, PREFIX, ND, {}, None, None, 252).warnings == []


def test_networkmanager_unit_per_parent():
    plan = nm.plan(want([{"name": "br-lan", "promisc": False, "mtu": 9000}]), PREFIX, NM, SD, {})
    unit = SD + "/" + PREFIX + "parent-br\\x2dlan.service"
    link = SD + "/multi-user.target.wants/" + PREFIX + "parent-br\\x2dlan.service"
    content = plan.files[unit]["content"]
    assert "ExecStart=ip link set dev br-lan mtu 9000\n" in content
    assert "Before=network-pre.target NetworkManager.service\n" in content
    assert "ExecStart=ip link set dev br-lan up" not in content
    assert plan.files[link] == {"symlink": unit}
    assert not any("promisc@" in p for p in plan.files)
    on_disk = listing_of(plan)
    gone = nm.plan(want([{"name": "br-lan", "promisc": False}]), PREFIX, NM, SD, on_disk)
    assert {unit, link} <= gone.remove
    kept = nm.plan(want([]), PREFIX, NM, SD, on_disk)
    assert not ({unit, link} & kept.remove)


def test_networkmanager_warns_that_down_may_not_last():
    plan = nm.plan(want([{"name": "eth1", "link_state": "down"}]), PREFIX, NM, SD, {})
    assert "ExecStart=ip link set dev eth1 down\n" in text_of(plan, "parent-eth1.service")
    assert any(w.startswith("parents[0] (eth1): link_state down is persisted by a unit") for w in plan.warnings)


def test_ifupdown_parent_stanza_and_the_links_set_the_mtu_first():
    link = {"name": "mvj", "parent": "eth1", "mtu": 9000}
    plan = ifupdown.plan(want([{"name": "eth1", "mtu": 9000, "link_state": "down"}], [link]), PREFIX, IF, {})
    parent = text_of(plan, "parent-eth1")
    assert "    pre-up test ! -e /sys/class/net/eth1 || ip link set dev eth1 mtu 9000\n" in parent
    assert parent.index("promisc on") < parent.index("ip link set dev eth1 down\n")
    stanza = text_of(plan, "link-mvj")
    assert stanza.index("pre-up ip link set dev eth1 mtu 9000\n") < stanza.index("ip link add link eth1")
    # A parent not listed keeps its file, and the link's stanza still follows what that file sets.
    on_disk = listing_of(plan)
    again = ifupdown.plan(want([], [link]), PREFIX, IF, on_disk)
    assert text_of(again, "link-mvj") == stanza
    # promisc false, no mtu, no state: nothing to set, the file goes.
    gone = ifupdown.plan(want([{"name": "eth1", "promisc": False}], [link]), PREFIX, IF, on_disk)
    assert IF + "/" + PREFIX + "parent-eth1" in gone.remove
    assert "eth1 mtu" not in text_of(gone, "link-mvj")


def test_ifupdown_promisc_only_file_is_unchanged():
    """A parent with only the flag gets the same file as before parents had mtu and link_state (no rewrite on
    upgrade)."""
    assert ifupdown.parent_file("eth1") == "".join(
        [
            _persist.HEADER,
            "# The promiscuous flag of eth1, a macvlan parent: set whenever ifupdown brings eth1 up (at boot:\n",
            "# networking.service). A second iface stanza for eth1: ifupdown applies every stanza of an interface.\n",
            "# If a later stanza creates eth1, the stanzas of its links set the flag.\n",
            "auto eth1\n",
            "iface eth1 inet manual\n",
            "    up test ! -e /sys/class/net/eth1 || ip link set dev eth1 promisc on\n",
        ]
    )
