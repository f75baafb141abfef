"""The persistence planners of each backend (pure, no root): golden files, idempotence, ownership and purge."""

from __future__ import annotations

import pytest

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
    bundle,
    desired,
    file_entry,
    golden,
    listing_of,
)

HOST_ACCESS = "60-hostnet-macvlan-host-access-"


def plan_nd(want, listing=None, prefix=PREFIX, mapping=None, reported=None):
    return networkd.plan(want, prefix, ND, listing or {}, mapping, reported)


def plan_nm(want, listing=None, prefix=PREFIX):
    return nm.plan(want, prefix, NM, SD, listing or {})


def plan_if(want, listing=None, prefix=PREFIX):
    return ifupdown.plan(want, prefix, IF, listing or {})


PLANNERS = {"networkd": plan_nd, "networkmanager": plan_nm, "ifupdown": plan_if}


# --- golden files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", sorted(PLANNERS))
def test_golden(backend):
    plan = PLANNERS[backend](desired())
    golden("persist_%s.txt" % backend, bundle(plan))
    assert plan.remove == set()


def test_golden_networkd_with_the_administrators_network():
    """eth1 is configured by the administrator's 10-eth1.network (the user's mapping) and eth3 by the file
    networkd reports: drop-ins go into their .d directories; only eth2.10 gets the collection's own .network."""
    plan = plan_nd(
        desired(), mapping={"eth1": "/usr/lib/systemd/network/10-eth1.network"}, reported={"eth3": "20-e3.network"}
    )
    golden("persist_networkd_admin.txt", bundle(plan))


@pytest.mark.parametrize("backend", sorted(PLANNERS))
def test_a_second_plan_on_the_written_files_changes_nothing(backend):
    want = desired()
    first = PLANNERS[backend](want)
    on_disk = listing_of(first)
    second = PLANNERS[backend](want, on_disk)
    assert _persist.drift(second, on_disk) == []
    assert second.files == first.files


@pytest.mark.parametrize("backend", sorted(PLANNERS))
def test_what_a_stack_cannot_express_is_reported(backend):
    warnings = "\n".join(PLANNERS[backend](desired()).warnings)
    expected = {
        "networkd": [
            "links[3] (mv-src): not persisted: nodst (systemd-networkd",
            "links[3] (mv-src): bclim is not persisted: systemd-networkd writes it (BroadcastQueueThreshold=) from "
            "systemd 256 on, and this host has no systemd",
        ],
        "networkmanager": [
            "links[0] (mv-web): not persisted: bcqueuelen (NetworkManager",
            "links[3] (mv-src): not persisted: bclim, nodst, source_macs (NetworkManager",
            "links[2] (mv-vepa): link_state down is persisted as autoconnect=false",
        ],
        "ifupdown": ["links[3] (mv-src): not persisted: bclim (ifupdown"],
    }[backend]
    for text in expected:
        assert text in warnings
    assert "mv-priv" not in warnings and "eth0" not in warnings


# --- systemd-networkd -----------------------------------------------------------------------------------


def nd(name):
    return ND + "/" + name


def test_networkd_purge_rules():
    own = PREFIX + "parent-eth1.network"
    on_disk = listing_of(plan_nd(desired()))
    # Files that are not ours, ours under another prefix, and a link of ours on a parent nobody manages now.
    foreign = {
        nd("50-admin.network"): file_entry("[Match]\nName=eth9\n"),
        nd("60-other-mv-priv.netdev"): file_entry("x"),
        nd(HOST_ACCESS + "link-mv-host.netdev"): file_entry("x"),
        nd(own + ".d/" + HOST_ACCESS + "link-mv-host.conf"): file_entry("x"),
        nd(PREFIX + "link-mv-far.netdev"): file_entry("x"),
        nd(PREFIX + "link-mv-far.network"): file_entry("x"),
        nd(PREFIX + "parent-eth9.network"): file_entry(networkd.parent_network("eth9")),
        nd(PREFIX + "parent-eth9.network.d/" + PREFIX + "link-mv-far.conf"): file_entry("x"),
    }
    on_disk.update(foreign)

    # Without purge: mv-priv and mvtap0 are not listed any more: kept; mv-web is listed absent: removed.
    links = [{"name": "mv-web", "state": "absent"}, {"name": "mv-vepa", "parent": "eth1", "mode": "vepa"}]
    plan = plan_nd(desired(links=links, parents=[]), on_disk)
    assert sorted(p for p in plan.remove) == sorted(
        [
            nd(PREFIX + "link-mv-web.netdev"),
            nd(PREFIX + "link-mv-web.network"),
            nd(own + ".d/" + PREFIX + "link-mv-web.conf"),
        ]
    )

    # With purge: unlisted links on managed parents (eth1, and eth3 listed in parents) go, except purge_exclude;
    # mv-src on eth2.10 and mv-far on eth9 are on parents this run does not manage: kept.
    parents = [{"name": "eth3", "promisc": False}]
    plan = plan_nd(desired(links=links, parents=parents, purge=True, purge_exclude=["mv-priv"]), on_disk)
    removed = sorted(p[len(ND) + 1 :] for p in plan.remove)
    assert removed == sorted(
        [
            PREFIX + "link-mv-web.netdev",
            PREFIX + "link-mv-web.network",
            own + ".d/" + PREFIX + "link-mv-web.conf",
            PREFIX + "link-mvtap0.netdev",
            PREFIX + "link-mvtap0.network",
            PREFIX + "parent-eth3.network.d/" + PREFIX + "link-mvtap0.conf",
            # eth3 is listed with promisc false: its flag goes; then nothing is attached to its own .network
            PREFIX + "parent-eth3.network.d/" + PREFIX + "promisc.conf",
            PREFIX + "parent-eth3.network",
        ]
    )
    for path in foreign:
        assert path not in plan.remove and path not in plan.files
    # eth1's flag: eth1 is not listed in parents now: its file is left as it is (the kernel rule).
    assert nd(own + ".d/" + PREFIX + "promisc.conf") not in plan.remove
    assert nd(own + ".d/" + PREFIX + "promisc.conf") not in plan.files


def test_networkd_purge_without_managed_parents_removes_nothing():
    on_disk = listing_of(plan_nd(desired()))
    plan = plan_nd(desired(links=[], parents=[], purge=True), on_disk)
    assert plan.remove == set() and plan.files == {}


def test_networkd_own_parent_network_stays_while_another_prefix_uses_it():
    """The host-access role's drop-in (another prefix) in our parent .network's directory keeps the file."""
    own = PREFIX + "parent-eth1.network"
    links = [{"name": "mv-a", "parent": "eth1"}]
    on_disk = listing_of(plan_nd(desired(links=links, parents=[])))
    on_disk[nd(own + ".d/" + HOST_ACCESS + "link-mv-host.conf")] = file_entry("x")
    plan = plan_nd(desired(links=[{"name": "mv-a", "state": "absent"}], parents=[]), on_disk)
    assert nd(own) not in plan.remove
    del on_disk[nd(own + ".d/" + HOST_ACCESS + "link-mv-host.conf")]
    plan = plan_nd(desired(links=[{"name": "mv-a", "state": "absent"}], parents=[]), on_disk)
    assert nd(own) in plan.remove
    assert networkd.prune_dirs(plan, on_disk, PREFIX, ND) == [nd(own + ".d")]


def test_networkd_shares_a_parent_network_of_another_prefix():
    """A run with another prefix finds the collection's parent .network for eth1 and attaches to it, instead of
    writing a second .network for eth1 (networkd would only read the first)."""
    on_disk = listing_of(plan_nd(desired(links=[{"name": "mv-a", "parent": "eth1"}], parents=[])))
    shim = desired(links=[{"name": "mv-host", "parent": "eth1", "addresses": ["192.0.2.254/32"]}], parents=[])
    plan = plan_nd(shim, on_disk, prefix=HOST_ACCESS)
    assert nd(HOST_ACCESS + "parent-eth1.network") not in plan.files
    assert nd(PREFIX + "parent-eth1.network.d/" + HOST_ACCESS + "link-mv-host.conf") in plan.files
    # ... and the other way round: the topology finds the shim's parent .network.
    on_disk = listing_of(plan_nd(shim, {}, prefix=HOST_ACCESS))
    plan = plan_nd(desired(links=[{"name": "mv-a", "parent": "eth1"}], parents=[]), on_disk)
    assert nd(PREFIX + "parent-eth1.network") not in plan.files
    assert nd(HOST_ACCESS + "parent-eth1.network.d/" + PREFIX + "link-mv-a.conf") in plan.files
    # A hand-edited copy is not recognised as the collection's: ours is written.
    edited = {nd(HOST_ACCESS + "parent-eth1.network"): file_entry(networkd.parent_network("eth1") + "DHCP=yes\n")}
    plan = plan_nd(desired(links=[{"name": "mv-a", "parent": "eth1"}], parents=[]), edited)
    assert nd(PREFIX + "parent-eth1.network") in plan.files


@pytest.mark.parametrize(
    "match, used",
    [
        ("Name=eth1", True),
        ("Name=eth0 eth*", True),
        ("Name=\nName=eth1", True),
        ("Name=eth2", False),
        ("Name=eth1\nMACAddress=52:54:00:00:00:01", False),
        ("Name=!eth2", False),
    ],
)
def test_networkd_attaches_to_the_administrators_network_that_networkd_would_choose(match, used):
    """networkd does not report a .network for eth1 (not running: an image build) and no mapping is given: the
    administrator's 70-eth1.network, which matches eth1 by name, is the one networkd will use, so the links attach
    there; the collection's own parent .network (60-..., it would sort first and take eth1 from the administrator's
    configuration) is written only when no file matches by name alone."""
    admin = {nd("70-eth1.network"): file_entry("[Match]\n%s\n\n[Network]\nDHCP=yes\n" % match)}
    plan = plan_nd(desired(links=[{"name": "mv-a", "parent": "eth1"}], parents=[]), admin)
    attached = nd("70-eth1.network.d/" + PREFIX + "link-mv-a.conf") in plan.files
    own = nd(PREFIX + "parent-eth1.network") in plan.files
    assert (attached, own) == (used, not used), sorted(plan.files)


def test_networkd_link_moved_to_another_parent_or_namespace_loses_its_old_files():
    on_disk = listing_of(plan_nd(desired(links=[{"name": "mv-a", "parent": "eth1"}], parents=[])))
    plan = plan_nd(desired(links=[{"name": "mv-a", "parent": "eth2"}], parents=[]), on_disk)
    assert nd(PREFIX + "parent-eth1.network.d/" + PREFIX + "link-mv-a.conf") in plan.remove
    assert nd(PREFIX + "parent-eth1.network") in plan.remove
    assert nd(PREFIX + "parent-eth2.network.d/" + PREFIX + "link-mv-a.conf") in plan.files
    plan = plan_nd(desired(links=[{"name": "mv-a", "parent": "eth1", "link_netns": "ns1"}], parents=[]), on_disk)
    assert set(plan.remove) == set(on_disk)


def test_networkd_promisc_follows_parents_only():
    drop = nd(PREFIX + "parent-eth1.network.d/" + PREFIX + "promisc.conf")
    on_disk = listing_of(plan_nd(desired(links=[], parents=[{"name": "eth1"}])))
    assert on_disk[drop].content.endswith("Promiscuous=yes\n")
    # Not listed: left as it is, with purge too.
    plan = plan_nd(desired(links=[{"name": "mv-a", "parent": "eth1"}], parents=[], purge=True), on_disk)
    assert drop not in plan.remove and drop not in plan.files
    # Listed with false: removed (and the own .network with it, nothing else being attached).
    plan = plan_nd(desired(links=[], parents=[{"name": "eth1", "promisc": False}]), on_disk)
    assert plan.remove == {drop, nd(PREFIX + "parent-eth1.network")}


def test_networkd_nopromisc_passthru_sets_promiscuous_no():
    link = {"name": "mvtap0", "parent": "eth3", "mode": "passthru", "nopromisc": True}
    plan = plan_nd(desired(links=[link], parents=[]))
    drop = nd(PREFIX + "parent-eth3.network.d/" + PREFIX + "promisc.conf")
    assert plan.files[drop]["content"].endswith("Promiscuous=no\n")
    # The parent asked promiscuous as well: networkd cannot express both, the flag wins and it is reported.
    plan = plan_nd(desired(links=[link], parents=[{"name": "eth3"}]))
    assert plan.files[drop]["content"].endswith("Promiscuous=yes\n")
    assert any("nopromisc is not persisted" in w for w in plan.warnings)


# --- NetworkManager -------------------------------------------------------------------------------------


def test_networkmanager_purge_and_the_promisc_unit():
    on_disk = listing_of(plan_nm(desired()))
    unit = SD + "/" + PREFIX + "promisc@.service"
    wants = SD + "/multi-user.target.wants/" + PREFIX + "promisc@eth1.service"
    assert on_disk[wants].target == unit
    on_disk[NM + "/Wired connection 1.nmconnection"] = file_entry("[connection]\n")
    on_disk[NM + "/" + HOST_ACCESS + "link-mv-host.nmconnection"] = file_entry("[macvlan]\nparent=eth1\n")
    kept = [{"name": "mv-web", "parent": "eth1"}]
    plan = plan_nm(desired(links=kept, parents=[], purge=True), on_disk)
    assert sorted(plan.remove) == [
        NM + "/" + PREFIX + "link-mv-priv.nmconnection",
        NM + "/" + PREFIX + "link-mv-vepa.nmconnection",
    ]
    # eth1 listed false: the unit link goes, and the unit with its last link.
    plan = plan_nm(desired(links=kept, parents=[{"name": "eth1", "promisc": False}]), on_disk)
    assert {wants, unit} <= plan.remove


def test_networkmanager_routes_it_cannot_apply_are_named_not_dropped():
    """NetworkManager applies IPv4 routes only with an IPv4 address and IPv6 routes only with ipv6.method manual or
    auto: such routes are written where it applies them, and a warning names the others."""
    links = [
        {"name": "mv0", "parent": "eth1", "addresses": ["192.0.2.1/24"], "routes": [{"dest": "2001:db8:1::/64"}]},
        {"name": "mv1", "parent": "eth1", "routes": [{"dest": "203.0.113.0/24"}]},
        {"name": "mv2", "parent": "eth1", "ipv6_accept_ra": True, "routes": [{"dest": "2001:db8:2::/64"}]},
    ]
    plan = plan_nm(desired(links=links, parents=[]))
    text = {name: plan.files[NM + "/" + PREFIX + "link-%s.nmconnection" % name]["content"] for name in ("mv0", "mv2")}
    assert "2001:db8:1::/64" not in text["mv0"] and "address1=192.0.2.1/24" in text["mv0"]
    assert "[ipv6]\nmethod=auto\nroute1=2001:db8:2::/64,::,1024\n" in text["mv2"]
    warned = [w for w in plan.warnings if "routes not persisted" in w]
    assert [w.split(":")[0] for w in warned] == ["links[0] (mv0)", "links[1] (mv1)"], plan.warnings
    assert "2001:db8:1::/64" in warned[0] and "203.0.113.0/24" in warned[1]


def test_networkmanager_refuses_a_connection_uuid_another_prefix_already_has():
    """The topology's link host-access-mv (default prefix) and the host-access role's shim mv (its own prefix) spell
    the same connection id, so the same UUID, and NetworkManager would load one of them only: whichever run comes
    second is refused, naming the link, the prefix and the other file; a rerun of the first is not."""
    topology = desired(links=[{"name": "host-access-mv", "parent": "eth1"}], parents=[])
    shim = desired(links=[{"name": "mv", "parent": "eth1"}], parents=[])
    for first, first_prefix, second, second_prefix in (
        (topology, PREFIX, shim, HOST_ACCESS),
        (shim, HOST_ACCESS, topology, PREFIX),
    ):
        written = plan_nm(first, prefix=first_prefix)
        uuids = {
            path: nm.keyfile_uuid(want["content"])
            for path, want in written.files.items()
            if path.endswith(".nmconnection")
        }
        assert nm.plan(first, first_prefix, NM, SD, listing_of(written), uuids).files == written.files
        with pytest.raises(_persist.PersistError) as err:
            nm.plan(second, second_prefix, NM, SD, {}, uuids)
        assert str(err.value).startswith("links[0].name: ")
        assert "with prefix %r" % second_prefix in str(err.value) and next(iter(uuids)) in str(err.value)


def test_networkmanager_unit_instance_names_are_escaped():
    plan = plan_nm(desired(links=[], parents=[{"name": "br-lan.1"}, {"name": ".x@y"}]))
    names = sorted(p.rsplit("/", 1)[1] for p in plan.files if "wants" in p)
    assert names == [PREFIX + "promisc@\\x2ex\\x40y.service", PREFIX + "promisc@br\\x2dlan.1.service"]
    assert nm.systemd_unescape("br\\x2dlan.1") == "br-lan.1"


# --- ifupdown -------------------------------------------------------------------------------------------


def test_ifupdown_purge_and_parents():
    on_disk = listing_of(plan_if(desired()))
    parent_file = IF + "/" + PREFIX + "parent-eth1"
    assert parent_file in on_disk
    on_disk[IF + "/" + HOST_ACCESS + "link-mv-host"] = file_entry("x")
    on_disk[IF + "/eth9"] = file_entry("auto eth9\n")
    links = [{"name": "mv-web", "parent": "eth1"}]
    plan = plan_if(desired(links=links, parents=[], purge=True), on_disk)
    assert sorted(plan.remove) == [IF + "/" + PREFIX + "link-mv-priv", IF + "/" + PREFIX + "link-mv-vepa"]
    plan = plan_if(desired(links=links, parents=[{"name": "eth1", "promisc": False}]), on_disk)
    assert plan.remove == {parent_file}


def test_ifupdown_parent_file_names_are_what_source_directory_reads():
    plan = plan_if(desired(links=[], parents=[{"name": "eth2.10"}, {"name": "br_0"}]))
    names = sorted(p.rsplit("/", 1)[1] for p in plan.files)
    assert names == [PREFIX + "parent-br_5f0", PREFIX + "parent-eth2_2e10"]
    assert ifupdown.parent_of(plan_if(desired()).files[IF + "/" + PREFIX + "link-mv-src"]["content"]) == "eth2.10"


@pytest.mark.parametrize("name", ["mv.10", "mv@x", "mv+1"])
def test_ifupdown_refuses_link_names_it_reads_otherwise(name):
    with pytest.raises(
        _persist.PersistError,
        match=r"links\[0\]\.name: '%s' cannot be written to ifupdown" % name.replace("+", r"\+").replace(".", r"\."),
    ):
        plan_if(desired(links=[{"name": name, "parent": "eth1"}], parents=[]))


def stanza_lines(content):
    """The option lines of a stanza (comments and the auto/iface lines left out), stripped."""
    return [line.strip() for line in content.splitlines() if line.startswith("    ")]


def test_ifupdown_link_brings_its_parent_up_first_and_sets_the_flag_of_ours():
    """At boot ``ifup -a`` reads the directory before the administrator's later stanzas (Debian's installer writes
    the source line first): a link must not depend on its parent's stanza having run. Its first command brings the
    parent up when it does not exist; a parent with a flag stanza of ours gets the flag before the link is made."""
    files = plan_if(desired()).files
    for name, parent, promisc in [
        ("mv-web", "eth1", True),
        ("mv-priv", "eth1", True),
        ("mv-vepa", "eth1", True),
        ("mv-src", "eth2.10", False),
        ("mvtap0", "eth3", False),
    ]:
        lines = stanza_lines(files[IF + "/" + PREFIX + "link-" + name]["content"])
        assert lines[0] == "pre-up test -e /sys/class/net/%s || ifup %s" % (parent, parent), lines
        create = [i for i, line in enumerate(lines) if " ip link add link %s name %s " % (parent, name) in line]
        flag = [i for i, line in enumerate(lines) if line == "pre-up ip link set dev %s promisc on" % parent]
        assert len(create) == 1, lines
        assert flag == ([1] if promisc else []), lines
        assert create[0] == 1 + len(flag), lines


def test_ifupdown_parent_stanza_leaves_a_parent_that_a_later_stanza_creates_to_its_links():
    """ifupdown runs every stanza of an interface in turn: ours may run before the one that creates the parent
    (a bridge, a bond, a veth), and a failing command would stop ifup of that parent, and of its links."""
    content = plan_if(desired()).files[IF + "/" + PREFIX + "parent-eth1"]["content"]
    assert stanza_lines(content) == ["up test ! -e /sys/class/net/eth1 || ip link set dev eth1 promisc on"]
    assert "auto eth1\niface eth1 inet manual\n" in content


def test_ifupdown_link_sets_the_flag_while_the_parents_stanza_of_ours_stays():
    """The flag in a link's stanza follows the parent's flag file after the plan: kept for a parent the run does
    not list (the kernel rule), gone with the file when the parent is asked not promiscuous."""
    on_disk = listing_of(plan_if(desired()))
    web = IF + "/" + PREFIX + "link-mv-web"
    links = [{"name": "mv-web", "parent": "eth1"}]
    kept = plan_if(desired(links=links, parents=[]), on_disk)
    assert IF + "/" + PREFIX + "parent-eth1" not in kept.remove
    assert "pre-up ip link set dev eth1 promisc on" in stanza_lines(kept.files[web]["content"])
    off = plan_if(desired(links=links, parents=[{"name": "eth1", "promisc": False}]), on_disk)
    assert off.remove == {IF + "/" + PREFIX + "parent-eth1"}
    assert "promisc" not in off.files[web]["content"]
    fresh = plan_if(desired(links=links, parents=[]))
    assert "promisc" not in fresh.files[web]["content"]
