"""What the engine reads before it plans a change of macvlan_state (check mode: pure, no root, no netlink)."""

from __future__ import annotations

from ansible_collections.hostnet.macvlan.plugins.module_utils import _engine
from ansible_collections.hostnet.macvlan.plugins.module_utils._engine import LinkEngine
from ansible_collections.hostnet.macvlan.plugins.module_utils._model import normalize_link
from ansible_collections.hostnet.macvlan.plugins.module_utils._observed import Snapshot
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.observed_links import macvlan, nic

PARENT = nic("eth1", 2, promisc=True, promiscuity=1)
# An existing macvlan with an address and a route of its own, which no spec below names.
MV9 = macvlan("mv9", 9)
ADDRESSES = {9: ["192.0.2.9/24"]}
ROUTES = {9: [{"dest": "198.51.100.0/24", "gateway": None, "metric": 0}]}


class FakeSession:
    """Serves one namespace's links, and its addresses and routes only when asked for them."""

    def __init__(self):
        self.reads = []

    def open(self, ns, option="netns"):
        pass

    def observe(self, ns, addresses=True, routes=True):
        self.reads.append(("links", addresses, routes))
        snapshot = Snapshot(ns, [PARENT, MV9])
        if addresses or routes:
            snapshot.set_l3(ADDRESSES if addresses else None, ROUTES if routes else None)
        return snapshot

    def observe_l3(self, snapshot, addresses=True, routes=True):
        self.reads.append(("l3", addresses, routes))
        snapshot.set_l3(ADDRESSES, ROUTES)


def counting_engine():
    """A check-mode engine over FakeSession that counts its plans."""
    engine = LinkEngine(FakeSession(), check_mode=True, multi=True)
    engine.plans = 0
    plan = engine.plan

    def counted(*args, **kwargs):
        engine.plans += 1
        return plan(*args, **kwargs)

    engine.plan = counted
    return engine


def converge(engine, *links):
    specs = [normalize_link(dict(link, netns=None), prefix="links[%d]." % i) for i, link in enumerate(links)]
    entries, dummy, after = engine.converge(specs)
    assert after is None  # check mode with a change planned
    return {entry["spec"]["name"]: entry for entry in entries}


def test_links_that_are_only_created_are_planned_once_from_the_links():
    engine = counting_engine()
    entries = converge(engine, {"name": "mv1", "parent": "eth1"}, {"name": "mv2", "parent": "eth1"})
    assert [e["actions"][0]["op"] for e in entries.values()] == ["create", "create"]
    # The addresses and routes are read once the run knows it changes something (the journal and the read-back
    # use them), but a creation's plan does not depend on them: no second plan.
    assert engine.session.reads == [("links", False, False), ("l3", True, True)]
    assert engine.plans == 1


def test_a_change_to_a_link_that_exists_is_planned_again_with_its_addresses_and_routes():
    engine = counting_engine()
    entries = converge(engine, {"name": "mv9", "parent": "eth1", "mode": "vepa"})
    assert [a["op"] for a in entries["mv9"]["actions"]] == ["set_mode"]
    assert engine.session.reads == [("links", False, False), ("l3", True, True)]
    assert engine.plans == 2
    # Its view before and after the change shows the address and the route it keeps.
    for view in (entries["mv9"]["before"], entries["mv9"]["after"]):
        assert view["addresses"] == ["192.0.2.9/24"]
        assert [route["dest"] for route in view["routes"]] == ["198.51.100.0/24"]


def test_a_creation_next_to_a_change_is_planned_again_too():
    engine = counting_engine()
    entries = converge(
        engine,
        {"name": "mv1", "parent": "eth1"},
        {"name": "mv9", "parent": "eth1", "mode": "vepa"},
    )
    assert engine.plans == 2
    assert entries["mv9"]["before"]["addresses"] == ["192.0.2.9/24"]


def test_each_spelling_of_a_namespace_is_looked_up_once_and_spelled_one_way(monkeypatch):
    identities = {None: ("host",), "red": ("red",), "/run/netns/red": ("red",), "blue": ("blue",)}
    looked_up = []

    def identity(ns):
        looked_up.append(ns)
        return identities[ns]

    monkeypatch.setattr(_engine, "ns_identity", identity)
    specs = [
        {"netns": "red", "link_netns": "blue"},
        {"netns": "/run/netns/red", "link_netns": "/run/netns/red"},
        {"netns": "red", "link_netns": None},
        {"netns": None, "link_netns": "red"},
    ]
    _engine.canonical_namespaces(specs, "red")
    assert [(s["netns"], s["link_netns"]) for s in specs] == [
        ("red", "blue"),
        ("red", None),  # link_netns the working namespace itself: None
        ("red", None),
        (None, "red"),  # the host's own namespace is not red
    ]
    assert sorted(looked_up, key=str) == sorted(["red", "blue", "/run/netns/red", None], key=str)
