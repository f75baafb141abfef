"""allmulticast and multicast on the real kernel (iproute2's flags and allmulti counter are the oracle): with the
creation, in place, rerun unchanged, check mode and diff, and an exact rollback when a later step is refused."""

from __future__ import annotations

import pytest
from oracle import assert_same, full_dump


@pytest.fixture
def host(lab):
    ns = lab.netns("host")
    lab.veth(ns, "p0", "q0")
    return ns


def flags(lab, ns, name):
    return set(lab.link(ns, name)["flags"])


def test_flags_with_the_creation_then_in_place(lab, ansible_default, host):
    link = {"name": "mvm", "parent": "p0", "allmulticast": True, "multicast": False}
    first = ansible_default.converge("macvlan_state", netns=host, links=[link])
    assert any("allmulticast" in line and "no multicast" in line for line in first["actions"]), first["actions"]
    have = flags(lab, host, "mvm")
    assert "ALLMULTI" in have and "MULTICAST" not in have
    assert first["links"][0]["allmulticast"] is True and first["links"][0]["multicast"] is False

    flipped = dict(link, allmulticast=False, multicast=True)
    planned = ansible_default.run("macvlan_state", check=True, diff=True, netns=host, links=[flipped])
    assert planned["changed"] is True and flags(lab, host, "mvm") == have
    (before,) = planned["diff"]["before"]["links"].values()
    (after,) = planned["diff"]["after"]["links"].values()
    assert (before["allmulticast"], before["multicast"]) == (True, False)
    assert (after["allmulticast"], after["multicast"]) == (False, True)
    ansible_default.converge("macvlan_state", netns=host, links=[flipped])
    have = flags(lab, host, "mvm")
    assert "ALLMULTI" not in have and "MULTICAST" in have

    # Unset: the link keeps what it has.
    untouched = ansible_default.run("macvlan", netns=host, name="mvm", parent="p0")
    assert untouched["changed"] is False


def test_a_refused_step_rolls_the_flags_back(lab, ansible_default, host):
    lab.ip(host, "link", "add", "link", "p0", "name", "mva", "up", "type", "macvlan", "mode", "bridge")
    before = full_dump(host)
    result = ansible_default.run(
        "macvlan_state",
        netns=host,
        links=[
            {"name": "mva", "parent": "p0", "allmulticast": True, "multicast": False},
            # the kernel refuses a gateway it cannot reach: the run fails after the flags changed
            {"name": "mvb", "parent": "p0", "routes": [{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}]},
        ],
    )
    assert result.get("failed") is True and "Rolled back" in result["msg"], result.get("msg")
    assert any("set allmulticast of mva" in line for line in result["actions"]), result["actions"]
    assert_same(host, before)
