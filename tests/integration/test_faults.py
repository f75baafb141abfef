"""Bad input and faults: every case fails with a message that names the option and the value, and leaves the
host exactly as it was (compared with ``ip -j -d link`` before and after)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest


def refused(lab, ansible, ns, module="macvlan", **args):
    """Run a task that must fail; assert nothing changed in ``ns`` (links, addresses, routes); return the message."""
    before = lab.state(ns)
    result = ansible.run(module, **args)
    assert result.get("failed") is True, "expected a failure, got %r" % result
    assert lab.state(ns) == before, "a failed task changed the host"
    return result["msg"]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("a-name-that-is-too-long", "is too long: interface names are at most 15 bytes"),
        ("mv/0", "must not contain '/', ':', '%' or whitespace"),
        ("mv:0", "must not contain '/', ':', '%' or whitespace"),
        ("mv 0", "must not contain '/', ':', '%' or whitespace"),
        ("mv%d", "must not contain '/', ':', '%' or whitespace"),
    ],
)
def test_invalid_names(lab, ansible_default, host, name, reason):
    msg = refused(lab, ansible_default, host, name=name, parent="p0", netns=host)
    assert msg.startswith("name: %r " % name) and reason in msg


@pytest.mark.parametrize(
    "mac, reason",
    [
        ("02:42:ac:11:00", "is not a MAC address"),
        ("zz:42:ac:11:00:10", "is not a MAC address"),
        ("01:00:5e:00:00:01", "is a multicast MAC"),
    ],
)
def test_invalid_macs(lab, ansible_default, host, mac, reason):
    msg = refused(lab, ansible_default, host, name="mv0", parent="p0", netns=host, mac_address=mac)
    assert msg.startswith("mac_address: %r %s" % (mac, reason))


def test_unknown_mode(lab, ansible_default, host):
    msg = refused(lab, ansible_default, host, name="mv0", parent="p0", netns=host, mode="bridged")
    assert "mode" in msg and "bridged" in msg and "passthru" in msg


def test_mtu_above_parent(lab, ansible, host):
    msg = refused(lab, ansible, host, name="mv0", parent="p0", netns=host, mtu=9000)
    assert msg == "mtu: 9000 is larger than the MTU of parent 'p0' (1500); a macvlan cannot exceed its parent"


def test_mtu_above_parent_in_place(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, mtu=1400)
    msg = refused(lab, ansible, host, name="mv0", parent="p0", netns=host, mtu=1600)
    assert msg.startswith("mtu: 1600 is larger than the MTU of parent 'p0' (1500)")


def test_missing_parent(lab, ansible, host):
    msg = refused(lab, ansible, host, name="mv0", parent="eth9", netns=host)
    assert msg.startswith("parent: 'eth9' does not exist in netns %s" % host)


@pytest.mark.parametrize("option", ["netns", "link_netns"])
def test_missing_namespace(lab, ansible, host, option):
    args = {"name": "mv0", "parent": "p0", "netns": host, option: "hmv-no-such-ns"}
    msg = refused(lab, ansible, host, **args)
    assert msg.startswith(
        "%s: network namespace 'hmv-no-such-ns' does not exist (/run/netns/hmv-no-such-ns not found)" % option
    )


def test_missing_namespace_for_info_and_promisc(lab, ansible_default, host):
    for module, args in (("macvlan_info", {}), ("promisc", {"name": "p0"})):
        msg = refused(lab, ansible_default, host, module=module, netns="hmv-no-such-ns", **args)
        assert "netns: network namespace 'hmv-no-such-ns' does not exist" in msg


@pytest.mark.parametrize(
    "args, message",
    [
        (
            {"source_macs": ["02:00:00:00:00:01"]},
            "source_macs: ['02:00:00:00:00:01'] is only valid with mode source (mode is bridge)",
        ),
        ({"nopromisc": True, "mode": "bridge"}, "nopromisc: True is only valid with mode passthru (mode is bridge)"),
        ({"nodst": True, "mode": "vepa"}, "nodst: True is only valid with mode source (mode is vepa)"),
    ],
)
def test_impossible_mode_combinations(lab, ansible_default, host, args, message):
    assert refused(lab, ansible_default, host, name="mv0", parent="p0", netns=host, **args) == message


def test_second_link_on_passthru_parent(lab, ansible, host):
    ansible.converge("macvlan", name="mvp", parent="p1", netns=host, mode="passthru")
    msg = refused(lab, ansible, host, name="mv2", parent="p1", netns=host, mode="bridge")
    assert msg.startswith("parent: 'p1' already has the passthru link mvp")


def test_duplicate_sibling_mac_is_refused_before_anything_changes(lab, ansible, host):
    ansible.converge("macvlan", name="mva", parent="p0", netns=host, mac_address="02:00:00:00:aa:01")
    msg = refused(lab, ansible, host, name="mvb", parent="p0", netns=host, mac_address="02:00:00:00:AA:01")
    assert msg.startswith("mac_address: 02:00:00:00:aa:01 is already used by 'mva' on parent 'p0'")


def test_duplicate_mac_of_a_sibling_in_another_namespace_is_eaddrinuse(lab, ansible, host):
    """The sibling lives in another namespace, invisible to the plan: the kernel refuses to bring the new link
    up (EADDRINUSE), the module explains it and nothing is left behind."""
    vm = lab.netns("vm")
    ansible.converge("macvlan", name="mva", parent="p0", netns=host, link_netns=vm, mac_address="02:00:00:00:aa:01")
    msg = refused(lab, ansible, host, name="mvb", parent="p0", netns=host, mac_address="02:00:00:00:aa:01")
    assert "Address already in use" in msg
    assert "already uses this MAC address" in msg
    assert lab.link(host, "mvb") is None


@pytest.mark.parametrize("state", ["present", "absent"])
def test_interface_of_another_kind_is_never_touched(lab, ansible, host, state):
    args = {"name": "q0", "netns": host, "state": state}
    if state == "present":
        args["parent"] = "p1"
    msg = refused(lab, ansible, host, **args)
    assert msg.startswith("name: 'q0' already exists in netns %s as a veth interface, not a macvlan or macvtap" % host)
    assert lab.link(host, "q0")["linkinfo"]["info_kind"] == "veth"


def test_parent_that_is_a_macvlan(lab, ansible, host):
    ansible.converge("macvlan", name="mva", parent="p0", netns=host)
    msg = refused(lab, ansible, host, name="mvb", parent="mva", netns=host)
    assert msg.startswith("parent: 'mva' is itself a macvlan")


def test_failed_step_rolls_back_created_link(lab, ansible, host):
    """The route's gateway is unreachable: the kernel refuses the last step, the link created by the
    earlier steps is removed again, and the message says so."""
    msg = refused(
        lab,
        ansible,
        host,
        name="mv0",
        parent="p0",
        netns=host,
        addresses=["192.0.2.10/24"],
        routes=[{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}],
    )
    assert "add_route mv0" in msg and "delete macvlan mv0 (created by this run) in netns %s" % host in msg
    assert lab.link(host, "mv0") is None


def test_failed_step_rolls_back_in_place_changes(lab, ansible, host):
    ansible.converge(
        "macvlan", name="mv0", parent="p0", netns=host, mode="private", mtu=1400, addresses=["192.0.2.10/24"]
    )
    msg = refused(
        lab,
        ansible,
        host,
        name="mv0",
        parent="p0",
        netns=host,
        mode="vepa",
        mtu=1300,
        addresses=["192.0.2.11/24"],
        routes=[{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}],
    )
    assert "set mode of mv0: vepa -> private in netns %s" % host in msg
    link = lab.link(host, "mv0")
    assert link["linkinfo"]["info_data"]["mode"] == "private" and link["mtu"] == 1400
    assert lab.addresses(host, "mv0") == ["192.0.2.10/24"]


def test_pyroute2_missing_on_target(lab, ansible_default, host, tmp_path):
    """A target interpreter without pyroute2: a change fails before it starts, saying how to install it; reading
    (facts, check mode, a run with nothing to change) needs only the standard library."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    ansible_default.env["ANSIBLE_PYTHON_INTERPRETER"] = str(bare / "bin" / "python")
    for module, args in (
        ("macvlan", {"name": "mv0", "parent": "p0", "netns": host}),
        ("promisc", {"name": "p0", "netns": host}),
    ):
        msg = refused(lab, ansible_default, host, module=module, **args)
        assert "Failed to import the required Python library (pyroute2)" in msg
        assert "apt-get install python3-pyroute2" in msg and "pip install pyroute2" in msg
    before = lab.state(host)
    planned = ansible_default.run("macvlan", check=True, name="mv0", parent="p0", netns=host)
    assert planned["changed"] is True and not planned.get("failed"), planned
    facts = ansible_default.run("macvlan_info", netns=host)
    assert not facts.get("failed") and facts["links"] == {}, facts
    unchanged = ansible_default.run("promisc", name="p0", promisc=False, netns=host)
    assert unchanged["changed"] is False and not unchanged.get("failed"), unchanged
    assert lab.state(host) == before


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is not installed")
def test_without_cap_net_admin(lab, ansible_default, host):
    """Root without CAP_NET_ADMIN (dropped from the bounding set) inside the lab namespace: changes are
    refused before anything is touched, while check mode and facts still work."""
    prefix = ["ip", "netns", "exec", host, "setpriv", "--bounding-set", "-net_admin", "--"]
    before = lab.state(host)
    task = {"name": "under test", "hostnet.macvlan.macvlan": {"name": "mv0", "parent": "p0"}, "ignore_errors": True}
    result = ansible_default.playbook([task], prefix=prefix)[0]
    assert result["failed"] is True
    assert "changing links needs root (CAP_NET_ADMIN)" in result["msg"] and "become: true" in result["msg"]
    assert lab.state(host) == before
    checked = ansible_default.playbook([task], prefix=prefix, check=True)[0]
    assert not checked.get("failed") and checked["changed"] is True
    facts = ansible_default.playbook([{"name": "facts", "hostnet.macvlan.macvlan_info": {}}], prefix=prefix)[0]
    assert not facts.get("failed") and facts["links"] == {}
