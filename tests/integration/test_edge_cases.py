"""Kernel behaviours that are easy to get wrong, each pinned by a test (iproute2 as the oracle).

- removing an address takes more with it (routes via its subnet, all IPv4 routes with the last address,
  secondaries of a primary);
- routes added by someone else ('ip route add', proto boot) can be removed;
- the kernel stores IPv6 metric 0 as 1024;
- one namespace spelled two ways is one namespace;
- interface indexes repeat across namespaces: only IFLA_LINK_NETNSID says which parent a moved link has;
- a failed move into link_netns is undone; purge never deletes a link that is being moved.
"""

from __future__ import annotations

from conftest import rtnl


def info(link):
    return link["linkinfo"]["info_data"]


def managed_routes(lab, ns, name, family="-4"):
    return sorted(
        (r["dst"], r.get("gateway"), r.get("metric", 0))
        for r in lab.routes(ns, name, family)
        if r.get("protocol") != "kernel"
    )


def test_renumbering_keeps_the_routes(lab, ansible, host):
    routes = [{"dest": "198.51.100.0/24", "gateway": "192.0.2.1"}, {"dest": "203.0.113.0/24"}]
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.10/24"], routes=routes)
    result = ansible.converge(
        "macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.11/24"], routes=routes
    )
    assert "remove address 192.0.2.10/24 from mv0 in netns %s" % host in result["actions"]
    assert lab.addresses(host, "mv0") == ["192.0.2.11/24"]
    assert managed_routes(lab, host, "mv0") == [("198.51.100.0/24", "192.0.2.1", 0), ("203.0.113.0/24", None, 0)]


def test_removing_a_primary_keeps_the_wanted_secondary(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.10/24", "192.0.2.20/24"])
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.20/24"])
    assert lab.addresses(host, "mv0") == ["192.0.2.20/24"]


def test_routes_added_by_iproute2_are_removed(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.10/24"])
    lab.ip(host, "route", "add", "203.0.113.0/24", "via", "192.0.2.1", "dev", "mv0")  # proto boot
    lab.ip(host, "route", "add", "198.51.100.0/24", "dev", "mv0", "scope", "link")
    result = ansible.converge("macvlan", name="mv0", parent="p0", netns=host, routes=[{"dest": "198.51.100.0/24"}])
    assert result["actions"] == ["remove route 203.0.113.0/24 via 192.0.2.1 metric 0 from mv0 in netns %s" % host]
    assert managed_routes(lab, host, "mv0") == [("198.51.100.0/24", None, 0)]


def test_ipv6_routes_and_metric_zero(lab, ansible, host):
    args = {
        "name": "mv0",
        "parent": "p0",
        "netns": host,
        "addresses": ["2001:db8::10/64"],
        "routes": [
            {"dest": "2001:db8:1::/64", "gateway": "2001:db8::1", "metric": 0},
            {"dest": "2001:db8:2::/64", "metric": 5},
        ],
    }
    ansible.converge("macvlan", **args)
    routes = managed_routes(lab, host, "mv0", "-6")
    assert ("2001:db8:1::/64", "2001:db8::1", 1024) in routes and ("2001:db8:2::/64", None, 5) in routes


def test_ipv6_with_link_down_or_small_mtu_is_refused(lab, ansible_default, host):
    down = ansible_default.run(
        "macvlan", name="mv0", parent="p0", netns=host, addresses=["2001:db8::10/64"], link_state="down"
    )
    assert down["failed"] and down["msg"].startswith(
        "addresses: ['2001:db8::10/64'] has IPv6 addresses, which need link_state up"
    )
    small = ansible_default.run("macvlan", name="mv0", parent="p0", netns=host, addresses=["2001:db8::10/64"], mtu=1200)
    assert small["failed"] and small["msg"].startswith("mtu: 1200 is below 1280")
    assert lab.link(host, "mv0") is None


def test_one_namespace_spelled_two_ways(lab, ansible, host):
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, link_netns="/run/netns/" + host)
    assert lab.link(host, "mv0") is not None
    assert ansible.run("macvlan", name="mv0", parent="p0", netns=host)["changed"] is False


def test_a_moved_link_on_a_same_index_parent_elsewhere_is_not_ours(lab, ansible, host):
    """p0 in host and t0 in other have the same ifindex; 'foreign' sits on t0 and lives in vm. Purge on host's
    p0 must not delete it, and a spec naming it with parent p0 must re-create it, not call it done."""
    other = lab.netns("other")
    vm = lab.netns("vm")
    lab.veth(other, "t0", "u0")
    assert lab.link(other, "t0")["ifindex"] == lab.link(host, "p0")["ifindex"]
    ansible.converge("macvlan", name="foreign", parent="t0", netns=other, link_netns=vm)
    ansible.converge("macvlan", name="mine", parent="p0", netns=host, link_netns=vm)
    result = ansible.run(
        "macvlan_state", netns=host, links=[{"name": "mine", "parent": "p0", "link_netns": vm}], purge=True
    )
    assert result["changed"] is False and result["purged"] == []
    assert lab.link(vm, "foreign") is not None
    planned = ansible.run("macvlan", check=True, name="foreign", parent="p0", netns=host, link_netns=vm)
    assert planned["changed"] is True and planned["actions"][0].startswith("recreate macvlan foreign")


def test_purge_does_not_delete_a_link_being_moved(lab, ansible, host):
    vm = lab.netns("vm")
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host)
    result = ansible.converge(
        "macvlan_state", netns=host, links=[{"name": "mv0", "parent": "p0", "link_netns": vm}], purge=True
    )
    assert result["purged"] == []
    assert lab.link(vm, "mv0") is not None and lab.link(host, "mv0") is None


def test_failed_move_is_undone(lab, ansible, host):
    vm = lab.netns("vm")
    ansible.converge("macvlan", name="mv0", parent="p0", netns=host, addresses=["192.0.2.10/24"])
    result = ansible.run(
        "macvlan",
        name="mv0",
        parent="p0",
        netns=host,
        link_netns=vm,
        addresses=["192.0.2.10/24"],
        routes=[{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}],
    )
    assert result["failed"] is True and "move mv0 from netns %s to netns %s" % (vm, host) in result["msg"]
    assert lab.link(vm, "mv0") is None
    assert "UP" in lab.link(host, "mv0")["flags"]
    assert lab.addresses(host, "mv0") == ["192.0.2.10/24"]


def test_bclim_is_shared_and_rolled_back(lab, ansible, host):
    ansible.converge("macvlan", name="mva", parent="p0", netns=host)
    ansible.converge("macvlan", name="mvb", parent="p0", netns=host, bclim=4)
    assert rtnl(host, "mva")["bc_cutoff"] == 4, "bclim belongs to the parent's port: siblings share it"
    failed = ansible.run(
        "macvlan",
        name="mvb",
        parent="p0",
        netns=host,
        bclim=6,
        addresses=["192.0.2.5/24"],
        routes=[{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}],
    )
    assert failed["failed"] is True and "set bclim of mvb: 6 -> 4" in failed["msg"]
    assert rtnl(host, "mvb")["bc_cutoff"] == 4


def test_a_new_link_with_bclim_rolled_back_gives_its_siblings_their_cutoff_again(lab, ansible, host):
    """A new link's bclim sets the cutoff its siblings share (the kernel keeps one per parent), and deleting the
    link leaves it: the rollback of a run that created mvc with bclim 6 and then failed sets it back to what the
    step replaced before deleting mvc, so mva has its own again."""
    ansible.converge("macvlan", name="mva", parent="p0", netns=host)
    before = rtnl(host, "mva").get("bc_cutoff")  # the kernel leaves the default (1) out
    assert before is None
    failed = ansible.run(
        "macvlan_state",
        netns=host,
        links=[
            {"name": "mvc", "parent": "p0", "bclim": 6, "addresses": ["192.0.2.6/24"]},
            {"name": "mve", "parent": "p0", "bclim": 6},
            {"name": "mvd", "parent": "p0", "routes": [{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}]},
        ],
    )
    assert failed["failed"] is True and "set bclim of mvc: 6 -> 1" in failed["msg"], failed["msg"]
    assert rtnl(host, "mva").get("bc_cutoff") is None
    assert lab.link(host, "mvc") is None and lab.link(host, "mvd") is None and lab.link(host, "mve") is None
    # Without the failing link: one step sets the parent's cutoff for both new links; the rerun changes nothing.
    args = {
        "netns": host,
        "links": [{"name": "mvc", "parent": "p0", "bclim": 6}, {"name": "mve", "parent": "p0", "bclim": 6}],
    }
    created = ansible.run("macvlan_state", **args)
    assert created["changed"] is True and not created.get("failed"), created.get("msg")
    assert [line for line in created["actions"] if line.startswith("set bclim")] == [
        "set bclim of new link mvc: 6 (the broadcast cutoff all links on its parent share) in netns %s" % host
    ]
    assert [rtnl(host, name).get("bc_cutoff") for name in ("mva", "mvc", "mve")] == [6, 6, 6]
    assert ansible.run("macvlan_state", **args)["changed"] is False


def test_a_passthru_link_re_created_as_bridge_keeps_the_address_it_gave_its_parent(lab, ansible_default, host):
    """A passthru link with its own MAC gives it to its parent; re-created in bridge mode with the same MAC it was
    refused ("is the MAC address of parent"), although the parent gets its earlier address back when the passthru
    link goes."""
    mac = "02:00:00:00:21:01"
    own = lab.link(host, "p0")["address"]
    lab.ip(host, "link", "add", "m1", "link", "p0", "type", "macvlan", "mode", "passthru")
    lab.ip(host, "link", "set", "m1", "address", mac, "up")
    assert lab.link(host, "p0")["address"] == mac
    args = {"netns": host, "links": [{"name": "m1", "parent": "p0", "mode": "bridge", "mac_address": mac}]}
    result = ansible_default.run("macvlan_state", **args)
    assert result["changed"] is True and not result.get("failed"), result.get("msg")
    link = lab.link(host, "m1")
    assert (link["linkinfo"]["info_data"]["mode"], link["address"]) == ("bridge", mac)
    assert lab.link(host, "p0")["address"] == own
    again = ansible_default.run("macvlan_state", **args)
    assert again["changed"] is False and not again.get("failed"), again.get("msg")


def test_state_errors_name_the_link(lab, ansible_default, host):
    result = ansible_default.run(
        "macvlan_state",
        netns=host,
        links=[{"name": "mva", "parent": "p0"}, {"name": "mvb", "parent": "p1", "mtu": 9000}],
    )
    assert result["failed"] and result["msg"].startswith(
        "links[1] (mvb): mtu: 9000 is larger than the MTU of parent 'p1'"
    )
    result = ansible_default.run("macvlan_state", netns=host, parents=[{"name": "eth9"}])
    assert result["failed"] and result["msg"].startswith("parents[0].name: 'eth9' does not exist")
    result = ansible_default.run(
        "macvlan_state",
        netns=host,
        links=[{"name": "mva", "parent": "p0"}, {"name": "mvb", "parent": "p0", "link_netns": "hmv-no-such-ns"}],
    )
    assert result["failed"] and result["msg"].startswith(
        "links[1] (mvb): link_netns: network namespace 'hmv-no-such-ns' does not exist"
    )
    assert lab.link(host, "mva") is None
