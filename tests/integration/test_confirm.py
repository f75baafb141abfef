"""Commit-confirmed changes: macvlan_state with confirm_timeout, macvlan_confirm, and the host reverting by itself.

The revert is armed as a detached process here (PID 1 of these machines is not systemd; the molecule scenario
``confirm`` covers the systemd timer). Each test keeps its pending journals in a directory of its own
(HOSTNET_MACVLAN_STATE_DIR, inherited by the module and by the revert process). The oracle is the full iproute2
dump (oracle.py): after a revert it equals the one taken before the change.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import stat
import subprocess
import time

import pytest
from faults_helpers import holding_lock, quiet_netns
from oracle import assert_same, assert_same_except, describe_difference, full_dump


@pytest.fixture
def host(lab):
    ns = quiet_netns(lab, "host")
    lab.veth(ns, "p0", "q0")
    lab.veth(ns, "p1", "q1")
    # Something the change purges: a link with an address and routes in two tables.
    lab.ip(ns, "link", "add", "old", "link", "p0", "address", "02:00:00:00:0e:01", "type", "macvlan", "mode", "vepa")
    lab.ip(ns, "link", "set", "old", "up")
    lab.ip(ns, "addr", "add", "10.8.0.1/24", "dev", "old", "noprefixroute")
    lab.ip(ns, "route", "add", "10.8.0.0/24", "dev", "old", "proto", "42", "metric", "7")
    lab.ip(ns, "route", "add", "198.51.100.0/24", "dev", "old", "table", "100", "src", "10.8.0.1")
    return ns


def change(ns, timeout, **extra):
    args = {
        "netns": ns,
        "parents": [{"name": "p0"}],
        "links": [
            {"name": "mv0", "parent": "p0", "addresses": ["192.0.2.10/24"], "routes": [{"dest": "203.0.113.0/24"}]},
            {"name": "mv1", "parent": "p1", "mode": "private", "mac_address": "02:00:00:00:0e:01"},
        ],
        "purge": True,
        "confirm_timeout": timeout,
    }
    args.update(extra)
    return args


def wait_reverted(state, change_id, timeout=20):
    """Wait until the revert removed the change's journal (the revert holds it until it is done)."""
    path = state / "pending" / ("%s.json" % change_id)
    deadline = time.monotonic() + timeout
    while path.exists():
        assert time.monotonic() < deadline, "the change did not revert in %d s" % timeout
        time.sleep(0.2)


def test_an_unconfirmed_change_reverts_by_itself_exactly(lab, ansible, host, state):
    ansible.env["HOSTNET_MACVLAN_STATE_DIR"] = str(state)
    before = full_dump(host)
    result = ansible.run("macvlan_state", **change(host, 12))
    assert result["changed"] is True and not result.get("failed"), result.get("msg")
    armed = result["confirm"]
    assert armed["timeout"] == 12 and armed["method"] == "process" and armed["namespaces"] == [host]
    assert any(line.startswith("delete macvlan old") for line in armed["actions"])
    # The change is in place, and the journal is root-only.
    assert lab.link(host, "old") is None and lab.link(host, "mv0") is not None
    journal = state / "pending" / ("%s.json" % armed["id"])
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "pending").stat().st_mode) == 0o700
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    pending = json.loads(journal.read_text())
    assert pending["id"] == armed["id"] and pending["deadline"] == armed["deadline"]

    wait_reverted(state, armed["id"])
    assert time.time() >= armed["deadline"]
    assert_same(host, before)  # the purged link is back with its ifindex, address flags and routes of every table
    facts = ansible.run("macvlan_info", netns=host)
    assert facts["pending_confirm"] == []
    last = facts["last_revert"]
    assert last["id"] == armed["id"] and last["reason"] == "confirm_timeout of 12 s expired"
    assert last["not_restored"] == [] and any(line.startswith("re-create macvlan old") for line in last["restored"])
    log = (state / ("revert-%s.log" % armed["id"])).read_text()
    assert "reverted change %s" % armed["id"] in log


def test_a_confirmed_change_stays(lab, ansible_default, host, state):
    result = ansible_default.run("macvlan_state", **change(host, 40))
    armed = result["confirm"]
    after = full_dump(host)
    checked = ansible_default.run("macvlan_confirm", check=True, id=armed["id"])
    assert checked["changed"] is True and [entry["id"] for entry in checked["confirmed"]] == [armed["id"]]
    assert (state / "pending" / ("%s.json" % armed["id"])).exists(), "check mode confirmed the change"
    confirmed = ansible_default.run("macvlan_confirm", id=armed["id"])
    assert confirmed["changed"] is True and confirmed["confirmed"][0]["id"] == armed["id"]
    again = ansible_default.run("macvlan_confirm", id=armed["id"])
    assert again["changed"] is False and again["confirmed"] == []
    time.sleep(max(0.0, armed["deadline"] - time.time()) + 2)
    assert_same(host, after)  # nothing reverted at the deadline
    assert not list((state / "pending").iterdir())
    # The disarmed waiter process is gone.
    waiters = subprocess.run(["pgrep", "-f", "wait %s" % armed["id"]], capture_output=True, text=True, check=False)
    assert waiters.stdout.strip() == ""


def test_a_second_change_while_one_is_pending_fails_clearly(lab, ansible_default, host, state):
    before = full_dump(host)
    armed = ansible_default.run("macvlan_state", **change(host, 120))["confirm"]
    after = full_dump(host)
    facts = ansible_default.run("macvlan_info", netns=host)
    assert [entry["id"] for entry in facts["pending_confirm"]] == [armed["id"]]
    assert facts["pending_confirm"][0]["deadline_iso"] == armed["deadline_iso"]
    for module, args in (
        ("macvlan", {"name": "mv9", "parent": "p1", "netns": host}),
        ("promisc", {"name": "p1", "netns": host}),
        ("macvlan_state", {"netns": host, "links": [{"name": "mv9", "parent": "p1"}]}),
    ):
        result = ansible_default.run(module, **args)
        assert result["failed"] is True, result
        assert "(id %s) is pending in netns %s" % (armed["id"], host) in result["msg"]
        assert "hostnet.macvlan.macvlan_confirm" in result["msg"]
    assert full_dump(host) == after
    # Check mode and reading still work while the change is pending.
    planned = ansible_default.run("macvlan", check=True, name="mv9", parent="p1", netns=host)
    assert planned["changed"] is True and not planned.get("failed")
    # Reverting now, asked, is the same exact revert.
    reverted = ansible_default.run("macvlan_confirm", netns=host, revert=True)
    assert reverted["changed"] is True and reverted["reverted"][0]["id"] == armed["id"]
    assert reverted["last_revert"]["reason"] == "asked"
    assert_same(host, before)
    # The waiting process of the change sees within a second that it has nothing left to do, and ends.
    deadline = time.monotonic() + 5
    while subprocess.run(["pgrep", "-f", "wait %s" % armed["id"]], capture_output=True, check=False).returncode == 0:
        assert time.monotonic() < deadline, "the waiter of a reverted change is still running"
        time.sleep(0.2)


def test_a_revert_that_races_a_run_waits_for_the_lock(lab, ansible_default, host, state):
    before = full_dump(host)
    armed = ansible_default.run("macvlan_state", **change(host, 10))["confirm"]
    with holding_lock(host):  # as a run of the collection would, from before the deadline to after it
        assert time.time() < armed["deadline"], "the machine is too slow for this test's 10 s"
        time.sleep(max(0.0, armed["deadline"] - time.time()) + 2)
        assert lab.link(host, "mv0") is not None, "the revert did not wait for the namespace lock"
        assert (state / "pending" / ("%s.json" % armed["id"])).exists()
    wait_reverted(state, armed["id"])
    assert_same(host, before)


def test_a_revert_touches_only_what_the_run_changed(lab, ansible_default, host, state):
    before = full_dump(host)
    armed = ansible_default.run("macvlan_state", **change(host, 8))["confirm"]
    # Another program adds links and an address while the change is pending (it does not take the lock).
    lab.veth(host, "fa", "fb")
    lab.ip(host, "addr", "add", "10.7.0.1/24", "dev", "fa")
    foreign = lab.link(host, "fa")
    wait_reverted(state, armed["id"])
    assert_same_except(host, before, ["fa", "fb"])
    assert lab.link(host, "fa")["ifindex"] == foreign["ifindex"]
    assert lab.addresses(host, "fa") == ["10.7.0.1/24"]


def test_confirming_a_change_that_reverted_fails_saying_so(lab, ansible_default, host, state):
    armed = ansible_default.run("macvlan_state", **change(host, 1))["confirm"]
    wait_reverted(state, armed["id"])
    result = ansible_default.run("macvlan_confirm", id=armed["id"])
    assert result["failed"] is True
    assert "change %s is no longer pending: it reverted at" % armed["id"] in result["msg"]
    assert "confirm_timeout of 1 s expired" in result["msg"]
    nothing = ansible_default.run("macvlan_confirm")
    assert nothing["changed"] is False and nothing["confirmed"] == []


def test_confirming_an_older_change_that_reverted_fails_too(lab, ansible_default, host, state):
    """Two changes revert one after the other: confirming the first (no longer the last revert) fails too."""
    first = ansible_default.run("macvlan_state", **change(host, 1))["confirm"]
    wait_reverted(state, first["id"])
    second = ansible_default.run("macvlan_state", **change(host, 1))["confirm"]
    wait_reverted(state, second["id"])
    assert first["id"] != second["id"]
    result = ansible_default.run("macvlan_confirm", id=first["id"])
    assert result["failed"] is True and result["changed"] is False, result
    assert "change %s is no longer pending: it reverted at" % first["id"] in result["msg"]


def test_a_confirm_that_waited_while_its_change_reverted_fails(lab, ansible_default, host, state):
    """The deadline passes while a run holds the namespace lock: the revert takes the change's lock and waits for
    the namespace. A confirm started meanwhile waits for the change's lock; once the revert is done, it finds the
    change gone and fails (it reported success before, and a rollout would then have persisted the undone change)."""
    before = full_dump(host)
    armed = ansible_default.run("macvlan_state", **change(host, 6))["confirm"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with holding_lock(host):
            assert time.time() < armed["deadline"], "the machine is too slow for this test's 6 s"
            time.sleep(max(0.0, armed["deadline"] - time.time()) + 2)  # the revert holds the change's lock now
            confirming = pool.submit(ansible_default.run, "macvlan_confirm", id=armed["id"])
            time.sleep(3)
            assert not confirming.done(), "the confirm did not wait for the change's lock"
        result = confirming.result(timeout=120)  # the namespace lock released: the revert, then the confirm
    assert result["failed"] is True and result["changed"] is False and result.get("confirmed") == [], result
    assert "change %s is no longer pending: it reverted at" % armed["id"] in result["msg"]
    wait_reverted(state, armed["id"])
    assert_same(host, before)


def test_confirm_in_a_namespace_that_does_not_exist_is_refused(lab, ansible_default, host, state):
    result = ansible_default.run("macvlan_confirm", netns="hmv-no-such-namespace")
    assert result["failed"] is True
    assert result["msg"] == "netns: 'hmv-no-such-namespace' does not exist (no such network namespace)"


@pytest.mark.parametrize("timeout", [-1, 86401, True])
def test_confirm_timeout_out_of_range_is_refused(lab, ansible_default, host, state, timeout):
    """Out of range, or a boolean (Ansible's int type keeps true as it is: it would have armed a 1 s revert)."""
    before = full_dump(host)
    result = ansible_default.run("macvlan_state", **change(host, timeout))
    expected = "is not a number of seconds" if timeout is True else "is out of range"
    assert result["failed"] is True and result["msg"].startswith("confirm_timeout: %r %s" % (timeout, expected))
    assert full_dump(host) == before
    assert not state.exists() or not any(state.rglob("*.json"))


def test_an_unchanged_run_arms_nothing(lab, ansible_default, host, state):
    armed = ansible_default.run("macvlan_state", **change(host, 60))["confirm"]
    ansible_default.run("macvlan_confirm", id=armed["id"])
    again = ansible_default.run("macvlan_state", **change(host, 60))
    assert again["changed"] is False and again["confirm"] is None
    assert json.loads(json.dumps(again["links"])) == []
    assert not os.listdir(state / "pending")


def test_a_revert_leaves_a_setting_someone_changed_again_since(lab, ansible_default, host, state):
    """The change sets old's MTU to 1400 and its mode to bridge; before the revert someone sets the MTU to 1300.
    The revert gives back the mode and everything else, leaves the MTU at 1300 (setting it back would undo what
    they did, not what the change did) and reports it as not restored."""
    before = full_dump(host)
    armed = ansible_default.run(
        "macvlan_state",
        netns=host,
        links=[{"name": "old", "parent": "p0", "mode": "bridge", "mtu": 1400}],
        confirm_timeout=120,
    )["confirm"]
    assert armed is not None
    lab.ip(host, "link", "set", "old", "mtu", "1300")
    reverted = ansible_default.run("macvlan_confirm", netns=host, revert=True)
    assert reverted["changed"] is True and reverted["reverted"][0]["id"] == armed["id"]
    assert reverted["reverted"][0]["not_restored"] == [
        "old: mtu left as it is: mtu is 1300 now, not 1400 as the change set it (changed since by someone else)"
    ]
    expected = json.loads(json.dumps(before))
    expected["links"]["old"]["mtu"] = 1300
    after = full_dump(host)
    assert after["links"]["old"]["linkinfo"]["info_data"]["mode"] == "vepa"  # the mode is given back
    assert after == expected, describe_difference(expected, after)
