"""Helpers (no tests) shared by the unit tests of the persistence planners: the desired state they plan, golden
bundles, listings.

A golden bundle is one text file per backend under ``golden/``: for each planned file a header line
``### <path relative to ROOT> <mode>`` (or ``### <path> -> <target>`` for a symbolic link) and then its exact
content. ``HOSTNET_UPDATE_GOLDEN=1`` rewrites the bundles from the planners (review the diff before committing).
"""

from __future__ import annotations

import os
from pathlib import Path

from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist

GOLDEN = Path(__file__).resolve().parent / "golden"
ROOT = "/ROOT"
PREFIX = "60-hostnet-macvlan-"
ND = ROOT + "/etc/systemd/network"
NM = ROOT + "/etc/NetworkManager/system-connections"
SD = ROOT + "/etc/systemd/system"
IF = ROOT + "/etc/network/interfaces.d"

# Every mode and kind, MAC, MTU, source list, flags, broadcast queue, addresses and routes of both families,
# a link that stays down, a link that is absent and one that lives in another namespace.
LINKS = [
    {
        "name": "mv-web",
        "parent": "eth1",
        "mode": "bridge",
        "mac_address": "02-42-AC-11-00-10",
        "mtu": 1400,
        "addresses": ["2001:db8:0:0::10/64", "192.0.2.10/24"],
        "routes": [
            {"dest": "2001:db8:1::/64", "gateway": "2001:db8::1"},
            {"dest": "203.0.113.0/24", "metric": 7},
            {"dest": "198.51.100.0/24", "gateway": "192.0.2.1"},
            {"dest": "default", "gateway": "192.0.2.254", "metric": 100},
        ],
        "bcqueuelen": 300,
    },
    {"name": "mv-priv", "parent": "eth1", "mode": "private", "mac_address": "02:42:ac:11:00:11"},
    {"name": "mv-vepa", "parent": "eth1", "mode": "vepa", "link_state": "down", "addresses": ["192.0.2.30/24"]},
    {
        "name": "mv-src",
        "parent": "eth2.10",
        "mode": "source",
        "source_macs": ["02:00:00:00:00:02", "02:00:00:00:00:01"],
        "nodst": True,
        "bclim": 8,
    },
    {"name": "mvtap0", "parent": "eth3", "mode": "passthru", "type": "macvtap", "nopromisc": True},
    {"name": "mv-old", "state": "absent"},
    {"name": "eth0", "parent": "eth1", "link_netns": "ctr1"},
]
PARENTS = [{"name": "eth1", "promisc": True}, {"name": "eth4", "promisc": False}]


def desired(links=None, parents=None, **extra):
    params = {"links": LINKS if links is None else links, "parents": PARENTS if parents is None else parents}
    params.update(extra)
    return _persist.prepare(params)


def bundle(plan):
    """The planned files as a golden bundle (paths relative to ROOT)."""
    out = []
    for path in sorted(plan.files):
        want = plan.files[path]
        rel = path[len(ROOT) + 1 :]
        if "symlink" in want:
            out.append("### %s -> %s\n" % (rel, want["symlink"]))
        else:
            out.append("### %s %04o\n" % (rel, want["mode"]))
            out.append(want["content"])
    return "".join(out)


def golden(name, text):
    """Compare text with the golden bundle ``name`` (or rewrite it with HOSTNET_UPDATE_GOLDEN=1)."""
    path = GOLDEN / name
    if os.environ.get("HOSTNET_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), "missing golden file %s (HOSTNET_UPDATE_GOLDEN=1 writes it)" % path
    assert text == path.read_text(), "differs from %s (HOSTNET_UPDATE_GOLDEN=1 rewrites it; review the diff)" % path


def listing_of(plan, listing=None):
    """What is on disk after a plan is applied to listing (the planned files, the removals gone)."""
    out = dict(listing or {})
    for path in plan.remove:
        out.pop(path, None)
    for path, want in plan.files.items():
        if "symlink" in want:
            out[path] = _persist.Entry("symlink", target=want["symlink"])
        else:
            out[path] = _persist.Entry("file", want["content"], mode=want["mode"])
    return out


def file_entry(content, mode=0o644):
    return _persist.Entry("file", content, mode=mode)
