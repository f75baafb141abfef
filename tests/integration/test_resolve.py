"""parent 'default' and mac_address 'stable' on the real kernel: the link lands on the interface of the IPv4
default route and keeps its derived MAC address when it is re-created; iproute2 is the oracle, and the expected
MAC is computed here from /etc/machine-id with the standard library's HMAC (apart from the collection)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from conftest import ip_json
from oracle import assert_same, full_dump
from role_helpers import converge_role


def machine_id():
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if len(text) == 32:
            return text
    pytest.fail("this machine has no machine id: the stable-MAC tests need /etc/machine-id")


def expected_mac(namespace, name):
    message = b"hostnet.macvlan stable mac v1\0" + namespace.encode() + b"\0" + name.encode()
    digest = bytearray(hmac.new(bytes.fromhex(machine_id()), message, hashlib.sha256).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02
    return ":".join("%02x" % octet for octet in digest)


@pytest.fixture
def host(lab):
    ns = lab.netns("host")
    lab.veth(ns, "p0", "q0")
    lab.veth(ns, "p1", "q1")
    lab.ip(ns, "address", "add", "192.0.2.2/24", "dev", "p1")
    lab.ip(ns, "route", "add", "default", "via", "192.0.2.1", "dev", "p1")
    return ns


def test_parent_default_is_the_default_route_interface(lab, ansible_default, host):
    args = {"netns": host, "links": [{"name": "mvd", "parent": "default", "mode": "bridge"}]}
    first = ansible_default.converge("macvlan_state", **args)
    assert first["resolved"] == {"links[0].parent": "p1"}
    assert first["links"][0]["parent"] == "p1"
    assert lab.link(host, "mvd")["link"] == "p1"

    # The default route moves (a lower metric through p0): the next run follows it, re-creating the link there.
    lab.ip(host, "address", "add", "198.51.100.2/24", "dev", "p0")
    lab.ip(host, "route", "add", "default", "via", "198.51.100.1", "dev", "p0", "metric", "10")
    lab.ip(host, "route", "replace", "default", "via", "192.0.2.1", "dev", "p1", "metric", "20")
    lab.ip(host, "route", "del", "default", "via", "192.0.2.1", "dev", "p1", "metric", "0")
    moved = ansible_default.run("macvlan_state", **args)
    assert not moved.get("failed"), moved.get("msg")
    assert moved["changed"] is True and moved["resolved"] == {"links[0].parent": "p0"}
    assert lab.link(host, "mvd")["link"] == "p0"


def test_parent_default_without_a_default_route_changes_nothing(lab, ansible_default, host):
    lab.ip(host, "route", "del", "default")
    before = full_dump(host)
    result = ansible_default.run(
        "macvlan_state", netns=host, links=[{"name": "ok0", "parent": "p0"}, {"name": "mvd", "parent": "default"}]
    )
    assert result.get("failed") is True
    assert "links[1].parent: 'default'" in result["msg"] and "has no IPv4 default route" in result["msg"]
    assert_same(host, before)


def test_stable_mac_survives_re_creation(lab, ansible_default, host):
    args = {"netns": host, "links": [{"name": "mvs", "parent": "p0", "mac_address": "stable"}]}
    want = expected_mac(host, "mvs")
    first = ansible_default.converge("macvlan_state", **args)
    assert first["resolved"] == {"links[0].mac_address": want}
    assert lab.link(host, "mvs")["address"] == want

    lab.ip(host, "link", "del", "mvs")
    again = ansible_default.run("macvlan", netns=host, name="mvs", parent="p0", mac_address="stable")
    assert not again.get("failed") and again["changed"] is True, again.get("msg")
    assert again["resolved"] == {"mac_address": want} and again["link"]["mac_address"] == want
    assert lab.link(host, "mvs")["address"] == want

    # Another name, another address; the same name in another namespace, another address.
    other = ansible_default.run("macvlan", netns=host, name="mvt", parent="p0", mac_address="stable")
    assert other["link"]["mac_address"] == expected_mac(host, "mvt") != want


def test_persisted_files_hold_the_resolved_values(ansible_default, tmp_path):
    """macvlan_persist writes what the kernel gets: the stable MAC (the host namespace's) and the interface of
    this host's IPv4 default route (read here with iproute2)."""
    args = {
        "backend": "networkd",
        "reload": False,
        "networkd_dir": str(tmp_path / "networkd"),
        "links": [{"name": "mvs", "parent": "eth9", "mac_address": "stable"}, {"name": "mvd", "parent": "default"}],
    }
    routes = sorted(ip_json("-4", "route", "show", "default"), key=lambda route: route.get("metric", 0))
    result = ansible_default.run("macvlan_persist", **args)
    if not routes:
        assert result.get("failed") is True and "links[1].parent: 'default'" in result["msg"]
        assert not (tmp_path / "networkd").exists()
        return
    assert not result.get("failed"), result.get("msg")
    netdev = (tmp_path / "networkd" / "60-hostnet-macvlan-link-mvs.netdev").read_text()
    assert "MACAddress=%s" % expected_mac("", "mvs") in netdev
    parent = routes[0]["dev"]
    dropin = tmp_path / "networkd" / ("60-hostnet-macvlan-parent-%s.network.d" % parent)
    assert "MACVLAN=mvd" in "".join(path.read_text() for path in dropin.iterdir())
    again = ansible_default.run("macvlan_persist", **args)
    assert again["changed"] is False, again["files"]


def test_the_topology_role_takes_the_new_link_options(lab, ansible_default, host):
    """The role's argument spec passes parent 'default', mac_address 'stable' and the multicast flags to the
    modules (it adds no rule of its own); rerun and check mode change nothing."""
    converge_role(
        ansible_default,
        "macvlan_topology",
        macvlan_topology_netns=host,
        macvlan_topology_persist="none",
        macvlan_topology_install_pyroute2=False,
        macvlan_topology_links=[
            {"name": "mvr", "parent": "default", "mac_address": "stable", "allmulticast": True, "multicast": True}
        ],
    )
    link = lab.link(host, "mvr")
    assert link["link"] == "p1" and link["address"] == expected_mac(host, "mvr")
    assert "ALLMULTI" in link["flags"]
