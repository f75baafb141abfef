"""macvlan_state ``parents``: the parent's MTU and administrative state on the real kernel (issue 13 item 3).

The oracle is iproute2 (``ip -j -d link``; ``oracle.full_dump`` for the exact before/after of a rollback), never the
code under test. Every converge is followed by a rerun that must report no change and a check-mode run that must
plan nothing and change nothing (``ansible.converge``).
"""

from __future__ import annotations

import subprocess

import faults_helpers
import pytest
from faults_helpers import assert_clean_failure
from oracle import assert_same, full_dump
from role_helpers import NETWORKD, boot_networkd, converge_role, parse_ini, section
from test_persist_module import PREFIX, converge, dirs, tree

faults = faults_helpers.faults


def mtu(lab, ns, name):
    return lab.link(ns, name)["mtu"]


def admin_up(lab, ns, name):
    return "UP" in lab.link(ns, name)["flags"]


def refused(lab, ansible, ns, **args):
    """A macvlan_state run that must fail and change nothing in ``ns`` (links, addresses, routes, per iproute2)."""
    before = full_dump(ns)
    result = ansible.run("macvlan_state", netns=ns, **args)
    assert result.get("failed") is True, "expected a failure, got %r" % result
    assert "Rolled back" not in result["msg"], result["msg"]  # refused before the first change
    assert_same(ns, before)
    return result["msg"]


def test_raise_the_parent_and_create_big_children_in_one_run(lab, ansible, host):
    parents = [{"name": "p0", "promisc": False, "mtu": 9000}]
    links = [
        {"name": "mvj", "parent": "p0", "mtu": 9000},
        {"name": "mvk", "parent": "p0"},  # no mtu: the kernel gives a new link its parent's MTU
        {"name": "mvs", "parent": "p0", "mtu": 1500},
    ]

    # Check mode predicts the whole run (the big child fits the parent's planned MTU) and changes nothing.
    before = full_dump(host)
    planned = ansible.run("macvlan_state", check=True, diff=True, netns=host, links=links, parents=parents)
    assert not planned.get("failed"), planned.get("msg")
    assert planned["changed"] is True
    assert planned["actions"][0] == "set mtu of p0: 1500 -> 9000 in netns %s" % host
    assert planned["parents"]["p0"]["mtu"] == 9000 and planned["parents"]["p0"]["promiscuity"] is None
    assert planned["diff"]["before"]["parents"] == {"p0": {"mtu": 1500}}
    assert planned["diff"]["after"]["parents"] == {"p0": {"mtu": 9000}}
    predicted = {link["name"]: link["mtu"] for link in planned["links"]}
    assert predicted == {"mvj": 9000, "mvk": 9000, "mvs": 1500}
    assert_same(host, before)

    first = ansible.converge("macvlan_state", netns=host, links=links, parents=parents)
    assert first["actions"][0] == "set mtu of p0: 1500 -> 9000 in netns %s" % host
    assert [line.split(" (")[0] for line in first["actions"][1:]] == [
        "create macvlan mvj on p0",
        "create macvlan mvk on p0",
        "create macvlan mvs on p0",
    ]
    assert first["diff"]["before"]["parents"] == {"p0": {"mtu": 1500}}
    assert first["diff"]["after"]["parents"] == {"p0": {"mtu": 9000}}
    assert first["parents"]["p0"] == {
        "name": "p0",
        "promisc": False,
        "promiscuity": lab.link(host, "p0")["promiscuity"],
        "mtu": 9000,
        "link_state": "up",
    }
    assert {name: mtu(lab, host, name) for name in ("p0", "mvj", "mvk", "mvs")} == {
        "p0": 9000,
        "mvj": 9000,
        "mvk": 9000,
        "mvs": 1500,
    }
    assert mtu(lab, host, "p1") == 1500 and mtu(lab, host, "q0") == 1500  # nothing else touched


def test_lower_below_a_child_is_refused_then_allowed_with_the_child(lab, ansible_default, host):
    ansible_default.converge(
        "macvlan_state",
        netns=host,
        parents=[{"name": "p0", "mtu": 9000}],
        links=[{"name": "mvj", "parent": "p0", "mtu": 9000}],
    )
    # The child keeps 9000 (asked for): the parent may not go below it.
    msg = refused(
        lab,
        ansible_default,
        host,
        parents=[{"name": "p0", "mtu": 1500}],
        links=[{"name": "mvj", "parent": "p0", "mtu": 9000}],
    )
    assert msg.startswith("links[0] (mvj): mtu: 9000 is larger than the MTU of parent 'p0' (1500, as parents asks")
    # The child is listed without mtu (it keeps its 9000): refused, naming the parent, the value and the child.
    msg = refused(
        lab, ansible_default, host, parents=[{"name": "p0", "mtu": 1500}], links=[{"name": "mvj", "parent": "p0"}]
    )
    assert msg.startswith("parents[0].mtu: 1500 is below the MTU of links[0] (mvj) (9000) on parent 'p0'"), msg
    # A child the task does not list (made with iproute2) counts with its current MTU.
    lab.ip(host, "link", "add", "link", "p0", "name", "other", "mtu", "8000", "type", "macvlan", "mode", "bridge")
    msg = refused(lab, ansible_default, host, parents=[{"name": "p0", "mtu": 1500}], links=[])
    assert msg.startswith("parents[0].mtu: 1500 is below the MTU of macvlan ") and "(not managed by this task)" in msg
    assert "on parent 'p0'" in msg
    lab.ip(host, "link", "del", "other")

    # Lowering the child in the same run: the child first, the parent after.
    lowered = ansible_default.converge(
        "macvlan_state",
        netns=host,
        parents=[{"name": "p0", "mtu": 1500}],
        links=[{"name": "mvj", "parent": "p0", "mtu": 1400}],
    )
    assert lowered["actions"] == [
        "set mtu of mvj: 9000 -> 1400 in netns %s" % host,
        "set mtu of p0: 9000 -> 1500 in netns %s" % host,
    ]
    assert (mtu(lab, host, "p0"), mtu(lab, host, "mvj")) == (1500, 1400)


@pytest.mark.parametrize(
    "parent, message",
    [
        ({"name": "p0", "mtu": 70000}, "parents[0].mtu: 70000 is out of range 68..65535"),
        ({"name": "p0", "mtu": 60}, "parents[0].mtu: 60 is out of range 68..65535"),
        ({"name": "p0", "link_state": "sideways"}, "link_state"),
        ({"name": "p9", "mtu": 9000}, "parents[0].name: 'p9' does not exist in netns"),
    ],
)
def test_bad_parent_values_are_refused(lab, ansible_default, host, parent, message):
    msg = refused(lab, ansible_default, host, parents=[parent])
    assert message in msg, msg


def test_parent_link_state_down_and_up(lab, ansible_default, host):
    lab.ip(host, "address", "add", "192.0.2.1/24", "dev", "p0")
    down = ansible_default.converge(
        "macvlan_state",
        netns=host,
        parents=[{"name": "p0", "promisc": False, "link_state": "down"}],
        links=[{"name": "mvd", "parent": "p0"}],
    )
    # The link is created while the parent is still up; the parent goes down last.
    assert [line.split(" (")[0] for line in down["actions"]] == [
        "create macvlan mvd on p0",
        "set link state of p0: up -> down in netns %s" % host,
    ]
    assert down["diff"]["before"]["parents"] == {"p0": {"link_state": "up"}}
    assert down["diff"]["after"]["parents"] == {"p0": {"link_state": "down"}}
    assert not admin_up(lab, host, "p0") and admin_up(lab, host, "mvd")
    assert admin_up(lab, host, "p1")

    up = ansible_default.converge(
        "macvlan_state", netns=host, parents=[{"name": "p0", "promisc": False, "link_state": "up"}]
    )
    assert up["actions"] == ["set link state of p0: down -> up in netns %s" % host]
    assert admin_up(lab, host, "p0")
    # Omitted: the state (and MTU) are left as they are.
    assert (
        ansible_default.run("macvlan_state", netns=host, parents=[{"name": "p0", "promisc": False}])["changed"] is False
    )


def test_fault_after_the_parent_steps_rolls_back_exactly(lab, ansible_default, host, faults):
    """The parent is raised and its flag set (phase 0), a link created; the next creation fails: the journal undoes
    the link and then the parent's MTU and flag, and the full dump equals the one before."""
    lab.ip(host, "address", "add", "192.0.2.1/24", "dev", "p0")
    lab.ip(host, "address", "add", "2001:db8::1/64", "dev", "p0", "nodad")
    before = full_dump(host)
    run = faults.run(
        ansible_default,
        "macvlan_state",
        {"method": "apply", "op": "create", "at": 2, "raise": "errno:22"},
        netns=host,
        parents=[{"name": "p0", "mtu": 9000, "promisc": True}],
        links=[{"name": "mva", "parent": "p0", "mtu": 9000}, {"name": "mvb", "parent": "p0", "mtu": 9000}],
    )
    run.assert_fired()
    msg = assert_clean_failure(run.result)
    assert run.result["actions"][:3] == [
        "set promisc of p0: False -> True in netns %s" % host,
        "set mtu of p0: 1500 -> 9000 in netns %s" % host,
        "create macvlan mva on p0 (mode bridge, mtu 9000, up) in netns %s" % host,
    ], run.result["actions"]
    assert "mtu of p0" in msg
    assert_same(host, before)


def test_fault_after_the_parent_goes_down_restores_its_addresses(lab, ansible_default, host, faults):
    """The parent's MTU is lowered and it is taken down (the last phase: its addresses and routes go with it); the
    read-back then fails: the rollback brings it up with its MTU, addresses and routes, exactly as before."""
    lab.ip(host, "link", "set", "p0", "mtu", "9000")
    lab.ip(host, "address", "add", "192.0.2.1/24", "dev", "p0")
    lab.ip(host, "address", "add", "2001:db8::1/64", "dev", "p0", "nodad")
    lab.ip(host, "route", "add", "198.51.100.0/24", "via", "192.0.2.254", "dev", "p0")
    before = full_dump(host)
    run = faults.run(
        ansible_default,
        "macvlan_state",
        {"method": "observe", "at": 2, "raise": "RuntimeError"},
        netns=host,
        parents=[{"name": "p0", "promisc": False, "mtu": 1500, "link_state": "down"}],
    )
    run.assert_fired()
    assert_clean_failure(run.result)
    assert run.result["actions"] == [
        "set mtu of p0: 9000 -> 1500 in netns %s" % host,
        "set link state of p0: up -> down in netns %s" % host,
    ], run.result["actions"]
    assert_same(host, before)


def test_info_reports_the_parent(lab, ansible_default, host):
    ansible_default.converge(
        "macvlan_state",
        netns=host,
        parents=[{"name": "p0", "mtu": 4000, "promisc": True}],
        links=[{"name": "mvi", "parent": "p0"}],
    )
    facts = ansible_default.run("macvlan_info", netns=host, parents=["p0"])
    link = lab.link(host, "p0")
    assert facts["parents"]["p0"]["mtu"] == link["mtu"] == 4000
    assert facts["parents"]["p0"]["link_state"] == "up" and facts["parents"]["p0"]["promisc"] is True
    assert facts["parents"]["p0"]["children"] == ["mvi"]


# --- the role passes parents through ---------------------------------------------------------------------------


def test_the_role_passes_the_parents_mtu_and_state(lab, ansible_default, host):
    variables = {
        "macvlan_topology_netns": host,
        "macvlan_topology_persist": "none",
        "macvlan_topology_parents": [{"name": "p0", "promisc": False, "mtu": 9000, "link_state": "up"}],
        "macvlan_topology_links": [{"name": "mvr", "parent": "p0", "mtu": 9000}],
    }
    converge_role(ansible_default, "macvlan_topology", **variables)
    assert (mtu(lab, host, "p0"), mtu(lab, host, "mvr")) == (9000, 9000)
    bad = dict(variables, macvlan_topology_parents=[{"name": "p0", "mtu": 9000, "state": "up"}])
    result = ansible_default.playbook(
        [
            {
                "ansible.builtin.include_role": {"name": "hostnet.macvlan.macvlan_topology"},
                "vars": bad,
                "ignore_errors": True,
            }
        ]
    )
    assert any(r.get("failed") and "state" in str(r.get("msg")) for r in result), result  # argument specs


# --- macvlan_persist: each backend's files, read by the stack's own tools ------------------------------------

PERSIST_PARENTS = [
    {"name": "p0", "promisc": False, "mtu": 9000},
    {"name": "p1", "promisc": False, "link_state": "down"},
]
PERSIST_LINKS = [{"name": "mvj", "parent": "p0", "mtu": 9000}, {"name": "mvd", "parent": "p1"}]


def persist_args(tmp_path, backend, parents=None, links=None):
    out = dict(dirs(tmp_path), backend=backend, reload=False)
    out["parents"] = PERSIST_PARENTS if parents is None else parents
    out["links"] = PERSIST_LINKS if links is None else links
    return out


def run_in(ns, command):
    proc = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", command], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "%s: %s" % (command, proc.stderr)


@pytest.mark.skipif(NETWORKD is None, reason="systemd-networkd is not installed")
def test_networkd_drop_ins_boot_with_the_parents_mtu_and_state(ansible_default, tmp_path):
    converge(ansible_default, **persist_args(tmp_path, "networkd"))
    nd = tmp_path / "networkd"
    p0 = parse_ini((nd / (PREFIX + "parent-p0.network.d") / (PREFIX + "parent.conf")).read_text())
    assert section(p0, "Link") == [("MTUBytes", "9000")]
    p1 = parse_ini((nd / (PREFIX + "parent-p1.network.d") / (PREFIX + "parent.conf")).read_text())
    assert section(p1, "Link") == [("ActivationPolicy", "down")]
    # The reboot: real systemd-networkd, given only these files, in a namespace whose veth parents start at 1500
    # and down.
    booted = boot_networkd(nd, tmp_path / "boot", {"p0": "q0", "p1": "q1"}, wait_for=["mvj", "mvd"])
    links = booted["links"]
    assert "mvj" in links and "mvd" in links, booted["log"][-3000:]
    assert (links["p0"]["mtu"], links["mvj"]["mtu"]) == (9000, 9000), booted["log"][-3000:]
    assert "UP" in links["p0"]["flags"] and "UP" not in links["p1"]["flags"]

    # Listed without mtu and link_state: the drop-ins go; the parents keep nothing of ours.
    plain = [{"name": "p0", "promisc": False}, {"name": "p1", "promisc": False}]
    converge(ansible_default, **persist_args(tmp_path, "networkd", parents=plain, links=[]))
    assert not [path for path in tree(nd) if path.endswith("parent.conf")]


def test_networkmanager_unit_sets_the_parents_mtu_and_state(ansible_default, lab, tmp_path):
    converge(ansible_default, **persist_args(tmp_path, "networkmanager"))
    sd = tmp_path / "systemd"
    units = {}
    for name in ("p0", "p1"):
        unit = sd / ("%sparent-%s.service" % (PREFIX, name))
        link = sd / "multi-user.target.wants" / unit.name
        assert link.is_symlink() and link.resolve() == unit
        units[name] = parse_ini(unit.read_text())
    assert ("Before", "network-pre.target NetworkManager.service") in section(units["p0"], "Unit")
    commands = {name: [v for k, v in section(parsed, "Service") if k == "ExecStart"] for name, parsed in units.items()}
    assert commands == {"p0": ["ip link set dev p0 mtu 9000"], "p1": ["ip link set dev p1 down"]}
    # What the units run at boot, run in a namespace with the parents (then what NetworkManager would do: the link).
    ns = lab.netns("nm")
    lab.veth(ns, "p0", "q0")
    lab.veth(ns, "p1", "q1")
    for command in commands["p0"] + commands["p1"]:
        run_in(ns, command)
    run_in(ns, "ip link add link p0 name mvj mtu 9000 type macvlan mode bridge")
    assert (mtu(lab, ns, "p0"), mtu(lab, ns, "mvj")) == (9000, 9000)
    assert not admin_up(lab, ns, "p1")


def test_ifupdown_stanzas_set_the_parents_mtu_and_state(ansible_default, lab, tmp_path):
    interfaces = tmp_path / "interfaces"
    interfaces.write_text("source %s/*\n\nauto lo\niface lo inet loopback\n" % (tmp_path / "ifupdown"))
    converge(ansible_default, **persist_args(tmp_path, "ifupdown"))
    proc = subprocess.run(
        ["ifup", "--no-act", "-i", str(interfaces), "-a"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("run-parts")]
    assert any("ip link set dev p0 mtu 9000" in c for c in commands), commands
    # What ifup -a would run at boot, run in a namespace with the parents (down, MTU 1500).
    ns = lab.netns("ifup")
    lab.veth(ns, "p0", "q0", up=False)
    lab.veth(ns, "p1", "q1", up=False)
    for command in commands:
        run_in(ns, command)
    assert (mtu(lab, ns, "p0"), mtu(lab, ns, "mvj")) == (9000, 9000)
    assert admin_up(lab, ns, "p0") and admin_up(lab, ns, "mvj")
    assert not admin_up(lab, ns, "p1") and "mvd" in {link["ifname"] for link in lab.links(ns)}


def test_persisted_parent_mtu_below_a_persisted_link_is_refused(ansible_default, tmp_path):
    args = persist_args(tmp_path, "networkd", parents=[{"name": "p0", "mtu": 1500}])
    result = ansible_default.run("macvlan_persist", **args)
    assert result.get("failed") is True
    assert result["msg"].startswith("parents[0].mtu: 1500 is below the MTU of links[0] (mvj), 9000, on parent 'p0'")
    assert tree(tmp_path / "networkd") == {}
