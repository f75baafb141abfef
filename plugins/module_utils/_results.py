# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The shape of the modules' results (pure).

Results carry what changed and stay small enough for AWX, which drops any job event whose result is larger
than 700,000 bytes (MAX_EVENT_RES_DATA), ``invocation`` included:

- ``links`` of macvlan_state holds the links the run changed (``return_links``), with counts of all;
- a diff holds the links and parents that change, and of each only the attributes that change;
- ``invocation`` echoes the arguments as given (unset options left out) and summarizes long lists of links;
- ``fit`` is the last guard: a result still over the budget is shortened, step by step, and says so.
"""

import json

# AWX/Automation Controller drops event results over 700,000 bytes; leave room for what Ansible adds.
RESULT_BUDGET = 600000
# Lists of links longer than this are summarized in ``invocation``.
INVOCATION_LINKS = 16
# Attributes kept when links are shortened to fit the budget.
BRIEF_KEYS = ("name", "netns", "state", "type", "parent", "mode", "mac_address", "link_state", "operstate")


def full_view(view, link, spec):
    """The ``link`` return value: the user-level view plus what only the kernel knows."""
    if view is None:
        return {"name": spec["name"], "state": "absent", "netns": spec.get("link_netns") or spec.get("netns")}
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


def changed_parts(before, after):
    """(before, after) of a diff entry: a created or deleted link whole, a changed one by its changed keys."""
    if before is None or after is None or before.get("state") == "absent" or after.get("state") == "absent":
        return before, after
    keys = [key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    return (
        dict({"name": before.get("name")}, **{key: before.get(key) for key in keys}),
        dict({"name": after.get("name")}, **{key: after.get(key) for key in keys}),
    )


def link_key(spec):
    """A link's key in diffs: its name, plus the namespace it lives in when that is not the module's own
    (same-named links in two namespaces never collapse)."""
    ns = spec.get("link_netns") or spec.get("netns")
    return spec["name"] if ns is None else "%s (netns %s)" % (spec["name"], ns)


def _without_unset(value):
    if isinstance(value, dict):
        return {key: _without_unset(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_unset(item) for item in value]
    return value


def invocation(params, lists=("links",)):
    """The ``invocation`` of a result: the arguments as given (unset options and suboptions left out); a list of
    links longer than INVOCATION_LINKS is summarized (the task's own arguments hold it)."""
    args = {}
    for key, value in params.items():
        if value is None:
            continue
        if key in lists and isinstance(value, list) and len(value) > INVOCATION_LINKS:
            names = [item.get("name") for item in value if isinstance(item, dict)]
            args[key] = "%d entries, not echoed (first %s, last %s)" % (len(value), names[0], names[-1])
            continue
        args[key] = _without_unset(value)
    return {"module_args": args}


def size_of(result):
    return len(json.dumps(result, default=str, separators=(",", ":")))


def brief(entry):
    return {key: entry[key] for key in BRIEF_KEYS if key in entry}


def fit(result, budget=RESULT_BUDGET):
    """Shorten ``result`` in place until it fits ``budget`` bytes of JSON: links to their brief form, then the
    diff to the names of what changes, then the action lines to their first ones. Says what it did in
    ``truncated`` (a list; absent when nothing was shortened). Returns ``result``.

    The result is serialized once to measure it, then again only after a step that shortened it (a 1024-link
    result is about half a megabyte of JSON)."""
    size = size_of(result)
    if size <= budget:
        return result
    notes = []
    links = result.get("links")
    if isinstance(links, list) and links:
        result["links"] = [brief(entry) for entry in links]
        notes.append("links: brief form (%s)" % ", ".join(BRIEF_KEYS))
        size = size_of(result)
    elif isinstance(links, dict) and links:
        result["links"] = {name: brief(entry) for name, entry in links.items()}
        notes.append("links: brief form (%s)" % ", ".join(BRIEF_KEYS))
        size = size_of(result)
    for key in ("state_links", "rolled_back"):
        if size > budget and isinstance(result.get(key), list) and len(result[key]) > 100:
            notes.append("%s: first 100 of %d" % (key, len(result[key])))
            result[key] = result[key][:100]
            size = size_of(result)
    if size > budget and isinstance(result.get("diff"), list):
        # macvlan_persist: one entry per file; keep the headers (the paths), drop the contents
        result["diff"] = [
            {key: entry.get(key) for key in ("before_header", "after_header")}
            for entry in result["diff"]
            if isinstance(entry, dict)
        ]
        notes.append("diff: the paths of the files that change")
        size = size_of(result)
    if size > budget and isinstance(result.get("diff"), dict):
        diff = result["diff"]
        for side in ("before", "after"):
            part = diff.get(side)
            if isinstance(part, dict) and isinstance(part.get("links"), dict):
                part["links"] = sorted(part["links"])
        notes.append("diff: the names of the links that change")
        size = size_of(result)
    # Then the longest lists, halved until the result fits: the links (a list or a dict), the action lines, the
    # files (macvlan_persist) and their diff.
    for key in ("links", "actions", "files", "diff"):
        value = result.get(key)
        if size <= budget or not value or not isinstance(value, (list, dict)):
            continue
        items = list(value.items()) if isinstance(value, dict) else list(value)
        keep = len(items)
        while keep > 10 and size_of(dict(result, **{key: _part(value, items, keep)})) > budget:
            keep //= 2
        result[key] = _part(value, items, keep)
        if key == "actions":
            result[key].append("... and %d more steps" % (len(items) - keep))
        notes.append("%s: first %d of %d" % (key, keep, len(items)))
        size = size_of(result)
    result["truncated"] = notes + [
        "the result was shortened to stay under %d bytes (AWX drops larger job events); narrow the task "
        "(return_links, names, parents filters) to see everything" % budget
    ]
    return result


def _part(value, items, keep):
    return dict(items[:keep]) if isinstance(value, dict) else list(items[:keep])


def exit_json(module, **result):
    """``module.exit_json`` with a compact ``invocation``, the result fitted to AWX's event budget."""
    result["invocation"] = invocation(module.params)
    module.exit_json(**fit(result))


def fail_json(module, msg, **result):
    """``module.fail_json`` with a compact ``invocation``, the result fitted to AWX's event budget."""
    result["invocation"] = invocation(module.params)
    module.fail_json(msg=msg, **fit(result))


# The parent attribute each of a parent's actions changes.
_PARENT_KEYS = {"set_promisc": "promisc", "set_mtu": "mtu", "set_link_state": "link_state"}


def parent_fact(entry, snapshot=None):
    """A ``parents`` return value of macvlan_state: read back from ``snapshot`` (the namespace after the run, or
    as observed when nothing changed), else (check mode) predicted from what the entry asks for."""
    parent = entry["parent"]
    name = parent["name"]
    link = snapshot.links.get(name) if snapshot is not None else None
    if link is not None:
        return {
            "name": name,
            "promisc": link["promisc"],
            "promiscuity": link["promiscuity"],
            "mtu": link["mtu"],
            "link_state": link["link_state"],
        }
    before = entry["before"]
    return {
        "name": name,
        "promisc": parent["promisc"],
        "promiscuity": None,
        "mtu": parent["mtu"] if parent.get("mtu") is not None else before["mtu"],
        "link_state": parent["link_state"] if parent.get("link_state") is not None else before["link_state"],
    }


def parents_diff(parent_entries, facts):
    """(before, after) of the parents that change, each with only the attributes that change."""
    before, after = {}, {}
    for entry in parent_entries:
        keys = [_PARENT_KEYS[action["op"]] for action in entry["actions"] if action["op"] in _PARENT_KEYS]
        if not keys:
            continue
        name = entry["parent"]["name"]
        before[name] = {key: entry["before"][key] for key in keys}
        after[name] = {key: facts[name][key] for key in keys}
    return before, after
