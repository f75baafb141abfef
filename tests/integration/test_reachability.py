"""The reachability module: ICMP echo from inside a namespace, cross-checked with iputils ping."""

from __future__ import annotations

import subprocess

import pytest


def ping(ns, dest):
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", dest], capture_output=True, check=False
    )
    return proc.returncode == 0


@pytest.fixture
def pair(lab):
    """Two namespaces joined by a veth pair: 192.0.2.1 / 2001:db8::1 in a, .2 / ::2 in b."""
    a, b = lab.netns("a"), lab.netns("b")
    lab.veth(a, "va", "vb", peer_ns=b)
    lab.ip(a, "addr", "add", "192.0.2.1/24", "dev", "va")
    lab.ip(b, "addr", "add", "192.0.2.2/24", "dev", "vb")
    lab.ip(a, "addr", "add", "2001:db8::1/64", "dev", "va", "nodad")
    lab.ip(b, "addr", "add", "2001:db8::2/64", "dev", "vb", "nodad")
    return a, b


@pytest.mark.parametrize(
    "dest, expected", [("192.0.2.2", True), ("2001:db8::2", True), ("192.0.2.3", False), ("2001:db8::3", False)]
)
def test_matches_ping(pair, ansible_default, dest, expected):
    a, dummy = pair
    result = ansible_default.run("reachability", netns=a, dest=dest, count=2, timeout=0.5)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert result["reachable"] is expected
    assert ping(a, dest) is expected
    assert result["sent"] == 2 and result["received"] == (2 if expected else 0)


def test_the_namespace_view_not_the_hosts(pair, ansible_default, lab):
    """From b, 198.51.100.1 has no route; the host namespace's routes play no part."""
    dummy, b = pair
    result = ansible_default.run("reachability", netns=b, dest="198.51.100.1", count=1, timeout=0.3)
    assert result["reachable"] is False and not ping(b, "198.51.100.1")


def test_expect(pair, ansible_default):
    a, dummy = pair
    ok = ansible_default.run("reachability", netns=a, dest="192.0.2.2", expect="reachable", count=1)
    assert not ok.get("failed")
    bad = ansible_default.run("reachability", netns=a, dest="192.0.2.3", expect="reachable", count=1, timeout=0.3)
    assert bad["failed"] is True
    assert bad["msg"] == "192.0.2.3 is unreachable from %s, expected reachable (0 of 1 echo requests answered)" % a
    inverse = ansible_default.run("reachability", netns=a, dest="192.0.2.2", expect="unreachable", count=1)
    assert inverse["failed"] is True and "is reachable" in inverse["msg"]


def test_check_mode_probes_too(pair, ansible_default):
    a, dummy = pair
    result = ansible_default.run("reachability", check=True, netns=a, dest="192.0.2.2", count=1)
    assert result["reachable"] is True and result["changed"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        ({"dest": "not-an-ip"}, "dest: 'not-an-ip' is not an IP address"),
        ({"dest": "192.0.2.2", "netns": "hmv-missing"}, "netns: network namespace 'hmv-missing' does not exist"),
        ({"dest": "192.0.2.2", "count": 0}, "count: 0 is out of range 1..100"),
        ({"dest": "192.0.2.2", "source": "2001:db8::1"}, "source: '2001:db8::1' is not of the same address family"),
    ],
)
def test_bad_input(pair, ansible_default, args, message):
    args.setdefault("netns", pair[0])
    result = ansible_default.run("reachability", **args)
    assert result["failed"] is True and message in result["msg"]
