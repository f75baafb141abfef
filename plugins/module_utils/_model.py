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

from __future__ import annotations

import ipaddress
import re

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

# The kernel reports bc_cutoff only when it differs from its default of 1.
BCLIM_DEFAULT = 1

_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")


class ModelError(ValueError):
    """Invalid desired state. The message names the option and the value."""


def _fail(option, value, reason):
    raise ModelError("%s: %r %s" % (option, value, reason))


def validate_ifname(value, option="name"):
    """Return the interface name if the kernel would accept it, else raise ModelError."""
    if not isinstance(value, str) or value == "":
        _fail(option, value, "is not a valid interface name: it must be a non-empty string")
    if len(value.encode("utf-8")) >= IFNAMSIZ:
        _fail(option, value, "is too long: interface names are at most %d bytes" % (IFNAMSIZ - 1))
    if value in (".", ".."):
        _fail(option, value, "is not a valid interface name")
    for char in value:
        if char in "/:%" or char.isspace():
            # The kernel reads '%d' in a new link's name as a template for the next free number.
            _fail(option, value, "is not a valid interface name: it must not contain '/', ':', '%' or whitespace")
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


def normalize_cidr(value, option="addresses"):
    """Return 'address/prefix' in canonical spelling; the prefix length is required."""
    if not isinstance(value, str) or "/" not in value:
        _fail(option, value, "needs an explicit prefix length, e.g. 192.0.2.10/24 or 2001:db8::10/64")
    try:
        iface = ipaddress.ip_interface(value.strip())
    except ValueError:
        _fail(option, value, "is not an IPv4 or IPv6 address with prefix length")
    return "%s/%d" % (iface.ip.compressed, iface.network.prefixlen)


def default_metric(family):
    """The metric the kernel stores when none is given: 0 for IPv4, 1024 for IPv6."""
    return 1024 if family == 6 else 0


def normalize_route(value, option="routes"):
    """Return a route as {'dest', 'gateway', 'metric'} in canonical spelling."""
    if isinstance(value, str):
        value = {"dest": value}
    if not isinstance(value, dict) or not value.get("dest"):
        _fail(option, value, "must be a dict with at least 'dest' (a network such as 198.51.100.0/24)")
    unknown = set(value) - {"dest", "gateway", "metric"}
    if unknown:
        _fail(option, value, "has unknown keys %s; use dest, gateway and metric" % sorted(unknown))
    dest = str(value["dest"]).strip()
    gateway = value.get("gateway")
    gw = None
    if gateway not in (None, ""):
        try:
            gw = ipaddress.ip_address(str(gateway).strip())
        except ValueError:
            _fail(option + ".gateway", gateway, "is not an IP address")
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
        try:
            metric = int(metric)
        except (TypeError, ValueError):
            _fail(option + ".metric", metric, "is not an integer")
        if not 0 <= metric <= U32_MAX:
            _fail(option + ".metric", metric, "is out of range 0..%d" % U32_MAX)
        if metric == 0 and net.version == 6:
            metric = default_metric(6)  # the kernel stores IPv6 metric 0 as its default, 1024
    return {"dest": net.compressed, "gateway": gw.compressed if gw is not None else None, "metric": metric}


def route_key(route):
    """A hashable identity of a normalised route."""
    return (route["dest"], route["gateway"], route["metric"])


def sort_routes(routes):
    return sorted(routes, key=lambda r: (r["dest"], r["gateway"] or "", r["metric"]))


def _int_in_range(params, option, low, high):
    value = params.get(option)
    if value is None:
        return None
    if isinstance(value, bool):
        _fail(option, value, "is not an integer")
    try:
        value = int(value)
    except (TypeError, ValueError):
        _fail(option, value, "is not an integer")
    if not low <= value <= high:
        _fail(option, value, "is out of range %d..%d" % (low, high))
    return value


def _choice(params, option, choices, default):
    value = params.get(option)
    if value is None:
        return default
    if value not in choices:
        _fail(option, value, "is not one of %s" % ", ".join(choices))
    return value


def normalize_link(params, prefix=""):
    """Validate one link's options and return the desired state as a plain dict.

    ``prefix`` is prepended to option names in error messages (``links[3].``) for the multi-link module.
    Options left unset stay ``None``: the engine leaves those attributes as the kernel has them.
    """

    def opt(name):
        return prefix + name

    def fail(name, value, reason):
        _fail(opt(name), value, reason)

    spec = {
        "name": validate_ifname(params.get("name"), opt("name")),
        "state": _choice(params, "state", ("present", "absent"), "present"),
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
    spec["parent"] = validate_ifname(parent, opt("parent"))
    if spec["parent"] == spec["name"]:
        fail("parent", parent, "is the link's own name")
    spec["type"] = _choice(params, "type", LINK_TYPES, "macvlan")
    spec["mode"] = _choice(params, "mode", MODES, "bridge")
    spec["link_state"] = _choice(params, "link_state", ("up", "down"), "up")
    spec["recreate"] = _choice(params, "recreate", RECREATE, "auto")

    mac = params.get("mac_address")
    spec["mac_address"] = normalize_mac(mac, opt("mac_address")) if mac not in (None, "") else None
    spec["mtu"] = _int_in_range(params, "mtu", MTU_MIN, MTU_MAX)
    spec["bcqueuelen"] = _int_in_range(params, "bcqueuelen", 0, U32_MAX)
    spec["bclim"] = _int_in_range(params, "bclim", S32_MIN, S32_MAX)

    mode = spec["mode"]
    macs = params.get("source_macs")
    if macs is not None:
        if mode != "source":
            fail("source_macs", macs, "is only valid with mode source (mode is %s)" % mode)
        if isinstance(macs, str) or not isinstance(macs, (list, tuple)):
            fail("source_macs", macs, "must be a list of MAC addresses")
        normalized = [normalize_mac(m, opt("source_macs")) for m in macs]
        spec["source_macs"] = sorted(set(normalized))
    else:
        spec["source_macs"] = None

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
        if ipv6 and spec["mtu"] is not None and spec["mtu"] < 1280:
            fail("mtu", spec["mtu"], "is below 1280, the IPv6 minimum, and addresses has IPv6 addresses (%s)" % ipv6[0])
    else:
        spec["addresses"] = None

    routes = params.get("routes")
    if routes is not None:
        if not isinstance(routes, (list, tuple)):
            fail("routes", routes, "must be a list of routes")
        normalized = [normalize_route(r, opt("routes")) for r in routes]
        unique = {route_key(r): r for r in normalized}
        spec["routes"] = sort_routes(unique.values())
        if spec["routes"] and spec["link_state"] == "down":
            fail("routes", routes, "need link_state up: the kernel removes a link's routes when it goes down")
    else:
        spec["routes"] = None
    return spec


def _cidr_sort_key(cidr):
    iface = ipaddress.ip_interface(cidr)
    return (iface.version, iface.ip, iface.network.prefixlen)


def sort_addresses(addresses):
    return sorted(addresses, key=_cidr_sort_key)


def is_kernel_link_local(cidr):
    """IPv6 link-local addresses are added by the kernel to every link; the collection leaves them alone."""
    iface = ipaddress.ip_interface(cidr)
    return iface.version == 6 and iface.ip.is_link_local


def managed_addresses(current, desired):
    """The part of a link's current addresses that an exact ``addresses`` list governs."""
    wanted = set(desired or [])
    return [cidr for cidr in current if cidr in wanted or not is_kernel_link_local(cidr)]


def validate_netns(value, option="netns"):
    """A namespace is a name under /run/netns or an absolute path such as /proc/PID/ns/net."""
    if not isinstance(value, str) or not value:
        _fail(option, value, "must be a namespace name or an absolute path like /proc/1234/ns/net")
    if value.startswith("/"):
        return value
    if "/" in value or value in (".", "..") or any(c.isspace() for c in value):
        _fail(option, value, "is not a valid namespace name (use a name from 'ip netns list' or an absolute path)")
    return value


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
