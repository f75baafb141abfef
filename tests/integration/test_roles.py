"""The roles on the real kernel: macvlan_topology and macvlan_host_access in per-test network namespaces.

The roles work in a lab namespace (``macvlan_topology_netns``) with veth parents, and persist nothing there
(persistence is for the host namespace; ``test_persistence_render.py`` covers the roles' persistence and
``test_persist_module.py`` the module). Oracles: ``ip -j -d link``,
``ip -j addr`` and ``ping`` between namespaces. Every run is followed by a rerun that must change nothing and a
check-mode run that must change nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import AnsibleRunner, sh
from role_helpers import converge_role, run_role

ROLES = Path(__file__).resolve().parents[2] / "roles"


def info(link):
    return link["linkinfo"]["info_data"]


def all_links(lab, ns):
    """The namespace's links as ip shows them, minus counters that move on their own."""
    links = lab.links(ns)
    for link in links:
        link.pop("stats64", None)
        link.pop("operstate", None)
        # Carrier comes and goes on its own (a new veth gains it shortly after it is set up).
        link["flags"] = [f for f in link.get("flags", []) if f not in ("NO-CARRIER", "LOWER_UP", "M-DOWN")]
    return json.dumps(sorted(links, key=lambda item: item["ifname"]), sort_keys=True)


def topology(ns, links, parents=(), **extra):
    variables = {
        "macvlan_topology_netns": ns,
        "macvlan_topology_persist": "none",
        "macvlan_topology_links": links,
        "macvlan_topology_parents": list(parents),
    }
    variables.update(extra)
    return variables


def make_host(lab, parents=("p0", "p1", "p2", "p3")):
    ns = lab.netns("host")
    for index, name in enumerate(parents):
        lab.veth(ns, name, "q%d" % index)
    return ns


LINKS = [
    {
        "name": "mv-web",
        "parent": "p0",
        "mode": "bridge",
        "mac_address": "02:42:ac:11:00:10",
        "mtu": 1400,
        "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
        "routes": [{"dest": "198.51.100.0/24", "gateway": "192.0.2.1"}],
    },
    {"name": "mv-priv", "parent": "p0", "mode": "private"},
    {"name": "mv-vepa", "parent": "p0", "mode": "vepa", "link_state": "down"},
    {"name": "mv-src", "parent": "p1", "mode": "source", "source_macs": ["02:00:00:00:00:01"], "nodst": True},
    {"name": "mvtap1", "parent": "p1", "type": "macvtap", "mode": "bridge"},
    {"name": "mvtap0", "parent": "p2", "type": "macvtap", "mode": "passthru", "nopromisc": True},
]


def test_topology_every_mode_and_parents(lab, ansible):
    ns = make_host(lab)
    variables = topology(ns, LINKS, [{"name": "p0", "promisc": True}, {"name": "p1"}, {"name": "p3", "promisc": False}])
    first = converge_role(ansible, "macvlan_topology", **variables)
    state = next(r for r in first.results if "actions" in r)
    assert state["changed"] is True
    for link in LINKS:
        got = lab.link(ns, link["name"])
        assert got is not None, link["name"]
        assert got["link"] == link["parent"]
        assert got["linkinfo"]["info_kind"] == link.get("type", "macvlan")
        assert info(got)["mode"] == link["mode"]
    web = lab.link(ns, "mv-web")
    assert web["address"] == "02:42:ac:11:00:10"
    assert web["mtu"] == 1400
    assert lab.addresses(ns, "mv-web") == ["192.0.2.10/24", "2001:db8::10/64"]
    assert "UP" not in lab.link(ns, "mv-vepa")["flags"]
    assert info(lab.link(ns, "mv-src")).get("macaddr_count") == 1
    assert info(lab.link(ns, "mvtap0")).get("nopromisc") is True
    assert "PROMISC" in lab.link(ns, "p0")["flags"]
    assert "PROMISC" in lab.link(ns, "p1")["flags"]
    assert "PROMISC" not in lab.link(ns, "p3")["flags"]


def test_topology_check_mode_changes_nothing(lab, ansible_default):
    ns = make_host(lab)
    converge_role(ansible_default, "macvlan_topology", **topology(ns, LINKS[:3], [{"name": "p0"}]))
    before = all_links(lab, ns)
    changed = [dict(LINKS[0], mode="private", mtu=1300), LINKS[3]]  # change one, add one, leave two out
    checked = run_role(
        ansible_default,
        "macvlan_topology",
        check=True,
        **topology(ns, changed, [{"name": "p0", "promisc": False}], macvlan_topology_purge=True),
    )
    assert not checked.failed, checked.output[-3000:]
    state = next(r for r in checked.results if "actions" in r)
    assert state["changed"] is True and state["_status"] != "skipped"
    assert sorted(state["purged"]) == ["mv-priv", "mv-vepa"]
    assert all_links(lab, ns) == before


def test_topology_purge_removes_only_unlisted_macvlans_on_managed_parents(lab, ansible_default):
    ns = make_host(lab)
    converge_role(ansible_default, "macvlan_topology", **topology(ns, [LINKS[1]], [{"name": "p1"}]))
    lab.ip(ns, "link", "add", "mv-stray", "link", "p0", "type", "macvlan", "mode", "bridge")
    lab.ip(ns, "link", "add", "mv-stray1", "link", "p1", "type", "macvtap")
    lab.ip(ns, "link", "add", "mv-other", "link", "p3", "type", "macvlan")  # p3 is not managed
    lab.ip(ns, "link", "add", "mv-host", "link", "p0", "type", "macvlan")  # a host-access shim: no special name
    lab.ip(ns, "link", "add", "mv-keep", "link", "p0", "type", "macvlan")
    lab.ip(ns, "link", "add", "ve-a", "type", "veth", "peer", "name", "ve-b")

    variables = topology(
        ns, [LINKS[1]], [{"name": "p1"}], macvlan_topology_purge=True, macvlan_topology_purge_exclude=["mv-keep"]
    )
    first = converge_role(ansible_default, "macvlan_topology", **variables)
    state = next(r for r in first.results if "actions" in r)
    assert sorted(state["purged"]) == ["mv-host", "mv-stray", "mv-stray1"]
    names = {link["ifname"] for link in lab.links(ns)}
    assert {"mv-stray", "mv-stray1", "mv-host"} & names == set()
    assert {"mv-priv", "mv-other", "mv-keep", "ve-a", "ve-b", "p3"} <= names


def test_topology_purge_without_managed_parents_is_a_no_op(lab, ansible_default):
    ns = make_host(lab)
    lab.ip(ns, "link", "add", "mv-a", "link", "p0", "type", "macvlan")
    lab.ip(ns, "link", "add", "mv-b", "link", "p1", "type", "macvtap")
    before = all_links(lab, ns)
    run = run_role(ansible_default, "macvlan_topology", **topology(ns, [], [], macvlan_topology_purge=True))
    assert not run.failed, run.output[-3000:]
    assert not run.changed, run.describe_changes()
    assert all_links(lab, ns) == before


def test_topology_refuses_duplicate_names_and_changes_nothing(lab, ansible_default):
    """The engine's rule (a name is one link per namespace), not a second copy of it in the role."""
    ns = make_host(lab)
    before = all_links(lab, ns)
    links = [LINKS[0], LINKS[1], dict(LINKS[1], mode="vepa"), LINKS[2]]
    run = run_role(ansible_default, "macvlan_topology", **topology(ns, links))
    assert run.failed
    assert "links[2].name: 'mv-priv' is listed twice (also links[1])" in run.failed[0]["msg"], run.failed[0]["msg"]
    assert all_links(lab, ns) == before


def test_topology_refuses_bad_link_options_with_the_index_and_changes_nothing(lab, ansible_default):
    """The role's argument spec checks only that the links are dictionaries; the modules validate each link, once,
    and name its index. Every refusal leaves the namespace as it was."""
    ns = make_host(lab)
    before = all_links(lab, ns)
    for links, message in (
        ([LINKS[0], dict(LINKS[1], moed="vepa")], "links[1]: unknown option 'moed'"),
        ([LINKS[0], dict(LINKS[1], mtu=99999)], "links[1].mtu: 99999"),
        ([LINKS[0], dict(LINKS[1], mode="bridged")], "links[1].mode"),
        (["mv-web"], "macvlan_topology_links"),
    ):
        run = run_role(ansible_default, "macvlan_topology", **topology(ns, links))
        assert run.failed, (links, run.output[-2000:])
        assert message in run.failed[0]["msg"], (message, run.failed[0]["msg"])
        assert all_links(lab, ns) == before


def test_topology_accepts_eth0_in_two_namespaces(lab, ansible_default):
    """The commonest container layout: each container's eth0 is a macvlan of the host's p0."""
    ns = make_host(lab, parents=("p0",))
    ctr1, ctr2 = lab.netns("ctr1"), lab.netns("ctr2")
    links = [
        {"name": "eth0", "parent": "p0", "link_netns": ctr1, "addresses": ["192.0.2.11/24"]},
        {"name": "eth0", "parent": "p0", "link_netns": ctr2, "addresses": ["192.0.2.12/24"]},
    ]
    converge_role(ansible_default, "macvlan_topology", **topology(ns, links, [{"name": "p0"}]))
    assert lab.addresses(ctr1, "eth0") == ["192.0.2.11/24"]
    assert lab.addresses(ctr2, "eth0") == ["192.0.2.12/24"]
    assert lab.link(ctr1, "eth0")["linkinfo"]["info_kind"] == "macvlan"
    assert lab.link(ctr2, "eth0")["address"] != lab.link(ctr1, "eth0")["address"]


def test_topology_installs_pyroute2_when_missing(lab, tmp_path):
    """An interpreter without pyroute2 (a fresh venv): auto tries the distribution package (which that
    interpreter does not see), then pip installs it, and the links are created."""
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, capture_output=True)
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import pyroute2"], capture_output=True, check=False).returncode != 0
    runner = AnsibleRunner(python, tmp_path)
    ns = make_host(lab, parents=("p0",))
    run = run_role(runner, "macvlan_topology", **topology(ns, [LINKS[1]], [{"name": "p0"}]))
    assert not run.failed, run.output[-4000:]
    assert subprocess.run([python, "-c", "import pyroute2"], capture_output=True, check=False).returncode == 0
    assert info(lab.link(ns, "mv-priv"))["mode"] == "private"
    again = run_role(runner, "macvlan_topology", **topology(ns, [LINKS[1]], [{"name": "p0"}]))
    assert not again.changed, again.describe_changes()


def ping(ns, address, attempts=10):
    """True when ns gets an echo reply from address (several tries: neighbour discovery, DAD)."""
    family = "-6" if ":" in address else "-4"
    for _attempt in range(attempts):
        if sh("ip", "netns", "exec", ns, "ping", family, "-c", "1", "-W", "1", address, check=False).returncode == 0:
            return True
        time.sleep(0.3)
    return False


def test_host_access_lets_the_host_reach_its_children(lab, ansible_default):
    """The known macvlan limit, and the shim that lifts it; both roles in one play, with purge."""
    host = lab.netns("host")
    vm = lab.netns("vm")
    for ns in (host, vm):
        for scope in ("all", "default"):
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.%s.accept_dad=0" % scope)
    lab.veth(host, "p0", "q0")
    lab.ip(host, "addr", "add", "192.0.2.1/24", "dev", "p0")
    lab.ip(host, "addr", "add", "2001:db8::1/64", "dev", "p0", "nodad")
    child = {
        "name": "mv-vm",
        "parent": "p0",
        "mode": "bridge",
        "link_netns": vm,
        "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
    }
    # With purge, the shim is excluded by name: the topology does not know about the other role.
    topo = topology(
        host, [child], [{"name": "p0"}], macvlan_topology_purge=True, macvlan_topology_purge_exclude=["mv-host"]
    )
    converge_role(ansible_default, "macvlan_topology", **topo)
    assert lab.link(vm, "mv-vm") is not None
    # The parent's host cannot reach its child: frames for the child's MAC leave through the wire.
    assert not ping(host, "192.0.2.10", attempts=2)
    assert not ping(host, "2001:db8::10", attempts=2)

    shim = {
        "macvlan_host_access_netns": host,
        "macvlan_host_access_persist": "none",
        "macvlan_host_access_parent": "p0",
        "macvlan_host_access_address": "192.0.2.254/32",
        "macvlan_host_access_addresses": ["2001:db8::fe/128"],
        "macvlan_host_access_routes": ["192.0.2.0/25", {"dest": "2001:db8::/120"}],
    }
    tasks = [
        {
            "name": "topology",
            "ansible.builtin.include_role": {"name": "hostnet.macvlan.macvlan_topology"},
            "vars": topo,
        },
        {"name": "shim", "ansible.builtin.include_role": {"name": "hostnet.macvlan.macvlan_host_access"}, "vars": shim},
    ]
    first = ansible_default.playbook(tasks)
    assert not [r for r in first if r.get("_status") == "failed"], ansible_default.last_output[-3000:]
    shim_link = lab.link(host, "mv-host")
    assert shim_link["link"] == "p0" and info(shim_link)["mode"] == "bridge"
    assert lab.addresses(host, "mv-host") == ["192.0.2.254/32", "2001:db8::fe/128"]
    assert ping(host, "192.0.2.10")
    assert ping(host, "2001:db8::10")
    assert ping(vm, "192.0.2.254")
    # Both roles together, rerun and checked: the topology's purge leaves the shim alone.
    for check in (False, True):
        again = ansible_default.playbook(tasks, check=check)
        assert not [r for r in again if r.get("_status") == "failed"], ansible_default.last_output[-3000:]
        assert not [r for r in again if r.get("changed")], "rerun (check=%s) changed: %s" % (
            check,
            [r.get("actions") or r.get("dest") for r in again if r.get("changed")],
        )
    assert lab.link(host, "mv-host") is not None


def test_host_access_passes_its_variables_to_the_modules(lab, ansible_default):
    """The role hands its variables to the modules as they are (no Jinja rebuilds them): a route given as its
    destination alone or as a dict with a metric, a MAC address; a bad route is the modules' clear error, naming
    the route, and changes nothing."""
    host = lab.netns("host")
    lab.veth(host, "p0", "q0")
    shim = {
        "macvlan_host_access_netns": host,
        "macvlan_host_access_persist": "none",
        "macvlan_host_access_parent": "p0",
        "macvlan_host_access_name": "mv-shim",
        "macvlan_host_access_address": "192.0.2.254/32",
        "macvlan_host_access_mac_address": "02:00:00:AA:BB:01",
        "macvlan_host_access_routes": ["192.0.2.0/25", {"dest": "198.51.100.0/24", "metric": 30}],
    }
    before = lab.state(host)
    variables = dict(shim)
    variables["macvlan_host_access_routes"] = ["192.0.2.1/25"]
    bad = run_role(ansible_default, "macvlan_host_access", **variables)
    assert bad.failed
    assert "routes[0].dest: '192.0.2.1/25' has host bits set; did you mean 192.0.2.0/25?" in bad.output
    variables["macvlan_host_access_routes"] = [["x"]]
    bad = run_role(ansible_default, "macvlan_host_access", **variables)
    assert bad.failed
    assert "routes[0]: ['x'] must be a destination network" in bad.output
    assert lab.state(host) == before

    converge_role(ansible_default, "macvlan_host_access", **shim)
    link = lab.link(host, "mv-shim")
    assert link["address"] == "02:00:00:aa:bb:01" and info(link)["mode"] == "bridge"
    routes = sorted(
        (r["dst"], r.get("metric", 0)) for r in lab.routes(host, "mv-shim") if r.get("protocol") != "kernel"
    )
    assert routes == [("192.0.2.0/25", 0), ("198.51.100.0/24", 30)]
    # Without a MAC address the kernel's choice stays: the rerun without it changes nothing.
    variables = dict(shim)
    variables["macvlan_host_access_mac_address"] = ""
    again = run_role(ansible_default, "macvlan_host_access", **variables)
    assert not again.failed and not again.changed, again.describe_changes()


@pytest.mark.parametrize("role", ["macvlan_topology", "macvlan_host_access"])
def test_argument_specs_match_defaults(role):
    """meta/argument_specs.yml documents exactly the variables of defaults/main.yml, with the same defaults."""
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    options = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"][
        "options"
    ]
    documented = {name: spec["default"] for name, spec in options.items() if "default" in spec}
    required = {name for name, spec in options.items() if spec.get("required")}
    assert documented == defaults
    assert set(options) == set(defaults) | required
    assert not required & set(defaults)
    for name, spec in options.items():
        assert name.startswith(role + "_"), name
        assert spec.get("description") and spec.get("type"), name
