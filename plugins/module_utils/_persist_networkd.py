# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Persistence for systemd-networkd: the owned file set, planned from the desired state (pure, no I/O).

Per link ``<prefix>link-<name>.netdev`` (the device) and ``<prefix>link-<name>.network`` (its addresses and
routes), and a drop-in ``<network of the parent>.d/<prefix>link-<name>.conf`` with ``MACVLAN=<name>`` (or
``MACVTAP=``): networkd creates a macvlan only while it configures the parent, from the parent's .network. The
parent's own .network is never edited: drop-ins go into its .d directory. When networkd does not configure the
parent, a minimal ``<prefix>parent-<parent>.network`` carries them (shared with another prefix's run that wrote
the same file first). The parents' promiscuous flag is the drop-in ``<prefix>promisc.conf`` ([Link]
Promiscuous=); their MTU and administrative state the drop-in ``<prefix>parent.conf`` ([Link] MTUBytes=,
ActivationPolicy=): drop-ins override the administrator's settings of that parent without editing their file.
"""

import posixpath
from fnmatch import fnmatchcase

from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist

STACK = "systemd-networkd"
# The link options the files express (nopromisc through the parent's Promiscuous=no).
HANDLED = frozenset(
    (
        "mac_address",
        "mtu",
        "source_macs",
        "bcqueuelen",
        "addresses",
        "routes",
        "link_state",
        "nopromisc",
        "allmulticast",
        "multicast",
        "ipv6_disabled",
        "ipv6_accept_ra",
    )
)


# systemd-networkd writes IFLA_MACVLAN_BC_CUTOFF (bclim) from BroadcastQueueThreshold= since systemd 256.
BCLIM_SYSTEMD = 256
# IPv6LinkLocalAddressGenerationMode= (IFLA_INET6_ADDR_GEN_MODE) since systemd 246.
ADDR_GEN_MODE_SYSTEMD = 246
ADDR_GEN_MODE_SETTINGS = {"eui64": "eui64", "none": "none", "stable_privacy": "stable-privacy", "random": "random"}


def ipv6_settings(spec, systemd_version=None):
    """The [Network] lines of a link's IPv6 options: LinkLocalAddressing= (no when IPv6 is disabled or the mode is
    none), IPv6LinkLocalAddressGenerationMode= (systemd 246 or later), IPv6AcceptRA= (ipv6_accept_ra; no for a link
    with IPv6 disabled when ipv6_accept_ra is not given)."""
    lines = []
    disabled = spec.get("ipv6_disabled")
    mode = spec.get("ipv6_addr_gen_mode")
    if disabled or mode == "none":
        lines.append("LinkLocalAddressing=no\n")
    elif disabled is False or mode is not None:
        lines.append("LinkLocalAddressing=ipv6\n")
    if mode is not None and (systemd_version or 0) >= ADDR_GEN_MODE_SYSTEMD:
        lines.append("IPv6LinkLocalAddressGenerationMode=%s\n" % ADDR_GEN_MODE_SETTINGS[mode])
    accept_ra = spec.get("ipv6_accept_ra")
    if accept_ra is None and disabled:
        accept_ra = False
    if accept_ra is not None:
        lines.append("IPv6AcceptRA=%s\n" % ("yes" if accept_ra else "no"))
    return lines


def ipv6_warnings(index, spec, systemd_version=None):
    """What the files cannot say of a link's IPv6 options, one line each."""
    label = "links[%d] (%s)" % (index, spec["name"])
    found = []
    if spec.get("ipv6_disabled"):
        found.append(
            "%s: ipv6_disabled is persisted as LinkLocalAddressing=no and IPv6AcceptRA=no (no IPv6 address at boot); "
            "systemd-networkd has no setting for the disable_ipv6 sysctl itself, which stays as the kernel has it"
            % label
        )
    if spec.get("ipv6_accept_ra"):
        found.append(
            "%s: ipv6_accept_ra is persisted as IPv6AcceptRA=yes: systemd-networkd handles router advertisements "
            "itself and keeps the kernel's accept_ra at 0" % label
        )
    mode = spec.get("ipv6_addr_gen_mode")
    if mode is not None and mode != "none" and (systemd_version or 0) < ADDR_GEN_MODE_SYSTEMD:
        found.append(
            "%s: ipv6_addr_gen_mode is not persisted: systemd-networkd writes it "
            "(IPv6LinkLocalAddressGenerationMode=) from systemd %d on, and this host has %s"
            % (label, ADDR_GEN_MODE_SYSTEMD, "systemd %d" % systemd_version if systemd_version else "no systemd")
        )
    if mode == "stable_privacy" and (systemd_version or 0) >= ADDR_GEN_MODE_SYSTEMD:
        found.append(
            "%s: ipv6_addr_gen_mode stable_privacy is persisted as stable-privacy: systemd-networkd derives the "
            "address from the kernel's stable_secret when one is set at boot, else from its own key (another address)"
            % label
        )
    return found


def bclim_setting(value):
    """BroadcastQueueThreshold='s spelling of a bclim value ("no" is -1), or None when it has none."""
    if value == -1:
        return "no"
    return str(value) if value >= 0 else None


def netdev(spec, systemd_version=None):
    kind = spec["type"]
    lines = [_persist.HEADER, "[NetDev]\n", "Name=%s\n" % spec["name"], "Kind=%s\n" % kind]
    if spec.get("mac_address"):
        lines.append("MACAddress=%s\n" % spec["mac_address"])
    if spec.get("mtu") is not None:
        lines.append("MTUBytes=%d\n" % spec["mtu"])
    lines += ["\n", "[%s]\n" % kind.upper(), "Mode=%s\n" % spec["mode"]]
    for mac in spec.get("source_macs") or []:
        lines.append("SourceMACAddress=%s\n" % mac)
    if spec.get("bcqueuelen") is not None:
        lines.append("BroadcastMulticastQueueLength=%d\n" % spec["bcqueuelen"])
    if spec.get("bclim") is not None and (systemd_version or 0) >= BCLIM_SYSTEMD and bclim_setting(spec["bclim"]):
        lines.append("BroadcastQueueThreshold=%s\n" % bclim_setting(spec["bclim"]))
    return "".join(lines)


def network(spec, systemd_version=None):
    lines = [_persist.HEADER, "[Match]\n", "Name=%s\n" % spec["name"], "\n", "[Link]\n", "RequiredForOnline=no\n"]
    if spec["link_state"] == "down":
        lines.append("ActivationPolicy=down\n")
    for key, setting in (("multicast", "Multicast"), ("allmulticast", "AllMulticast")):
        if spec.get(key) is not None:
            lines.append("%s=%s\n" % (setting, "yes" if spec[key] else "no"))
    lines += ["\n", "[Network]\n", "ConfigureWithoutCarrier=yes\n"]
    lines += ipv6_settings(spec, systemd_version)
    for address in spec.get("addresses") or []:
        lines.append("Address=%s\n" % address)
    for route in _persist.ordered_routes(spec.get("routes")):
        lines += ["\n", "[Route]\n", "Destination=%s\n" % route["dest"]]
        if route.get("gateway"):
            lines.append("Gateway=%s\n" % route["gateway"])
        lines.append("Metric=%d\n" % route["metric"])
    return "".join(lines)


def attach(spec):
    return "".join(
        [
            _persist.HEADER,
            "# Creates %s on %s when systemd-networkd configures %s.\n"
            % (spec["name"], spec["parent"], spec["parent"]),
            "[Network]\n",
            "%s=%s\n" % (spec["type"].upper(), spec["name"]),
        ]
    )


def parent_network(parent):
    """The minimal .network for a parent no other .network configures. It names no prefix: runs with different
    prefixes recognise it as the same file (and share it instead of writing a second .network for the parent)."""
    return "".join(
        [
            _persist.HEADER,
            "# systemd-networkd creates macvlan links only on interfaces it configures: this file configures\n",
            "# %s (no other .network did) only so that the drop-ins in the .d directory\n" % parent,
            "# beside it can attach macvlan links. It adds no address, no DHCP, no IPv6 link-local address, "
            "does not accept\n",
            "# router advertisements, and keeps the configuration found on the interface.\n",
            "[Match]\n",
            "Name=%s\n" % parent,
            "\n",
            "[Link]\n",
            "RequiredForOnline=no\n",
            "\n",
            "[Network]\n",
            "LinkLocalAddressing=no\n",
            "IPv6AcceptRA=no\n",
            "KeepConfiguration=yes\n",
            "ConfigureWithoutCarrier=yes\n",
        ]
    )


# The line of a parent's drop-in that names the parent: a drop-in left in a .network.d that is no longer the
# parent's (networkd_parent_network changed, or what networkd reports) is found by it and removed.
PARENT_LINE = "# Parent: "


def promisc(value, parent):
    return "%s%s%s\n[Link]\nPromiscuous=%s\n" % (_persist.HEADER, PARENT_LINE, parent, "yes" if value else "no")


def dropin_parent(content):
    """The parent a drop-in of ours names (``PARENT_LINE``), or None (not ours, or written before it was named)."""
    for line in (content or "").splitlines()[:3]:
        if line.startswith(PARENT_LINE):
            return line[len(PARENT_LINE) :].strip() or None
    return None


# systemd-networkd reads ActivationPolicy= (a parent's link_state, a link's link_state down) from systemd 248 on.
ACTIVATION_POLICY_SYSTEMD = 248


def needs_systemd_version(desired):
    """Whether the files depend on the host's systemd version: a setting networkd reads only from some version on
    (bclim, ipv6_addr_gen_mode, ActivationPolicy= for a link or a parent)."""
    for entry in desired.persisted:
        spec = entry[1]
        if spec.get("bclim") is not None or spec.get("ipv6_addr_gen_mode") is not None or spec["link_state"] == "down":
            return True
    return any(parent.get("link_state") is not None for parent in desired.parents.values())


def parent_settings(parent):
    """The drop-in with a parent's MTU and administrative state, or None when the parent entry asks for neither."""
    lines = []
    if parent.get("mtu") is not None:
        lines.append("MTUBytes=%d\n" % parent["mtu"])
    if parent.get("link_state") is not None:
        lines.append("ActivationPolicy=%s\n" % parent["link_state"])
    if not lines:
        return None
    return "%s%s%s\n[Link]\n%s" % (_persist.HEADER, PARENT_LINE, parent["name"], "".join(lines))


def check_network_name(value, option):
    """A .network file name (given by the user or reported by networkd): its .d directory is written into."""
    if (
        not isinstance(value, str)
        or not value.endswith(".network")
        or value.startswith(".")
        or "/" in value
        or any(ord(c) <= 32 or ord(c) >= 127 for c in value)
    ):
        _persist.fail(
            option,
            value,
            "is not the file name of a .network (a plain name such as 10-eth1.network, printable ASCII, no path)",
        )
    return value


class _Names:
    """The owned names of a prefix and how to read them back."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.link = prefix + "link-"
        self.parent = prefix + "parent-"
        self.promisc = prefix + "promisc.conf"
        self.settings = prefix + "parent.conf"

    def netdev(self, name):
        return "%s%s.netdev" % (self.link, name)

    def network(self, name):
        return "%s%s.network" % (self.link, name)

    def conf(self, name):
        return "%s%s.conf" % (self.link, name)

    def own_parent(self, parent):
        return "%s%s.network" % (self.parent, parent)

    def top_link(self, base):
        """The link name of a top-level .netdev/.network of ours, else None."""
        for suffix in (".netdev", ".network"):
            if base.startswith(self.link) and base.endswith(suffix) and len(base) > len(self.link) + len(suffix):
                return base[len(self.link) : -len(suffix)]
        return None

    def conf_link(self, base):
        if base.startswith(self.link) and base.endswith(".conf") and len(base) > len(self.link) + 5:
            return base[len(self.link) : -5]
        return None

    def own_parent_name(self, base):
        if base.startswith(self.parent) and base.endswith(".network") and len(base) > len(self.parent) + 8:
            return base[len(self.parent) : -8]
        return None


def matched_names(content):
    """The interface name globs of a .network whose [Match] section matches by ``Name=`` alone, else None (other
    match keys, a negated glob, no Name=: which interfaces it configures is not decided by the name)."""
    section, globs, others = None, [], False
    for raw in (content or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        if section != "[Match]" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key != "Name":
            others = True
        elif not value:
            globs = []  # an empty assignment resets the list
        else:
            globs += value.split()
    if others or not globs or any(g.startswith("!") for g in globs):
        return None
    return globs


def _resolve_networks(desired, names, directory, listing, mapping, reported, parents):
    """{parent: .network file name} for each parent: the user's mapping, else the file networkd reports, else the
    .network networkd would choose among those in ``directory`` (first in lexical order: a recognised parent
    .network of the collection, ours or another prefix's, or the administrator's that matches the parent by name),
    else our own (only then: written, it would take the parent from an administrator's file that sorts after it)."""
    recognised = {}
    for path, entry in listing.items():
        if posixpath.dirname(path) != directory or entry.kind != "file" or not path.endswith(".network"):
            continue
        base = posixpath.basename(path)
        globs = None if (entry.content or "").startswith(_persist.HEADER) else matched_names(entry.content)
        for parent in parents:
            ours = base.endswith("parent-%s.network" % parent) and entry.content == parent_network(parent)
            if ours or (globs and any(fnmatchcase(parent, glob) for glob in globs)):
                recognised.setdefault(parent, []).append(base)
    out = {}
    for parent in parents:
        chosen = None
        if parent in mapping:
            if mapping[parent]:
                chosen = check_network_name(posixpath.basename(mapping[parent]), "networkd_parent_network.%s" % parent)
        elif parent in reported:
            chosen = check_network_name(reported[parent], "systemd-networkd's state of %s (NETWORK_FILE)" % parent)
        if chosen is None:
            own = names.own_parent(parent)
            candidates = set(recognised.get(parent, []))
            if posixpath.join(directory, own) in listing:
                candidates.add(own)
            chosen = min(candidates) if candidates else own
        out[parent] = chosen
    return out


def plan(desired, prefix, directory, listing, mapping=None, reported=None, systemd_version=None):
    """The owned file set under ``directory`` (absolute, validated) for ``desired`` (``_persist.Desired``).

    ``listing``: {path: _persist.Entry} of what is there: the top-level files (content of ours and of every
    .network) and the entries of each ``*.network.d`` directory (content of ours). ``mapping``: the user's
    {parent: .network file name, or '' for our own}; ``reported``: {parent: .network file name} from networkd's
    state. ``systemd_version``: the host's systemd (bclim needs 256), None when unknown.
    """
    mapping = mapping or {}
    reported = reported or {}
    names = _Names(prefix)
    result = _persist.Plan("networkd")
    _persist.check_desired(desired, STACK)

    nopromisc = {}
    for index, spec in desired.persisted:
        if spec["mode"] == "passthru" and spec.get("nopromisc"):
            nopromisc.setdefault(spec["parent"], (index, spec["name"]))
    needed = set(desired.managed) | set(desired.parents) | set(nopromisc)
    for parent in sorted(needed):
        _persist.check_name(parent, "parents", STACK)
    networks = _resolve_networks(desired, names, directory, listing, mapping, reported, sorted(needed))

    def dropin_dir(parent):
        return _persist.join(directory, networks[parent] + ".d")

    # The links: device, network, attachment.
    for index, spec in desired.persisted:
        name = spec["name"]
        result.write(directory, _persist.join(directory, names.netdev(name)), netdev(spec, systemd_version))
        result.write(directory, _persist.join(directory, names.network(name)), network(spec, systemd_version))
        folder = dropin_dir(spec["parent"])
        result.write(directory, _persist.join(folder, names.conf(name)), attach(spec))
        _persist.report_not_persisted(result, index, spec, HANDLED | {"bclim", "ipv6_addr_gen_mode"}, STACK)
        for warning in ipv6_warnings(index, spec, systemd_version):
            result.warn(warning)
        if spec["link_state"] == "down" and systemd_version and systemd_version < ACTIVATION_POLICY_SYSTEMD:
            result.warn(
                "links[%d] (%s): link_state down is not persisted: systemd-networkd reads ActivationPolicy= from "
                "systemd %d on, and this host has systemd %d (the link comes up at boot)"
                % (index, name, ACTIVATION_POLICY_SYSTEMD, systemd_version)
            )
        bclim = spec.get("bclim")
        if bclim is not None and (systemd_version or 0) < BCLIM_SYSTEMD:
            result.warn(
                "links[%d] (%s): bclim is not persisted: systemd-networkd writes it (BroadcastQueueThreshold=) from "
                "systemd %d on, and this host has %s; the kernel keeps it until the next reboot"
                % (index, name, BCLIM_SYSTEMD, "systemd %d" % systemd_version if systemd_version else "no systemd")
            )
        elif bclim is not None and bclim_setting(bclim) is None:
            result.warn(
                "links[%d] (%s): bclim %d is not persisted: BroadcastQueueThreshold= takes 0 or more, or 'no' (-1); "
                "use -1 to turn queueing off" % (index, name, bclim)
            )

    # The parents' flag: follows parents; a parent that is not listed keeps whatever file it has. A passthru link
    # with nopromisc needs Promiscuous=no on its parent (networkd derives the flag from it).
    for parent in sorted(needed):
        path = _persist.join(dropin_dir(parent), names.promisc)
        asked = desired.parents[parent]["promisc"] if parent in desired.parents else None
        if asked is True:
            result.write(directory, path, promisc(True, parent))
            if parent in nopromisc:
                result.warn(
                    "links[%d] (%s): nopromisc is not persisted: systemd-networkd sets it from the parent's "
                    "Promiscuous=no, and parents asks for %s's promiscuous flag" % (nopromisc[parent] + (parent,))
                )
        elif parent in nopromisc:
            entry = listing.get(path)
            on = entry is not None and entry.kind == "file" and "\nPromiscuous=yes\n" in (entry.content or "")
            if asked is None and on:
                result.warn(
                    "links[%d] (%s): nopromisc is not persisted: %s's promiscuous flag is persisted on (list it in "
                    "parents with promisc false to change that)" % (nopromisc[parent] + (parent,))
                )
            else:
                result.write(directory, path, promisc(False, parent))
        elif asked is False and path in listing:
            result.drop(directory, path)

    # The parents' MTU and state: follow parents too (an entry without mtu and link_state removes ours); a parent
    # that is not listed keeps whatever file it has.
    for parent in sorted(desired.parents):
        entry = desired.parents[parent]
        path = _persist.join(dropin_dir(parent), names.settings)
        content = parent_settings(entry)
        if content is not None:
            result.write(directory, path, content)
        elif path in listing:
            result.drop(directory, path)
        if entry.get("link_state") is not None and systemd_version and systemd_version < ACTIVATION_POLICY_SYSTEMD:
            result.warn(
                "parents[%d] (%s): link_state is not persisted: systemd-networkd reads ActivationPolicy= from "
                "systemd %d on, and this host has systemd %d"
                % (entry["index"], parent, ACTIVATION_POLICY_SYSTEMD, systemd_version)
            )

    # What is there and is not wanted.
    managed_dirs = {dropin_dir(parent) for parent in desired.managed}
    on_managed = set()
    for path in listing:
        folder = posixpath.dirname(path)
        name = names.conf_link(posixpath.basename(path))
        if name is not None and folder in managed_dirs:
            on_managed.add(name)
    for path in sorted(listing):
        if path in result.files or not _persist.inside(directory, path):
            continue
        rel = path[len(directory) + 1 :].split("/")
        base = rel[-1]
        if len(rel) == 1:
            name = names.top_link(base)
        elif len(rel) == 2 and rel[0].endswith(".network.d"):
            name = names.conf_link(base)
            if name is None and base in (names.promisc, names.settings):
                # A drop-in of ours at a place that is no longer the parent's .network: stale when parents names it.
                parent = names.own_parent_name(rel[0][:-2])
                if parent is None and listing[path].kind == "file":
                    parent = dropin_parent(listing[path].content)
                where = networks.get(parent)
                if parent is not None and (parent in desired.parents or where) and where != rel[0][:-2]:
                    result.drop(directory, path)
                continue
        else:
            continue
        if name is not None and desired.link_file_goes(name, name in on_managed):
            result.drop(directory, path)

    # Our own parent .network files: written while something of ours (or of another run) is attached through
    # them, removed once their .d directory is empty.
    for parent in sorted(needed):
        own = names.own_parent(parent)
        if networks[parent] != own:
            continue
        folder = _persist.join(directory, own + ".d")
        if _holds_something(folder, result, listing):
            result.write(directory, _persist.join(directory, own), parent_network(parent))
    for path in sorted(listing):
        if posixpath.dirname(path) != directory or path in result.files:
            continue
        parent = names.own_parent_name(posixpath.basename(path))
        if parent is None or listing[path].kind not in ("file", "symlink"):
            continue
        if not _holds_something(path + ".d", result, listing):
            result.drop(directory, path)
    return result


def _holds_something(folder, result, listing):
    """Whether a .d directory keeps any entry after the plan: a file the plan writes there, or anything found
    there that the plan does not remove (another prefix's drop-ins too)."""
    start = folder + "/"
    if any(path.startswith(start) for path in result.files):
        return True
    return any(path.startswith(start) and path not in result.remove for path in listing)


def prune_dirs(result, listing, prefix, directory):
    """Our own parent .network.d directories that the plan empties (removed after the files)."""
    names = _Names(prefix)
    out = []
    for path in sorted(result.remove):
        if names.own_parent_name(posixpath.basename(path)) is not None and posixpath.dirname(path) == directory:
            out.append(path + ".d")
    return out
