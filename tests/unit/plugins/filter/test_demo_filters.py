"""The demo playbook's filters (pure): the lab's derived values, the check-mode drift, the verdicts and report."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hostnet.macvlan.plugins.filter.demo_drift import demo_drift
from ansible_collections.hostnet.macvlan.plugins.filter.demo_lab import demo_lab
from ansible_collections.hostnet.macvlan.plugins.filter.demo_report import demo_report

LINKS = [
    {"name": "mv-b1", "parent": "eth1", "link_netns": "lab-b1", "addresses": ["192.0.2.11/24", "2001:db8::11/64"]},
    {"name": "mv-b2", "parent": "eth1", "link_netns": "lab-b2", "addresses": ["192.0.2.12/24"]},
    {"name": "mv-src", "parent": "eth1", "mode": "source"},  # stays on the host, no address
    {"name": "mv-v1", "parent": "eth2", "link_netns": "lab-b1", "addresses": []},  # a namespace twice, no address
]
LAB = {
    "host_ns": "lab-host",
    "switch_ns": "lab-switch",
    "host_address": "192.0.2.1",
    "lan_address": "192.0.2.200",
    "shim_name": "mv-host",
    "shim_address": "192.0.2.254/32",
}


def test_lab_values():
    what_if = {
        "change": {"mv-b2": {"mode": "private"}},
        "add": [{"name": "mv-new", "parent": "eth1"}],
        "leave_out": ["mv-src"],
    }
    lab = demo_lab(LINKS, what_if=what_if, **LAB)
    assert lab["namespaces"] == ["lab-host", "lab-b1", "lab-b2"]
    assert lab["nodes"] == {
        "mv-b1": {"netns": "lab-b1", "address": "192.0.2.11"},
        "mv-b2": {"netns": "lab-b2", "address": "192.0.2.12"},
        "host": {"netns": "lab-host", "address": "192.0.2.1"},
        "mv-host": {"netns": "lab-host", "address": "192.0.2.254"},
        "lan": {"netns": "lab-switch", "address": "192.0.2.200"},
    }
    assert lab["what_if_links"] == [
        LINKS[0],
        dict(LINKS[1], mode="private"),
        LINKS[3],
        {"name": "mv-new", "parent": "eth1"},
    ]
    assert LINKS[1].get("mode") is None  # the input is not changed
    assert lab["what_if_namespaces"] == ["lab-host", "lab-b2"]
    assert lab["cleanup_links"] == [
        {"name": "mv-b1", "state": "absent", "link_netns": "lab-b1"},
        {"name": "mv-b2", "state": "absent", "link_netns": "lab-b2"},
        {"name": "mv-src", "state": "absent"},
        {"name": "mv-v1", "state": "absent", "link_netns": "lab-b1"},
        {"name": "mv-host", "state": "absent"},
    ]


def test_lab_without_what_if():
    lab = demo_lab(LINKS, **LAB)
    assert lab["what_if_links"] == LINKS and lab["what_if_namespaces"] == ["lab-host"]


@pytest.mark.parametrize(
    "links, what_if, message",
    [
        ([{"parent": "eth1"}], {}, "each a dict with a name"),
        ("mv-b1", {}, "the input must be a list of links"),
        (LINKS, {"change": {"mv-zz": {}}, "leave_out": ["mv-yy"]}, "names links the lab does not have: mv-yy, mv-zz"),
    ],
)
def test_lab_bad_input(links, what_if, message):
    with pytest.raises(AnsibleFilterError, match=message):
        demo_lab(links, what_if=what_if, **LAB)


def test_drift_names_each_changed_attribute():
    applied = [
        {"name": "mv-a", "mode": "bridge", "mtu": 1500, "mac_address": "02:00:00:00:00:01", "type": "macvlan"},
        {"name": "mv-b", "mode": "vepa", "mtu": 1500, "mac_address": "02:00:00:00:00:02", "type": "macvlan"},
    ]
    results = [
        {"item": "host", "links": {"mv-b": dict(applied[1], mtu=1400, mode="bridge"), "mv-x": {"mode": "private"}}},
        {"item": "vm", "links": {"mv-a": dict(applied[0])}},
    ]
    check = demo_drift(results, applied)
    assert check == {"links": ["mv-a", "mv-b", "mv-x"], "drift": ["mv-b mode", "mv-b mtu"]}
    by_name = {link["name"]: link for link in applied}
    assert demo_drift(results, by_name, attributes=["mtu"])["drift"] == ["mv-b mtu"]
    assert demo_drift([{"links": {}}], applied) == {"links": [], "drift": []}


def test_drift_bad_input():
    with pytest.raises(AnsibleFilterError, match="without links"):
        demo_drift([{"failed": True}], [])
    with pytest.raises(AnsibleFilterError, match="give the macvlan_info loop results"):
        demo_drift({}, [])


def facts():
    host = {
        "item": "lab-host",
        "kernel": "6.1.0",
        "parents": {
            "eth1": {
                "name": "eth1",
                "ifindex": 3,
                "promisc": True,
                "promiscuity": 2,
                "mac_address": "aa:00:00:00:00:01",
            },
            "eth3": {
                "name": "eth3",
                "ifindex": 5,
                "promisc": False,
                "promiscuity": 0,
                "mac_address": "aa:00:00:00:00:03",
            },
        },
        "links": {
            "mv-src": {
                "name": "mv-src",
                "type": "macvlan",
                "mode": "source",
                "parent": "eth1",
                "mac_address": "02:00:00:00:01:31",
                "addresses": ["fe80::1/64"],
                "source_macs": ["02:00:00:00:0a:01", "02:00:00:00:0a:02"],
                "nodst": True,
                "routes": [],
            },
            "mvtap0": {
                "name": "mvtap0",
                "type": "macvtap",
                "mode": "passthru",
                "parent": "eth3",
                "mac_address": "aa:00:00:00:00:03",
                "addresses": [],
                "nopromisc": True,
                "routes": [],
            },
            "mv-host": {
                "name": "mv-host",
                "type": "macvlan",
                "mode": "bridge",
                "parent": "eth1",
                "mac_address": "02:00:00:00:00:fe",
                "addresses": ["192.0.2.254/32", "FE80::2/64"],
                "routes": [
                    {"dest": "192.0.2.0/25", "gateway": None},
                    {"dest": "198.51.100.0/24", "gateway": "192.0.2.9"},
                ],
            },
        },
    }
    vm = {
        "item": "lab-b1",
        "links": {
            "mv-b1": {
                "name": "mv-b1",
                "type": "macvlan",
                "mode": "bridge",
                "parent": None,
                "parent_ifindex": 3,
                "mac_address": "02:00:00:00:01:11",
                "addresses": ["192.0.2.11/24", "2001:db8::11/64"],
                "routes": [],
            },
            "mv-lost": {
                "name": "mv-lost",
                "type": "macvlan",
                "mode": "bridge",
                "parent": None,
                "parent_ifindex": 99,
                "mac_address": "02:00:00:00:01:99",
                "addresses": [],
                "routes": [],
            },
        },
    }
    return [host, vm]


def probe(source, dest, address, expect, reachable, why):
    item = {"from": source, "to": dest, "expect": expect, "why": why}
    return {"item": item, "dest": address, "reachable": reachable, "rtt_ms": 0.1 if reachable else None}


STAGES = [
    {
        "name": "before",
        "title": "Before the shim",
        "probes": [
            probe("mv-b1", "mv-b2", "192.0.2.12", "reachable", True, "bridge"),
            probe("host", "mv-b1", "192.0.2.11", "unreachable", False, "the known limit"),
        ],
    },
    {
        "name": "after",
        "title": "After macvlan_host_access: mv-host",
        "probes": [probe("host", "mv-b1", "192.0.2.11", "reachable", False, "through the shim")],
    },
]


def test_report_links_parents_and_matrix():
    report = demo_report(
        facts(), "lab-host", STAGES, parent_notes={"eth1": "no hairpin"}, shim_name="mv-host", probe_count=2
    )
    assert [(row["name"], row["parent"], row["netns"]) for row in report["links"]] == [
        ("mv-lost", "?", "lab-b1"),
        ("mv-src", "eth1", "lab-host"),
        ("mv-host", "eth1", "lab-host"),
        ("mv-b1", "eth1", "lab-b1"),
        ("mvtap0", "eth3", "lab-host"),
    ]
    rows = {row["name"]: row for row in report["links"]}
    assert rows["mv-src"]["notes"] == "source_macs 02:00:00:00:0a:01 02:00:00:00:0a:02; nodst True"
    assert rows["mv-src"]["addresses"] == "-"
    assert rows["mvtap0"]["notes"] == "nopromisc True; the MAC of eth3"
    assert rows["mv-host"]["notes"] == "the host-access shim; route 192.0.2.0/25; route 198.51.100.0/24 via 192.0.2.9"
    assert rows["mv-host"]["addresses"] == "192.0.2.254/32"
    assert rows["mv-b1"]["addresses"] == "192.0.2.11/24, 2001:db8::11/64"

    assert [(v["stage"], v["observed"], v["as_expected"]) for v in report["verdicts"]] == [
        ("before", "reachable", True),
        ("before", "unreachable", True),
        ("after", "unreachable", False),
    ]
    assert report["unexpected"] == ["host -> mv-b1 (192.0.2.11) expected reachable, observed unreachable"]

    lines = report["text"].split("\n")
    assert lines[0] == "hostnet.macvlan demo lab, kernel 6.1.0"
    assert lines[1] == ""
    assert lines[2] == "LINKS (read back with hostnet.macvlan.macvlan_info in each namespace)"
    assert lines[3].split() == ["NAME", "TYPE", "MODE", "PARENT", "NAMESPACE", "MAC", "ADDRESSES", "NOTES"]
    assert (
        lines[8]
        == "  mvtap0       macvtap  passthru  eth3    lab-host          aa:00:00:00:00:03  -               nopromisc True; the MAC of eth3"
    )
    parents = lines.index("PARENTS (in lab-host; PROMISC is the IFF_PROMISC flag, PROMISCUITY the kernel's counter)")
    assert lines[parents + 2] == "  eth1   True     2            aa:00:00:00:00:01  no hairpin"
    assert lines[parents + 3] == "         children: mv-src, mv-host, mv-b1"
    assert lines[parents + 4] == "  eth3   False    0            aa:00:00:00:00:03  "
    assert lines[parents + 5] == "         children: mvtap0"
    matrix = lines.index(
        "REACHABILITY MATRIX (hostnet.macvlan.reachability: 2 ICMP echo requests sent from inside the sender's namespace)"
    )
    assert lines[matrix + 1 : matrix + 3] == ["", "Before the shim"]
    assert lines[matrix + 4] == "  mv-b1       -> mv-b2       192.0.2.12     reachable    reachable    ok"
    assert lines[matrix + 5] == "      bridge"
    assert "  host        -> mv-b1       192.0.2.11     reachable    unreachable  <<< NOT AS EXPECTED" in lines
    assert lines[-2:] == ["", "2 of 3 pairs as expected."]


@pytest.mark.parametrize(
    "args, message",
    [
        (("nope", "lab-host", STAGES), "the input must be the macvlan_info loop results"),
        (([], "lab-host", STAGES), "no macvlan_info result for the host namespace lab-host"),
        ((facts(), "lab-host", "before"), "stages must be a list"),
        (
            (facts(), "lab-host", [{"name": "x", "probes": [{"item": {"from": "a", "to": "b"}, "msg": "boom"}]}]),
            "probe a -> b has no answer: boom",
        ),
    ],
)
def test_report_bad_input(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        demo_report(*args)
