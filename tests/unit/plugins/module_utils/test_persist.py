"""Persistence, the rules every backend shares (pure, no root): what is refused, the prefix and directories,
the drift report, the interfaces-file check and how ``auto`` chooses."""

from __future__ import annotations

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_ifupdown as ifupdown
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_networkd as networkd
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_nm as nm
from ansible_collections.hostnet.macvlan.plugins.module_utils._persist import PersistError
from ansible_collections.hostnet.macvlan.tests.unit.plugins.module_utils.test_persist_helpers import (
    IF,
    ND,
    NM,
    PREFIX,
    SD,
    desired,
    file_entry,
    listing_of,
)

INJECTION = "fe80::5%x\n[Network]\nDNS=203.0.113.53\n#/64"


def plan_all(want):
    """Plan every backend; the first refusal is raised."""
    return [
        networkd.plan(want, PREFIX, ND, {}),
        nm.plan(want, PREFIX, NM, SD, {}),
        ifupdown.plan(want, PREFIX, IF, {}),
    ]


def refused(links=None, parents=None, backends=("networkd", "networkmanager", "ifupdown"), **extra):
    """The error message, the same for every backend (a refusal plans no file anywhere)."""
    messages = set()
    try:
        want = desired(links=links, parents=parents if parents is not None else [], **extra)
    except PersistError as exc:
        return str(exc)
    planners = {
        "networkd": lambda: networkd.plan(want, PREFIX, ND, {}),
        "networkmanager": lambda: nm.plan(want, PREFIX, NM, SD, {}),
        "ifupdown": lambda: ifupdown.plan(want, PREFIX, IF, {}),
    }
    for backend in backends:
        with pytest.raises(PersistError) as err:
            planners[backend]()
        messages.add(str(err.value).replace("ifupdown", "<stack>").replace("systemd-networkd", "<stack>"))
        messages = {m.replace("NetworkManager", "<stack>") for m in messages}
    assert len(messages) == 1, messages
    return messages.pop()


# --- what cannot be written safely ------------------------------------------------------------------------


def test_the_scope_id_injection_in_an_address_is_refused():
    message = refused(links=[{"name": "mv0", "parent": "eth1", "addresses": [INJECTION]}])
    assert message.startswith("links[0].addresses: %r" % INJECTION)


@pytest.mark.parametrize(
    "link, option",
    [
        ({"name": "mv0\n[Network]", "parent": "eth1"}, "links[0].name"),
        ({"name": "mv0", "parent": "eth1\nDNS=1.1.1.1"}, "links[0].parent"),
        ({"name": "mv0", "parent": "eth1", "mac_address": "02:00:00:00:00:01\n[Network]"}, "links[0].mac_address"),
        ({"name": "../../../escaped", "parent": "eth1"}, "links[0].name"),
        ({"name": "mv0", "parent": "../eth1"}, "links[0].parent"),
        ({"name": "mv[0]", "parent": "eth1"}, "links[0].name"),
        ({"name": "a=b", "parent": "eth1"}, "links[0].name"),
        ({"name": "mv0", "parent": "eth*"}, "links[0].parent"),
        ({"name": "mv;reboot", "parent": "eth1"}, "links[0].name"),
        ({"name": "mv$(id)", "parent": "eth1"}, "links[0].name"),
        ({"name": "ünï", "parent": "eth1"}, "links[0].name"),
        ({"name": "-mv", "parent": "eth1"}, "links[0].name"),
        ({"name": "mv0", "parent": "eth1", "addresses": ["192.0.2.1/24\nDNS=1.1.1.1"]}, "links[0].addresses"),
        (
            {"name": "mv0", "parent": "eth1", "routes": [{"dest": "0.0.0.0/0", "gateway": "fe80::1%eth9"}]},
            "links[0].routes",
        ),
        (
            {"name": "mv0", "parent": "eth1", "source_macs": ["02:00:00:00:00:01\nx"], "mode": "source"},
            "links[0].source_macs",
        ),
    ],
)
def test_unsafe_values_are_refused_naming_option_and_value(link, option):
    message = refused(links=[link])
    assert message.startswith(option), message
    for key in ("name", "parent", "mac_address"):
        if option.endswith("." + key):
            assert message.startswith("%s: %r" % (option, link[key])), message


@pytest.mark.parametrize("name", ["eth1\n", "eth[1]", "eth=1", "../x", "eth 1"])
def test_unsafe_parent_names_in_parents_are_refused(name):
    message = refused(links=[], parents=[{"name": name}])
    assert message.startswith(("parents[0].name: %r" % name, "parents: %r" % name)), message


def test_safe_unusual_names_are_written():
    """Names with '.', '@', '+' and '_' are fine in systemd and NetworkManager files."""
    links = [{"name": "mv.10", "parent": "br-lan@x"}, {"name": "mv+a_b", "parent": "eth0.100"}]
    plans = [
        networkd.plan(desired(links=links, parents=[]), PREFIX, ND, {}),
        nm.plan(desired(links=links, parents=[]), PREFIX, NM, SD, {}),
    ]
    assert all(plan.files for plan in plans)


def test_nothing_is_planned_when_one_link_is_refused():
    links = [{"name": "good", "parent": "eth1"}, {"name": "mv0", "parent": "eth1", "addresses": [INJECTION]}]
    with pytest.raises(PersistError):
        plan_all(desired(links=links, parents=[]))


def test_duplicate_names_in_the_host_namespace_are_refused_and_other_namespaces_may_repeat_them():
    links = [
        {"name": "eth0", "parent": "p0", "link_netns": "ns1"},
        {"name": "eth0", "parent": "p0", "link_netns": "ns2"},
    ]
    want = desired(links=links, parents=[])
    assert want.persisted == [] and want.listed == {"eth0"}
    links.append({"name": "eth0", "parent": "p0"})
    assert desired(links=links, parents=[]).written == {"eth0"}
    with pytest.raises(
        PersistError, match=r"links\[1\]\.name: 'mv0' is listed twice for the host namespace \(also links\[0\]\)"
    ):
        desired(links=[{"name": "mv0", "parent": "p0"}, {"name": "mv0", "parent": "p1"}], parents=[])


def test_a_link_netns_that_is_the_host_namespace_is_persisted():
    want = _persist.prepare(
        {"links": [{"name": "mv0", "parent": "p0", "link_netns": "/proc/1/ns/net"}]}, lambda ns: True
    )
    assert want.written == {"mv0"}


def test_parents_listed_twice_and_bad_purge_exclude_are_refused():
    with pytest.raises(PersistError, match=r"parents\[1\]\.name: 'eth1' is listed twice"):
        desired(links=[], parents=[{"name": "eth1"}, {"name": "eth1", "promisc": False}])
    with pytest.raises(PersistError, match=r"purge_exclude"):
        desired(links=[], parents=[], purge_exclude=["a/b"])


# --- prefix and directories ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix, reason",
    [
        ("", "non-empty"),
        ("60-x/", "must not contain '/'"),
        ("../60-x-", "must not contain '/'"),
        ("60 x-", "printable ASCII"),
        ("60-x\n", "printable ASCII"),
        ("60-\tx", "printable ASCII"),
        ("60-é-", "printable ASCII"),
        (".60-x-", "must not start with '.'"),
        ("x" * 101, "too long"),
        ("60-mv[1]-", "read as patterns by the shell globs"),
        ("60-mv*-", "read as patterns by the shell globs"),
        ("60-a,b-", "split by Ansible's list options"),
        ("60-mv?-", "ASCII letters, digits"),
    ],
)
def test_bad_prefixes_are_refused(prefix, reason):
    with pytest.raises(PersistError) as err:
        _persist.validate_prefix(prefix)
    assert str(err.value).startswith("prefix: %r" % prefix)
    assert reason in str(err.value)


def test_prefixes_per_backend():
    assert _persist.validate_prefix("60-x.y-", "networkd") == "60-x.y-"
    assert _persist.validate_prefix("60-x.y-", "networkmanager") == "60-x.y-"
    with pytest.raises(PersistError, match="cannot be used with ifupdown"):
        _persist.validate_prefix("60-x.y-", "ifupdown")
    with pytest.raises(PersistError, match="cannot be used with networkmanager"):
        _persist.validate_prefix("60-x@y-", "networkmanager")
    assert _persist.validate_prefix("60-x@y-", "networkd") == "60-x@y-"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/etc/systemd/network", "/etc/systemd/network"),
        ("/etc//systemd/./network/", "/etc/systemd/network"),
        ("//etc/network/interfaces.d", "/etc/network/interfaces.d"),
        ("/etc/x/../network", "/etc/network"),
    ],
)
def test_directories_are_normalised(value, expected):
    assert _persist.validate_dir(value, "networkd_dir") == expected


@pytest.mark.parametrize(
    "value, reason",
    [("etc/network", "absolute"), ("", "absolute"), ("/", "root"), ("/a/..", "root"), ("/etc\n/x", "control")],
)
def test_bad_directories_are_refused(value, reason):
    with pytest.raises(PersistError) as err:
        _persist.validate_dir(value, "ifupdown_dir")
    assert str(err.value).startswith("ifupdown_dir: %r" % value)
    assert reason in str(err.value)


def test_every_planned_path_is_inside_its_directory():
    assert _persist.inside("/etc/x", "/etc/x/a")
    assert not _persist.inside("/etc/x", "/etc/x")
    assert not _persist.inside("/etc/x", "/etc/xy/a")
    assert not _persist.inside("/etc/x", "/etc/x/../y")
    assert not _persist.inside("/etc/x", "/etc/x//a")
    for bad in ("..", ".", "a/b", ""):
        with pytest.raises(PersistError):
            _persist.join("/etc/x", bad)
    plan = _persist.Plan("networkd")
    with pytest.raises(PersistError):
        plan.write("/etc/x", "/etc/y/a", "")
    for plan in plan_all(desired()):
        for path in list(plan.files) + list(plan.remove):
            assert _persist.inside(plan.bases[path], path)
            assert path.rsplit("/", 1)[1].startswith(PREFIX)


# --- the drift report -----------------------------------------------------------------------------------


def test_drift_missing_differs_extra():
    want = desired(links=[{"name": "mv-a", "parent": "eth1"}, {"name": "mv-b", "parent": "eth1"}], parents=[])
    plan = ifupdown.plan(want, PREFIX, IF, {})
    on_disk = listing_of(plan)
    a, b = IF + "/" + PREFIX + "link-mv-a", IF + "/" + PREFIX + "link-mv-b"
    on_disk[a] = file_entry(on_disk[a].content.replace("bridge", "vepa"))
    on_disk[b] = file_entry(on_disk[b].content, mode=0o600)
    stale = IF + "/" + PREFIX + "link-mv-c"
    on_disk[stale] = file_entry("iface mv-c inet manual\n    pre-up ip link add link eth1 name mv-c type macvlan\n")
    del on_disk[IF + "/" + PREFIX + "link-mv-a"]
    want = desired(
        links=[
            {"name": "mv-a", "parent": "eth1"},
            {"name": "mv-b", "parent": "eth1"},
            {"name": "mv-c", "state": "absent"},
        ],
        parents=[],
    )
    plan = ifupdown.plan(want, PREFIX, IF, on_disk)
    assert _persist.drift(plan, on_disk) == [(a, "missing"), (b, "differs"), (stale, "extra")]


def test_drift_of_symbolic_links_and_files_that_are_links():
    plan = nm.plan(desired(links=[], parents=[{"name": "eth1"}]), PREFIX, NM, SD, {})
    on_disk = listing_of(plan)
    wants = SD + "/multi-user.target.wants/" + PREFIX + "promisc@eth1.service"
    on_disk[wants] = _persist.Entry("symlink", target="/elsewhere")
    unit = SD + "/" + PREFIX + "promisc@.service"
    on_disk[unit] = _persist.Entry("symlink", target="/etc/shadow")
    assert _persist.drift(plan, on_disk) == [(unit, "differs"), (wants, "differs")]


# --- ifupdown's interfaces file ---------------------------------------------------------------------------


def interfaces(files, directories=None):
    """read/expand/listdir over an in-memory tree."""
    directories = directories or {}

    def read(path):
        return files.get(path)

    def expand(pattern):
        found = [p for p in list(files) + list(directories) if _persist.glob_match(pattern, p)]
        return found

    def listdir(path):
        return directories.get(path, [])

    return read, expand, listdir


DEBIAN = "# interfaces(5) file used by ifup(8) and ifdown(8)\n# Include files from /etc/network/interfaces.d:\nsource /etc/network/interfaces.d/*\n"


@pytest.mark.parametrize(
    "text, sourced",
    [
        (DEBIAN, True),
        ("source-directory /etc/network/interfaces.d\n", True),
        ("source-directory interfaces.d\n", True),
        ("source interfaces.d/*\n", True),
        ("source /etc/network/interfaces.d/60-*\n", True),
        ("source /etc/network/interfaces.d/*.cfg\n", False),
        ("# source /etc/network/interfaces.d/*\nauto lo\n", False),
        ("source /etc/network/other.d/*\n", False),
        ("source-directory /etc/network/interfaces.d/\n", True),
        ("source-directory /etc/network/*.d\n", True),
        ("source \\\n  /etc/network/interfaces.d/*\n", True),
    ],
)
def test_does_the_interfaces_file_source_the_directory(text, sourced):
    read, expand, listdir = interfaces({"/etc/network/interfaces": text})
    found = _persist.sources_directory(
        "/etc/network/interfaces", "/etc/network/interfaces.d", ifupdown.sample_name(PREFIX), read, expand, listdir
    )
    assert found is sourced


def test_the_interfaces_check_follows_sourced_files_and_a_missing_file_warns():
    files = {"/etc/network/interfaces": "source /etc/network/main.conf\n", "/etc/network/main.conf": DEBIAN}
    read, expand, listdir = interfaces(files)
    args = ("/etc/network/interfaces.d", ifupdown.sample_name(PREFIX), read, expand, listdir)
    assert _persist.sources_directory("/etc/network/interfaces", *args)
    assert not _persist.sources_directory("/etc/network/missing", *args)


def test_interfaces_in_use():
    files = {
        "/etc/network/interfaces": DEBIAN + "auto lo\niface lo inet loopback\n",
        "/etc/network/interfaces.d/eth0": "allow-hotplug eth0\niface eth0 inet dhcp\niface eth0 inet6 auto\n",
    }
    read, expand, listdir = interfaces(files)
    assert _persist.ifupdown_interfaces("/etc/network/interfaces", read, expand, listdir) == ["eth0"]
    read, expand, listdir = interfaces({"/etc/network/interfaces": DEBIAN + "auto lo\niface lo inet loopback\n"})
    assert _persist.ifupdown_interfaces("/etc/network/interfaces", read, expand, listdir) == []


# --- auto -----------------------------------------------------------------------------------------------


def test_auto_chooses_the_running_stack():
    units = {"NetworkManager.service": True, "systemd-networkd.service": True, "networking.service": True}
    assert _persist.choose_backend(True, units, [])[0] == "networkmanager"
    units["NetworkManager.service"] = False
    assert _persist.choose_backend(True, units, []) == ("networkd", "systemd-networkd.service is active")
    units["systemd-networkd.service"] = False
    assert _persist.choose_backend(True, units, [])[0] == "ifupdown"
    units["networking.service"] = False
    assert _persist.choose_backend(True, units, ["eth0"])[0] == "ifupdown"
    backend, reason = _persist.choose_backend(False, units, [])
    assert backend is None and "systemd is not running" in reason
    backend, reason = _persist.choose_backend(False, {"systemd-networkd.service": True}, [])
    assert backend == "networkd" and "enabled" in reason


def test_link_options_a_backend_does_not_know_are_reported():
    spec = dict(desired(links=[{"name": "mv0", "parent": "eth1"}], parents=[]).persisted[0][1])
    spec["ipv6_autoconf"] = False  # networkd has no setting for the autoconf sysctl
    assert _persist.not_persisted(spec, networkd.HANDLED) == ["ipv6_autoconf"]


@pytest.mark.parametrize(
    "key, value",
    [
        ("addresses", [INJECTION]),
        ("addresses", ["fe80::5%eth0/64"]),
        ("mac_address", "02:00:00:00:00:01\n[Network]"),
        ("parent", "eth1\nDNS=1"),
        ("routes", [{"dest": "0.0.0.0/0", "gateway": "fe80::1%x\n[Network]", "metric": 0}]),
        ("routes", [{"dest": "10.0.0.0/8\nDNS=1", "gateway": None, "metric": 0}]),
        ("mtu", "1400\n"),
        ("source_macs", ["02:00:00:00:00:01 DNS=1"]),
    ],
)
def test_the_planners_refuse_unsafe_values_even_when_normalisation_let_them_through(key, value):
    """The last line of defence: a spec as _model might return it, with a raw value in it, is never written."""
    spec = dict(desired(links=[{"name": "mv0", "parent": "eth1"}], parents=[]).persisted[0][1])
    spec[key] = value
    want = _persist.Desired([(0, spec)], {})
    for planner in (
        lambda: networkd.plan(want, PREFIX, ND, {}),
        lambda: nm.plan(want, PREFIX, NM, SD, {}),
        lambda: ifupdown.plan(want, PREFIX, IF, {}),
    ):
        with pytest.raises(PersistError) as err:
            planner()
        assert str(err.value).startswith("links[0].%s" % key), str(err.value)
