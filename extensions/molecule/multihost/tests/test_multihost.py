"""The multihost scenario: macvlan children on three hosts of one internal network.

Runs twice: before the side effect (hosts a and b have the macvlan_host_access shim, c has not) and after it
(every host has one); /run/hmv-phase, written by side_effect.yml, says which.  The oracle is iproute2 in the
containers, ping between the hosts' "app" namespaces and the hosts themselves, and, for the network, podman
and iproute2 on the machine running the containers.
"""

from __future__ import annotations

import itertools
import json

import pytest
import testinfra

HOSTS = ("hmv-multi-a", "hmv-multi-b", "hmv-multi-c")
NETWORK = "hmv-multihost"
CHILD = {"hmv-multi-a": "198.51.100.131", "hmv-multi-b": "198.51.100.132", "hmv-multi-c": "198.51.100.133"}
SHIM = {"hmv-multi-a": "198.51.100.201", "hmv-multi-b": "198.51.100.202", "hmv-multi-c": "198.51.100.203"}
SHIMMED_BEFORE = {"hmv-multi-a", "hmv-multi-b"}


@pytest.fixture(scope="module")
def k(kernel):
    return {name: kernel(name) for name in HOSTS}


@pytest.fixture(scope="module")
def phase(k):
    result = k["hmv-multi-c"].run("cat", "/run/hmv-phase")
    return result.stdout.strip() if result.rc == 0 else "before"


def shimmed(name, phase):
    return phase == "after" or name in SHIMMED_BEFORE


def eth0_address(k, name):
    (address,) = [a.split("/")[0] for a in k[name].addresses("eth0") if ":" not in a]
    return address


def test_network_is_internal_and_reflects_nothing():
    local = testinfra.get_host("local://")
    network = json.loads(local.check_output("podman network inspect %s", NETWORK))[0]
    assert network["internal"] is True
    bridge = network["network_interface"]
    ports = [p for p in json.loads(local.check_output("bridge -j -d link show")) if p.get("master") == bridge]
    assert len(ports) == len(HOSTS), ports
    assert all(port["hairpin"] is False for port in ports), "a hairpin port would reflect frames like a VEPA switch"


@pytest.mark.parametrize("name", HOSTS)
def test_hosts_have_no_route_out(k, name):
    for family in ("-4", "-6"):
        assert k[name].check("ip", family, "route", "show", "default").strip() == "", name


@pytest.mark.parametrize("name", HOSTS)
def test_child_lives_in_app_on_a_promiscuous_eth0(k, name):
    link = k[name].link("mv-app", ns="app")
    assert link is not None and link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == "bridge"
    assert link["link_index"] == k[name].link("eth0")["ifindex"]
    assert k[name].addresses("mv-app", ns="app") == ["%s/24" % CHILD[name]]
    assert k[name].promisc("eth0")


@pytest.mark.parametrize("source,target", list(itertools.permutations(HOSTS, 2)))
def test_children_reach_each_other_across_hosts(k, source, target):
    assert k[source].reachable(CHILD[target], ns="app"), "%s's child -> %s's child" % (source, target)


@pytest.mark.parametrize("source,target", list(itertools.permutations(HOSTS, 2)))
def test_hosts_reach_the_children_of_other_hosts(k, source, target):
    assert k[source].reachable(CHILD[target]), "%s -> %s's child (frames cross the wire)" % (source, target)


@pytest.mark.parametrize("name", HOSTS)
def test_shim_exists_exactly_when_applied(k, name, phase):
    shim = k[name].link("mv-host")
    if not shimmed(name, phase):
        assert shim is None
        return
    assert shim is not None and shim["linkinfo"]["info_data"]["mode"] == "bridge"
    assert shim["link"] == "eth0"
    assert k[name].addresses("mv-host") == ["%s/32" % SHIM[name]]
    assert k[name].routes("mv-host") == [("%s" % CHILD[name], None, 0)]


@pytest.mark.parametrize("name", HOSTS)
def test_host_and_its_own_child(k, name, phase):
    host = k[name]
    if shimmed(name, phase):
        route = json.loads(host.check("ip", "-j", "route", "get", CHILD[name]))[0]
        assert (route["dev"], route["prefsrc"]) == ("mv-host", SHIM[name]), route
        assert host.reachable(CHILD[name]), "%s must reach its own child through the shim" % name
        assert host.reachable(SHIM[name], ns="app"), "%s's child must reach the shim address" % name
    else:
        assert host.unreachable(CHILD[name]), "%s reached its own child without a shim" % name
        assert host.unreachable(eth0_address(k, name), ns="app"), "%s's child reached its parent's address" % name
