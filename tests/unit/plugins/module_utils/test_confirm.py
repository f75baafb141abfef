"""Pending changes on disk: ids, the pending check, confirming and reverting (pure file handling, no root)."""

from __future__ import annotations

import json
import os
import re
import stat
import time

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _confirm, _journal, _lock


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTNET_MACVLAN_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def pending_change(change_id="20261129T120000-0000abcd", ns=None, journal=None, deadline=2e9):
    data = {
        "id": change_id,
        "created": 1.0,
        "deadline": deadline,
        "timeout": 90,
        "namespaces": [{"ns": ns, "identity": _confirm.identity(ns)}],
        "actions": ["create macvlan mv0 on eth0 (mode bridge, up) in the host namespace"],
        "journal": (journal or _journal.Journal()).data(),
        "revert": {"method": "process", "pid": 0},
    }
    _confirm._write_json(_confirm._path(change_id), data)
    return data


@pytest.mark.parametrize("change_id", ["../../etc/passwd", "a/b", "", "x" * 65, "id with space", 5])
def test_ids_that_could_name_another_file_are_refused(change_id):
    assert not _confirm.valid_id(change_id)


def test_ids_made_by_arm_are_valid():
    assert _confirm.valid_id("20261129T120000-0000abcd")


def test_journals_are_root_only_files_in_a_root_only_directory(state):
    pending_change()
    path = state / "pending" / "20261129T120000-0000abcd.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "pending").stat().st_mode) == 0o700
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


@pytest.mark.parametrize("how", ["symlink", "writable"])
def test_a_state_directory_others_could_write_is_refused(state, tmp_path, how):
    """Pending journals are replayed, and the revert's code run, as root: a state directory that is a symbolic link
    or that others can write to is refused, when arming (writing) and when reading pending changes."""
    if how == "symlink":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        state.symlink_to(elsewhere)
        expected = "it is a symbolic link"
    else:
        state.mkdir(mode=0o700)
        state.chmod(0o777)
        expected = "others can write to it (mode 777)"
    with pytest.raises(_confirm.ConfirmError, match=r"refusing the state directory .*: %s" % re.escape(expected)):
        _confirm.pending()
    with pytest.raises(_confirm.ConfirmError, match=re.escape(expected)):
        pending_change()
    with pytest.raises(_confirm.ConfirmError, match=re.escape(expected)):
        _confirm.revert("20261129T120000-0000abcd", "asked")


def test_the_pending_check_names_the_change_and_what_to_do(state):
    pending_change()
    with pytest.raises(
        _confirm.ConfirmError, match=r"\(id 20261129T120000-0000abcd\) is pending in the host namespace"
    ):
        _confirm.check_pending([None])
    assert _confirm.pending(["/proc/1/ns/net-does-not-exist"]) == []


def test_confirm_removes_the_journal_and_reports_what_was_pending(state):
    pending_change()
    assert _confirm.confirm(["20261129T120000-0000abcd"], check_mode=True)[0][0]["id"] == "20261129T120000-0000abcd"
    assert _confirm.pending()  # check mode kept it
    done, lost = _confirm.confirm(["20261129T120000-0000abcd"])
    assert done[0]["namespaces"] == [None] and done[0]["deadline_iso"] == "2033-05-18T03:33:20Z" and lost == []
    assert _confirm.pending() == []
    # Nothing pending any more when its turn came (confirmed, or reverted meanwhile): the caller says which.
    assert _confirm.confirm(["20261129T120000-0000abcd"]) == ([], ["20261129T120000-0000abcd"])


def test_a_reverted_change_is_known_by_its_id_and_results_stay_brief(state):
    """Every revert is kept by id (a confirm of any of them fails saying so, not only of the last one), and the
    records and summaries results carry hold at most RESULT_LINES lines of each list, with the counts."""
    pending_change()
    data = json.loads((state / "pending" / "20261129T120000-0000abcd.json").read_text())
    data["actions"] = ["create macvlan mv%d on p0" % i for i in range(5000)]
    (state / "pending" / "20261129T120000-0000abcd.json").write_text(json.dumps(data))
    brief = _confirm.summary(_confirm.pending()[0])
    assert len(brief["actions"]) == _confirm.RESULT_LINES and brief["actions_total"] == 5000
    assert brief["actions"][-1] == "... and %d more" % (5000 - _confirm.RESULT_LINES + 1)
    _confirm.revert("20261129T120000-0000abcd", "asked")
    record = _confirm.reverted("20261129T120000-0000abcd")
    assert record["reason"] == "asked" and record["actions_total"] == 5000
    assert len(json.dumps(record)) < 10000 and len(json.dumps(_confirm.last_revert())) < 10000
    assert _confirm.reverted("20261129T120000-00000000") is None and _confirm.reverted("../x") is None


def test_a_revert_that_cannot_take_the_namespace_lock_keeps_the_change_pending(state, monkeypatch):
    """The namespaces stay locked for the revert's whole wait: the change stays pending (its journal kept), so the
    helper tries again and an asked revert can too; it is not dropped as if reverted."""

    def locked(data, namespaces, lock_timeout):
        raise _lock.LockError("the network namespace is locked by pid 4242")

    monkeypatch.setattr(_confirm, "_replay", locked)
    pending_change()
    record = _confirm.revert("20261129T120000-0000abcd", "asked")
    assert record["busy"] and "could not run yet" in record["not_restored"][0]
    assert [data["id"] for data in _confirm.pending()] == ["20261129T120000-0000abcd"]
    assert _confirm.last_revert() is None and _confirm.reverted("20261129T120000-0000abcd") is None


def test_a_revert_of_an_empty_journal_records_what_it_did(state):
    pending_change()
    record = _confirm.revert("20261129T120000-0000abcd", "asked")
    assert record["reason"] == "asked" and record["restored"] == [] and record["not_restored"] == []
    assert _confirm.last_revert()["id"] == "20261129T120000-0000abcd"
    assert _confirm.pending() == []
    assert _confirm.revert("20261129T120000-0000abcd", "asked") is None  # gone: nothing to revert


def test_a_revert_in_a_namespace_that_is_gone_says_so_and_touches_nothing(state, tmp_path):
    missing = str(tmp_path / "no-such-namespace")
    pending_change(ns=missing)
    record = _confirm.revert("20261129T120000-0000abcd", "confirm_timeout of 90 s expired")
    assert record["not_restored"] == ["netns %s no longer exists: what was changed there is gone with it" % missing]
    assert json.loads((state / "last_revert.json").read_text())["not_restored"] == record["not_restored"]


def test_the_revert_helper_gives_up_quietly_on_a_confirmed_change(state, capsys):
    assert _confirm.main(["revert", "20261129T120000-0000abcd"]) == 0
    assert "is no longer pending (confirmed or reverted); nothing to do" in capsys.readouterr().out
    assert _confirm.main(["bogus"]) == 2


def test_the_helper_copies_every_module_it_imports(state):
    lib = _confirm._install_helper()
    package = os.path.join(lib, *_confirm.PACKAGE.split("."))
    assert sorted(name[:-3] for name in os.listdir(package) if name != "__init__.py") == sorted(_confirm.HELPER_MODULES)
    for name in _confirm.HELPER_MODULES:
        with open(os.path.join(package, name + ".py")) as handle:
            source = handle.read()
        for imported in ("_persist", "_runner", "_engine", "_results", "_options"):
            assert "import %s" % imported not in source and ", %s" % imported not in source, (name, imported)


def test_run_returns_the_exit_code_and_the_output():
    assert _confirm._run(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\nerr\n")
    code, dummy = _confirm._run(["/nonexistent/hostnet-macvlan-test"])
    assert code == 127


def test_detach_starts_a_process_in_its_own_session_with_its_output_in_the_log(tmp_path):
    log = tmp_path / "revert.log"
    pid = _confirm._detach(["sh", "-c", "echo started; exec sleep 30"], str(log))
    try:
        deadline = time.monotonic() + 10
        while "started" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the detached process wrote nothing"
            time.sleep(0.05)
        assert os.getsid(pid) == pid != os.getsid(0)  # after it wrote: setsid came before the exec
        assert oct(os.stat(log).st_mode & 0o777) == "0o600"
        assert os.readlink("/proc/%d/cwd" % pid) == "/"
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
