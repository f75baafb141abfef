# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The journal of a run: each step the run applied, with the steps that undo it (pure: no netlink).

The engine records a step only after the kernel accepted it, so the rollback, which replays the undo steps
backwards, touches exactly what the run changed: a link that another program created in the meantime is never
deleted, and a link the run deleted comes back as the capture recorded it (same ifindex when the kernel has it
free, every attribute, every address with its flags, every route through it in every table).

Undo steps are plain data (JSON-able), in the action vocabulary of ``_plan`` plus three of the journal's own,
carried out by ``_netlink.Session.apply``:

- ``undo_create``: delete a link the run created, if it still is one (never a link of another kind);
- ``restore_link``: re-create a deleted link from its record, then its addresses and routes;
- ``restore_l3``: put back the captured addresses and routes of a link that are missing now.
"""

import contextlib

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _plan

# Steps after which only a capture can undo what the kernel dropped: deletions, removed addresses and routes
# (the kernel drops routes with the addresses they depend on), a move to another namespace or a link taken down
# (both drop addresses and routes), an MTU lowered (below 1280 the kernel drops IPv6).
CAPTURED_OPS = ("delete", "recreate", "move_netns", "del_address", "del_route")

# Lines of the rollback report kept in the message; the rest is counted.
SUMMARY_LINES = 20


def needs_capture(action):
    """True when only a capture can undo ``action`` (see CAPTURED_OPS); ``captured_ns`` says of which namespace."""
    op = action["op"]
    if op in CAPTURED_OPS:
        return True
    if op == "set_link_state":
        return action["after"] == "down"
    if op == "set_mtu":
        return action.get("before") is not None and action["after"] < action["before"]
    if op == "set_ipv6_disabled":  # the kernel drops the link's IPv6 addresses and routes
        return bool(action["after"]) and not action.get("new")
    return False


def captured_ns(action):
    return action["old_ns"] if action["op"] == "recreate" else action["ns"]


def expand(action):
    """The steps one planned action takes, each journaled on its own: a re-creation is a deletion (where the
    link was) followed by a creation."""
    if action["op"] != "recreate":
        return [action]
    delete = {"op": "delete", "ns": action["old_ns"], "name": action["name"], "kind": action.get("old_kind")}
    create = {key: value for key, value in action.items() if key not in ("old_ns", "old_kind", "reasons")}
    create["op"] = "create"
    return [delete, create]


def restore_spec(view, link):
    """What ``restore_link`` re-creates: the user-level ``view`` of the observed link plus what the kernel held
    beyond the collection's options (``link``: the captured link)."""
    spec = _plan.spec_from_view(view)
    spec["source_macs"] = list(view.get("source_macs") or [])
    spec["nopromisc"] = bool(view.get("nopromisc"))
    spec["nodst"] = bool(view.get("nodst"))
    for key in ("addresses", "routes", "netns", "link_netns", "recreate", "state"):
        spec.pop(key, None)
    if link is not None:
        spec.update(
            {
                "ifindex": link["ifindex"],
                "txqlen": link.get("txqlen"),
                "group": link.get("group"),
                "ifalias": link.get("ifalias"),
                "ifi_flags": link.get("ifi_flags"),
                "master": link.get("master_name"),
            }
        )
    return spec


class Context:
    """What undo steps are built from: the observed state before the run (``views``: (namespace, name) ->
    (user-level view, namespace of its parent)) and the captures of the namespaces the run changes
    destructively (namespace -> ``_observed.Capture``)."""

    def __init__(self, views=None, captures=None):
        self.views = views or {}
        self.captures = captures or {}

    def view(self, ns, name):
        found = self.views.get((ns, name))
        return found[0] if found else None

    def l3(self, ns, name):
        capture = self.captures.get(ns)
        found = capture.l3(name) if capture is not None else None
        if found is None:
            return None
        return dict(found, ns=ns, name=name)

    def restore(self, ns, name):
        """The ``restore_link`` step of a link deleted from ``ns``, or a ``cannot`` note."""
        found = self.views.get((ns, name))
        capture = self.captures.get(ns)
        link = capture.links.get(name) if capture is not None else None
        if found is None or found[0] is None:
            return {"op": "cannot", "name": name, "why": "it was not observed before the run"}
        view, work_ns = found
        if not view.get("parent"):
            return {
                "op": "cannot",
                "name": name,
                "why": "its parent is in a network namespace this run cannot see",
            }
        if link is not None and link.get("master"):
            master = capture.by_index.get(link["master"])
            link = dict(link, master_name=master["name"] if master else None)
        step = {
            "op": "restore_link",
            "ns": work_ns,
            "link_ns": ns,
            "name": name,
            "spec": restore_spec(view, link),
        }
        l3 = self.l3(ns, name)
        if l3 is not None:
            step["l3"] = {key: l3[key] for key in ("index", "addresses", "routes", "lost")}
        return step


def undo_for(step, effect, context):
    """The steps that undo ``step`` (in the order they run), given what applying it did (``effect``: False when
    the goal was already reached and nothing changed)."""
    op = step["op"]
    ns = step.get("ns")
    name = step.get("name")
    if effect is False:
        return []
    if op == "create":
        undo = {"op": "undo_create", "ns": step["link_ns"], "name": name, "kind": step["spec"]["type"]}
        if step["link_ns"] == ns:  # the parent is in the link's namespace: the undo checks it is still on it
            undo["parent"] = step["spec"]["parent"]
        return [undo]
    if op == "delete":
        return [context.restore(ns, name)]
    if op == "move_netns":
        undo = [{"op": "move_netns", "ns": step["link_ns"], "link_ns": ns, "name": name, "kind": step.get("kind")}]
        view = context.view(ns, name)
        # A link entering a namespace gets that namespace's IPv6 defaults: its own settings go back while it is
        # still down (before link-local addresses are made), in the order a re-created link gets them.
        for key in _model.IPV6_OPTIONS:
            if view is not None and view.get(key) is not None:
                undo.append(_set(step, "set_" + key, None, view[key]))
        if view is not None and view.get("link_state") == "up":
            undo.append(_set(step, "set_link_state", "down", "up"))
        l3 = context.l3(ns, name)
        if l3 is not None:
            undo.append(dict(l3, op="restore_l3"))
        return undo
    if op == "set_bclim" and step.get("shared"):
        # A new link's cutoff: the parent's, shared by its other links; deleting the link would leave it. The step
        # reported the value it replaced (``Session._op_set_bclim``): set back before the link is deleted.
        replaced = effect.get("replaced") if isinstance(effect, dict) else None
        if replaced is None or replaced == step["after"]:
            return []
        return [_set(step, "set_bclim", step["after"], replaced)]
    if step.get("new"):
        return []  # a setting of a link this run created (and brought up): undone by deleting the link
    if op in ("set_promisc", "set_allmulticast", "set_multicast"):
        return [dict(step, before=step["after"], after=step["before"])]
    if op in ("set_ipv6_addr_gen_mode", "set_ipv6_accept_ra", "set_ipv6_autoconf", "set_ipv6_disabled"):
        undo = [dict(step, before=step["after"], after=step["before"])]
        if needs_capture(step):  # IPv6 back on first, then the addresses and routes the kernel dropped
            l3 = context.l3(ns, name)
            if l3 is not None:
                undo.append(dict(l3, op="restore_l3"))
        return undo
    if op in ("set_mode", "set_flags", "set_mac_address", "set_bcqueuelen", "set_bclim"):
        undo = [dict(step, before=step["after"], after=step["before"])]
        if op == "set_mode" and step["before"] == "source":
            view = context.view(ns, name)
            macs = list(view.get("source_macs") or []) if view is not None else []
            if macs:  # leaving source mode flushed the list
                undo.append(_set(step, "set_source_macs", [], macs))
        return undo
    if op == "set_source_macs":
        return [_set(step, "set_source_macs", step["after"], step["before"])]
    if op in ("set_link_state", "set_mtu"):
        undo = [dict(step, before=step["after"], after=step["before"])]
        if needs_capture(step):
            l3 = context.l3(ns, name)
            if l3 is not None:
                undo.append(dict(l3, op="restore_l3"))
        return undo
    if op in ("add_address", "ensure_address"):
        return [{"op": "del_address", "ns": ns, "name": name, "address": step["address"]}]
    if op in ("add_route", "ensure_route"):
        return [{"op": "del_route", "ns": ns, "name": name, "route": step["route"], "proto": 4}]
    if op in ("del_address", "del_route"):
        l3 = context.l3(ns, name)
        return [dict(l3, op="restore_l3")] if l3 is not None else []
    return [{"op": "cannot", "name": name, "why": "the journal does not know how to undo %s" % op}]


def _set(step, op, before, after):
    return {
        "op": op,
        "ns": step["ns"],
        "name": step["name"],
        "kind": step.get("kind"),
        "before": before,
        "after": after,
    }


class Journal:
    """The steps a run applied, in order, each with its undo steps. Plain data (``data``/``from_data``): the
    confirm mode keeps it in a file and a later process replays it."""

    def __init__(self, entries=None):
        self.entries = list(entries or [])

    def __len__(self):
        return len(self.entries)

    def add(self, step, undo):
        self.entries.append({"did": describe(step), "undo": list(undo)})

    def done(self):
        """What the run applied, one line per step (the ``actions`` of a failed run)."""
        return [entry["did"] for entry in self.entries]

    def undo_steps(self):
        """Every undo step, last applied first."""
        steps = []
        for entry in reversed(self.entries):
            steps.extend(entry["undo"])
        return steps

    def data(self):
        return {"entries": self.entries}

    @classmethod
    def from_data(cls, data):
        return cls(data.get("entries") or [])


# The settings a guarded replay sets back only while they still hold what the change set: step op -> the key of
# the link as ``Session.lookup`` reads it. Not bclim: the kernel keeps one broadcast cutoff per parent, so setting
# one link's back changes its siblings' too (their own undo steps would then see a value "changed since").
GUARDED = {
    "set_mtu": "mtu",
    "set_link_state": "link_state",
    "set_mode": "mode",
    "set_mac_address": "mac_address",
    "set_bcqueuelen": "bcqueuelen",
    "set_promisc": "promisc",
    "set_allmulticast": "allmulticast",
    "set_multicast": "multicast",
}


def changed_since(step, session):
    """For a guarded replay: the line that says why ``step`` is left out (its setting no longer holds what the
    change set: something else changed it since), or None to carry it out. One RTM_GETLINK."""
    key = GUARDED.get(step["op"])
    if key is None or step.get("before") is None:
        return None
    link = session.lookup(step["ns"], step["name"])
    if link is None or link.get(key) is None or link[key] == step["before"]:
        return None
    return "%s: %s left as it is: %s is %s now, not %s as the change set it (changed since by someone else)" % (
        step["name"],
        key.replace("_", " "),
        key.replace("_", " "),
        link[key],
        step["before"],
    )


def replay(journal, session, guarded=False):
    """Undo everything the journal holds (last first). Never raises: returns (restored, problems), lines that
    say what was undone and what could not be.

    ``guarded`` (a revert minutes after the change): a setting whose value is no longer what the change set is
    left as it is, and reported (someone changed it again since; setting it back would undo what they did)."""
    restored = []
    problems = []  # (the link whose addresses and routes a restore_l3 step could not all put back, or None; line)
    with contextlib.suppress(Exception):  # a rollback never crashes
        session.forget_all()
    for step in journal.undo_steps():
        if step["op"] == "cannot":
            problems.append((None, "%s: cannot be restored: %s" % (step["name"], step["why"])))
            continue
        try:
            left = changed_since(step, session) if guarded else None
            if left is not None:
                problems.append((None, left))
                continue
            result = session.apply(step)
        except Exception as exc:  # noqa: BLE001 (a rollback never crashes; it reports)
            problems.append((None, "%s: %s FAILED (%s)" % (step.get("name"), describe(step), _reason(exc))))
            continue
        restored.append(describe(step))
        key = (step.get("ns"), step.get("name")) if step["op"] == "restore_l3" else None
        if key is not None and not result:
            # Everything of the link is back now: what an earlier restore of it could not do (IPv6 addresses while
            # its MTU was still below 1280, say) is done, not a problem.
            problems = [item for item in problems if item[0] != key]
        if isinstance(result, list):
            problems.extend((key, line) for line in result)
    return restored, [line for dummy, line in problems]


def _reason(exc):
    text = str(exc)
    if not text or type(exc).__name__ not in ("NetlinkFailure",):
        text = "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__
    return text


def report(restored, problems, what="steps undone"):
    """The "Rolled back:" part of a failure's message: what was restored, or how much was and what was not."""
    if not problems:
        return "; ".join(summarize(restored))
    return "%d of %d %s; NOT restored: %s" % (
        len(restored),
        len(restored) + len(problems),
        what,
        "; ".join(summarize(problems)),
    )


def summarize(lines, limit=SUMMARY_LINES):
    """At most ``limit`` lines, the rest counted."""
    if len(lines) <= limit:
        return list(lines)
    return list(lines[: limit - 1]) + ["... and %d more" % (len(lines) - limit + 1)]


def describe(step):
    """One line per step, the journal's own steps included."""
    op = step["op"]
    where = " in %s" % _plan.ns_label(step.get("link_ns", step.get("ns")))
    if op == "undo_create":
        return "delete %s %s (created by this run)%s" % (step.get("kind") or "link", step["name"], where)
    if op == "restore_link":
        spec = step["spec"]
        l3 = step.get("l3") or {}
        return "re-create %s %s on %s (mode %s, %d addresses, %d routes)%s" % (
            spec["type"],
            spec["name"],
            spec["parent"],
            spec["mode"],
            len(l3.get("addresses", ())),
            len(l3.get("routes", ())),
            where,
        )
    if op == "restore_l3":
        return "restore the addresses and routes of %s%s" % (step["name"], " in %s" % _plan.ns_label(step.get("ns")))
    if op == "cannot":
        return "%s: cannot be restored (%s)" % (step["name"], step["why"])
    return _plan.describe(step)
