"""The full iproute2 oracle: everything the kernel holds for a namespace's links, addresses and routes.

``full_dump(ns)`` reads ``ip -j -d link show``, ``ip -j -d addr show`` and ``ip -j -4/-6 route show table all``
of namespace ``ns`` and masks only what settles asynchronously, on its own clock, after a change:

- links: ``operstate``, the carrier counters (``carrier_changes``, ``carrier_up_count``,
  ``carrier_down_count``) and the operstate-derived flags ``LOWER_UP``, ``NO-CARRIER`` and ``DORMANT``;
- addresses: the DAD states ``tentative``, ``optimistic`` and ``dadfailed``, and the remaining lifetime of an
  address that is not permanent (its kind, forever or finite, stays: ``finite``);
- routes: the ``linkdown`` flag (carrier) and the remaining lifetime of a route that expires (``finite``).

Nothing else is masked: ifindex, MAC, MTU, linkinfo, flags, the promiscuity and allmulti counters, address
flags (noprefixroute, nodad, secondary, dynamic), labels, and every route's table, protocol, scope, type,
prefsrc, metric, gateway and flags are compared. IPv6 link-local addresses and the kernel's fe80::/64 and
ff00::/8 routes appear asynchronously after a link comes up: they are not masked; ``assert_same`` polls until
the namespace equals the expected dump or the timeout passes, then fails with a readable difference.

Run as a script, ``python oracle.py dump NS FILE`` writes ``full_dump(NS)`` to FILE as JSON (the fault hook's
``before_cmd`` uses it to record the state a foreign actor left right before a run's first step).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

FOREVER = 4294967295
LINK_ASYNC_FIELDS = ("operstate", "carrier_changes", "carrier_up_count", "carrier_down_count")
LINK_ASYNC_FLAGS = ("LOWER_UP", "NO-CARRIER", "DORMANT")
ADDRESS_DAD_FLAGS = ("tentative", "optimistic", "dadfailed")
ROUTE_ASYNC_FLAGS = ("linkdown",)


def _ip_json(ns, *args):
    proc = subprocess.run(["ip", "-n", ns, "-j", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError("ip -n %s -j %s failed: %s" % (ns, " ".join(args), proc.stderr.strip()))
    return json.loads(proc.stdout or "[]")


def _link(entry):
    link = {k: v for k, v in entry.items() if k not in LINK_ASYNC_FIELDS and k != "addr_info"}
    link["flags"] = [f for f in entry.get("flags", []) if f not in LINK_ASYNC_FLAGS]
    return link


def _lifetime(value):
    return value if value == FOREVER else "finite"


def _address(entry):
    addr = {k: v for k, v in entry.items() if k not in ADDRESS_DAD_FLAGS}
    for key in ("valid_life_time", "preferred_life_time"):
        if key in addr:
            addr[key] = _lifetime(addr[key])
    return addr


def _route(entry):
    route = dict(entry)
    if "flags" in route:
        route["flags"] = [f for f in route["flags"] if f not in ROUTE_ASYNC_FLAGS]
    if "expires" in route:
        route["expires"] = "finite"
    return route


def _key(item):
    return json.dumps(item, sort_keys=True)


def _settled(ns):
    """Every link that is up has its carrier and, unless IPv6 address generation is off or its MTU is below 1280,
    its link-local address, and no address is still in duplicate address detection."""
    modes = {e["ifname"]: e.get("inet6_addr_gen_mode") for e in _ip_json(ns, "-d", "link", "show")}
    for entry in _ip_json(ns, "addr", "show"):
        flags = entry.get("flags", [])
        if "UP" not in flags or entry.get("link_type") == "loopback":
            continue
        if "LOWER_UP" not in flags:
            return False
        addresses = entry.get("addr_info", [])
        has_ll = any(a.get("family") == "inet6" and a.get("scope") == "link" for a in addresses)
        # Below an MTU of 1280 the kernel keeps no IPv6 on a link: no link-local address ever comes.
        if not has_ll and modes.get(entry["ifname"]) != "none" and entry.get("mtu", 1500) >= 1280:
            return False
        # The local route of an IPv6 address appears when its duplicate address detection ends.
        if any(a.get("tentative") and not a.get("dadfailed") for a in addresses):
            return False
    return True


def settle(ns, timeout=30):
    """Wait (at most ``timeout`` s) until links brought up have their carrier, their IPv6 link-local address and
    the local routes that follow duplicate address detection: what the kernel adds asynchronously after a veth
    pair comes up (linkwatch waits up to a second, DAD one or two more unless the namespace turned it off). It
    returns as soon as that is there; the long bound is for a machine under load (a clean-clone CI run saw a
    "before" dump taken after 5 s still without the veths' link-local addresses)."""
    deadline = time.monotonic() + timeout
    while not _settled(ns) and time.monotonic() < deadline:
        time.sleep(0.05)


def full_dump(ns, settle_first=True):
    """Links (by name), addresses (by link name) and routes (per family, sorted) of namespace ``ns``.

    ``settle_first``: wait first until what the kernel adds after a link comes up is there (see ``settle``), so a
    dump taken right after building a namespace is the state it keeps."""
    if settle_first:
        settle(ns)
    links = {entry["ifname"]: _link(entry) for entry in _ip_json(ns, "-d", "link", "show")}
    addresses = {}
    for entry in _ip_json(ns, "-d", "addr", "show"):
        found = [_address(a) for a in entry.get("addr_info", [])]
        addresses[entry["ifname"]] = sorted(found, key=lambda a: (a.get("family"), a.get("local"), a.get("prefixlen")))
    routes = {
        family: sorted((_route(r) for r in _ip_json(ns, "-%s" % family, "route", "show", "table", "all")), key=_key)
        for family in ("4", "6")
    }
    return {"links": links, "addresses": addresses, "routes": routes}


def without(dump, names):
    """``dump`` without the links ``names``: their link entries, their addresses and every route through them."""
    names = set(names)
    return {
        "links": {k: v for k, v in dump["links"].items() if k not in names},
        "addresses": {k: v for k, v in dump["addresses"].items() if k not in names},
        "routes": {f: [r for r in routes if r.get("dev") not in names] for f, routes in dump["routes"].items()},
    }


def _flat(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flat(item, "%s%s." % (prefix, key)))
        return out
    return {prefix[:-1]: value}


def describe_difference(expected, actual):
    """Readable lines saying how ``actual`` differs from ``expected`` (empty when equal)."""
    lines = []
    before, after = expected["links"], actual["links"]
    for name in sorted(set(before) - set(after)):
        lines.append("link %s: gone (was ifindex %s)" % (name, before[name].get("ifindex")))
    for name in sorted(set(after) - set(before)):
        link = after[name]
        kind = link.get("linkinfo", {}).get("info_kind", "?")
        lines.append("link %s: new (%s, ifindex %s)" % (name, kind, link.get("ifindex")))
    for name in sorted(set(before) & set(after)):
        old, new = _flat(before[name]), _flat(after[name])
        for key in sorted(set(old) | set(new)):
            if old.get(key, "<absent>") != new.get(key, "<absent>"):
                lines.append(
                    "link %s: %s %s -> %s"
                    % (name, key, json.dumps(old.get(key, "<absent>")), json.dumps(new.get(key, "<absent>")))
                )
    for name in sorted(set(expected["addresses"]) | set(actual["addresses"])):
        old = {_key(a) for a in expected["addresses"].get(name, [])}
        new = {_key(a) for a in actual["addresses"].get(name, [])}
        lines += ["address on %s missing: %s" % (name, a) for a in sorted(old - new)]
        lines += ["address on %s extra: %s" % (name, a) for a in sorted(new - old)]
    for family in ("4", "6"):
        old = [_key(r) for r in expected["routes"].get(family, [])]
        new = [_key(r) for r in actual["routes"].get(family, [])]
        lines += ["IPv%s route missing: %s" % (family, r) for r in sorted(set(old) - set(new))]
        lines += ["IPv%s route extra: %s" % (family, r) for r in sorted(set(new) - set(old))]
        if set(old) == set(new) and sorted(old) != sorted(new):
            lines.append("IPv%s routes: same routes, different multiplicity" % family)
    return lines


def _wait_equal(ns, expected, timeout, transform):
    deadline = time.monotonic() + timeout
    while True:
        actual = transform(full_dump(ns, settle_first=False))
        if actual == expected:
            return None
        if time.monotonic() >= deadline:
            return actual
        time.sleep(0.1)


def assert_same(ns, before, timeout=3):
    """Namespace ``ns`` equals the dump ``before`` (polling up to ``timeout`` s for what appears asynchronously)."""
    actual = _wait_equal(ns, before, timeout, lambda d: d)
    if actual is not None:
        lines = describe_difference(before, actual) or ["(dumps differ in a way the differ did not describe)"]
        raise AssertionError("netns %s differs from the dump taken before:\n  %s" % (ns, "\n  ".join(lines)))


def assert_same_except(ns, before, names, timeout=3):
    """Namespace ``ns`` equals ``before`` apart from the links ``names`` (their entries, addresses and routes).

    Name the parent of a new macvlan too when it is a veth: the kernel raises a parent's promiscuity counter when
    a child's MAC joins its unicast list and the device has no unicast filter."""
    expected = without(before, names)
    actual = _wait_equal(ns, expected, timeout, lambda d: without(d, names))
    if actual is not None:
        lines = describe_difference(expected, actual) or ["(dumps differ in a way the differ did not describe)"]
        raise AssertionError(
            "netns %s differs from the dump taken before (apart from %s):\n  %s"
            % (ns, ", ".join(sorted(names)), "\n  ".join(lines))
        )


def load(path):
    with open(path) as handle:
        return json.load(handle)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "dump":
        sys.exit("usage: oracle.py dump NETNS FILE")
    with open(sys.argv[3], "w") as out:
        json.dump(full_dump(sys.argv[2]), out)
