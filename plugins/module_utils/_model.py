# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Desired state of macvlan links: validation and normalisation.

Pure code: no netlink, no Ansible imports. Everything that can be judged from the user's input alone is judged
here, so a bad value fails before any socket is opened. MAC addresses come out lower-case, modes as names,
addresses and routes in one canonical spelling so that comparing with the kernel is a plain ``==``.
"""

import hashlib
import hmac
import ipaddress
import re
import socket

MODES = ("private", "vepa", "bridge", "passthru", "source")
LINK_TYPES = ("macvlan", "macvtap")
RECREATE = ("auto", "never")

# IFLA_MACVLAN_MODE values (include/uapi/linux/if_link.h).
MODE_VALUES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
MODE_NAMES = {v: k for k, v in MODE_VALUES.items()}
# IFLA_MACVLAN_FLAGS bits.
FLAG_NOPROMISC = 1
FLAG_NODST = 2

IFNAMSIZ = 16  # includes the terminating NUL: names are at most 15 bytes
MTU_MIN = 68
MTU_MAX = 65535
U32_MAX = 2**32 - 1
S32_MIN = -(2**31)
S32_MAX = 2**31 - 1

# Kernel releases that introduced an attribute; (major, minor).
KERNEL_REQUIREMENTS = {
    "bcqueuelen": ((5, 11), "IFLA_MACVLAN_BC_QUEUE_LEN"),
    "bclim": ((6, 4), "IFLA_MACVLAN_BC_CUTOFF"),
}

# A netlink attribute's length has 16 bits. The source list travels inside IFLA_LINKINFO (the kind, then
# IFLA_INFO_DATA with mode, flags, broadcast settings and the list), 12 bytes per address (a 4-byte header, 6
# bytes, 2 of padding), both when it is set and when the kernel reports the link: about 5,450 fit. The limit
# keeps room for what the kernel adds to IFLA_LINKINFO of a link enslaved to a bridge or bond.
MAX_SOURCE_MACS = 5000

# The kernel reports bc_cutoff only when it differs from its default of 1.
BCLIM_DEFAULT = 1

# ``parent: default``: the interface of the namespace's IPv4 default route (as CNI does when ``master`` is
# omitted). ``mac_address: stable``: a MAC address derived from the machine id, the namespace and the name.
DEFAULT_PARENT = "default"
STABLE_MAC = "stable"
# The key of the stable-MAC derivation: changing it changes every stable MAC of the fleet (never change it).
STABLE_MAC_KEY = b"hostnet.macvlan stable mac v1"

# Characters no interface name, namespace or address holds (checked by one regular expression: every run
# validates thousands of names).
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f]")
_NAME_SEPARATORS = re.compile("[/:%]")
_WHITESPACE = re.compile(r"\s")

# Per-link IPv6 options. The three sysctls of /proc/sys/net/ipv6/conf/<link>/ (booleans: true is the kernel's 1;
# accept_ra may also hold 2, "accept even when forwarding", which the facts report as 2) and the link-local address
# generation mode (IFLA_INET6_ADDR_GEN_MODE, include/uapi/linux/if_link.h: enum in6_addr_gen_mode).
IPV6_SYSCTLS = {"ipv6_disabled": "disable_ipv6", "ipv6_accept_ra": "accept_ra", "ipv6_autoconf": "autoconf"}
ADDR_GEN_MODES = {"eui64": 0, "none": 1, "stable_privacy": 2, "random": 3}
ADDR_GEN_MODE_NAMES = {v: k for k, v in ADDR_GEN_MODES.items()}
IPV6_OPTIONS = ("ipv6_disabled", "ipv6_accept_ra", "ipv6_autoconf", "ipv6_addr_gen_mode")

# Below this MTU the kernel keeps no IPv6 state on a link (IPv6's minimum link MTU, RFC 8200).
IPV6_MIN_MTU = 1280

_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")


class ModelError(ValueError):
    """Invalid desired state. The message names the option and the value."""


def _fail(option, value, reason):
    raise ModelError("%s: %r %s" % (option, value, reason))


# Bytes the kernel's isspace() is true for (lib/ctype.c: tab, newline, vertical tab, form feed, carriage return,
# space, and Latin-1's no-break space 0xA0, which is also the second byte of UTF-8 letters such as 'à').
# dev_valid_name() refuses a name holding any of them.
KERNEL_SPACE_BYTES = frozenset(b"\t\n\v\f\r \xa0")


def validate_ifname(value, option="name"):
    """Return the interface name as the kernel will store it, else raise ModelError.

    Strings only (a plain integer is taken as its digits): Ansible's ``str`` would have turned a list such as
    ``[eth0]`` into the name ``"['eth0']"``. The rules are the kernel's dev_valid_name(), byte by byte, plus two
    of ours: no '%' (a new link's '%d' is a template for the next free number) and no control characters.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or value == "":
        _fail(option, value, "is not a valid interface name: it must be a non-empty string")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        _fail(option, value, "is not a valid interface name: it is not valid UTF-8")
    if len(raw) >= IFNAMSIZ:
        _fail(option, value, "is too long: interface names are at most %d bytes" % (IFNAMSIZ - 1))
    if value in (".", ".."):
        _fail(option, value, "is not a valid interface name")
    if b"\0" in raw:
        _fail(option, value, "is not a valid interface name: it contains a NUL byte")
    if _NAME_SEPARATORS.search(value):
        # The kernel reads '%d' in a new link's name as a template for the next free number.
        _fail(option, value, "is not a valid interface name: it must not contain '/', ':', '%' or whitespace")
    spaces = KERNEL_SPACE_BYTES.intersection(raw)
    if spaces:
        if 0xA0 in spaces and not any(char.isspace() for char in value):
            _fail(
                option,
                value,
                "is not a valid interface name: its UTF-8 bytes include 0xa0, which the kernel counts as white space "
                "(dev_valid_name); use ASCII letters, digits, '-', '_' and '.'",
            )
        _fail(option, value, "is not a valid interface name: it must not contain '/', ':', '%' or whitespace")
    if _CONTROL_CHARS.search(value):
        _fail(option, value, "is not a valid interface name: it contains a control character")
    return value


def normalize_mac(value, option="mac_address"):
    """Return a unicast MAC address in lower-case colon notation, else raise ModelError."""
    if not isinstance(value, str) or not _MAC_RE.match(value.strip()):
        _fail(option, value, "is not a MAC address: write six hex octets, e.g. 02:00:00:00:00:01")
    mac = value.strip().lower().replace("-", ":")
    first = int(mac[:2], 16)
    if first & 1:
        _fail(option, value, "is a multicast MAC address: a link needs a unicast address (first octet even)")
    if mac == "00:00:00:00:00:00":
        _fail(option, value, "is the all-zero MAC address")
    return mac


def _plain_text(value, option, what):
    """Refuse characters no address or network spelling holds (and which must never reach a file)."""
    if _CONTROL_CHARS.search(value):
        _fail(option, value, "is not %s: it contains a control character (a newline?)" % what)


def normalize_cidr(value, option="addresses"):
    """Return 'address/prefix' in canonical spelling; the prefix length is required.

    An IPv6 scope id (``fe80::5%eth0/64``) is refused: an address always belongs to the link it is listed on,
    and Python 3.9+ would otherwise accept any text after the '%'.
    """
    if not isinstance(value, str) or "/" not in value:
        _fail(option, value, "needs an explicit prefix length, e.g. 192.0.2.10/24 or 2001:db8::10/64")
    _plain_text(value, option, "an address with prefix length")
    if "%" in value:
        _fail(
            option,
            value,
            "has a scope id ('%...'): write the address without it; an address belongs to the link it is listed on",
        )
    try:
        iface = ipaddress.ip_interface(value.strip())
    except ValueError:
        _fail(option, value, "is not an IPv4 or IPv6 address with prefix length")
    return "%s/%d" % (iface.ip.compressed, iface.network.prefixlen)


def default_metric(family):
    """The metric the kernel stores when none is given: 0 for IPv4, 1024 for IPv6."""
    return 1024 if family == 6 else 0


def _gateway(gateway, option, link):
    """The gateway as an address. An IPv6 link-local gateway may carry the route's own link as scope id
    (``fe80::1%mv0``: "on this link", which is what a route through the link means anyway); any other scope id is
    refused, because the route cannot leave through another interface."""
    if not isinstance(gateway, str):
        gateway = str(gateway)
    _plain_text(gateway, option, "an IP address")
    text = gateway.strip()
    if "%" in text:
        address, scope = text.split("%", 1)
        if link is None or scope != link:
            _fail(
                option,
                gateway,
                "names interface %r as its scope, but the route goes through link %s; write the address without "
                "'%%%s' (a route's gateway is always reached through its own link)" % (scope, link, scope)
                if link is not None
                else "has a scope id ('%...'): write the address without it",
            )
        text = address
    try:
        gw = ipaddress.ip_address(text)
    except ValueError:
        _fail(option, gateway, "is not an IP address")
    if "%" in gw.compressed:  # a scope id Python kept (3.9+): never written anywhere
        _fail(option, gateway, "has a scope id ('%...'): write the address without it")
    return gw


def normalize_route(value, option="routes", link=None):
    """Return a route as {'dest', 'gateway', 'metric'} in canonical spelling. ``link``: the name of the link the
    route goes through (a link-local gateway may name it as scope id)."""
    given = value
    if isinstance(value, str):
        value = {"dest": value}  # a route given as its destination alone (the roles' variables allow it)
    if not isinstance(value, dict) or not value.get("dest"):
        _fail(
            option,
            given,
            "must be a destination network such as 198.51.100.0/24 (or 'default'), or a dict with at least 'dest'",
        )
    unknown = set(value) - {"dest", "gateway", "metric"}
    if unknown:
        _fail(option, value, "has unknown keys %s; use dest, gateway and metric" % sorted(unknown))
    dest = str(value["dest"])
    _plain_text(dest, option + ".dest", "a network")
    dest = dest.strip()
    if "%" in dest:
        _fail(option + ".dest", value["dest"], "has a scope id ('%...'): write the network without it")
    gateway = value.get("gateway")
    gw = None
    if gateway not in (None, ""):
        gw = _gateway(gateway, option + ".gateway", link)
    if dest == "default":
        dest = "::/0" if gw is not None and gw.version == 6 else "0.0.0.0/0"
    try:
        net = ipaddress.ip_network(dest, strict=False)
    except ValueError:
        _fail(option + ".dest", value["dest"], "is not a network such as 198.51.100.0/24 or 2001:db8:1::/64")
    if "/" not in dest:
        _fail(option + ".dest", value["dest"], "needs an explicit prefix length, e.g. 198.51.100.0/24")
    if net.network_address != ipaddress.ip_interface(dest).ip:
        _fail(option + ".dest", value["dest"], "has host bits set; did you mean %s?" % net.compressed)
    if gw is not None and gw.version != net.version:
        _fail(option + ".gateway", gateway, "is not of the same address family as dest %s" % net.compressed)
    metric = value.get("metric")
    if metric in (None, ""):
        metric = default_metric(net.version)
    else:
        if isinstance(metric, bool):
            _fail(option + ".metric", metric, "is not an integer")
        try:
            metric = int(metric)
        except (TypeError, ValueError):
            _fail(option + ".metric", metric, "is not an integer")
        if not 0 <= metric <= U32_MAX:
            _fail(option + ".metric", metric, "is out of range 0..%d" % U32_MAX)
        if metric == 0 and net.version == 6:
            metric = default_metric(6)  # the kernel stores IPv6 metric 0 as its default, 1024
    return {"dest": net.compressed, "gateway": gw.compressed if gw is not None else None, "metric": metric}


def prefix_route_key(cidr):
    """The key of the route the kernel adds for an address's subnet (None for a host address or a link-local
    one): metric 0 for IPv4, 256 for IPv6."""
    iface = ipaddress.ip_interface(cidr)
    network = iface.network
    if network.prefixlen == network.max_prefixlen or (iface.version == 6 and iface.ip.is_link_local):
        return None
    return (network.compressed, None, 0 if iface.version == 4 else 256)


def route_key(route):
    """A hashable identity of a normalised route."""
    return (route["dest"], route["gateway"], route["metric"])


def sort_routes(routes):
    return sorted(routes, key=lambda r: (r["dest"], r["gateway"] or "", r["metric"]))


# Ansible's spellings of booleans (ansible.module_utils.parsing.convert_bool), for options that Ansible's argument
# spec does not check first (the suboptions of ``links`` in macvlan_state and macvlan_persist: validated once, here).
BOOLEANS_TRUE = frozenset(("y", "yes", "on", "1", "true", "t"))
BOOLEANS_FALSE = frozenset(("n", "no", "off", "0", "false", "f"))


def to_bool(value, option):
    """True/False from a boolean or one of Ansible's spellings of one (yes/no, on/off, 1/0, ...); None stays None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in BOOLEANS_TRUE | BOOLEANS_FALSE:
        return value.strip().lower() in BOOLEANS_TRUE
    _fail(option, value, "must be true or false")


def to_list(value, option, what):
    """A list option: a list as given, or a comma-separated string split as Ansible's ``type: list`` does."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    _fail(option, value, "must be a list of %s" % what)


def to_text(value, option):
    """A string option: a string, or a number written out (Ansible's ``type: str`` conversion)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    _fail(option, value, "must be a string")


# How the raw options of a link (no argument spec: ``normalize_link(raw=True)``) are converted, as Ansible's types
# would: strings, booleans, lists.
RAW_CONVERSIONS = (
    [(key, to_text) for key in ("netns", "link_netns", "mac_address", "ipv6_addr_gen_mode")]
    + [
        (key, to_bool)
        for key in (
            "nopromisc",
            "nodst",
            "allmulticast",
            "multicast",
            "ipv6_disabled",
            "ipv6_accept_ra",
            "ipv6_autoconf",
        )
    ]
    + [
        ("source_macs", lambda value, option: to_list(value, option, "MAC addresses")),
        ("addresses", lambda value, option: to_list(value, option, "addresses with prefix length")),
        ("routes", lambda value, option: to_list(value, option, "routes")),
    ]
)


def check_keys(params, known, where):
    """Refuse options a link does not have (a misspelt option would otherwise be ignored without a word)."""
    if not isinstance(params, dict):
        raise ModelError("%s: %r must be a dict of link options" % (where, params))
    unknown = [key for key in params if key not in known]
    if unknown:
        raise ModelError(
            "%s: unknown option%s %s; a link's options are %s"
            % (
                where,
                "s" if len(unknown) > 1 else "",
                ", ".join(repr(key) for key in sorted(unknown, key=str)),
                ", ".join(sorted(known)),
            )
        )


def _int_in_range(params, option, low, high, prefix=""):
    value = params.get(option)
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        _fail(prefix + option, value, "is not an integer")
    try:
        value = int(value)
    except (TypeError, ValueError):
        _fail(prefix + option, value, "is not an integer")
    if not low <= value <= high:
        _fail(prefix + option, value, "is out of range %d..%d" % (low, high))
    return value


def _choice(params, option, choices, default, prefix=""):
    value = params.get(option)
    if value is None:
        return default
    if not isinstance(value, str) or value not in choices:
        _fail(prefix + option, value, "is not one of %s" % ", ".join(choices))
    return value


def normalize_link(params, prefix="", raw=False):
    """Validate one link's options and return the desired state as a plain dict.

    ``prefix`` is prepended to option names in error messages (``links[3].``) for the multi-link module.
    Options left unset stay ``None``: the engine leaves those attributes as the kernel has them.

    ``raw``: Ansible's argument spec has not checked the options' types (the ``links`` of macvlan_state and
    macvlan_persist carry no suboptions in their argument spec: a thousand links are validated once, here, instead
    of twice; the caller refuses unknown options with ``check_keys``). Types are then converted as Ansible would
    (``to_bool``, ``to_list``, ``to_text``) and ``name`` is required here.
    """

    def opt(name):
        return prefix + name

    def fail(name, value, reason):
        _fail(opt(name), value, reason)

    if raw:
        if params.get("name") is None:
            fail("name", None, "is required: every link needs a name")
        params = dict(params)
        # Only the options a link sets (most set few): an unset option stays None either way.
        for key, convert in RAW_CONVERSIONS:
            value = params.get(key)
            if value is not None:
                params[key] = convert(value, opt(key))

    spec = {
        "name": validate_ifname(params.get("name"), opt("name")),
        "state": _choice(params, "state", ("present", "absent"), "present", prefix),
        "netns": params.get("netns") or None,
        "link_netns": params.get("link_netns") or None,
    }
    for ns_opt in ("netns", "link_netns"):
        if spec[ns_opt] is not None:
            validate_netns(spec[ns_opt], opt(ns_opt))
    if spec["state"] == "absent":
        return spec

    parent = params.get("parent")
    if parent in (None, ""):
        fail("parent", parent, "is required when state is present")
    if parent == DEFAULT_PARENT:
        # Resolved against the kernel (the engine's one route dump): ``_plan.resolve_links``.
        spec["parent"] = None
        spec["parent_default"] = True
    else:
        spec["parent"] = validate_ifname(parent, opt("parent"))
    if spec["parent"] == spec["name"] and spec["link_netns"] is None:
        # A link that lives in another namespace (link_netns) may share its parent's name: a container's eth0
        # on the host's eth0. A name is taken only in the namespace where the link lives.
        fail("parent", parent, "is the link's own name (they can share a name only when link_netns is set)")
    spec["type"] = _choice(params, "type", LINK_TYPES, "macvlan", prefix)
    spec["mode"] = _choice(params, "mode", MODES, "bridge", prefix)
    spec["link_state"] = _choice(params, "link_state", ("up", "down"), "up", prefix)
    spec["recreate"] = _choice(params, "recreate", RECREATE, "auto", prefix)

    mac = params.get("mac_address")
    if isinstance(mac, str) and mac.strip().lower() == STABLE_MAC:
        # Derived from the machine id (read on the managed node): ``_plan.resolve_links``.
        spec["mac_address"] = None
        spec["mac_stable"] = True
    else:
        spec["mac_address"] = normalize_mac(mac, opt("mac_address")) if mac not in (None, "") else None
    spec["mtu"] = _int_in_range(params, "mtu", MTU_MIN, MTU_MAX, prefix)
    spec["bcqueuelen"] = _int_in_range(params, "bcqueuelen", 0, U32_MAX, prefix)
    spec["bclim"] = _int_in_range(params, "bclim", S32_MIN, S32_MAX, prefix)

    mode = spec["mode"]
    macs = params.get("source_macs")
    if macs is not None:
        if mode != "source":
            fail("source_macs", macs, "is only valid with mode source (mode is %s)" % mode)
        if isinstance(macs, str) or not isinstance(macs, (list, tuple)):
            fail("source_macs", macs, "must be a list of MAC addresses")
        normalized = [normalize_mac(m, opt("source_macs")) for m in macs]
        spec["source_macs"] = sorted(set(normalized))
        if len(spec["source_macs"]) > MAX_SOURCE_MACS:
            fail(
                "source_macs",
                "<%d MAC addresses>" % len(spec["source_macs"]),
                "is too long: at most %d source MAC addresses fit in one link (the kernel reads and reports the list "
                "in one netlink attribute of at most 64 KiB, 12 bytes per address)" % MAX_SOURCE_MACS,
            )
    else:
        spec["source_macs"] = None

    for flag in ("allmulticast", "multicast"):
        value = params.get(flag)
        if value is not None and not isinstance(value, bool):
            fail(flag, value, "must be true or false")
        spec[flag] = value

    for flag in IPV6_SYSCTLS:
        value = params.get(flag)
        if value is not None and not isinstance(value, bool):
            fail(flag, value, "must be true or false")
        spec[flag] = value
    gen_mode = params.get("ipv6_addr_gen_mode")
    if gen_mode is not None and gen_mode not in ADDR_GEN_MODES:
        fail("ipv6_addr_gen_mode", gen_mode, "must be one of %s" % ", ".join(ADDR_GEN_MODES))
    spec["ipv6_addr_gen_mode"] = gen_mode

    for flag, needed in (("nopromisc", "passthru"), ("nodst", "source")):
        value = params.get(flag)
        if value is not None and not isinstance(value, bool):
            fail(flag, value, "must be true or false")
        if value and mode != needed:
            fail(flag, value, "is only valid with mode %s (mode is %s)" % (needed, mode))
        # Asking for false outside its mode is what the kernel has anyway; keep it unmanaged there.
        spec[flag] = value if mode == needed else None

    addresses = params.get("addresses")
    if addresses is not None:
        if isinstance(addresses, str) or not isinstance(addresses, (list, tuple)):
            fail("addresses", addresses, "must be a list of addresses with prefix length")
        normalized = [normalize_cidr(a, opt("addresses")) for a in addresses]
        seen = {}
        for cidr in normalized:
            ip = cidr.split("/")[0]
            if ip in seen and seen[ip] != cidr:
                fail("addresses", addresses, "lists %s twice with different prefix lengths" % ip)
            seen[ip] = cidr
        spec["addresses"] = sorted(set(normalized), key=_cidr_sort_key)
        ipv6 = [cidr for cidr in spec["addresses"] if ":" in cidr]
        if ipv6 and spec["link_state"] == "down":
            fail(
                "addresses",
                addresses,
                "has IPv6 addresses, which need link_state up: the kernel drops them when a link goes down",
            )
        if ipv6 and spec["mtu"] is not None and spec["mtu"] < IPV6_MIN_MTU:
            fail("mtu", spec["mtu"], "is below 1280, the IPv6 minimum, and addresses has IPv6 addresses (%s)" % ipv6[0])
        if ipv6 and spec["ipv6_disabled"]:
            fail(
                "addresses",
                addresses,
                "has IPv6 addresses (%s), and ipv6_disabled is true: the kernel refuses IPv6 addresses on a link with "
                "IPv6 disabled; leave them out or set ipv6_disabled false" % ipv6[0],
            )
    else:
        spec["addresses"] = None

    routes = params.get("routes")
    if routes is not None:
        if not isinstance(routes, (list, tuple)):
            fail("routes", routes, "must be a list of routes")
        normalized = [normalize_route(r, opt("routes[%d]" % i), spec["name"]) for i, r in enumerate(routes)]
        unique = {route_key(r): r for r in normalized}
        spec["routes"] = sort_routes(unique.values())
        if spec["routes"] and spec["link_state"] == "down":
            fail("routes", routes, "need link_state up: the kernel removes a link's routes when it goes down")
        ipv6_routes = [r["dest"] for r in spec["routes"] if ":" in r["dest"]]
        if ipv6_routes and spec["ipv6_disabled"]:
            fail(
                "routes",
                routes,
                "has IPv6 routes (%s), and ipv6_disabled is true: the kernel refuses IPv6 routes through a link with "
                "IPv6 disabled; leave them out or set ipv6_disabled false" % ipv6_routes[0],
            )
    else:
        spec["routes"] = None
    options = [key for key in IPV6_OPTIONS if spec.get(key) is not None]
    if options and spec["mtu"] is not None and spec["mtu"] < IPV6_MIN_MTU:
        fail(
            "mtu",
            spec["mtu"],
            "is below 1280, the IPv6 minimum: the kernel keeps no IPv6 state on such a link, so %s cannot be set; "
            "leave the IPv6 options out or give it an mtu of 1280 or more" % options[0],
        )
    return spec


def _packed(cidr):
    """(version, address bytes, prefix length) of a canonical 'address/prefix' (``normalize_cidr``'s spelling, or
    the kernel's as ``_rtnl`` reads it). inet_pton instead of ipaddress: every run compares and sorts the addresses
    of every link it reads, thousands of them."""
    text, prefixlen = cidr.rsplit("/", 1)
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        raw = socket.inet_pton(family, text)
    except (OSError, ValueError):
        iface = ipaddress.ip_interface(cidr)  # not canonical: the slow, strict reading
        return iface.version, iface.ip.packed, iface.network.prefixlen
    return (6 if family == socket.AF_INET6 else 4), raw, int(prefixlen)


def _cidr_sort_key(cidr):
    return _packed(cidr)


def sort_addresses(addresses):
    """Addresses in order: IPv4 before IPv6, then by address (numerically), then by prefix length."""
    addresses = list(addresses)
    if len(addresses) < 2:
        return addresses
    return sorted(addresses, key=_cidr_sort_key)


def is_kernel_link_local(cidr):
    """IPv6 link-local addresses (fe80::/10) are added by the kernel to every link; the collection leaves them
    alone."""
    if ":" not in cidr:
        return False
    version, raw, dummy = _packed(cidr)
    return version == 6 and raw[0] == 0xFE and raw[1] & 0xC0 == 0x80


def managed_addresses(current, desired):
    """The part of a link's current addresses that an exact ``addresses`` list governs."""
    wanted = set(desired or [])
    return [cidr for cidr in current if cidr in wanted or not is_kernel_link_local(cidr)]


def validate_netns(value, option="netns"):
    """A namespace is a name under /run/netns or an absolute path such as /proc/PID/ns/net."""
    if not isinstance(value, str) or not value:
        _fail(option, value, "must be a namespace name or an absolute path like /proc/1234/ns/net")
    if _CONTROL_CHARS.search(value):
        _fail(option, value, "is not a valid namespace: it contains a control character (a NUL or newline?)")
    if value.startswith("/"):
        return value
    if "/" in value or value in (".", "..") or _WHITESPACE.search(value):
        _fail(option, value, "is not a valid namespace name (use a name from 'ip netns list' or an absolute path)")
    return value


def namespace_key(value):
    """How a namespace enters the stable-MAC derivation: "" for the host's, a name for a named one (NAME and
    /run/netns/NAME are one namespace), any other path as written (a /proc/PID path changes with the PID)."""
    if value is None:
        return ""
    for directory in ("/run/netns/", "/var/run/netns/"):
        if value.startswith(directory) and "/" not in value[len(directory) :]:
            return value[len(directory) :]
    return value


def normalize_machine_id(text, source="/etc/machine-id"):
    """The 128-bit machine id (machine-id(5): 32 lower-case hex digits and a newline), else ModelError."""
    value = (text or "").strip().lower()
    if not re.match(r"^[0-9a-f]{32}$", value) or value == "0" * 32:
        raise ModelError(
            "mac_address: 'stable' needs the machine id, but %s holds %r, not 32 hex digits (systemd-machine-id-setup "
            "or dbus-uuidgen writes one)" % (source, (text or "")[:64])
        )
    return value


def stable_mac(machine_id, namespace, name):
    """A locally administered unicast MAC address for link ``name`` in ``namespace`` (``namespace_key``) of the
    machine ``machine_id``: the first six bytes of HMAC-SHA256 keyed with the machine id, with the multicast bit
    cleared and the locally-administered bit set. The same on every run and after the link is re-created; different
    on another machine (like systemd's MACAddressPolicy=persistent, not the same values)."""
    message = STABLE_MAC_KEY + b"\0" + namespace.encode("utf-8") + b"\0" + name.encode("utf-8")
    digest = bytearray(hmac.new(bytes.fromhex(machine_id), message, hashlib.sha256).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02
    return ":".join("%02x" % octet for octet in digest)


def netns_path(value):
    """The file that represents the namespace: /run/netns/NAME for a name, the path itself otherwise."""
    if value is None:
        return None
    return value if value.startswith("/") else "/run/netns/" + value


def kernel_version(release):
    """(major, minor) from a kernel release string such as '6.1.0-18-amd64'."""
    match = re.match(r"^(\d+)\.(\d+)", release or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def check_kernel_support(spec, release, option_prefix=""):
    """Fail, naming the option, when the running kernel is too old for an attribute the user asked for."""
    running = kernel_version(release)
    if running is None:
        return
    for option, (needed, attr) in KERNEL_REQUIREMENTS.items():
        if spec.get(option) is not None and running < needed:
            raise ModelError(
                "%s%s: %r needs Linux %d.%d or later (%s); this kernel is %s"
                % (option_prefix, option, spec[option], needed[0], needed[1], attr, release)
            )


def normalize_protect(value, option="protect"):
    """The ``protect`` option: {interfaces: [names], addresses: [canonical IPs], default_route: bool}, or None."""
    if not value:
        return None
    interfaces = [validate_ifname(name, option + ".interfaces") for name in value.get("interfaces") or ()]
    addresses = []
    for address in value.get("addresses") or ():
        text = str(address)
        _plain_text(text, option + ".addresses", "an IP address")
        try:
            addresses.append(ipaddress.ip_address(text.strip().split("%", 1)[0]).compressed)
        except ValueError:
            _fail(option + ".addresses", address, "is not an IP address")
    default_route = bool(value.get("default_route"))
    if not (interfaces or addresses or default_route):
        return None
    return {"interfaces": interfaces, "addresses": addresses, "default_route": default_route}


def normalize_parent(params, index, seen=()):
    """One ``parents`` entry: {name, promisc (default true), mtu, link_state}; mtu and link_state None = unmanaged
    (the parent keeps what it has). ``seen``: names of the entries before it (a name is listed once)."""
    label = "parents[%d]." % index
    if not isinstance(params, dict):
        _fail("parents[%d]" % index, params, "must be a dict with name and promisc, mtu or link_state")
    name = validate_ifname(params.get("name"), label + "name")
    if name in seen:
        _fail(label + "name", name, "is listed twice")
    promisc = params.get("promisc")
    if promisc is None:
        promisc = True
    if not isinstance(promisc, bool):
        _fail(label + "promisc", promisc, "must be true or false")
    parent = {"name": name, "promisc": promisc, "mtu": None, "link_state": None}
    mtu = params.get("mtu")
    if mtu is not None:
        if isinstance(mtu, bool):
            _fail(label + "mtu", mtu, "is not an integer")
        try:
            mtu = int(mtu)
        except (TypeError, ValueError):
            _fail(label + "mtu", mtu, "is not an integer")
        if not MTU_MIN <= mtu <= MTU_MAX:
            _fail(label + "mtu", mtu, "is out of range %d..%d" % (MTU_MIN, MTU_MAX))
        parent["mtu"] = mtu
    state = params.get("link_state")
    if state is not None:
        if state not in ("up", "down"):
            _fail(label + "link_state", state, "is not one of up, down")
        parent["link_state"] = state
    return parent


def normalize_parents(values):
    """The ``parents`` option: a list of ``normalize_parent`` entries."""
    parents = []
    seen = set()
    for index, params in enumerate(values or ()):
        parents.append(normalize_parent(params, index, seen))
        seen.add(parents[-1]["name"])
    return parents
