"""The ``links`` of macvlan_state (and macvlan_persist: test_persist_module.py) are validated once, by the collection
(``_model``), not first by Ansible's argument spec: these tests pin that nothing is lost by that. A misspelt option,
a wrong type or a bad value fails with the option's path and the value, before anything changes (iproute2's dump is
the oracle); Ansible's spellings of booleans, numbers as strings and comma-separated lists keep working.
"""

from __future__ import annotations

import pytest


def links(**extra):
    return [dict({"name": "mv0", "parent": "p0"}, **extra), {"name": "mv1", "parent": "p0", "mode": "vepa"}]


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"moed": "vepa"}, "links[0]: unknown option 'moed'; a link's options are addresses, allmulticast, bclim"),
        ({"netns": "elsewhere"}, "links[0]: unknown option 'netns'; a link's options are"),
        ({"allmulticast": "maybe"}, "links[0].allmulticast: 'maybe' must be true or false"),
        ({"mtu": "1400.5"}, "links[0].mtu: '1400.5' is not an integer"),
        ({"mtu": 99999}, "links[0].mtu: 99999 is out of range 68..65535"),
        ({"mode": "bridged"}, "links[0].mode: 'bridged' is not one of private, vepa, bridge, passthru, source"),
        ({"addresses": {"192.0.2.1/24": True}}, "links[0].addresses: {'192.0.2.1/24': True} must be a list"),
    ],
)
def test_bad_link_options_name_option_and_value_and_change_nothing(lab, ansible, host, extra, message):
    before = lab.state(host)
    result = ansible.run("macvlan_state", links=links(**extra), netns=host)
    assert result.get("failed") is True, result
    assert result["msg"].startswith(message), result["msg"]
    assert lab.state(host) == before


def test_a_link_without_name_is_refused(lab, ansible, host):
    before = lab.state(host)
    result = ansible.run("macvlan_state", links=[{"parent": "p0"}], netns=host)
    assert result.get("failed") is True and result["msg"].startswith("links[0].name: None is required"), result
    assert lab.state(host) == before


def test_ansible_spellings_of_types_still_work(lab, ansible, host):
    spelled = links(allmulticast="yes", mtu="1400", addresses="192.0.2.10/24, 192.0.2.11/24")
    ansible.converge("macvlan_state", links=spelled, netns=host)
    mv0 = lab.link(host, "mv0")
    assert mv0["mtu"] == 1400 and "ALLMULTI" in mv0["flags"]
    assert lab.addresses(host, "mv0") == ["192.0.2.10/24", "192.0.2.11/24"]
    # The same state written with real types is the same state: nothing to do.
    typed = links(allmulticast=True, mtu=1400, addresses=["192.0.2.11/24", "192.0.2.10/24"])
    again = ansible.run("macvlan_state", links=typed, netns=host)
    assert again["changed"] is False, again.get("actions")
