"""The confirm scenario: a rollout over SSH that kept one change and lost one host, which reverted by itself.

Runs twice: after the converge (the marker /run/hmv-before-reboot from prepare.yml is there) and after
`podman restart` (side_effect.yml; the marker is gone with /run). The oracle is iproute2 and the file system
in the containers, never the collection's code: the reverted host is back at the kernel state prepare.yml
saved, the kept change is there, and after the reboot only what was persisted came back.
"""

from __future__ import annotations

import json

import pytest
from conftest import wait_for

KEEP = "hmv-confirm-keep"
CUT = "hmv-confirm-cut"
TIMEOUT = 60


@pytest.fixture(scope="module")
def k(kernel):
    return {name: kernel(name) for name in (KEEP, CUT)}


@pytest.fixture(scope="module")
def rebooted(k):
    """True after side_effect.yml restarted the containers (each must agree)."""
    marks = {name: k[name].run("test", "-e", "/run/hmv-before-reboot").rc != 0 for name in k}
    assert len(set(marks.values())) == 1, "only some containers were restarted: %s" % marks
    return marks[KEEP]


@pytest.fixture
def before_reboot(rebooted):
    if rebooted:
        pytest.skip("checked after the converge, before the reboot")


@pytest.fixture
def after_reboot(rebooted):
    if not rebooted:
        pytest.skip("checked after the reboot")


def state(links, addrs):
    """Links and their global addresses, without what moves on its own (counters, operstate, ifindex)."""
    addresses = {
        entry["ifname"]: sorted(
            "%s/%d" % (a["local"], a["prefixlen"]) for a in entry.get("addr_info", []) if a.get("scope") != "link"
        )
        for entry in addrs
    }
    return {
        link["ifname"]: {
            "kind": link.get("linkinfo", {}).get("info_kind"),
            "mac": link.get("address"),
            "mtu": link.get("mtu"),
            "up": "UP" in link.get("flags", []),
            "promisc": "PROMISC" in link.get("flags", []),
            "promiscuity": link.get("promiscuity"),
            "addresses": addresses.get(link["ifname"], []),
        }
        for link in links
    }


# -- after the converge ----------------------------------------------------------------------------------


def test_cut_off_host_is_back_where_it_was(k, before_reboot):
    cut = k[CUT]
    seed = state(
        json.loads(cut.check("cat", "/run/hmv-seed-links.json")),
        json.loads(cut.check("cat", "/run/hmv-seed-addrs.json")),
    )
    assert state(cut.links(), cut.ip_json("addr", "show")) == seed
    assert cut.macvlans() == {}


def test_cut_off_host_reverted_by_its_systemd_timer(k, before_reboot):
    record = json.loads(k[CUT].check("cat", "/run/hostnet-macvlan/last_revert.json"))
    assert record["reason"] == "confirm_timeout of 20 s expired", record
    assert any("mv-cut" in line for line in record["restored"]), record
    assert record["not_restored"] == [], record
    log = k[CUT].check("journalctl", "--no-pager", "-q", "-o", "cat", "-u", "hostnet-macvlan-revert-*")
    assert "mv-cut" in log, log


@pytest.mark.parametrize("name", [KEEP, CUT])
def test_nothing_is_pending_and_the_journals_are_root_only(k, before_reboot, name):
    assert k[name].check("find", "/run/hostnet-macvlan/pending", "-type", "f").strip() == ""
    for path in ("/run/hostnet-macvlan", "/run/hostnet-macvlan/pending"):
        assert k[name].check("stat", "-c", "%a %U", path).split() == ["700", "root"], path


def test_kept_change_is_there(k, before_reboot):
    keep = k[KEEP]
    link = keep.link("mv-keep")
    assert link is not None
    assert link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == "bridge"
    assert (link["link"], link["address"], link["mtu"]) == ("eth0", "02:00:00:00:c1:01", 1400)
    assert "UP" in link["flags"]
    assert keep.promisc("eth0")


def test_confirmed_but_unpersisted_change_is_there(k, before_reboot):
    link = k[KEEP].link("mv-temp")
    assert link is not None and link["address"] == "02:00:00:00:c1:02"


def test_only_the_rollout_change_was_persisted(k, before_reboot):
    files = k[KEEP].check("grep", "-rl", "mv-", "/etc/systemd/network").split()
    assert any("mv-keep" in k[KEEP].check("cat", path) for path in files), files
    assert not any("mv-temp" in k[KEEP].check("cat", path) for path in files), files
    assert k[CUT].run("sh", "-c", "ls /etc/systemd/network/60-hostnet-macvlan-*").rc != 0, "the cut-off host has files"


# -- after the reboot ------------------------------------------------------------------------------------


def test_persisted_change_came_back(k, after_reboot):
    keep = k[KEEP]
    link = wait_for(lambda: keep.link("mv-keep"), TIMEOUT)
    assert link is not None, "mv-keep did not come back"
    assert link["linkinfo"]["info_data"]["mode"] == "bridge"
    assert (link["link"], link["address"], link["mtu"]) == ("eth0", "02:00:00:00:c1:01", 1400)
    assert wait_for(lambda: keep.promisc("eth0"), TIMEOUT), "eth0 is not promiscuous"


def test_unpersisted_change_did_not_come_back(k, after_reboot):
    wait_for(lambda: k[KEEP].link("mv-keep"), TIMEOUT)
    assert "mv-temp" not in k[KEEP].macvlans()


def test_reverted_host_boots_without_the_change(k, after_reboot):
    assert k[CUT].macvlans() == {}
