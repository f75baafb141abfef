"""The rollout scenario: three containers, host b fails verification, the rollout stops after it.

The oracle is iproute2 in the containers: host a has the new topology, host b has exactly the links and
addresses it had before the rollout (saved by prepare.yml in /run/hmv-seed-*.json), host c was never touched.
"""

from __future__ import annotations

import json

import pytest

HOSTS = ("hmv-rollout-a", "hmv-rollout-b", "hmv-rollout-c")


@pytest.fixture(scope="module")
def k(kernel):
    return {name: kernel(name) for name in HOSTS}


def state(links, addrs):
    """Links and their global addresses, without what moves on its own (counters, operstate, ifindex)."""
    addresses = {
        entry["ifname"]: sorted(
            "%s/%d" % (a["local"], a["prefixlen"]) for a in entry.get("addr_info", []) if a.get("scope") != "link"
        )
        for entry in addrs
    }
    out = {}
    for link in links:
        info = link.get("linkinfo", {})
        out[link["ifname"]] = {
            "kind": info.get("info_kind"),
            "mode": info.get("info_data", {}).get("mode"),
            "parent": link.get("link"),
            "mac": link.get("address"),
            "mtu": link.get("mtu"),
            "up": "UP" in link.get("flags", []),
            "promisc": "PROMISC" in link.get("flags", []),
            "addresses": addresses.get(link["ifname"], []),
        }
    return out


def now(kernel):
    return state(kernel.links(), kernel.ip_json("addr", "show"))


def seed(kernel):
    links = json.loads(kernel.check("cat", "/run/hmv-seed-links.json"))
    addrs = json.loads(kernel.check("cat", "/run/hmv-seed-addrs.json"))
    return state(links, addrs)


def test_first_batch_host_is_converged(k):
    got = now(k["hmv-rollout-a"])
    assert "mv-gone" not in got
    assert got["mv0"]["kind"] == "macvlan" and got["mv0"]["mode"] == "bridge" and got["mv0"]["mtu"] == 1400
    assert got["mv0"]["addresses"] == ["192.0.2.101/24"]
    assert got["mv-old"]["mode"] == "bridge"
    assert got["p0"]["promisc"] is True
    assert k["hmv-rollout-a"].reachable("192.0.2.1")


@pytest.mark.parametrize("name", ["hmv-rollout-b", "hmv-rollout-c"])
def test_failed_host_is_restored_and_later_host_untouched(k, name):
    assert now(k[name]) == seed(k[name])
