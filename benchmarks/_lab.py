# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark lab: one network namespace per measured run, with veth parents, removed afterwards.

Links are removed by deleting their parents (the kernel deletes a parent's macvlans with it, synchronously),
so the kernel's asynchronous namespace clean-up has nothing heavy left to do while the next run is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

PREFIX = "hmvb"


def sh(*args, check=True, capture=True):
    return subprocess.run(list(args), check=check, capture_output=capture, text=True)


def link_names(n, prefix="mvb"):
    return ["%s%d" % (prefix, i) for i in range(n)]


def parent_names(parents):
    return ["bp%d" % i for i in range(parents)]


def link_specs(n, parents=1):
    """The N links of a run: bridge-mode macvlans, up, spread round-robin over the parents."""
    names = parent_names(parents)
    return [{"name": name, "parent": names[i % parents]} for i, name in enumerate(link_names(n))]


class Lab:
    """A fresh namespace with ``parents`` veth parents (up, peers up); a context manager."""

    def __init__(self, parents=1, tag="run"):
        # The pid in the name: a concurrent bench.py leaves this run's namespaces alone (leftover_namespaces).
        self.ns = "%s-%s-%d-%s" % (PREFIX, tag, os.getpid(), uuid.uuid4().hex[:6])
        self.parents = parent_names(parents)

    def __enter__(self):
        sh("ip", "netns", "add", self.ns)
        try:
            self.batch(["link set lo up"] + self._parent_lines())
        except Exception:
            self.close()
            raise
        return self

    def _parent_lines(self):
        lines = []
        for name in self.parents:
            lines += ["link add %s type veth peer name %sx" % (name, name), "link set %s up" % name]
            lines.append("link set %sx up" % name)
        return lines

    def empty(self):
        """Remove every macvlan of the namespace: deleting a parent deletes its macvlans with it; the parents are
        added again, fresh."""
        self.batch(["link del %s" % name for name in self.parents] + self._parent_lines())

    def __exit__(self, *exc):
        self.close()
        return False

    def batch(self, lines):
        return subprocess.run(
            ["ip", "-n", self.ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True
        )

    def macvlans(self):
        """Names of the macvlan links in the namespace (iproute2 is the oracle, not the collection)."""
        out = sh("ip", "-n", self.ns, "-j", "link", "show", "type", "macvlan").stdout
        return sorted(item["ifname"] for item in json.loads(out or "[]"))

    def close(self):
        for name in self.parents:
            sh("ip", "-n", self.ns, "link", "del", name, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


def owner_alive(name):
    """Whether the name's pid (``hmvb-<tag>-<pid>-<hex>``) is another running process (a concurrent bench.py)."""
    parts = name.split("-")
    if len(parts) < 4 or not parts[-2].isdigit():
        return False
    pid = int(parts[-2])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftover_namespaces():
    """Lab namespaces of this process or of one that is gone; never those of a concurrent bench.py."""
    out = sh("ip", "-j", "netns", "list", check=False).stdout
    names = [item["name"] for item in json.loads(out or "[]") if item["name"].startswith(PREFIX + "-")]
    return [name for name in names if not owner_alive(name)]
