"""Each macvlan mode proven with real frames between network namespaces.

The links are created only by the collection's ``macvlan`` module run through Ansible; the oracle is the
kernel as seen by iproute2 and iputils: ``ping`` between namespaces, ``ip -j -d link`` for attributes and
ifindexes, ``ip -s -j link`` packet counters for where frames went, ``ip -j neigh`` for what a peer heard.

The usual topology is a "host" namespace holding the parent ``p0`` (one end of a veth pair: the "cable").
The other end ``p1`` lives in a separate "switch" namespace: a plain veth end (a switch that reflects
nothing), or a port of a Linux bridge (with or without hairpin). Each macvlan child is created on ``p0`` in
the host namespace and moved into its own "VM" namespace (``netns`` + ``link_netns``).

Every namespace gets IPv6 disabled before any link exists in it, so the wire carries only the frames a test
sends (no DAD, MLD or router solicitations): the tests use IPv4 from TEST-NET-1 (192.0.2.0/24) only, and
send traffic only between their own namespaces. Frames do not depend on the pyroute2 version, so the
modules run with one interpreter (``ansible_default``).

Pings are ``ping -c 1 -W 1``. A positive check flushes the sender's neighbour table and tries up to three
times (ARP); a negative check flushes it and must fail its single attempt (a stale INCOMPLETE entry would
otherwise make a later positive check wait for ARP retransmission).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

MAC_A = "02:00:00:00:0a:01"
MAC_B = "02:00:00:00:0b:01"


# ---------------------------------------------------------------------------------------------------------
# Helpers: namespaces, the module, and the oracle (iproute2 / ping)
# ---------------------------------------------------------------------------------------------------------


def quiet_netns(lab, name):
    """A namespace of the lab with IPv6 disabled for every link that will appear in it."""
    ns = lab.netns(name)
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
        check=True,
        capture_output=True,
    )
    return ns


def child(host, vm, name, mode, address, **extra):
    """Options of the macvlan module for a child of p0 (in ``host``) that lives in ``vm``."""
    spec = {"name": name, "parent": "p0", "mode": mode, "netns": host, "link_netns": vm, "addresses": [address]}
    spec.update(extra)
    return spec


def apply_links(ansible, *specs):
    """Run the macvlan module once per spec, in one playbook; every task must succeed and change something."""
    tasks = [{"name": "macvlan %s" % spec["name"], "hostnet.macvlan.macvlan": spec} for spec in specs]
    results = ansible.playbook(tasks)
    # A failed task ends the play: results may be shorter than specs (the length is checked last, so that the
    # failing task's message is what the assertion shows).
    for spec, result in zip(specs, results, strict=False):
        assert not result.get("failed"), "%s: %s" % (spec["name"], result.get("msg"))
        assert result["changed"] is True, "%s: nothing changed" % spec["name"]
    assert len(results) == len(specs), ansible.last_output
    return results


def ping(ns, dst):
    """One ICMP echo from namespace ``ns`` to ``dst`` with a one-second deadline; True if answered."""
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "1", "-W", "1", dst],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0


def flush_neighbours(ns):
    subprocess.run(["ip", "-n", ns, "neigh", "flush", "all"], check=True, capture_output=True)


def wait_operational(lab, *links, timeout=20):
    """Wait until each (namespace, name) is operationally up: the kernel turns a link's carrier on a moment after
    it comes up (linkwatch), and a frame sent before that is lost, which would make a negative check pass and a
    "heard it" check fail for the wrong reason."""
    deadline = time.monotonic() + timeout
    for ns, name in links:
        while lab.link(ns, name).get("operstate") not in ("UP", "UNKNOWN"):
            assert time.monotonic() < deadline, "%s in %s is not operationally up: %s" % (name, ns, lab.link(ns, name))
            time.sleep(0.1)


def reachable(ns, dst, attempts=3):
    """Positive check: up to three fresh attempts (each starts with an empty neighbour table)."""
    for _attempt in range(attempts):
        flush_neighbours(ns)
        if ping(ns, dst):
            return True
    return False


def unreachable(ns, dst):
    """Negative check: a fresh attempt (ARP included) that must get no answer."""
    flush_neighbours(ns)
    return not ping(ns, dst)


def stats(ns, dev):
    """Packet counters of ``dev`` in ``ns`` from ``ip -s -j link``: {'rx': n, 'tx': n}."""
    proc = subprocess.run(
        ["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev], capture_output=True, text=True, check=True
    )
    data = json.loads(proc.stdout)[0]["stats64"]
    return {"rx": data["rx"]["packets"], "tx": data["tx"]["packets"]}


def delta(before, after):
    return {key: after[key] - before[key] for key in before}


def macvlan(lab, ns, name):
    """``ip -j -d link`` of a macvlan in ns: (ifindex, mode, MAC); fails the test when it is not a macvlan."""
    link = lab.link(ns, name)
    assert link is not None, "%s does not exist in %s" % (name, ns)
    assert link["linkinfo"]["info_kind"] == "macvlan", link["linkinfo"]
    return link["ifindex"], link["linkinfo"]["info_data"]["mode"], link["address"]


def link_names(lab, ns):
    return sorted(link["ifname"] for link in lab.links(ns))


def switch(lab, sw, hairpin):
    """Turn the plain veth end p1 in ``sw`` into a port of bridge br0 with hairpin on or off (fixture)."""
    if lab.link(sw, "br0") is None:
        lab.ip(sw, "link", "add", "br0", "type", "bridge")
        lab.ip(sw, "link", "set", "br0", "up")
        lab.ip(sw, "link", "set", "p1", "master", "br0")
    lab.ip(sw, "link", "set", "p1", "type", "bridge_slave", "hairpin", "on" if hairpin else "off")
    port = lab.link(sw, "p1")
    assert port["master"] == "br0"
    assert port["linkinfo"]["info_slave_kind"] == "bridge"
    assert port["linkinfo"]["info_slave_data"]["hairpin"] is hairpin
    assert port["linkinfo"]["info_slave_data"]["state"] == "forwarding"


# ---------------------------------------------------------------------------------------------------------
# The modes
# ---------------------------------------------------------------------------------------------------------


def test_bridge_children_talk_inside_the_kernel(lab, ansible_default):
    """bridge: two children of one parent, each in its own VM namespace, reach each other.

    The macvlan driver switches frames between bridge-mode siblings itself: a broadcast (the ARP request) is
    delivered to the siblings and also sent out of the parent, but a unicast frame for a sibling's MAC never
    touches the parent. The proof of the latter: once ARP is resolved, another echo request and reply
    between the children leave the parent's transmit counter exactly where it was.
    """
    host, sw = quiet_netns(lab, "host"), quiet_netns(lab, "sw")
    vm1, vm2 = quiet_netns(lab, "vm1"), quiet_netns(lab, "vm2")
    lab.veth(host, "p0", "p1", peer_ns=sw)
    apply_links(
        ansible_default,
        child(host, vm1, "mv1", "bridge", "192.0.2.11/24"),
        child(host, vm2, "mv2", "bridge", "192.0.2.12/24"),
    )
    assert macvlan(lab, vm1, "mv1")[1] == "bridge"
    assert macvlan(lab, vm2, "mv2")[1] == "bridge"

    assert reachable(vm1, "192.0.2.12"), "bridge-mode siblings must reach each other"
    assert reachable(vm2, "192.0.2.11"), "bridge-mode siblings must reach each other (reverse)"

    # Neighbours are resolved now: this echo is pure unicast between siblings.
    wire = stats(host, "p0")
    assert ping(vm1, "192.0.2.12")
    assert delta(wire, stats(host, "p0"))["tx"] == 0, "unicast between bridge-mode siblings went out of p0"


def test_private_children_never_talk_until_switched_to_bridge(lab, ansible_default):
    """private: two children of one parent cannot reach each other; switched to bridge in place, they can.

    A private child's ARP request still leaves through the parent (the wire sees it), but the driver does not
    deliver it to the sibling, and the plain veth end on the far side reflects nothing: no answer. As the
    control, the module switches both children to bridge mode; the kernel changes the mode in place (same
    ifindex before and after, read with ``ip -j -d link``) and the same ping now succeeds.
    """
    host, sw = quiet_netns(lab, "host"), quiet_netns(lab, "sw")
    vm1, vm2 = quiet_netns(lab, "vm1"), quiet_netns(lab, "vm2")
    lab.veth(host, "p0", "p1", peer_ns=sw)
    apply_links(
        ansible_default,
        child(host, vm1, "mv1", "private", "192.0.2.11/24"),
        child(host, vm2, "mv2", "private", "192.0.2.12/24"),
    )
    index1, mode1, _mac = macvlan(lab, vm1, "mv1")
    index2, mode2, _mac = macvlan(lab, vm2, "mv2")
    assert (mode1, mode2) == ("private", "private")

    wire = stats(host, "p0")
    assert unreachable(vm1, "192.0.2.12"), "private siblings must not reach each other"
    assert unreachable(vm2, "192.0.2.11"), "private siblings must not reach each other (reverse)"
    assert delta(wire, stats(host, "p0"))["tx"] >= 2, "the private children's ARP requests should leave via p0"

    results = apply_links(
        ansible_default,
        child(host, vm1, "mv1", "bridge", "192.0.2.11/24"),
        child(host, vm2, "mv2", "bridge", "192.0.2.12/24"),
    )
    for result in results:
        assert not any(action.startswith("recreate") for action in result["actions"]), result["actions"]
    assert macvlan(lab, vm1, "mv1")[:2] == (index1, "bridge"), "mode change was not in place"
    assert macvlan(lab, vm2, "mv2")[:2] == (index2, "bridge"), "mode change was not in place"

    assert reachable(vm1, "192.0.2.12"), "after the switch to bridge the siblings must reach each other"
    assert reachable(vm2, "192.0.2.11")


def test_vepa_needs_a_reflecting_switch(lab, ansible_default):
    """vepa: every frame leaves through the parent; siblings meet only if the switch sends frames back.

    1. The parent's peer is a plain veth end: the ARP request between the children leaves through p0 and
       nothing comes back (p0's receive counter does not move). No ping.
    2. The peer becomes a port of Linux bridge br0 in the switch namespace with hairpin off: a bridge never
       forwards a frame out of the port it came in on. Still no ping.
    3. Hairpin on (reflective relay): the bridge sends the frames back out of p1 into p0, the driver delivers
       them to the sibling by destination MAC. Ping works, and even a resolved unicast echo crosses the wire
       twice (request and reply each go out of p0 and come back), unlike bridge mode.
    """
    host, sw = quiet_netns(lab, "host"), quiet_netns(lab, "sw")
    vm1, vm2 = quiet_netns(lab, "vm1"), quiet_netns(lab, "vm2")
    lab.veth(host, "p0", "p1", peer_ns=sw)
    apply_links(
        ansible_default,
        child(host, vm1, "mv1", "vepa", "192.0.2.11/24"),
        child(host, vm2, "mv2", "vepa", "192.0.2.12/24"),
    )
    assert macvlan(lab, vm1, "mv1")[1] == "vepa"
    assert macvlan(lab, vm2, "mv2")[1] == "vepa"

    # 1. Plain veth end: frames leave, nothing is reflected.
    wire = stats(host, "p0")
    assert unreachable(vm1, "192.0.2.12"), "vepa siblings must not meet without a reflecting switch"
    moved = delta(wire, stats(host, "p0"))
    assert moved["tx"] >= 1 and moved["rx"] == 0, moved

    # 2. A bridge port without hairpin: still nothing comes back.
    switch(lab, sw, hairpin=False)
    assert unreachable(vm1, "192.0.2.12"), "vepa siblings must not meet through a bridge port without hairpin"
    assert unreachable(vm2, "192.0.2.11")

    # 3. Hairpin on: the switch reflects, the siblings meet.
    switch(lab, sw, hairpin=True)
    assert reachable(vm1, "192.0.2.12"), "vepa siblings must meet through a hairpin bridge port"
    assert reachable(vm2, "192.0.2.11")
    wire = stats(host, "p0")
    assert ping(vm1, "192.0.2.12")
    moved = delta(wire, stats(host, "p0"))
    assert moved["tx"] >= 2 and moved["rx"] >= 2, "vepa unicast should go out of p0 and come back: %s" % moved


def test_private_blocks_discovery_even_through_a_hairpin_switch(lab, ansible_default):
    """private behind a reflecting switch: ARP between the children still fails (the limit of "private").

    With hairpin on, the same topology lets vepa children talk (previous test). For private children the
    driver drops a reflected broadcast whose source MAC is a private sibling, so ARP never resolves and the
    ping fails. The driver does not filter reflected *unicast* by source, though: with static neighbour
    entries the echo crosses (out of p0, reflected by the switch, back in by destination MAC). So private mode
    isolates siblings by blocking their broadcasts; it is not a filter against reflected unicast frames.
    """
    host, sw = quiet_netns(lab, "host"), quiet_netns(lab, "sw")
    vm1, vm2 = quiet_netns(lab, "vm1"), quiet_netns(lab, "vm2")
    lab.veth(host, "p0", "p1", peer_ns=sw)
    switch(lab, sw, hairpin=True)
    apply_links(
        ansible_default,
        child(host, vm1, "mv1", "private", "192.0.2.11/24", mac_address=MAC_A),
        child(host, vm2, "mv2", "private", "192.0.2.12/24", mac_address=MAC_B),
    )
    assert macvlan(lab, vm1, "mv1")[1:] == ("private", MAC_A)
    assert macvlan(lab, vm2, "mv2")[1:] == ("private", MAC_B)

    assert unreachable(vm1, "192.0.2.12"), "private siblings must not resolve each other even with hairpin"
    assert unreachable(vm2, "192.0.2.11")

    # The limit: reflected unicast is delivered by destination MAC whatever the mode of the sender.
    lab.ip(vm1, "neigh", "replace", "192.0.2.12", "lladdr", MAC_B, "dev", "mv1", "nud", "permanent")
    lab.ip(vm2, "neigh", "replace", "192.0.2.11", "lladdr", MAC_A, "dev", "mv2", "nud", "permanent")
    wire = stats(host, "p0")
    assert any(ping(vm1, "192.0.2.12") for _attempt in range(3)), "reflected unicast between private children"
    moved = delta(wire, stats(host, "p0"))
    assert moved["tx"] >= 2 and moved["rx"] >= 2, moved


def test_passthru_owns_its_parent(lab, ansible_default):
    """passthru: one child owns the parent; the kernel refuses any other macvlan on it, and the reverse.

    The passthru child takes over the parent's MAC address and receives every frame the parent gets: it
    talks to the far end of the cable. A second child (bridge mode) on that parent is refused, both when it
    would stay in the host namespace and when it would go to another VM namespace; the message mentions
    passthru and ``ip -j -d link`` shows that nothing was created. (The existing child lives in a VM
    namespace the module does not look into, so the refusal comes from the kernel, EINVAL, which the module
    explains.) Conversely a passthru child cannot be created on a second parent that already has a
    bridge-mode child.
    """
    host, wire = quiet_netns(lab, "host"), quiet_netns(lab, "wire")
    vm1, vm2 = quiet_netns(lab, "vm1"), quiet_netns(lab, "vm2")
    lab.veth(host, "p0", "p1", peer_ns=wire)
    lab.veth(host, "p2", "p3", peer_ns=wire)
    lab.ip(wire, "addr", "add", "192.0.2.1/24", "dev", "p1")
    apply_links(ansible_default, child(host, vm1, "pt", "passthru", "192.0.2.10/24"))
    index, mode, mac = macvlan(lab, vm1, "pt")
    assert mode == "passthru"
    assert mac == lab.link(host, "p0")["address"], "a passthru child inherits its parent's MAC address"
    assert reachable(vm1, "192.0.2.1"), "the passthru child must talk to the far end of the cable"

    host_links = link_names(lab, host)
    for target in (None, vm2):
        args = {"name": "mv2", "parent": "p0", "mode": "bridge", "netns": host}
        if target:
            args["link_netns"] = target
        result = ansible_default.run("macvlan", **args)
        assert result["failed"] is True, "a second child on a passthru parent must be refused (%s)" % target
        assert "passthru" in result["msg"], result["msg"]
        assert lab.link(host, "mv2") is None and lab.link(vm2, "mv2") is None
        assert link_names(lab, host) == host_links
        assert link_names(lab, vm2) == ["lo"]
    assert macvlan(lab, vm1, "pt")[:2] == (index, "passthru"), "the passthru child must be untouched"

    # The other way round: a parent with a bridge-mode child cannot get a passthru child.
    apply_links(ansible_default, dict(child(host, vm1, "mvb", "bridge", "192.0.2.20/24"), parent="p2"))
    host_links = link_names(lab, host)
    vm1_links = link_names(lab, vm1)
    for target in (None, vm2):
        args = {"name": "pt2", "parent": "p2", "mode": "passthru", "netns": host}
        if target:
            args["link_netns"] = target
        result = ansible_default.run("macvlan", **args)
        assert result["failed"] is True, "passthru on a parent that has a bridge child must be refused"
        assert "passthru" in result["msg"], result["msg"]
        assert lab.link(host, "pt2") is None and lab.link(vm2, "pt2") is None
        assert link_names(lab, host) == host_links
        assert link_names(lab, vm1) == vm1_links
        assert link_names(lab, vm2) == ["lo"]


@pytest.mark.parametrize("nodst", [False, True], ids=["dst", "nodst"])
def test_source_mode_hears_only_listed_senders(lab, ansible_default, nodst):
    """source: a child that receives only frames whose *source* MAC is in ``source_macs``.

    The filter acts on frames arriving on the parent from the wire, so the senders sit behind the cable: p1
    is a port of bridge br0 in the switch namespace, and two more ports lead to sender A (MAC_A, listed) and
    sender B (MAC_B, not listed). The source-mode child S and a bridge-mode sibling M live in VM namespaces.

    - S <-> A works both ways: A's frames (ARP replies and requests, echo) match the list and reach S.
    - S -> B fails although B hears S: B learns S's MAC from the ARP request (``ip neigh`` in B) and answers
      (B's transmit counter), but S's receive counter stays still: frames from B never reach S, neither by
      source (not listed) nor by destination (a source-mode link is skipped by destination lookup). B -> S
      fails likewise.
    - ``nodst`` decides whether a frame that matched a source entry also continues to the normal destination
      lookup. Without it, A reaches the sibling M; with it the driver consumes A's frames after handing them
      to S, so A cannot reach M. B (unlisted) reaches M in both cases: the control showing M works. The test
      runs with both values because the flag changes who else can hear a listed sender.
    """
    host, sw = quiet_netns(lab, "host"), quiet_netns(lab, "sw")
    ns_a, ns_b = quiet_netns(lab, "a"), quiet_netns(lab, "b")
    ns_s, ns_m = quiet_netns(lab, "s"), quiet_netns(lab, "m")
    lab.veth(host, "p0", "p1", peer_ns=sw)
    switch(lab, sw, hairpin=False)
    for ns, port, dev, mac, address in (
        (ns_a, "swa", "ea", MAC_A, "192.0.2.1/24"),
        (ns_b, "swb", "eb", MAC_B, "192.0.2.2/24"),
    ):
        lab.veth(sw, port, dev, peer_ns=ns, up=False)
        lab.ip(sw, "link", "set", port, "master", "br0", "up")
        lab.ip(ns, "link", "set", dev, "address", mac, "up")
        lab.ip(ns, "addr", "add", address, "dev", dev)
    apply_links(
        ansible_default,
        {
            "name": "mvs",
            "parent": "p0",
            "mode": "source",
            "source_macs": [MAC_A],
            "nodst": nodst,
            "netns": host,
            "link_netns": ns_s,
            "addresses": ["192.0.2.10/24"],
        },
        child(host, ns_m, "mvm", "bridge", "192.0.2.20/24"),
    )
    info = lab.link(ns_s, "mvs")["linkinfo"]["info_data"]
    assert info["mode"] == "source" and info["macaddr_data"] == [MAC_A], info
    assert info.get("nodst", False) is nodst, info
    mac_s = lab.link(ns_s, "mvs")["address"]
    wait_operational(
        lab, (ns_s, "mvs"), (ns_m, "mvm"), (host, "p0"), (sw, "p1"), (sw, "br0"), (ns_a, "ea"), (ns_b, "eb")
    )

    # The unlisted sender first, while A has never sent anything: S's receive counter is exact.
    heard_s, heard_b = stats(ns_s, "mvs"), stats(ns_b, "eb")
    assert unreachable(ns_s, "192.0.2.2"), "S must not hear the unlisted sender B"
    neighbours = json.loads(lab.ip(ns_b, "-j", "neigh", "show", "192.0.2.10").stdout)
    assert [n.get("lladdr") for n in neighbours] == [mac_s], "B should have heard S's ARP request: %s" % neighbours
    assert delta(heard_b, stats(ns_b, "eb"))["tx"] >= 1, "B should have answered S"
    assert delta(heard_s, stats(ns_s, "mvs"))["rx"] == 0, "a frame from B reached the source-mode child"
    assert unreachable(ns_b, "192.0.2.10"), "B must not reach S"

    # The listed sender.
    heard_s = stats(ns_s, "mvs")
    assert reachable(ns_s, "192.0.2.1"), "S must hear the listed sender A"
    assert delta(heard_s, stats(ns_s, "mvs"))["rx"] >= 2
    assert reachable(ns_a, "192.0.2.10"), "A must reach S"

    # nodst: does a frame from A still go on to its destination (the sibling M)?
    assert reachable(ns_b, "192.0.2.20"), "control: the bridge-mode sibling M must be reachable from the wire"
    if nodst:
        assert unreachable(ns_a, "192.0.2.20"), "with nodst, frames from a listed MAC must stop at S"
    else:
        assert reachable(ns_a, "192.0.2.20"), "without nodst, frames from a listed MAC also reach their destination"


def test_child_cannot_reach_its_parent_until_a_shim_exists(lab, ansible_default):
    """The known limit: a child and its own parent's IP address cannot reach each other; a shim fixes it.

    The parent p0 holds 192.0.2.1/24 in the host namespace, a bridge-mode child 192.0.2.10/24 in a VM
    namespace. The child's ARP request for the parent's address leaves through the wire (p1's receive
    counter rises in the switch namespace) but the host stack behind p0 never sees it, because frames sent
    out of p0 do not come back in, and the plain veth end reflects nothing. Host -> child fails likewise.
    The workaround: a host-side "shim" macvlan in bridge mode on the same parent, created with the module,
    holding a host address (192.0.2.2/32) and a route to the child (192.0.2.10/32). Host and child are now
    bridge-mode siblings: the host reaches the child through the shim and the child reaches the shim address.
    """
    host, sw, vm = quiet_netns(lab, "host"), quiet_netns(lab, "sw"), quiet_netns(lab, "vm")
    lab.veth(host, "p0", "p1", peer_ns=sw)
    lab.ip(host, "addr", "add", "192.0.2.1/24", "dev", "p0")
    apply_links(ansible_default, child(host, vm, "mv1", "bridge", "192.0.2.10/24"))
    assert macvlan(lab, vm, "mv1")[1] == "bridge"

    parent, far_end = stats(host, "p0"), stats(sw, "p1")
    assert unreachable(vm, "192.0.2.1"), "a child must not reach its own parent's address"
    assert delta(far_end, stats(sw, "p1"))["rx"] >= 1, "the child's ARP request should have gone onto the wire"
    assert delta(parent, stats(host, "p0"))["rx"] == 0, "nothing should have come back into p0"
    assert unreachable(host, "192.0.2.10"), "the parent's host must not reach the child"

    apply_links(
        ansible_default,
        {
            "name": "shim",
            "parent": "p0",
            "mode": "bridge",
            "netns": host,
            "addresses": ["192.0.2.2/32"],
            "routes": [{"dest": "192.0.2.10/32"}],
        },
    )
    assert macvlan(lab, host, "shim")[1] == "bridge"
    route = json.loads(lab.ip(host, "-j", "route", "get", "192.0.2.10").stdout)[0]
    assert (route["dev"], route["prefsrc"]) == ("shim", "192.0.2.2"), route
    assert reachable(host, "192.0.2.10"), "the host must reach the child through the shim"
    assert reachable(vm, "192.0.2.2"), "the child must reach the host's shim address"
