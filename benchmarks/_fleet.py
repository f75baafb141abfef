# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark fleet: H simulated hosts on this machine, each a network namespace reached with the local connection.

Host ``hNNN`` is the namespace ``hmvbf-NNN`` holding a veth pair ``bp0``/``bp0x`` (both ends inside, both up):
the parent of its links. Every inventory host has ``ansible_connection=local`` and works in its own namespace
(``macvlan_topology_netns``, persistence ``none``), so nothing touches this machine's own links. The namespaces
are created once (or found from an earlier run) and reused for every forks setting: deleting namespaces is
asynchronous and loads the CPU for a while, which would blur the next measurement. Between runs the links are
removed by deleting and re-adding the veth parent (iproute2; the kernel deletes a parent's macvlans with it).

The hosts' module interpreter is a small ``sh`` wrapper around the real one that writes the CPU time of the
module process (``times``) to a file per process, so the controller's own CPU time is the process tree's
minus the modules'.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
from pathlib import Path

PREFIX = "hmvbf"
PARENT = "bp0"


def namespace(index):
    return "%s-%03d" % (PREFIX, index)


def existing():
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return {item["name"] for item in json.loads(out or "[]") if item["name"].startswith(PREFIX + "-")}


def ensure(count):
    """Namespaces hmvbf-000 ... for ``count`` hosts, each with its veth parent up; returns (names, created)."""
    have = existing()
    names = [namespace(i) for i in range(count)]
    created = 0
    for ns in names:
        if ns not in have:
            subprocess.run(["ip", "netns", "add", ns], check=True)
            created += 1
        probe = subprocess.run(["ip", "-n", ns, "link", "show", PARENT], capture_output=True, check=False)
        lines = ["link set lo up"]
        if probe.returncode != 0:
            lines.append("link add %s type veth peer name %sx" % (PARENT, PARENT))
        lines += ["link set %s up" % PARENT, "link set %sx up" % PARENT]
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)
    return names, created


def remove_all():
    """Delete every fleet namespace (the kernel finishes this asynchronously)."""
    for ns in sorted(existing()):
        subprocess.run(["ip", "netns", "del", ns], check=False)


def macvlan_count(ns):
    out = subprocess.run(
        ["ip", "-n", ns, "-j", "link", "show", "type", "macvlan"], capture_output=True, text=True, check=True
    ).stdout
    return len(json.loads(out or "[]"))


def counts(names, workers=4):
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(names, pool.map(macvlan_count, names), strict=True))


def clean(names, workers=4):
    """Remove every macvlan of each namespace: delete the veth parent (its macvlans go with it, synchronously) and
    add it again, one ``ip -batch`` per namespace. Not timed. Returns the namespaces where it failed.

    (A macvlan_state run per namespace with purge did the same in seconds per host on a loaded machine: minutes
    per fleet, before every run.)
    """
    lines = f"link del {PARENT}\nlink add {PARENT} type veth peer name {PARENT}x\nlink set {PARENT} up\nlink set {PARENT}x up\n"

    def one(ns):
        proc = subprocess.run(["ip", "-n", ns, "-batch", "-"], input=lines, capture_output=True, text=True, check=False)
        return ns, (proc.stderr.strip() or "rc %d" % proc.returncode) if proc.returncode else None

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return {ns: msg for ns, msg in pool.map(one, names) if msg}


def write_wrapper(path, python, times_dir):
    """An interpreter wrapper: runs the real interpreter, then appends the CPU time of its children to a file."""
    path = Path(path)
    path.write_text(
        "#!/bin/sh\n"
        "# bench.py fleet: the module's CPU time (the shell's children) goes to one file per process\n"
        '"%s" "$@"\n'
        "rc=$?\n"
        'times > "%s/$$.t"\n'
        "exit $rc\n" % (python, times_dir),
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


def read_times(times_dir):
    """(module processes, their CPU seconds) from the wrapper's files; the files are removed."""
    runs, cpu = 0, 0.0
    for path in Path(times_dir).glob("*.t"):
        lines = path.read_text(encoding="utf-8").split("\n")
        path.unlink()
        if len(lines) < 2 or not lines[1].strip():
            continue
        runs += 1
        for part in lines[1].split():  # children: user, system, as "0m0.120000s"
            minutes, seconds = part.rstrip("s").split("m")
            cpu += int(minutes) * 60 + float(seconds)
    return runs, cpu


def inventory(path, names, interpreter, links):
    """A JSON inventory: one host per namespace, the topology in the group variables."""
    hosts = {"h%03d" % i: {"macvlan_topology_netns": ns} for i, ns in enumerate(names)}
    data = {
        "all": {
            "hosts": hosts,
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": str(interpreter),
                "macvlan_topology_links": links,
                "macvlan_topology_persist": "none",
                "macvlan_topology_install_pyroute2": False,
            },
        }
    }
    Path(path).write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path
