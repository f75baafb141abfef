# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The flow every module shares: observe -> plan -> (check mode stops here) -> apply -> read back -> verify.

``changed`` is exactly "the plan is not empty". A failure while applying, or a read-back that differs from
what was asked, restores every touched link to what was observed and then fails, saying what was restored.
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _netlink, _plan

CAP_NET_ADMIN = 12

# Options shared by the link modules; the documentation lives in doc fragments.
NETNS_OPTIONS = {"netns": {"type": "str"}}

LINK_OPTIONS = {
    "name": {"type": "str", "required": True},
    "parent": {"type": "str"},
    "type": {"type": "str", "default": "macvlan", "choices": list(_model.LINK_TYPES)},
    "mode": {"type": "str", "default": "bridge", "choices": list(_model.MODES)},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "link_state": {"type": "str", "default": "up", "choices": ["up", "down"]},
    "mac_address": {"type": "str"},
    "mtu": {"type": "int"},
    "source_macs": {"type": "list", "elements": "str"},
    "nopromisc": {"type": "bool"},
    "nodst": {"type": "bool"},
    "bcqueuelen": {"type": "int"},
    "bclim": {"type": "int"},
    "addresses": {"type": "list", "elements": "str"},
    "routes": {
        "type": "list",
        "elements": "dict",
        "options": {
            "dest": {"type": "str", "required": True},
            "gateway": {"type": "str"},
            "metric": {"type": "int"},
        },
    },
    "netns": {"type": "str"},
    "link_netns": {"type": "str"},
    "recreate": {"type": "str", "default": "auto", "choices": list(_model.RECREATE)},
}


class EngineError(Exception):
    """A failure to report with fail_json; ``result`` holds extra return values."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result


def has_cap_net_admin():
    """True when the process holds CAP_NET_ADMIN in its effective set."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << CAP_NET_ADMIN))
    except OSError:
        pass
    return os.geteuid() == 0


def require_pyroute2(module):
    if not _netlink.HAS_PYROUTE2:
        module.fail_json(
            msg=missing_required_lib("pyroute2") + " " + _netlink.PYROUTE2_INSTALL_HINT,
            exception=_netlink.PYROUTE2_IMPORT_ERROR,
        )


def _require_privileges():
    if not has_cap_net_admin():
        raise EngineError(
            "changing links needs root (CAP_NET_ADMIN); the module runs as uid %d without it. "
            "Run the task with become: true (check mode works without privileges)" % os.geteuid()
        )


class LinkEngine:
    """Converges a list of link specs; a single-link module passes a list of one."""

    def __init__(self, session, check_mode):
        self.session = session
        self.check_mode = check_mode
        self.snapshots = {}

    # -- observe --------------------------------------------------------------------------------------

    def observe(self, specs):
        """One dump (links, addresses, routes) per namespace involved."""
        namespaces = []
        for spec in specs:
            for ns in (spec.get("netns"), spec.get("link_netns") or spec.get("netns")):
                if ns not in namespaces:
                    namespaces.append(ns)
        snapshots = {}
        for ns in namespaces:
            self._open(ns, specs)
            snapshots[ns] = self.session.observe(ns)
        return snapshots

    def _open(self, ns, specs):
        option = "netns"
        for spec in specs:
            if spec.get("link_netns") == ns and spec.get("netns") != ns:
                option = "link_netns"
        try:
            self.session.handle(ns, option)
        except _netlink.NetlinkFailure as exc:
            raise EngineError(str(exc)) from None

    @staticmethod
    def pair(spec, snapshots):
        work = snapshots[spec.get("netns")]
        where = snapshots[spec.get("link_netns") or spec.get("netns")]
        return work, where

    # -- plan -----------------------------------------------------------------------------------------

    def plan(self, specs, snapshots):
        entries = []
        for spec in specs:
            work, where = self.pair(spec, snapshots)
            try:
                actions, before, after = _plan.plan_link(spec, work, where)
            except _plan.PlanError as exc:
                raise EngineError(str(exc)) from None
            entries.append({"spec": spec, "actions": actions, "before": before, "after": after})
        return entries

    # -- apply, verify, roll back ---------------------------------------------------------------------

    def converge(self, specs):
        """Returns (entries, read_back_views). Raises EngineError after rolling back on failure."""
        snapshots = self.observe(specs)
        entries = self.plan(specs, snapshots)
        actions = [a for e in entries for a in e["actions"]]
        if not actions or self.check_mode:
            return entries, None
        _require_privileges()
        done = []
        try:
            for action in actions:
                self.session.apply(action)
                done.append(action)
        except _netlink.NetlinkFailure as exc:
            restored = self.rollback(entries, snapshots)
            raise EngineError(
                "%s. Rolled back: %s" % (exc, "; ".join(restored) or "nothing needed restoring"),
                actions=[_plan.describe(a) for a in done],
                rolled_back=restored,
            ) from None
        after = self.observe(specs)
        views = {}
        problems = []
        for entry in entries:
            spec = entry["spec"]
            work, where = self.pair(spec, after)
            link = where.links.get(spec["name"])
            view = _plan.link_view(link, where, work) if link and link["kind"] in _plan.MACVLAN_KINDS else None
            views[spec["name"]] = (view, link)
            for problem in _plan.verify_link(spec, view):
                problems.append("%s: %s" % (spec["name"], problem))
        if problems:
            restored = self.rollback(entries, snapshots)
            raise EngineError(
                "the kernel did not apply what was asked (read back after the change): %s. This usually means "
                "the kernel or pyroute2 silently ignored an attribute. Rolled back: %s"
                % ("; ".join(problems), "; ".join(restored) or "nothing needed restoring"),
                actions=[_plan.describe(a) for a in actions],
                rolled_back=restored,
            )
        return entries, views

    def rollback(self, entries, snapshots):
        """Restore every link the plan touched to its observed state. Returns what was done, as text."""
        touched = [e for e in entries if e["actions"]]
        current = self.observe([e["spec"] for e in touched])
        restored = []
        for entry in touched:
            spec = entry["spec"]
            before = entry["before"]
            ns_link = spec.get("link_netns") or spec.get("netns")
            if before is None:
                target = {"name": spec["name"], "state": "absent", "netns": ns_link, "link_netns": None}
            else:
                target = _plan.spec_from_view(before, spec.get("netns"), spec.get("link_netns"))
                if not target["parent"]:
                    restored.append("%s: cannot restore (its parent is unknown)" % spec["name"])
                    continue
            work, where = self.pair(target, current)
            try:
                actions, _before, _after = _plan.plan_link(target, work, where)
                for action in actions:
                    self.session.apply(action)
            except (_plan.PlanError, _netlink.NetlinkFailure) as exc:
                restored.append("%s: restore FAILED (%s)" % (spec["name"], exc))
                continue
            if actions:
                restored.append("%s: %s" % (spec["name"], ", ".join(_plan.describe(a) for a in actions)))
        return restored


def full_view(view, link, spec):
    """The ``link`` return value: the user-level view plus what only the kernel knows."""
    if view is None:
        return {"name": spec["name"], "state": "absent"}
    result = dict(view, state="present")
    result["netns"] = spec.get("link_netns") or spec.get("netns")
    if link is not None:
        result.update(
            {
                "ifindex": link["ifindex"],
                "operstate": link["operstate"],
                "bcqueuelen_used": link.get("bcqueuelen_used"),
                "promisc": link["promisc"],
                "promiscuity": link["promiscuity"],
            }
        )
    return result


def diff_view(view, name):
    return view if view is not None else {"name": name, "state": "absent"}


def run_link_module(module):
    """The whole of the ``macvlan`` module."""
    require_pyroute2(module)
    try:
        spec = _model.normalize_link(module.params)
        if spec["state"] == "present":
            _model.check_kernel_support(spec, _netlink.kernel_release())
    except _model.ModelError as exc:
        module.fail_json(msg=str(exc))
    try:
        with _netlink.Session() as session:
            engine = LinkEngine(session, module.check_mode)
            entries, views = engine.converge([spec])
    except EngineError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except _netlink.NetlinkFailure as exc:
        module.fail_json(msg=str(exc))
    entry = entries[0]
    if views is None:
        link = full_view(entry["after"], None, spec)
    else:
        link = full_view(views[spec["name"]][0], views[spec["name"]][1], spec)
    result = {
        "changed": bool(entry["actions"]),
        "actions": [_plan.describe(a) for a in entry["actions"]],
        "link": link,
    }
    if module._diff:
        after = entry["after"] if views is None else views[spec["name"]][0]
        result["diff"] = {"before": diff_view(entry["before"], spec["name"]), "after": diff_view(after, spec["name"])}
    module.exit_json(**result)


def run_promisc_module(module):
    """The whole of the ``promisc`` module."""
    require_pyroute2(module)
    name = module.params["name"]
    ns = module.params["netns"]
    try:
        _model.validate_ifname(name)
        if ns is not None:
            _model.validate_netns(ns)
    except _model.ModelError as exc:
        module.fail_json(msg=str(exc))
    want = module.params["promisc"]
    try:
        with _netlink.Session() as session:
            session.handle(ns)
            snapshot = session.observe(ns, addresses=False, routes=False)
            actions = _plan.plan_promisc(name, want, snapshot)
            link = snapshot.links[name]
            before = link["promisc"]
            promisc, promiscuity = link["promisc"], link["promiscuity"]
            if actions and not module.check_mode:
                _require_privileges()
                for action in actions:
                    session.apply(action)
                link = {item["name"]: item for item in session.dump_links(ns)}.get(name)
                if link is None or link["promisc"] != want:
                    module.fail_json(msg="promisc: %s still reads %s after the change" % (name, not want))
                promisc, promiscuity = link["promisc"], link["promiscuity"]
            elif actions:
                promisc = want
                promiscuity = max(0, promiscuity + (1 if want else -1))
    except (_plan.PlanError, EngineError) as exc:
        module.fail_json(msg=str(exc))
    except _netlink.NetlinkFailure as exc:
        module.fail_json(msg=str(exc))
    result = {
        "changed": bool(actions),
        "actions": [_plan.describe(a) for a in actions],
        "promisc": promisc,
        "promiscuity": promiscuity,
    }
    if module._diff:
        result["diff"] = {"before": {"name": name, "promisc": before}, "after": {"name": name, "promisc": promisc}}
    module.exit_json(**result)


def run_info_module(module):
    """The whole of the ``macvlan_info`` module."""
    require_pyroute2(module)
    ns = module.params["netns"]
    names = module.params["names"]
    parents = module.params["parents"]
    try:
        if ns is not None:
            _model.validate_netns(ns)
        for option in ("names", "parents"):
            for name in module.params[option] or []:
                _model.validate_ifname(name, option)
    except _model.ModelError as exc:
        module.fail_json(msg=str(exc))
    try:
        with _netlink.Session() as session:
            session.handle(ns)
            snapshot = session.observe(ns)
    except _netlink.NetlinkFailure as exc:
        module.fail_json(msg=str(exc))
    links, parent_facts = collect_facts(snapshot, names, parents)
    module.exit_json(changed=False, links=links, parents=parent_facts, kernel=_netlink.kernel_release())


def collect_facts(snapshot, names=None, parents=None):
    """Facts about every macvlan/macvtap link in a snapshot and about their parents (pure)."""
    links = {}
    parent_facts = {}
    for link in sorted(snapshot.links.values(), key=lambda item: item["name"]):
        if link["kind"] not in _plan.MACVLAN_KINDS:
            continue
        parent = snapshot.parent_name(link)
        if names and link["name"] not in names:
            continue
        if parents and parent not in parents:
            continue
        view = _plan.link_view(link, snapshot, snapshot)
        view.update(
            {
                "ifindex": link["ifindex"],
                "operstate": link["operstate"],
                "bcqueuelen_used": link.get("bcqueuelen_used"),
                "promisc": link["promisc"],
                "promiscuity": link["promiscuity"],
                "parent_ifindex": link["parent_ifindex"],
                "parent_netnsid": link["parent_netnsid"],
            }
        )
        links[link["name"]] = view
        if parent is not None:
            parent_facts.setdefault(parent, []).append(link["name"])
    for name in parents or []:
        if name in snapshot.links:
            parent_facts.setdefault(name, [])
    result = {}
    for name, children in sorted(parent_facts.items()):
        parent = snapshot.links[name]
        result[name] = {
            "name": name,
            "kind": parent["kind"],
            "ifindex": parent["ifindex"],
            "promisc": parent["promisc"],
            "promiscuity": parent["promiscuity"],
            "mtu": parent["mtu"],
            "mac_address": parent["mac_address"],
            "link_state": parent["link_state"],
            "operstate": parent["operstate"],
            "children": sorted(children),
        }
    return links, result
