"""parent 'default' and mac_address 'stable': the pure rules (the derivation is pinned: changing it would change
every stable MAC address of a fleet)."""

from __future__ import annotations

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _plan
from ansible_collections.hostnet.macvlan.plugins.module_utils._observed import Snapshot
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.observed_links import nic

MACHINE_ID = "0123456789abcdef0123456789abcdef"


def default_route(metric, gateway="192.0.2.1"):
    return {"dest": "0.0.0.0/0", "gateway": gateway, "metric": metric}


def snapshot(routes=None, unmanaged=None, ns=None):
    return Snapshot(ns, [nic("lo", 1), nic("eth0", 2), nic("eth1", 3)], {}, routes or {}, unmanaged or {})


def spec(**params):
    params.setdefault("name", "mv0")
    return _model.normalize_link(params)


# --- stable MAC addresses ------------------------------------------------------------------------------------


def test_stable_mac_is_pinned():
    # Computed apart: printf 'hostnet.macvlan stable mac v1\0NS\0NAME' | openssl dgst -sha256 -mac HMAC
    # -macopt hexkey:MACHINE_ID, first six bytes, first byte & 0xfc | 0x02.
    assert _model.stable_mac(MACHINE_ID, "", "mv0") == "ee:bd:a1:e0:70:75"
    assert _model.stable_mac(MACHINE_ID, "lab", "mv0") == "62:3d:b1:5a:bd:c1"
    assert _model.stable_mac("f" * 32, "", "mv0") == "9e:70:f7:ca:19:b1"


def test_stable_mac_is_unicast_locally_administered_and_distinct():
    macs = {_model.stable_mac(MACHINE_ID, ns, "mv%d" % i) for ns in ("", "a", "b") for i in range(300)}
    assert len(macs) == 900
    for mac in macs:
        first = int(mac[:2], 16)
        assert first & 1 == 0 and first & 2 == 2
        assert _model.normalize_mac(mac) == mac


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (None, ""),
        ("lab", "lab"),
        ("/run/netns/lab", "lab"),
        ("/var/run/netns/lab", "lab"),
        ("/proc/7/ns/net", "/proc/7/ns/net"),
    ],
)
def test_a_namespace_enters_the_derivation_by_its_name(value, key):
    assert _model.namespace_key(value) == key


@pytest.mark.parametrize("text", ["", "uninitialized\n", "0" * 32, "xyz", "0123456789abcdef0123456789abcde"])
def test_a_machine_id_that_is_not_one_is_refused(text):
    with pytest.raises(_model.ModelError, match="mac_address: 'stable' needs the machine id"):
        _model.normalize_machine_id(text)


def test_machine_id_spelling_is_normalised():
    assert _model.normalize_machine_id(MACHINE_ID.upper() + "\n") == MACHINE_ID


def test_stable_is_resolved_in_the_links_namespace():
    specs = [
        spec(parent="eth0", mac_address="Stable"),
        spec(name="mv1", parent="eth0", mac_address="stable", link_netns="lab"),
    ]
    assert specs[0]["mac_address"] is None and specs[0]["mac_stable"]
    resolved = _plan.resolve_links(specs, {None: snapshot()}, MACHINE_ID)
    assert specs[0]["mac_address"] == _model.stable_mac(MACHINE_ID, "", "mv0")
    assert specs[1]["mac_address"] == _model.stable_mac(MACHINE_ID, "lab", "mv1")
    assert resolved == {
        "links[0].mac_address": specs[0]["mac_address"],
        "links[1].mac_address": specs[1]["mac_address"],
    }
    assert "mac_stable" not in specs[0]


def test_two_links_with_one_stable_mac_are_refused():
    # the same name in the same namespace: listed twice, refused before any MAC comparison
    specs = [spec(parent="eth0", mac_address="stable"), spec(parent="eth0", mac_address="stable")]
    _plan.resolve_links(specs, {None: snapshot()}, MACHINE_ID)
    with pytest.raises(_plan.PlanError, match="listed twice"):
        _plan.check_link_set(specs)
    # an explicit MAC equal to a sibling's stable one
    stable = _model.stable_mac(MACHINE_ID, "", "mv0")
    specs = [spec(parent="eth0", mac_address="stable"), spec(name="mv1", parent="eth0", mac_address=stable)]
    _plan.resolve_links(specs, {None: snapshot()}, MACHINE_ID)
    with pytest.raises(_plan.PlanError, match="links\\[1\\].mac_address: %s is also given to links\\[0\\]" % stable):
        _plan.check_link_set(specs)


# --- parent: default ------------------------------------------------------------------------------------------


def test_default_parent_is_the_lowest_metric_default_route():
    snap = snapshot(routes={3: [default_route(200)]}, unmanaged={2: [default_route(100)]})
    specs = [spec(parent="default")]
    assert specs[0]["parent"] is None and specs[0]["parent_default"]
    assert _plan.resolve_links(specs, {None: snap}) == {"links[0].parent": "eth0"}
    assert specs[0]["parent"] == "eth0" and "parent_default" not in specs[0]


def test_default_parent_ignores_ipv6_and_other_routes():
    snap = snapshot(
        routes={
            2: [
                {"dest": "::/0", "gateway": "fe80::1", "metric": 1},
                {"dest": "10.0.0.0/8", "gateway": None, "metric": 0},
            ],
            3: [default_route(0)],
        }
    )
    specs = [spec(parent="default")]
    _plan.resolve_links(specs, {None: snap})
    assert specs[0]["parent"] == "eth1"


def test_no_default_route_is_a_clear_error():
    with pytest.raises(_plan.PlanError, match="links\\[0\\].parent: 'default' .* netns lab has no IPv4 default route"):
        _plan.resolve_links([spec(parent="default", netns="lab")], {"lab": snapshot(ns="lab")})


def test_two_default_routes_with_one_metric_are_ambiguous():
    snap = snapshot(routes={2: [default_route(100)], 3: [default_route(100, "198.51.100.1")]})
    with pytest.raises(_plan.PlanError, match="ambiguous .* eth0 and eth1"):
        _plan.resolve_links([spec(parent="default")], {None: snap}, labels=[""])


def test_default_resolving_to_the_links_own_name_is_refused():
    snap = snapshot(routes={2: [default_route(0)]})
    with pytest.raises(_plan.PlanError, match="resolves to 'eth0', the link's own name"):
        _plan.resolve_links([spec(name="eth0", parent="default")], {None: snap})


def test_check_link_set_waits_for_default_parents():
    specs = [spec(parent="default", mode="passthru"), spec(name="mv1", parent="default")]
    _plan.check_link_set(specs)  # unresolved: no parent to compare yet
    _plan.resolve_links(specs, {None: snapshot(routes={2: [default_route(0)]})})
    with pytest.raises(_plan.PlanError, match="passthru needs parent 'eth0' to itself"):
        _plan.check_link_set(specs)
