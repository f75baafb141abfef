"""Helpers for the rollout tests: a fleet of "hosts" that are network namespaces on this machine.

Each fleet host has its own namespace (``<lab>-hN``) holding a veth parent ``p0`` whose peer ``q0`` sits in a
peer namespace (``<lab>-gN``, the "gateway", 192.0.2.1/24) that the probes ping. Every inventory host uses
``ansible_connection=local`` and works in its own namespace (``macvlan_topology_netns``, persistence ``none``),
so nothing touches this machine's own namespace. The oracle is iproute2 (``ip -j -d link``, ``ip -j addr``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, _collections_path, ip_json

GATEWAY = "192.0.2.1"


def add_host(lab, index):
    """Namespaces for fleet host N, its parent p0 and the gateway; returns the host's namespace."""
    ns = lab.netns("h%d" % index)
    gw = lab.netns("g%d" % index)
    lab.veth(ns, "p0", "q0", peer_ns=gw)
    lab.ip(gw, "addr", "add", GATEWAY + "/24", "dev", "q0")
    return ns


def seed(lab, ns):
    """The state before the rollout: two macvlans and a non-promiscuous parent."""
    lab.ip(ns, "link", "add", "mv-old", "link", "p0", "address", "02:00:00:00:aa:01", "type", "macvlan", "mode", "vepa")
    lab.ip(ns, "addr", "add", "192.0.2.20/24", "dev", "mv-old")
    lab.ip(ns, "link", "set", "mv-old", "up")
    lab.ip(ns, "link", "add", "mv-gone", "link", "p0", "address", "02:00:00:00:aa:02", "type", "macvlan")
    lab.ip(ns, "addr", "add", "192.0.2.21/24", "dev", "mv-gone")


def topology(ns, index):
    """The host variables of fleet host N: what the rollout converges it to."""
    return {
        "macvlan_topology_netns": ns,
        "macvlan_topology_persist": "none",
        "macvlan_topology_install_pyroute2": False,
        "macvlan_topology_purge": True,
        "macvlan_topology_parents": [{"name": "p0", "promisc": True}],
        "macvlan_topology_links": [
            {
                "name": "mv0",
                "parent": "p0",
                "mode": "bridge",
                "mac_address": "02:00:00:00:0%d:10" % index,
                "mtu": 1400,
                "addresses": ["192.0.2.%d/24" % (100 + index)],
            },
            {"name": "mv-old", "parent": "p0", "mode": "bridge", "addresses": ["192.0.2.%d/24" % (150 + index)]},
        ],
        "rollout_probes": [{"netns": ns, "dest": GATEWAY, "expect": "reachable", "count": 2, "timeout": 0.5}],
    }


def failing_probe(ns):
    """A probe that cannot succeed: nobody answers 192.0.2.99."""
    return {"netns": ns, "dest": "192.0.2.99", "expect": "reachable", "count": 1, "timeout": 0.3}


def kernel_state(ns):
    """The namespace's links and addresses as iproute2 shows them, without what moves on its own."""
    links = []
    for link in ip_json("-n", ns, "-d", "link", "show"):
        info = link.get("linkinfo", {})
        links.append(
            {
                "name": link["ifname"],
                "kind": info.get("info_kind"),
                "mode": info.get("info_data", {}).get("mode"),
                "parent": link.get("link"),
                "mac": link.get("address"),
                "mtu": link.get("mtu"),
                "up": "UP" in link.get("flags", []),
                "promisc": "PROMISC" in link.get("flags", []),
            }
        )
    addresses = {}
    for entry in ip_json("-n", ns, "addr", "show"):
        addresses[entry["ifname"]] = sorted(
            "%s/%d" % (a["local"], a["prefixlen"]) for a in entry.get("addr_info", []) if a.get("scope") != "link"
        )
    for link in links:
        link["addresses"] = addresses.get(link["name"], [])
    return sorted(links, key=lambda item: item["name"])


class Fleet:
    """An inventory of fleet hosts and a way to run hostnet.macvlan.rollout on it."""

    def __init__(self, tmp_path, python=sys.executable):
        self.tmp_path = tmp_path
        self.python = python
        self.hosts = {}

    def add(self, name, variables):
        self.hosts[name] = dict(variables, ansible_connection="local", ansible_python_interpreter=self.python)

    def inventory(self):
        path = self.tmp_path / "inventory.json"
        path.write_text(json.dumps({"all": {"hosts": self.hosts}}))
        return path

    def env(self):
        env = dict(os.environ)
        env.update(
            {
                "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_LOCALHOST_WARNING": "False",
                "ANSIBLE_LOCAL_TEMP": str(self.tmp_path / "ansible-local"),
                "ANSIBLE_REMOTE_TEMP": str(self.tmp_path / "ansible-remote"),
                "ANSIBLE_STDOUT_CALLBACK": "default",
                "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
            }
        )
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        return env

    def run(self, extra_vars=None, args=()):
        """Run the rollout playbook; return the CompletedProcess (stdout and stderr together)."""
        cmd = ["ansible-playbook", "hostnet.macvlan.rollout", "-i", str(self.inventory())]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        cmd += list(args)
        return subprocess.run(
            cmd, cwd=str(REPO), env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
        )


def recap(output):
    """PLAY RECAP counters by host: {host: {'ok': n, 'changed': n, 'failed': n, 'rescued': n, ...}}."""
    result = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and ":" in line and "=" in line:
            host, counters = line.split(":", 1)
            result[host.strip()] = {k: int(v) for k, v in (item.split("=") for item in counters.split())}
    return result
