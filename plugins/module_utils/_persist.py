# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Persistence, the part every backend shares: pure code, no I/O.

What the ``macvlan_persist`` module asks for is validated and normalised here (``_model`` normalises each link;
this file adds what files need on top: names, values, the prefix and the directories that may be written), and
the rules of ownership live here: which link files a run removes, and how a planned file set compares with what
is on disk (the drift report). The backends (``_persist_networkd``, ``_persist_nm``, ``_persist_ifupdown``)
turn the desired state into files with these helpers; ``_persist_runner`` does the I/O.

A plan holds absolute paths only inside its directories, and only names that start with the prefix.
"""

import ipaddress
import posixpath
import re
import uuid
from fnmatch import fnmatchcase

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model
from ansible_collections.hostnet.macvlan.plugins.module_utils._options import LINK_KEYS

BACKENDS = ("networkd", "networkmanager", "ifupdown")
BACKEND_CHOICES = BACKENDS + ("auto",)
DEFAULT_PREFIX = "60-hostnet-macvlan-"
HEADER = "# Written by the hostnet.macvlan collection; changes here are overwritten.\n"

# Modes of the files each stack reads: NetworkManager ignores keyfiles that others can read.
FILE_MODE = 0o644
SECRET_MODE = 0o600
DIR_MODE = 0o755

# Names written into files: ASCII letters, digits, '_', '.', '@', '+' and '-' (not first). Everything else the
# kernel accepts (quotes, '$', ';', '*', '[', '=', '\\', non-ASCII...) means something to one of the stacks (a
# glob in systemd's [Match] Name=, an escape in a keyfile, a shell word in an ifupdown command), so it is refused.
_NAME_RE = re.compile(r"[A-Za-z0-9_.@+][A-Za-z0-9_.@+-]*")
_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_IP_CHARS_RE = re.compile(r"[0-9a-f.:]+")
_MAX_PREFIX = 100

# ansible.builtin.to_uuid's namespace: NetworkManager connection UUIDs stay what the roles wrote before.
UUID_NAMESPACE = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")

# Link options a backend may have no setting for: each backend lists those it writes; any other one that a link
# sets is reported as not persisted (options the engine learns later included).
_NOT_ATTRIBUTES = frozenset(("name", "state", "netns", "link_netns", "recreate", "parent", "type", "mode"))


class PersistError(ValueError):
    """Input that cannot be persisted safely. The message names the option and the value."""


def fail(option, value, reason):
    raise PersistError("%s: %r %s" % (option, value, reason))


def check_name(value, option, backend_label):
    """An interface name that goes into a file: refuse what a stack would read as something else."""
    if isinstance(value, str) and _NAME_RE.fullmatch(value):
        return value
    reason = (
        "cannot be written to %s files safely: names written to files are made of ASCII letters, digits, '_', '.', "
        "'@', '+' and '-' (not first)" % backend_label
    )
    if isinstance(value, str):
        char = next(
            (c for c in value if not re.fullmatch(r"[A-Za-z0-9_.@+-]", c)), "-" if value.startswith("-") else None
        )
        if char is not None:
            reason += "; %r is not allowed" % char
    fail(option, value, reason)


def check_mac(value, option):
    if not isinstance(value, str) or not _MAC_RE.fullmatch(value):
        fail(option, value, "cannot be written to a file: it is not a MAC address in the form 02:00:00:00:00:01")
    return value


def check_cidr(value, option):
    """A normalised address with prefix length: digits, hex, '.', ':' and one '/'; nothing else (no scope id)."""
    text = value if isinstance(value, str) else ""
    address, _sep, length = text.partition("/")
    if "%" in text:
        fail(option, value, "has a scope id ('%...'), which cannot be written to a file: write the address without it")
    if not (_IP_CHARS_RE.fullmatch(address) and re.fullmatch(r"[0-9]{1,3}", length)):
        fail(option, value, "cannot be written to a file: it is not an address with prefix length")
    try:
        ipaddress.ip_interface(text)
    except ValueError:
        fail(option, value, "cannot be written to a file: it is not an address with prefix length")
    return text


def check_ip(value, option):
    if not isinstance(value, str) or "%" in value or not _IP_CHARS_RE.fullmatch(value):
        fail(option, value, "cannot be written to a file: it is not a plain IP address (no scope id)")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        fail(option, value, "cannot be written to a file: it is not an IP address")
    return value


def check_int(value, option):
    if isinstance(value, bool) or not isinstance(value, int):
        fail(option, value, "cannot be written to a file: it is not an integer")
    return value


def check_link_values(index, spec, backend_label):
    """Every value of a persisted link that a backend may write, checked once more before any file is planned.

    ``_model`` has normalised them; this is the line of defence between a value and a root-owned file."""
    opt = "links[%d]." % index
    check_name(spec["name"], opt + "name", backend_label)
    check_name(spec["parent"], opt + "parent", backend_label)
    if spec["mode"] not in _model.MODES:
        fail(opt + "mode", spec["mode"], "is not a mode")
    if spec["type"] not in _model.LINK_TYPES:
        fail(opt + "type", spec["type"], "is not a link type")
    if spec.get("mac_address") is not None:
        check_mac(spec["mac_address"], opt + "mac_address")
    for key in ("mtu", "bcqueuelen", "bclim"):
        if spec.get(key) is not None:
            check_int(spec[key], opt + key)
    for mac in spec.get("source_macs") or []:
        check_mac(mac, opt + "source_macs")
    for address in spec.get("addresses") or []:
        check_cidr(address, opt + "addresses")
    for number, route in enumerate(spec.get("routes") or []):
        check_cidr(route["dest"], "%sroutes[%d].dest" % (opt, number))
        if route.get("gateway") is not None:
            check_ip(route["gateway"], "%sroutes[%d].gateway" % (opt, number))
        check_int(route["metric"], "%sroutes[%d].metric" % (opt, number))


def validate_prefix(prefix, backend=None):
    """The file name prefix: a plain name, no path, no hidden file; ifupdown and NetworkManager (whose promisc
    unit carries it) allow fewer characters."""
    if not isinstance(prefix, str) or prefix == "":
        fail("prefix", prefix, "must be a non-empty file name prefix")
    if len(prefix) > _MAX_PREFIX:
        fail("prefix", prefix, "is too long (at most %d characters)" % _MAX_PREFIX)
    if "/" in prefix:
        fail("prefix", prefix, "must be a file name prefix, not a path: it must not contain '/'")
    for char in prefix:
        if ord(char) <= 32 or ord(char) >= 127:
            fail(
                "prefix",
                prefix,
                "must be made of printable ASCII characters: no white space, control or non-ASCII characters",
            )
    if prefix.startswith("."):
        fail("prefix", prefix, "must not start with '.': the network stacks ignore hidden files")
    if not re.fullmatch(r"[A-Za-z0-9_.@+:-]+", prefix):
        fail(
            "prefix",
            prefix,
            "must be made of ASCII letters, digits, '_', '.', '@', '+', ':' and '-': other characters are read as "
            "patterns by the shell globs that select the files (ifupdown's source lines, the rollout's snapshot) or "
            "split by Ansible's list options",
        )
    if backend == "ifupdown" and not re.fullmatch(r"[A-Za-z0-9_-]+", prefix):
        fail(
            "prefix",
            prefix,
            "cannot be used with ifupdown: a source-directory line reads only files whose names are ASCII letters, "
            "digits, '_' and '-'",
        )
    if backend == "networkmanager" and not re.fullmatch(r"[A-Za-z0-9:_.-]+", prefix):
        fail(
            "prefix",
            prefix,
            "cannot be used with networkmanager: it starts the name of a systemd unit (the parents' promiscuous "
            "flag), which allows only ASCII letters, digits, ':', '_', '.' and '-'",
        )
    return prefix


def validate_dir(value, option):
    """An absolute directory, normalised (no '.', '..' or doubled '/'); never the root directory itself."""
    if not isinstance(value, str) or value == "":
        fail(option, value, "must be an absolute path")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        fail(option, value, "must not contain control characters")
    if not value.startswith("/"):
        fail(option, value, "must be an absolute path")
    path = posixpath.normpath(value)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path == "/":
        fail(option, value, "must not be the root directory")
    return path


def inside(base, path):
    """True when path is a normalised absolute path strictly inside directory base."""
    return (
        isinstance(path, str)
        and posixpath.normpath(path) == path
        and path.startswith(base + "/")
        and ".." not in path[len(base) + 1 :].split("/")
    )


def join(base, *names):
    """base/names..., refused unless it stays inside base (a name can never climb out of its directory)."""
    for name in names:
        if not name or "/" in name or name in (".", ".."):
            raise PersistError("internal error: %r is not a plain file name" % (name,))
    path = posixpath.join(base, *names)
    if not inside(base, path):
        raise PersistError("internal error: %s is not inside %s" % (path, base))
    return path


def stable_uuid(text):
    return str(uuid.uuid5(UUID_NAMESPACE, text))


class Entry:
    """Something found on disk: kind is 'file', 'symlink', 'dir' or 'other'. Files the planner may need to read
    carry their content (text), symlinks their target."""

    def __init__(self, kind, content=None, target=None, mode=None):
        self.kind = kind
        self.content = content
        self.target = target
        self.mode = mode

    def __repr__(self):
        return "Entry(%r, %r, %r, %r)" % (self.kind, self.content, self.target, self.mode)


class Plan:
    """A backend's owned file set: ``files`` {path: {'content', 'mode'} or {'symlink'}}, ``remove`` (paths),
    ``bases`` {path: directory it must stay inside}, and ``warnings``."""

    def __init__(self, backend):
        self.backend = backend
        self.files = {}
        self.remove = set()
        self.bases = {}
        self.warnings = []

    def write(self, base, path, content, mode=FILE_MODE):
        self._own(base, path)
        self.files[path] = {"content": content, "mode": mode}

    def symlink(self, base, path, target):
        self._own(base, path)
        self.files[path] = {"symlink": target}

    def drop(self, base, path):
        self._own(base, path)
        self.remove.add(path)

    def _own(self, base, path):
        if not inside(base, path):
            raise PersistError("internal error: %s is not inside %s" % (path, base))
        self.bases[path] = base

    def warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)


def matches(entry, want):
    """Whether what is on disk is what the plan wants."""
    if entry is None:
        return False
    if "symlink" in want:
        return entry.kind == "symlink" and entry.target == want["symlink"]
    return entry.kind == "file" and entry.content == want["content"] and entry.mode == want["mode"]


def drift(plan, listing):
    """[(path, state)] with state 'missing', 'differs' (to write) or 'extra' (to remove), sorted by path."""
    out = []
    for path in sorted(plan.files):
        entry = listing.get(path)
        if entry is None:
            out.append((path, "missing"))
        elif not matches(entry, plan.files[path]):
            out.append((path, "differs"))
    for path in sorted(plan.remove):
        if path in listing and path not in plan.files:
            out.append((path, "extra"))
    return sorted(out)


class Desired:
    """What a run asks for, normalised: every listed link, the links written (present, in the host namespace),
    the parents listed (their flag, MTU and state), the managed parents, purge and its exclusions."""

    def __init__(self, links, parents, purge=False, purge_exclude=()):
        self.links = links  # [(index, spec)]
        # {name: {'name', 'promisc', 'mtu', 'link_state', 'index'}} (``_model.normalize_parent``; mtu and
        # link_state None: not persisted)
        self.parents = parents
        self.persisted = [(i, s) for i, s in links if s["state"] == "present" and s.get("link_netns") is None]
        self.listed = {s["name"] for _i, s in links}
        self.written = {s["name"] for _i, s in self.persisted}
        self.managed = set(parents) | {s["parent"] for _i, s in links if s.get("parent")}
        self.purge = bool(purge)
        self.purge_exclude = set(purge_exclude)

    def link_file_goes(self, name, on_managed_parent):
        """Whether an owned file of link ``name`` that this run does not write is removed: the link is listed
        (absent, moved to another namespace or parent: its files are stale), or purge removes unlisted links on
        managed parents (not excluded)."""
        if name in self.listed:
            return True
        return self.purge and name not in self.purge_exclude and bool(on_managed_parent)

    def parents_of_persisted(self):
        return sorted({s["parent"] for _i, s in self.persisted})


def prepare(params, is_host_namespace=None, resolve=None):
    """Validate and normalise the ``links``, ``parents``, ``purge`` and ``purge_exclude`` options.

    ``is_host_namespace(ns)`` says whether a ``link_netns`` names the host namespace itself (such a link is
    persisted like one without ``link_netns``). ``resolve([(index, spec)])`` resolves ``parent: default`` and
    ``mac_address: stable`` in place (it reads the host; raises PersistError).
    """
    links = []
    by_name = {}
    for index, raw in enumerate(params.get("links") or []):
        if not isinstance(raw, dict):
            fail("links[%d]" % index, raw, "must be a dict")
        try:
            _model.check_keys(raw, LINK_KEYS, "links[%d]" % index)
            spec = _model.normalize_link(dict(raw, netns=None), prefix="links[%d]." % index, raw=True)
        except _model.ModelError as exc:
            raise PersistError(str(exc)) from None
        moved = spec.get("link_netns")
        if moved is not None and is_host_namespace is not None and is_host_namespace(moved):
            spec["link_netns"] = None
        if spec["state"] == "present" and spec.get("link_netns") is None:
            if spec["name"] in by_name:
                fail(
                    "links[%d].name" % index,
                    spec["name"],
                    "is listed twice for the host namespace (also links[%d]): a name is one link there"
                    % by_name[spec["name"]],
                )
            by_name[spec["name"]] = index
        links.append((index, spec))
    if resolve is not None:
        resolve(links)
    parents = {}
    for index, raw in enumerate(params.get("parents") or []):
        try:
            parent = _model.normalize_parent(raw, index, parents)
        except _model.ModelError as exc:
            raise PersistError(str(exc)) from None
        parent["index"] = index
        parents[parent["name"]] = parent
    check_parent_mtus(links, parents)
    exclude = []
    for value in params.get("purge_exclude") or []:
        try:
            exclude.append(_model.validate_ifname(value, "purge_exclude"))
        except _model.ModelError as exc:
            raise PersistError(str(exc)) from None
    return Desired(links, parents, params.get("purge", False), exclude)


def check_parent_mtus(links, parents):
    """A persisted parent MTU below the MTU of a link persisted on it is refused: at boot the kernel would refuse
    the link (or lower it with its parent)."""
    for index, spec in links:
        parent = parents.get(spec.get("parent"))
        if spec["state"] != "present" or parent is None or parent["mtu"] is None or spec.get("mtu") is None:
            continue
        if spec["mtu"] > parent["mtu"]:
            fail(
                "parents[%d].mtu" % parent["index"],
                parent["mtu"],
                "is below the MTU of links[%d] (%s), %d, on parent %r: a macvlan cannot exceed its parent"
                % (index, spec["name"], spec["mtu"], parent["name"]),
            )


def check_desired(desired, backend_label, parent_names=None):
    """The values a backend writes: every persisted link, and the parents named in files."""
    for index, spec in desired.persisted:
        check_link_values(index, spec, backend_label)
    for name in sorted(parent_names if parent_names is not None else desired.parents):
        check_name(name, "parents", backend_label)


def ordered_routes(routes):
    """A link's routes in the order files list them: IPv4 first, then IPv6, each by network, gateway, metric."""

    def key(route):
        net = ipaddress.ip_network(route["dest"])
        return (net.version, net.network_address, net.prefixlen, route.get("gateway") or "", route["metric"])

    return sorted(routes or [], key=key)


# Link options whose kernel default is not off: asking for the default needs no setting to persist.
KERNEL_DEFAULTS = {"multicast": True, "ipv6_accept_ra": True, "ipv6_autoconf": True, "ipv6_addr_gen_mode": "eui64"}


def not_persisted(spec, handled):
    """Link options that are set and that the backend has no setting for (``handled``: those it writes)."""
    out = []
    for key in sorted(spec):
        if key in _NOT_ATTRIBUTES or key in handled or key.startswith("_"):
            continue
        value = spec[key]
        if value is None or value == [] or value == KERNEL_DEFAULTS.get(key, False):
            continue
        out.append(key)
    return out


def report_not_persisted(plan, index, spec, handled, stack):
    missing = not_persisted(spec, handled)
    if missing:
        plan.warn(
            "links[%d] (%s): not persisted: %s (%s has no setting for it; the kernel keeps it until the next reboot)"
            % (index, spec["name"], ", ".join(missing), stack)
        )


# --- ifupdown's interfaces file: which files it reads, which interfaces it configures ----------------------

_RUN_PARTS_RE = re.compile(r"[A-Za-z0-9_-]+")


def glob_match(pattern, path):
    """Whether a shell glob (wordexp, as ifupdown's ``source``) matches a path: '*' stays within one component
    and does not match a leading '.'."""
    want = pattern.split("/")
    have = path.split("/")
    if len(want) != len(have):
        return False
    for pat, name in zip(want, have):
        if name.startswith(".") and not pat.startswith("."):
            return False
        if not fnmatchcase(name, pat):
            return False
    return True


def logical_lines(text):
    """The lines of an interfaces(5) file: comments dropped, backslash continuations joined."""
    out = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append(stripped)
    if pending.strip():
        out.append(pending.strip())
    return out


def walk_interfaces(path, read, expand, listdir, depth=0, seen=None):
    """Yield (file, words, kind) for each stanza line of an interfaces file and the files it sources.

    ``read(path)`` returns text or None; ``expand(pattern)`` the paths a glob names; ``listdir(path)`` the names
    in a directory (or []). ``kind`` is 'line' for a line of a file, or 'source'/'source-directory' for the
    pattern a line names (words[1] then holds the absolute pattern)."""
    seen = set() if seen is None else seen
    if depth > 8 or path in seen:
        return
    seen.add(path)
    text = read(path)
    if text is None:
        return
    base = posixpath.dirname(path)
    for line in logical_lines(text):
        words = line.split()
        keyword = words[0]
        if keyword in ("source", "source-directory") and len(words) > 1:
            pattern = words[1] if words[1].startswith("/") else posixpath.join(base, words[1])
            yield path, [keyword, pattern], keyword
            if keyword == "source":
                for sourced in sorted(expand(pattern)):
                    yield from walk_interfaces(sourced, read, expand, listdir, depth + 1, seen)
            else:
                for directory in sorted(expand(pattern)):
                    for name in sorted(listdir(directory)):
                        if _RUN_PARTS_RE.fullmatch(name):
                            sourced = posixpath.join(directory, name)
                            yield from walk_interfaces(sourced, read, expand, listdir, depth + 1, seen)
            continue
        yield path, words, "line"


def sources_directory(interfaces_file, directory, sample_name, read, expand, listdir):
    """Whether interfaces_file (or a file it sources) makes ifupdown read the file ``sample_name`` in
    ``directory`` (a ``source`` glob that matches it, or a ``source-directory`` that names the directory)."""
    path = posixpath.join(directory, sample_name)
    for _file, words, kind in walk_interfaces(interfaces_file, read, expand, listdir):
        if kind == "source" and glob_match(words[1], path):
            return True
        if kind == "source-directory" and glob_match(words[1].rstrip("/") or "/", directory):
            return _RUN_PARTS_RE.fullmatch(sample_name) is not None
    return False


def ifupdown_interfaces(interfaces_file, read, expand, listdir):
    """Names of the interfaces the files configure with an ``iface`` stanza (the loopback left out)."""
    names = []
    for _file, words, kind in walk_interfaces(interfaces_file, read, expand, listdir):
        if kind == "line" and words[0] == "iface" and len(words) > 1 and words[1] != "lo" and words[1] not in names:
            if len(words) > 3 and words[3] == "loopback":
                continue
            names.append(words[1])
    return names


# --- auto: which stack runs -------------------------------------------------------------------------------

UNITS = (
    ("networkmanager", "NetworkManager.service"),
    ("networkd", "systemd-networkd.service"),
    ("ifupdown", "networking.service"),
)


def choose_backend(systemd_running, units, ifupdown_stanzas):
    """The stack ``auto`` persists for: (backend or None, reason).

    ``units`` {unit: True/False}: active (systemd is PID 1) or enabled (otherwise, from the unit links in the
    systemd directory). NetworkManager first, then systemd-networkd, then ifupdown (its networking.service, or
    an interfaces file with ``iface`` stanzas besides the loopback: ``ifupdown_stanzas``)."""
    state = "active" if systemd_running else "enabled (systemd is not running: read from the unit files)"
    for backend, unit in UNITS:
        if units.get(unit):
            return backend, "%s is %s" % (unit, state)
    if ifupdown_stanzas:
        return "ifupdown", "the interfaces file configures %s with iface stanzas" % ", ".join(ifupdown_stanzas[:5])
    if systemd_running:
        why = "neither NetworkManager, systemd-networkd nor ifupdown's networking.service is active"
    else:
        why = (
            "systemd is not running, and neither NetworkManager, systemd-networkd nor networking.service is "
            "enabled, and the interfaces file has no iface stanza besides the loopback"
        )
    return None, why
