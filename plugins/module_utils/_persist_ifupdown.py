# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Persistence for ifupdown (Debian's ``/etc/network/interfaces``; ifupdown2 reads the same stanzas): the owned
file set, planned from the desired state (pure, no I/O).

One file per link in the interfaces directory, ``<prefix>link-<name>``, with an ``auto`` stanza (``ifup -a``,
which networking.service runs at boot, brings it up) and an ``inet manual`` stanza whose ``pre-up`` command
creates the link (when it does not exist yet) with its parent, kind, mode, flags, source list and broadcast
queue length; the manual method sets the MAC address (``hwaddress``) and the MTU and brings it up; ``up`` commands
add its addresses and routes (``replace``: a link that already has them is left as it is); ``post-down``
deletes it. The parents' promiscuous flag, MTU and administrative state: a file ``<prefix>parent-<parent>`` per
parent, a second ``iface`` stanza for the parent (interfaces(5): all stanzas of an interface apply) with a
``pre-up`` command for the MTU and ``up`` commands for the flag and for link_state down (the manual method brings
the parent up).

Boot order. ``ifup -a`` brings interfaces up in the order it reads them, each stanza of an interface in turn, and
the files of the directory are read where the interfaces file sources them: Debian's installer writes the
``source`` line first, so the administrator's stanzas (a bridge, a bond, a VLAN, a veth that ifupdown creates)
come after ours. Hence: a link's first ``pre-up`` brings its parent up with ``ifup`` when the parent does not exist
yet (ifupdown then runs every stanza of the parent, the one that creates it included; the later ``ifup -a``
finds it configured); the parent's own stanza sets the flag and the MTU only on a parent that exists when it runs
(a parent created by a later stanza of its own gets them from the stanzas of its links); and a link whose parent
has a stanza of ours sets the flag and the MTU too, once the parent exists, before it creates the link (a link
with a large MTU needs its parent's first).

The names in these files are the commands' words, so they are limited to what needs no shell quoting: link
names to ASCII letters, digits, '_' and '-' (ifupdown reads a '.' in a name as a VLAN, and source-directory
reads only such file names), parents to the names any backend accepts.
"""

import posixpath
import re

from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist

STACK = "ifupdown"
HANDLED = frozenset(
    (
        "mac_address",
        "mtu",
        "source_macs",
        "nopromisc",
        "nodst",
        "bcqueuelen",
        "addresses",
        "routes",
        "link_state",
        "allmulticast",
        "multicast",
        "ipv6_disabled",
        "ipv6_accept_ra",
        "ipv6_autoconf",
        "ipv6_addr_gen_mode",
    )
)
# iproute2's spelling of the address generation modes (ip link set dev NAME addrgenmode MODE).
ADDR_GEN_MODES = {"eui64": "eui64", "none": "none", "stable_privacy": "stable_secret", "random": "random"}
IPV6_SYSCTLS = (("ipv6_accept_ra", "accept_ra"), ("ipv6_autoconf", "autoconf"), ("ipv6_disabled", "disable_ipv6"))


def ipv6_lines(spec):
    """pre-up lines (before ifupdown brings the link up) for the link's IPv6 options: the address generation mode,
    then the sysctls of /proc/sys/net/ipv6/conf/<name>/, IPv6 itself last."""
    name = spec["name"]
    lines = []
    if spec.get("ipv6_addr_gen_mode") is not None:
        lines.append(
            "    pre-up ip link set dev %s addrgenmode %s\n" % (name, ADDR_GEN_MODES[spec["ipv6_addr_gen_mode"]])
        )
    for option, key in IPV6_SYSCTLS:
        if spec.get(option) is not None:
            lines.append("    pre-up echo %d > /proc/sys/net/ipv6/conf/%s/%s\n" % (int(spec[option]), name, key))
    return lines


_LINK_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# The pre-up line of a link file: the parent is the word after "link".
_CREATE_RE = re.compile(r"^\s*pre-up\s.*\bip link add link (\S+) name (\S+) ", re.MULTILINE)


def check_link_name(value, option):
    if not isinstance(value, str) or not _LINK_NAME_RE.fullmatch(value):
        _persist.fail(
            option,
            value,
            "cannot be written to ifupdown files: a link name there is made of ASCII letters, digits, '_' and '-' "
            "(not first); ifupdown reads a '.' as a VLAN, and source-directory skips other file names",
        )
    return value


def _sys(name):
    return "/sys/class/net/%s" % name


def link_file(spec, parent_promisc=False, parent_mtu=None):
    """The stanza of one link; ``parent_promisc``: its parent has a flag stanza of ours (the link sets it too);
    ``parent_mtu``: the MTU a parent stanza of ours gives the parent (the link sets it first, too)."""
    name = spec["name"]
    parent = spec["parent"]
    create = ["ip link add link %s name %s type %s mode %s" % (parent, name, spec["type"], spec["mode"])]
    if spec["mode"] == "passthru" and spec.get("nopromisc"):
        create.append("nopromisc")
    if spec["mode"] == "source" and spec.get("nodst"):
        create.append("nodst")
    if spec.get("source_macs"):
        create.append("macaddr set " + " ".join(spec["source_macs"]))
    if spec.get("bcqueuelen") is not None:
        create.append("bcqueuelen %d" % spec["bcqueuelen"])
    lines = [
        _persist.HEADER,
        "# %s %s on %s: ifup creates it (at boot: networking.service runs ifup -a), ifdown deletes it.\n"
        % (spec["type"], name, spec["parent"]),
        "# A parent that does not exist yet is brought up first: ifupdown may create it in a stanza it reads later.\n",
        "auto %s\n" % name,
        "iface %s inet manual\n" % name,
        "    pre-up test -e %s || ifup %s\n" % (_sys(parent), parent),
    ]
    if parent_mtu is not None:
        lines.append("    pre-up ip link set dev %s mtu %d\n" % (parent, parent_mtu))
    if parent_promisc:
        lines.append("    pre-up ip link set dev %s promisc on\n" % parent)
    lines.append("    pre-up test -e %s || %s\n" % (_sys(name), " ".join(create)))
    if spec.get("mac_address"):
        lines.append("    hwaddress %s\n" % spec["mac_address"])
    if spec.get("mtu") is not None:
        lines.append("    mtu %d\n" % spec["mtu"])
    for key in ("multicast", "allmulticast"):
        if spec.get(key) is not None:
            lines.append("    pre-up ip link set dev %s %s %s\n" % (name, key, "on" if spec[key] else "off"))
    lines += ipv6_lines(spec)
    for address in spec.get("addresses") or []:
        lines.append("    up ip address replace %s dev %s\n" % (address, name))
    for route in _persist.ordered_routes(spec.get("routes")):
        via = " via %s" % route["gateway"] if route.get("gateway") else ""
        lines.append("    up ip route replace %s%s dev %s metric %d\n" % (route["dest"], via, name, route["metric"]))
    if spec["link_state"] == "down":
        lines.append("    up ip link set dev %s down\n" % name)
    lines.append("    post-down test ! -e %s || ip link delete dev %s\n" % (_sys(name), name))
    return "".join(lines)


def _and(items):
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def parent_file(parent, promisc=True, mtu=None, link_state=None):
    """The stanza of a parent's settings (None when it has none to set: promisc false, mtu and link_state unset)."""
    what = [name for name, asked in (("MTU", mtu is not None), ("promiscuous flag", promisc)) if asked]
    if link_state is not None:
        what.append("state (%s)" % link_state)
    if not what:
        return None
    lines = [
        _persist.HEADER,
        "# The %s of %s, a macvlan parent: set whenever ifupdown brings %s up (at boot:\n"
        % (_and(what), parent, parent),
        "# networking.service). A second iface stanza for %s: ifupdown applies every stanza of an interface.\n"
        % parent,
    ]
    links_set = [name for name, asked in (("the flag", promisc), ("the MTU", mtu is not None)) if asked]
    if links_set:
        lines.append("# If a later stanza creates %s, the stanzas of its links set %s.\n" % (parent, _and(links_set)))
    lines += ["auto %s\n" % parent, "iface %s inet manual\n" % parent]
    if mtu is not None:
        lines.append("    pre-up test ! -e %s || ip link set dev %s mtu %d\n" % (_sys(parent), parent, mtu))
    if promisc:
        lines.append("    up test ! -e %s || ip link set dev %s promisc on\n" % (_sys(parent), parent))
    if link_state == "down":
        lines.append("    up test ! -e %s || ip link set dev %s down\n" % (_sys(parent), parent))
    return "".join(lines)


_PARENT_MTU_RE = re.compile(r"^\s*pre-up\s.*\bip link set dev \S+ mtu (\d+)\s*$", re.MULTILINE)
_PARENT_PROMISC_RE = re.compile(r"^\s*up\s.*\bip link set dev \S+ promisc on\s*$", re.MULTILINE)


def parent_file_settings(content):
    """(promisc, mtu) a parent file of ours sets (one this run keeps as it is: the parent is not listed)."""
    mtu = _PARENT_MTU_RE.search(content or "")
    return bool(_PARENT_PROMISC_RE.search(content or "")), int(mtu.group(1)) if mtu else None


def encode(name):
    """A parent name as a file name that source-directory reads (ASCII letters, digits, '_' and '-'): every
    other character, and '_' itself, as '_' and two hex digits."""
    out = []
    for char in name:
        if re.fullmatch(r"[A-Za-z0-9-]", char):
            out.append(char)
        else:
            out += ["_%02x" % byte for byte in char.encode("utf-8")]
    return "".join(out)


def parent_of(content):
    found = _CREATE_RE.search(content or "")
    return found.group(1) if found else None


def plan(desired, prefix, directory, listing):
    """The owned files in ``directory`` (absolute, validated). ``listing``: {path: _persist.Entry} of our files
    there (with content)."""
    result = _persist.Plan("ifupdown")
    _persist.check_desired(desired, STACK)
    link_prefix = prefix + "link-"
    parent_prefix = prefix + "parent-"

    # {parent: (promisc, mtu)} of the parents with a stanza of ours after this plan: written now, or kept (a
    # parent that is not listed keeps its file).
    stanzas = {}
    for parent in sorted(desired.parents):
        _persist.check_name(parent, "parents", STACK)
        entry = desired.parents[parent]
        path = _persist.join(directory, parent_prefix + encode(parent))
        content = parent_file(parent, entry["promisc"], entry["mtu"], entry["link_state"])
        if content is not None:
            result.write(directory, path, content)
            stanzas[parent] = (entry["promisc"], entry["mtu"])
        elif path in listing:
            result.drop(directory, path)

    for index, spec in desired.persisted:
        check_link_name(spec["name"], "links[%d].name" % index)
        parent = spec["parent"]
        settings = stanzas.get(parent)
        kept = listing.get(_persist.join(directory, parent_prefix + encode(parent)))
        if parent not in desired.parents and kept is not None:
            settings = parent_file_settings(kept.content)
        promisc, mtu = settings or (False, None)
        path = _persist.join(directory, link_prefix + spec["name"])
        result.write(directory, path, link_file(spec, promisc, mtu))
        _persist.report_not_persisted(result, index, spec, HANDLED, STACK)

    for path in sorted(listing):
        if posixpath.dirname(path) != directory or path in result.files:
            continue
        base = posixpath.basename(path)
        if not base.startswith(link_prefix) or len(base) == len(link_prefix):
            continue
        name = base[len(link_prefix) :]
        if desired.link_file_goes(name, parent_of(listing[path].content) in desired.managed):
            result.drop(directory, path)
    return result


def sample_name(prefix):
    """A name of the kind every file of ours has (for the check that the interfaces file reads them)."""
    return prefix + "link-x"
