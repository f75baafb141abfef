"""The macvlan module on the real kernel: every option created, changed in place, rerun, checked, removed.

Each test builds its own namespaces with veth parents (``lab``) and runs the module through Ansible with both
pyroute2 lines (``ansible``). The oracle is iproute2: ``ip -j -d link``, ``ip -j addr``, ``ip -j route``.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import rtnl


def info(link):
    return link["linkinfo"]["info_data"]


@pytest.mark.parametrize("mode", ["private", "vepa", "bridge"])
def test_create_each_simple_mode(lab, ansible, host, mode):
    result = ansible.converge("macvlan", name="mv0", parent="p0", netns=host, mode=mode)
    assert result["changed"] is True
    assert result["actions"] == ["create macvlan mv0 on p0 (mode %s, up) in netns %s" % (mode, host)]
    link = lab.link(host, "mv0")
    assert link["link"] == "p0"
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert info(link)["mode"] == mode
    assert "UP" in link["flags"]
    assert result["link"]["ifindex"] == link["ifindex"]
    assert result["diff"]["before"] == {"name": "mv0", "state": "absent"}
    assert result["diff"]["after"]["mode"] == mode


def test_default_mode_is_bridge(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host)
    assert info(lab.link(host, "mv0"))["mode"] == "bridge"


def test_full_link_then_changes_in_place(lab, ansible, host):
    args = {
        "name": "mv-web",
        "parent": "p0",
        "netns": host,
        "mode": "bridge",
        "mac_address": "02:42:AC:11:00:10",
        "mtu": 1400,
        "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
        "routes": [{"dest": "198.51.100.0/24", "gateway": "192.0.2.1"}, {"dest": "203.0.113.0/24", "metric": 7}],
        "bcqueuelen": 300,
    }
    ansible.converge("macvlan", **args)
    link = lab.link(host, "mv-web")
    index = link["ifindex"]
    assert link["address"] == "02:42:ac:11:00:10"
    assert link["mtu"] == 1400
    assert info(link)["bcqueuelen"] == 300
    assert lab.addresses(host, "mv-web") == ["192.0.2.10/24", "2001:db8::10/64"]
    routes = {
        (r["dst"], r.get("gateway"), r.get("metric", 0))
        for r in lab.routes(host, "mv-web")
        if r.get("protocol") != "kernel"
    }
    assert routes == {("198.51.100.0/24", "192.0.2.1", 0), ("203.0.113.0/24", None, 7)}

    # Everything the kernel can change in place, changed in one run: same ifindex afterwards.
    args.update(
        mode="private",
        mac_address="02:42:ac:11:00:11",
        mtu=1300,
        addresses=["192.0.2.11/24"],
        routes=[{"dest": "198.51.100.0/24", "gateway": "192.0.2.254"}],
        bcqueuelen=500,
    )
    result = ansible.converge("macvlan", **args)
    assert result["changed"] is True
    link = lab.link(host, "mv-web")
    assert link["ifindex"] == index, "an in-place change re-created the link"
    assert info(link)["mode"] == "private"
    assert link["address"] == "02:42:ac:11:00:11"
    assert link["mtu"] == 1300
    assert info(link)["bcqueuelen"] == 500
    assert lab.addresses(host, "mv-web") == ["192.0.2.11/24"]
    routes = {(r["dst"], r.get("gateway")) for r in lab.routes(host, "mv-web") if r.get("protocol") != "kernel"}
    assert routes == {("198.51.100.0/24", "192.0.2.254")}
    assert result["diff"]["before"]["mtu"] == 1400 and result["diff"]["after"]["mtu"] == 1300
    assert "set mode of mv-web: bridge -> private in netns %s" % host in result["actions"]

    # Omitting addresses and routes leaves them alone.
    for key in ("addresses", "routes", "mac_address", "mtu", "bcqueuelen"):
        args.pop(key)
    result = ansible.run("macvlan", **args)
    assert result["changed"] is False
    assert lab.addresses(host, "mv-web") == ["192.0.2.11/24"]


def test_link_state_down_and_up(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, link_state="down")
    assert "UP" not in lab.link(host, "mv0")["flags"]
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, link_state="up")
    assert "UP" in lab.link(host, "mv0")["flags"]


def test_source_mode_macs_exact_set_and_nodst(lab, ansible, host):
    macs = ["02:00:00:00:00:01", "02:00:00:00:00:02"]
    ansible.converge("macvlan", name="mv-src", parent="p0", netns=host, mode="source", source_macs=macs, nodst=True)
    link = lab.link(host, "mv-src")
    assert info(link)["mode"] == "source"
    assert info(link)["nodst"] is True
    assert sorted(info(link)["macaddr_data"]) == macs
    index = link["ifindex"]

    result = ansible.converge(
        "macvlan",
        name="mv-src",
        parent="p0",
        netns=host,
        mode="source",
        source_macs=["02:00:00:00:00:02", "02:00:00:00:00:03"],
        nodst=False,
    )
    assert (
        "set source macs of mv-src: add 02:00:00:00:00:03, remove 02:00:00:00:00:01 in netns %s" % host
        in result["actions"]
    )
    link = lab.link(host, "mv-src")
    assert link["ifindex"] == index
    assert sorted(info(link)["macaddr_data"]) == ["02:00:00:00:00:02", "02:00:00:00:00:03"]
    assert not info(link).get("nodst")

    ansible.converge("macvlan", name="mv-src", parent="p0", netns=host, mode="source", source_macs=[])
    assert info(lab.link(host, "mv-src")).get("macaddr_count", 0) == 0


def test_mode_changes_in_place_including_source(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, mode="private")
    index = lab.link(host, "mv0")["ifindex"]
    for mode in ("vepa", "bridge", "source", "private"):
        ansible.converge("macvlan", name="mv0", parent="p0", netns=host, mode=mode)
        link = lab.link(host, "mv0")
        assert info(link)["mode"] == mode
        assert link["ifindex"] == index


def test_passthru_macvtap_with_nopromisc(lab, ansible, host):
    ansible.converge("macvlan", name="mvtap0", parent="p1", netns=host, mode="passthru", type="macvtap", nopromisc=True)
    link = lab.link(host, "mvtap0")
    assert link["linkinfo"]["info_kind"] == "macvtap"
    assert info(link)["mode"] == "passthru"
    assert info(link)["nopromisc"] is True


def test_bclim(lab, ansible, host):
    """The broadcast cutoff belongs to the parent's macvlan port: it is shared by every link on the parent."""
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, bclim=4)
    assert rtnl(host, "mv0")["bc_cutoff"] == 4
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, bclim=-1)
    assert rtnl(host, "mv0")["bc_cutoff"] == -1


def test_into_passthru_recreates_and_never_refuses(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p1", netns=host, mode="bridge")
    index = lab.link(host, "mv0")["ifindex"]
    before = lab.state(host)
    refused = ansible.run("macvlan", name="mv0", parent="p1", netns=host, mode="passthru", recreate="never")
    assert refused["failed"] is True
    assert "mode: mv0 cannot change in place (mode bridge -> passthru (into or out of passthru))" in refused["msg"]
    assert lab.state(host) == before

    result = ansible.converge("macvlan", name="mv0", parent="p1", netns=host, mode="passthru")
    assert result["actions"][0].startswith("recreate macvlan mv0: mode bridge -> passthru")
    link = lab.link(host, "mv0")
    assert info(link)["mode"] == "passthru"
    assert link["ifindex"] != index


def test_parent_and_type_change_recreate(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.5/24"])
    result = ansible.converge(
        "macvlan", name="mv0", parent="p1", netns=host, type="macvtap", addresses=["192.0.2.5/24"]
    )
    assert "parent p0 -> p1" in result["actions"][0] and "type macvlan -> macvtap" in result["actions"][0]
    link = lab.link(host, "mv0")
    assert link["link"] == "p1" and link["linkinfo"]["info_kind"] == "macvtap"
    assert lab.addresses(host, "mv0") == ["192.0.2.5/24"]


def test_check_mode_changes_nothing(lab, ansible, host):
    before = lab.state(host)
    result = ansible.run("macvlan", check=True, diff=True, name="mv0", parent="p0", netns=host, mtu=1400)
    assert result["changed"] is True and result["_status"] == "ok"
    assert result["diff"]["after"]["mtu"] == 1400
    assert lab.state(host) == before
    assert lab.link(host, "mv0") is None

    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, mtu=1400)
    before = lab.state(host)
    result = ansible.run("macvlan", check=True, name="mv0", parent="p0", netns=host, mtu=1300, mode="vepa")
    assert result["changed"] is True
    assert lab.state(host) == before
    result = ansible.run("macvlan", check=True, name="mv0", state="absent", netns=host)
    assert result["changed"] is True
    assert lab.state(host) == before


def test_absent(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host)
    result = ansible.converge("macvlan", name="mv0", state="absent", netns=host)
    assert result["changed"] is True
    assert result["actions"] == ["delete macvlan mv0 in netns %s" % host]
    assert lab.link(host, "mv0") is None
    assert lab.link(host, "p0") is not None


def test_link_netns_named_namespace(lab, ansible, host):
    vm = lab.netns("vm")
    args = {"name": "mv0", "parent": "p0", "netns": host, "link_netns": vm, "addresses": ["192.0.2.20/24"]}
    ansible.converge("macvlan", **args)
    assert lab.link(host, "mv0") is None
    link = lab.link(vm, "mv0")
    assert link["link_netnsid"] is not None
    assert lab.addresses(vm, "mv0") == ["192.0.2.20/24"]
    # An in-place change of a link that lives in another namespace than its parent.
    args["mode"] = "private"
    ansible.converge("macvlan", **args)
    assert info(lab.link(vm, "mv0"))["mode"] == "private"
    ansible.converge("macvlan", name="mv0", state="absent", netns=host, link_netns=vm)
    assert lab.link(vm, "mv0") is None


def test_existing_link_is_moved_into_link_netns(lab, ansible, host):
    vm = lab.netns("vm")
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.20/24"])
    result = ansible.converge(
        "macvlan", name="mv0", parent="p0", netns=host, link_netns=vm, addresses=["192.0.2.20/24"]
    )
    assert result["actions"][0] == "move mv0 from netns %s to netns %s" % (host, vm)
    assert lab.link(host, "mv0") is None
    assert "UP" in lab.link(vm, "mv0")["flags"]
    assert lab.addresses(vm, "mv0") == ["192.0.2.20/24"]


def test_netns_by_proc_path(lab, ansible):
    host = lab.netns("host")
    lab.veth(host, "p0", "q0")
    holder = subprocess.Popen(["ip", "netns", "exec", host, "sleep", "60"])
    try:
        path = "/proc/%d/ns/net" % holder.pid
        ansible.converge("macvlan", name="mv0", parent="p0", netns=path, mode="vepa")
        assert info(lab.link(host, "mv0"))["mode"] == "vepa"
    finally:
        holder.kill()
        holder.wait()


def test_info_module_reports_links_and_parents(lab, ansible, host):
    ansible.converge("promisc", name="p0", netns=host)
    ansible.converge("macvlan", name="mv-a", parent="p0", netns=host, mode="private", mac_address="02:00:00:00:0a:01")
    ansible.converge("macvlan", name="mv-b", parent="p1", netns=host, mode="source", source_macs=["02:00:00:00:00:01"])
    facts = ansible.run("macvlan_info", netns=host)
    assert set(facts["links"]) == {"mv-a", "mv-b"}
    assert facts["links"]["mv-a"]["mode"] == "private"
    assert facts["links"]["mv-a"]["mac_address"] == "02:00:00:00:0a:01"
    assert facts["links"]["mv-b"]["source_macs"] == ["02:00:00:00:00:01"]
    p0 = lab.link(host, "p0")
    assert facts["parents"]["p0"]["promisc"] is True
    assert facts["parents"]["p0"]["promiscuity"] == p0["promiscuity"]
    assert facts["parents"]["p0"]["children"] == ["mv-a"]
    assert facts["parents"]["p0"]["mac_address"] == p0["address"]
    only = ansible.run("macvlan_info", netns=host, parents=["p1"])
    assert set(only["links"]) == {"mv-b"} and set(only["parents"]) == {"p1"}
    named = ansible.run("macvlan_info", netns=host, names=["mv-a"])
    assert set(named["links"]) == {"mv-a"}
    assert ansible.run("macvlan_info", check=True, netns=host)["links"] == facts["links"]


def test_promisc_flag_and_counter(lab, ansible, host):
    result = ansible.converge("promisc", name="p0", netns=host, promisc=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"name": "p0", "promisc": False}, "after": {"name": "p0", "promisc": True}}
    link = lab.link(host, "p0")
    assert "PROMISC" in link["flags"]
    assert result["promiscuity"] == link["promiscuity"] >= 1
    checked = ansible.run("promisc", check=True, name="p0", netns=host, promisc=False)
    assert checked["changed"] is True and "PROMISC" in lab.link(host, "p0")["flags"]
    ansible.converge("promisc", name="p0", netns=host, promisc=False)
    assert "PROMISC" not in lab.link(host, "p0")["flags"]


def test_promisc_flag_off_keeps_counter_held_by_passthru(lab, ansible, host):
    """Clearing the flag does not lower promiscuity others hold: a passthru link keeps the parent promiscuous."""
    ansible.converge("macvlan", name="mvp", parent="p1", netns=host, mode="passthru")
    held = lab.link(host, "p1")["promiscuity"]
    assert held >= 1
    result = ansible.converge("promisc", name="p1", netns=host, promisc=False)
    assert result["changed"] is False and result["promisc"] is False
    assert result["promiscuity"] == held == lab.link(host, "p1")["promiscuity"]
