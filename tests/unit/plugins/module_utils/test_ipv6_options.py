"""Per-link IPv6 options (issue 13, item 1): validation, planning (a new link is set before it comes up), the
journal's undo steps, the rtnetlink codec (the devconf array, the address generation mode) and each persistence
backend's rendering. Pure: no root, no netlink."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _journal, _model, _persist, _plan, _rtnl
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_ifupdown as ifupdown
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_networkd as networkd
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_nm as nm
from ansible_collections.hostnet.macvlan.plugins.module_utils._model import ModelError, normalize_link
from ansible_collections.hostnet.macvlan.plugins.module_utils._plan import PlanError
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.test_journal import capture, context, step
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.test_persist_helpers import (
    IF,
    ND,
    NM,
    PREFIX,
    SD,
)
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.test_plan import mv, plan, snap
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.test_rtnl import link_msg, parse

IPV6_ON = {"ipv6_disabled": False, "ipv6_accept_ra": True, "ipv6_autoconf": True, "ipv6_addr_gen_mode": "eui64"}


def ops(actions):
    return [a["op"] for a in actions]


# --- model -------------------------------------------------------------------------------------------------


def test_unset_options_stay_unmanaged_and_set_ones_are_kept():
    spec = normalize_link({"name": "mv0", "parent": "eth1"})
    assert [spec[key] for key in _model.IPV6_OPTIONS] == [None, None, None, None]
    spec = normalize_link(dict({"name": "mv0", "parent": "eth1"}, **IPV6_ON))
    assert [spec[key] for key in _model.IPV6_OPTIONS] == [False, True, True, "eui64"]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"ipv6_disabled": "yes"}, "ipv6_disabled: 'yes' must be true or false"),
        ({"ipv6_accept_ra": 2}, "ipv6_accept_ra: 2 must be true or false"),
        ({"ipv6_autoconf": None, "ipv6_accept_ra": 1}, "ipv6_accept_ra: 1 must be true or false"),
        ({"ipv6_addr_gen_mode": "stable-privacy"}, "ipv6_addr_gen_mode: 'stable-privacy' must be one of eui64, none"),
        ({"ipv6_addr_gen_mode": 2}, "ipv6_addr_gen_mode: 2 must be one of"),
        (
            {"ipv6_disabled": True, "addresses": ["192.0.2.1/24", "2001:db8::1/64"]},
            "has IPv6 addresses (2001:db8::1/64), and ipv6_disabled is true",
        ),
        (
            {"ipv6_disabled": True, "routes": [{"dest": "2001:db8:1::/48"}]},
            "routes: [{'dest': '2001:db8:1::/48'}] has IPv6 routes (2001:db8:1::/48), and ipv6_disabled is true",
        ),
    ],
)
def test_bad_values_name_the_option_and_the_value(params, message):
    with pytest.raises(ModelError) as info:
        normalize_link(dict({"name": "mv0", "parent": "eth1"}, **params))
    assert message in str(info.value)


def test_the_links_of_macvlan_state_take_ansibles_spellings():
    params = {"name": "mv0", "parent": "eth1", "ipv6_disabled": "no", "ipv6_accept_ra": "yes", "ipv6_autoconf": 0}
    spec = normalize_link(dict(params, ipv6_addr_gen_mode="none"), "links[0].", raw=True)
    assert [spec[key] for key in _model.IPV6_OPTIONS] == [False, True, False, "none"]
    with pytest.raises(ModelError) as info:
        normalize_link(dict(params, ipv6_addr_gen_mode=2), "links[3].", raw=True)
    assert str(info.value).startswith("links[3].ipv6_addr_gen_mode: '2' must be one of eui64")


def test_ipv6_disabled_with_ipv4_addresses_is_fine():
    spec = normalize_link({"name": "mv0", "parent": "eth1", "ipv6_disabled": True, "addresses": ["192.0.2.1/24"]})
    assert spec["ipv6_disabled"] is True and spec["addresses"] == ["192.0.2.1/24"]


# --- plan --------------------------------------------------------------------------------------------------


def test_a_new_link_is_created_down_set_then_brought_up():
    actions, before, after = plan(
        snap(), ipv6_disabled=True, ipv6_accept_ra=False, ipv6_autoconf=False, ipv6_addr_gen_mode="none"
    )
    assert ops(actions) == [
        "create",
        "set_ipv6_addr_gen_mode",
        "set_ipv6_accept_ra",
        "set_ipv6_autoconf",
        "set_ipv6_disabled",
        "set_link_state",
    ]
    assert actions[0]["spec"]["link_state"] == "down"
    assert (actions[-1]["before"], actions[-1]["after"]) == ("down", "up")
    assert all(a.get("new") for a in actions[1:])
    assert before is None and after["link_state"] == "up" and after["ipv6_addr_gen_mode"] == "none"
    assert after["ipv6_disabled"] is True and after["ipv6_accept_ra"] is False
    # the phases keep the order: the creation, then the settings, then up (the same phase, in the link's order)
    assert ops(_plan.order_actions(actions)) == ops(actions)
    assert _plan.describe(actions[0]).endswith("(mode bridge, down) in the host namespace")
    assert _plan.describe(actions[1]) == (
        "set ipv6 addr gen mode of mv0: none (before it comes up) in the host namespace"
    )


def test_in_a_multi_link_plan_every_creation_comes_first_and_each_link_comes_up_after_its_settings():
    first, dummy, dummy = plan(snap(), name="mv0", ipv6_addr_gen_mode="none")
    second, dummy, dummy = plan(snap(), name="mv1", addresses=["192.0.2.1/24"])
    ordered = _plan.order_actions(first + second)
    names = [(a["op"], a["name"]) for a in ordered]
    assert names.index(("set_ipv6_addr_gen_mode", "mv0")) < names.index(("set_link_state", "mv0"))
    assert names[:2] == [("create", "mv0"), ("create", "mv1")]
    assert names[-1] == ("add_address", "mv1")


def test_a_new_link_kept_down_is_not_brought_up():
    actions, dummy, after = plan(snap(), link_state="down", ipv6_disabled=True)
    assert ops(actions) == ["create", "set_ipv6_disabled"]
    assert after["link_state"] == "down"


def test_a_new_link_without_ipv6_options_is_created_up_at_once():
    actions, dummy, dummy = plan(snap())
    assert ops(actions) == ["create"] and actions[0]["spec"]["link_state"] == "up"


def test_a_recreated_link_is_also_set_before_it_comes_up():
    current = mv("mv0", 5, mode="passthru")
    actions, dummy, dummy = plan(snap(current), ipv6_addr_gen_mode="none")
    assert ops(actions) == ["recreate", "set_ipv6_addr_gen_mode", "set_link_state"]
    assert actions[0]["spec"]["link_state"] == "down"
    create = _journal.expand(actions[0])[1]
    assert create["op"] == "create" and create["spec"]["link_state"] == "down"


def test_a_link_moved_into_link_netns_gets_every_ipv6_option_set_there():
    """The kernel gives a moved link the IPv6 state of its new namespace: equal values before the move do not
    count, and moving it back (the undo of the move) resets them again."""
    work = snap(mv("mv0", 5, ipv6_disabled=False, ipv6_accept_ra=False, ipv6_autoconf=True, ipv6_addr_gen_mode="none"))
    where = snap(ns="c1")
    spec = normalize_link(
        {"name": "mv0", "parent": "eth1", "link_netns": "c1", "ipv6_accept_ra": False, "ipv6_addr_gen_mode": "none"}
    )
    actions, dummy, after = _plan.plan_link(spec, work, where)
    assert ops(actions) == ["move_netns", "set_ipv6_addr_gen_mode", "set_ipv6_accept_ra", "set_link_state"]
    assert all(a["ns"] == "c1" and a.get("new") for a in actions[1:3])
    assert after["ipv6_accept_ra"] is False and after["ipv6_addr_gen_mode"] == "none"


def test_in_place_order_idempotence_and_unmanaged_when_unset():
    current = mv("mv0", 5, ipv6_disabled=True, ipv6_accept_ra=True, ipv6_autoconf=True, ipv6_addr_gen_mode="eui64")
    actions, before, after = plan(
        snap(current), ipv6_disabled=False, ipv6_accept_ra=False, ipv6_autoconf=False, ipv6_addr_gen_mode="none"
    )
    assert [(a["op"], a["before"], a["after"]) for a in actions] == [
        ("set_ipv6_addr_gen_mode", "eui64", "none"),
        ("set_ipv6_accept_ra", True, False),
        ("set_ipv6_autoconf", True, False),
        ("set_ipv6_disabled", True, False),
    ]
    assert before["ipv6_disabled"] is True and after["ipv6_disabled"] is False
    assert after["ipv6_addr_gen_mode"] == "none"
    same = dict(current, ipv6_disabled=False, ipv6_accept_ra=False, ipv6_autoconf=False, ipv6_addr_gen_mode="none")
    assert (
        plan(snap(same), ipv6_disabled=False, ipv6_accept_ra=False, ipv6_autoconf=False, ipv6_addr_gen_mode="none")[0]
        == []
    )
    assert plan(snap(current))[0] == []


def test_accept_ra_2_is_neither_true_nor_false():
    current = mv("mv0", 5, ipv6_disabled=False, ipv6_accept_ra=2, ipv6_autoconf=True, ipv6_addr_gen_mode="eui64")
    for want in (True, False):
        actions, before, after = plan(snap(current), ipv6_accept_ra=want)
        assert [(a["op"], a["before"], a["after"]) for a in actions] == [("set_ipv6_accept_ra", 2, want)]
    assert _plan.as_state_link(_plan.link_view(current, snap(current), snap(current))).get("ipv6_accept_ra") is None


def test_a_link_without_ipv6_state_is_refused_clearly():
    current = mv("mv0", 5, ipv6_disabled=None, ipv6_accept_ra=None, ipv6_autoconf=None, ipv6_addr_gen_mode=None)
    with pytest.raises(PlanError) as info:
        plan(snap(current), ipv6_autoconf=False)
    assert str(info.value).startswith("ipv6_autoconf: mv0 has no IPv6 state")
    assert plan(snap(current))[0] == []  # without the options nothing is asked of IPv6


def test_disabling_ipv6_predicts_the_kernel_dropping_ipv6_addresses_and_routes():
    current = mv("mv0", 5, ipv6_disabled=False, ipv6_accept_ra=True, ipv6_autoconf=True, ipv6_addr_gen_mode="eui64")
    snapshot = snap(
        current,
        addresses={5: ["192.0.2.1/24", "2001:db8::1/64"]},
        routes={5: [{"dest": "2001:db8:7::/48", "gateway": "2001:db8::9", "metric": 1024}]},
    )
    actions, before, after = plan(snapshot, ipv6_disabled=True)
    assert ops(actions) == ["set_ipv6_disabled"]
    assert before["addresses"] == ["192.0.2.1/24", "2001:db8::1/64"]
    assert after["addresses"] == ["192.0.2.1/24"] and after["routes"] == []


def test_ipv6_addresses_on_a_link_with_ipv6_disabled_need_ipv6_disabled_false():
    current = mv("mv0", 5, ipv6_disabled=True, ipv6_accept_ra=True, ipv6_autoconf=True, ipv6_addr_gen_mode="eui64")
    with pytest.raises(PlanError) as info:
        plan(snap(current), addresses=["2001:db8::1/64"])
    assert "set ipv6_disabled: false" in str(info.value)
    actions, dummy, dummy = plan(snap(current), ipv6_disabled=False, addresses=["2001:db8::1/64"])
    assert ops(_plan.order_actions(actions)) == ["set_ipv6_disabled", "add_address"]


def test_the_read_back_checks_each_option_asked_for():
    spec = normalize_link({"name": "mv0", "parent": "eth1", "ipv6_accept_ra": True, "ipv6_addr_gen_mode": "none"})
    view = _plan.link_view(
        mv("mv0", 5, ipv6_disabled=False, ipv6_accept_ra=2, ipv6_autoconf=True, ipv6_addr_gen_mode="eui64"),
        snap(),
        snap(),
    )
    view["parent"] = "eth1"
    problems = _plan.verify_link(spec, view)
    assert problems == ["ipv6_accept_ra is 2, expected True", "ipv6_addr_gen_mode is 'eui64', expected 'none'"]


# --- journal -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op, before, after",
    [
        ("set_ipv6_addr_gen_mode", "eui64", "none"),
        ("set_ipv6_accept_ra", 2, False),
        ("set_ipv6_autoconf", True, False),
        ("set_ipv6_disabled", True, False),
    ],
)
def test_each_setting_is_set_back(op, before, after):
    (undo,) = _journal.undo_for(step(op, before=before, after=after), True, context())
    assert (undo["op"], undo["before"], undo["after"]) == (op, after, before)


def test_disabling_ipv6_is_captured_and_undone_with_the_addresses_and_routes():
    action = step("set_ipv6_disabled", before=False, after=True)
    assert _journal.needs_capture(action)
    undo = _journal.undo_for(action, True, context())
    assert [u["op"] for u in undo] == ["set_ipv6_disabled", "restore_l3"]
    assert undo[0]["after"] is False and undo[1]["addresses"] == ["aa"]


def test_settings_of_a_new_link_are_undone_by_deleting_it():
    action = step("set_ipv6_disabled", before=None, after=True, new=True)
    assert not _journal.needs_capture(action)
    assert _journal.undo_for(action, True, context()) == []
    assert _journal.undo_for(step("set_link_state", before="down", after="up", new=True), True, context()) == []


def test_a_deleted_link_is_restored_with_its_ipv6_settings():
    view = dict(_plan.link_view(mv("mv0", 7, ipv6_disabled=True, ipv6_accept_ra=2), snap(), snap()), parent="eth1")
    view["addresses"], view["routes"] = [], []
    spec = _journal.restore_spec(view, capture().links["mv0"])
    assert spec["ipv6_disabled"] is True and spec["ipv6_accept_ra"] == 2


# --- rtnetlink codec ---------------------------------------------------------------------------------------


def af_spec(conf_values, mode=None, with_inet=True):
    conf = bytearray(4 * 80)
    for index, value in conf_values.items():
        struct.pack_into("=i", conf, 4 * index, value)
    inet6 = _rtnl.nla(1, struct.pack("=I", 0x80000000)) + _rtnl.nla(_rtnl.IFLA_INET6_CONF, bytes(conf))
    if mode is not None:
        inet6 += _rtnl.nla(_rtnl.IFLA_INET6_ADDR_GEN_MODE, bytes([mode]))
    families = _rtnl.nla(_rtnl.AF_INET, _rtnl.nla(1, bytes(4 * 33))) if with_inet else b""
    families += _rtnl.nla(_rtnl.AF_INET6, inet6)
    return _rtnl.nla(_rtnl.IFLA_AF_SPEC, families)


def macvlan_link(extra):
    info = _rtnl.nla(_rtnl.IFLA_INFO_KIND, b"macvlan\0") + _rtnl.nla(
        _rtnl.IFLA_INFO_DATA, _rtnl.nla(_rtnl.IFLA_MACVLAN_MODE, struct.pack("=I", 4))
    )
    return link_msg(7, "mv0", 0, _rtnl.nla(_rtnl.IFLA_LINKINFO, info) + extra)


@pytest.mark.parametrize(
    "conf, mode, expected",
    [
        ({26: 1, 3: 0, 5: 0}, 1, (True, False, False, "none")),
        ({26: 0, 3: 1, 5: 1}, 0, (False, True, True, "eui64")),
        ({26: 0, 3: 2, 5: 1}, 2, (False, 2, True, "stable_privacy")),
        ({3: 1, 5: 0}, 3, (False, True, False, "random")),
        ({}, 9, (False, False, False, 9)),
    ],
)
def test_the_devconf_array_and_the_generation_mode_are_read_from_the_link_dump(conf, mode, expected):
    link = parse(_rtnl.parse_link, macvlan_link(af_spec(conf, mode)), False)
    assert tuple(link[key] for key in _model.IPV6_OPTIONS) == expected
    # the indexes are the kernel's (include/uapi/linux/ipv6.h)
    assert (_rtnl.DEVCONF_ACCEPT_RA, _rtnl.DEVCONF_AUTOCONF, _rtnl.DEVCONF_DISABLE_IPV6) == (3, 5, 26)


def test_a_link_without_ipv6_state_reads_none_and_other_links_are_not_decoded():
    link = parse(_rtnl.parse_link, macvlan_link(af_spec({}, 0, with_inet=True)[:0]), False)
    assert [link[key] for key in _model.IPV6_OPTIONS] == [None] * 4
    only_inet = _rtnl.nla(_rtnl.IFLA_AF_SPEC, _rtnl.nla(_rtnl.AF_INET, _rtnl.nla(1, bytes(8))))
    link = parse(_rtnl.parse_link, macvlan_link(only_inet), False)
    assert [link[key] for key in _model.IPV6_OPTIONS] == [None] * 4
    veth = parse(_rtnl.parse_link, link_msg(3, "eth1", 0, af_spec({26: 1}, 1)), False)
    assert "ipv6_disabled" not in veth
    # a short (older kernel's) array: the values it has, None for the rest
    short = _rtnl.nla(
        _rtnl.IFLA_AF_SPEC, _rtnl.nla(_rtnl.AF_INET6, _rtnl.nla(_rtnl.IFLA_INET6_CONF, struct.pack("=6i", *range(6))))
    )
    link = parse(_rtnl.parse_link, macvlan_link(short), False)
    assert (link["ipv6_accept_ra"], link["ipv6_autoconf"], link["ipv6_disabled"]) == (3, 5, None)


def test_the_generation_mode_request_golden_bytes():
    data = _rtnl.addr_gen_mode_request(7, _model.ADDR_GEN_MODES["stable_privacy"])(42)
    length, msg_type, flags, seq, dummy = _rtnl.NLMSGHDR.unpack_from(data)
    assert (length, msg_type, flags, seq) == (len(data), _rtnl.RTM_NEWLINK, 0x5, 42)
    assert _rtnl.IFINFOMSG.unpack_from(data, 16) == (0, 0, 7, 0, 0)
    assert data[32:] == bytes.fromhex("1000 1a00 0c00 0a00 0500 0800 0200 0000".replace(" ", ""))


# --- persistence -------------------------------------------------------------------------------------------

LINK = {"name": "mv6", "parent": "eth1", "mode": "bridge"}


def want(**options):
    return _persist.prepare({"links": [dict(LINK, **options)], "parents": []})


def text_of(result, suffix):
    return "".join(spec["content"] for path, spec in result.files.items() if path.endswith(suffix))


def network_section(text):
    return text.split("[Network]\n", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize(
    "options, lines",
    [
        ({}, []),
        ({"ipv6_disabled": True}, ["LinkLocalAddressing=no", "IPv6AcceptRA=no"]),
        (
            {"ipv6_disabled": False, "ipv6_accept_ra": True, "ipv6_addr_gen_mode": "stable_privacy"},
            ["LinkLocalAddressing=ipv6", "IPv6LinkLocalAddressGenerationMode=stable-privacy", "IPv6AcceptRA=yes"],
        ),
        (
            {"ipv6_addr_gen_mode": "none", "ipv6_accept_ra": False},
            ["LinkLocalAddressing=no", "IPv6LinkLocalAddressGenerationMode=none", "IPv6AcceptRA=no"],
        ),
        ({"ipv6_addr_gen_mode": "random"}, ["LinkLocalAddressing=ipv6", "IPv6LinkLocalAddressGenerationMode=random"]),
    ],
)
def test_networkd_renders_the_options_in_the_network_section(options, lines):
    result = networkd.plan(want(**options), PREFIX, ND, {}, None, None, 252)
    section = network_section(text_of(result, "link-mv6.network"))
    assert [line for line in section.splitlines() if "IPv6" in line or "LinkLocal" in line] == lines


def test_networkd_says_what_is_not_persisted():
    result = networkd.plan(
        want(ipv6_disabled=True, ipv6_autoconf=False, ipv6_addr_gen_mode="random"), PREFIX, ND, {}, None, None, 245
    )
    text = " | ".join(result.warnings)
    assert "not persisted: ipv6_autoconf (systemd-networkd has no setting for it" in text
    assert "ipv6_disabled is persisted as LinkLocalAddressing=no and IPv6AcceptRA=no" in text
    assert (
        "ipv6_addr_gen_mode is not persisted: systemd-networkd writes it (IPv6LinkLocalAddressGenerationMode=) "
        "from systemd 246 on, and this host has systemd 245" in text
    )
    assert "IPv6LinkLocalAddressGenerationMode" not in text_of(result, "link-mv6.network")
    # autoconf true is the kernel's default: nothing to report
    result = networkd.plan(want(ipv6_autoconf=True), PREFIX, ND, {}, None, None, 252)
    assert result.warnings == []


@pytest.mark.parametrize(
    "options, addresses, section",
    [
        ({}, [], ["method=ignore"]),
        ({"ipv6_disabled": True}, [], ["method=disabled"]),
        ({"ipv6_accept_ra": True}, [], ["method=auto"]),
        ({"ipv6_accept_ra": True}, ["2001:db8::5/64"], ["method=auto", "address1=2001:db8::5/64"]),
        ({"ipv6_accept_ra": False}, [], ["method=link-local"]),
        ({"ipv6_accept_ra": False}, ["2001:db8::5/64"], ["method=manual", "address1=2001:db8::5/64"]),
        ({"ipv6_addr_gen_mode": "eui64"}, [], ["addr-gen-mode=eui64", "method=link-local"]),
        ({"ipv6_addr_gen_mode": "stable_privacy"}, [], ["addr-gen-mode=stable-privacy", "method=link-local"]),
        ({"ipv6_addr_gen_mode": "none"}, [], ["method=ignore"]),
    ],
)
def test_networkmanager_renders_the_ipv6_method_and_generation_mode(options, addresses, section):
    result = nm.plan(want(addresses=addresses, **options), PREFIX, NM, SD, {})
    text = text_of(result, ".nmconnection").split("[ipv6]\n", 1)[1]
    assert text.splitlines() == section


def test_networkmanager_says_what_is_not_persisted():
    result = nm.plan(want(ipv6_addr_gen_mode="none", ipv6_autoconf=False, ipv6_accept_ra=True), PREFIX, NM, SD, {})
    text = " | ".join(result.warnings)
    assert "not persisted: ipv6_autoconf (NetworkManager has no setting for it" in text
    assert "ipv6_addr_gen_mode none is not persisted: NetworkManager's ipv6.addr-gen-mode knows eui64" in text
    assert "ipv6_accept_ra is persisted as ipv6.method=auto" in text


def test_ifupdown_sets_everything_before_the_link_comes_up():
    result = ifupdown.plan(
        want(ipv6_disabled=True, ipv6_accept_ra=False, ipv6_autoconf=False, ipv6_addr_gen_mode="stable_privacy"),
        PREFIX,
        IF,
        {},
    )
    stanza = text_of(result, "link-mv6")
    lines = [line.strip() for line in stanza.splitlines()]
    wanted = [
        "pre-up ip link set dev mv6 addrgenmode stable_secret",
        "pre-up echo 0 > /proc/sys/net/ipv6/conf/mv6/accept_ra",
        "pre-up echo 0 > /proc/sys/net/ipv6/conf/mv6/autoconf",
        "pre-up echo 1 > /proc/sys/net/ipv6/conf/mv6/disable_ipv6",
    ]
    create = next(i for i, line in enumerate(lines) if "ip link add link eth1 name mv6" in line)
    assert lines[create + 1 : create + 5] == wanted
    assert result.warnings == []
    plain = text_of(ifupdown.plan(want(), PREFIX, IF, {}), "link-mv6")
    assert "ipv6" not in plain and "addrgenmode" not in plain
