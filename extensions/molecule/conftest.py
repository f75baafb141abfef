"""Shared fixtures of the molecule scenarios' testinfra verifiers.

The oracle is the kernel as iproute2 and iputils see it inside the containers: ``ip -j -d link``,
``ip -j addr``, ``ip -j route``, ``ip -s -j link`` counters and ``ping``.  Nothing here imports or runs the
collection's own code.  Commands run through testinfra's podman backend (``podman exec``).
"""

from __future__ import annotations

import json
import shlex
import time

import pytest
import testinfra


class Kernel:
    """iproute2 and ping in one container, optionally inside one of its network namespaces."""

    def __init__(self, host):
        self.host = host

    # -- running commands ----------------------------------------------------------------------------
    def run(self, *argv, ns=None):
        """Run argv (in namespace ``ns``); returns testinfra's CommandResult (never raises)."""
        if ns:
            argv = ("ip", "netns", "exec", ns, *argv)
        return self.host.run(shlex.join(argv))

    def check(self, *argv, ns=None):
        """Run argv; fail the test with its output unless it exits 0; returns stdout."""
        result = self.run(*argv, ns=ns)
        assert result.rc == 0, "%s: rc %s\n%s%s" % (shlex.join(argv), result.rc, result.stdout, result.stderr)
        return result.stdout

    def ip_json(self, *args, ns=None):
        out = self.check("ip", *(("-n", ns) if ns else ()), "-j", *args)
        return json.loads(out) if out.strip() else []

    # -- links -----------------------------------------------------------------------------------------
    def links(self, ns=None):
        return self.ip_json("-d", "link", "show", ns=ns)

    def link(self, name, ns=None):
        """``ip -j -d link show`` of one link, or None when it does not exist."""
        return next((link for link in self.links(ns) if link["ifname"] == name), None)

    def macvlans(self, ns=None):
        """{name: link} of the macvlan and macvtap links."""
        return {
            link["ifname"]: link
            for link in self.links(ns)
            if link.get("linkinfo", {}).get("info_kind") in ("macvlan", "macvtap")
        }

    def link_seen_from_outside(self, name):
        """``ip -j -d link show`` of one link of the container's own namespace, read with the controller's
        iproute2 (nsenter): for attributes an older iproute2 in the container does not print (Debian 11's
        5.10 prints neither ``nodst`` nor ``bcqueuelen``)."""
        local = testinfra.get_host("local://")
        pid = local.check_output("podman inspect --format '{{.State.Pid}}' %s", self.host.backend.name)
        return json.loads(local.check_output("nsenter --target %s --net ip -j -d link show dev %s", pid, name))[0]

    def names(self, ns=None):
        return sorted(link["ifname"] for link in self.links(ns))

    def promisc(self, name, ns=None):
        """The IFF_PROMISC flag as ``ip link`` shows it."""
        link = self.link(name, ns)
        assert link is not None, "%s does not exist" % name
        return "PROMISC" in link["flags"]

    def stats(self, name, ns=None):
        data = self.ip_json("-s", "link", "show", "dev", name, ns=ns)[0]["stats64"]
        return {"rx": data["rx"]["packets"], "tx": data["tx"]["packets"]}

    # -- addresses and routes ------------------------------------------------------------------------
    def addresses(self, name, ns=None):
        """Sorted 'address/prefix' of ``name``, without IPv6 link-local addresses."""
        found = []
        for entry in self.ip_json("addr", "show", "dev", name, ns=ns):
            for info in entry.get("addr_info", []):
                if info["family"] == "inet6" and info.get("scope") == "link":
                    continue
                found.append("%s/%s" % (info["local"], info["prefixlen"]))
        return sorted(found)

    def routes(self, name, ns=None):
        """Routes through ``name`` in the main table (both families) that are not the kernel's own:
        sorted (dst, gateway or None, metric)."""
        found = []
        for family in ("-4", "-6"):
            args = ("-j", family, "route", "show", "table", "main", "dev", name)
            out = self.check("ip", *(("-n", ns) if ns else ()), *args)
            for route in json.loads(out) if out.strip() else []:
                if route.get("protocol") == "kernel" or route["dst"].startswith("fe80:"):
                    continue
                found.append((route["dst"], route.get("gateway"), route.get("metric", 0)))
        return sorted(found, key=str)

    # -- frames --------------------------------------------------------------------------------------
    def flush_neighbours(self, ns=None):
        self.check("ip", *(("-n", ns) if ns else ()), "neigh", "flush", "all")

    def ping(self, dst, ns=None, source=None):
        """One ICMP echo with a one-second deadline; True when answered."""
        argv = ["ping", "-n", "-q", "-c", "1", "-W", "1"]
        if source:
            argv += ["-I", source]
        return self.run(*argv, dst, ns=ns).rc == 0

    def reachable(self, dst, ns=None, source=None, attempts=3):
        """Positive check: up to ``attempts`` tries, each from an empty neighbour table."""
        for _attempt in range(attempts):
            self.flush_neighbours(ns)
            if self.ping(dst, ns=ns, source=source):
                return True
        return False

    def unreachable(self, dst, ns=None, source=None):
        """Negative check: one fresh try (ARP included) that must get no answer."""
        self.flush_neighbours(ns)
        return not self.ping(dst, ns=ns, source=source)


def wait_for(predicate, timeout=60.0, interval=1.0):
    """Poll ``predicate`` until it returns something true, or until ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")
def kernel():
    """kernel(host_or_container_name) -> Kernel; a name means testinfra's podman backend."""
    cache = {}

    def get(target):
        if isinstance(target, str):
            if target not in cache:
                cache[target] = Kernel(testinfra.get_host("podman://" + target))
            return cache[target]
        return Kernel(target)

    return get
