"""The engine reads the kernel with its own rtnetlink decoder (plugins/module_utils/_rtnl.py). These tests
build a namespace with iproute2 alone (every mode, macvtap, source MACs, flags, bcqueuelen, addresses of
every kind, routes in and out of the main table), run ``macvlan_info``, and compare each reported value with
what iproute2 prints: ``ip -j -d link``, ``ip -j addr`` and ``ip -j route`` are the oracle."""

from __future__ import annotations

import ipaddress
import subprocess

from conftest import ip_json

LINKS = ("mi-bridge", "mi-priv", "mi-vepa", "mi-src", "mi-tap")


def build(lab, ns):
    lab.veth(ns, "p0", "q0")
    lab.veth(ns, "p1", "q1")
    lab.veth(ns, "p2", "q2")
    for args in (
        "link add mi-bridge link p0 type macvlan mode bridge",
        "link add mi-priv link p0 address 02:00:00:00:0b:01 mtu 1400 type macvlan mode private",
        "link add mi-vepa link p0 type macvlan mode vepa",
        "link add mi-src link p1 type macvlan mode source nodst bcqueuelen 333",
        "link set mi-src type macvlan macaddr add 02:00:00:00:00:0a",
        "link set mi-src type macvlan macaddr add 02:00:00:00:00:0b",
        "link add mi-tap link p2 type macvtap mode passthru nopromisc",
        "link set mi-bridge up",
        "link set mi-priv up",
        "link set mi-src up",
        "addr add 192.0.2.10/24 dev mi-bridge",
        "addr add 192.0.2.11/24 dev mi-bridge",
        "addr add 2001:db8::5/64 dev mi-bridge nodad",
        "addr add 10.0.0.1 peer 10.0.0.2/32 dev mi-priv",
        "addr add 2001:db8:9::1 peer 2001:db8:9::2/128 dev mi-priv nodad",
        # Not static (a lifetime): the kernel or a daemon owns it, the engine leaves it out.
        "addr add 198.18.0.1/24 dev mi-src valid_lft 600 preferred_lft 600",
        "route add 198.51.100.0/24 via 192.0.2.1 dev mi-bridge metric 7",
        "route add default via 192.0.2.1 dev mi-bridge",
        # Outside the main table, or not unicast: not the collection's routes.
        "route add 203.0.113.0/24 dev mi-bridge table 100",
        "route add blackhole 203.0.113.128/25",
        "-6 route add 2001:db8:1::/48 dev mi-bridge metric 5",
        "-6 route add 2001:db8:2::/48 via 2001:db8::1 dev mi-bridge",
        "-6 route add 2001:db8:3::/48 dev mi-bridge table 100",
    ):
        lab.ip(ns, *args.split())


def expected_addresses(ns):
    """Per link: the addresses iproute2 shows as permanent ('forever'), IPv4 peer addresses by their local
    side."""
    found = {}
    for entry in lab_json(ns, "addr", "show"):
        for item in entry.get("addr_info", []):
            if item.get("valid_life_time") != 4294967295:
                continue
            cidr = ipaddress.ip_interface("%s/%d" % (item["local"], item["prefixlen"]))
            found.setdefault(entry["ifname"], []).append(cidr)
    return {name: sorted(cidrs, key=lambda c: (c.version, c)) for name, cidrs in found.items()}


def expected_routes(ns):
    """Per link: the main table's unicast routes that are not the kernel's own (proto kernel), both families,
    as iproute2 shows them (IPv6 metric 0 is shown as the kernel stores it, 1024)."""
    found = {}
    for family in ("-4", "-6"):
        for route in lab_json(ns, family, "route", "show", "table", "main"):
            if route.get("type", "unicast") != "unicast" or route.get("protocol") == "kernel" or "dev" not in route:
                continue
            dest = route["dst"]
            if dest == "default":
                dest = "::/0" if family == "-6" else "0.0.0.0/0"
            elif "/" not in dest:
                dest += "/128" if family == "-6" else "/32"
            found.setdefault(route["dev"], []).append(
                {"dest": dest, "gateway": route.get("gateway"), "metric": route.get("metric", 0)}
            )
    return found


def lab_json(ns, *args):
    return ip_json("-n", ns, *args)


def test_info_reports_what_iproute2_shows(lab, ansible):
    ns = lab.netns("read")
    build(lab, ns)
    facts = ansible.run("macvlan_info", netns=ns)
    assert not facts.get("failed"), facts.get("msg")
    assert set(facts["links"]) == set(LINKS)
    links = {link["ifname"]: link for link in lab.links(ns)}
    addresses = expected_addresses(ns)
    routes = expected_routes(ns)
    for name in LINKS:
        link = links[name]
        data = link["linkinfo"]["info_data"]
        got = facts["links"][name]
        assert got["type"] == link["linkinfo"]["info_kind"], name
        assert got["ifindex"] == link["ifindex"], name
        assert got["parent"] == link["link"], name
        assert got["mode"] == data["mode"], name
        assert got["mac_address"] == link["address"], name
        assert got["mtu"] == link["mtu"], name
        assert got["link_state"] == ("up" if "UP" in link["flags"] else "down"), name
        assert got["operstate"] == link["operstate"], name
        assert got["promiscuity"] == link["promiscuity"], name
        assert got["nopromisc"] is bool(data.get("nopromisc")), name
        assert got["nodst"] is bool(data.get("nodst")), name
        assert got["source_macs"] == sorted(data.get("macaddr_data", [])), name
        assert got["bcqueuelen"] == data["bcqueuelen"], name
        assert got["bcqueuelen_used"] == data["usedbcqueuelen"], name
        reported = sorted((ipaddress.ip_interface(a) for a in got["addresses"]), key=lambda c: (c.version, c))
        assert reported == addresses.get(name, []), name
        assert sorted(got["routes"], key=repr) == sorted(routes.get(name, []), key=repr), name
    # The values the build set, so that the comparison above cannot pass on two empty sides.
    assert facts["links"]["mi-src"]["source_macs"] == ["02:00:00:00:00:0a", "02:00:00:00:00:0b"]
    assert facts["links"]["mi-src"]["bcqueuelen"] == 333 and facts["links"]["mi-src"]["nodst"] is True
    assert facts["links"]["mi-tap"]["nopromisc"] is True and facts["links"]["mi-tap"]["mode"] == "passthru"
    assert "10.0.0.1/32" in facts["links"]["mi-priv"]["addresses"]
    assert "2001:db8:9::1/128" in facts["links"]["mi-priv"]["addresses"]
    assert len(facts["links"]["mi-bridge"]["routes"]) == 4
    for parent in ("p0", "p1", "p2"):
        assert facts["parents"][parent]["ifindex"] == links[parent]["ifindex"]
        assert facts["parents"][parent]["mac_address"] == links[parent]["address"]
        assert facts["parents"][parent]["mtu"] == links[parent]["mtu"]


def test_many_links_are_all_read(lab, ansible):
    """A dump that spans many netlink datagrams (300 links, each up with an IPv6 link-local address and its
    routes) is read whole."""
    ns = lab.netns("many")
    lab.veth(ns, "p0", "q0")
    batch = "".join("link add mv%d link p0 up type macvlan mode bridge\n" % i for i in range(300))
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
    facts = ansible.run("macvlan_info", netns=ns)
    assert not facts.get("failed"), facts.get("msg")
    names = {link["ifname"] for link in lab.links(ns) if link.get("linkinfo", {}).get("info_kind") == "macvlan"}
    assert len(names) == 300
    assert set(facts["links"]) == names
    assert facts["parents"]["p0"]["children"] == sorted(names)


def test_a_namespace_without_any_ipv4_route(lab, ansible):
    """A fresh namespace (loopback down, no IPv4 address) has no IPv4 main routing table yet; the kernel
    answers a dump of it with ENOENT, which means "no routes", not a failure."""
    ns = lab.netns("bare", lo_up=False)
    lab.veth(ns, "p0", "q0")
    assert lab_json(ns, "-4", "route", "show", "table", "all") == []
    result = ansible.converge("macvlan", name="mv0", parent="p0", netns=ns, routes=[])
    assert result["changed"] is True
    assert lab.link(ns, "mv0")["linkinfo"]["info_kind"] == "macvlan"
    facts = ansible.run("macvlan_info", netns=ns)
    assert not facts.get("failed"), facts.get("msg")
    assert facts["links"]["mv0"]["routes"] == []
