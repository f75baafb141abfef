"""Persistence of the roles, through hostnet.macvlan.macvlan_persist: the files they write for systemd-networkd,
NetworkManager and ifupdown.

The roles run with ``macvlan_topology_apply: false`` (files only, the kernel is not touched) against temporary
directories. Oracles, never the collection's own code: the file contents (strict ini parse), the real
``systemd-networkd`` booted on the written files in a throwaway namespace (``role_helpers.boot_networkd``: the
links, addresses, routes and flags it creates are read with ``ip -j``), ``nmcli --offline`` for keyfiles,
``systemd-analyze verify`` for the unit, ``ifquery``/``ifup --no-act`` for the ifupdown stanzas.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from role_helpers import (
    NETWORKD,
    boot_networkd,
    converge_role,
    have,
    networkd_host,
    networkd_state,
    parse_ini,
    role_task,
    run_role,
    section,
    sections,
)

PREFIX = "60-hostnet-macvlan-"
HOST_ACCESS = "60-hostnet-macvlan-host-access-"
INJECTION = "fe80::5%x\n[Network]\nDNS=203.0.113.53\n#/64"

# Parent names that do not exist on the test machine: the role finds no interface and no networkd state.
P0, P1, P2 = "hmvr0", "hmvr1", "hmvr2"

LINKS = [
    {
        "name": "mv-web",
        "parent": P0,
        "mode": "bridge",
        "mac_address": "02:42:AC:11:00:10",
        "mtu": 1400,
        "addresses": ["192.0.2.10/24", "2001:db8::10/64"],
        "routes": [
            {"dest": "198.51.100.0/24", "gateway": "192.0.2.1"},
            {"dest": "203.0.113.0/24", "metric": 7},
            {"dest": "2001:db8:1::/64", "gateway": "2001:db8::1"},
        ],
        "bcqueuelen": 300,
    },
    {"name": "mv-priv", "parent": P0, "mode": "private", "mac_address": "02:42:ac:11:00:11"},
    {"name": "mv-vepa", "parent": P0, "mode": "vepa", "link_state": "down"},
    {"name": "mv-src", "parent": P1, "mode": "source", "source_macs": ["02:00:00:00:00:01", "02:00:00:00:00:02"]},
    {"name": "mvtap0", "parent": P2, "mode": "passthru", "type": "macvtap", "nopromisc": True},
]


def topology(tmp_path, persist, links=None, parents=None, **extra):
    variables = {
        "macvlan_topology_apply": False,
        "macvlan_topology_persist": persist,
        "macvlan_topology_reload": False,
        "macvlan_topology_networkd_dir": str(tmp_path / "networkd"),
        "macvlan_topology_networkmanager_dir": str(tmp_path / "nm"),
        "macvlan_topology_systemd_dir": str(tmp_path / "systemd"),
        "macvlan_topology_ifupdown_dir": str(tmp_path / "ifupdown"),
        "macvlan_topology_interfaces_file": str(tmp_path / "interfaces"),
        "macvlan_topology_parents": parents if parents is not None else [{"name": P0, "promisc": True}],
        "macvlan_topology_links": links if links is not None else LINKS,
    }
    variables.update(extra)
    return variables


def files(directory):
    """Every file under directory, relative, sorted (symlinks included)."""
    root = Path(directory)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def ini(path):
    return parse_ini(Path(path).read_text())


def ok(run):
    assert not run.failed, run.output[-4000:]
    return run


# --- systemd-networkd ---------------------------------------------------------------------------------


def test_networkd_files(ansible_default, tmp_path):
    converge_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkd"))
    nd = tmp_path / "networkd"
    own0, own1, own2 = ("%sparent-%s.network" % (PREFIX, p) for p in (P0, P1, P2))
    expected = []
    for link in LINKS:
        own = "%sparent-%s.network" % (PREFIX, link["parent"])
        expected += [
            "%slink-%s.netdev" % (PREFIX, link["name"]),
            "%slink-%s.network" % (PREFIX, link["name"]),
            "%s.d/%slink-%s.conf" % (own, PREFIX, link["name"]),
        ]
    expected += [own0, own1, own2, "%s.d/%spromisc.conf" % (own0, PREFIX), "%s.d/%spromisc.conf" % (own2, PREFIX)]
    assert files(nd) == sorted(expected)

    web = ini(nd / (PREFIX + "link-mv-web.netdev"))
    assert section(web, "NetDev") == [
        ("Name", "mv-web"),
        ("Kind", "macvlan"),
        ("MACAddress", "02:42:ac:11:00:10"),
        ("MTUBytes", "1400"),
    ]
    assert section(web, "MACVLAN") == [("Mode", "bridge"), ("BroadcastMulticastQueueLength", "300")]
    network = ini(nd / (PREFIX + "link-mv-web.network"))
    assert section(network, "Match") == [("Name", "mv-web")]
    assert ("Address", "192.0.2.10/24") in section(network, "Network")
    assert ("Address", "2001:db8::10/64") in section(network, "Network")
    assert sections(network, "Route") == [
        [("Destination", "198.51.100.0/24"), ("Gateway", "192.0.2.1"), ("Metric", "0")],
        [("Destination", "203.0.113.0/24"), ("Metric", "7")],
        [("Destination", "2001:db8:1::/64"), ("Gateway", "2001:db8::1"), ("Metric", "1024")],
    ]
    assert ("ActivationPolicy", "down") in section(ini(nd / (PREFIX + "link-mv-vepa.network")), "Link")
    src = ini(nd / (PREFIX + "link-mv-src.netdev"))
    assert section(src, "MACVLAN") == [
        ("Mode", "source"),
        ("SourceMACAddress", "02:00:00:00:00:01"),
        ("SourceMACAddress", "02:00:00:00:00:02"),
    ]
    tap = ini(nd / (PREFIX + "link-mvtap0.netdev"))
    assert ("Kind", "macvtap") in section(tap, "NetDev")
    assert section(tap, "MACVTAP") == [("Mode", "passthru")]
    # Attachment: a drop-in per link in the parent's .network; promiscuity of the parents.
    assert section(ini(nd / ("%s.d/%slink-mvtap0.conf" % (own2, PREFIX))), "Network") == [("MACVTAP", "mvtap0")]
    assert section(ini(nd / ("%s.d/%slink-mv-web.conf" % (own0, PREFIX))), "Network") == [("MACVLAN", "mv-web")]
    assert section(ini(nd / ("%s.d/%spromisc.conf" % (own0, PREFIX))), "Link") == [("Promiscuous", "yes")]
    # nopromisc passthru: networkd sets the flag from the parent's Promiscuous=no
    assert section(ini(nd / ("%s.d/%spromisc.conf" % (own2, PREFIX))), "Link") == [("Promiscuous", "no")]
    own = ini(nd / own1)
    assert section(own, "Match") == [("Name", P1)]
    assert ("LinkLocalAddressing", "no") in section(own, "Network")
    assert ("KeepConfiguration", "yes") in section(own, "Network")


def test_networkd_check_mode_writes_nothing(ansible_default, tmp_path):
    checked = run_role(ansible_default, "macvlan_topology", check=True, **topology(tmp_path, "networkd"))
    assert not checked.failed, checked.output[-3000:]
    assert checked.changed
    assert files(tmp_path / "networkd") == []


@pytest.mark.skipif(NETWORKD is None, reason="systemd-networkd is not installed")
def test_networkd_boots_the_persisted_topology(ansible_default, tmp_path):
    """The reboot test: real systemd-networkd, given only the written files, recreates the topology."""
    variables = topology(
        tmp_path,
        "networkd",
        parents=[{"name": P0, "promisc": True}],
        # P1 is configured by a .network of the administrator's: the role attaches its link with a drop-in
        # and leaves that file alone (its address stays).
        macvlan_topology_networkd_parent_network={P1: "10-admin-%s.network" % P1},
    )
    nd = tmp_path / "networkd"
    nd.mkdir()
    admin = "[Match]\nName=%s\n\n[Network]\nAddress=10.9.0.1/24\nLinkLocalAddressing=no\n" % P1
    (nd / ("10-admin-%s.network" % P1)).write_text(admin)
    ok(run_role(ansible_default, "macvlan_topology", **variables))
    assert (nd / ("10-admin-%s.network" % P1)).read_text() == admin
    assert (nd / ("10-admin-%s.network.d" % P1) / (PREFIX + "link-mv-src.conf")).exists()

    booted = boot_networkd(
        nd,
        tmp_path / "boot",
        {P0: "q0", P1: "q1", P2: "q2"},
        wait_for=[link["name"] for link in LINKS],
    )
    links = booted["links"]
    for link in LINKS:
        assert link["name"] in links, "networkd did not create %s:\n%s" % (link["name"], booted["log"][-3000:])
        got = links[link["name"]]
        assert got["link"] == link["parent"]
        assert got["linkinfo"]["info_kind"] == link.get("type", "macvlan")
        assert got["linkinfo"]["info_data"]["mode"] == link["mode"]
        if "mac_address" in link:
            assert got["address"] == link["mac_address"].lower()
    web = links["mv-web"]
    assert web["mtu"] == 1400
    assert web["linkinfo"]["info_data"]["bcqueuelen"] == 300
    assert "UP" in web["flags"]
    assert "UP" not in links["mv-vepa"]["flags"]
    assert booted["addresses"]["mv-web"] == ["192.0.2.10/24", "2001:db8::10/64"]
    routes = {
        (r["dst"], r.get("gateway"), r.get("metric", 0))
        for r in booted["routes"]
        if r.get("dev") == "mv-web" and r.get("protocol") != "kernel" and not r["dst"].startswith("fe80")
    }
    assert routes == {
        ("198.51.100.0/24", "192.0.2.1", 0),
        ("203.0.113.0/24", None, 7),
        ("2001:db8:1::/64", "2001:db8::1", 1024),
    }
    src = links["mv-src"]["linkinfo"]["info_data"]
    assert src.get("macaddr_count") == 2, src
    assert "PROMISC" in links[P0]["flags"]
    assert "PROMISC" not in links[P2]["flags"]
    assert links["mvtap0"]["linkinfo"]["info_data"].get("nopromisc") is True
    # The administrator's .network still configures P1.
    assert booted["addresses"][P1] == ["10.9.0.1/24"]


def link_summary(state, name):
    """What must survive a reboot, as ip shows it."""
    link = state["links"][name]
    data = link["linkinfo"]["info_data"]
    routes = sorted(
        (r["dst"], r.get("gateway") or "", r.get("metric", 0))
        for r in state["routes"]
        if r.get("dev") == name and r.get("protocol") != "kernel" and not r["dst"].startswith(("fe80", "multicast"))
    )
    return {
        "parent": link["link"],
        "kind": link["linkinfo"]["info_kind"],
        "mode": data["mode"],
        "mtu": link["mtu"],
        "up": "UP" in link["flags"],
        "bcqueuelen": data.get("bcqueuelen"),
        "sources": data.get("macaddr_count", 0),
        "nopromisc": data.get("nopromisc", False),
        "addresses": state["addresses"].get(name, []),
        "routes": routes,
    }


@pytest.mark.skipif(NETWORKD is None, reason="systemd-networkd is not installed")
def test_networkd_host_applied_persisted_and_rebooted(ansible_default, tmp_path):
    """End to end on a host where systemd-networkd runs: the role applies and persists (detecting the
    administrator's .network of a parent from networkd's state), then a "reboot" (links deleted, flags reset,
    networkd started again on the files alone) recreates what the role had applied."""
    links = [dict(LINKS[0], parent="p0"), dict(LINKS[2], parent="p0"), dict(LINKS[3], parent="p1")]
    links.append(dict(LINKS[4], parent="p2"))
    names = [link["name"] for link in links]
    admin = "[Match]\nName=p1\n\n[Network]\nAddress=10.9.0.1/24\nLinkLocalAddressing=no\n"
    prefix, out = networkd_host(tmp_path, {"p0": "q0", "p1": "q1", "p2": "q2"}, wait_for=names)
    (tmp_path / "networkd" / "10-admin-p1.network").write_text(admin)
    variables = {
        "macvlan_topology_persist": "networkd",
        "macvlan_topology_reload": False,
        "macvlan_topology_networkd_dir": "/etc/systemd/network",
        "macvlan_topology_parents": [{"name": "p0", "promisc": True}],
        "macvlan_topology_links": links,
    }
    results = ansible_default.playbook([role_task("macvlan_topology", **variables)], prefix=prefix)
    assert not [r for r in results if r.get("_status") == "failed"], ansible_default.last_output[-4000:]
    nd = tmp_path / "networkd"
    # networkd configures p1 from the administrator's file: the link is attached there, by a drop-in.
    assert (nd / "10-admin-p1.network.d" / (PREFIX + "link-mv-src.conf")).exists()
    assert (nd / "10-admin-p1.network").read_text() == admin
    assert not (nd / (PREFIX + "parent-p1.network")).exists()
    assert (nd / (PREFIX + "parent-p0.network")).exists()

    applied, wiped, booted = (networkd_state(out, phase) for phase in ("applied", "wiped", "booted"))
    assert not set(names) & set(wiped["links"])
    assert "PROMISC" not in wiped["links"]["p0"]["flags"]
    for name in names:
        assert name in booted["links"], "networkd did not recreate %s:\n%s" % (
            name,
            (out / "networkd-2.log").read_text()[-3000:],
        )
        assert link_summary(booted, name) == link_summary(applied, name), name
    assert booted["links"]["mv-web"]["address"] == "02:42:ac:11:00:10"
    assert "PROMISC" in applied["links"]["p0"]["flags"] and "PROMISC" in booted["links"]["p0"]["flags"]
    assert booted["addresses"]["p1"] == ["10.9.0.1/24"]


def test_networkd_drift_is_corrected_and_purge_keeps_foreign_files(ansible_default, tmp_path):
    nd = tmp_path / "networkd"
    nd.mkdir()
    foreign = nd / "50-admin.network"
    foreign.write_text("[Match]\nName=eth9\n")
    foreign_prefixed_elsewhere = nd / "60-other-tool-mv-priv.netdev"
    foreign_prefixed_elsewhere.write_text("[NetDev]\nName=x\nKind=dummy\n")
    links = [dict(link) for link in LINKS[1:]]  # mv-priv, mv-vepa on P0; mv-src on P1; mvtap0 on P2
    ok(run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkd", links=links)))

    # Drift: a hand edit is reported (changed) and corrected; the rerun is clean.
    netdev = nd / (PREFIX + "link-mv-priv.netdev")
    good = netdev.read_text()
    netdev.write_text(good.replace("Mode=private", "Mode=vepa"))
    drifted = ok(run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkd", links=links)))
    assert str(netdev) in drifted.describe_changes()
    assert netdev.read_text() == good
    assert not run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkd", links=links)).changed

    # A link becomes absent: its files go, without purge. An unlisted link keeps its files without purge.
    # (The host-access shim's files, as its role writes them - its own prefix - are there too.)
    shim = nd / ("%sparent-%s.network.d" % (PREFIX, P0)) / (HOST_ACCESS + "link-mv-host.conf")
    shim.write_text("[Network]\nMACVLAN=mv-host\n")
    (nd / (HOST_ACCESS + "link-mv-host.netdev")).write_text("[NetDev]\nName=mv-host\nKind=macvlan\n")
    links = [{"name": "mv-priv", "state": "absent"}, links[2]]  # mv-src on P1 stays; P2 is no longer managed
    ok(run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkd", links=links)))
    assert not [f for f in files(nd) if "link-mv-priv" in f]
    assert [f for f in files(nd) if "mv-vepa" in f]

    # With purge: unlisted links on managed parents go, except the host-access shim; links on parents that
    # are not managed any more stay, and so do files that are not the collection's.
    purge = topology(tmp_path, "networkd", links=links, macvlan_topology_purge=True)
    ok(run_role(ansible_default, "macvlan_topology", **purge))
    assert not run_role(ansible_default, "macvlan_topology", **purge).changed
    remaining = files(nd)
    assert not [f for f in remaining if "mv-vepa" in f]  # on P0 (managed): purged
    assert [f for f in remaining if "mvtap0" in f]  # on P2 (not managed): kept
    assert [f for f in remaining if "mv-host" in f]  # the host-access shim: another prefix, never seen
    assert foreign.exists() and foreign_prefixed_elsewhere.exists()

    # purge with no managed parents: a no-op.
    before = {f: (nd / f).read_text() for f in files(nd)}
    nothing = ok(
        run_role(
            ansible_default,
            "macvlan_topology",
            **topology(tmp_path, "networkd", links=[], parents=[], macvlan_topology_purge=True),
        )
    )
    assert not nothing.changed
    assert {f: (nd / f).read_text() for f in files(nd)} == before


# --- NetworkManager -----------------------------------------------------------------------------------


def nm_roundtrip(path):
    """Feed a keyfile through ``nmcli --offline``: NetworkManager's own parser and normaliser."""
    text = Path(path).read_text()
    # A modification that sets what the file already says: nmcli parses, normalises and prints it.
    name = dict(section(parse_ini(text), "connection"))["id"]
    proc = subprocess.run(
        ["nmcli", "--offline", "connection", "modify", "connection.id", name],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, "nmcli rejects %s: %s" % (path, proc.stderr)
    return parse_ini(proc.stdout)


def test_networkmanager_keyfiles(ansible_default, tmp_path):
    converge_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkmanager"))
    nm = tmp_path / "nm"
    assert files(nm) == sorted("%slink-%s.nmconnection" % (PREFIX, link["name"]) for link in LINKS)
    for name in files(nm):
        assert stat.S_IMODE(os.stat(nm / name).st_mode) == 0o600

    web = ini(nm / (PREFIX + "link-mv-web.nmconnection"))
    connection = dict(section(web, "connection"))
    assert connection["type"] == "macvlan"
    assert connection["interface-name"] == "mv-web"
    assert connection["id"] == PREFIX + "mv-web"
    assert dict(section(web, "macvlan")) == {"mode": "2", "parent": P0}
    assert dict(section(web, "ethernet")) == {"cloned-mac-address": "02:42:ac:11:00:10", "mtu": "1400"}
    assert dict(section(web, "ipv4")) == {
        "method": "manual",
        "address1": "192.0.2.10/24",
        "route1": "198.51.100.0/24,192.0.2.1,0",
        "route2": "203.0.113.0/24,0.0.0.0,7",
    }
    assert dict(section(web, "ipv6")) == {
        "method": "manual",
        "address1": "2001:db8::10/64",
        "route1": "2001:db8:1::/64,2001:db8::1,1024",
    }
    modes = {"mv-priv": "3", "mv-vepa": "1", "mv-src": "5", "mvtap0": "4"}
    for name, mode in modes.items():
        assert dict(section(ini(nm / ("%slink-%s.nmconnection" % (PREFIX, name))), "macvlan"))["mode"] == mode
    tap = dict(section(ini(nm / (PREFIX + "link-mvtap0.nmconnection")), "macvlan"))
    assert tap == {"mode": "4", "parent": P2, "promiscuous": "false", "tap": "true"}
    assert dict(section(ini(nm / (PREFIX + "link-mv-vepa.nmconnection")), "connection"))["autoconnect"] == "false"

    # The parents' flag: a oneshot unit, enabled for each promiscuous parent through its device unit.
    sd = tmp_path / "systemd"
    wants = "multi-user.target.wants/%spromisc@%s.service" % (PREFIX, P0)
    assert files(sd) == sorted([PREFIX + "promisc@.service", wants])
    assert os.readlink(sd / wants) == str(sd / (PREFIX + "promisc@.service"))
    unit = ini(sd / (PREFIX + "promisc@.service"))
    assert dict(section(unit, "Service"))["ExecStart"] == "ip link set dev %I promisc on"

    # The link names the template instance systemd escapes: a '-' in a parent name becomes \x2d. P0 is not
    # listed in this run: its link stays (a parent that is not mentioned is left as it is).
    dashed = topology(tmp_path, "networkmanager", parents=[{"name": "hmv-r0", "promisc": True}])
    ok(run_role(ansible_default, "macvlan_topology", **dashed))
    assert files(sd) == sorted(
        [
            PREFIX + "promisc@.service",
            wants,
            "multi-user.target.wants/%spromisc@hmv\\x2dr0.service" % PREFIX,
        ]
    )


@pytest.mark.skipif(not have("nmcli"), reason="nmcli (network-manager) is not installed")
def test_networkmanager_accepts_the_keyfiles(ansible_default, tmp_path):
    ok(run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkmanager")))
    nm = tmp_path / "nm"
    for name in files(nm):
        ours = ini(nm / name)
        theirs = nm_roundtrip(nm / name)
        for title, pairs in ours:
            normalised = dict(section(theirs, title))
            for key, value in pairs:
                assert key in normalised, "%s: NetworkManager dropped [%s] %s" % (name, title, key)
                assert normalised[key].lower() == value.lower(), "%s: [%s] %s=%s became %s" % (
                    name,
                    title,
                    key,
                    value,
                    normalised[key],
                )


@pytest.mark.skipif(not have("systemd-analyze"), reason="systemd-analyze is not installed")
def test_promisc_unit_verifies(ansible_default, tmp_path):
    ok(run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkmanager", links=[])))
    instance = next((tmp_path / "systemd").glob("*.wants/*"))
    proc = subprocess.run(["systemd-analyze", "verify", str(instance)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "promisc@" not in proc.stderr and "Unknown" not in proc.stderr, proc.stderr


def test_networkmanager_purge_and_drift(ansible_default, tmp_path):
    nm = tmp_path / "nm"
    nm.mkdir()
    (nm / "Wired connection 1.nmconnection").write_text("[connection]\nid=Wired\ntype=ethernet\n")
    ok(run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkmanager")))
    path = nm / (PREFIX + "link-mv-priv.nmconnection")
    good = path.read_text()
    path.write_text(good.replace("mode=3", "mode=2"))
    drifted = run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "networkmanager"))
    assert str(path) in drifted.describe_changes()
    assert path.read_text() == good

    kept = [LINKS[0], LINKS[3]]  # P0 and P1 managed (P0 also as a parent); P2 not
    purge = topology(tmp_path, "networkmanager", links=kept, parents=[], macvlan_topology_purge=True)
    ok(run_role(ansible_default, "macvlan_topology", **purge))
    assert not run_role(ansible_default, "macvlan_topology", **purge).changed
    assert files(nm) == sorted(
        [
            "Wired connection 1.nmconnection",
            PREFIX + "link-mv-web.nmconnection",
            PREFIX + "link-mv-src.nmconnection",
            PREFIX + "link-mvtap0.nmconnection",  # on P2, not managed: kept
        ]
    )
    # P0 is not listed in parents any more: its persisted flag is left as it is (the kernel rule)...
    assert files(tmp_path / "systemd") == sorted(
        [PREFIX + "promisc@.service", "multi-user.target.wants/%spromisc@%s.service" % (PREFIX, P0)]
    )
    # ... and listed with promisc false, it goes, and the unit with its last link.
    off = topology(tmp_path, "networkmanager", links=kept, parents=[{"name": P0, "promisc": False}])
    ok(run_role(ansible_default, "macvlan_topology", **off))
    assert files(tmp_path / "systemd") == []


# --- auto, namespaces, the host-access shim -----------------------------------------------------------


def test_auto_without_a_stack_persists_nothing_and_says_so(ansible_default, tmp_path):
    run = run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "auto"))
    assert not run.failed, run.output[-3000:]
    result = run.persisted()[-1]
    if os.path.isdir("/run/systemd/system"):
        return  # systemd runs here: the stack it runs is chosen (test_persist_module.py checks it against systemctl)
    # No unit enabled in the (empty) systemd directory, no iface stanza in the (missing) interfaces file.
    assert result["backend"] == "none"
    assert not run.changed
    assert any("Nothing is persisted" in w for w in run.warnings())
    assert not [d for d in ("networkd", "nm", "systemd", "ifupdown") if (tmp_path / d).exists()]


@pytest.mark.parametrize("persist", ["networkd", "networkmanager", "ifupdown"])
def test_persisting_a_namespace_is_refused_before_anything_changes(ansible_default, tmp_path, persist):
    """With the kernel to apply (apply true), the refusal comes first: macvlan_state does not run."""
    variables = topology(tmp_path, persist, macvlan_topology_netns="hmv-x", macvlan_topology_apply=True)
    run = run_role(ansible_default, "macvlan_topology", **variables)
    assert run.failed
    assert "netns: 'hmv-x' persistence applies to the host namespace only" in run.failed[0]["msg"]
    assert not [r for r in run.results if "actions" in r], "macvlan_state ran"
    assert not [d for d in ("networkd", "nm", "systemd", "ifupdown") if (tmp_path / d).exists()]


@pytest.mark.parametrize(
    "persist, change, option",
    [
        ("networkd", {"addresses": [INJECTION]}, "links[0].addresses: %r" % INJECTION),
        ("networkmanager", {"addresses": [INJECTION]}, "links[0].addresses: %r" % INJECTION),
        ("ifupdown", {"addresses": [INJECTION]}, "links[0].addresses: %r" % INJECTION),
        ("networkd", {"parent": P0 + "\n[Network]"}, "links[0].parent"),
        ("networkmanager", {"mac_address": "02:42:ac:11:00:11\n[ipv4]"}, "links[0].mac_address"),
        ("ifupdown", {"name": "../../../escaped"}, "links[0].name: '../../../escaped'"),
    ],
)
def test_values_that_cannot_be_written_are_refused_and_nothing_is_written(
    ansible_default, tmp_path, persist, change, option
):
    links = [dict(LINKS[1], **change)]
    run = run_role(ansible_default, "macvlan_topology", **topology(tmp_path, persist, links=links))
    assert run.failed
    assert option in run.failed[0]["msg"], run.failed[0]["msg"]
    assert not [d for d in ("networkd", "nm", "systemd", "ifupdown") if (tmp_path / d).exists()]
    assert not (tmp_path.parent / "escaped").exists() and not Path("/escaped").exists()


def test_a_bad_file_prefix_is_refused(ansible_default, tmp_path):
    run = run_role(
        ansible_default,
        "macvlan_topology",
        **topology(tmp_path, "networkd", macvlan_topology_file_prefix="60-x\n[Match]"),
    )
    assert run.failed and "prefix: '60-x\\n[Match]'" in run.failed[0]["msg"], run.failed[0]["msg"]
    assert not (tmp_path / "networkd").exists()


def test_host_access_shim_is_persisted_beside_the_topology(ansible_default, tmp_path):
    """The shim has its own prefix (the topology's purge never sees its files) and attaches through the
    topology's own .network for the parent (one .network per parent, shared)."""
    variables = topology(tmp_path, "networkd", links=LINKS[:2], macvlan_topology_purge=True)
    ok(run_role(ansible_default, "macvlan_topology", **variables))
    shim = {
        "macvlan_host_access_apply": False,
        "macvlan_host_access_persist": "networkd",
        "macvlan_host_access_parent": P0,
        "macvlan_host_access_address": "192.0.2.254/32",
        "macvlan_host_access_addresses": ["2001:db8::fe/128"],
        "macvlan_host_access_routes": ["192.0.2.0/25", {"dest": "2001:db8::/120"}],
        "macvlan_host_access_networkd_dir": str(tmp_path / "networkd"),
        "macvlan_host_access_reload": False,
    }
    converge_role(ansible_default, "macvlan_host_access", **shim)
    nd = tmp_path / "networkd"
    network = ini(nd / (HOST_ACCESS + "link-mv-host.network"))
    assert [v for k, v in section(network, "Network") if k == "Address"] == ["192.0.2.254/32", "2001:db8::fe/128"]
    assert sections(network, "Route") == [
        [("Destination", "192.0.2.0/25"), ("Metric", "0")],
        [("Destination", "2001:db8::/120"), ("Metric", "1024")],
    ]
    assert section(ini(nd / (HOST_ACCESS + "link-mv-host.netdev")), "MACVLAN") == [("Mode", "bridge")]
    attach = nd / ("%sparent-%s.network.d" % (PREFIX, P0)) / (HOST_ACCESS + "link-mv-host.conf")
    assert section(ini(attach), "Network") == [("MACVLAN", "mv-host")]
    assert not (nd / ("%sparent-%s.network" % (HOST_ACCESS, P0))).exists()
    # The topology with purge keeps the shim's files, and the shim's run does not touch the topology's.
    again = run_role(ansible_default, "macvlan_topology", **variables)
    assert not again.changed, again.describe_changes()
    assert attach.exists()
    # Every link of the topology goes: its own parent .network stays while the shim is attached through it.
    gone = topology(tmp_path, "networkd", links=[dict(name=link["name"], state="absent") for link in LINKS[:2]])
    ok(run_role(ansible_default, "macvlan_topology", **gone))
    assert (nd / ("%sparent-%s.network" % (PREFIX, P0))).exists() and attach.exists()
    assert not run_role(ansible_default, "macvlan_host_access", **shim).changed


# --- ifupdown -------------------------------------------------------------------------------------------


def test_ifupdown_stanzas(ansible_default, tmp_path):
    interfaces = tmp_path / "interfaces"
    interfaces.write_text("source %s/*\n\nauto lo\niface lo inet loopback\n" % (tmp_path / "ifupdown"))
    first = converge_role(ansible_default, "macvlan_topology", **topology(tmp_path, "ifupdown"))
    assert not any("does not source" in w for w in first.warnings())
    names = files(tmp_path / "ifupdown")
    assert names == sorted(["%slink-%s" % (PREFIX, link["name"]) for link in LINKS] + [PREFIX + "parent-" + P0])
    listed = subprocess.run(["ifquery", "-i", str(interfaces), "--list"], capture_output=True, text=True, check=True)
    assert sorted(listed.stdout.split()) == sorted(["lo", P0] + [link["name"] for link in LINKS])
    web = subprocess.run(["ifquery", "-i", str(interfaces), "mv-web"], capture_output=True, text=True, check=True)
    assert "hwaddress: 02:42:ac:11:00:10" in web.stdout and "mtu: 1400" in web.stdout
    proc = subprocess.run(
        ["ifup", "--no-act", "-i", str(interfaces), "-a"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "ip link add link %s name mv-web type macvlan mode bridge bcqueuelen 300" % P0 in proc.stderr
    assert "ip link set dev %s promisc on" % P0 in proc.stderr
    # Not sourced: a warning, the files are kept.
    interfaces.write_text("auto lo\niface lo inet loopback\n")
    run = run_role(ansible_default, "macvlan_topology", **topology(tmp_path, "ifupdown"))
    assert not run.failed and not run.changed
    assert any("does not source ifupdown_dir" in w for w in run.warnings())


# --- two role runs at once ----------------------------------------------------------------------------------


def test_two_concurrent_role_runs_keep_each_others_files(ansible_default, tmp_path):
    """Two plays at the same time, each with its own links (one shared parent), under the host lock."""
    first = topology(tmp_path, "networkd", links=[LINKS[0], LINKS[3]], parents=[{"name": P0}])
    second = topology(tmp_path, "networkd", links=[LINKS[1], LINKS[4]], parents=[{"name": P2, "promisc": False}])
    procs = []
    for name, variables in (("first", first), ("second", second)):
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [role_task("macvlan_topology", **variables)]}]
        path = tmp_path / ("%s.yml" % name)
        path.write_text(json.dumps(play))
        env = dict(ansible_default.env, RECORD_RESULTS_FILE=str(path) + ".results")
        cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(path)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    for proc in procs:
        out = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, out[-3000:]
    nd = tmp_path / "networkd"
    for link in (LINKS[0], LINKS[3], LINKS[1], LINKS[4]):
        own = "%sparent-%s.network" % (PREFIX, link["parent"])
        for name in ("%slink-%s.netdev" % (PREFIX, link["name"]), "%s.d/%slink-%s.conf" % (own, PREFIX, link["name"])):
            assert (nd / name).exists(), name
        assert (nd / own).exists()
    assert not run_role(ansible_default, "macvlan_topology", **first).changed
    assert not run_role(ansible_default, "macvlan_topology", **second).changed
