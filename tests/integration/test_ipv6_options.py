"""Per-link IPv6 options on the real kernel (issue 13, item 1): ipv6_disabled, ipv6_accept_ra, ipv6_autoconf and
ipv6_addr_gen_mode. The oracle is the kernel as other tools show it: ``ip netns exec NS sysctl -n
net.ipv6.conf.LINK.KEY`` for the three sysctls of the link's own namespace, ``ip -j -d link`` for the address
generation mode, ``ip -j addr`` and ``ip monitor address`` for link-local addresses, and the full iproute2 dump
(``oracle.full_dump``) plus the sysctls for "nothing changed" and "rolled back exactly"."""

from __future__ import annotations

import json
import subprocess
import time

import faults_helpers
import pytest
from faults_helpers import assert_clean_failure
from oracle import assert_same, full_dump
from role_helpers import parse_ini, section
from test_persist_module import converge as persist_converge
from test_persist_module import dirs as persist_dirs

faults = faults_helpers.faults

KEYS = ("disable_ipv6", "accept_ra", "autoconf")


def sysctl(ns, link, key):
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv6.conf.%s.%s" % (link, key)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout.strip())


def set_sysctl(ns, key, value):
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "%s=%s" % (key, value)], check=True)


def ipv6_state(lab, ns, name):
    """(disable_ipv6, accept_ra, autoconf, addrgenmode) as sysctl and iproute2 show them."""
    link = lab.link(ns, name)
    return tuple(sysctl(ns, name, key) for key in KEYS) + (link.get("inet6_addr_gen_mode"),)


def link_local(lab, ns, name):
    data = subprocess.run(
        ["ip", "-n", ns, "-j", "-6", "addr", "show", "dev", name], capture_output=True, text=True, check=True
    ).stdout
    return [a["local"] for e in json.loads(data or "[]") for a in e.get("addr_info", []) if a.get("scope") == "link"]


def wait_for_link_local(lab, ns, name, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = link_local(lab, ns, name)
        if found:
            return found
        time.sleep(0.05)
    return []


@pytest.fixture
def host(lab):
    ns = faults_helpers.quiet_netns(lab, "host")
    lab.veth(ns, "p0", "q0")
    return ns


def test_create_with_each_option_change_in_place_rerun_check_and_diff(lab, ansible, host):
    first = ansible.converge(
        "macvlan",
        netns=host,
        name="mv6",
        parent="p0",
        ipv6_disabled=False,
        ipv6_accept_ra=False,
        ipv6_autoconf=False,
        ipv6_addr_gen_mode="none",
    )
    assert first["changed"] is True
    assert ipv6_state(lab, host, "mv6") == (0, 0, 0, "none")
    assert "UP" in lab.link(host, "mv6")["flags"]
    assert wait_for_link_local(lab, host, "mv6", 0.5) == []
    link = first["link"]
    assert (link["ipv6_disabled"], link["ipv6_accept_ra"], link["ipv6_autoconf"], link["ipv6_addr_gen_mode"]) == (
        False,
        False,
        False,
        "none",
    )
    # created down, set, then brought up: the actions say so in this order
    ops = [line.split(" ")[0] + " " + line.split(" ")[1] for line in first["actions"]]
    assert ops[0] == "create macvlan" and "(down" not in first["actions"][0], first["actions"]
    assert "down)" in first["actions"][0] or ", down" in first["actions"][0], first["actions"]
    assert first["actions"][-1].startswith("set link state of mv6: up"), first["actions"]
    assert any(line.startswith("set ipv6 addr gen mode of mv6: none") for line in first["actions"][1:-1])

    changed = {
        "ipv6_disabled": False,
        "ipv6_accept_ra": True,
        "ipv6_autoconf": True,
        "ipv6_addr_gen_mode": "eui64",
    }
    planned = ansible.run("macvlan", check=True, diff=True, netns=host, name="mv6", parent="p0", **changed)
    assert planned["changed"] is True and "skipped" not in planned
    assert ipv6_state(lab, host, "mv6") == (0, 0, 0, "none"), "check mode changed the kernel"
    assert planned["diff"]["before"]["ipv6_accept_ra"] is False and planned["diff"]["after"]["ipv6_accept_ra"] is True
    assert planned["diff"]["before"]["ipv6_addr_gen_mode"] == "none"
    assert planned["diff"]["after"]["ipv6_addr_gen_mode"] == "eui64"
    assert "ipv6_disabled" not in planned["diff"]["after"]  # unchanged keys stay out of the diff

    ansible.converge("macvlan", netns=host, name="mv6", parent="p0", **changed)
    assert ipv6_state(lab, host, "mv6") == (0, 1, 1, "eui64")

    # omitted = unmanaged: nothing changes, whatever the link holds
    untouched = ansible.run("macvlan", netns=host, name="mv6", parent="p0")
    assert untouched["changed"] is False
    assert ipv6_state(lab, host, "mv6") == (0, 1, 1, "eui64")

    ansible.converge("macvlan", netns=host, name="mv6", parent="p0", ipv6_disabled=True)
    assert ipv6_state(lab, host, "mv6")[0] == 1
    assert link_local(lab, host, "mv6") == []


def test_applied_in_the_namespace_the_link_lives_in(lab, ansible_default, host):
    """Created in ``host`` into ``link_netns``: the sysctls of that namespace change, not those of ``host``."""
    other = faults_helpers.quiet_netns(lab, "other")
    options = {"ipv6_accept_ra": False, "ipv6_autoconf": False, "ipv6_addr_gen_mode": "none"}
    ansible_default.converge("macvlan", netns=host, link_netns=other, name="mvn", parent="p0", **options)
    assert ipv6_state(lab, other, "mvn") == (0, 0, 0, "none")
    assert lab.link(host, "mvn") is None
    assert wait_for_link_local(lab, other, "mvn", 0.5) == []
    ansible_default.converge(
        "macvlan", netns=host, link_netns=other, name="mvn", parent="p0", **dict(options, ipv6_accept_ra=True)
    )
    assert ipv6_state(lab, other, "mvn") == (0, 1, 0, "none")
    # a link that exists in host is moved into other, which gives it other's defaults: the options are set there
    lab.ip(host, "link", "add", "link", "p0", "name", "mvm", "up", "type", "macvlan", "mode", "bridge")
    lab.ip(host, "link", "set", "mvm", "addrgenmode", "none")
    set_sysctl(host, "net.ipv6.conf.mvm.accept_ra", 0)
    moved = ansible_default.converge("macvlan", netns=host, link_netns=other, name="mvm", parent="p0", **options)
    assert moved["actions"][0].startswith("move mvm"), moved["actions"]
    assert ipv6_state(lab, other, "mvm") == (0, 0, 0, "none") and lab.link(host, "mvm") is None


def test_state_module_and_info_report_under_the_option_names(lab, ansible_default, host):
    set_sysctl(host, "net.ipv6.conf.default.stable_secret", "2001:db8:1:2:3:4:5:6")
    links = [
        {"name": "mva", "parent": "p0", "ipv6_accept_ra": False, "ipv6_addr_gen_mode": "stable_privacy"},
        {"name": "mvb", "parent": "p0", "ipv6_disabled": True, "ipv6_autoconf": False},
    ]
    result = ansible_default.converge("macvlan_state", netns=host, links=links)
    assert result["links_changed"] == 2
    assert ipv6_state(lab, host, "mva")[1:] == (0, 1, "stable_secret")
    assert ipv6_state(lab, host, "mvb")[0::2] == (1, 0)
    info = ansible_default.run("macvlan_info", netns=host, names=["mva", "mvb"], state_links=True)
    facts = info["links"]
    assert facts["mva"]["ipv6_accept_ra"] is False and facts["mva"]["ipv6_addr_gen_mode"] == "stable_privacy"
    assert facts["mva"]["ipv6_disabled"] is False and facts["mva"]["ipv6_autoconf"] is True
    assert facts["mvb"]["ipv6_disabled"] is True and facts["mvb"]["ipv6_autoconf"] is False
    state_links = {link["name"]: link for link in info["state_links"]}
    assert state_links["mvb"]["ipv6_disabled"] is True and state_links["mva"]["ipv6_addr_gen_mode"] == "stable_privacy"
    # accept_ra 2 (accept even when forwarding) is reported as 2, and true makes it 1
    set_sysctl(host, "net.ipv6.conf.mva.accept_ra", 2)
    info = ansible_default.run("macvlan_info", netns=host, names=["mva"], state_links=True)
    assert info["links"]["mva"]["ipv6_accept_ra"] == 2
    assert "ipv6_accept_ra" not in info["state_links"][0]  # 2 has no spelling in the option (a bool)
    ansible_default.converge("macvlan_state", netns=host, links=[dict(links[0], ipv6_accept_ra=True)])
    assert sysctl(host, "mva", "accept_ra") == 1


@pytest.mark.parametrize("options", [{"ipv6_addr_gen_mode": "none"}, {"ipv6_disabled": True}])
def test_a_new_link_never_shows_a_link_local_address(lab, ansible_default, host, options):
    """``ip monitor address`` runs through the whole creation: no fe80 address of the link, not even for a
    moment; a control link created without the options gets one (the monitor sees it)."""
    monitor = subprocess.Popen(["ip", "-n", host, "-o", "monitor", "address"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        ansible_default.converge(
            "macvlan_state",
            netns=host,
            links=[dict({"name": "mvq", "parent": "p0"}, **options), {"name": "mvc", "parent": "p0"}],
        )
        assert wait_for_link_local(lab, host, "mvc")  # the control link got its link-local address
        time.sleep(0.5)
    finally:
        monitor.terminate()
        output, dummy = monitor.communicate(timeout=5)
    assert any(" mvc " in line and "fe80" in line for line in output.splitlines()), output
    assert not [line for line in output.splitlines() if " mvq " in line], output
    assert link_local(lab, host, "mvq") == []


@pytest.mark.parametrize("change", [{"mode": "passthru"}, {"type": "macvtap"}], ids=["passthru", "macvtap"])
def test_a_recreated_link_gets_its_ipv6_options_and_comes_up(lab, ansible_default, host, change):
    """A change the kernel cannot make in place (into passthru, macvlan to macvtap) re-creates the link: the new
    link gets the IPv6 options and comes up (they were applied to the old link before the re-creation, and the
    new one stayed down: the run failed its read-back and rolled back). Then the rerun changes nothing."""
    lab.ip(host, "link", "add", "link", "p0", "name", "mvr", "up", "type", "macvlan", "mode", "bridge")
    args = {"netns": host, "links": [dict({"name": "mvr", "parent": "p0", "ipv6_addr_gen_mode": "none"}, **change)]}
    result = ansible_default.run("macvlan_state", **args)
    assert result["changed"] is True and not result.get("failed"), result.get("msg")
    link = lab.link(host, "mvr")
    assert "UP" in link["flags"] and link["inet6_addr_gen_mode"] == "none"
    assert link["linkinfo"]["info_kind"] == change.get("type", "macvlan")
    assert link["linkinfo"]["info_data"]["mode"] == change.get("mode", "bridge")
    time.sleep(0.5)
    assert link_local(lab, host, "mvr") == []
    again = ansible_default.run("macvlan_state", **args)
    assert again["changed"] is False and not again.get("failed"), again.get("msg")


@pytest.mark.parametrize("check", [True, False], ids=["check", "run"])
def test_ipv6_options_on_a_link_that_inherits_an_mtu_below_1280_are_refused(lab, ansible_default, host, check):
    """The parent's MTU is 1200: a new link inherits it, and the kernel keeps no IPv6 state below 1280. Refused
    before anything changes (it failed part-way with EAFNOSUPPORT and rolled back; check mode said changed)."""
    lab.ip(host, "link", "set", "p0", "mtu", "1200")
    before = full_dump(host)
    args = {"netns": host, "links": [{"name": "mvn", "parent": "p0", "ipv6_addr_gen_mode": "none"}]}
    result = ansible_default.run("macvlan_state", check=check, **args)
    assert result.get("failed") is True, result
    assert "ipv6_addr_gen_mode: mvn would have MTU 1200 (its parent's), below 1280" in result["msg"], result["msg"]
    assert full_dump(host) == before


def test_stable_privacy_without_a_secret_is_refused_before_any_change(lab, ansible_default, host):
    lab.ip(host, "link", "add", "link", "p0", "name", "mvs", "type", "macvlan", "mode", "bridge")
    before = full_dump(host), ipv6_state(lab, host, "mvs")
    for module, args in (
        ("macvlan", {"name": "mvs", "parent": "p0", "ipv6_addr_gen_mode": "stable_privacy"}),
        ("macvlan", {"name": "mvn", "parent": "p0", "ipv6_addr_gen_mode": "stable_privacy"}),
        (
            "macvlan_state",
            {
                "links": [
                    {"name": "mvn", "parent": "p0", "ipv6_addr_gen_mode": "stable_privacy", "ipv6_autoconf": False}
                ]
            },
        ),
    ):
        for check in (True, False):
            result = ansible_default.run(module, check=check, netns=host, **args)
            assert result.get("failed") is True, result
            assert "ipv6_addr_gen_mode: 'stable_privacy' needs a stable secret" in result["msg"], result["msg"]
            assert "net.ipv6.conf.default.stable_secret" in result["msg"]
            assert (full_dump(host), ipv6_state(lab, host, "mvs")) == before


@pytest.mark.parametrize(
    "args, message",
    [
        ({"ipv6_addr_gen_mode": "stable-privacy"}, "ipv6_addr_gen_mode"),
        ({"ipv6_disabled": "sometimes"}, "ipv6_disabled"),
        (
            {"ipv6_disabled": True, "addresses": ["2001:db8::7/64"]},
            "addresses: ['2001:db8::7/64'] has IPv6 addresses (2001:db8::7/64), and ipv6_disabled is true",
        ),
        (
            {"ipv6_disabled": True, "routes": [{"dest": "2001:db8:9::/48"}]},
            "has IPv6 routes (2001:db8:9::/48), and ipv6_disabled is true",
        ),
        (
            {"mtu": 1200, "ipv6_addr_gen_mode": "none"},
            "mtu: 1200 is below 1280, the IPv6 minimum: the kernel keeps no IPv6 state on such a link, so "
            "ipv6_addr_gen_mode cannot be set",
        ),
    ],
)
def test_bad_values_change_nothing(lab, ansible_default, host, args, message):
    lab.ip(host, "link", "add", "link", "p0", "name", "mvb", "up", "type", "macvlan", "mode", "bridge")
    before = full_dump(host), ipv6_state(lab, host, "mvb")
    result = ansible_default.run("macvlan", netns=host, name="mvb", parent="p0", **args)
    assert result.get("failed") is True, result
    assert message in result["msg"], result["msg"]
    assert (full_dump(host), ipv6_state(lab, host, "mvb")) == before


def test_addresses_on_a_link_with_ipv6_disabled_are_refused_clearly(lab, ansible_default, host):
    lab.ip(host, "link", "add", "link", "p0", "name", "mvd", "up", "type", "macvlan", "mode", "bridge")
    set_sysctl(host, "net.ipv6.conf.mvd.disable_ipv6", 1)
    before = full_dump(host)
    result = ansible_default.run("macvlan", netns=host, name="mvd", parent="p0", addresses=["2001:db8::8/64"])
    assert result.get("failed") is True
    assert result["msg"].startswith("ipv6_disabled: mvd has IPv6 disabled (disable_ipv6 is 1)"), result["msg"]
    assert_same(host, before)
    ansible_default.converge(
        "macvlan", netns=host, name="mvd", parent="p0", ipv6_disabled=False, addresses=["2001:db8::8/64"]
    )
    assert sysctl(host, "mvd", "disable_ipv6") == 0 and "2001:db8::8/64" in lab.addresses(host, "mvd")


@pytest.mark.parametrize("fault_op", ["set_ipv6_autoconf", "add_route"])
def test_a_fault_after_the_sysctl_step_rolls_back_exactly(lab, ansible, faults, host, fault_op):
    """The link holds an IPv6 address and route, accept_ra 1, autoconf 1, eui64: the run turns IPv6 off, RAs
    and autoconf off, and the mode to none; a fault in the middle of the IPv6 steps (at autoconf, after the mode and
    accept_ra) or after all of them (the other link's route) rolls all of it back: sysctls, mode, and the address
    and route the kernel dropped with IPv6, exactly."""
    lab.ip(host, "link", "add", "link", "p0", "name", "mvr", "up", "type", "macvlan", "mode", "bridge")
    lab.ip(host, "addr", "add", "2001:db8:5::5/64", "dev", "mvr")
    lab.ip(host, "addr", "add", "192.0.2.5/24", "dev", "mvr")
    set_sysctl(host, "net.ipv6.conf.mvr.accept_ra", 1)
    set_sysctl(host, "net.ipv6.conf.mvr.autoconf", 1)
    lab.ip(host, "-6", "route", "add", "2001:db8:77::/48", "via", "2001:db8:5::1", "dev", "mvr")
    before = full_dump(host), ipv6_state(lab, host, "mvr")
    assert before[1] == (0, 1, 1, "eui64")
    links = [
        {
            "name": "mvr",
            "parent": "p0",
            "ipv6_disabled": True,
            "ipv6_accept_ra": False,
            "ipv6_autoconf": False,
            "ipv6_addr_gen_mode": "none",
        },
        {"name": "mvx", "parent": "p0", "routes": [{"dest": "198.51.100.0/24", "gateway": "192.0.2.1"}]},
    ]
    fault = {"method": "apply", "op": fault_op, "at": 1, "raise": "errno:5"}
    run = faults.run(ansible, "macvlan_state", fault, netns=host, links=links)
    run.assert_fired()
    assert_clean_failure(run.result)
    done = run.result["actions"]
    assert any(line.startswith("set ipv6 accept ra of mvr: True -> False") for line in done), done
    if fault_op == "add_route":
        assert any(line.startswith("set ipv6 disabled of mvr: False -> True") for line in done), done
    assert ipv6_state(lab, host, "mvr") == before[1]
    assert_same(host, before[0])


PERSISTED = {
    "name": "mv6",
    "parent": "p0",
    "ipv6_disabled": False,
    "ipv6_accept_ra": False,
    "ipv6_autoconf": False,
    "ipv6_addr_gen_mode": "none",
}


def persist_args(tmp_path, backend, link=None):
    return dict(persist_dirs(tmp_path), backend=backend, reload=False, links=[link or PERSISTED], parents=[])


def systemd_version():
    proc = subprocess.run(["systemctl", "--version"], capture_output=True, text=True, check=False)
    return int(proc.stdout.split()[1]) if proc.returncode == 0 and proc.stdout.startswith("systemd ") else None


def test_persist_networkd(ansible_default, tmp_path):
    first = persist_converge(ansible_default, **persist_args(tmp_path, "networkd"))
    network = (tmp_path / "networkd" / "60-hostnet-macvlan-link-mv6.network").read_text()
    section = network.split("[Network]\n", 1)[1]
    assert "LinkLocalAddressing=no\n" in section and "IPv6AcceptRA=no\n" in section
    version = systemd_version()
    if version is not None and version >= 246:
        assert "IPv6LinkLocalAddressGenerationMode=none\n" in section
    else:
        assert "IPv6LinkLocalAddressGenerationMode" not in section
    warnings = first.get("warnings") or []
    assert any("not persisted: ipv6_autoconf (systemd-networkd has no setting for it" in w for w in warnings), warnings


def test_persist_networkmanager_keyfile_is_read_by_nmcli(ansible_default, tmp_path):
    link = dict(PERSISTED, ipv6_addr_gen_mode="stable_privacy")
    first = persist_converge(ansible_default, **persist_args(tmp_path, "networkmanager", link))
    text = (tmp_path / "nm" / "60-hostnet-macvlan-link-mv6.nmconnection").read_text()
    ipv6 = dict(section(parse_ini(text), "ipv6"))
    assert ipv6 == {"addr-gen-mode": "stable-privacy", "method": "link-local"}
    warnings = " | ".join(first.get("warnings") or [])
    assert "not persisted: ipv6_autoconf (NetworkManager has no setting for it" in warnings
    assert "from its own secret key, not from the kernel's stable_secret" in warnings
    proc = subprocess.run(
        ["nmcli", "--offline", "connection", "modify", "connection.id", "60-hostnet-macvlan-mv6"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    theirs = dict(section(parse_ini(proc.stdout), "ipv6"))
    assert theirs["method"] == "link-local" and theirs["addr-gen-mode"] == "stable-privacy", theirs
    disabled = persist_converge(
        ansible_default,
        **persist_args(tmp_path, "networkmanager", {"name": "mv6", "parent": "p0", "ipv6_disabled": True}),
    )
    assert not any("ipv6" in w for w in disabled.get("warnings") or [])
    text = (tmp_path / "nm" / "60-hostnet-macvlan-link-mv6.nmconnection").read_text()
    assert dict(section(parse_ini(text), "ipv6")) == {"method": "disabled"}


@pytest.mark.parametrize(
    "link, expected",
    [
        (PERSISTED, (0, 0, 0, "none")),
        (
            {"name": "mv6", "parent": "p0", "ipv6_disabled": True, "ipv6_addr_gen_mode": "random"},
            (1, None, None, "random"),
        ),
    ],
)
def test_persist_ifupdown_commands_set_everything_before_the_link_comes_up(
    ansible_default, lab, tmp_path, link, expected
):
    """ifup --no-act lists the commands ifup runs at boot; run in a namespace with the parent (while ``ip monitor``
    watches), they leave the sysctls and the mode as asked and the link never shows a link-local address."""
    interfaces = tmp_path / "interfaces"
    interfaces.write_text("source %s/*\n" % (tmp_path / "ifupdown"))
    first = persist_converge(ansible_default, **persist_args(tmp_path, "ifupdown", link))
    assert not [w for w in first.get("warnings") or [] if "ipv6" in w]
    proc = subprocess.run(
        ["ifup", "--no-act", "-i", str(interfaces), "mv6"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("run-parts")]
    up = next(i for i, c in enumerate(commands) if c.startswith("ip link set dev mv6 up"))
    assert any("addrgenmode" in c for c in commands[:up]), commands
    assert any("/proc/sys/net/ipv6/conf/mv6/disable_ipv6" in c for c in commands[:up]) == ("ipv6_disabled" in link)
    ns = faults_helpers.quiet_netns(lab, "ifup")
    lab.veth(ns, "p0", "q0")
    monitor = subprocess.Popen(["ip", "-n", ns, "-o", "monitor", "address"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        for command in commands:
            run = subprocess.run(
                ["ip", "netns", "exec", ns, "sh", "-c", command], capture_output=True, text=True, check=False
            )
            assert run.returncode == 0, "%s: %s" % (command, run.stderr)
        time.sleep(0.5)
    finally:
        monitor.terminate()
        output, dummy = monitor.communicate(timeout=5)
    assert "UP" in lab.link(ns, "mv6")["flags"]
    state = ipv6_state(lab, ns, "mv6")
    assert state[0] == expected[0] and state[3] == expected[3]
    if expected[1] is not None:
        assert state[1:3] == expected[1:3]
    assert not [line for line in output.splitlines() if " mv6 " in line], output
