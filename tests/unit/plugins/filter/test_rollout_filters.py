"""The rollout playbook's filters (pure): files snapshot and diff, self-revert status, restore report, summary."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hostnet.macvlan.plugins.filter.rollout_files import FilterModule as FilesModule
from ansible_collections.hostnet.macvlan.plugins.filter.rollout_files import rollout_files
from ansible_collections.hostnet.macvlan.plugins.filter.rollout_files_diff import rollout_files_diff
from ansible_collections.hostnet.macvlan.plugins.filter.rollout_restore_report import rollout_restore_report
from ansible_collections.hostnet.macvlan.plugins.filter.rollout_revert_status import rollout_revert_status
from ansible_collections.hostnet.macvlan.plugins.filter.rollout_summary import rollout_summary

NET = "/etc/systemd/network/60-hostnet-macvlan-mv0.network"
DEV = "/etc/systemd/network/60-hostnet-macvlan-mv0.netdev"
LINK = "/etc/systemd/system/multi-user.target.wants/60-hostnet-macvlan-x.service"


def slurped(path, content, mode="0644"):
    return {"ansible_loop_var": "__rollout_file", "__rollout_file": {"path": path, "mode": mode}, "content": content}


def linked(path, target):
    return {"ansible_loop_var": "__rollout_file", "__rollout_file": {"path": path}, "stat": {"lnk_target": target}}


# -- rollout_files ---------------------------------------------------------------------------------------------


def test_files_snapshot_of_files_and_links():
    files = rollout_files([slurped(NET, "W05ldHdvcmtd"), slurped(DEV, "", "0600")], [linked(LINK, "/x.service")])
    assert files == {
        NET: {"content": "W05ldHdvcmtd", "mode": "0644", "link": None},
        DEV: {"content": "", "mode": "0600", "link": None},
        LINK: {"content": None, "mode": None, "link": "/x.service"},
    }
    assert rollout_files([], []) == {}
    assert FilesModule().filters() == {"rollout_files": rollout_files}


def test_files_snapshot_reads_the_default_loop_variable():
    assert rollout_files([{"item": {"path": NET, "mode": "0644"}, "content": "eA=="}]) == {
        NET: {"content": "eA==", "mode": "0644", "link": None}
    }


@pytest.mark.parametrize("result", ["text", {"ansible_loop_var": "f", "f": "not a file"}, {"item": {}}])
def test_files_snapshot_refuses_what_is_not_a_loop_result(result):
    with pytest.raises(AnsibleFilterError, match="rollout_files: "):
        rollout_files([result])


# -- rollout_files_diff ----------------------------------------------------------------------------------------


def test_files_diff_removes_new_files_and_puts_back_changed_and_missing_ones():
    before = {
        NET: {"content": "b2xk", "mode": "0644", "link": None},
        DEV: {"content": "ZGV2", "mode": "0644", "link": None},
        LINK: {"content": None, "mode": None, "link": "/x.service"},
    }
    now = {
        NET: {"content": "bmV3", "mode": "0644", "link": None},  # changed
        LINK: {"content": None, "mode": None, "link": "/x.service"},  # the same
        "/etc/systemd/network/60-hostnet-macvlan-z.network": {"content": "", "mode": "0644", "link": None},  # new
        "/etc/systemd/network/60-hostnet-macvlan-a.network": {"content": "", "mode": "0644", "link": None},  # new
    }  # DEV is missing
    diff = rollout_files_diff(before, now)
    assert diff["remove"] == [
        "/etc/systemd/network/60-hostnet-macvlan-a.network",
        "/etc/systemd/network/60-hostnet-macvlan-z.network",
    ]
    assert diff["put_back"] == [
        {"path": DEV, "content": "ZGV2", "mode": "0644", "link": None},
        {"path": NET, "content": "b2xk", "mode": "0644", "link": None},
    ]


def test_files_diff_of_equal_snapshots_is_empty():
    files = {NET: {"content": "eA==", "mode": "0644", "link": None}}
    assert rollout_files_diff(files, dict(files)) == {"remove": [], "put_back": []}


def test_files_diff_mode_change_is_put_back():
    before = {NET: {"content": "eA==", "mode": "0644", "link": None}}
    now = {NET: {"content": "eA==", "mode": "0600", "link": None}}
    assert rollout_files_diff(before, now)["put_back"] == [
        {"path": NET, "content": "eA==", "mode": "0644", "link": None}
    ]


def test_files_diff_refuses_non_dicts():
    with pytest.raises(AnsibleFilterError, match="now must be a dict"):
        rollout_files_diff({}, [])


# -- rollout_revert_status -------------------------------------------------------------------------------------

CONFIRM = {"id": "c1", "deadline": 1000.0}


@pytest.mark.parametrize(
    "info, confirm, started, expected",
    [
        # The host reverted this change at its deadline: not pending any more.
        ({"last_revert": {"id": "c1", "reason": "deadline"}, "pending_confirm": []}, CONFIRM, 0, (True, False)),
        # Its last revert was another change's: this one is still pending.
        (
            {"last_revert": {"id": "c0", "reason": "deadline"}, "pending_confirm": [{"id": "c1"}]},
            CONFIRM,
            0,
            (False, True),
        ),
        # A revert that was asked for is not "by itself".
        ({"last_revert": {"id": "c1", "reason": "asked"}, "pending_confirm": []}, CONFIRM, 0, (False, False)),
        ({"last_revert": None, "pending_confirm": [{"id": "c1"}]}, CONFIRM, 0, (False, True)),
        # The read failed: nothing known reverted, and the change counts as pending.
        ({"failed": True, "last_revert": {"id": "c1", "reason": "deadline"}}, CONFIRM, 0, (False, True)),
        # No id on the controller (cut off while applying): a revert after the apply started.
        ({"last_revert": {"reason": "deadline", "reverted_at": 150.5}}, None, 100, (True, False)),
        ({"last_revert": {"reason": "deadline", "reverted_at": 50}}, None, "100.0", (False, False)),
        ({"skipped": True}, None, 0, (False, False)),
        (None, "", 0, (False, False)),
    ],
)
def test_revert_status(info, confirm, started, expected):
    status = rollout_revert_status(info, confirm, started)
    assert (status["self_reverted"], status["still_pending"]) == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (("text",), "the input must be the registered macvlan_info result"),
        (({}, {"deadline": 1}), "confirm must be"),
        (({}, None, "soon"), "apply_started 'soon' is not a number"),
    ],
)
def test_revert_status_bad_input(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        rollout_revert_status(*args)


# -- rollout_restore_report ------------------------------------------------------------------------------------

SKIPPED = {"skipped": True, "changed": False}


def files_results(removed=(), written=(), failed_write=None):
    rm = {"results": [{"ansible_loop_var": "__rollout_path", "__rollout_path": p, "changed": True} for p in removed]}
    wr = {
        "results": [
            {"ansible_loop_var": "__rollout_file", "__rollout_file": {"path": p}, "changed": True} for p in written
        ]
    }
    if failed_write:
        wr["results"].append(
            {"ansible_loop_var": "__rollout_file", "__rollout_file": {"path": DEV}, "failed": True, "msg": failed_write}
        )
    return [rm, wr, {"results": []}]


def test_report_rolled_back_from_the_snapshot():
    report = rollout_restore_report(
        {
            "phase": "verify",
            "restore": True,
            "pending": False,
            "revert_info": SKIPPED,
            "reverted_now": SKIPPED,
            "restore_kernel": {"changed": True, "actions": ["deleted mv0 in ns1"]},
            "restore_check": {"changed": False, "actions": []},
            "files": files_results(removed=["/a"], written=[NET]),
        }
    )
    assert report == {"outcome": "rolled_back", "restored": ["deleted mv0 in ns1", "removed /a", "restored " + NET]}


def test_report_snapshot_restore_problems_are_incomplete():
    steps = {"phase": "apply", "restore": "True", "pending": "false", "restore_check": SKIPPED}
    failed_kernel = dict(steps, restore_kernel={"failed": True, "msg": "boom"})
    assert rollout_restore_report(failed_kernel) == {
        "outcome": "rollback_incomplete",
        "restored": ["kernel restore failed: boom"],
    }
    differs = dict(steps, restore_kernel={"actions": []}, restore_check={"changed": True, "actions": ["a", "b"]})
    assert rollout_restore_report(differs) == {
        "outcome": "rollback_incomplete",
        "restored": ["kernel differs from the snapshot after the restore: a; b"],
    }
    check_failed = dict(steps, restore_kernel={"actions": []}, restore_check={"failed": True, "msg": "x"})
    assert rollout_restore_report(check_failed)["outcome"] == "rollback_incomplete"
    files_failed = dict(
        steps, restore_kernel={"actions": []}, files=files_results(written=[NET], failed_write="denied")
    )
    assert rollout_restore_report(files_failed) == {
        "outcome": "rollback_incomplete",
        "restored": ["restored " + NET, "file restore failed: denied"],
    }
    # The check did not run (skipped): the kernel restore alone decides.
    assert rollout_restore_report(dict(steps, restore_kernel={"actions": []}))["outcome"] == "rolled_back"


def test_report_pending_change_reverted_now():
    steps = {
        "phase": "verify",
        "restore": True,
        "pending": True,
        "revert_status": {"self_reverted": False, "still_pending": True},
        "revert_info": {"last_revert": None},
        "reverted_now": {"changed": True, "reverted": [{"id": "c1", "restored": ["deleted mv0", "mode of mv1"]}]},
        "restore_kernel": SKIPPED,
        "restore_check": {"changed": False},
    }
    assert rollout_restore_report(steps) == {"outcome": "rolled_back", "restored": ["deleted mv0", "mode of mv1"]}
    failed = dict(steps, reverted_now={"failed": True, "msg": "gone"})
    assert rollout_restore_report(failed)["outcome"] == "rollback_incomplete"
    differs = dict(steps, restore_check={"changed": True, "actions": ["create mv0"]})
    assert rollout_restore_report(differs) == {
        "outcome": "rollback_incomplete",
        "restored": ["deleted mv0", "mode of mv1", "kernel differs from the snapshot after the restore: create mv0"],
    }


def test_report_self_reverted_and_reconnect():
    info = {"last_revert": {"id": "c1", "reason": "deadline", "restored": ["deleted mv0"]}}
    reverted = {
        "phase": "reconnect",
        "restore": True,
        "pending": True,
        "revert_status": {"self_reverted": True, "still_pending": False},
        "revert_info": info,
        "came_back": {"elapsed": 3},
        "reverted_now": SKIPPED,
        "restore_kernel": SKIPPED,
        "restore_check": {"changed": False},
    }
    assert rollout_restore_report(reverted) == {"outcome": "reverted", "restored": ["deleted mv0"]}
    not_back = dict(reverted, revert_status={"self_reverted": False}, came_back={"failed": True})
    assert rollout_restore_report(not_back) == {"outcome": "unreachable", "restored": []}
    unreachable = dict(reverted, revert_status={}, revert_info={"unreachable": True})
    assert rollout_restore_report(unreachable)["outcome"] == "unreachable"
    back_not_reverted = dict(reverted, revert_status={"self_reverted": False})
    assert rollout_restore_report(back_not_reverted)["outcome"] == "rollback_incomplete"


def test_report_no_restore_is_failed():
    # Before the apply (or in check mode, or rollback off): the host is only reported.
    assert rollout_restore_report({"phase": "preflight", "restore": False}) == {"outcome": "failed", "restored": []}
    assert rollout_restore_report({"phase": "verify", "restore": False, "revert_info": ""})["outcome"] == "failed"


@pytest.mark.parametrize(
    "steps, message",
    [
        ("verify", "the input must be a dict"),
        ({"phase": "later"}, "phase 'later' is not one of"),
        ({"phase": "verify", "restore": "maybe"}, "maybe"),
        ({"phase": "verify", "restore_kernel": ["x"]}, "restore_kernel must be a registered result"),
        ({"phase": "verify", "files": ["x"]}, r"files\[0\] must be a registered loop result"),
    ],
)
def test_report_bad_input(steps, message):
    with pytest.raises((AnsibleFilterError, TypeError), match=message):
        rollout_restore_report(steps)


# -- rollout_summary -------------------------------------------------------------------------------------------


def test_summary_counts_every_batch_and_the_hosts_not_started():
    hostvars = {
        "a": {"__rollout_batch": 1, "__rollout_outcome": "changed"},
        "b": {"__rollout_batch": "2", "__rollout_outcome": "unchanged"},
        "c": {"__rollout_batch": 2, "__rollout_outcome": "rolled_back"},
        "d": {"__rollout_batch": 2, "__rollout_outcome": "rollback_incomplete"},
        "e": {"__rollout_batch": 2, "__rollout_outcome": "reverted"},
        "f": {"__rollout_batch": 2, "__rollout_outcome": "unreachable"},
        "g": {"__rollout_batch": 2, "__rollout_outcome": "failed"},
        "h": {},
        "i": {"__rollout_batch": None},
    }
    lines = rollout_summary(list("abcdefghi"), hostvars, batch=2, batch_size=6, max_fail_percentage=20)
    assert lines == [
        "Batch 2 (6 hosts) done; max_fail_percentage 20%: Ansible stops the rollout when more than that share of a"
        " batch failed or was rolled back",
        "batch 1: changed 1 ['a'], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 0 []",
        "batch 2: changed 0 [], unchanged 1 ['b'], rolled back 2 ['c', 'd'], reverted by itself 1 ['e'],"
        " failed 2 ['f', 'g']",
        "Not started yet: 2 hosts",
    ]


def test_summary_complete_and_batches_in_number_order():
    hostvars = {
        "x": {"__rollout_batch": 10, "__rollout_outcome": "changed"},
        "y": {"__rollout_batch": 9, "__rollout_outcome": "changed"},
    }
    lines = rollout_summary(["x", "y"], hostvars, 10, 1)
    assert lines[0].startswith("Batch 10 (1 hosts) done; max_fail_percentage 0%: ")
    assert [line.split(":")[0] for line in lines[1:3]] == ["batch 9", "batch 10"]
    assert lines[-1] == "Rollout complete"


def test_summary_refuses_a_batch_that_is_not_a_number():
    with pytest.raises(AnsibleFilterError, match="host x has batch 'first'"):
        rollout_summary(["x"], {"x": {"__rollout_batch": "first"}}, 1, 1)
