# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Planning: (observed state, desired state) -> ordered list of small action records.

Pure code. It reads snapshots (plain data with ``links``/``by_index``/``addresses``/``routes``), never
a socket. It decides what the kernel can change in place and what is immutable (parent, type, passthru,
namespace placement), refuses what the kernel would refuse before anything is touched, and predicts the
state after the plan so check mode and diff can show it.
"""

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model

MACVLAN_KINDS = ("macvlan", "macvtap")
ARPHRD_ETHER = 1  # include/uapi/linux/if_arp.h
IFF_LOOPBACK = 0x8

# Attributes of a link the user sees (return value ``link``, diff, facts).
VIEW_KEYS = (
    "name",
    "type",
    "parent",
    "mode",
    "mac_address",
    "mtu",
    "link_state",
    "source_macs",
    "nopromisc",
    "nodst",
    "bcqueuelen",
    "bclim",
    "allmulticast",
    "multicast",
    "ipv6_disabled",
    "ipv6_accept_ra",
    "ipv6_autoconf",
    "ipv6_addr_gen_mode",
    "addresses",
    "routes",
)

# The attributes a user may leave unset (the kernel's value then stands): verified only when asked for.
OPTIONAL_KEYS = tuple(key for key in VIEW_KEYS if key not in ("name", "type", "parent", "mode", "link_state", "routes"))

# The namespace of a purge_exclude name in ``plan_purge``'s keep set: every namespace (None is the host's).
ANY_NS = object()

# In-place attributes in the order they are applied.
IN_PLACE = (
    "mode",
    "flags",
    "source_macs",
    "mac_address",
    "mtu",
    "bcqueuelen",
    "bclim",
    "allmulticast",
    "multicast",
    "ipv6_addr_gen_mode",
    "ipv6_accept_ra",
    "ipv6_autoconf",
    "ipv6_disabled",
    "link_state",
)
# Interface flags (IFF_ALLMULTI, IFF_MULTICAST) of a new macvlan: ether_setup() sets IFF_MULTICAST.
FLAG_DEFAULTS = {"allmulticast": False, "multicast": True}
# The IPv6 settings in the order they are applied: the address generation mode and router advertisements before
# IPv6 is switched on, so a link that comes up with IPv6 never has, even for a moment, an address it must not have.
IPV6_ORDER = ("ipv6_addr_gen_mode", "ipv6_accept_ra", "ipv6_autoconf", "ipv6_disabled")


class PlanError(ValueError):
    """The desired state cannot be reached from the observed one without breaking a rule. Nothing changed."""


def ns_label(ns):
    return "the host namespace" if ns is None else "netns %s" % ns


def resolve_parent(link, where, work):
    """(namespace, name) of a link's parent, as far as the two snapshots can tell."""
    if link.get("parent_netnsid") is None:
        parent = where.by_index.get(link.get("parent_ifindex"))
        return (where.ns, parent["name"] if parent else None)
    if work is not where and link["parent_netnsid"] == where.peer_nsid:
        parent = work.by_index.get(link.get("parent_ifindex"))
        return (work.ns, parent["name"] if parent else None)
    return ("<another netns>", None)


def link_view(link, where, work, with_l3=True):
    """The user-level view of an observed macvlan/macvtap link."""
    if link is None:
        return None
    view = {
        "name": link["name"],
        "type": link["kind"],
        "parent": resolve_parent(link, where, work)[1],
        "mode": link.get("mode"),
        "mac_address": link["mac_address"],
        "mtu": link["mtu"],
        "link_state": link["link_state"],
        "source_macs": list(link.get("source_macs") or []),
        "nopromisc": link.get("nopromisc"),
        "nodst": link.get("nodst"),
        "bcqueuelen": link.get("bcqueuelen"),
        "bclim": link.get("bclim"),
        "allmulticast": link.get("allmulticast"),
        "multicast": link.get("multicast"),
        "ipv6_disabled": link.get("ipv6_disabled"),
        "ipv6_accept_ra": link.get("ipv6_accept_ra"),
        "ipv6_autoconf": link.get("ipv6_autoconf"),
        "ipv6_addr_gen_mode": link.get("ipv6_addr_gen_mode"),
    }
    if with_l3:
        view["addresses"] = where.link_addresses(link["name"])
        view["routes"] = where.link_routes(link["name"])
    return view


def _flags_of(nopromisc, nodst):
    return (_model.FLAG_NOPROMISC if nopromisc else 0) | (_model.FLAG_NODST if nodst else 0)


def _creation_spec(spec):
    """What a new link gets: the desired values, kernel defaults for what the user left unset."""
    created = dict(spec)
    created["source_macs"] = spec["source_macs"] or []
    created["nopromisc"] = bool(spec.get("nopromisc"))
    created["nodst"] = bool(spec.get("nodst"))
    return created


def _predict_created(spec, parent):
    view = {key: spec.get(key) for key in VIEW_KEYS}
    view["source_macs"] = list(spec["source_macs"] or [])
    view["nopromisc"] = bool(spec.get("nopromisc"))
    view["nodst"] = bool(spec.get("nodst"))
    for key, default in FLAG_DEFAULTS.items():
        view[key] = default if spec.get(key) is None else spec[key]
    if view["mtu"] is None:
        view["mtu"] = parent.get("mtu")
    view["addresses"] = list(spec["addresses"] or [])
    view["routes"] = list(spec["routes"] or [])
    return view


def _check_parent(spec, work, where, existing, departing=frozenset(), parent_mtus=None):
    """Refuse what the kernel would refuse, before anything is touched. ``departing``: (namespace, name) of
    links this plan deletes; they do not count. ``parent_mtus``: {name: MTU} of the parents (in ``work``) whose MTU
    the same plan sets (``parents[].mtu``): a link is checked against the parent's MTU after the plan, which is
    raised before links are created or changed and lowered after. Returns (parent, room): ``parent`` as it will be
    (its planned MTU); room lists the departing links that would otherwise have been refused here, which must
    therefore be deleted first (``mark_early_deletes``)."""
    parent_name = spec["parent"]
    parent = work.links.get(parent_name)
    if parent is None:
        raise PlanError(
            "parent: %r does not exist in %s; create the parent interface first" % (parent_name, ns_label(work.ns))
        )
    if parent.get("arphrd") not in (None, ARPHRD_ETHER) or (parent.get("ifi_flags") or 0) & IFF_LOOPBACK:
        kind = "a loopback" if (parent.get("ifi_flags") or 0) & IFF_LOOPBACK else "not an Ethernet"
        raise PlanError(
            "parent: %r is %s interface (link type %s); a macvlan or macvtap needs an Ethernet parent (a NIC, veth, "
            "bond, bridge, VLAN, ...)" % (parent_name, kind, parent.get("arphrd"))
        )
    if parent["kind"] in MACVLAN_KINDS:
        raise PlanError(
            "parent: %r is itself a %s; stack the link on that link's own parent instead"
            % (parent_name, parent["kind"])
        )
    asked = (parent_mtus or {}).get(parent_name)
    if asked is not None:
        parent = dict(parent, mtu=asked)
    if spec["mtu"] is not None and parent["mtu"] is not None and spec["mtu"] > parent["mtu"]:
        raise PlanError(
            "mtu: %d is larger than the MTU of parent %r (%d%s); a macvlan cannot exceed its parent"
            % (spec["mtu"], parent_name, parent["mtu"], ", as parents asks for it" if asked is not None else "")
        )
    # The parent's other links: indexed once per snapshot, so checking N links costs O(N), not O(N^2).
    # The links moved into other namespaces count too: the kernel keeps one set per parent.
    groups = [(work.ns, work.sibling_index(parent["ifindex"]))]
    for other in [where] + [peer for peer in work.peers if peer is not where]:
        if other is not work:
            groups.append((other.ns, other.sibling_index(parent["ifindex"], foreign=True)))

    room = []

    def others(ns, links):
        """The links the kernel would weigh against this one; departing ones are noted in ``room`` instead."""
        kept = []
        for link in links:
            if link is existing:
                continue
            if (ns, link["name"]) in departing:
                room.append((ns, link["name"]))
                continue
            kept.append(link)
        return kept

    if spec["mode"] == "passthru":
        siblings = [link for ns, group in groups for link in others(ns, group["links"])]
        if siblings:
            raise PlanError(
                "mode: passthru needs parent %r to itself, but it already has %s; the kernel allows no other link "
                "on a passthru parent" % (parent_name, ", ".join(sorted(s["name"] for s in siblings)))
            )
    else:
        passthru = [link["name"] for ns, group in groups for link in others(ns, group["passthru"])]
        if passthru:
            raise PlanError(
                "parent: %r already has the passthru link %s; the kernel allows no other link on a passthru parent"
                % (parent_name, passthru[0])
            )
    mac = spec.get("mac_address")
    if mac and spec["mode"] != "passthru":
        # A passthru link with an address of its own gives it to the parent too; once it goes (re-created here,
        # or deleted by the same plan, first) the parent has its earlier address again, which the kernel alone
        # knows: the parent's present one is then no conflict.
        leaving = [
            link
            for ns, group in groups
            for link in group["passthru"]
            if (link is existing or (ns, link["name"]) in departing) and link["mac_address"] == parent["mac_address"]
        ]
        if parent["mac_address"] == mac and not leaving:
            raise PlanError(
                "mac_address: %s is the MAC address of parent %r; a macvlan needs its own address" % (mac, parent_name)
            )
        for ns, group in groups:
            for sibling in others(ns, group["by_mac"].get(mac, ())):
                raise PlanError(
                    "mac_address: %s is already used by %r on parent %r; the kernel refuses duplicate MAC "
                    "addresses among the links of one parent (EADDRINUSE)" % (mac, sibling["name"], parent_name)
                )
    return parent, room


def refuse_stacked(link, snapshot, option):
    """Deleting a link deletes what is stacked on it (a VLAN on a macvlan): refuse, naming them."""
    uppers = snapshot.uppers(link["ifindex"])
    if uppers:
        raise PlanError(
            "%s: deleting %r would also delete %s, stacked on it, which this task does not name; remove %s first"
            % (
                option,
                link["name"],
                ", ".join("%s (%s)" % (u["name"], u["kind"] or "interface") for u in uppers),
                "them" if len(uppers) > 1 else "it",
            )
        )


def _refuse_other_kind(link, spec, ns):
    if link is not None and link["kind"] not in MACVLAN_KINDS:
        raise PlanError(
            "name: %r already exists in %s as a %s interface, not a macvlan or macvtap; the collection never "
            "repurposes or deletes an interface of another kind" % (spec["name"], ns_label(ns), link["kind"] or "plain")
        )


def plan_link(spec, work, where, departing=frozenset(), claimed=frozenset(), parent_mtus=None):
    """Plan one link. ``work`` is the snapshot of ``netns`` (parent lookup, creation), ``where`` that of the
    namespace the link lives in (``link_netns``, or the same snapshot). ``departing``: (namespace, name) of the
    links the same plan deletes (they make room on their parent). ``claimed``: (namespace, name) of the links the
    same plan wants present, which a link wanted in another namespace must not take over. ``parent_mtus``: the
    MTUs the same plan gives parents in ``work`` ({name: MTU}, ``_check_parent``).

    Returns (actions, before, after): ``before``/``after`` are user-level views (None when absent).
    """
    name = spec["name"]
    ns_work = spec.get("netns")
    ns_link = spec.get("link_netns") or ns_work
    existing = where.links.get(name)
    before = link_view(existing, where, work) if existing and existing["kind"] in MACVLAN_KINDS else None

    if spec["state"] == "absent":
        if existing is None:
            return [], None, None
        _refuse_other_kind(existing, spec, ns_link)
        refuse_stacked(existing, where, "name")
        action = {"op": "delete", "ns": ns_link, "name": name, "kind": existing["kind"]}
        return [action], before, None

    _refuse_other_kind(existing, spec, ns_link)
    stray = None
    if existing is None and where is not work and (ns_work, name) not in claimed:
        # A macvlan of that name where links are created, wanted in link_netns: moved there (or re-created).
        # Anything else of that name there is not this link: a name is taken only where the link lives.
        candidate = work.links.get(name)
        if candidate is not None and candidate["kind"] in MACVLAN_KINDS:
            stray = candidate
            before = link_view(stray, work, work)
    parent, room = _check_parent(spec, work, where, existing or stray, departing, parent_mtus)
    base = {"ns": ns_link, "link_ns": ns_link, "name": name, "kind": spec["type"]}
    create = {"op": "create", "ns": ns_work, "link_ns": ns_link, "name": name, "spec": _creation_spec(spec)}
    if room:
        create["room"] = room  # the departing links this creation needs gone (a re-creation copies it)

    actions = []
    current = None
    if existing is None and stray is None:
        _refuse_ipv6_below_minimum(spec, parent)
        actions += _created_then_set(create, spec, base)
        spec = kernel_served(spec, [], ())
        after = _predict_created(spec, parent)
        return actions + _l3_actions(spec, base, [], []), None, after

    if stray is not None:
        # The link exists where it is created but is wanted in link_netns: a move keeps it, when nothing
        # immutable differs. Moving drops its addresses and routes and takes it down.
        reasons = _immutable_reasons(spec, stray, (work.ns, resolve_parent(stray, work, work)[1]))
        _refuse_ipv6_below_minimum(spec, parent, None if reasons else stray)
        if reasons:
            refuse_stacked(stray, work, "recreate")
            return _recreate(kernel_served(spec, [], ()), create, base, reasons, parent, before, old_ns=ns_work)
        actions.append({"op": "move_netns", "ns": ns_work, "link_ns": ns_link, "name": name, "kind": stray["kind"]})
        current = dict(stray, link_state="down")
        current_addresses, current_routes = [], []
        spec = kernel_served(spec, [], ())
    else:
        reasons = _immutable_reasons(spec, existing, resolve_parent(existing, where, work), ns_work)
        _refuse_ipv6_below_minimum(spec, parent, None if reasons else existing)
        if reasons:
            refuse_stacked(existing, where, "recreate")
            return _recreate(kernel_served(spec, [], ()), create, base, reasons, parent, before, old_ns=ns_link)
        current = existing
        current_addresses = where.link_addresses(name)
        current_routes = where.link_routes(name)
        spec = kernel_served(spec, current_addresses, where.kernel_routes(name))

    after = dict(before)
    after["link_state"] = current["link_state"]
    actions += _in_place_actions(spec, current, base, after, moved=stray is not None)
    for action in actions:
        if action["op"] == "set_mac_address" and room:
            action["room"] = room
    actions += _l3_actions(spec, base, current_addresses, current_routes)
    if spec["addresses"] is not None:
        kept = [
            cidr
            for cidr in current_addresses
            if cidr not in _model.managed_addresses(current_addresses, spec["addresses"])
        ]
        after["addresses"] = _model.sort_addresses(set(kept) | set(spec["addresses"]))
    elif stray is not None:
        after["addresses"] = []
    if spec["routes"] is not None:
        after["routes"] = list(spec["routes"])
    elif stray is not None:
        after["routes"] = []
    return actions, before, after


def kernel_served(spec, current_addresses, kernel_routes):
    """``spec`` with the routes the kernel itself provides taken out of ``routes``, and listed in the spec's
    ``kernel_routes`` (the read-back does not expect them among the managed routes).

    Adding an address makes the kernel add a route to its subnet (metric 0 for IPv4, 256 for IPv6). A route the
    user lists that is exactly that route (``routes: [{dest: 192.168.244.0/24}]`` next to the address
    192.168.244.1/24, as NetworkManager users write it) is already there: adding it again would be refused (EEXIST).
    ``kernel_routes``: the kernel's routes the link has now (an address with noprefixroute has none); addresses
    still to be added count as providing theirs. Returns ``spec`` itself when nothing is served.
    """
    if not spec.get("routes"):
        return spec
    after = spec["addresses"] if spec["addresses"] is not None else current_addresses
    present = set(current_addresses)
    provided = set()
    for cidr in after:
        key = _model.prefix_route_key(cidr)
        if key is not None and (key in kernel_routes or cidr not in present):
            provided.add(key)
    served = [route for route in spec["routes"] if _model.route_key(route) in provided]
    if not served:
        return spec
    spec["kernel_routes"] = served  # recorded on the caller's spec: the read-back reads it there
    return dict(spec, routes=[route for route in spec["routes"] if _model.route_key(route) not in provided])


def _immutable_reasons(spec, link, parent, ns_work=None):
    reasons = []
    want_parent = (spec.get("netns") if ns_work is None else ns_work, spec["parent"])
    if parent != want_parent:
        have = parent[1] if parent[0] == want_parent[0] else "%s in %s" % (parent[1], ns_label(parent[0]))
        reasons.append("parent %s -> %s" % (have, spec["parent"]))
    if link["kind"] != spec["type"]:
        reasons.append("type %s -> %s" % (link["kind"], spec["type"]))
    if (link.get("mode") == "passthru") != (spec["mode"] == "passthru"):
        reasons.append("mode %s -> %s (into or out of passthru)" % (link.get("mode"), spec["mode"]))
    return reasons


def _refuse_ipv6_below_minimum(spec, parent, kept=None):
    """Refuse IPv6 options or addresses on a link whose MTU stays below 1280 when ``spec`` sets none (``_model``
    refuses an explicit one): ``kept``, the observed link it changes in place (its own MTU), or None for a link
    created or re-created (its parent's, as the plan leaves it). The kernel keeps no IPv6 state on such a link,
    and the run would fail part-way (EAFNOSUPPORT, EINVAL)."""
    mtu, whose = (parent.get("mtu"), "its parent's") if kept is None else (kept["mtu"], "its own")
    if spec.get("mtu") is not None or mtu is None or mtu >= _model.IPV6_MIN_MTU:
        return
    asked = [(key, spec[key]) for key in ipv6_wanted(spec)]
    asked += [("addresses", cidr) for cidr in spec.get("addresses") or () if ":" in cidr]
    if asked:
        raise PlanError(
            "%s: %s would have MTU %d (%s), below 1280, where the kernel keeps no IPv6 state on a link, so %r cannot "
            "be set; give it an mtu of 1280 or more (and its parent), or leave it out"
            % (asked[0][0], spec["name"], mtu, whose, asked[0][1])
        )


def _recreate(spec, create, base, reasons, parent, before, old_ns):
    if spec["recreate"] == "never":
        raise PlanError(
            "%s: %s cannot change in place (%s) and recreate is never; set recreate: auto to delete and "
            "re-create the link" % (reasons[0].split(" ")[0], spec["name"], "; ".join(reasons))
        )
    action = dict(create, op="recreate", old_ns=old_ns, reasons=reasons, old_kind=before["type"] if before else None)
    after = _predict_created(spec, parent)
    actions = _created_then_set(action, spec, base)
    for follow in actions[1:]:  # the new link's settings and bringing it up: after the re-creation, not before
        follow["phase"] = PHASES["recreate"]
    return actions + _l3_actions(spec, base, [], []), before, after


def ipv6_wanted(spec):
    """The IPv6 options ``spec`` sets, in the order they are applied."""
    return [key for key in IPV6_ORDER if spec.get(key) is not None]


def passthru_mac_later(spec):
    """Whether a new link's MAC address is set after its creation: the kernel gives a new passthru link its
    parent's address and ignores one in the creation request (set afterwards, it sets the parent's too)."""
    return spec.get("mode") == "passthru" and spec.get("mac_address") is not None


def _created_then_set(create, spec, base):
    """A new link with IPv6 options: created down, its IPv6 settings set, then brought up (a link that must never
    have a link-local or SLAAC address does not get one for a moment). A new passthru link with a MAC address:
    created, then its address set. The settings of a new link are journaled with no undo of their own: deleting
    the link undoes them (the kernel gives the parent its own address back when its passthru link goes)."""
    wanted = ipv6_wanted(spec)
    mac_later = passthru_mac_later(spec)
    bclim = spec.get("bclim")
    if not wanted and not mac_later and bclim is None:
        return [create]
    actions = []
    up = spec["link_state"] == "up" and bool(wanted)
    created = dict(create["spec"])
    if up:
        created["link_state"] = "down"
    if mac_later:
        created["mac_address"] = None
    if bclim is not None:
        created["bclim"] = None
    actions.append(dict(create, spec=created))
    if mac_later:
        actions.append(dict(base, op="set_mac_address", before=None, after=spec["mac_address"], new=True))
    if bclim is not None:
        # The kernel keeps one broadcast cutoff per parent, shared by its links (in every namespace, seen or not),
        # and deleting the new link leaves it. Set after the creation, the step reads the value it replaces, and
        # its undo (before the link is deleted) puts that back.
        actions.append(dict(base, op="set_bclim", before=None, after=bclim, shared=True))
    for key in wanted:
        actions.append(dict(base, op="set_" + key, before=None, after=spec[key], new=True))
    if up:
        actions.append(dict(base, op="set_link_state", before="down", after="up", new=True))
    return actions


def _in_place_actions(spec, current, base, after, moved=False):
    """``moved``: the link is moved into another namespace first, where the kernel gives it a new IPv6 state (that
    namespace's defaults): every IPv6 option asked is set there, with no undo of its own (moving back resets it)."""
    actions = []

    def change(op, before_value, after_value, **extra):
        action = dict(base, op=op, before=before_value, after=after_value)
        action.update(extra)
        actions.append(action)

    if current.get("mode") != spec["mode"]:
        change("set_mode", current.get("mode"), spec["mode"])
        after["mode"] = spec["mode"]
    cur_flags = current.get("flags") or 0
    want_flags = cur_flags
    for key, bit in (("nopromisc", _model.FLAG_NOPROMISC), ("nodst", _model.FLAG_NODST)):
        if spec.get(key) is not None:
            want_flags = (want_flags | bit) if spec[key] else (want_flags & ~bit)
            after[key] = spec[key]
    if want_flags != cur_flags:
        change("set_flags", cur_flags, want_flags)
    cur_macs = list(current.get("source_macs") or [])
    if spec["mode"] != "source" and cur_macs and current.get("mode") == "source":
        after["source_macs"] = []  # the kernel flushes the list when a link leaves source mode
    if spec["source_macs"] is not None and spec["source_macs"] != cur_macs:
        change(
            "set_source_macs",
            cur_macs,
            spec["source_macs"],
            add=sorted(set(spec["source_macs"]) - set(cur_macs)),
            remove=sorted(set(cur_macs) - set(spec["source_macs"])),
        )
        after["source_macs"] = list(spec["source_macs"])
    for key, op in (("mac_address", "set_mac_address"), ("mtu", "set_mtu"), ("bcqueuelen", "set_bcqueuelen")):
        if spec.get(key) is not None and spec[key] != current.get(key):
            change(op, current.get(key), spec[key])
            after[key] = spec[key]
    if spec.get("bclim") is not None and spec["bclim"] != current.get("bclim"):
        change("set_bclim", current.get("bclim"), spec["bclim"])
        after["bclim"] = spec["bclim"]
    for key in FLAG_DEFAULTS:
        if spec.get(key) is not None and spec[key] != current.get(key):
            change("set_" + key, current.get(key), spec[key])
            after[key] = spec[key]
    for key in ipv6_wanted(spec):
        if moved:
            change("set_" + key, None, spec[key], new=True)
            after[key] = spec[key]
            continue
        if current.get(key) is None:
            raise PlanError(
                "%s: %s has no IPv6 state (the kernel runs without IPv6: ipv6.disable=1, or no IPv6 support); "
                "leave the IPv6 options out" % (key, spec["name"])
            )
        if spec[key] != current[key]:  # accept_ra 2 (observed) is neither true (1) nor false
            change("set_" + key, current[key], spec[key])
            after[key] = spec[key]
    if spec.get("ipv6_disabled") is None and current.get("ipv6_disabled"):
        wanted = [a for a in spec.get("addresses") or [] if ":" in a]
        wanted += [r["dest"] for r in spec.get("routes") or [] if ":" in r["dest"]]
        if wanted:
            raise PlanError(
                "ipv6_disabled: %s has IPv6 disabled (disable_ipv6 is 1), and addresses or routes ask for %s; set "
                "ipv6_disabled: false to enable IPv6 on it" % (spec["name"], wanted[0])
            )
    if spec.get("ipv6_disabled") and not current.get("ipv6_disabled") and "addresses" in after:
        # The kernel drops a link's IPv6 addresses (and their routes) when IPv6 is disabled on it.
        after["addresses"] = [a for a in after["addresses"] or [] if ":" not in a or _model.is_kernel_link_local(a)]
        after["routes"] = [r for r in after.get("routes") or [] if ":" not in r["dest"]]
    if spec["link_state"] != current["link_state"]:
        change("set_link_state", current["link_state"], spec["link_state"])
        after["link_state"] = spec["link_state"]
    return actions


def _l3_actions(spec, base, current_addresses, current_routes):
    """Addresses and routes, in an order the kernel cannot spoil.

    Route removals first, then address removals. Removing an address makes the kernel drop more than that
    address: routes via a gateway in its subnet, every IPv4 route of the link with its last IPv4 address, and
    (with the default promote_secondaries=0) the secondary addresses of a removed primary. So once any address
    is removed, every wanted address and route is (re)added afterwards ("ensure": already present is fine),
    instead of only the missing ones.
    """
    del_routes, add_routes, del_addrs, add_addrs = [], [], [], []
    removing = False
    if spec["addresses"] is not None:
        want = set(spec["addresses"])
        have = set(_model.managed_addresses(current_addresses, spec["addresses"]))
        removing = bool(have - want)
        del_addrs = [dict(base, op="del_address", address=c) for c in _model.sort_addresses(have - want)]
        add_addrs = [dict(base, op="add_address", address=c) for c in _model.sort_addresses(want - have)]
        if removing:
            add_addrs += [dict(base, op="ensure_address", address=c) for c in _model.sort_addresses(want & have)]
    if spec["routes"] is not None:
        want = {_model.route_key(r): r for r in spec["routes"]}
        have = {_model.route_key(r): r for r in current_routes}
        del_routes = [dict(base, op="del_route", route=have[k]) for k in sorted(set(have) - set(want), key=str)]
        add_routes = [dict(base, op="add_route", route=want[k]) for k in sorted(set(want) - set(have), key=str)]
        if removing:
            add_routes += [dict(base, op="ensure_route", route=want[k]) for k in sorted(set(want) & set(have), key=str)]
    return del_routes + del_addrs + add_addrs + add_routes


def plan_promisc(name, promisc, snapshot):
    """Plan the IFF_PROMISC flag of one interface."""
    link = snapshot.links.get(name)
    if link is None:
        raise PlanError("name: %r does not exist in %s" % (name, ns_label(snapshot.ns)))
    if link["promisc"] == promisc:
        return []
    return [{"op": "set_promisc", "ns": snapshot.ns, "name": name, "before": link["promisc"], "after": promisc}]


# Where a parent's changes go among the phases of ``order_actions``: raised MTU, up: before the links are
# created or changed (they may need it); lowered MTU, down: after every link change and deletion (the kernel would
# lower the MTU of a child above it, and a child restored by a rollback needs the parent's old MTU back first).
PARENT_EARLY_PHASE = 0
PARENT_LATE_PHASE = 6.5


def _children_after(name, snapshots, netns, entries, departing):
    """[(MTU, who, name)] of the links on parent ``name`` (of ``netns``) after the plan: the planned links (their
    predicted MTU: the one asked for, or the one they keep) and the other macvlan/macvtap links on it, which the
    run does not manage (their MTU as observed). Links the plan deletes do not count."""
    work = snapshots[netns]
    found = []
    planned = set()
    for entry in entries:
        spec = entry["spec"]
        planned.add((spec.get("link_netns") or spec.get("netns"), spec["name"]))
        planned.add((spec.get("netns"), spec["name"]))  # a link still to be moved into link_netns
        after = entry.get("after")
        if spec.get("state") != "present" or after is None or spec.get("netns") != work.ns:
            continue
        if spec.get("parent") == name and after.get("mtu") is not None:
            who = entry.get("label", "").rstrip(": ") or spec["name"]
            found.append((after["mtu"], who, spec["name"]))
    ifindex = work.links[name]["ifindex"]
    for snapshot in snapshots.values():
        foreign = snapshot is not work
        for link in snapshot.children(ifindex, foreign=foreign):
            key = (snapshot.ns, link["name"])
            if key in planned or key in departing or link["mtu"] is None:
                continue
            where = " in %s" % ns_label(snapshot.ns) if foreign else ""
            found.append(
                (link["mtu"], "%s %s%s (not managed by this task)" % (link["kind"], link["name"], where), link["name"])
            )
    return found


def plan_parent(parent, snapshots, netns, entries=(), departing=frozenset()):
    """Plan one ``parents`` entry (``_model.normalize_parent``) of namespace ``netns``: its promiscuous flag, its MTU
    and its administrative state (mtu, link_state None: left as they are). ``entries``: the link plans of the same
    run (their predicted MTUs count against a lowered parent MTU); ``departing``: (namespace, name) of the links it
    deletes. Refuses an MTU outside the device's range (IFLA_MIN_MTU..IFLA_MAX_MTU) or below a child's MTU.
    Returns (actions, before): ``before`` is {promisc, mtu, link_state} as observed."""
    work = snapshots[netns]
    name = parent["name"]
    actions = plan_promisc(name, parent["promisc"], work)
    link = work.links[name]
    before = {"promisc": link["promisc"], "mtu": link["mtu"], "link_state": link["link_state"]}
    base = {"ns": work.ns, "name": name, "kind": link["kind"], "role": "parent"}
    mtu = parent.get("mtu")
    if mtu is not None and mtu != link["mtu"]:
        low, high = link.get("min_mtu"), link.get("max_mtu")
        if (low is not None and mtu < low) or (high and mtu > high):
            raise PlanError(
                "mtu: %d is out of the range of %r: the kernel reports %s..%s for it (IFLA_MIN_MTU..IFLA_MAX_MTU)"
                % (mtu, name, low, high or "no limit")
            )
        lowering = link["mtu"] is not None and mtu < link["mtu"]
        if lowering:
            above = [c for c in _children_after(name, snapshots, netns, entries, departing) if c[0] > mtu]
            if above:
                top = max(above, key=lambda c: (c[0], c[2]))
                raise PlanError(
                    "mtu: %d is below the MTU of %s (%d) on parent %r; the kernel would lower the child's MTU with its "
                    "parent. Lower the child's mtu first (or in the same run), or keep the parent's MTU at %d or more"
                    % (mtu, top[1], top[0], name, top[0])
                )
        phase = PARENT_LATE_PHASE if lowering else PARENT_EARLY_PHASE
        actions.append(dict(base, op="set_mtu", before=link["mtu"], after=mtu, phase=phase))
    state = parent.get("link_state")
    if state is not None and state != link["link_state"]:
        phase = PARENT_LATE_PHASE if state == "down" else PARENT_EARLY_PHASE
        actions.append(dict(base, op="set_link_state", before=link["link_state"], after=state, phase=phase))
    return actions, before


def spec_from_view(view, netns=None, link_netns=None):
    """The desired state that restores an observed link exactly (used by rollback)."""
    spec = {key: view.get(key) for key in VIEW_KEYS}
    spec.update(
        {
            "state": "present",
            "type": view["type"],
            "netns": netns,
            "link_netns": link_netns,
            "recreate": "auto",
            "source_macs": list(view["source_macs"]) if view["mode"] == "source" else None,
            "nopromisc": view["nopromisc"] if view["mode"] == "passthru" else None,
            "nodst": view["nodst"] if view["mode"] == "source" else None,
            "addresses": [a for a in view.get("addresses") or [] if not _model.is_kernel_link_local(a)],
            "routes": list(view.get("routes") or []),
        }
    )
    return spec


def as_state_link(view):
    """An observed link as a ``links`` entry of the macvlan_state module (what restores it exactly)."""
    spec = spec_from_view(view)
    entry = {key: spec[key] for key in VIEW_KEYS if spec.get(key) is not None}
    # Values the options cannot express (accept_ra 2, an address generation mode newer than this collection).
    if not isinstance(entry.get("ipv6_accept_ra", False), bool):
        del entry["ipv6_accept_ra"]
    if entry.get("ipv6_addr_gen_mode", "eui64") not in _model.ADDR_GEN_MODES:
        del entry["ipv6_addr_gen_mode"]
    entry["state"] = "present"
    return entry


def restore_args(specs, parents, snapshots, netns, purge=False, purge_exclude=()):
    """The macvlan_state arguments ``{links, parents, left_out}`` that later give back everything a macvlan_state
    call with ``specs`` and ``parents`` (normalized; ``parent: default`` resolved) can change, taken from the
    observed ``snapshots`` (namespace -> snapshot: ``netns`` and each ``link_netns``). Pure.

    - ``links``: every link the call names, as it is now, where it is now (the namespace of its parent, or its
      ``link_netns``; both when the call would move it), every attribute (``as_state_link``); a named link that
      does not exist where the call puts it, ``state: absent`` there (the call may create it); the other links
      on the parent of a link the call gives ``bclim`` (the kernel keeps one cutoff per parent); with ``purge``,
      every other macvlan/macvtap link on the managed parents in every namespace observed, except the excluded
      names (the call may delete them).
    - ``parents``: each of ``parents`` with its promiscuous flag, MTU and state as they are now.
    - ``left_out``: named links that cannot be given back (their parent is in a namespace the call does not see).

    Given to macvlan_state without purge they delete what the call created, put back what it changed, moved or
    deleted, and touch nothing else."""
    work = snapshots[netns]
    entries = {}
    left_out = []

    def keep(ns, link):
        if (ns, link["name"]) in entries or link["kind"] not in MACVLAN_KINDS:
            return
        view = link_view(link, snapshots[ns], work)
        if view["parent"] is None:
            left_out.append(link["name"] if ns == netns else "%s (in %s)" % (link["name"], ns))
            return
        entry = as_state_link(view)
        if ns != netns:
            entry["link_netns"] = ns
        entries[(ns, link["name"])] = entry

    for spec in specs:
        name = spec["name"]
        target = spec.get("link_netns") or netns
        link = snapshots[target].links.get(name)
        if link is not None:
            keep(target, link)
        elif (target, name) not in entries:
            absent = {"name": name, "state": "absent"}
            if target != netns:
                absent["link_netns"] = target
            entries[(target, name)] = absent
        if target != netns and name in work.links:
            keep(netns, work.links[name])  # the call would move it into link_netns
    # The kernel keeps one broadcast cutoff per parent: a link given bclim changes its siblings' too.
    shared = {s["parent"] for s in specs if s["state"] == "present" and s.get("bclim") is not None}
    for ns, link in children_on(snapshots, netns, shared):
        keep(ns, link)
    if purge:
        for ns, link in children_on(snapshots, netns, managed_parents(specs, parents)):
            if link["name"] not in purge_exclude:
                keep(ns, link)
    restore_parents = []
    for parent in parents:
        link = work.links.get(parent["name"])
        if link is not None:
            restore_parents.append(
                {"name": link["name"], "promisc": link["promisc"], "mtu": link["mtu"], "link_state": link["link_state"]}
            )
    ordered = sorted(entries.items(), key=lambda item: (item[0][0] != netns, item[0][0] or "", item[0][1]))
    return {"links": [item[1] for item in ordered], "parents": restore_parents, "left_out": sorted(left_out)}


def verify_link(spec, view):
    """Compare the link read back from the kernel with what was asked; return the differing attributes."""
    problems = []
    if spec["state"] == "absent":
        if view is not None:
            problems.append("the link still exists")
        return problems
    if view is None:
        return ["the link does not exist after it was created"]
    checks = [
        ("type", spec["type"]),
        ("parent", spec["parent"]),
        ("mode", spec["mode"]),
        ("link_state", spec["link_state"]),
    ]
    for key in OPTIONAL_KEYS:
        if spec.get(key) is not None:
            checks.append((key, spec[key]))
    if spec.get("routes") is not None:
        served = [_model.route_key(route) for route in spec.get("kernel_routes") or ()]
        checks.append(("routes", [route for route in spec["routes"] if _model.route_key(route) not in served]))
    for key, want in checks:
        have = view.get(key)
        if key == "addresses":
            have = _model.managed_addresses(have or [], want)
        if have != want:
            problems.append("%s is %r, expected %r" % (key, have, want))
    return problems


def describe(action):
    """One human-readable line per action (the ``actions`` return value)."""
    op = action["op"]
    name = action.get("name")
    # Every line names the namespace it acts in: same-named links may live in several.
    where = " in %s" % ns_label(action.get("link_ns", action.get("ns")))
    if op in ("create", "recreate"):
        spec = action["spec"]
        details = ["mode %s" % spec["mode"]]
        for key in ("mac_address", "mtu", "bcqueuelen", "bclim"):
            if spec.get(key) is not None:
                details.append("%s %s" % (key.replace("_", " "), spec[key]))
        if spec.get("source_macs"):
            details.append("source macs %s" % ", ".join(spec["source_macs"]))
        for flag in ("nopromisc", "nodst", "allmulticast"):
            if spec.get(flag):
                details.append(flag)
        if spec.get("multicast") is False:
            details.append("no multicast")
        details.append(spec["link_state"])
        text = "create %s %s on %s (%s)%s" % (spec["type"], name, spec["parent"], ", ".join(details), where)
        if op == "recreate":
            text = "recreate %s %s: %s cannot change in place; %s" % (
                spec["type"],
                name,
                "; ".join(action["reasons"]),
                text,
            )
        return text
    if op == "move_netns":
        return "move %s from %s to %s" % (name, ns_label(action["ns"]), ns_label(action["link_ns"]))
    where = " in %s" % ns_label(action.get("ns"))
    if op == "delete":
        return "delete %s %s%s" % (action.get("kind") or "link", name, where)
    if op == "set_source_macs":
        before, after = set(action.get("before") or ()), set(action.get("after") or ())
        return "set source macs of %s: add %s, remove %s%s" % (
            name,
            ", ".join(action.get("add", sorted(after - before))) or "none",
            ", ".join(action.get("remove", sorted(before - after))) or "none",
            where,
        )
    if op == "set_flags":
        return "set flags of %s: %s -> %s%s" % (name, flag_names(action["before"]), flag_names(action["after"]), where)
    if op == "set_mac_address" and action.get("new"):
        return "set mac address of new passthru link %s (and with it of its parent): %s%s" % (
            name,
            action["after"],
            where,
        )
    if op == "set_bclim" and action.get("shared"):
        return "set bclim of new link %s: %s (the broadcast cutoff all links on its parent share)%s" % (
            name,
            action["after"],
            where,
        )
    if op.startswith("set_") and action.get("new"):
        return "set %s of %s: %s (before it comes up)%s" % (
            op[4:].replace("_", " "),
            name,
            action["after"],
            where,
        )
    if op.startswith("set_"):
        return "set %s of %s: %s -> %s%s" % (op[4:].replace("_", " "), name, action["before"], action["after"], where)
    if op in ("add_address", "del_address", "ensure_address"):
        verb = op.split("_")[0].replace("del", "remove")
        preposition = {"add": "to", "remove": "from"}.get(verb, "on")
        return "%s address %s %s %s%s" % (verb, action["address"], preposition, name, where)
    if op in ("add_route", "del_route", "ensure_route"):
        route = action["route"]
        via = " via %s" % route["gateway"] if route["gateway"] else ""
        verb = op.split("_")[0].replace("del", "remove")
        return "%s route %s%s metric %d %s %s%s" % (
            verb,
            route["dest"],
            via,
            route["metric"],
            "from" if verb == "remove" else "on",
            name,
            where,
        )
    return "%s %s%s" % (op, name, where)


def flag_names(flags):
    names = [n for n, bit in (("nopromisc", _model.FLAG_NOPROMISC), ("nodst", _model.FLAG_NODST)) if flags & bit]
    return ",".join(names) or "none"


# Phases of a multi-link apply: parents' promiscuity first; creations; moves; in-place changes of links;
# recreations; then addresses and routes of every link (one index lookup serves them all): every removal before
# any addition, so a route or address may move from one link to another in one run; deletions last.
PHASES = {
    "set_promisc": 0,
    "create": 1,
    "move_netns": 2,
    "recreate": 4,
    "del_route": 5,
    "del_address": 5.1,
    "add_address": 5.2,
    "ensure_address": 5.2,
    "add_route": 5.3,
    "ensure_route": 5.3,
    "delete": 6,
}
SET_PHASE = 3


EARLY_DELETE_PHASE = 0.5  # after the parents' promiscuity, before anything that needs the room


def _phase(action):
    if action.get("early"):
        return EARLY_DELETE_PHASE
    if "phase" in action:
        return action["phase"]  # a parent's MTU and state (plan_parent), a re-created link's settings (_recreate)
    return PHASES.get(action["op"], SET_PHASE)


def order_actions(actions):
    """Stable-sort actions into apply phases; within a phase, links keep their own order."""
    return sorted(actions, key=_phase)


def share_bclim_steps(entries):
    """Keep one ``shared`` bclim step per parent: the cutoff is the parent's, so the first new link's step sets it
    for all of them (and its undo sets it back); the others would read and set the same value again (one
    RTM_GETLINK and one RTM_NEWLINK each). Their links are created without bclim, which leaves the cutoff as it
    is. Changes ``entries`` in place."""
    seen = set()
    for entry in sorted(entries, key=lambda e: min((_phase(a) for a in e["actions"]), default=0)):
        spec = entry["spec"]
        steps = [a for a in entry["actions"] if a["op"] == "set_bclim" and a.get("shared")]
        if not steps:
            continue
        key = (spec.get("netns"), spec["parent"])
        if key in seen:
            entry["actions"] = [a for a in entry["actions"] if a not in steps]
        seen.add(key)


def mark_early_deletes(entries):
    """Deletions go last, except those that make room: the links ``_check_parent`` let a creation, re-creation
    or new MAC address pass over only because the same plan deletes them (the kernel would refuse it while
    they exist). Their deletions are marked ``early`` (``order_actions`` puts them before the creations).
    Changes ``entries`` in place; returns the names marked."""
    needed = {key for entry in entries for action in entry["actions"] for key in action.get("room", ())}
    marked = []
    for entry in entries:
        for action in entry["actions"]:
            if action["op"] == "delete" and (action["ns"], action["name"]) in needed:
                action["early"] = True
                marked.append(action["name"])
    return marked


def default_route_interface(snapshot, option):
    """The name of the interface the IPv4 default route of ``snapshot``'s main table leaves through (the one with
    the lowest metric), as CNI picks ``master`` when it is omitted. PlanError when there is none, or when two
    interfaces share the lowest metric."""
    found = []
    for table in (snapshot.routes or {}, snapshot.unmanaged_routes):
        for index, routes in table.items():
            for route in routes:
                if route["dest"] == "0.0.0.0/0":
                    found.append((route["metric"], index))
    where = "the host namespace" if snapshot.ns is None else "netns %s" % snapshot.ns
    if not found:
        raise PlanError(
            "%s: 'default' names the interface of the IPv4 default route, and %s has no IPv4 default route; name "
            "the parent" % (option, where)
        )
    lowest = min(metric for metric, dummy in found)
    indexes = sorted({index for metric, index in found if metric == lowest})
    names = [snapshot.by_index[i]["name"] if i in snapshot.by_index else "ifindex %d" % i for i in indexes]
    if len(names) > 1:
        raise PlanError(
            "%s: 'default' is ambiguous in %s: IPv4 default routes with metric %d leave through %s; name the parent"
            % (option, where, lowest, " and ".join(names))
        )
    return names[0]


def resolve_links(specs, snapshots, machine_id=None, labels=None):
    """Resolve ``parent: default`` and ``mac_address: stable`` in place (``snapshots``: {ns: Snapshot} of the
    namespaces the parents live in; ``machine_id``: ``_model.normalize_machine_id``'s value, needed only for stable
    MACs; ``labels``: the option prefix of each spec, "links[3]." by default). Returns {option: resolved value}
    for the result ("links[0].parent": "eth0")."""
    resolved = {}
    for index, spec in enumerate(specs):
        label = labels[index] if labels is not None else "links[%d]." % index
        if spec.pop("parent_default", False):
            spec["parent"] = default_route_interface(snapshots[spec.get("netns")], label + "parent")
            if spec["parent"] == spec["name"] and spec.get("link_netns") is None:
                raise PlanError(
                    "%sparent: 'default' resolves to %r, the link's own name (they can share a name only when "
                    "link_netns is set)" % (label, spec["parent"])
                )
            resolved[label + "parent"] = spec["parent"]
        if spec.pop("mac_stable", False):
            if machine_id is None:
                raise PlanError("%smac_address: 'stable' needs the machine id, which was not read" % label)
            where = spec.get("link_netns") or spec.get("netns")
            spec["mac_address"] = _model.stable_mac(machine_id, _model.namespace_key(where), spec["name"])
            resolved[label + "mac_address"] = spec["mac_address"]
    return resolved


def needs_resolving(specs):
    """(parent default?, stable MAC?) over ``specs``."""
    return (
        any(spec.get("parent_default") for spec in specs),
        any(spec.get("mac_stable") for spec in specs),
    )


def check_link_set(specs, prefix="links"):
    """Cross-link rules of a desired state: unique names, one passthru per parent, unique MACs per parent,
    one bclim per parent (it is a property of the parent's port)."""
    seen = {}
    per_parent = {}
    for index, spec in enumerate(specs):
        label = "%s[%d]" % (prefix, index)
        where = spec.get("link_netns") or spec.get("netns")
        key = (where, spec["name"])
        if key in seen:
            raise PlanError(
                "%s.name: %r is listed twice (also %s); each link must appear once" % (label, spec["name"], seen[key])
            )
        seen[key] = label
        if spec["state"] == "present" and spec.get("parent") is not None:  # None: 'default', not resolved yet
            per_parent.setdefault(spec["parent"], []).append((label, spec))
    for parent, members in per_parent.items():
        passthru = [label for label, spec in members if spec["mode"] == "passthru"]
        if passthru and len(members) > 1:
            raise PlanError(
                "%s.mode: passthru needs parent %r to itself, but %s also use it"
                % (passthru[0], parent, ", ".join(label for label, dummy in members if label != passthru[0]))
            )
        macs = {}
        for label, spec in members:
            mac = spec.get("mac_address")
            if mac and mac in macs:
                raise PlanError(
                    "%s.mac_address: %s is also given to %s on parent %r; MAC addresses must be unique per parent"
                    % (label, mac, macs[mac], parent)
                )
            if mac:
                macs[mac] = label
        bclims = {spec["bclim"] for label, spec in members if spec.get("bclim") is not None}
        if len(bclims) > 1:
            raise PlanError(
                "bclim: links on parent %r ask for different values %s; bclim belongs to the parent and is shared by "
                "all its links" % (parent, sorted(bclims))
            )


def managed_parents(specs, parents):
    """The parents a macvlan_state call manages (purge's scope): those in ``parents`` and those of its present
    links."""
    return {p["name"] for p in parents} | {s["parent"] for s in specs if s["state"] == "present"}


def children_on(snapshots, netns, parent_names):
    """(namespace, link) of every macvlan/macvtap link on the parents ``parent_names`` (of namespace ``netns``),
    in every observed namespace (a link moved elsewhere counts by its parent), parent by parent, by name."""
    work = snapshots[netns]
    indexes = sorted(work.links[name]["ifindex"] for name in parent_names if name in work.links)
    for ns, snapshot in snapshots.items():
        for index in indexes:
            for link in sorted(snapshot.children(index, foreign=ns != netns), key=lambda item: item["name"]):
                yield ns, link


def plan_purge(snapshots, netns, managed_parents, keep):
    """Delete actions (with before views) for macvlan/macvtap links on managed parents that are not kept.

    ``snapshots`` maps namespace -> snapshot; ``netns`` is the namespace of the parents; ``keep`` is a set of
    (namespace, name) the desired state lists (None: the host namespace) plus the names the user excluded
    (namespace ``ANY_NS``: in every namespace)."""
    work = snapshots[netns]
    entries = []
    for ns, link in children_on(snapshots, netns, managed_parents):
        if (ns, link["name"]) in keep or (ANY_NS, link["name"]) in keep:
            continue
        snapshot = snapshots[ns]
        refuse_stacked(link, snapshot, "purge")
        action = {"op": "delete", "ns": ns, "name": link["name"], "kind": link["kind"], "purge": True}
        spec = {
            "name": link["name"],
            "state": "absent",
            "netns": netns,
            "link_netns": ns if ns != netns else None,
        }
        entries.append(
            {
                "spec": spec,
                "actions": [action],
                "before": link_view(link, snapshot, work),
                "after": None,
                "purged": True,
            }
        )
    return entries


def check_route_collisions(entries, snapshots):
    """Refuse, before anything is touched, a route the kernel would refuse: the main table keeps one route per
    destination and metric, so a route to add whose destination and metric another route already holds (another
    link's, another gateway's, or the kernel's route for an address's subnet) fails with EEXIST. Routes that
    leave in the same plan (removed, or on a link that is deleted, re-created or moved away) do not count.

    Raises PlanError naming the link (``label`` of its entry) and the holder."""
    leaving_links = set()
    leaving_routes = set()
    for entry in entries:
        for action in entry["actions"]:
            op = action["op"]
            if op in ("delete", "move_netns"):
                leaving_links.add((action["ns"], action["name"]))
            elif op == "recreate":
                leaving_links.add((action["old_ns"], action["name"]))
            elif op == "del_route":
                route = action["route"]
                leaving_routes.add((action["ns"], action["name"], route["dest"], route["metric"], route["gateway"]))
    wanted = {}
    for entry in entries:
        for action in entry["actions"]:
            if action["op"] != "add_route":
                continue
            ns, route = action["ns"], action["route"]
            key = (ns, route["dest"], route["metric"])
            other = wanted.setdefault(key, (entry, action))
            if other[1] is not action:
                raise PlanError(
                    "%sroutes: %s metric %d is also asked for on %s in %s; the kernel keeps one route per destination "
                    "and metric: give one of them another metric"
                    % (entry.get("label", ""), route["dest"], route["metric"], other[1]["name"], ns_label(ns))
                )
            snapshot = snapshots.get(ns)
            if snapshot is None:
                continue
            for holder, held in snapshot.route_holders(route["dest"], route["metric"]):
                if (ns, holder) in leaving_links:
                    continue
                if (ns, holder, held["dest"], held["metric"], held["gateway"]) in leaving_routes:
                    continue
                if holder == action["name"] and held["gateway"] == route["gateway"]:
                    continue  # the same route: planned as an addition only because it is the kernel's own
                if held.get("proto") == _KERNEL_PROTO:
                    what = "the kernel's route for an address of %s in that subnet" % holder
                else:
                    what = "a route through %s%s" % (holder, " via %s" % held["gateway"] if held["gateway"] else "")
                raise PlanError(
                    "%sroutes: %s metric %d cannot be added through %s: the main table of %s already has %s, and "
                    "the kernel keeps one route per destination and metric. Give the route another metric, or "
                    "remove the other one first"
                    % (entry.get("label", ""), route["dest"], route["metric"], action["name"], ns_label(ns), what)
                )


_KERNEL_PROTO = 2


DEFAULT_DESTS = ("0.0.0.0/0", "::/0")


def protected_interfaces(snapshot, interfaces=(), addresses=None, default_route=False):
    """{name: why} of the interfaces of ``snapshot`` a run must not touch: those named, those holding one of
    ``addresses`` ({ifindex: [address, ...]}, every address of the namespace), and with ``default_route`` those
    the main table's default routes leave through (static, DHCP or router advertisement)."""
    found = {}
    for name in interfaces:
        if name in snapshot.links:
            found.setdefault(name, "is listed in protect.interfaces")
    for index, held in (addresses or {}).items():
        link = snapshot.by_index.get(index)
        if link is not None and held:
            found.setdefault(link["name"], "holds %s" % ", ".join(held))
    if default_route:
        for table in (snapshot.routes or {}, snapshot.unmanaged_routes):
            for index, routes in table.items():
                link = snapshot.by_index.get(index)
                if link is not None and any(route["dest"] in DEFAULT_DESTS for route in routes):
                    found.setdefault(link["name"], "carries a default route")
    return found


def check_protected(entries, parent_entries, protected, ns):
    """Refuse a plan that touches a protected interface of namespace ``ns``: an action on it, or a link created
    on it (a new child of the management NIC, a passthru link that takes it over)."""
    for entry in list(parent_entries) + list(entries):
        for action in entry["actions"]:
            touched = []
            if action.get("ns") == ns:
                touched.append(action.get("name"))
            if action["op"] in ("create", "recreate") and action["ns"] == ns:
                touched.append(action["spec"]["parent"])
            for name in touched:
                if name in protected:
                    raise PlanError(
                        "protect: %s %s, and this task would %s. Nothing was changed; leave that interface out, "
                        "or change it with a confirmed change (confirm_timeout) that reverts by itself if the "
                        "connection is lost" % (name, protected[name], describe(action))
                    )
