"""Issue 9: the transaction holds. Exact journaled rollback, one guarded transaction, the namespace lock, input
that cannot reach the kernel wrongly, and every fault ends clean.

The oracle is the full iproute2 dump (``oracle.full_dump``: links, addresses and routes of every table in both
families, only asynchronous fields masked) taken before and after: equal after any failed or rolled-back run,
equal apart from the named links after a success. Faults are injected into the module process through Ansible
by ``fault_hook/sitecustomize.py`` (``faults`` fixture): no test hook in production code.

Each test's docstring says which item of issue 9 ("What was seen" 1-10, faults) it proves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import faults_helpers
import pytest
from conftest import ip_json
from faults_helpers import (
    HOOK_DIR,
    assert_clean_failure,
    dump_cmd,
    holding_lock,
    lock_path,
    numbers,
    quiet_netns,
    read_log,
)
from oracle import assert_same, assert_same_except, full_dump, load

faults = faults_helpers.faults  # the fixture: fault injection into the module process


@pytest.fixture
def host(lab):
    """A namespace standing for a host: veth parents p0, p1 (managed by the runs) and p9 (never managed)."""
    ns = quiet_netns(lab, "host")
    for i in (0, 1, 9):
        lab.veth(ns, "p%d" % i, "q%d" % i)
    return ns


def kinds(ns):
    """{name: (kind, parent)} of every link of ns, per iproute2."""
    return {
        link["ifname"]: (link.get("linkinfo", {}).get("info_kind"), link.get("link"))
        for link in ip_json("-n", ns, "-d", "link", "show")
    }


def twenty_links():
    """A 20-link desired state on p0 and p1, both parents promiscuous: 22 steps (2 promisc, 20 creations)."""
    links = [{"name": "mv%02d" % i, "parent": "p%d" % (i % 2)} for i in range(20)]
    return {"links": links, "parents": [{"name": "p0", "promisc": True}, {"name": "p1", "promisc": True}]}


# ---------------------------------------------------------------------------------------------------------------
# The oracle itself: it must be able to fail.
# ---------------------------------------------------------------------------------------------------------------


def expect_difference(ns, before, *needles):
    with pytest.raises(AssertionError) as caught:
        assert_same(ns, before, timeout=0.3)
    text = str(caught.value)
    for needle in needles:
        assert needle in text, "the oracle's message does not name %r:\n%s" % (needle, text)


def test_oracle_detects_a_changed_route_protocol(lab):
    """A route re-added with another protocol (same dest, dev, table) is a difference."""
    ns = quiet_netns(lab, "oracle")
    lab.veth(ns, "p0", "q0")
    lab.ip(ns, "route", "add", "198.51.100.0/24", "dev", "p0", "proto", "static", "table", "100")
    before = full_dump(ns)
    assert_same(ns, before, timeout=0)
    lab.ip(ns, "route", "del", "198.51.100.0/24", "dev", "p0", "table", "100")
    lab.ip(ns, "route", "add", "198.51.100.0/24", "dev", "p0", "proto", "42", "table", "100")
    expect_difference(ns, before, "route missing", "static", "route extra")


def test_oracle_detects_an_added_address_flag(lab):
    """An address re-added with noprefixroute (same address and prefix) is a difference; a finite lifetime
    counting down is not, but its kind (finite or forever) is compared."""
    ns = quiet_netns(lab, "oracle")
    lab.veth(ns, "p0", "q0")
    lab.ip(ns, "addr", "add", "192.0.2.10/24", "dev", "p0")
    lab.ip(ns, "addr", "add", "2001:db8:6::10/64", "dev", "p0", "nodad", "valid_lft", "3600", "preferred_lft", "3000")
    before = full_dump(ns)
    time.sleep(1.1)
    assert_same(ns, before, timeout=0)  # the remaining lifetime changed: masked
    lab.ip(ns, "addr", "del", "192.0.2.10/24", "dev", "p0")
    lab.ip(ns, "addr", "add", "192.0.2.10/24", "dev", "p0", "noprefixroute")
    expect_difference(ns, before, "address on p0 missing", "noprefixroute")
    lab.ip(ns, "addr", "del", "192.0.2.10/24", "dev", "p0")
    lab.ip(ns, "addr", "add", "192.0.2.10/24", "dev", "p0")
    assert_same(ns, before)
    lab.ip(ns, "addr", "change", "2001:db8:6::10/64", "dev", "p0", "valid_lft", "forever", "preferred_lft", "forever")
    expect_difference(ns, before, "2001:db8:6::10", "finite")


def test_oracle_detects_a_changed_ifindex_and_ignores_only_named_links(lab):
    """A link deleted and re-created identically (name, MAC, mode) has a new ifindex: a difference.
    assert_same_except ignores the named links (and routes through them) and nothing else."""
    ns = quiet_netns(lab, "oracle")
    lab.veth(ns, "p0", "q0")
    lab.ip(ns, "link", "add", "mvx", "link", "p0", "address", "02:00:00:00:0a:01", "type", "macvlan", "mode", "bridge")
    before = full_dump(ns)
    lab.ip(ns, "link", "del", "mvx")
    lab.ip(ns, "link", "add", "mvx", "link", "p0", "address", "02:00:00:00:0a:01", "type", "macvlan", "mode", "bridge")
    expect_difference(ns, before, "link mvx: ifindex")
    assert_same_except(ns, before, ["mvx"], timeout=0)
    lab.ip(ns, "link", "set", "q0", "mtu", "1400")
    with pytest.raises(AssertionError, match="link q0: mtu 1500 -> 1400"):
        assert_same_except(ns, before, ["mvx"], timeout=0.3)


# ---------------------------------------------------------------------------------------------------------------
# The fault hook: it reaches the module process through Ansible, and only when asked.
# ---------------------------------------------------------------------------------------------------------------


def test_fault_hook_injects_a_kernel_refusal_into_the_module_through_ansible(lab, ansible, faults, host):
    """errno:1 at the first apply reaches the module (from AnsiballZ's zip) as the module's own NetlinkFailure:
    the run fails with the kernel's words for EPERM and nothing changed."""
    before = full_dump(host)
    run = faults.run(
        ansible, "macvlan", {"method": "apply", "at": 1, "raise": "errno:1"}, name="mv0", parent="p0", netns=host
    )
    fired = run.assert_fired()
    assert fired["call"] == 1
    msg = assert_clean_failure(run.result, rolled_back=False)
    assert os.strerror(1) in msg
    assert_same(host, before)


@pytest.mark.parametrize("python", sorted({sys.executable, "/usr/bin/python3"}))
def test_fault_hook_is_inert_without_its_variable(python):
    """With the hook first on PYTHONPATH, Python (Debian's own /usr/bin/python3 included, whose sitecustomize it
    shadows) starts normally; the finder exists only when HOSTNET_TEST_FAULT is set."""
    code = "import sys, sitecustomize; print(sitecustomize.__file__); print([type(f).__name__ for f in sys.meta_path])"
    env = {k: v for k, v in os.environ.items() if k != "HOSTNET_TEST_FAULT"}
    env["PYTHONPATH"] = str(HOOK_DIR)
    plain = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert plain.stdout.splitlines()[0].startswith(str(HOOK_DIR))
    assert "HostnetFaultFinder" not in plain.stdout.splitlines()[1]
    env["HOSTNET_TEST_FAULT"] = json.dumps({"method": "apply", "at": 1})
    armed = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert armed.stdout.splitlines()[1].startswith("['HostnetFaultFinder'")


# ---------------------------------------------------------------------------------------------------------------
# 1. Rollback replays what was applied, never the plan.
# ---------------------------------------------------------------------------------------------------------------


def test_rollback_never_deletes_links_another_actor_created(lab, ansible_default, faults, host, tmp_path):
    """Item 1: right before the first step, another actor creates o0..o9 on p9 (a parent the run does not
    manage). The run that planned o0..o9 on p0 fails on EEXIST; its rollback deletes nothing: the foreign links
    remain exactly as the foreign actor made them (full dump taken right after it)."""
    snapshot = tmp_path / "after-foreign.json"
    create = "; ".join("ip -n %s link add o%d link p9 type macvlan mode private" % (host, i) for i in range(10))
    fault = {"method": "apply", "at": 1, "before_cmd": "%s && %s" % (create, dump_cmd(host, snapshot))}
    links = [{"name": "o%d" % i, "parent": "p0"} for i in range(10)]
    run = faults.run(ansible_default, "macvlan_state", fault, netns=host, links=links)
    run.assert_fired()
    msg = assert_clean_failure(run.result)
    assert "o0" in msg
    assert_same(host, load(snapshot))
    assert {name: kinds(host)[name] for name in ("o%d" % i for i in range(10))} == {
        "o%d" % i: ("macvlan", "p9") for i in range(10)
    }


def test_rollback_leaves_a_link_another_actor_put_in_place_of_the_runs(lab, ansible_default, faults, host):
    """The run creates o0 on p0; before its next step another actor deletes it and makes its own macvlan o0 on p9,
    and the step then fails. The rollback's undo of "create o0" finds a macvlan o0, but not on p0: it leaves it
    alone and says so."""
    swap = "ip -n %s link del o0 && ip -n %s link add o0 link p9 type macvlan mode private" % (host, host)
    fault = {"method": "apply", "at": 2, "before_cmd": swap, "raise": "errno:16"}
    links = [{"name": "o%d" % i, "parent": "p0"} for i in range(3)]
    run = faults.run(ansible_default, "macvlan_state", fault, netns=host, links=links)
    run.assert_fired()
    assert_clean_failure(run.result)
    assert kinds(host)["o0"] == ("macvlan", "p9")
    assert any("o0: left alone: it is no longer on p0" in line for line in run.result["not_restored"]), run.result


# ---------------------------------------------------------------------------------------------------------------
# 2. Exceptions other than netlink errors roll back too.
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exception", ["RuntimeError", "struct.error"])
def test_exception_from_the_apply_layer_rolls_back_exactly(lab, ansible, faults, host, exception):
    """Item 2: a RuntimeError or struct.error (as from an encoder given a value it cannot pack) raised by the
    apply layer at step 5 of 22 rolls back the four applied steps: the full dump is as before, and the result
    lists the four applied steps and what was rolled back."""
    before = full_dump(host)
    run = faults.run(
        ansible, "macvlan_state", {"method": "apply", "at": 5, "raise": exception}, netns=host, **twenty_links()
    )
    run.assert_fired()
    assert_clean_failure(run.result)
    assert len(run.result["actions"]) == 4, run.result["actions"]
    assert_same(host, before)


def test_scoped_gateway_naming_another_interface_is_refused_before_anything_changes(lab, ansible_default, host):
    """Items 2 and 7: a route's gateway 'fe80::1%p0' on link mv0 names another interface: refused before any
    change (not an inet_pton crash after the link was created), the message names routes[0].gateway and the
    value."""
    before = full_dump(host)
    result = ansible_default.run(
        "macvlan",
        name="mv0",
        parent="p0",
        netns=host,
        addresses=["2001:db8:9::10/64"],
        routes=[{"dest": "2001:db8:99::/64", "gateway": "fe80::1%p0"}],
    )
    msg = assert_clean_failure(result, rolled_back=False)
    assert "routes[0].gateway" in msg and "fe80::1%p0" in msg
    assert_same(host, before)


def test_scoped_gateway_on_the_link_itself_is_a_gateway_on_that_link(lab, ansible_default, host):
    """Item 7: 'fe80::1%mv0' on link mv0 is the link-local gateway fe80::1 through mv0; the rerun is unchanged."""
    before = full_dump(host)
    args = {
        "name": "mv0",
        "parent": "p0",
        "netns": host,
        "addresses": ["2001:db8:9::10/64"],
        "routes": [{"dest": "2001:db8:99::/64", "gateway": "fe80::1%mv0"}],
    }
    ansible_default.converge("macvlan", **args)
    routes = [r for r in ip_json("-n", host, "-6", "route", "show", "dev", "mv0") if r["dst"] == "2001:db8:99::/64"]
    assert [r.get("gateway") for r in routes] == ["fe80::1"], routes
    assert_same_except(host, before, ["mv0", "p0"])


# ---------------------------------------------------------------------------------------------------------------
# 3. A failed read-back, a vanished namespace: rolled back, reported, no traceback.
# ---------------------------------------------------------------------------------------------------------------


def test_failed_read_back_rolls_back_and_keeps_the_action_list(lab, ansible, faults, host):
    """Item 3: the read-back (the last observe: one per namespace before the change, one after) fails: the
    change is rolled back exactly and the result still lists every applied step."""
    before = full_dump(host)
    links = [
        {"name": "rb0", "parent": "p0", "addresses": ["192.0.2.10/24"]},
        {"name": "rb1", "parent": "p1", "mode": "private"},
    ]
    parents = [{"name": "p0", "promisc": True}]
    fault = {"method": "observe", "at": 2, "raise": "errno:16"}
    run = faults.run(ansible, "macvlan_state", fault, netns=host, links=links, parents=parents)
    run.assert_fired()
    assert len(run.before_fault("apply")) == 4, "the fault did not hit the read-back: %r" % run.log
    msg = assert_clean_failure(run.result)
    assert os.strerror(16) in msg
    assert len(run.result["actions"]) == 4, run.result["actions"]
    assert_same(host, before)


def test_namespace_deleted_mid_run_fails_cleanly_and_restores_the_other(lab, ansible, faults, host):
    """Item 3: the link_netns namespace is deleted right before the link is created in it: a clean failure
    (no FileNotFoundError traceback) and the host namespace, already changed, is restored exactly."""
    vm = quiet_netns(lab, "vm")
    before = full_dump(host)
    links = [
        {"name": "nsl", "parent": "p0", "link_netns": vm},
        {"name": "hl0", "parent": "p0", "addresses": ["192.0.2.20/24"]},
    ]
    fault = {"method": "apply", "op": "create", "at": 1, "before_cmd": "ip netns del %s" % vm}
    run = faults.run(
        ansible, "macvlan_state", fault, netns=host, links=links, parents=[{"name": "p0", "promisc": True}]
    )
    run.assert_fired()
    assert len(run.before_fault("apply")) >= 1, "nothing had changed before the namespace went: %r" % run.log
    assert_clean_failure(run.result)
    assert vm not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert_same(host, before)


# ---------------------------------------------------------------------------------------------------------------
# 4. A managed parent vanishes or moves mid-run: the rollback does not crash and says what it could not restore.
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault_kind", ["deleted", "moved"])
def test_parent_gone_mid_run_rollback_restores_the_rest(lab, ansible, faults, host, fault_kind):
    """Item 4: at step 5 (after both parents were made promiscuous and a link was created on each), parent p1
    is deleted, or moved to another namespace. The run fails cleanly, the message says what could not be
    restored (p1), and everything else (p0, its promisc flag, its children) is restored exactly."""
    other = quiet_netns(lab, "other")
    before = full_dump(host)
    before_other = full_dump(other)
    if fault_kind == "deleted":
        cmd = "ip -n %s link del p1" % host
    else:
        cmd = "ip -n %s link set p1 netns %s" % (host, other)
    links = [
        {"name": "a%d" % i, "parent": "p1"} if j == 0 else {"name": "b%d" % i, "parent": "p0"}
        for i in range(3)
        for j in (0, 1)
    ]
    parents = [{"name": "p0", "promisc": True}, {"name": "p1", "promisc": True}]
    run = faults.run(
        ansible,
        "macvlan_state",
        {"method": "apply", "at": 5, "before_cmd": cmd},
        netns=host,
        links=links,
        parents=parents,
    )
    run.assert_fired()
    msg = assert_clean_failure(run.result)
    assert "p1" in msg.split("Rolled back: ", 1)[1], "the rollback does not say what it could not restore: %s" % msg
    assert "p1" not in kinds(host)
    assert_same_except(host, before, ["p1", "q1"])
    if fault_kind == "moved":
        assert_same_except(other, before_other, ["p1"])


# ---------------------------------------------------------------------------------------------------------------
# 5. A purged link is restored exactly: ifindex, addresses with flags, routes in every table.
# ---------------------------------------------------------------------------------------------------------------

MVX_MAC = "02:00:00:00:05:05"


def build_rich_link(lab, ns):
    """mvx on p0, built with iproute2: what a purge must restore exactly after a failure."""
    commands = [
        ("link", "add", "mvx", "link", "p0", "address", MVX_MAC, "mtu", "1400", "type", "macvlan", "mode", "private"),
        ("link", "set", "mvx", "up"),
        ("link", "set", "mvx", "alias", "uplink of vm7"),
        ("addr", "add", "192.0.2.10/24", "dev", "mvx", "noprefixroute"),
        ("addr", "add", "192.0.2.11/24", "dev", "mvx", "label", "mvx:lab"),
        ("addr", "add", "2001:db8:5::10/64", "dev", "mvx", "nodad"),
        (
            "addr",
            "add",
            "2001:db8:6::10/64",
            "dev",
            "mvx",
            "nodad",
            "noprefixroute",
            "valid_lft",
            "3600",
            "preferred_lft",
            "3000",
        ),
        (
            "route",
            "add",
            "198.51.100.0/24",
            "dev",
            "mvx",
            "proto",
            "42",
            "metric",
            "77",
            "src",
            "192.0.2.10",
            "table",
            "100",
        ),
        ("route", "add", "local", "203.0.113.9", "dev", "mvx", "proto", "42", "table", "100"),
        ("route", "add", "10.9.0.0/16", "via", "192.0.2.1", "dev", "mvx", "onlink"),
        ("route", "add", "198.51.100.128/25", "dev", "mvx", "scope", "host"),
        ("-6", "route", "add", "2001:db8:77::/64", "dev", "mvx", "metric", "300", "proto", "static", "table", "100"),
        ("-6", "route", "add", "2001:db8:78::/64", "via", "fe80::1", "dev", "mvx", "metric", "42"),
    ]
    for command in commands:
        lab.ip(ns, *command)


@pytest.mark.parametrize("failure", ["read-back", "later-step"])
def test_purged_link_is_restored_exactly(lab, ansible, faults, host, failure):
    """Item 5: macvlan_state with purge deletes mvx (built with iproute2: an alias, noprefixroute, nodad, a label, a
    finite lifetime, routes in table 100 with proto 42, src and metric, a local-type route, an onlink gateway, a
    scope host route, IPv6 routes) and then fails: at the read-back, or at the creation of a link that takes
    mvx's MAC address (so mvx is deleted first). The full dump after the rollback is as before: same ifindex,
    every address flag, every route."""
    build_rich_link(lab, host)
    before = full_dump(host)
    if failure == "read-back":
        links = [{"name": "keep0", "parent": "p0"}]
        fault = {"method": "observe", "at": 2, "raise": "errno:16"}
    else:
        links = [{"name": "mvn", "parent": "p0", "mac_address": MVX_MAC, "addresses": ["192.0.2.30/24"]}]
        fault = {"method": "apply", "op": "create", "at": 1, "raise": "errno:22"}
    run = faults.run(ansible, "macvlan_state", fault, netns=host, links=links, purge=True)
    run.assert_fired()
    deleted = [e for e in run.before_fault("apply") if e.get("op") == "delete"]
    assert deleted, "mvx was not deleted before the fault: %r" % run.log
    assert_clean_failure(run.result)
    assert_same(host, before)


@pytest.mark.parametrize(
    "setting",
    [("link", "set", "mv0", "addrgenmode", "none"), ("sysctl", "net.ipv6.conf.mv0.disable_ipv6=1")],
    ids=["addrgenmode-none", "disable_ipv6"],
)
def test_a_link_moved_back_by_the_rollback_keeps_its_ipv6_settings(lab, ansible, faults, host, setting):
    """A link with IPv6 settings of its own (no link-local generation, or IPv6 off) is moved into link_netns and
    the run then fails. The kernel gives a link that changes namespace that namespace's IPv6 defaults: the
    rollback moves it back and sets its own again before it is up, so both namespaces' dumps are as before (no
    link-local address, no fe80::/64 route it never had)."""
    other = quiet_netns(lab, "other")
    lab.ip(host, "link", "add", "mv0", "link", "p0", "type", "macvlan", "mode", "bridge")
    if setting[0] == "sysctl":
        subprocess.run(["ip", "netns", "exec", host, "sysctl", "-qw", setting[1]], check=True)
    else:
        lab.ip(host, *setting)
    lab.ip(host, "link", "set", "mv0", "up")
    lab.ip(host, "address", "add", "10.9.0.2/24", "dev", "mv0")
    before, before_other = full_dump(host), full_dump(other)
    links = [{"name": "mv0", "parent": "p0", "link_netns": other, "addresses": ["10.9.0.2/24", "10.9.1.2/24"]}]
    fault = {"method": "apply", "op": "add_address", "at": 1, "raise": "errno:22"}
    run = faults.run(ansible, "macvlan_state", fault, netns=host, links=links)
    run.assert_fired()
    assert any(e.get("op") == "move_netns" for e in run.before_fault("apply")), run.log
    assert_clean_failure(run.result)
    assert_same(host, before)
    assert_same(other, before_other)


def macs(ns):
    """{name: MAC} of every link of ns, per iproute2."""
    return {link["ifname"]: link.get("address") for link in ip_json("-n", ns, "link", "show")}


def test_a_passthru_link_is_created_with_its_mac_address(lab, ansible, host):
    """The kernel gives a new passthru link its parent's address and ignores the one in the creation request: the
    link is created, then its address set (which sets the parent's too); the rerun changes nothing."""
    link = {"name": "mvp", "parent": "p0", "mode": "passthru", "mac_address": "02:aa:bb:cc:dd:ee"}
    result = ansible.converge("macvlan_state", netns=host, links=[link])
    assert result["changed"], result
    found = macs(host)
    assert found["mvp"] == found["p0"] == "02:aa:bb:cc:dd:ee", found


@pytest.mark.parametrize("change", ["recreate", "delete"])
def test_the_rollback_gives_a_passthru_link_and_its_parent_their_mac_address_again(lab, ansible, faults, host, change):
    """A passthru link with an address of its own (its parent has it too) is deleted, or re-created as a macvtap,
    and the run then fails at the read-back: the kernel gave the parent its own address back when the link went,
    and the re-created link would have the parent's. The rollback sets the link's address again, and with it the
    parent's. (The link-local address of the new MAC that IPv6 adds when the link comes up stays: see
    docs/transaction.md, limits.)"""
    link = {"name": "mvp", "parent": "p0", "mode": "passthru"}
    ansible.converge("macvlan_state", netns=host, links=[link])
    ansible.converge("macvlan_state", netns=host, links=[dict(link, mac_address="02:aa:bb:cc:dd:ee")])
    before = macs(host)
    assert before["mvp"] == before["p0"] == "02:aa:bb:cc:dd:ee", before
    if change == "recreate":
        links = [dict(link, type="macvtap")]
    else:
        links = [{"name": "mvp", "state": "absent"}, {"name": "mv9", "parent": "p1"}]
    run = faults.run(
        ansible, "macvlan_state", {"method": "observe", "at": 2, "raise": "errno:16"}, netns=host, links=links
    )
    run.assert_fired()
    assert_clean_failure(run.result)
    assert macs(host) == before
    assert kinds(host)["mvp"][0] == "macvlan"


def test_the_rollback_leaves_on_a_promisc_flag_another_program_set_meanwhile(lab, ansible, faults, host):
    """Between the run's observe and its step that makes p0 promiscuous, another program runs `ip link set p0
    promisc on` (and creates a veth named mv1, so the run then fails): the step found the flag on and changed
    nothing, so the rollback leaves it on."""
    args = {
        "parents": [{"name": "p0", "promisc": True}],
        "links": [{"name": "mv0", "parent": "p0"}, {"name": "mv1", "parent": "p0"}],
    }
    foreign = "ip -n %s link set p0 promisc on && ip -n %s link add mv1 type veth peer name mv1peer" % (host, host)
    fault = {"method": "apply", "op": "set_promisc", "at": 1, "before_cmd": foreign}
    run = faults.run(ansible, "macvlan_state", fault, netns=host, **args)
    run.assert_fired()
    assert_clean_failure(run.result)
    p0 = ip_json("-n", host, "-d", "link", "show", "p0")[0]
    assert "PROMISC" in p0["flags"] and p0["promiscuity"] == 1, p0
    assert "mv0" not in kinds(host)


@pytest.mark.parametrize("promote", [1, 0])
def test_a_removed_primary_address_comes_back_as_the_primary(lab, ansible, faults, host, promote):
    """mv0 has 10.0.0.2/24 (primary), .3 and .4 (secondaries); the run asks for .3 and .4 only, removes .2 and then
    fails. With promote_secondaries (systemd's default) the kernel had promoted .3, and the subnet's routes had
    taken it as their source; without, it had removed the secondaries with the primary. Either way the rollback
    gives back the same primary, the same secondaries in order and the same routes: the dump equals the one
    before."""
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            host,
            "sysctl",
            "-qw",
            "net.ipv4.conf.all.promote_secondaries=%d" % promote,
            "net.ipv4.conf.default.promote_secondaries=%d" % promote,
        ],
        check=True,
    )
    lab.ip(host, "link", "add", "mv0", "link", "p0", "type", "macvlan", "mode", "bridge")
    lab.ip(host, "link", "set", "mv0", "up")
    for address in ("10.0.0.2/24", "10.0.0.3/24", "10.0.0.4/24"):
        lab.ip(host, "address", "add", address, "dev", "mv0")
    before = full_dump(host)
    links = [{"name": "mv0", "parent": "p0", "addresses": ["10.0.0.3/24", "10.0.0.4/24"]}]
    run = faults.run(
        ansible, "macvlan_state", {"method": "observe", "at": 2, "raise": "errno:16"}, netns=host, links=links
    )
    run.assert_fired()
    assert any(e.get("op") == "del_address" for e in run.before_fault("apply")), run.log
    assert_clean_failure(run.result)
    assert_same(host, before)


# ---------------------------------------------------------------------------------------------------------------
# 6. Serialization: a lock per namespace.
# ---------------------------------------------------------------------------------------------------------------


def test_held_lock_fails_every_changing_module_after_lock_timeout(lab, ansible_default, host):
    """Item 6: while the namespace's lock (an flock on /run/lock/hostnet-macvlan/netns-<dev>-<ino>.lock) is held,
    macvlan, macvlan_state and promisc with lock_timeout: 1 fail with a message starting 'lock_timeout:' and
    change nothing."""
    before = full_dump(host)
    tasks = [
        {"hostnet.macvlan.macvlan": {"name": "mv0", "parent": "p0", "netns": host, "lock_timeout": 1}},
        {
            "hostnet.macvlan.macvlan_state": {
                "netns": host,
                "links": [{"name": "mv1", "parent": "p0"}],
                "lock_timeout": 1,
            }
        },
        {"hostnet.macvlan.promisc": {"name": "p0", "promisc": True, "netns": host, "lock_timeout": 1}},
    ]
    tasks = [dict(task, name="under test %d" % i, ignore_errors=True) for i, task in enumerate(tasks)]
    with holding_lock(host):
        start = time.monotonic()
        results = ansible_default.playbook(tasks)
        elapsed = time.monotonic() - start
    assert len(results) == 3
    for result in results:
        msg = assert_clean_failure(result, rolled_back=False)
        assert msg.startswith("lock_timeout:"), msg
    assert elapsed >= 3
    assert_same(host, before)


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.05)


def test_run_waiting_for_the_lock_goes_on_when_it_is_released(lab, ansible_default, faults, host):
    """Item 6: a run that finds the lock held waits without reading or changing the namespace (its module is
    running, per the fault hook's log, but makes no observe call), and succeeds once the lock is released: its
    first observe comes after the release."""
    before = full_dump(host)
    args = {"name": "mv0", "parent": "p0", "netns": host, "lock_timeout": 60}
    log = faults.log_path()
    outcome = {}

    def run():
        # A fault that never fires: the hook only logs the module's Session calls, with their times.
        outcome["run"] = faults.run(ansible_default, "macvlan", {"method": "observe", "at": 10**6}, log=log, **args)

    thread = threading.Thread(target=run)
    try:
        with holding_lock(host):
            thread.start()
            wait_for(lambda: any(e.get("installed") for e in read_log(log)), 90, "the module to start")
            time.sleep(1.5)
            assert not [e for e in read_log(log) if e.get("method")], "the run read the namespace while it was locked"
            assert "mv0" not in kinds(host), "the run changed the namespace while another held its lock"
            released = time.time()
    finally:
        thread.join(120)  # after the release
    run = outcome["run"]
    assert not run.result.get("failed"), run.result.get("msg")
    assert run.result["changed"] is True
    assert run.calls("observe") and run.calls("observe")[0]["time"] >= released
    assert kinds(host)["mv0"] == ("macvlan", "p0")
    ansible_default.converge("macvlan", **args)
    assert_same_except(host, before, ["mv0", "p0"])


def test_lock_file_is_keyed_by_the_namespace_inode(lab, host):
    """Item 6: the lock's path is derived from os.stat of the namespace file, so two spellings of one namespace
    (a name and its /run/netns path) share one lock."""
    assert lock_path(host) == lock_path("/run/netns/" + host)
    info = os.stat("/run/netns/" + host)
    assert lock_path(host).endswith("netns-%d-%d.lock" % (info.st_dev, info.st_ino))


# ---------------------------------------------------------------------------------------------------------------
# 7. Input the kernel would read differently is refused before anything changes.
# ---------------------------------------------------------------------------------------------------------------

BAD_NAMES = ["zq\u0000b", "mv\u00e0x", ["zl"], {"a": 1}]


@pytest.mark.parametrize("value", BAD_NAMES, ids=["nul", "utf8-0xa0", "list", "dict"])
def test_names_the_kernel_would_read_differently_are_refused(lab, ansible_default, host, value):
    """Item 7: a NUL byte, a UTF-8 name containing byte 0xA0 (white space to the kernel), a list and a dict as
    name are refused with a message that starts with 'name:' and shows the value; nothing changes."""
    before = full_dump(host)
    result = ansible_default.run("macvlan", name=value, parent="p0", netns=host)
    msg = assert_clean_failure(result, rolled_back=False)
    assert msg.startswith("name: ") and repr(value) in msg, msg
    assert_same(host, before)


@pytest.mark.parametrize("value", [BAD_NAMES[0], BAD_NAMES[2]], ids=["nul", "list"])
def test_names_in_a_state_are_refused_naming_the_link(lab, ansible_default, host, value):
    """Item 7: the same refusal in macvlan_state names links[0].name."""
    before = full_dump(host)
    result = ansible_default.run("macvlan_state", netns=host, links=[{"name": value, "parent": "p0"}])
    msg = assert_clean_failure(result, rolled_back=False)
    assert msg.startswith("links[0].name: ") and repr(value) in msg, msg
    assert_same(host, before)


@pytest.mark.parametrize("module", ["macvlan", "macvlan_state"])
def test_parent_that_is_not_a_string_is_refused(lab, ansible_default, host, module):
    """Item 7: parent: [p0] is refused (not turned into the name "['p0']"), naming the option and the value."""
    before = full_dump(host)
    if module == "macvlan":
        result = ansible_default.run(module, name="mv0", parent=["p0"], netns=host)
        option = "parent: "
    else:
        result = ansible_default.run(module, netns=host, links=[{"name": "mv0", "parent": ["p0"]}])
        option = "links[0].parent: "
    msg = assert_clean_failure(result, rolled_back=False)
    assert msg.startswith(option) and repr(["p0"]) in msg, msg
    assert_same(host, before)


@pytest.mark.parametrize("parent", ["lo", "tun0"])
def test_parent_that_is_not_ethernet_is_refused(lab, ansible_default, host, parent):
    """Item 7: loopback and a layer-3 tun device cannot carry macvlans: refused as not Ethernet (not blamed on a
    passthru link)."""
    if parent == "tun0":
        lab.ip(host, "tuntap", "add", "mode", "tun", "tun0")
    before = full_dump(host)
    result = ansible_default.run("macvlan", name="mv0", parent=parent, netns=host)
    msg = assert_clean_failure(result, rolled_back=False)
    assert msg.startswith("parent: ") and repr(parent) in msg, msg
    assert "ethernet" in msg.lower(), msg
    assert "passthru" not in msg.lower(), msg
    assert_same(host, before)


def test_source_list_past_the_netlink_attribute_limit_is_refused_saying_how_many_fit(lab, ansible_default, host):
    """Items 2 and 7: 6000 source MACs do not fit in one netlink attribute (64 KiB): refused before anything
    changes (no struct.error mid-run), saying how many fit."""
    macs = ["02:00:00:00:%02x:%02x" % (i // 256, i % 256) for i in range(6000)]
    before = full_dump(host)
    result = ansible_default.run("macvlan", name="mvs", parent="p0", netns=host, mode="source", source_macs=macs)
    msg = assert_clean_failure(result, rolled_back=False)
    assert msg.startswith("source_macs:"), msg[:300]
    assert any(4000 <= n < 6000 for n in numbers(msg)), "no count of what fits in: %s" % msg[:300]
    assert len(msg) < 2000, "the message repeats the whole list"
    assert_same(host, before)


@pytest.mark.parametrize(
    "address",
    ["fe80::5%x/64", "fe80::5%x\n[Network]\nDNS=203.0.113.53\n#/64"],
    ids=["scope-id", "scope-id-injection"],
)
def test_address_with_a_scope_id_is_refused(lab, ansible_default, host, address):
    """Item 7: an address with an IPv6 scope id ('%...') is refused before anything changes, including one that
    would inject lines into a persisted file."""
    before = full_dump(host)
    result = ansible_default.run("macvlan", name="mv0", parent="p0", netns=host, addresses=[address])
    msg = assert_clean_failure(result, rolled_back=False)
    assert msg.startswith("addresses: ") and "fe80::5%x" in msg, msg
    assert_same(host, before)


# ---------------------------------------------------------------------------------------------------------------
# 8. A name is taken only in the namespace where the link will live.
# ---------------------------------------------------------------------------------------------------------------


def test_container_eth0_is_created_while_the_host_has_an_eth0(lab, ansible_default, host):
    """Item 8: the host has a veth eth0; links: [{name: eth0, parent: eth0, link_netns: /run/netns/<ctr>}] (the
    container layout of CNI, Docker, netavark) creates the macvlan eth0 inside the container; rerun and check
    mode are unchanged; the host's eth0 is untouched."""
    lab.veth(host, "eth0", "veth-eth0")
    ctr = quiet_netns(lab, "ctr")
    before_host, before_ctr = full_dump(host), full_dump(ctr)
    args = {"netns": host, "links": [{"name": "eth0", "parent": "eth0", "link_netns": "/run/netns/" + ctr}]}
    result = ansible_default.converge("macvlan_state", **args)
    assert result["changed"] is True
    assert kinds(ctr)["eth0"][0] == "macvlan"
    assert kinds(host)["eth0"] == ("veth", "veth-eth0")
    # The parent's promiscuity counter rises with a child's MAC on its unicast list.
    assert_same_except(host, before_host, ["eth0"])
    assert_same_except(ctr, before_ctr, ["eth0"])
    after = {host: full_dump(host), ctr: full_dump(ctr)}
    checked = ansible_default.run("macvlan_state", check=True, **args)
    assert not checked.get("failed") and checked["changed"] is False, checked
    for ns, dump in after.items():
        assert_same(ns, dump)


# ---------------------------------------------------------------------------------------------------------------
# 9. A route to the link's own connected subnet.
# ---------------------------------------------------------------------------------------------------------------


def main_routes(ns, dest):
    return [r for r in ip_json("-n", ns, "-4", "route", "show", "table", "main") if r["dst"] == dest]


def test_route_to_the_connected_subnet_is_served_by_the_prefix_route(lab, ansible_default, host):
    """Item 9: addresses [192.168.244.1/24] with routes [{dest: 192.168.244.0/24}] succeeds (the kernel's prefix
    route is that route) and the rerun is unchanged."""
    before = full_dump(host)
    ansible_default.converge(
        "macvlan",
        name="mv0",
        parent="p0",
        netns=host,
        addresses=["192.168.244.1/24"],
        routes=[{"dest": "192.168.244.0/24"}],
    )
    routes = main_routes(host, "192.168.244.0/24")
    assert len(routes) == 1 and routes[0]["dev"] == "mv0" and routes[0].get("protocol") == "kernel", routes
    assert_same_except(host, before, ["mv0", "p0"])


def test_route_to_the_connected_subnet_with_a_metric_is_a_second_route(lab, ansible_default, host):
    """Item 9: with metric 100 the route is added beside the kernel's prefix route."""
    before = full_dump(host)
    ansible_default.converge(
        "macvlan",
        name="mv0",
        parent="p0",
        netns=host,
        addresses=["192.168.244.1/24"],
        routes=[{"dest": "192.168.244.0/24", "metric": 100}],
    )
    routes = main_routes(host, "192.168.244.0/24")
    assert sorted(r.get("metric", 0) for r in routes) == [0, 100] and {r["dev"] for r in routes} == {"mv0"}, routes
    assert_same_except(host, before, ["mv0", "p0"])


def test_route_held_by_another_device_names_that_device(lab, ansible_default, host):
    """Item 9: when another device (p1) holds 203.0.113.0/24 metric 0 in main, asking it for mv0 fails (before
    any change or with a rollback) and the message names p1, truthfully."""
    lab.ip(host, "route", "add", "203.0.113.0/24", "dev", "p1")
    before = full_dump(host)
    result = ansible_default.run("macvlan", name="mv0", parent="p0", netns=host, routes=[{"dest": "203.0.113.0/24"}])
    msg = assert_clean_failure(result, rolled_back="Rolled back" in result.get("msg", ""))
    assert "'p1'" in msg or " p1" in msg, msg
    assert "another device or gateway" not in msg, msg
    assert_same(host, before)


# ---------------------------------------------------------------------------------------------------------------
# 10. Same-named links in different namespaces stay apart in the result; actions name their namespace.
# ---------------------------------------------------------------------------------------------------------------


def test_same_named_links_in_two_namespaces_are_both_in_the_result(lab, ansible_default, host):
    """Item 10: links mv0 (the module's own namespace) and mv0 (link_netns ns2) are both in the result's links,
    a list of dicts with name and netns (None for the module's own namespace); every action line names the
    namespace it acts in. The module runs inside the lab's host namespace (ip netns exec), netns unset."""
    ns2 = quiet_netns(lab, "ns2")
    before = {host: full_dump(host), ns2: full_dump(ns2)}
    args = {"links": [{"name": "mv0", "parent": "p0"}, {"name": "mv0", "parent": "p0", "link_netns": ns2}]}
    task = [{"name": "under test", "hostnet.macvlan.macvlan_state": args, "ignore_errors": True}]
    prefix = ["ip", "netns", "exec", host]
    first = ansible_default.playbook(task, prefix=prefix)[0]
    assert not first.get("failed"), first.get("msg")
    links = first["links"]
    assert isinstance(links, list) and all(isinstance(link, dict) for link in links), links
    found = {(link["name"], link["netns"] and os.path.basename(link["netns"])) for link in links}
    assert len(links) == 2 and found == {("mv0", None), ("mv0", ns2)}, links
    assert first["actions"]
    for line in first["actions"]:
        assert "in the host namespace" in line or ("in netns " in line and ns2 in line), line
    assert kinds(host)["mv0"] == ("macvlan", "p0") and kinds(ns2)["mv0"][0] == "macvlan"
    for ns, dump in before.items():
        assert_same_except(ns, dump, ["mv0", "p0"])
    after = {ns: full_dump(ns) for ns in before}
    again = ansible_default.playbook(task, prefix=prefix)[0]
    assert not again.get("failed") and again["changed"] is False, again
    checked = ansible_default.playbook(task, prefix=prefix, check=True)[0]
    assert not checked.get("failed") and checked["changed"] is False, checked
    for ns, dump in after.items():
        assert_same(ns, dump)


# ---------------------------------------------------------------------------------------------------------------
# Faults injected on purpose.
# ---------------------------------------------------------------------------------------------------------------


def refuse_at_step(ansible, faults, host, step):
    before = full_dump(host)
    fault = {"method": "apply", "at": step, "raise": "errno:22"}
    run = faults.run(ansible, "macvlan_state", fault, netns=host, **twenty_links())
    run.assert_fired()
    msg = assert_clean_failure(run.result)
    assert os.strerror(22) in msg
    assert len(run.result["actions"]) == step - 1, run.result["actions"]
    assert_same(host, before)


@pytest.mark.parametrize("step", [7, 20])
def test_kernel_refusal_at_step_k_of_a_20_link_run_rolls_back_exactly(lab, ansible, faults, host, step):
    """A kernel refusal (EINVAL) at step k (7, 20) of a 20-link run with promiscuous parents (22 steps): the k-1
    applied steps are listed and rolled back; the full dump is as before."""
    refuse_at_step(ansible, faults, host, step)


def test_kernel_refusal_at_the_first_step_of_a_20_link_run_changes_nothing(lab, ansible_default, faults, host):
    """A kernel refusal at step 1 of the same run: no step applied, none listed, nothing changed."""
    refuse_at_step(ansible_default, faults, host, 1)


def test_rollback_false_leaves_the_applied_steps_and_says_so(lab, ansible_default, faults, host):
    """rollback: false: a failure at step 4 leaves the three applied steps in place; the message says 'Not rolled
    back' and the result lists the three applied steps."""
    before = full_dump(host)
    links = [{"name": "nr%d" % i, "parent": "p0"} for i in range(4)]
    fault = {"method": "apply", "at": 4, "raise": "errno:22"}
    run = faults.run(ansible_default, "macvlan_state", fault, netns=host, links=links, rollback=False)
    run.assert_fired()
    msg = assert_clean_failure(run.result, rolled_back=False)
    assert "Not rolled back" in msg and "Rolled back:" not in msg, msg
    assert len(run.result["actions"]) == 3, run.result["actions"]
    present = kinds(host)
    assert [name for name in ("nr0", "nr1", "nr2", "nr3") if name in present] == ["nr0", "nr1", "nr2"]
    assert_same_except(host, before, ["nr0", "nr1", "nr2", "p0"])


def test_sigterm_mid_run_still_rolls_back(lab, ansible, faults, host):
    """SIGTERM (a cancelled AWX job, a stopped ansible-playbook) at step 9: the module rolls back and fails
    cleanly instead of dying with half a change."""
    before = full_dump(host)
    run = faults.run(
        ansible, "macvlan_state", {"method": "apply", "at": 9, "raise": "signal:TERM"}, netns=host, **twenty_links()
    )
    run.assert_fired()
    assert_clean_failure(run.result)
    assert_same(host, before)


def test_sigterm_after_the_kernel_did_a_step_undoes_that_step_too(lab, ansible, faults, host):
    """SIGTERM the moment the kernel has created the 9th link, before the engine has journaled it: the signal is
    held until the step is journaled, so the rollback deletes that link too (raised at once, it left the link
    behind)."""
    before = full_dump(host)
    fault = {"method": "apply", "at": 9, "raise": "signal:TERM", "after": True}
    run = faults.run(ansible, "macvlan_state", fault, netns=host, **twenty_links())
    run.assert_fired()
    msg = assert_clean_failure(run.result)
    assert "interrupted by SIGTERM" in msg, msg
    assert_same(host, before)
