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


def _ns_identity(ns):
    """(device, inode) of a namespace file: two spellings of one namespace compare equal."""
    try:
        info = os.stat(_model.netns_path(ns) if ns is not None else "/proc/self/ns/net")
    except OSError:
        return ("missing", ns)
    return (info.st_dev, info.st_ino)


def canonical_namespaces(specs, netns):
    """Spell each namespace one way (the first spelling seen, ``netns`` first); a ``link_netns`` that is the
    working namespace itself becomes None. Changes the specs in place."""
    spelling = {_ns_identity(netns): netns}
    for spec in specs:
        for key in ("netns", "link_netns"):
            ns = spec.get(key)
            if ns is None and key == "link_netns":
                continue
            spec[key] = spelling.setdefault(_ns_identity(ns), ns)
        if spec.get("link_netns") == spec.get("netns"):
            spec["link_netns"] = None


class LinkEngine:
    """Converges a desired set of links (and parents' promiscuity); a single-link module passes one link."""

    def __init__(self, session, check_mode, multi=False):
        self.session = session
        self.check_mode = check_mode
        self.multi = multi  # error messages name links[i] (macvlan_state)

    # -- observe --------------------------------------------------------------------------------------

    def observe(self, specs, netns=None):
        """One dump each of links, addresses and routes per namespace involved."""
        namespaces = [netns]
        for spec in specs:
            for ns in (spec.get("netns"), spec.get("link_netns") or spec.get("netns")):
                if ns not in namespaces:
                    namespaces.append(ns)
        snapshots = {}
        for ns in namespaces:
            self._open(ns, specs)
            snapshots[ns] = self.session.observe(ns)
            if ns != netns:
                snapshots[ns].peer_nsid = self.session.peer_nsid(ns, netns)
        return snapshots

    def _open(self, ns, specs):
        option = "netns"
        for spec in specs:
            if spec.get("link_netns") == ns and spec.get("netns") != ns:
                option = "link_netns"
        try:
            self.session.open(ns, option)
        except _netlink.NetlinkFailure as exc:
            raise EngineError(str(exc)) from None

    @staticmethod
    def pair(spec, snapshots):
        work = snapshots[spec.get("netns")]
        where = snapshots[spec.get("link_netns") or spec.get("netns")]
        return work, where

    # -- plan -----------------------------------------------------------------------------------------

    def plan(self, specs, snapshots, parents=(), netns=None, purge=False, purge_exclude=()):
        """Entries: {spec, actions, before, after} per link (purged links included); parent entries apart."""
        label = ""
        try:
            purged = []
            if purge:
                label = "purge: "
                managed = {p["name"] for p in parents} | {s["parent"] for s in specs if s["state"] == "present"}
                keep = set()
                for spec in specs:
                    keep.add((spec.get("link_netns") or spec.get("netns"), spec["name"]))
                    keep.add((spec.get("netns"), spec["name"]))  # a link still to be moved into link_netns
                keep |= {(None, name) for name in purge_exclude}
                purged = _plan.plan_purge(snapshots, netns, managed, keep)
            # Links this plan deletes make room on their parents (a MAC address, a passthru parent).
            departing = {(e["actions"][0]["ns"], e["spec"]["name"]) for e in purged}
            departing |= {(s.get("link_netns") or s.get("netns"), s["name"]) for s in specs if s["state"] == "absent"}
            entries = []
            for index, spec in enumerate(specs):
                label = "links[%d] (%s): " % (index, spec["name"]) if self.multi else ""
                work, where = self.pair(spec, snapshots)
                actions, before, after = _plan.plan_link(spec, work, where, departing)
                # Where the observed link was: rollback restores it there.
                before_ns = spec.get("link_netns") or spec.get("netns")
                if actions and actions[0]["op"] == "move_netns":
                    before_ns = spec.get("netns")
                elif actions and actions[0]["op"] == "recreate":
                    before_ns = actions[0]["old_ns"]
                entries.append(
                    {"spec": spec, "actions": actions, "before": before, "after": after, "before_ns": before_ns}
                )
            parent_entries = []
            for index, parent in enumerate(parents):
                label = "parents[%d]: " % index
                work = snapshots[netns]
                actions = _plan.plan_promisc(parent["name"], parent["promisc"], work)
                link = work.links[parent["name"]]
                parent_entries.append({"parent": parent, "actions": actions, "before": link["promisc"]})
            entries += purged
            _plan.mark_early_deletes(entries)
        except _plan.PlanError as exc:
            raise EngineError(label + str(exc)) from None
        return entries, parent_entries

    # -- apply, verify, roll back ---------------------------------------------------------------------

    def converge(self, specs, parents=(), netns=None, purge=False, purge_exclude=(), rollback=True):
        """Observe, plan, apply in phases, read back, verify; roll back on failure.

        Returns (entries, parent_entries, after) where ``after`` is the read-back snapshots (the observed ones when
        there was nothing to do), or None in check mode with changes planned. Raises EngineError, after rolling
        back, on failure.
        """
        canonical_namespaces(specs, netns)
        snapshots = self.observe(specs, netns)
        entries, parent_entries = self.plan(specs, snapshots, parents, netns, purge, purge_exclude)
        actions = _plan.order_actions([a for e in parent_entries + entries for a in e["actions"]])
        if not actions:
            return entries, parent_entries, snapshots  # nothing to do: what was observed is the result
        if self.check_mode:
            return entries, parent_entries, None
        _require_privileges()
        done = []
        try:
            for action in actions:
                self.session.apply(action)
                done.append(action)
        except _netlink.NetlinkFailure as exc:
            self._fail(str(exc), done, entries, parent_entries, specs, netns, rollback)
        after = self.observe(specs, netns)
        problems = []
        for entry in entries:
            spec = entry["spec"]
            view = self.read_view(spec, after)
            for problem in _plan.verify_link(spec, view):
                problems.append("%s: %s" % (spec["name"], problem))
        for entry in parent_entries:
            parent = entry["parent"]
            link = after[netns].links.get(parent["name"])
            if link is None or link["promisc"] != parent["promisc"]:
                problems.append(
                    "%s: promisc is %s, expected %s" % (parent["name"], link and link["promisc"], parent["promisc"])
                )
        if problems:
            self._fail(
                "the kernel did not apply what was asked (read back after the change): %s. This usually means the "
                "kernel or pyroute2 silently ignored an attribute" % "; ".join(problems),
                actions,
                entries,
                parent_entries,
                specs,
                netns,
                rollback,
            )
        return entries, parent_entries, after

    @staticmethod
    def read_view(spec, snapshots):
        work, where = LinkEngine.pair(spec, snapshots)
        link = where.links.get(spec["name"])
        if link is None or link["kind"] not in _plan.MACVLAN_KINDS:
            return None
        return _plan.link_view(link, where, work)

    def _fail(self, message, done, entries, parent_entries, specs, netns, rollback):
        described = [_plan.describe(a) for a in done]
        if not rollback:
            raise EngineError("%s. Not rolled back (rollback is false)" % message, actions=described)
        restored = self.rollback(entries, parent_entries, netns)
        raise EngineError(
            "%s. Rolled back: %s" % (message, "; ".join(restored) or "nothing needed restoring"),
            actions=described,
            rolled_back=restored,
        )

    def rollback(self, entries, parent_entries, netns=None):
        """Restore every link and parent the plan touched to its observed state. Returns what was done."""
        touched = [e for e in entries if e["actions"]]
        restored = []
        for entry in touched:
            # A link moved into link_netns goes back first, so it can be restored where it was.
            spec = entry["spec"]
            if entry["actions"][0]["op"] == "move_netns":
                back = {
                    "op": "move_netns",
                    "ns": spec.get("link_netns"),
                    "link_ns": spec.get("netns"),
                    "name": spec["name"],
                }
                try:
                    self.session.dump_links(back["ns"])
                    self.session.apply(back)
                    restored.append("%s: %s" % (spec["name"], _plan.describe(back)))
                except _netlink.NetlinkFailure:
                    pass  # it never left: the move itself failed
        current = self.observe([e["spec"] for e in touched], netns)
        targets = []
        for entry in touched:
            spec = entry["spec"]
            before = entry["before"]
            ns_link = spec.get("link_netns") or spec.get("netns")
            before_ns = entry.get("before_ns", ns_link)
            link_netns = before_ns if before_ns != spec.get("netns") else None
            if before is None or (before_ns != ns_link and entry["actions"][0]["op"] == "recreate"):
                # Created by this run (or re-created in another namespace): remove it from where it went.
                targets.append({"name": spec["name"], "state": "absent", "netns": ns_link, "link_netns": None})
            if before is None:
                continue
            target = _plan.spec_from_view(before, spec.get("netns"), link_netns)
            if not target["parent"]:
                restored.append("%s: cannot restore (its parent is unknown)" % spec["name"])
                continue
            targets.append(target)
        # What this run created goes away first where a restored link needs its MAC address or passthru parent.
        departing = {(t.get("link_netns") or t.get("netns"), t["name"]) for t in targets if t["state"] == "absent"}
        plans = []
        pending = []
        for target in targets:
            work, where = self.pair(target, current)
            try:
                actions, before, _after = _plan.plan_link(target, work, where, departing)
            except _plan.PlanError as exc:
                restored.append("%s: restore FAILED (%s)" % (target["name"], exc))
                continue
            plans.append((target["name"], actions))
            pending.append({"spec": target, "actions": actions, "before": before})
        _plan.mark_early_deletes(pending)
        for entry in parent_entries:
            if entry["actions"]:
                name = entry["parent"]["name"]
                plans.append((name, _plan.plan_promisc(name, entry["before"], current[netns])))
        ordered = _plan.order_actions([dict(a, _owner=name) for name, actions in plans for a in actions])
        failed = set()
        for action in ordered:
            if action["_owner"] in failed:
                continue
            try:
                self.session.apply(action)
            except _netlink.NetlinkFailure as exc:
                failed.add(action["_owner"])
                restored.append("%s: restore FAILED (%s)" % (action["_owner"], exc))
        for name, actions in plans:
            if actions and name not in failed:
                restored.append("%s: %s" % (name, ", ".join(_plan.describe(a) for a in actions)))
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
            entries, dummy, after = engine.converge([spec], netns=spec.get("netns"))
    except EngineError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except _netlink.NetlinkFailure as exc:
        module.fail_json(msg=str(exc))
    entry = entries[0]
    view, link = read_back(spec, after, entry)
    result = {
        "changed": bool(entry["actions"]),
        "actions": [_plan.describe(a) for a in _plan.order_actions(entry["actions"])],
        "link": full_view(view, link, spec),
    }
    if module._diff:
        result["diff"] = {"before": diff_view(entry["before"], spec["name"]), "after": diff_view(view, spec["name"])}
    module.exit_json(**result)


def read_back(spec, after, entry):
    """(view, kernel link) after the run: read back when something was applied, else the plan's prediction."""
    if after is None:
        return entry["after"], None
    link = LinkEngine.pair(spec, after)[1].links.get(spec["name"])
    return LinkEngine.read_view(spec, after), link


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
            session.open(ns)
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
            session.open(ns)
            snapshot = session.observe(ns)
    except _netlink.NetlinkFailure as exc:
        module.fail_json(msg=str(exc))
    links, parent_facts = collect_facts(snapshot, names, parents)
    state_links = [_plan.as_state_link(view) for view in links.values() if view["parent"] is not None]
    module.exit_json(
        changed=False, links=links, parents=parent_facts, state_links=state_links, kernel=_netlink.kernel_release()
    )


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


def run_state_module(module):
    """The whole of the ``macvlan_state`` module."""
    require_pyroute2(module)
    params = module.params
    netns = params["netns"] or None
    try:
        if netns is not None:
            _model.validate_netns(netns)
        specs = []
        for index, link in enumerate(params["links"]):
            spec = _model.normalize_link(dict(link, netns=netns), prefix="links[%d]." % index)
            if spec["state"] == "present":
                _model.check_kernel_support(spec, _netlink.kernel_release(), "links[%d]." % index)
            specs.append(spec)
        parents = []
        for index, parent in enumerate(params["parents"]):
            _model.validate_ifname(parent["name"], "parents[%d].name" % index)
            if parent["name"] in [p["name"] for p in parents]:
                raise _model.ModelError("parents[%d].name: %r is listed twice" % (index, parent["name"]))
            parents.append({"name": parent["name"], "promisc": parent["promisc"]})
        for name in params["purge_exclude"]:
            _model.validate_ifname(name, "purge_exclude")
        _plan.check_link_set(specs)
    except (_model.ModelError, _plan.PlanError) as exc:
        module.fail_json(msg=str(exc))
    try:
        with _netlink.Session() as session:
            engine = LinkEngine(session, module.check_mode, multi=True)
            entries, parent_entries, after = engine.converge(
                specs,
                parents=parents,
                netns=netns,
                purge=params["purge"],
                purge_exclude=params["purge_exclude"],
                rollback=params["rollback"],
            )
    except EngineError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except _netlink.NetlinkFailure as exc:
        module.fail_json(msg=str(exc))

    actions = _plan.order_actions([a for e in parent_entries + entries for a in e["actions"]])
    links = {}
    before_links = {}
    after_links = {}
    for entry in entries:
        spec = entry["spec"]
        view, link = read_back(spec, after, entry)
        links[spec["name"]] = full_view(view, link, spec)
        before_links[spec["name"]] = diff_view(entry["before"], spec["name"])
        after_links[spec["name"]] = diff_view(view, spec["name"])
    parent_facts = {}
    for entry in parent_entries:
        name = entry["parent"]["name"]
        if after is not None:
            link = after[netns].links[name]
            parent_facts[name] = {"name": name, "promisc": link["promisc"], "promiscuity": link["promiscuity"]}
        else:
            parent_facts[name] = {"name": name, "promisc": entry["parent"]["promisc"], "promiscuity": None}
    result = {
        "changed": bool(actions),
        "actions": [_plan.describe(a) for a in actions],
        "links": links,
        "parents": parent_facts,
        "purged": [e["spec"]["name"] for e in entries if e.get("purged")],
    }
    if module._diff:
        result["diff"] = {
            "before": {
                "links": before_links,
                "parents": {e["parent"]["name"]: {"promisc": e["before"]} for e in parent_entries},
            },
            "after": {
                "links": after_links,
                "parents": {name: {"promisc": facts["promisc"]} for name, facts in parent_facts.items()},
            },
        }
    module.exit_json(**result)
