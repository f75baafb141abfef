"""hostnet.macvlan.macvlan_persist through Ansible, with each backend writing into temporary directories.

Oracles, never the module's own code: the files on disk (names, modes, contents parsed strictly), ifupdown's
own parser (``ifquery -i FILE``, ``ifup --no-act -i FILE``) and the commands ``ifup`` would run, executed in a
throwaway network namespace with veth parents and read back with ``ip -j``; NetworkManager's parser
(``nmcli --offline``). Every run is followed by a rerun that must change nothing and a check-mode run that
must report no drift.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import faults_helpers
import pytest
from faults_helpers import barrier
from role_helpers import parse_ini, section, sections

from ansible_collections.hostnet.macvlan.plugins.module_utils import _lock
from ansible_collections.hostnet.macvlan.plugins.module_utils._lock import LockError, NamespaceLocks

faults = faults_helpers.faults  # the fixture: fault injection into the module process

PREFIX = "60-hostnet-macvlan-"
OTHER = "60-hostnet-macvlan-host-access-"
INJECTION = "fe80::5%x\n[Network]\nDNS=203.0.113.53\n#/64"

LINKS = [
    {
        "name": "mv-web",
        "parent": "p0",
        "mode": "bridge",
        "mac_address": "02-42-AC-11-00-10",
        "mtu": 1400,
        "addresses": ["2001:db8:0:0::10/64", "192.0.2.10/24"],
        "routes": [
            {"dest": "198.51.100.0/24", "gateway": "192.0.2.1"},
            {"dest": "203.0.113.0/24", "metric": 7},
            {"dest": "2001:db8:1::/64", "gateway": "2001:db8::1"},
        ],
        "bcqueuelen": 300,
    },
    {"name": "mv-priv", "parent": "p0", "mode": "private", "mac_address": "02:42:ac:11:00:11"},
    {"name": "mv-vepa", "parent": "p0", "mode": "vepa", "link_state": "down", "addresses": ["192.0.2.30/24"]},
    {
        "name": "mv-src",
        "parent": "p1",
        "mode": "source",
        "source_macs": ["02:00:00:00:00:02", "02:00:00:00:00:01"],
        "nodst": True,
    },
    {"name": "mvtap0", "parent": "p2", "mode": "passthru", "type": "macvtap", "nopromisc": True},
]
PARENTS = [{"name": "p0", "promisc": True}]


def dirs(tmp_path):
    return {
        "networkd_dir": str(tmp_path / "networkd"),
        "networkmanager_dir": str(tmp_path / "nm"),
        "systemd_dir": str(tmp_path / "systemd"),
        "ifupdown_dir": str(tmp_path / "ifupdown"),
        "interfaces_file": str(tmp_path / "interfaces"),
    }


def args(tmp_path, backend, links=None, parents=None, **extra):
    out = dict(dirs(tmp_path), backend=backend, reload=False)
    out["links"] = LINKS if links is None else links
    out["parents"] = PARENTS if parents is None else parents
    out.update(extra)
    return out


def tree(root):
    """{relative path: (kind, mode, content or target)} of everything under root."""
    root = Path(root)
    out = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            out[rel] = ("link", None, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            out[rel] = ("dir", oct(stat.S_IMODE(info.st_mode)), None)
        else:
            out[rel] = ("file", oct(stat.S_IMODE(info.st_mode)), path.read_text())
    return out


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def converge(ansible, **module_args):
    """Apply; the rerun must change nothing, and a check-mode run must report no drift and change nothing."""
    first = ok(ansible.run("macvlan_persist", diff=True, **module_args))
    before = {d: tree(module_args[d]) for d in dirs(Path("/")) if d != "interfaces_file"}
    again = ok(ansible.run("macvlan_persist", **module_args))
    assert again["changed"] is False and again["files"] == [], again["files"]
    checked = ok(ansible.run("macvlan_persist", check=True, **module_args))
    assert checked["changed"] is False and checked["files"] == [], checked["files"]
    assert {d: tree(module_args[d]) for d in before} == before
    return first


# --- each backend ---------------------------------------------------------------------------------------


def test_networkd(ansible, tmp_path):
    first = converge(ansible, **args(tmp_path, "networkd"))
    assert first["backend"] == "networkd" and first["backend_reason"] == "asked for"
    nd = tmp_path / "networkd"
    written = sorted(f["path"][len(str(nd)) + 1 :] for f in first["files"])
    assert all(f["state"] == "written" for f in first["files"])
    own = {p: "%sparent-%s.network" % (PREFIX, p) for p in ("p0", "p1", "p2")}
    expected = [own["p0"], own["p1"], own["p2"]]
    for link in LINKS:
        expected += [
            "%slink-%s.netdev" % (PREFIX, link["name"]),
            "%slink-%s.network" % (PREFIX, link["name"]),
            "%s.d/%slink-%s.conf" % (own[link["parent"]], PREFIX, link["name"]),
        ]
    expected += ["%s.d/%spromisc.conf" % (own["p0"], PREFIX), "%s.d/%spromisc.conf" % (own["p2"], PREFIX)]
    assert written == sorted(expected)
    for rel, (kind, mode, _content) in tree(nd).items():
        assert (kind, mode) == (("dir", "0o755") if kind == "dir" else ("file", "0o644")), rel
    web = parse_ini((nd / (PREFIX + "link-mv-web.netdev")).read_text())
    assert section(web, "NetDev") == [
        ("Name", "mv-web"),
        ("Kind", "macvlan"),
        ("MACAddress", "02:42:ac:11:00:10"),
        ("MTUBytes", "1400"),
    ]
    network = parse_ini((nd / (PREFIX + "link-mv-web.network")).read_text())
    assert [v for k, v in section(network, "Network") if k == "Address"] == ["192.0.2.10/24", "2001:db8::10/64"]
    assert sections(network, "Route")[2] == [
        ("Destination", "2001:db8:1::/64"),
        ("Gateway", "2001:db8::1"),
        ("Metric", "1024"),
    ]
    promisc = parse_ini((nd / (own["p2"] + ".d") / (PREFIX + "promisc.conf")).read_text())
    assert section(promisc, "Link") == [("Promiscuous", "no")]
    assert any("mv-src" in w and "nodst" in w for w in first.get("warnings", []))
    # diff mode: every file's content after, nothing before
    diffs = {d["after_header"]: d for d in first["diff"]}
    assert diffs[str(nd / (PREFIX + "link-mv-web.netdev"))]["before"] == ""
    assert "Name=mv-web" in diffs[str(nd / (PREFIX + "link-mv-web.netdev"))]["after"]


def test_networkmanager(ansible, tmp_path):
    first = converge(ansible, **args(tmp_path, "networkmanager"))
    nm = tmp_path / "nm"
    assert sorted(os.listdir(nm)) == sorted("%slink-%s.nmconnection" % (PREFIX, link["name"]) for link in LINKS)
    assert stat.S_IMODE(os.stat(nm).st_mode) == 0o755
    for name in os.listdir(nm):
        assert stat.S_IMODE(os.stat(nm / name).st_mode) == 0o600
    web = parse_ini((nm / (PREFIX + "link-mv-web.nmconnection")).read_text())
    assert dict(section(web, "ipv4")) == {
        "method": "manual",
        "address1": "192.0.2.10/24",
        "route1": "198.51.100.0/24,192.0.2.1,0",
        "route2": "203.0.113.0/24,0.0.0.0,7",
    }
    sd = tmp_path / "systemd"
    wants = sd / "multi-user.target.wants" / (PREFIX + "promisc@p0.service")
    assert os.readlink(wants) == str(sd / (PREFIX + "promisc@.service"))
    warnings = "\n".join(first.get("warnings", []))
    assert "source_macs" in warnings and "bcqueuelen" in warnings


@pytest.mark.skipif(shutil.which("nmcli") is None, reason="nmcli (network-manager) is not installed")
def test_networkmanager_reads_the_keyfiles(ansible_default, tmp_path):
    ok(ansible_default.run("macvlan_persist", **args(tmp_path, "networkmanager")))
    for path in sorted((tmp_path / "nm").iterdir()):
        text = path.read_text()
        ours = parse_ini(text)
        name = dict(section(ours, "connection"))["id"]
        proc = subprocess.run(
            ["nmcli", "--offline", "connection", "modify", "connection.id", name],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, "nmcli rejects %s: %s" % (path, proc.stderr)
        theirs = parse_ini(proc.stdout)
        for title, pairs in ours:
            normalised = dict(section(theirs, title))
            for key, value in pairs:
                assert normalised.get(key, "").lower() == value.lower(), (path.name, title, key, value)


def test_ifupdown(ansible, tmp_path):
    (tmp_path / "interfaces").write_text("source %s/*\n" % (tmp_path / "ifupdown"))
    first = converge(ansible, **args(tmp_path, "ifupdown"))
    assert "warnings" not in first or not any("does not source" in w for w in first["warnings"])
    folder = tmp_path / "ifupdown"
    names = sorted(os.listdir(folder))
    assert names == sorted(["%slink-%s" % (PREFIX, link["name"]) for link in LINKS] + [PREFIX + "parent-p0"])
    for name in names:
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o644


# --- ifupdown reads the files, and its commands make the links ----------------------------------------------


def ifquery(*argv):
    proc = subprocess.run(["ifquery", *argv], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_ifupdown_files_are_read_by_ifquery_and_ifup_no_act_and_create_the_links(ansible_default, lab, tmp_path):
    interfaces = tmp_path / "interfaces"
    # The administrator's own stanza for p0 stays in charge; ours adds its promiscuous flag.
    interfaces.write_text(
        "source %s/*\n\nauto lo\niface lo inet loopback\n\nauto p0\niface p0 inet static\n    address 10.9.0.1/24\n"
        % (tmp_path / "ifupdown")
    )
    ok(ansible_default.run("macvlan_persist", **args(tmp_path, "ifupdown")))
    listed = ifquery("-i", str(interfaces), "--list").split()
    assert sorted(listed) == sorted(["lo", "p0"] + [link["name"] for link in LINKS])
    web = ifquery("-i", str(interfaces), "mv-web")
    assert "hwaddress: 02:42:ac:11:00:10" in web and "mtu: 1400" in web
    p0 = ifquery("-i", str(interfaces), "p0")
    assert "up: test ! -e /sys/class/net/p0 || ip link set dev p0 promisc on" in p0 and "address: 10.9.0.1" in p0
    proc = subprocess.run(
        ["ifup", "--no-act", "-i", str(interfaces), "-a"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    # ifup --no-act prints the commands it would run on its standard error.
    commands = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("run-parts")]
    for link in LINKS:
        assert any("ip link add link %s name %s " % (link["parent"], link["name"]) in c for c in commands), commands

    # What ifup would run at boot, run in a namespace with the parents: the links come out as asked. Twice:
    # the second time finds them (an ifup after the links were created by macvlan_state) and changes nothing.
    ns = lab.netns("ifup")
    for index, parent in enumerate(("p0", "p1", "p2")):
        lab.veth(ns, parent, "q%d" % index)
    names = [link["name"] for link in LINKS]
    ours = [c for c in commands if "promisc" in c or any(n in c.split() or "/" + n in c for n in names)]
    for attempt, run_these in enumerate((commands, ours)):
        for command in run_these:
            run = subprocess.run(
                ["ip", "netns", "exec", ns, "sh", "-c", command], capture_output=True, text=True, check=False
            )
            assert run.returncode == 0, "attempt %d: %s: %s" % (attempt, command, run.stderr)
    links = {link["ifname"]: link for link in lab.links(ns)}
    for link in LINKS:
        got = links[link["name"]]
        assert got["link"] == link["parent"]
        assert got["linkinfo"]["info_kind"] == link.get("type", "macvlan")
        assert got["linkinfo"]["info_data"]["mode"] == link["mode"]
    web = links["mv-web"]
    assert (web["address"], web["mtu"]) == ("02:42:ac:11:00:10", 1400)
    assert web["linkinfo"]["info_data"]["bcqueuelen"] == 300
    assert links["mv-priv"]["address"] == "02:42:ac:11:00:11"
    assert "UP" in web["flags"] and "UP" not in links["mv-vepa"]["flags"]
    src = links["mv-src"]["linkinfo"]["info_data"]
    assert sorted(src["macaddr_data"]) == ["02:00:00:00:00:01", "02:00:00:00:00:02"] and src.get("nodst") is True
    assert links["mvtap0"]["linkinfo"]["info_data"].get("nopromisc") is True
    assert "PROMISC" in links["p0"]["flags"] and "PROMISC" not in links["p2"]["flags"]
    assert lab.addresses(ns, "mv-web") == ["192.0.2.10/24", "2001:db8::10/64"]
    assert lab.addresses(ns, "mv-vepa") == ["192.0.2.30/24"]
    routes = sorted(
        (r["dst"], r.get("gateway"), r.get("metric", 0))
        for family in ("-4", "-6")
        for r in lab.routes(ns, "mv-web", family)
        if r.get("protocol") != "kernel" and not r["dst"].startswith(("fe80", "ff00", "multicast"))
    )
    assert routes == [
        ("198.51.100.0/24", "192.0.2.1", 0),
        ("2001:db8:1::/64", "2001:db8::1", 1024),
        ("203.0.113.0/24", None, 7),
    ]


@pytest.mark.parametrize(
    "interfaces, warned",
    [
        (None, True),
        ("auto lo\niface lo inet loopback\n", True),
        ("source {dir}/*.cfg\n", True),
        ("source-directory {dir}\n", False),
        ("source {dir}/*\n", False),
    ],
)
def test_ifupdown_warns_when_the_interfaces_file_does_not_source_the_directory(
    ansible_default, tmp_path, interfaces, warned
):
    if interfaces is not None:
        (tmp_path / "interfaces").write_text(interfaces.format(dir=tmp_path / "ifupdown"))
    result = ok(ansible_default.run("macvlan_persist", **args(tmp_path, "ifupdown", links=LINKS[:1], parents=[])))
    assert result["files"], "the files are written either way"
    found = [w for w in result.get("warnings", []) if "does not source ifupdown_dir" in w]
    assert bool(found) is warned, result.get("warnings")


# --- the drift report, purge, ownership -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["networkd", "networkmanager", "ifupdown"])
def test_check_mode_is_the_drift_report(ansible_default, tmp_path, backend):
    links = [dict(link) for link in LINKS[:4]]
    ok(ansible_default.run("macvlan_persist", **args(tmp_path, backend, links=links)))
    root = tmp_path / {"networkd": "networkd", "networkmanager": "nm", "ifupdown": "ifupdown"}[backend]
    suffix = {"networkd": ".netdev", "networkmanager": ".nmconnection", "ifupdown": ""}[backend]
    edited = root / ("%slink-mv-priv%s" % (PREFIX, suffix))
    edited.write_text(edited.read_text().replace("private", "vepa").replace("mode=3", "mode=1"))
    deleted = root / ("%slink-mv-web%s" % (PREFIX, suffix))
    deleted.unlink()
    # mv-src is asked absent now: its files are extra.
    asked = links[:3] + [{"name": "mv-src", "state": "absent"}]
    stale = sorted(str(p) for p in root.rglob("*mv-src*") if p.is_file())
    before = tree(root)

    checked = ok(ansible_default.run("macvlan_persist", check=True, diff=True, **args(tmp_path, backend, links=asked)))
    assert checked["changed"] is True and checked.get("_status") != "skipped"
    report = {f["path"]: f["state"] for f in checked["files"]}
    assert report[str(edited)] == "differs"
    assert report[str(deleted)] == "missing"
    for path in stale:
        assert report[path] == "extra"
    assert len(report) == 2 + len(stale) + (1 if backend == "networkd" else 0), report  # + p1's own .network
    assert tree(root) == before, "check mode changed the files"
    diffs = {d["before_header"]: d for d in checked["diff"]}
    assert "vepa" in diffs[str(edited)]["before"] or "mode=1" in diffs[str(edited)]["before"]

    fixed = ok(ansible_default.run("macvlan_persist", **args(tmp_path, backend, links=asked)))
    assert {f["path"]: f["state"] for f in fixed["files"]} == {
        path: "removed" if state == "extra" else "written" for path, state in report.items()
    }
    again = ok(ansible_default.run("macvlan_persist", check=True, **args(tmp_path, backend, links=asked)))
    assert again["files"] == [] and again["changed"] is False


@pytest.mark.parametrize("backend", ["networkd", "networkmanager", "ifupdown"])
def test_purge_removes_only_unlisted_links_on_managed_parents(ansible_default, tmp_path, backend):
    ok(ansible_default.run("macvlan_persist", **args(tmp_path, backend)))
    # Another prefix's files (the host-access role's), and files that are not the collection's.
    ok(
        ansible_default.run(
            "macvlan_persist",
            **args(tmp_path, backend, links=[dict(LINKS[1], name="mv-host")], parents=[], prefix=OTHER),
        )
    )
    root = tmp_path / {"networkd": "networkd", "networkmanager": "nm", "ifupdown": "ifupdown"}[backend]
    foreign = root / "50-admin-file"
    foreign.write_text("not ours\n")
    before = tree(root)
    kept_links = [LINKS[0], LINKS[3]]  # p0 and p1 managed; mv-priv, mv-vepa (p0) unlisted; mvtap0 on p2 unmanaged
    variables = args(tmp_path, backend, links=kept_links, parents=[], purge=True, purge_exclude=["mv-vepa"])
    result = ok(ansible_default.run("macvlan_persist", **variables))
    removed = sorted(f["path"] for f in result["files"] if f["state"] == "removed")
    assert removed and all("mv-priv" in p for p in removed), removed
    after = tree(root)
    for rel in before:
        if "mv-priv" not in rel:
            assert rel in after, rel
    assert after[str(foreign.relative_to(root))] == before[str(foreign.relative_to(root))]
    assert not ok(ansible_default.run("macvlan_persist", **variables))["changed"]


def test_links_in_other_namespaces_are_not_persisted_and_two_eth0_are_accepted(ansible_default, tmp_path):
    links = [
        {"name": "eth0", "parent": "p0", "link_netns": "hmv-ctr1"},
        {"name": "eth0", "parent": "p0", "link_netns": "hmv-ctr2"},
        {"name": "mv-a", "parent": "p0"},
    ]
    result = ok(ansible_default.run("macvlan_persist", **args(tmp_path, "ifupdown", links=links, parents=[])))
    assert sorted(os.listdir(tmp_path / "ifupdown")) == [PREFIX + "link-mv-a"]
    assert result["changed"] is True
    # The same name twice in the host namespace is refused.
    twice = [{"name": "mv-a", "parent": "p0"}, {"name": "mv-a", "parent": "p1"}]
    failed = ansible_default.run("macvlan_persist", **args(tmp_path, "ifupdown", links=twice, parents=[]))
    assert failed.get("failed") and "links[1].name: 'mv-a' is listed twice" in failed["msg"]


# --- refused input changes nothing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend, change, option",
    [
        ("networkd", {"links": [dict(LINKS[1], addresses=[INJECTION])]}, "links[0].addresses: %r" % INJECTION),
        ("networkmanager", {"links": [dict(LINKS[1], parent="p0\n[Network]")]}, "links[0].parent: 'p0\\n[Network]'"),
        ("ifupdown", {"links": [dict(LINKS[1], mac_address="02:42:ac:11:00:11\nDNS=1.1.1.1")]}, "links[0].mac_address"),
        ("networkd", {"links": [dict(LINKS[1], name="../../../escaped")]}, "links[0].name: '../../../escaped'"),
        ("networkmanager", {"links": [dict(LINKS[1], name="mv[0]")]}, "links[0].name: 'mv[0]'"),
        ("ifupdown", {"links": [dict(LINKS[1], name="a=b")]}, "links[0].name: 'a=b'"),
        # The links' options are checked by the collection alone (no suboptions in the argument spec).
        ("networkd", {"links": [dict(LINKS[1], mdoe="vepa")]}, "links[0]: unknown option 'mdoe'"),
        ("ifupdown", {"links": [dict(LINKS[1], mtu="big")]}, "links[0].mtu: 'big' is not an integer"),
        ("networkmanager", {"links": [dict(LINKS[1], multicast="sometimes")]}, "links[0].multicast: 'sometimes'"),
        ("networkd", {"prefix": "60-x\n[Network]"}, "prefix: '60-x\\n[Network]'"),
        ("networkmanager", {"prefix": "../60-x-"}, "prefix: '../60-x-'"),
        ("ifupdown", {"prefix": ".hidden-"}, "prefix: '.hidden-'"),
        ("networkd", {"networkd_dir": "relative/dir"}, "networkd_dir: 'relative/dir'"),
        ("networkmanager", {"ifupdown_dir": "/"}, "ifupdown_dir: '/'"),
        (
            "ifupdown",
            {"netns": "hmv-somewhere"},
            "netns: 'hmv-somewhere' persistence applies to the host namespace only",
        ),
    ],
)
def test_refused_input_names_option_and_value_and_writes_nothing(ansible_default, tmp_path, backend, change, option):
    variables = args(tmp_path, backend, links=[LINKS[1]])
    variables.update(change)
    result = ansible_default.run("macvlan_persist", **variables)
    assert result.get("failed"), result
    assert option in result["msg"], result["msg"]
    for folder in ("networkd", "nm", "systemd", "ifupdown"):
        assert not (tmp_path / folder).exists(), folder
    assert not list(Path("/").glob("escaped*")) and not (tmp_path.parent / "escaped").exists()


def test_a_netns_with_auto_persists_nothing(ansible_default, tmp_path):
    result = ok(ansible_default.run("macvlan_persist", **args(tmp_path, "auto", netns="hmv-somewhere")))
    assert result["backend"] == "none" and result["changed"] is False
    assert "Nothing is persisted" in result["msg"]


def test_a_directory_symlinked_outside_is_refused(ansible_default, tmp_path):
    """A drop-in directory that is a symbolic link to another place: the module does not write through it."""
    nd = tmp_path / "networkd"
    nd.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (nd / (PREFIX + "parent-p0.network.d")).symlink_to(outside)
    result = ansible_default.run("macvlan_persist", **args(tmp_path, "networkd", links=[LINKS[1]], parents=[]))
    assert result.get("failed") and "outside" in result["msg"], result
    assert list(outside.iterdir()) == []


# --- auto -----------------------------------------------------------------------------------------------


def systemd_running():
    return os.path.isdir("/run/systemd/system")


def test_auto_detects_the_stack(ansible_default, tmp_path):
    variables = args(tmp_path, "auto", links=[LINKS[1]], parents=[])
    if systemd_running():
        # The oracle is systemctl itself.
        active = [
            unit
            for unit in ("NetworkManager.service", "systemd-networkd.service", "networking.service")
            if subprocess.run(["systemctl", "is-active", "--quiet", unit], check=False).returncode == 0
        ]
        result = ok(ansible_default.run("macvlan_persist", check=True, **variables))
        if active:
            assert result["backend_reason"] == "%s is active" % active[0]
        return
    # systemd is not running here: the enabled units in systemd_dir decide, then the interfaces file.
    result = ok(ansible_default.run("macvlan_persist", **variables))
    assert result["backend"] == "none" and result["files"] == []
    assert any("Nothing is persisted" in w for w in result["warnings"])
    assert not [d for d in ("networkd", "nm", "ifupdown") if (tmp_path / d).exists()]

    (tmp_path / "interfaces").write_text("auto lo\niface lo inet loopback\nallow-hotplug eth0\niface eth0 inet dhcp\n")
    result = ok(ansible_default.run("macvlan_persist", **variables))
    assert result["backend"] == "ifupdown" and "eth0" in result["backend_reason"]
    assert (tmp_path / "ifupdown" / (PREFIX + "link-mv-priv")).exists()

    wants = tmp_path / "systemd" / "multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "systemd-networkd.service").symlink_to("/lib/systemd/system/systemd-networkd.service")
    result = ok(ansible_default.run("macvlan_persist", **variables))
    assert result["backend"] == "networkd" and "systemd-networkd.service is enabled" in result["backend_reason"]
    (wants / "NetworkManager.service").symlink_to("/lib/systemd/system/NetworkManager.service")
    result = ok(ansible_default.run("macvlan_persist", check=True, **variables))
    assert result["backend"] == "networkmanager"


# --- the lock -------------------------------------------------------------------------------------------


def test_a_run_waits_for_the_host_lock_and_check_mode_takes_none(ansible_default, tmp_path):
    variables = args(tmp_path, "ifupdown", links=[LINKS[1]], parents=[], lock_timeout=1)
    with NamespaceLocks([None], timeout=5):
        checked = ok(ansible_default.run("macvlan_persist", check=True, **variables))
        assert checked["changed"] is True
        started = time.monotonic()
        result = ansible_default.run("macvlan_persist", **variables)
        assert time.monotonic() - started >= 1
    assert result.get("failed") and "lock_timeout" in result["msg"] and "still holds its lock" in result["msg"]
    assert not (tmp_path / "ifupdown").exists()
    ok(ansible_default.run("macvlan_persist", **variables))
    assert (tmp_path / "ifupdown" / (PREFIX + "link-mv-priv")).exists()


def playbook_process(runner, tmp_path, name, module_args):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"hostnet.macvlan.macvlan_persist": module_args}]}]
    path = tmp_path / ("%s.yml" % name)
    path.write_text(json.dumps(play))
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(path)]
    env = dict(runner.env, RECORD_RESULTS_FILE=str(path) + ".results")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_concurrent_runs_keep_each_others_files(ansible_default, tmp_path):
    """One run writes 200 links on p0 (a few seconds of files, each fsynced); while it writes, a second run removes
    mv-b, so far the only link on p0, and with it p0's own .network once nothing else is attached to it. Under the
    host lock the second run waits and then finds the first run's links attached: p0's .network stays. Without
    the lock it would remove the .network that the first run had found in place (and so did not rewrite), and
    the 200 links would not come back at boot."""
    nd = tmp_path / "networkd"
    own = PREFIX + "parent-p0.network"
    ok(
        ansible_default.run(
            "macvlan_persist", **args(tmp_path, "networkd", links=[{"name": "mv-b", "parent": "p0"}], parents=[])
        )
    )
    assert (nd / own).exists()
    many = [{"name": "mva%d" % i, "parent": "p0"} for i in range(200)]
    writer = args(tmp_path, "networkd", links=many, parents=[])
    remover = args(tmp_path, "networkd", links=[{"name": "mv-b", "state": "absent"}], parents=[])
    first = playbook_process(ansible_default, tmp_path, "writer", writer)
    deadline = time.monotonic() + 120
    while not (nd / (PREFIX + "link-mva0.netdev")).exists():
        assert first.poll() is None and time.monotonic() < deadline, "the writer did not start writing"
        time.sleep(0.02)
    second = playbook_process(ansible_default, tmp_path, "remover", remover)
    for proc in (first, second):
        out = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, out[-3000:]
    assert (nd / own).exists(), "p0's .network was removed under the links being attached to it"
    attached = sorted(p.name for p in (nd / (own + ".d")).iterdir())
    assert attached == sorted("%slink-mva%d.conf" % (PREFIX, i) for i in range(200))
    assert not list(nd.glob("*mv-b*"))
    assert not ok(ansible_default.run("macvlan_persist", check=True, **writer))["changed"]


def test_concurrent_runs_take_turns_on_the_host_lock(ansible_default, faults, tmp_path):
    """Run A holds the host lock while it waits: the fault hook holds its first file write at a barrier, after A
    has scanned and planned. Run B, started meanwhile, writes nothing until A is done."""
    go = tmp_path / "go"
    first_args = args(tmp_path, "ifupdown", links=[{"name": "mv-a", "parent": "p0"}], parents=[])
    second_args = args(tmp_path, "networkd", links=[{"name": "mv-b", "parent": "p0"}], parents=[], lock_timeout=120)
    fault = {"method": "write", "at": 1, "before_cmd": barrier(go)}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(faults.run, ansible_default, "macvlan_persist", fault, **first_args)
        second = None
        try:
            # Run A's module holds the lock (not a run of another test in a parallel worker: its command line
            # names this test's Ansible temporary directory).
            deadline = time.monotonic() + 120
            while not _host_lock_held_by(str(tmp_path)):
                assert not first.done() and time.monotonic() < deadline, "run A did not take the lock"
                time.sleep(0.05)
            second = playbook_process(ansible_default, tmp_path, "second", second_args)
            time.sleep(8)
            assert _host_lock_held_by(str(tmp_path)), "run A let the lock go before it wrote"
            assert second.poll() is None, "run B finished while run A held the lock"
            assert not (tmp_path / "networkd").exists(), "run B wrote while run A held the lock"
        finally:
            go.touch()
        run_a = first.result(timeout=300)
    run_a.assert_fired()
    ok(run_a.result)
    out = second.communicate(timeout=300)[0]
    assert second.returncode == 0, out[-3000:]
    assert (tmp_path / "ifupdown" / (PREFIX + "link-mv-a")).exists()
    b_file = tmp_path / "networkd" / (PREFIX + "link-mv-b.netdev")
    assert b_file.exists()
    assert os.stat(b_file).st_mtime >= os.stat(tmp_path / "ifupdown" / (PREFIX + "link-mv-a")).st_mtime


# --- a failure part-way rolls the files back ------------------------------------------------------------


def whole_tree(tmp_path):
    """Everything under the module's directories and the interfaces file, bytes and modes (hidden files too)."""
    return {option: tree(path) for option, path in dirs(tmp_path).items() if option != "interfaces_file"}


def own_files(tmp_path, backend):
    folder = {"networkd": "networkd", "networkmanager": "nm", "ifupdown": "ifupdown"}[backend]
    return sorted(p for p in (tmp_path / folder).rglob("*") if p.is_file() and p.name.startswith(PREFIX))


def renumbered(links, host):
    """The same links with other addresses: every link's file changes."""
    out = []
    for index, link in enumerate(links):
        link = dict(link)
        link["addresses"] = ["192.0.2.%d/24" % (host + index)]
        out.append(link)
    return out


TWO = [{"name": "mv0", "parent": "p0"}, {"name": "mv1", "parent": "p0"}]


@pytest.mark.parametrize("backend", ["networkd", "networkmanager", "ifupdown"])
def test_a_file_that_cannot_be_written_rolls_back_the_files_already_written(ansible_default, tmp_path, backend):
    """mv1's file has become a directory: the run, which had already rewritten mv0's file, fails naming mv1's
    path, and every file is as it was, byte for byte (no kept copy or temporary file left)."""
    ok(ansible_default.run("macvlan_persist", **args(tmp_path, backend, links=renumbered(TWO, 10), parents=[])))
    victim = next(p for p in own_files(tmp_path, backend) if "mv1" in p.name)
    victim.unlink()
    (victim / "x").mkdir(parents=True)
    before = whole_tree(tmp_path)
    result = ansible_default.run("macvlan_persist", **args(tmp_path, backend, links=renumbered(TWO, 20), parents=[]))
    assert result.get("failed") and "refusing to write %s: it is a directory" % victim in result["msg"], result
    assert "Rolled back: " in result["msg"] and "mv0" in result["msg"], result["msg"]
    assert [f["state"] for f in result["files"]] == ["written"] and "mv0" in result["files"][0]["path"]
    assert result["rolled_back"] and result["not_restored"] == []
    assert whole_tree(tmp_path) == before


@pytest.mark.parametrize("backend", ["networkd", "networkmanager", "ifupdown"])
def test_a_write_error_part_way_rolls_back_new_replaced_and_removed_files(ansible_default, faults, tmp_path, backend):
    """A run that replaces two files, creates new ones and removes one (purge) fails with ENOSPC at its last
    write: the replaced files come back with their content and mode, the new ones are gone, the removed one is
    back, and directories the run made are removed again."""
    first = renumbered(TWO + [{"name": "mv2", "parent": "p0"}], 10)
    ok(ansible_default.run("macvlan_persist", **args(tmp_path, backend, links=first, parents=[])))
    for path in own_files(tmp_path, backend):
        path.chmod(0o640)  # a mode the module would not write: a restored file must keep it
    before = whole_tree(tmp_path)
    second = renumbered(TWO + [{"name": "mv3", "parent": "p0"}, {"name": "mv4", "parent": "p1"}], 30)
    module_args = args(tmp_path, backend, links=second, parents=[], purge=True)
    planned = ok(ansible_default.run("macvlan_persist", check=True, **module_args))
    writes = [f for f in planned["files"] if f["state"] != "extra"]
    assert any(f["state"] == "extra" for f in planned["files"]) and len(writes) >= 4, planned["files"]
    run = faults.run(
        ansible_default, "macvlan_persist", {"method": "write", "at": len(writes), "raise": "oserror:28"}, **module_args
    )
    run.assert_fired()
    result = run.result
    assert result.get("failed") and "No space left on device" in result["msg"], result
    assert "writing %s failed" % run.fired["path"] in result["msg"], result["msg"]
    assert "Rolled back: " in result["msg"] and result["not_restored"] == [], result["msg"]
    assert len(result["files"]) == len(writes) - 1
    assert whole_tree(tmp_path) == before
    # The same run without the fault succeeds, and its rerun changes nothing.
    converge(ansible_default, **module_args)


@pytest.mark.parametrize("after", [False, True], ids=["before-the-rename", "after-the-rename"])
def test_sigterm_part_way_rolls_back_the_files(ansible_default, faults, tmp_path, after):
    """SIGTERM while the module writes its fourth file (before it, and just after the file replaced the old one):
    the module reports the signal and that it rolled back, and every file is as before."""
    ok(ansible_default.run("macvlan_persist", **args(tmp_path, "networkd", links=renumbered(TWO, 10), parents=[])))
    before = whole_tree(tmp_path)
    many = renumbered([{"name": "mv%d" % i, "parent": "p0"} for i in range(6)], 40)
    fault = {"method": "write", "at": 4, "raise": "signal:TERM", "after": after}
    run = faults.run(ansible_default, "macvlan_persist", fault, **args(tmp_path, "networkd", links=many, parents=[]))
    run.assert_fired()
    result = run.result
    assert result.get("failed") and "interrupted by SIGTERM" in result["msg"], result
    assert "Rolled back: " in result["msg"] and result["not_restored"] == [], result["msg"]
    assert len(result["files"]) == (4 if after else 3)
    assert whole_tree(tmp_path) == before


@pytest.mark.parametrize("written", [3, 20, 90, 400])
def test_sigterm_from_outside_at_any_moment_leaves_the_files_as_they_were(ansible_default, tmp_path, written):
    """A real SIGTERM from outside, wherever it lands (here: once the directory holds ``written`` entries, so at
    four points of a 1500-link run, while a temporary file, a journal entry or a rename is under way): the files are
    as before, with no temporary or kept file left. The module process is started as Ansible's local connection
    starts it; the moment is not chosen by a hook, so each run hits another place of the code."""
    nd = tmp_path / "networkd"
    before = whole_tree(tmp_path)
    module_args = args(tmp_path, "networkd", links=[{"name": "mv%d" % i, "parent": "p0"} for i in range(1500)])
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
    module = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "macvlan_persist.py"
    proc = subprocess.Popen(
        [ansible_default.python, str(module), str(arguments)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(ansible_default.env, PYTHONPATH=os.environ.get("PYTHONPATH", "")),
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and not (nd.is_dir() and len(os.listdir(nd)) >= written):
        assert time.monotonic() < deadline, "the module wrote nothing"
        time.sleep(0.001)
    assert proc.poll() is None, "the module finished before the signal: %s" % proc.stdout.read()[-2000:]
    proc.terminate()
    out = proc.communicate(timeout=120)[0].decode()
    result = json.loads(out[out.index("{") :])
    assert result.get("failed") and "interrupted by SIGTERM" in result["msg"], result.get("msg")
    assert result["not_restored"] == [], result["not_restored"]
    assert whole_tree(tmp_path) == before


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_auto_skips_what_is_not_a_file_in_a_sourced_directory(ansible_default, tmp_path, kind):
    """``source .../*`` in the interfaces file matches a directory or a FIFO: ifupdown skips it (with a warning),
    and so does the backend detection: no error, no wait."""
    sourced = tmp_path / "ifupdown"
    sourced.mkdir()
    (sourced / "uplink").write_text("auto p9\niface p9 inet manual\n")
    if kind == "directory":
        (sourced / "old").mkdir()
    else:
        os.mkfifo(sourced / "old")
    module_args = args(tmp_path, "auto", links=[{"name": "mv-a", "parent": "p0"}], parents=[])
    Path(module_args["interfaces_file"]).write_text("source %s/*\n" % sourced)
    for check in (True, False):
        result = ok(ansible_default.run("macvlan_persist", check=check, **module_args))
        assert result["backend"] in ("ifupdown", "networkd", "networkmanager", "none"), result


def _host_lock_held_by(marker):
    """Whether the host namespace's lock is held by a process whose command line or environment holds ``marker``
    (the lock file names its holder's pid; the module inherits the playbook's environment)."""
    if not _host_lock_held():
        return False
    identity = _lock.namespace_identity(None)
    path = os.path.join(_lock.LOCK_DIR, "netns-%d-%d.lock" % identity)
    try:
        pid = int(Path(path).read_text().split()[0])
        text = b" ".join(Path("/proc/%d/%s" % (pid, name)).read_bytes() for name in ("cmdline", "environ"))
    except (OSError, ValueError, IndexError):
        return False
    return marker.encode() in text


def _host_lock_held():
    try:
        with NamespaceLocks([None], timeout=0):
            return False
    except LockError:
        return True
