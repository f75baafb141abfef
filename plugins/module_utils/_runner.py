# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The modules' entry points: validate the parameters (``_model``), run the engine (``_engine``), shape the
result. Each ``run_*_module`` is the whole of one module after its argument spec.
"""

from ansible_collections.hostnet.macvlan.plugins.module_utils import (
    _confirm,
    _engine,
    _journal,
    _model,
    _netlink,
    _plan,
    _results,
)
from ansible_collections.hostnet.macvlan.plugins.module_utils._engine import EngineError, LinkEngine, planned_actions
from ansible_collections.hostnet.macvlan.plugins.module_utils._options import LINK_KEYS

exit_json = _results.exit_json
fail_json = _results.fail_json


def run_link_module(module):
    """The whole of the ``macvlan`` module."""
    try:
        spec = _model.normalize_link(module.params)
        if spec["state"] == "present":
            _engine.check_kernel(spec)
    except _model.ModelError as exc:
        fail_json(module, str(exc))
    try:
        with _netlink.Session() as session:
            engine = LinkEngine(session, module.check_mode)
            entries, dummy, after = engine.converge(
                [spec], netns=spec.get("netns"), lock_timeout=module.params["lock_timeout"]
            )
    except EngineError as exc:
        fail_json(module, str(exc), **exc.result)
    except _netlink.NetlinkFailure as exc:
        fail_json(module, str(exc))
    entry = entries[0]
    view, link = read_back(spec, after, entry)
    result = {
        "changed": bool(entry["actions"]),
        "actions": [_plan.describe(a) for a in _plan.order_actions(entry["actions"])],
        "link": _results.full_view(view, link, spec),
    }
    if engine.resolved:
        result["resolved"] = engine.resolved
    if module._diff:
        before, after_view = _results.changed_parts(
            _results.diff_view(entry["before"], spec["name"]), _results.diff_view(view, spec["name"])
        )
        result["diff"] = {"before": before, "after": after_view}
    exit_json(module, **result)


def read_back(spec, after, entry):
    """(view, kernel link) after the run: read back when something was applied, else the plan's prediction."""
    if after is None:
        return entry["after"], None
    link = LinkEngine.pair(spec, after)[1].links.get(spec["name"])
    if "read_back" in entry:
        return entry["read_back"], link  # verified in the read-back
    return LinkEngine.read_view(spec, after), link


def run_promisc_module(module):
    """The whole of the ``promisc`` module."""
    name = module.params["name"]
    ns = module.params["netns"]
    try:
        name = _model.validate_ifname(name)
        if ns is not None:
            _model.validate_netns(ns)
    except _model.ModelError as exc:
        fail_json(module, str(exc))
    want = module.params["promisc"]
    try:
        with _netlink.Session() as session:
            actions, before, promisc, promiscuity = _engine.promisc(
                session, name, want, ns, module.check_mode, module.params["lock_timeout"]
            )
    except EngineError as exc:
        fail_json(module, str(exc), **exc.result)
    except _netlink.NetlinkFailure as exc:
        fail_json(module, str(exc))
    result = {
        "changed": bool(actions),
        "actions": [_plan.describe(a) for a in actions],
        "promisc": promisc,
        "promiscuity": promiscuity,
    }
    if module._diff:
        result["diff"] = {"before": {"name": name, "promisc": before}, "after": {"name": name, "promisc": promisc}}
    exit_json(module, **result)


def run_info_module(module):
    """The whole of the ``macvlan_info`` module."""
    ns = module.params["netns"]
    try:
        if ns is not None:
            _model.validate_netns(ns)
        for option in ("names", "parents"):
            module.params[option] = [_model.validate_ifname(name, option) for name in module.params[option] or []]
    except _model.ModelError as exc:
        fail_json(module, str(exc))
    names = module.params["names"]
    parents = module.params["parents"]
    restore = None
    try:
        with _netlink.Session() as session:
            if module.params["snapshot"] is not None:
                restore, snapshot = take_snapshot(session, module.params["snapshot"], ns)
            else:
                session.open(ns)
                snapshot = session.observe(ns)
    except (_model.ModelError, _plan.PlanError) as exc:
        fail_json(module, "snapshot." + str(exc))
    except EngineError as exc:
        message = str(exc)
        fail_json(module, "snapshot" + ("." if message.startswith(("links[", "parents[")) else ": ") + message)
    except _netlink.NetlinkFailure as exc:
        fail_json(module, str(exc))
    links, parent_facts = collect_facts(snapshot, names, parents)
    try:
        pending = [_confirm.summary(data) for data in _confirm.pending([ns])]
    except _confirm.ConfirmError as exc:
        fail_json(module, str(exc))
    result = {
        "changed": False,
        "parents": parent_facts,
        "kernel": _netlink.kernel_release(),
        "pyroute2": _netlink.pyroute2_version(),
        "pending_confirm": pending,
        "last_revert": _confirm.last_revert(),
    }
    if module.params["state_links"]:
        result["state_links"] = [_plan.as_state_link(view) for view in links.values() if view["parent"] is not None]
    if restore is not None:
        result["snapshot"] = restore
    if module.params["details"] == "brief":
        links = {name: _results.brief(view) for name, view in links.items()}
    result["links"] = links
    exit_json(module, **result)


def run_confirm_module(module):
    """The whole of the ``macvlan_confirm`` module."""
    params = module.params
    change_id = params["id"]
    ns = params["netns"]
    try:
        if ns is not None:
            _model.validate_netns(ns)
        if change_id is not None and not _confirm.valid_id(change_id):
            raise _model.ModelError("id: %r is not the id of a change (as returned in confirm.id)" % change_id)
        _confirm.require_access()
    except (_model.ModelError, _confirm.ConfirmError) as exc:
        fail_json(module, str(exc))
    if ns is not None and _confirm.identity(ns) is None:
        fail_json(module, "netns: %r does not exist (no such network namespace)" % ns)
    try:
        candidates = _confirm.pending([ns] if ns is not None else None)
    except _confirm.ConfirmError as exc:
        fail_json(module, str(exc))
    if change_id is not None:
        candidates = [data for data in candidates if data["id"] == change_id]
    last = _confirm.last_revert()
    result = {"changed": bool(candidates), "last_revert": last}

    def reverted_record(one):
        return _confirm.reverted(one) or (last if last and last.get("id") == one else None)

    def gone(one):
        record = reverted_record(one)
        when = " at %s (%s)" % (record.get("reverted_at_iso"), record.get("reason")) if record else ""
        details = dict(result)
        details.update({"changed": False, "reverted_change": record})
        fail_json(
            module,
            "change %s is no longer pending: it reverted%s, so there is nothing to confirm; the change is gone"
            % (one, when),
            **details,
        )

    if change_id is not None and not candidates and not params["revert"] and reverted_record(change_id):
        gone(change_id)
    ids = [data["id"] for data in candidates]
    try:
        if params["revert"]:
            records = []
            if not module.check_mode:
                for one in reversed(ids):
                    record = _confirm.revert(one, "asked")
                    if record is not None:
                        records.append(record)
                result["last_revert"] = _confirm.last_revert()
            briefs = [_confirm.brief_record(record) for record in records]
            result["reverted"] = briefs if not module.check_mode else [_confirm.summary(d) for d in candidates]
            problems = [line for record in records for line in record["not_restored"]]
            if problems:
                fail_json(
                    module,
                    "the revert could not restore everything: %s" % "; ".join(_journal.summarize(problems)),
                    **result,
                )
        else:
            result["confirmed"], lost = _confirm.confirm(ids, check_mode=module.check_mode)
            if lost:
                # A revert took the change's lock first (its deadline passed while this task waited): it is undone.
                result["changed"] = bool(result["confirmed"])
                gone(lost[0])
    except (_confirm.ConfirmError, OSError) as exc:
        fail_json(module, str(exc), **result)
    exit_json(module, **result)


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


def state_arguments(params, netns):
    """macvlan_state's ``links``, ``parents`` and ``purge_exclude`` (from ``params``: the module's, or
    macvlan_info's ``snapshot``) checked and normalized: (specs, parents, excluded names). Raises ModelError or
    PlanError naming the option."""
    specs = []
    for index, link in enumerate(params["links"]):
        prefix = "links[%d]." % index
        _model.check_keys(link, LINK_KEYS, prefix[:-1])
        specs.append(_model.normalize_link(dict(link, netns=netns), prefix=prefix, raw=True))
    parents = _model.normalize_parents(params["parents"])
    exclude = [_model.validate_ifname(name, "purge_exclude") for name in params["purge_exclude"]]
    _plan.check_link_set(specs)
    return specs, parents, exclude


def take_snapshot(session, params, netns):
    """macvlan_info's ``snapshot``: observe the namespaces a macvlan_state call with ``params`` works in (links,
    addresses and routes), resolve its ``parent: default``, and return (the ``snapshot`` result, the snapshot of
    ``netns``). Raises ModelError, PlanError or EngineError."""
    specs, parents, exclude = state_arguments(params, netns)
    _engine.canonical_namespaces(specs, netns)
    engine = LinkEngine(session, True, multi=True)
    snapshots = engine.observe(specs, netns)
    resolved = engine.resolve(specs, snapshots)
    result = _plan.restore_args(specs, parents, snapshots, netns, params["purge"], exclude)
    if resolved:
        result["resolved"] = resolved
    return result, snapshots[netns]


def run_state_module(module):
    """The whole of the ``macvlan_state`` module."""
    params = module.params
    netns = params["netns"] or None
    try:
        if netns is not None:
            _model.validate_netns(netns)
        specs, parents, exclude = state_arguments(params, netns)
        for index, spec in enumerate(specs):
            if spec["state"] == "present":
                _engine.check_kernel(spec, "links[%d]." % index)
        protect = _model.normalize_protect(params.get("protect"))
        if isinstance(params["confirm_timeout"], bool):  # Ansible's int type keeps a bool: true would be 1 s
            raise _model.ModelError(
                "confirm_timeout: %r is not a number of seconds (0 or omitted: no confirm)" % params["confirm_timeout"]
            )
        confirm_timeout = params["confirm_timeout"] or None
        if confirm_timeout is not None and not 1 <= confirm_timeout <= _confirm.MAX_TIMEOUT:
            raise _model.ModelError(
                "confirm_timeout: %r is out of range 1..%d seconds (0 or omitted: no confirm)"
                % (confirm_timeout, _confirm.MAX_TIMEOUT)
            )
    except (_model.ModelError, _plan.PlanError) as exc:
        fail_json(module, str(exc))
    try:
        with _netlink.Session() as session:
            engine = LinkEngine(session, module.check_mode, multi=True)
            entries, parent_entries, after = engine.converge(
                specs,
                parents=parents,
                netns=netns,
                purge=params["purge"],
                purge_exclude=exclude,
                rollback=params["rollback"],
                lock_timeout=params["lock_timeout"],
                protect=protect,
                confirm_timeout=confirm_timeout,
                views_of_unchanged=params["return_links"] == "all",
            )
    except EngineError as exc:
        fail_json(module, str(exc), **exc.result)
    except _netlink.NetlinkFailure as exc:
        fail_json(module, str(exc))

    actions = planned_actions(entries, parent_entries)
    wanted = params["return_links"]
    links = []
    before_links = {}
    after_links = {}
    changed = 0
    for entry in entries:
        if entry["actions"]:
            changed += 1
        elif wanted != "all":
            continue  # an unchanged link costs its comparison and nothing more
        spec = entry["spec"]
        view, link = read_back(spec, after, entry)
        if wanted == "all" or (wanted == "changed" and entry["actions"]):
            links.append(_results.full_view(view, link, spec))
        if module._diff and entry["actions"]:
            key = _results.link_key(spec)
            before_links[key], after_links[key] = _results.changed_parts(
                _results.diff_view(entry["before"], spec["name"]), _results.diff_view(view, spec["name"])
            )
    parent_facts = {}
    for entry in parent_entries:
        parent_facts[entry["parent"]["name"]] = _results.parent_fact(entry, after[netns] if after is not None else None)
    result = {
        "changed": bool(actions),
        "actions": [_plan.describe(a) for a in actions],
        "links": links,
        "links_total": len(entries),
        "links_changed": changed,
        "parents": parent_facts,
        "purged": [e["spec"]["name"] for e in entries if e.get("purged")],
        "confirm": engine.confirmation,
    }
    if engine.resolved:
        result["resolved"] = engine.resolved
    if module._diff:
        before_parents, after_parents = _results.parents_diff(parent_entries, parent_facts)
        result["diff"] = {
            "before": {"links": before_links, "parents": before_parents},
            "after": {"links": after_links, "parents": after_parents},
        }
    exit_json(module, **result)
