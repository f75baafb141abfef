# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Persistence for NetworkManager: the owned file set, planned from the desired state (pure, no I/O).

One keyfile connection per link, ``<prefix>link-<name>.nmconnection`` (mode 0600: NetworkManager ignores
keyfiles that others can read). NetworkManager has no drop-ins and the parent's own connection is the
administrator's, so the parents' promiscuous flag is a oneshot systemd unit of the collection,
``<prefix>promisc@.service``, enabled per parent by a link in ``multi-user.target.wants/``, and a parent's MTU and
administrative state a oneshot unit of its own, ``<prefix>parent-<parent>.service`` (the name escaped as in unit
names), enabled the same way, that runs before the network is configured (``network-pre.target``: before
NetworkManager activates the links that need the parent's MTU).
"""

import posixpath

from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist

STACK = "NetworkManager"
HANDLED = frozenset(
    ("mac_address", "mtu", "addresses", "routes", "link_state", "nopromisc", "ipv6_disabled", "ipv6_accept_ra")
)
# ipv6.addr-gen-mode knows these two of the kernel's modes.
ADDR_GEN_MODES = {"eui64": "eui64", "stable_privacy": "stable-privacy"}


def ipv6_method(spec, addresses):
    """ipv6.method for a link: disabled (ipv6_disabled), auto (router advertisements accepted), manual (static
    addresses), link-local (IPv6 managed without router advertisements, or an address generation mode to apply),
    ignore (nothing asked: the kernel's own behaviour)."""
    if spec.get("ipv6_disabled"):
        return "disabled"
    if spec.get("ipv6_accept_ra"):
        return "auto"
    if addresses:
        return "manual"
    if spec.get("ipv6_accept_ra") is False or spec.get("ipv6_addr_gen_mode") in ADDR_GEN_MODES:
        return "link-local"
    return "ignore"


def ipv6_warnings(index, spec):
    label = "links[%d] (%s)" % (index, spec["name"])
    found = []
    mode = spec.get("ipv6_addr_gen_mode")
    if mode is not None and mode not in ADDR_GEN_MODES and not spec.get("ipv6_disabled"):
        found.append(
            "%s: ipv6_addr_gen_mode %s is not persisted: NetworkManager's ipv6.addr-gen-mode knows eui64 and "
            "stable-privacy only; at boot the link gets NetworkManager's default (use ipv6_disabled for no IPv6 "
            "address at all)" % (label, mode)
        )
    if mode == "stable_privacy":
        found.append(
            "%s: ipv6_addr_gen_mode stable_privacy is persisted as stable-privacy: NetworkManager derives the address "
            "from its own secret key, not from the kernel's stable_secret (another address after a reboot)" % label
        )
    if spec.get("ipv6_accept_ra"):
        found.append(
            "%s: ipv6_accept_ra is persisted as ipv6.method=auto: NetworkManager handles router advertisements "
            "itself and keeps the kernel's accept_ra at 0" % label
        )
    return found


# NMSettingMacvlanMode.
MODES = {"vepa": 1, "bridge": 2, "private": 3, "passthru": 4, "source": 5}
WANTS = "multi-user.target.wants"


# The methods with which NetworkManager applies a connection's static routes of that family.
ROUTED_METHODS = ("manual", "auto")


def routes_left_out(index, spec):
    """A warning naming the routes ``keyfile`` cannot persist, or None: NetworkManager applies IPv4 routes only to a
    connection with an IPv4 address (ipv4.method=manual), IPv6 routes only when it manages IPv6 with an address
    or router advertisements (ipv6.method manual or auto)."""
    addresses = spec.get("addresses") or []
    v6 = [a for a in addresses if ":" in a]
    left = []
    for route in _persist.ordered_routes(spec.get("routes")):
        if ":" in route["dest"]:
            if ipv6_method(spec, v6) not in ROUTED_METHODS:
                left.append(route["dest"])
        elif not any(":" not in a for a in addresses):
            left.append(route["dest"])
    if not left:
        return None
    return (
        "links[%d] (%s): routes not persisted: %s (NetworkManager applies a connection's IPv4 routes only with an "
        "IPv4 address, and its IPv6 routes only with an IPv6 address or ipv6_accept_ra; the kernel keeps them until "
        "the next reboot)" % (index, spec["name"], ", ".join(left))
    )


def keyfile(spec, prefix):
    connection_id = prefix + spec["name"]
    v4 = [a for a in spec.get("addresses") or [] if ":" not in a]
    v6 = [a for a in spec.get("addresses") or [] if ":" in a]
    routes = _persist.ordered_routes(spec.get("routes"))
    lines = [
        _persist.HEADER,
        "[connection]\n",
        "id=%s\n" % connection_id,
        "uuid=%s\n" % _persist.stable_uuid(connection_id),
        "type=macvlan\n",
        "interface-name=%s\n" % spec["name"],
    ]
    if spec["link_state"] == "down":
        lines.append("autoconnect=false\n")
    if spec.get("mac_address") or spec.get("mtu") is not None:
        lines += ["\n", "[ethernet]\n"]
        if spec.get("mac_address"):
            lines.append("cloned-mac-address=%s\n" % spec["mac_address"])
        if spec.get("mtu") is not None:
            lines.append("mtu=%d\n" % spec["mtu"])
    lines += ["\n", "[macvlan]\n", "mode=%d\n" % MODES[spec["mode"]], "parent=%s\n" % spec["parent"]]
    if spec["mode"] == "passthru" and spec.get("nopromisc"):
        lines.append("promiscuous=false\n")
    if spec["type"] == "macvtap":
        lines.append("tap=true\n")
    for section, addresses, family_routes, any_gateway in (
        ("ipv4", v4, [r for r in routes if ":" not in r["dest"]], "0.0.0.0"),
        ("ipv6", v6, [r for r in routes if ":" in r["dest"]], "::"),
    ):
        lines += ["\n", "[%s]\n" % section]
        if section == "ipv6":
            method = ipv6_method(spec, addresses)
            if spec.get("ipv6_addr_gen_mode") in ADDR_GEN_MODES and method != "disabled":
                lines.append("addr-gen-mode=%s\n" % ADDR_GEN_MODES[spec["ipv6_addr_gen_mode"]])
        else:
            method = "manual" if addresses else "disabled"
        lines.append("method=%s\n" % method)
        for number, address in enumerate(addresses, 1):
            lines.append("address%d=%s\n" % (number, address))
        if method not in ROUTED_METHODS:
            continue  # routes_left_out() names them
        for number, route in enumerate(family_routes, 1):
            lines.append(
                "route%d=%s,%s,%d\n" % (number, route["dest"], route.get("gateway") or any_gateway, route["metric"])
            )
    return "".join(lines)


def promisc_unit():
    return "".join(
        [
            _persist.HEADER,
            "# Sets the promiscuous flag of a macvlan parent (the instance: an interface name, escaped as in unit "
            "names)\n",
            "# at boot, once NetworkManager has started. Enabled per interface by a link in multi-user.target.wants/.\n",
            "# (Not bound to the interface's device unit: systemd in a container never activates device units of "
            "network\n",
            "# interfaces, so a unit wanted by one would not run there.)\n",
            "[Unit]\n",
            "Description=Promiscuous mode on macvlan parent %I (hostnet.macvlan)\n",
            "After=NetworkManager.service systemd-udev-settle.service\n",
            "\n",
            "[Service]\n",
            "Type=oneshot\n",
            "RemainAfterExit=yes\n",
            "ExecStart=ip link set dev %I promisc on\n",
            "\n",
            "[Install]\n",
            "WantedBy=multi-user.target\n",
        ]
    )


def parent_unit(parent, mtu=None, link_state=None):
    """The unit that sets a parent's MTU and administrative state at boot, or None when it has neither to set."""
    commands = []
    if mtu is not None:
        commands.append("ExecStart=ip link set dev %s mtu %d\n" % (parent, mtu))
    if link_state is not None:
        commands.append("ExecStart=ip link set dev %s %s\n" % (parent, link_state))
    if not commands:
        return None
    return "".join(
        [
            _persist.HEADER,
            "# Sets the MTU and administrative state of %s, a macvlan parent, at boot, before the network is\n"
            % parent,
            "# configured (NetworkManager activates the macvlan links on it afterwards). %s must exist by then\n"
            % parent,
            "# (a NIC does); a parent that NetworkManager creates takes its MTU from its own connection.\n",
            "[Unit]\n",
            "Description=MTU and state of macvlan parent %s (hostnet.macvlan)\n" % parent,
            "Wants=network-pre.target\n",
            "Before=network-pre.target NetworkManager.service\n",
            "After=systemd-udev-settle.service\n",
            "\n",
            "[Service]\n",
            "Type=oneshot\n",
            "RemainAfterExit=yes\n",
        ]
        + commands
        + ["\n", "[Install]\n", "WantedBy=multi-user.target\n"]
    )


def systemd_escape(name):
    """An interface name as a unit instance, as ``systemd-escape`` writes it (no '/' in interface names)."""
    out = []
    for index, char in enumerate(name):
        if (char.isalnum() and ord(char) < 128) or char in ":_" or (char == "." and index > 0):
            out.append(char)
        else:
            out += ["\\x%02x" % byte for byte in char.encode("utf-8")]
    return "".join(out)


def systemd_unescape(text):
    out = bytearray()
    index = 0
    while index < len(text):
        if text.startswith("\\x", index) and index + 4 <= len(text):
            try:
                out.append(int(text[index + 2 : index + 4], 16))
                index += 4
                continue
            except ValueError:
                pass
        out += text[index].encode("utf-8")
        index += 1
    return out.decode("utf-8", "replace")


def parent_of(content):
    """``parent=`` of a keyfile's [macvlan] section (None when it has none)."""
    section = None
    for raw in (content or "").splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "macvlan" and line.startswith("parent="):
            return line[len("parent=") :]
    return None


def keyfile_uuid(content):
    """The ``uuid=`` of a keyfile's [connection] section, or None."""
    section = None
    for raw in (content or "").splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[connection]" and line.startswith("uuid="):
            return line[5:].strip()
    return None


def plan(desired, prefix, directory, systemd_dir, listing, uuids=None):
    """The owned keyfiles in ``directory`` and the promisc unit and its links in ``systemd_dir`` (absolute,
    validated). ``listing``: {path: _persist.Entry}: our keyfiles (with content), our unit and the links in
    ``systemd_dir/multi-user.target.wants``. ``uuids``: {path: uuid} of every keyfile in ``directory``: a keyfile
    of this plan whose UUID another file has (the collection's, written with another prefix whose id spells the
    same) is refused, as NetworkManager would load only one of them."""
    result = _persist.Plan("networkmanager")
    _persist.check_desired(desired, STACK)
    link_prefix = prefix + "link-"
    holders = {}
    for other, value in sorted((uuids or {}).items()):
        holders.setdefault(value, other)

    for index, spec in desired.persisted:
        path = _persist.join(directory, "%s%s.nmconnection" % (link_prefix, spec["name"]))
        connection_id = prefix + spec["name"]
        holder = holders.get(_persist.stable_uuid(connection_id))
        if holder is not None and holder != path:
            raise _persist.PersistError(
                "links[%d].name: %r cannot be persisted with prefix %r for NetworkManager: its connection id %s (and "
                "the UUID derived from it) is that of %s, written with another prefix; NetworkManager would load "
                "only one of the two. Rename the link or use another prefix"
                % (index, spec["name"], prefix, connection_id, holder)
            )
        result.write(directory, path, keyfile(spec, prefix), _persist.SECRET_MODE)
        _persist.report_not_persisted(result, index, spec, HANDLED | {"ipv6_addr_gen_mode"}, STACK)
        for warning in ipv6_warnings(index, spec):
            result.warn(warning)
        left_out = routes_left_out(index, spec)
        if left_out:
            result.warn(left_out)
        if spec["link_state"] == "down":
            result.warn(
                "links[%d] (%s): link_state down is persisted as autoconnect=false: after a reboot the link exists "
                "only once the connection is activated (or the module that creates it runs)" % (index, spec["name"])
            )

    for path in sorted(listing):
        if posixpath.dirname(path) != directory or path in result.files:
            continue
        base = posixpath.basename(path)
        if not (base.startswith(link_prefix) and base.endswith(".nmconnection")):
            continue
        name = base[len(link_prefix) : -len(".nmconnection")]
        if name and desired.link_file_goes(name, parent_of(listing[path].content) in desired.managed):
            result.drop(directory, path)

    # The parents' flag: a unit link per parent listed with promisc true; removed for a parent listed with
    # promisc false; a parent that is not listed keeps its link. The unit goes with its last link.
    unit_name = prefix + "promisc@.service"
    unit = _persist.join(systemd_dir, unit_name)
    wants = _persist.join(systemd_dir, WANTS)
    instance_prefix = prefix + "promisc@"
    for parent in sorted(desired.parents):
        _persist.check_name(parent, "parents", STACK)
        path = _persist.join(wants, "%s%s.service" % (instance_prefix, systemd_escape(parent)))
        if desired.parents[parent]["promisc"]:
            result.symlink(systemd_dir, path, unit)
        elif path in listing:
            result.drop(systemd_dir, path)
    enabled = [p for p in result.files if posixpath.dirname(p) == wants]
    for path in listing:
        base = posixpath.basename(path)
        if (
            posixpath.dirname(path) == wants
            and base.startswith(instance_prefix)
            and base != unit_name
            and path not in result.remove
        ):
            enabled.append(path)
    if enabled:
        result.write(systemd_dir, unit, promisc_unit())
    elif unit in listing:
        result.drop(systemd_dir, unit)

    # The parents' MTU and state: a unit and its link per parent listed with mtu or link_state; both removed for a
    # parent listed without them; a parent that is not listed keeps its unit.
    for parent in sorted(desired.parents):
        entry = desired.parents[parent]
        name = "%sparent-%s.service" % (prefix, systemd_escape(parent))
        path, link = _persist.join(systemd_dir, name), _persist.join(wants, name)
        content = parent_unit(parent, entry["mtu"], entry["link_state"])
        if content is not None:
            result.write(systemd_dir, path, content)
            result.symlink(systemd_dir, link, path)
        else:
            for stale in (link, path):
                if stale in listing:
                    result.drop(systemd_dir, stale)
        if entry["link_state"] == "down":
            result.warn(
                "parents[%d] (%s): link_state down is persisted by a unit that takes the parent down at boot, before "
                "NetworkManager starts: if NetworkManager manages %s, it brings it up again when it activates its "
                "connection (set that connection's autoconnect=false instead)" % (entry["index"], parent, parent)
            )
    return result
