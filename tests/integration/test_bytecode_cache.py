"""The modules' bytecode cache (module_utils/_boot.py), through Ansible: the first run of a module stores the
compiled code of the collection's module_utils in <state>/bytecode (root-only), later runs use it, and a damaged
or foreign cache never changes what a run does. The oracle is iproute2 (``ip -j -d link``) and the files."""

from __future__ import annotations

import os
import stat


def cache_entries(state):
    return {path.name: path.stat() for path in (state / "bytecode").iterdir()}


def links(host):
    return {"netns": host, "links": [{"name": "mv0", "parent": "p0", "mode": "private"}]}


def test_the_first_run_fills_the_cache_and_later_runs_use_it(lab, ansible_default, host, state):
    created = ansible_default.run("macvlan_state", **links(host))
    assert created["changed"] is True and not created.get("failed"), created.get("msg")
    assert lab.link(host, "mv0")["linkinfo"]["info_data"]["mode"] == "private"
    entries = cache_entries(state)
    names = {name.split(".")[0] for name in entries}
    assert {"_runner", "_engine", "_plan", "_model", "_rtnl", "_netlink"} <= names
    assert "_boot" not in names  # the module that installs the cache is compiled as usual
    assert stat.S_IMODE((state / "bytecode").stat().st_mode) == 0o700
    for name, st in entries.items():
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid(), name

    rerun = ansible_default.run("macvlan_state", **links(host))
    assert rerun["changed"] is False and not rerun.get("failed"), rerun.get("msg")
    # Used, not written again: the same files (inode and modification time).
    again = cache_entries(state)
    assert {n: (s.st_ino, s.st_mtime_ns) for n, s in again.items()} == {
        n: (s.st_ino, s.st_mtime_ns) for n, s in entries.items()
    }


def test_a_damaged_cache_changes_nothing_a_run_does(lab, ansible_default, host, state):
    assert ansible_default.run("macvlan_info", netns=host).get("failed") is not True
    for path in (state / "bytecode").iterdir():
        path.write_bytes(b"damaged")
    created = ansible_default.run("macvlan_state", **links(host))
    assert created["changed"] is True and not created.get("failed"), created.get("msg")
    assert lab.link(host, "mv0") is not None
    assert ansible_default.run("macvlan_state", **links(host))["changed"] is False
    for path in (state / "bytecode").iterdir():
        assert path.read_bytes() != b"damaged", path.name


def test_a_cache_directory_open_to_others_is_left_alone(lab, ansible_default, host, state):
    (state / "bytecode").mkdir(parents=True)
    (state / "bytecode").chmod(0o777)
    created = ansible_default.run("macvlan_state", **links(host))
    assert created["changed"] is True and not created.get("failed"), created.get("msg")
    assert lab.link(host, "mv0") is not None
    assert list((state / "bytecode").iterdir()) == []
    assert stat.S_IMODE((state / "bytecode").stat().st_mode) == 0o777


def test_the_switch_in_the_task_environment_turns_it_off(lab, ansible_default, host, state):
    ansible_default.env["HOSTNET_MACVLAN_BYTECODE_CACHE"] = "off"
    created = ansible_default.run("macvlan_state", **links(host))
    assert created["changed"] is True and not created.get("failed"), created.get("msg")
    assert not (state / "bytecode").exists()
