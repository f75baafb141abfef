# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The engine: lock -> observe -> plan -> (check mode stops here) -> apply, journaled -> read back -> verify.

``changed`` is exactly "the plan is not empty". Everything from the first change to the end of the read-back is
one transaction: the namespaces involved are locked (``_lock``), every applied step is journaled with the steps
that undo it (``_journal``), and any failure of any kind in between (a kernel refusal, an exception from any
layer, a signal such as SIGTERM, a vanished parent or namespace, a read-back that differs from what was asked)
replays the journal backwards, then fails with the cause and a short report of what was restored and what could
not be. The rollback itself never raises.
"""

import errno
import os

from ansible_collections.hostnet.macvlan.plugins.module_utils import _confirm, _journal, _lock, _model, _netlink, _plan
from ansible_collections.hostnet.macvlan.plugins.module_utils._signals import Interrupted, Signals

CAP_NET_ADMIN = 12


class EngineError(Exception):
    """A failure to report with fail_json; ``result`` holds extra return values."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result


class ReadBackMismatch(Exception):
    """The kernel, read back after the change, does not hold what was asked."""


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


def require_privileges():
    if not has_cap_net_admin():
        raise EngineError(
            "changing links needs root (CAP_NET_ADMIN); the module runs as uid %d without it. "
            "Run the task with become: true (check mode works without privileges)" % os.geteuid()
        )


def require_pyroute2():
    if not _netlink.pyroute2_available():
        raise EngineError(
            "Failed to import the required Python library (pyroute2) on the managed node's Python, which the change "
            "needs (check mode and runs that change nothing do not). " + _netlink.PYROUTE2_INSTALL_HINT
        )


def ns_identity(ns):
    """(device, inode) of a namespace file: two spellings of one namespace compare equal."""
    try:
        return _lock.namespace_identity(ns)
    except OSError:
        return ("missing", ns)


def canonical_namespaces(specs, netns):
    """Spell each namespace one way (the first spelling seen, ``netns`` first); a ``link_netns`` that is the
    working namespace itself becomes None. Changes the specs in place. Each spelling is looked up once (a thousand
    links usually name one namespace)."""
    spelling = {ns_identity(netns): netns}
    canonical = {netns: netns}  # spelling as given -> the one kept
    for spec in specs:
        for key in ("netns", "link_netns"):
            ns = spec.get(key)
            if ns is None and key == "link_netns":
                continue
            if ns not in canonical:
                canonical[ns] = spelling.setdefault(ns_identity(ns), ns)
            spec[key] = canonical[ns]
        if spec.get("link_netns") == spec.get("netns"):
            spec["link_netns"] = None


def namespaces_of(specs, netns):
    """The namespaces a run involves, ``netns`` first."""
    found = [netns]
    for spec in specs:
        for ns in (spec.get("netns"), spec.get("link_netns") or spec.get("netns")):
            if ns not in found:
                found.append(ns)
    return found


class _Locked:
    """The namespace locks of a run that may change something (none in check mode or without privileges: such a
    run changes nothing, and fails before its first change when it would)."""

    def __init__(self, namespaces, timeout, check_mode):
        self._locks = None
        self.namespaces = list(namespaces)
        if not check_mode and has_cap_net_admin():
            self._locks = _lock.NamespaceLocks(namespaces, timeout=timeout)

    def __enter__(self):
        if self._locks is not None:
            try:
                self._locks.acquire()
                # Within the locks: a change armed with confirm_timeout in these namespaces must be confirmed (or
                # revert) before another change (a revert replayed over a newer change would mix the two).
                _confirm.check_pending(self.namespaces)
            except (_lock.LockError, _confirm.ConfirmError) as exc:
                self._locks.release()
                raise EngineError(str(exc)) from None
        return self

    def __exit__(self, *exc):
        if self._locks is not None:
            self._locks.release()
        return False


def cause_of(exc, step=None):
    """The first sentence of a failure's message."""
    if isinstance(exc, (_netlink.NetlinkFailure, EngineError, ReadBackMismatch, Interrupted, _confirm.ConfirmError)):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "the module was interrupted (SIGINT)"
    where = " while applying: %s" % _journal.describe(step) if step is not None else ""
    return "unexpected error%s: %s: %s" % (where, type(exc).__name__, exc)


class LinkEngine:
    """Converges a desired set of links (and their parents' flag, MTU and state); a single-link module passes one
    link."""

    def __init__(self, session, check_mode, multi=False):
        self.session = session
        self.check_mode = check_mode
        self.multi = multi  # error messages name links[i] (macvlan_state)
        self.confirmation = None  # the pending change a run with confirm_timeout armed
        self.resolved = {}  # {option: value} of parent 'default' and mac_address 'stable' (``resolve``)

    # -- observe --------------------------------------------------------------------------------------

    def observe(self, specs, netns=None, l3=True):
        """One dump each of links, addresses and routes (``l3`` false: links only) per namespace involved."""
        snapshots = {}
        for ns in namespaces_of(specs, netns):
            self._open(ns, specs)
            snapshots[ns] = self.session.observe(ns, addresses=l3, routes=l3)
            if ns != netns:
                snapshots[ns].peer_nsid = self.session.peer_nsid(ns, netns)
        snapshots[netns].peers = [snapshot for ns, snapshot in snapshots.items() if ns != netns]
        return snapshots

    def needs_l3(self, specs, purge=False, protect=None, views_of_unchanged=False):
        """Whether planning needs the addresses and routes before it knows whether anything changes: a link that
        names addresses or routes, resolves ``parent: default`` (from the routes) or is deleted (its view), purge,
        protect, the single-link module (its result is the link's view) or the views of unchanged links. Without
        them an unchanged run reads links only; a run with changes reads the rest before it plans again."""
        if not self.multi or purge or protect or views_of_unchanged:
            return True
        for spec in specs:
            if spec["state"] == "absent" or spec.get("parent_default"):
                return True
            if spec.get("addresses") is not None or spec.get("routes") is not None:
                return True
        return False

    def _open(self, ns, specs):
        option, label = "netns", ""
        for index, spec in enumerate(specs):
            if spec.get("link_netns") == ns and spec.get("netns") != ns:
                option, label = "link_netns", self._label(index, spec)  # the error names a link that asks for it
                break
        try:
            self.session.open(ns, option)
        except _netlink.NetlinkFailure as exc:
            raise EngineError(label + str(exc)) from None

    @staticmethod
    def pair(spec, snapshots):
        work = snapshots[spec.get("netns")]
        where = snapshots[spec.get("link_netns") or spec.get("netns")]
        return work, where

    # -- resolve --------------------------------------------------------------------------------------

    def resolve(self, specs, snapshots):
        """Resolve ``parent: default`` (from the observed routes) and ``mac_address: stable`` (from the machine
        id) in place, then check the link set again with the resolved values. {option: value}."""
        default, stable = _plan.needs_resolving(specs)
        if not (default or stable):
            return {}
        labels = ["links[%d]." % i if self.multi else "" for i in range(len(specs))]
        try:
            machine_id = _netlink.read_machine_id() if stable else None
            resolved = _plan.resolve_links(specs, snapshots, machine_id, labels)
            if self.multi:
                _plan.check_link_set(specs)
        except (_plan.PlanError, _model.ModelError) as exc:
            raise EngineError(str(exc)) from None
        return resolved

    # -- plan -----------------------------------------------------------------------------------------

    def _label(self, index, spec):
        return "links[%d] (%s): " % (index, spec["name"]) if self.multi else ""

    def plan(self, specs, snapshots, parents=(), netns=None, purge=False, purge_exclude=()):
        """Entries: {spec, actions, before, after, before_ns} per link (purged links included; the read-back adds
        ``read_back``, the link's view as verified); parent entries apart."""
        label = ""
        try:
            purged = []
            if purge:
                label = "purge: "
                managed = _plan.managed_parents(specs, parents)
                keep = set()
                for spec in specs:
                    keep.add((spec.get("link_netns") or spec.get("netns"), spec["name"]))
                    keep.add((spec.get("netns"), spec["name"]))  # a link still to be moved into link_netns
                keep |= {(_plan.ANY_NS, name) for name in purge_exclude}
                purged = _plan.plan_purge(snapshots, netns, managed, keep)
            # Links this plan deletes make room on their parents (a MAC address, a passthru parent).
            departing = {(e["actions"][0]["ns"], e["spec"]["name"]) for e in purged}
            departing |= {(s.get("link_netns") or s.get("netns"), s["name"]) for s in specs if s["state"] == "absent"}
            claimed = {(s.get("link_netns") or s.get("netns"), s["name"]) for s in specs if s["state"] == "present"}
            # The parents' MTUs this plan sets: links are checked and predicted against them.
            parent_mtus = {p["name"]: p["mtu"] for p in parents if p.get("mtu") is not None}
            entries = []
            for index, spec in enumerate(specs):
                label = self._label(index, spec)
                work, where = self.pair(spec, snapshots)
                mtus = parent_mtus if parent_mtus and work is snapshots.get(netns) else None
                actions, before, after = _plan.plan_link(spec, work, where, departing, claimed, mtus)
                # Where the observed link was: rollback restores it there.
                before_ns = spec.get("link_netns") or spec.get("netns")
                if actions and actions[0]["op"] == "move_netns":
                    before_ns = spec.get("netns")
                elif actions and actions[0]["op"] == "recreate":
                    before_ns = actions[0]["old_ns"]
                entries.append(
                    {
                        "spec": spec,
                        "actions": actions,
                        "before": before,
                        "after": after,
                        "before_ns": before_ns,
                        "label": label,
                    }
                )
            parent_entries = []
            for index, parent in enumerate(parents):
                label = "parents[%d]." % index
                actions, before = _plan.plan_parent(parent, snapshots, netns, entries, departing)
                parent_entries.append({"parent": parent, "actions": actions, "before": before})
            for entry in purged:
                entry["before_ns"] = entry["actions"][0]["ns"]
                entry["label"] = "purge: "
            entries += purged
            label = ""
            _plan.check_route_collisions(entries, snapshots)
            _plan.share_bclim_steps(entries)
            _plan.mark_early_deletes(entries)
        except _plan.PlanError as exc:
            raise EngineError(label + str(exc)) from None
        return entries, parent_entries

    # -- the transaction ------------------------------------------------------------------------------

    def converge(
        self,
        specs,
        parents=(),
        netns=None,
        purge=False,
        purge_exclude=(),
        rollback=True,
        lock_timeout=None,
        protect=None,
        confirm_timeout=None,
        views_of_unchanged=False,
    ):
        """Lock, observe, plan, apply in phases, read back, verify; roll back on any failure.

        ``views_of_unchanged``: the caller reports unchanged links whole (their addresses and routes included).

        Returns (entries, parent_entries, after) where ``after`` is the read-back snapshots (the observed ones when
        there was nothing to do), or None in check mode with changes planned. Raises EngineError, after rolling
        back, on failure.
        """
        canonical_namespaces(specs, netns)
        self.confirmation = None
        with _Locked(namespaces_of(specs, netns), lock_timeout, self.check_mode):
            l3 = self.needs_l3(specs, purge, protect, views_of_unchanged)
            snapshots = self.observe(specs, netns, l3=l3)
            self.resolved = self.resolve(specs, snapshots)
            entries, parent_entries = self.plan(specs, snapshots, parents, netns, purge, purge_exclude)
            actions = planned_actions(entries, parent_entries)
            if actions and not l3:
                # A change: its views, journal and read-back need the addresses and routes too (one dump each).
                for snapshot in snapshots.values():
                    self.session.observe_l3(snapshot)
                if any(entry["before"] is not None for entry in entries):
                    # A link that exists is planned from its addresses and routes (its view, the routes the kernel
                    # serves it); one that is only created is not (``needs_l3`` was false: no spec names any).
                    entries, parent_entries = self.plan(specs, snapshots, parents, netns, purge, purge_exclude)
                    actions = planned_actions(entries, parent_entries)
            if protect:
                self.check_protected(entries, parent_entries, snapshots[netns], protect, netns)
            self.check_ipv6(entries)
            if not actions:
                return entries, parent_entries, snapshots  # nothing to do: what was observed is the result
            if self.check_mode:
                return entries, parent_entries, None
            require_privileges()
            require_pyroute2()
            context = _journal.Context(views=_views(entries, snapshots))
            after = self.transaction(
                actions,
                context,
                lambda: self._read_back(specs, netns, entries, parent_entries),
                rollback,
                confirm=(namespaces_of(specs, netns), confirm_timeout) if confirm_timeout else None,
            )
        return entries, parent_entries, after

    def check_protected(self, entries, parent_entries, snapshot, protect, netns):
        held = None
        if protect.get("addresses"):
            wanted = set(protect["addresses"])
            held = {}
            for index, address in self.session.addresses(netns):
                if address in wanted:
                    held.setdefault(index, []).append(address)
        protected = _plan.protected_interfaces(
            snapshot, protect.get("interfaces") or (), held, protect.get("default_route")
        )
        try:
            _plan.check_protected(entries, parent_entries, protected, netns)
        except _plan.PlanError as exc:
            raise EngineError(str(exc)) from None

    def check_ipv6(self, entries):
        """Before any change (check mode too): the namespaces where IPv6 options are set have IPv6, and
        ``ipv6_addr_gen_mode: stable_privacy`` has a stable secret (the link's, or the namespace's default, which a
        new link inherits) to derive addresses from. Reads a few sysctl files, only for such actions."""
        available = {}
        for entry in entries:
            for action in entry["actions"]:
                op = action["op"]
                if not op.startswith("set_ipv6_"):
                    continue
                ns, option = action["ns"], op[4:]
                label = entry.get("label", "")
                try:
                    if ns not in available:
                        available[ns] = self.session.ipv6_available(ns)
                    if not available[ns]:
                        raise EngineError(
                            "%s%s: %r cannot be set: %s has no IPv6 (no /proc/sys/net/ipv6; the kernel runs with "
                            "ipv6.disable=1 or without IPv6)" % (label, option, action["after"], _plan.ns_label(ns))
                        )
                    if op == "set_ipv6_addr_gen_mode" and action["after"] == "stable_privacy":
                        link = None if action.get("new") else action["name"]
                        if not self.session.stable_secret_set(ns, link):
                            raise EngineError(
                                "%sipv6_addr_gen_mode: 'stable_privacy' needs a stable secret, and neither %s nor "
                                "net.ipv6.conf.default.stable_secret is set in %s. Set one first (sysctl -w "
                                "net.ipv6.conf.default.stable_secret=<an IPv6 address kept secret>) or choose eui64 "
                                "or random. Nothing was changed"
                                % (
                                    label,
                                    "net.ipv6.conf.%s.stable_secret" % action["name"],
                                    _plan.ns_label(ns),
                                )
                            )
                except _netlink.NetlinkFailure as exc:
                    raise EngineError("%s%s: %s" % (label, option, exc)) from None

    def transaction(self, actions, context, read_back, rollback=True, confirm=None):
        """Apply ``actions`` (each journaled), then ``read_back()``; on any failure roll back and raise
        EngineError. Returns what ``read_back`` returned. ``confirm``: (namespaces, timeout) to keep the journal as
        a pending change that reverts by itself unless confirmed (``self.confirmation`` then holds its summary);
        failing to arm it rolls back too."""
        journal = _journal.Journal()
        signals = Signals()
        step = None
        try:
            with signals:
                try:
                    for ns in _capture_namespaces(actions):
                        context.captures[ns] = self.session.capture(ns)
                    for action in actions:
                        for step in _journal.expand(action):
                            with signals.step():
                                effect = self.session.apply(step)
                                journal.add(step, _journal.undo_for(step, effect, context))
                    step = None
                    after = read_back()
                    if confirm is not None:
                        self.confirmation = _confirm.arm(journal, confirm[0], confirm[1])
                    return after
                except BaseException as exc:
                    signals.rolling_back = True
                    self._fail(exc, step, journal, rollback)
        except Interrupted as exc:  # a signal between the failure and the rollback's start
            self._fail(exc, step, journal, rollback)
        return None  # not reached: _fail raises

    def _fail(self, exc, step, journal, rollback):
        if isinstance(exc, (SystemExit, GeneratorExit)):
            raise exc
        message = cause_of(exc, step)
        if (
            isinstance(exc, _netlink.NetlinkFailure)
            and exc.code == errno.EEXIST
            and step is not None
            and step["op"] == "add_route"
        ):
            holder = self.session.route_holder(step["ns"], step["route"])
            if holder:
                message += "; it is held by %s" % holder
        done = journal.done()
        if not rollback:
            raise EngineError("%s. Not rolled back (rollback is false)" % message, actions=done)
        restored, problems = _journal.replay(journal, self.session)
        report = _journal.report(restored, problems) if journal else "nothing had been changed"
        raise EngineError(
            "%s. Rolled back: %s" % (message, report),
            actions=done,
            rolled_back=_journal.summarize(restored, 200),
            not_restored=problems,
        )

    def _read_back(self, specs, netns, entries, parent_entries):
        after = self.observe(specs, netns)
        problems = []
        for entry in entries:
            spec = entry["spec"]
            view = entry["read_back"] = self.read_view(spec, after)  # the result reports it as read here
            for problem in _plan.verify_link(spec, view):
                problems.append("%s: %s" % (spec["name"], problem))
        for entry in parent_entries:
            parent = entry["parent"]
            link = after[netns].links.get(parent["name"])
            if link is None:
                problems.append("%s: the parent no longer exists" % parent["name"])
                continue
            for key in ("promisc", "mtu", "link_state"):
                if parent.get(key) is not None and link[key] != parent[key]:
                    problems.append("%s: %s is %s, expected %s" % (parent["name"], key, link[key], parent[key]))
        if problems:
            raise ReadBackMismatch(
                "the kernel did not apply what was asked (read back after the change): %s. This usually means the "
                "kernel or pyroute2 silently ignored an attribute" % "; ".join(_journal.summarize(problems))
            )
        return after

    @staticmethod
    def read_view(spec, snapshots):
        work, where = LinkEngine.pair(spec, snapshots)
        link = where.links.get(spec["name"])
        if link is None or link["kind"] not in _plan.MACVLAN_KINDS:
            return None
        return _plan.link_view(link, where, work)


def planned_actions(entries, parent_entries):
    """Every action of a plan (parents' and links'), in the order they are applied."""
    return _plan.order_actions([a for e in parent_entries + entries for a in e["actions"]])


def _views(entries, snapshots):
    """(namespace, name) -> (observed view, namespace of its parent) of every link a plan touches."""
    views = {}
    for entry in entries:
        if entry["actions"] and entry["before"] is not None:
            views[(entry["before_ns"], entry["spec"]["name"])] = (entry["before"], entry["spec"].get("netns"))
    return views


def _capture_namespaces(actions):
    found = []
    for action in actions:
        if _journal.needs_capture(action):
            ns = _journal.captured_ns(action)
            if ns not in found:
                found.append(ns)
    return found


def promisc(session, name, want, ns=None, check_mode=False, lock_timeout=None):
    """The ``promisc`` module's transaction: the flag of one interface, locked, journaled, read back.
    Returns (actions, before, promisc, promiscuity)."""
    with _Locked([ns], lock_timeout, check_mode):
        session.open(ns)
        snapshot = session.observe(ns, addresses=False, routes=False)
        try:
            actions = _plan.plan_promisc(name, want, snapshot)
        except _plan.PlanError as exc:
            raise EngineError(str(exc)) from None
        link = snapshot.links[name]
        before = link["promisc"]
        if not actions:
            return actions, before, link["promisc"], link["promiscuity"]
        if check_mode:
            return actions, before, want, max(0, link["promiscuity"] + (1 if want else -1))
        require_privileges()
        require_pyroute2()

        def read_back():
            found = session.lookup(ns, name)
            if found is None or found["promisc"] != want:
                raise ReadBackMismatch("promisc: %s still reads %s after the change" % (name, not want))
            return found

        engine = LinkEngine(session, check_mode)
        found = engine.transaction(actions, _journal.Context(), read_back)
        return actions, before, found["promisc"], found["promiscuity"]


def check_kernel(spec, prefix=""):
    _model.check_kernel_support(spec, _netlink.kernel_release(), prefix)
