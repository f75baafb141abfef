"""macvlan_state on the real kernel: many links in one call, purge, rollback, cross-link rules.

The oracle is iproute2 (``ip -j -d link``, ``ip -j addr``); every converge is followed by a rerun that must
report no change and a check-mode run that must plan nothing (``ansible.converge``).
"""

from __future__ import annotations

import pytest


def info(link):
    return link["linkinfo"]["info_data"]


def macvlans(lab, ns):
    """{name: (parent, mode)} of every macvlan/macvtap in ns, per iproute2."""
    result = {}
    for link in lab.links(ns):
        kind = link.get("linkinfo", {}).get("info_kind")
        if kind in ("macvlan", "macvtap"):
            result[link["ifname"]] = (link.get("link"), link["linkinfo"]["info_data"]["mode"])
    return result


@pytest.fixture
def host(lab):
    ns = lab.netns("host")
    lab.veth(ns, "p0", "q0")
    lab.veth(ns, "p1", "q1")
    lab.veth(ns, "p2", "q2")
    return ns


def test_topology_in_one_call(lab, ansible, host):
    vm = lab.netns("vm")
    links = [
        {"name": "mv-web", "parent": "p0", "mode": "bridge", "addresses": ["192.0.2.10/24"]},
        {"name": "mv-db", "parent": "p0", "mode": "bridge", "mac_address": "02:42:ac:11:00:11"},
        {"name": "mv-priv", "parent": "p0", "mode": "private"},
        {"name": "mv-src", "parent": "p0", "mode": "source", "source_macs": ["02:00:00:00:00:01"], "nodst": True},
        {"name": "mv-vm", "parent": "p0", "mode": "vepa", "link_netns": vm, "addresses": ["192.0.2.20/24"]},
        {"name": "mvtap0", "parent": "p1", "mode": "passthru", "type": "macvtap", "nopromisc": True},
    ]
    parents = [{"name": "p0", "promisc": True}, {"name": "p2", "promisc": True}]
    result = ansible.converge("macvlan_state", netns=host, links=links, parents=parents)
    assert result["changed"] is True
    assert result["actions"][:2] == [
        "set promisc of p0: False -> True in netns %s" % host,
        "set promisc of p2: False -> True in netns %s" % host,
    ]
    assert result["actions"][-1] == "add address 192.0.2.20/24 to mv-vm in netns %s" % vm
    assert macvlans(lab, host) == {
        "mv-web": ("p0", "bridge"),
        "mv-db": ("p0", "bridge"),
        "mv-priv": ("p0", "private"),
        "mv-src": ("p0", "source"),
        "mvtap0": ("p1", "passthru"),
    }
    assert info(lab.link(vm, "mv-vm"))["mode"] == "vepa"
    assert lab.addresses(vm, "mv-vm") == ["192.0.2.20/24"]
    assert lab.link(host, "mv-db")["address"] == "02:42:ac:11:00:11"
    assert "PROMISC" in lab.link(host, "p0")["flags"] and "PROMISC" in lab.link(host, "p2")["flags"]
    assert result["parents"]["p0"]["promisc"] is True
    assert [(entry["name"], entry["netns"]) for entry in result["links"]] == [
        (link["name"], link.get("link_netns", host)) for link in links
    ]
    assert result["diff"]["before"]["links"]["mv-web (netns %s)" % host] == {"name": "mv-web", "state": "absent"}
    assert result["diff"]["after"]["links"]["mv-web (netns %s)" % host]["mode"] == "bridge"

    # Change several links at once, in place: indexes stay.
    indexes = {name: lab.link(host, name)["ifindex"] for name in ("mv-web", "mv-priv")}
    links[0]["mode"] = "private"
    links[2]["mtu"] = 1400
    result = ansible.converge("macvlan_state", netns=host, links=links, parents=parents)
    assert sorted(result["actions"]) == [
        "set mode of mv-web: bridge -> private in netns %s" % host,
        "set mtu of mv-priv: 1500 -> 1400 in netns %s" % host,
    ]
    assert {name: lab.link(host, name)["ifindex"] for name in indexes} == indexes
    assert info(lab.link(host, "mv-web"))["mode"] == "private" and lab.link(host, "mv-priv")["mtu"] == 1400


def test_check_mode_changes_nothing(lab, ansible, host):
    before = lab.state(host)
    links = [{"name": "mv%d" % i, "parent": "p0"} for i in range(3)]
    result = ansible.run("macvlan_state", check=True, diff=True, netns=host, links=links, parents=[{"name": "p0"}])
    assert result["changed"] is True and len(result["actions"]) == 4
    assert result["diff"]["after"]["links"]["mv1 (netns %s)" % host]["mode"] == "bridge"
    assert lab.state(host) == before


def test_purge_touches_only_unlisted_macvlans_on_managed_parents(lab, ansible, host):
    vm = lab.netns("vm")
    setup = [
        {"name": "keep", "parent": "p0"},
        {"name": "old1", "parent": "p0", "mode": "private"},
        {"name": "old2", "parent": "p0", "link_netns": vm},
        {"name": "excluded", "parent": "p0"},
        {"name": "other", "parent": "p1"},
    ]
    ansible.converge("macvlan_state", netns=host, links=setup)
    links = [{"name": "keep", "parent": "p0"}, {"name": "vmlink", "parent": "p0", "link_netns": vm}]
    result = ansible.converge(
        "macvlan_state", netns=host, links=links, purge=True, purge_exclude=["excluded"], parents=[{"name": "p0"}]
    )
    assert sorted(result["purged"]) == ["old1", "old2"]
    assert result["actions"][-2:] == ["delete macvlan old1 in netns %s" % host, "delete macvlan old2 in netns %s" % vm]
    assert set(macvlans(lab, host)) == {"keep", "excluded", "other"}
    assert set(macvlans(lab, vm)) == {"vmlink"}
    assert lab.link(host, "q0")["linkinfo"]["info_kind"] == "veth"


def test_purge_without_managed_parents_is_a_no_op(lab, ansible, host):
    ansible.converge("macvlan_state", netns=host, links=[{"name": "mv0", "parent": "p0"}])
    before = lab.state(host)
    result = ansible.converge("macvlan_state", netns=host, links=[], purge=True)
    assert result["changed"] is False and result["purged"] == []
    assert lab.state(host) == before


def test_absent_links(lab, ansible, host):
    ansible.converge(
        "macvlan_state", netns=host, links=[{"name": "mv0", "parent": "p0"}, {"name": "mv1", "parent": "p0"}]
    )
    ansible.converge(
        "macvlan_state", netns=host, links=[{"name": "mv0", "state": "absent"}, {"name": "mv1", "parent": "p0"}]
    )
    assert set(macvlans(lab, host)) == {"mv1"}


def refused(lab, ansible, namespaces, **args):
    before = {ns: lab.state(ns) for ns in namespaces}
    result = ansible.run("macvlan_state", **args)
    assert result.get("failed") is True, result
    assert {ns: lab.state(ns) for ns in namespaces} == before, "a refused change touched the host"
    return result["msg"]


@pytest.mark.parametrize(
    "links, message",
    [
        (
            [{"name": "mv0", "parent": "p0"}, {"name": "mv0", "parent": "p1"}],
            "links[1].name: 'mv0' is listed twice (also links[0])",
        ),
        (
            [{"name": "mva", "parent": "p0", "mode": "passthru"}, {"name": "mvb", "parent": "p0", "mode": "passthru"}],
            "links[0].mode: passthru needs parent 'p0' to itself, but links[1] also use it",
        ),
        (
            [
                {"name": "mva", "parent": "p0", "mac_address": "02:00:00:00:00:01"},
                {"name": "mvb", "parent": "p0", "mac_address": "02:00:00:00:00:01"},
            ],
            "links[1].mac_address: 02:00:00:00:00:01 is also given to links[0]",
        ),
        (
            [{"name": "mva", "parent": "p0", "bclim": 3}, {"name": "mvb", "parent": "p0", "bclim": 4}],
            "ask for different values [3, 4]",
        ),
        (
            [{"name": "mva", "parent": "p0"}, {"name": "bad/name", "parent": "p0"}],
            "links[1].name: 'bad/name' is not a valid interface name",
        ),
        ([{"name": "q1", "parent": "p0"}], "name: 'q1' already exists in netns"),
    ],
)
def test_bad_desired_state_changes_nothing(lab, ansible_default, host, links, message):
    msg = refused(lab, ansible_default, [host], netns=host, links=links, parents=[{"name": "p0"}])
    assert message in msg


def test_missing_parent_in_the_middle_changes_nothing(lab, ansible, host):
    """A 20-link change whose 11th link names a missing parent is refused before the first step."""
    links = [{"name": "mv%02d" % i, "parent": "p0"} for i in range(20)]
    links[10]["parent"] = "eth9"
    msg = refused(lab, ansible, [host], netns=host, links=links, parents=[{"name": "p0"}])
    assert msg.startswith("links[10] (mv10): parent: 'eth9' does not exist in netns %s" % host)


def test_kernel_failure_in_the_middle_rolls_everything_back(lab, ansible, host):
    """A 20-link change (a parent flag, creations, in-place changes, addresses, a purge) where the kernel
    refuses a late step after every creation and in-place change was applied: all of it is restored."""
    start = [
        {"name": "mv00", "parent": "p0", "mode": "private", "mtu": 1400, "addresses": ["192.0.2.100/24"]},
        {"name": "gone", "parent": "p0", "mode": "vepa"},
    ]
    ansible.converge("macvlan_state", netns=host, links=start)
    before_names = {link["ifname"] for link in lab.links(host)}
    links = [{"name": "mv%02d" % i, "parent": "p0", "addresses": ["192.0.2.%d/24" % (i + 1)]} for i in range(20)]
    links[0].update(mode="bridge", mtu=1300)
    # The gateway is not on any of the link's subnets: the kernel refuses this route (ENETUNREACH).
    links[12]["routes"] = [{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}]
    result = ansible.run("macvlan_state", netns=host, links=links, parents=[{"name": "p0"}], purge=True)
    assert result["failed"] is True
    assert "add_route mv12" in result["msg"] and "Rolled back:" in result["msg"]
    applied = result["actions"]
    where = " in netns %s" % host
    assert "set promisc of p0: False -> True" + where in applied
    assert (
        "set mode of mv00: private -> bridge" + where in applied and "set mtu of mv00: 1400 -> 1300" + where in applied
    )
    assert sum(line.startswith("create macvlan") for line in applied) == 19
    assert "delete macvlan mv03 (created by this run)" + where in result["rolled_back"]
    assert "set promisc of p0: True -> False" + where in result["rolled_back"]
    assert result["not_restored"] == []
    assert macvlans(lab, host) == {"mv00": ("p0", "private"), "gone": ("p0", "vepa")}
    assert lab.link(host, "mv00")["mtu"] == 1400
    assert lab.addresses(host, "mv00") == ["192.0.2.100/24"]
    assert "PROMISC" not in lab.link(host, "p0")["flags"]
    assert {link["ifname"] for link in lab.links(host)} == before_names


def test_kernel_failure_while_creating_rolls_back(lab, ansible_default, host):
    """A sibling moved into another namespace holds a MAC the plan cannot see: bringing up a new link with the
    same MAC fails in the kernel (EADDRINUSE) in the middle of the creations; the earlier ones are removed."""
    vm = lab.netns("vm")
    ansible_default.converge(
        "macvlan", name="hidden", parent="p0", netns=host, link_netns=vm, mac_address="02:00:00:00:99:99"
    )
    before = {ns: lab.state(ns) for ns in (host, vm)}
    links = [{"name": "mv%02d" % i, "parent": "p0"} for i in range(20)]
    links[10]["mac_address"] = "02:00:00:00:99:99"
    result = ansible_default.run("macvlan_state", netns=host, links=links)
    assert result["failed"] is True and "Address already in use" in result["msg"]
    assert len(result["actions"]) == 10 and len(result["rolled_back"]) == 10
    after = {ns: lab.state(ns) for ns in (host, vm)}
    assert after == before


def test_rollback_false_stops_where_it_failed(lab, ansible_default, host):
    vm = lab.netns("vm")
    ansible_default.converge(
        "macvlan", name="hidden", parent="p0", netns=host, link_netns=vm, mac_address="02:00:00:00:99:99"
    )
    links = [{"name": "mva", "parent": "p0"}, {"name": "mvb", "parent": "p0", "mac_address": "02:00:00:00:99:99"}]
    result = ansible_default.run("macvlan_state", netns=host, links=links, rollback=False)
    assert result["failed"] is True and "Not rolled back (rollback is false)" in result["msg"]
    assert result["actions"] == ["create macvlan mva on p0 (mode bridge, up) in netns %s" % host]
    assert set(macvlans(lab, host)) == {"mva"}


def test_many_links_converge_in_one_run(lab, ansible_default, host):
    """500 links in one task; the rerun is a dump and a comparison (no change)."""
    links = [{"name": "m%03d" % i, "parent": ("p0", "p1", "p2")[i % 3], "mode": "bridge"} for i in range(500)]
    result = ansible_default.run("macvlan_state", netns=host, links=links)
    assert not result.get("failed"), result.get("msg")
    assert len(result["actions"]) == 500
    assert len(macvlans(lab, host)) == 500
    again = ansible_default.run("macvlan_state", netns=host, links=links)
    assert again["changed"] is False


def test_info_state_links_restore_a_snapshot(lab, ansible, host):
    """macvlan_info's state_links, given back to macvlan_state, is a no-op on the same host and restores the
    snapshot after changes (what a rollout does when verification fails)."""
    links = [
        {"name": "mv-a", "parent": "p0", "mode": "private", "mtu": 1400, "addresses": ["192.0.2.10/24"]},
        {"name": "mv-b", "parent": "p0", "mode": "source", "source_macs": ["02:00:00:00:00:01"], "nodst": True},
        {"name": "mv-c", "parent": "p1", "mode": "passthru", "nopromisc": True, "type": "macvtap"},
        {"name": "mv-d", "parent": "p2", "routes": [{"dest": "198.51.100.0/24"}], "addresses": ["2001:db8::5/64"]},
    ]
    ansible.converge("macvlan_state", netns=host, links=links)
    snapshot = ansible.run("macvlan_info", netns=host, state_links=True)["state_links"]
    assert [entry["name"] for entry in snapshot] == ["mv-a", "mv-b", "mv-c", "mv-d"]
    assert ansible.run("macvlan_state", netns=host, links=snapshot)["changed"] is False
    before = {name: lab.link(host, name) for name in ("mv-a", "mv-b", "mv-c", "mv-d")}

    ansible.converge(
        "macvlan_state",
        netns=host,
        links=[
            {"name": "mv-a", "parent": "p0", "mode": "bridge", "mtu": 1300, "addresses": []},
            {"name": "mv-e", "parent": "p0"},
        ],
        parents=[{"name": "p0"}, {"name": "p1"}, {"name": "p2"}],
        purge=True,
    )
    assert set(macvlans(lab, host)) == {"mv-a", "mv-e"}
    restored = ansible.converge("macvlan_state", netns=host, links=snapshot, parents=[{"name": "p0"}], purge=True)
    assert "mv-e" in restored["purged"]
    assert set(macvlans(lab, host)) == {"mv-a", "mv-b", "mv-c", "mv-d"}
    for name, link in before.items():
        again = lab.link(host, name)
        for key in ("address", "mtu", "link"):
            assert again[key] == link[key], (name, key)
        assert info(again) == info(link), name
    assert lab.addresses(host, "mv-a") == ["192.0.2.10/24"]
    assert lab.addresses(host, "mv-d") == ["2001:db8::5/64"]


def test_renaming_a_link_keeps_its_mac_in_one_run(lab, ansible, host):
    """The old link departs (purge) and makes room for its MAC address: it is deleted before the new link is
    created (the kernel refuses two links with one MAC on a parent)."""
    mac = "02:00:00:00:77:01"
    lab.ip(host, "link", "add", "mv-old", "link", "p0", "address", mac, "type", "macvlan", "mode", "bridge")
    lab.ip(host, "link", "add", "mv-keep", "link", "p0", "type", "macvlan", "mode", "bridge")
    links = [{"name": "mv-new", "parent": "p0", "mac_address": mac}, {"name": "mv-keep", "parent": "p0"}]
    result = ansible.converge("macvlan_state", netns=host, links=links, purge=True)
    assert result["actions"][0] == "delete macvlan mv-old in netns %s" % host
    assert result["actions"][1].startswith("create macvlan mv-new on p0")
    assert set(macvlans(lab, host)) == {"mv-new", "mv-keep"}
    assert lab.link(host, "mv-new")["address"] == mac


def test_state_absent_makes_room_for_a_passthru_link(lab, ansible, host):
    lab.ip(host, "link", "add", "mv-a", "link", "p0", "type", "macvlan", "mode", "bridge")
    lab.ip(host, "link", "add", "mv-b", "link", "p0", "type", "macvlan", "mode", "private")
    links = [
        {"name": "mv-a", "state": "absent"},
        {"name": "mv-b", "state": "absent"},
        {"name": "mvtap0", "parent": "p0", "mode": "passthru", "type": "macvtap"},
    ]
    result = ansible.converge("macvlan_state", netns=host, links=links)
    assert [a.split()[0] for a in result["actions"]] == ["delete", "delete", "create"]
    assert macvlans(lab, host) == {"mvtap0": ("p0", "passthru")}


def test_failure_after_an_early_delete_restores_the_old_link(lab, ansible_default, host):
    """The new link takes the departing link's MAC, then its route fails (the gateway is on no subnet of the
    link): rollback deletes the new link first, so the old one gets its MAC back."""
    mac = "02:00:00:00:77:02"
    lab.ip(host, "link", "add", "mv-old", "link", "p0", "address", mac, "type", "macvlan", "mode", "bridge")
    lab.ip(host, "link", "set", "mv-old", "up")
    before = lab.state(host)
    links = [
        {
            "name": "mv-new",
            "parent": "p0",
            "mac_address": mac,
            "addresses": ["192.0.2.5/24"],
            "routes": [{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}],
        }
    ]
    result = ansible_default.run("macvlan_state", netns=host, links=links, purge=True)
    assert result["failed"] is True, result
    assert "203.0.113.1" in result["msg"]
    assert result["actions"][0] == "delete macvlan mv-old in netns %s" % host
    assert any(item.startswith("re-create macvlan mv-old on p0") for item in result["rolled_back"]), result
    assert lab.state(host) == before  # re-created with its old index and everything else
    assert lab.link(host, "mv-old")["address"] == mac and lab.link(host, "mv-new") is None
    assert macvlans(lab, host) == {"mv-old": ("p0", "bridge")} and "UP" in lab.link(host, "mv-old")["flags"]


def global_addresses(view):
    """A result's addresses of a link without its IPv6 link-local one (the kernel's own)."""
    return [cidr for cidr in view["addresses"] if not cidr.startswith("fe80:")]


def test_links_that_name_no_addresses_are_read_without_them_unless_needed(lab, ansible, host):
    """A run whose links name no addresses or routes reads the links alone while nothing changes (the addresses
    and routes are dumped only when the task needs them); what it reports and changes stays the same:
    ``return_links: all`` still shows the kernel's addresses and routes, and a change (the MTU) keeps them and
    reports them, read back. iproute2 is the oracle."""
    full = {
        "name": "mv0",
        "parent": "p0",
        "addresses": ["192.0.2.10/24"],
        "routes": [{"dest": "198.51.100.0/24", "gateway": "192.0.2.1"}],
    }
    ansible.converge("macvlan_state", netns=host, links=[full])
    bare = {"name": "mv0", "parent": "p0"}

    unchanged = ansible.run("macvlan_state", netns=host, links=[bare], return_links="all")
    assert not unchanged.get("failed") and unchanged["changed"] is False, unchanged
    [view] = unchanged["links"]
    assert global_addresses(view) == ["192.0.2.10/24"], view
    assert [route["dest"] for route in view["routes"]] == ["198.51.100.0/24"], view
    quiet = ansible.run("macvlan_state", netns=host, links=[bare])
    assert quiet["changed"] is False and quiet["links"] == [] and quiet["links_changed"] == 0, quiet

    changed = ansible.converge("macvlan_state", netns=host, links=[dict(bare, mtu=1400)])
    assert changed["changed"] is True and changed["actions"] == ["set mtu of mv0: 1500 -> 1400 in netns %s" % host]
    [view] = changed["links"]
    assert view["mtu"] == 1400 and global_addresses(view) == ["192.0.2.10/24"], view
    assert lab.link(host, "mv0")["mtu"] == 1400
    assert lab.addresses(host, "mv0") == ["192.0.2.10/24"]
    assert [route["dst"] for route in lab.routes(host, "mv0") if route.get("gateway")] == ["198.51.100.0/24"]


def test_async_task_through_the_action_plugin(lab, ansible_default, host):
    """The collection's action plugin is Ansible's own (normal) for async too: a task with async and poll runs
    the module, reports its result, and the rerun reports no change."""
    args = {"netns": host, "links": [{"name": "mv-async", "parent": "p0", "mode": "vepa"}]}
    task = {"name": "async", "hostnet.macvlan.macvlan_state": args, "async": 60, "poll": 1, "ignore_errors": True}
    # An async directory of the test's own: with HOME pointed away from root's home (as CI runs), ansible-core's
    # async wrapper writes the job under $HOME while its status check looks under the account's home directory.
    task["vars"] = {"ansible_async_dir": str(ansible_default.tmp_path / "async")}
    first = ansible_default.playbook([task])[0]
    assert not first.get("failed"), first.get("msg")
    assert first["changed"] is True and first["links_changed"] == 1
    assert first.get("finished") == 1 and "ansible_job_id" in first
    assert macvlans(lab, host) == {"mv-async": ("p0", "vepa")}
    again = ansible_default.playbook([task])[0]
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False
    assert macvlans(lab, host) == {"mv-async": ("p0", "vepa")}
