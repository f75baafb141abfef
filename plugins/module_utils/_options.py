# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Argument specs of the modules, in one place: the link and state modules, and the persistence module
that takes the same ``links`` and ``parents``. Validation beyond Ansible's types lives in ``_model``."""

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model

# Interface names are ``raw``: Ansible's ``str`` would turn a list such as [eth0] into the name "['eth0']",
# which the kernel accepts. ``_model.validate_ifname`` takes strings (and plain integers) only.
IFNAME = {"type": "raw"}

NETNS_OPTIONS = {"netns": {"type": "str"}}

# Every module that changes the kernel or files holds the namespace lock (``_lock``) this long at most.
LOCK_OPTIONS = {"lock_timeout": {"type": "int", "default": 60}}

LINK_OPTIONS = {
    "name": dict(IFNAME, required=True),
    "parent": dict(IFNAME),
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
    "allmulticast": {"type": "bool"},
    "multicast": {"type": "bool"},
    "ipv6_disabled": {"type": "bool"},
    "ipv6_accept_ra": {"type": "bool"},
    "ipv6_autoconf": {"type": "bool"},
    "ipv6_addr_gen_mode": {"type": "str", "choices": list(_model.ADDR_GEN_MODES)},
    "addresses": {"type": "list", "elements": "str"},
    # A route is a destination string or a dict {dest, gateway, metric}: _model.normalize_route checks both forms
    # (and names the bad value), so the roles pass their variables through as they are.
    "routes": {"type": "list", "elements": "raw"},
    "netns": {"type": "str"},
    "link_netns": {"type": "str"},
    "recreate": {"type": "str", "default": "auto", "choices": list(_model.RECREATE)},
    "lock_timeout": LOCK_OPTIONS["lock_timeout"],
}

PROMISC_OPTIONS = {
    "name": {"type": "str", "required": True},
    "promisc": {"type": "bool", "default": True},
    "netns": {"type": "str"},
    "lock_timeout": LOCK_OPTIONS["lock_timeout"],
}

STATE_LINK_OPTIONS = {key: value for key, value in LINK_OPTIONS.items() if key not in ("netns", "lock_timeout")}

PARENT_OPTIONS = {
    "name": dict(IFNAME, required=True),
    "promisc": {"type": "bool", "default": True},
    "mtu": {"type": "int"},
    "link_state": {"type": "str", "choices": ["up", "down"]},
}

# The links of macvlan_state and macvlan_persist: their suboptions (documented in the modules) are checked by
# ``_model.normalize_link(..., known=LINK_KEYS)`` alone, not by Ansible's argument spec first. Ansible's validation
# of a thousand links' suboptions cost as much as the rest of an unchanged run, for checks _model makes anyway.
LINK_KEYS = frozenset(STATE_LINK_OPTIONS)
LINKS_OPTION = {"type": "list", "elements": "dict", "default": []}
PARENTS_OPTION = {"type": "list", "elements": "dict", "default": [], "options": PARENT_OPTIONS}
PURGE_OPTIONS = {
    "purge": {"type": "bool", "default": False},
    "purge_exclude": {"type": "list", "elements": "raw", "default": []},
}

INFO_OPTIONS = {
    "names": {"type": "list", "elements": "str"},
    "parents": {"type": "list", "elements": "str"},
    "details": {"type": "str", "default": "full", "choices": ["full", "brief"]},
    "state_links": {"type": "bool", "default": False},
    # macvlan_state's arguments of a change to come: the result's ``snapshot`` gives back what it can change
    "snapshot": {"type": "dict", "options": dict(PURGE_OPTIONS, links=LINKS_OPTION, parents=PARENTS_OPTION)},
    "netns": {"type": "str"},
}

STATE_OPTIONS = {
    "links": LINKS_OPTION,
    "parents": PARENTS_OPTION,
    "purge": PURGE_OPTIONS["purge"],
    "purge_exclude": PURGE_OPTIONS["purge_exclude"],
    "rollback": {"type": "bool", "default": True},
    "return_links": {"type": "str", "default": "changed", "choices": ["changed", "all", "none"]},
    "confirm_timeout": {"type": "int", "default": 0},
    "protect": {
        "type": "dict",
        "options": {
            "interfaces": {"type": "list", "elements": "raw", "default": []},
            "addresses": {"type": "list", "elements": "str", "default": []},
            "default_route": {"type": "bool", "default": False},
        },
    },
    "netns": {"type": "str"},
    "lock_timeout": LOCK_OPTIONS["lock_timeout"],
}

CONFIRM_OPTIONS = {
    "id": {"type": "str"},
    "netns": {"type": "str"},
    "revert": {"type": "bool", "default": False},
}
