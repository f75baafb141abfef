"""Support-matrix smoke: the engine and the topology role through one controller (ansible-core) and one
managed-node Python with one pyroute2 release, chosen by scripts/matrix.sh (see conftest.py).

A few minutes per pair, and every path that differs between versions: the modules run on the managed node's
Python (module_utils imports, AnsiballZ), links are created (standard-library rtnetlink), changed in place,
deleted, given addresses and routes (pyroute2: every message type the engine sends with it), moved between
namespaces, read back, rolled back after a kernel refusal, and the role drives the modules. Every change is
followed by a rerun that must change nothing and a check-mode run that must plan nothing (``converge``). The
oracle is iproute2 (tests/integration/conftest.py), never the code under test.
"""

from __future__ import annotations

import os
import subprocess

from conftest import ANSIBLE_CORE, integration
from role_helpers import converge_role, run_role

rtnl = integration.rtnl


def info(link):
    return link["linkinfo"]["info_data"]


def host_ns(lab, parents=("p0", "p1", "p2")):
    ns = lab.netns("host")
    for index, name in enumerate(parents):
        lab.veth(ns, name, "q%d" % index)
    return ns


def own_routes(lab, ns, name):
    return sorted(
        (r["dst"], r.get("gateway"), r.get("metric", 0))
        for family in ("-4", "-6")
        for r in lab.routes(ns, name, family)
        if r.get("protocol") not in ("kernel", "ra")
    )


def kernel_has_bclim():
    major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 4)


def test_controller_and_managed_node_are_the_ones_asked_for(lab, ansible, target):
    """ansible-playbook is the controller under test, the modules run on the managed-node Python under test, and
    macvlan_info (which needs no pyroute2) reports the pyroute2 that Python imports."""
    version = subprocess.run(
        ["ansible-playbook", "--version"], env=ansible.env, capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    assert version.startswith("ansible-playbook [core "), version
    if ANSIBLE_CORE:
        assert version == "ansible-playbook [core %s]" % ANSIBLE_CORE
    facts = ansible.run("ansible.builtin.setup", gather_subset=["!all", "!min", "python"])
    assert not facts.get("failed"), facts.get("msg")
    python = facts["ansible_facts"]["ansible_python"]["version"]
    assert "%d.%d" % (python["major"], python["minor"]) == target["python_version"]
    ns = host_ns(lab, ("p0",))
    found = ansible.run("macvlan_info", netns=ns)
    assert not found.get("failed"), found.get("msg")
    # Before Python 3.8 the version cannot be read without importing pyroute2 (no importlib.metadata).
    expected = "unknown" if target["python_version"] in ("3.6", "3.7") else target["pyroute2"]
    assert found["pyroute2"] == expected
    assert found["links"] == {}


def test_state_create_change_in_place_move_delete(lab, ansible):
    """macvlan_state: every mode, macvtap, source MACs, flags, addresses, routes, bcqueuelen, a parent's
    promiscuity; then in-place changes of all of them, a move into another namespace and a deletion."""
    ns = host_ns(lab)
    vm = lab.netns("vm")
    links = [
        {
            "name": "mv-a",
            "parent": "p0",
            "mode": "bridge",
            "mac_address": "02:42:ac:11:00:10",
            "mtu": 1400,
            "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
            "routes": [{"dest": "198.51.100.0/24", "gateway": "192.0.2.1"}, {"dest": "203.0.113.0/24", "metric": 7}],
            "bcqueuelen": 300,
        },
        {"name": "mv-b", "parent": "p0", "mode": "private"},
        {"name": "mv-src", "parent": "p1", "mode": "source", "source_macs": ["02:00:00:00:00:01"], "nodst": True},
        {"name": "mv-vm", "parent": "p0", "mode": "vepa", "link_netns": vm, "addresses": ["192.0.2.20/24"]},
        {"name": "mvtap0", "parent": "p2", "type": "macvtap", "mode": "passthru", "nopromisc": True},
        {"name": "mv-mover", "parent": "p0"},
        {"name": "mv-gone", "parent": "p0", "mode": "vepa"},
    ]
    parents = [{"name": "p0", "promisc": True}]
    if kernel_has_bclim():
        links[1]["bclim"] = 4
    first = ansible.converge("macvlan_state", netns=ns, links=links, parents=parents)
    assert first["changed"] is True and first["links_changed"] == len(links)
    a = lab.link(ns, "mv-a")
    assert (a["link"], info(a)["mode"], a["address"], a["mtu"]) == ("p0", "bridge", "02:42:ac:11:00:10", 1400)
    assert info(a)["bcqueuelen"] == 300
    assert lab.addresses(ns, "mv-a") == ["192.0.2.10/24", "2001:db8::10/64"]
    assert own_routes(lab, ns, "mv-a") == [("198.51.100.0/24", "192.0.2.1", 0), ("203.0.113.0/24", None, 7)]
    src = info(lab.link(ns, "mv-src"))
    assert (src["mode"], src.get("nodst"), src["macaddr_data"]) == ("source", True, ["02:00:00:00:00:01"])
    tap = lab.link(ns, "mvtap0")
    assert (tap["linkinfo"]["info_kind"], info(tap)["mode"], info(tap)["nopromisc"]) == ("macvtap", "passthru", True)
    assert info(lab.link(vm, "mv-vm"))["mode"] == "vepa" and lab.addresses(vm, "mv-vm") == ["192.0.2.20/24"]
    assert "PROMISC" in lab.link(ns, "p0")["flags"]
    if kernel_has_bclim():
        assert rtnl(ns, "mv-b")["bc_cutoff"] == 4
    indexes = {name: lab.link(ns, name)["ifindex"] for name in ("mv-a", "mv-b", "mv-src")}

    # In place: mode, MAC, MTU, addresses, routes, bcqueuelen, bclim, link state, source MACs, nodst, promisc;
    # a move into another namespace; a deletion.
    links[0].update(
        mode="private",
        mac_address="02:42:ac:11:00:11",
        mtu=1300,
        addresses=["192.0.2.11/24"],
        routes=[{"dest": "198.51.100.0/24", "gateway": "192.0.2.254"}],
        bcqueuelen=400,
    )
    links[1].update(link_state="down")
    if kernel_has_bclim():
        links[1]["bclim"] = -1
    links[2].update(source_macs=["02:00:00:00:00:02", "02:00:00:00:00:03"], nodst=False)
    links[5]["link_netns"] = vm
    links[6]["state"] = "absent"
    parents = [{"name": "p0", "promisc": False}]
    second = ansible.converge("macvlan_state", netns=ns, links=links, parents=parents)
    for expected in ("set mode of mv-a", "set mtu of mv-a", "set promisc of p0", "delete macvlan mv-gone"):
        assert any(line.startswith(expected) for line in second["actions"]), (expected, second["actions"])
    assert {name: lab.link(ns, name)["ifindex"] for name in indexes} == indexes
    a = lab.link(ns, "mv-a")
    assert (info(a)["mode"], a["address"], a["mtu"], info(a)["bcqueuelen"]) == (
        "private",
        "02:42:ac:11:00:11",
        1300,
        400,
    )
    assert lab.addresses(ns, "mv-a") == ["192.0.2.11/24"]
    assert own_routes(lab, ns, "mv-a") == [("198.51.100.0/24", "192.0.2.254", 0)]
    assert "UP" not in lab.link(ns, "mv-b")["flags"]
    src = info(lab.link(ns, "mv-src"))
    assert (src.get("nodst", False), sorted(src["macaddr_data"])) == (False, ["02:00:00:00:00:02", "02:00:00:00:00:03"])
    assert lab.link(ns, "mv-mover") is None and lab.link(vm, "mv-mover") is not None
    assert lab.link(ns, "mv-gone") is None
    assert "PROMISC" not in lab.link(ns, "p0")["flags"]
    if kernel_has_bclim():
        assert rtnl(ns, "mv-b")["bc_cutoff"] == -1


def test_state_kernel_refusal_rolls_back_exactly(lab, ansible):
    """A run that purges a link (first: a new link takes its MAC), sets a parent flag, creates links, changes one in
    place and adds addresses, then meets a kernel refusal (a route whose gateway no link can reach): every step is
    undone, the purged link re-created with its address."""
    ns = host_ns(lab)
    start = [
        {"name": "mv00", "parent": "p0", "mode": "private", "mtu": 1400, "addresses": ["192.0.2.100/24"]},
        {"name": "gone", "parent": "p0", "mac_address": "02:00:00:00:77:02", "addresses": ["192.0.2.200/24"]},
    ]
    result = ansible.run("macvlan_state", netns=ns, links=start)
    assert result["changed"] is True and not result.get("failed"), result.get("msg")
    before = lab.state(ns)
    links = [{"name": "mv%02d" % i, "parent": "p0", "addresses": ["192.0.2.%d/24" % (i + 1)]} for i in range(6)]
    links[0].update(mode="bridge", mtu=1300)
    links[1]["mac_address"] = "02:00:00:00:77:02"
    links[4]["routes"] = [{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}]
    result = ansible.run("macvlan_state", netns=ns, links=links, parents=[{"name": "p0", "promisc": True}], purge=True)
    assert result["failed"] is True
    assert "add_route mv04" in result["msg"] and "Rolled back:" in result["msg"], result["msg"]
    assert result["actions"][1] == "delete macvlan gone in netns %s" % ns, result["actions"]
    assert any(line.startswith("re-create macvlan gone on p0") for line in result["rolled_back"]), result["rolled_back"]
    assert result["not_restored"] == []
    assert lab.state(ns) == before
    # What the rollback left is exactly the start: the start's rerun plans nothing.
    again = ansible.run("macvlan_state", netns=ns, links=start)
    assert again["changed"] is False and not again.get("failed"), again.get("actions")


def test_single_link_and_promisc_modules(lab, ansible):
    """The one-link and parent-flag modules: apply, rerun unchanged, remove (their own argument specs and results;
    the engine is the one macvlan_state uses)."""
    ns = host_ns(lab, ("p0",))
    args = {"name": "mv0", "parent": "p0", "netns": ns, "mode": "source", "source_macs": ["02:00:00:00:00:01"]}
    first = ansible.run("macvlan", **args)
    assert first["changed"] is True and not first.get("failed"), first.get("msg")
    assert info(lab.link(ns, "mv0"))["macaddr_data"] == ["02:00:00:00:00:01"]
    again = ansible.run("macvlan", **args)
    assert again["changed"] is False and not again.get("failed"), again.get("actions")
    flag = ansible.run("promisc", name="p0", netns=ns, promisc=True)
    assert flag["changed"] is True and flag["promisc"] is True and "PROMISC" in lab.link(ns, "p0")["flags"]
    gone = ansible.run("macvlan", name="mv0", parent="p0", netns=ns, state="absent")
    assert gone["changed"] is True and lab.link(ns, "mv0") is None


def test_topology_role_persist_none(lab, ansible):
    ns = host_ns(lab, ("p0", "p1"))
    links = [
        {"name": "mv-web", "parent": "p0", "mode": "bridge", "addresses": ["192.0.2.10/24"]},
        {"name": "mv-src", "parent": "p1", "mode": "source", "source_macs": ["02:00:00:00:00:01"]},
        {"name": "mvtap1", "parent": "p1", "type": "macvtap"},
    ]
    variables = {
        "macvlan_topology_netns": ns,
        "macvlan_topology_persist": "none",
        "macvlan_topology_install_pyroute2": False,
        "macvlan_topology_links": links,
        "macvlan_topology_parents": [{"name": "p0", "promisc": True}],
    }
    converge_role(ansible, "macvlan_topology", **variables)
    for link in links:
        got = lab.link(ns, link["name"])
        assert got is not None and got["link"] == link["parent"], link["name"]
        assert info(got)["mode"] == link.get("mode", "bridge")
    assert lab.addresses(ns, "mv-web") == ["192.0.2.10/24"]
    assert "PROMISC" in lab.link(ns, "p0")["flags"]
    index = lab.link(ns, "mv-web")["ifindex"]
    links[0]["mode"] = "private"
    changed = run_role(ansible, "macvlan_topology", **variables)
    assert not changed.failed and changed.changed, changed.output[-4000:]
    assert info(lab.link(ns, "mv-web"))["mode"] == "private"
    assert lab.link(ns, "mv-web")["ifindex"] == index
