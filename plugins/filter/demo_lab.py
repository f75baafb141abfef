# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.demo_lab: the values the demo playbook derives from its lab description
(playbooks/demo.yml)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: demo_lab
short_description: What the demo playbook derives from its lab description
version_added: 0.2.0
description:
  - From the demo's links (the input of the macvlan_topology role) and the lab's addresses - the namespaces to
    read back, the nodes of the reachability matrix, the desired state of the check-mode stage ("what if") and the
    clean-up's links.
  - Used by the hostnet.macvlan.demo playbook.
positional: _input
options:
  _input:
    description: The demo's links, as the macvlan_topology role takes them (C(name), C(link_netns), C(addresses)).
    type: list
    elements: dict
    required: true
  host_ns:
    description: The host's namespace (holds the parents).
    type: str
    required: true
  switch_ns:
    description: The switch's namespace (holds the other machine on the first parent's LAN).
    type: str
    required: true
  host_address:
    description: The host's own address on the first parent (node V(host)).
    type: str
    required: true
  lan_address:
    description: The other machine's address on that LAN (node V(lan)).
    type: str
    required: true
  shim_name:
    description: The name of the host-access shim (a node, and a link the clean-up removes).
    type: str
    required: true
  shim_address:
    description: The shim's address with prefix length.
    type: str
    required: true
  what_if:
    description:
      - The check-mode stage's changes - C(change) (link name to the options that change), C(add) (links) and
        C(leave_out) (link names).
    type: dict
    default: {}
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: Derive the lab's values
  ansible.builtin.set_fact:
    lab: >-
      {{ demo_links | hostnet.macvlan.demo_lab(host_ns='lab-host', switch_ns='lab-switch', host_address='192.0.2.1',
         lan_address='192.0.2.200', shim_name='mv-host', shim_address='192.0.2.254/32', what_if=demo_what_if) }}
"""

RETURN = r"""
_value:
  description: The derived values.
  type: dict
  contains:
    namespaces:
      description: The host's namespace, then each link_netns of the links, each once, in order.
      type: list
      elements: str
    nodes:
      description:
        - Node name to C({netns, address}) - each link in its own namespace with an address (its first address), V(host),
          the shim and V(lan).
      type: dict
    what_if_links:
      description: The links of the check-mode stage - the changed ones with their changes, without those left out, plus the added.
      type: list
      elements: dict
    what_if_namespaces:
      description: The host's namespace, then the namespaces of the links the check-mode stage changes.
      type: list
      elements: str
    cleanup_links:
      description: Every link and the shim with C(state=absent) (a moved link with its C(link_netns)).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError


def _address(cidr):
    return str(cidr).split("/", 1)[0]


def _unique(values):
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def demo_lab(links, host_ns, switch_ns, host_address, lan_address, shim_name, shim_address, what_if=None):
    if not isinstance(links, list) or not all(isinstance(link, dict) and link.get("name") for link in links):
        raise AnsibleFilterError("demo_lab: the input must be a list of links, each a dict with a name")
    what_if = what_if or {}
    change = what_if.get("change") or {}
    leave_out = what_if.get("leave_out") or []
    unknown = sorted((set(change) | set(leave_out)) - {link["name"] for link in links})
    if unknown:
        raise AnsibleFilterError("demo_lab: what_if names links the lab does not have: %s" % ", ".join(unknown))

    nodes = {}
    for link in links:
        if link.get("link_netns") and link.get("addresses"):
            nodes[link["name"]] = {"netns": link["link_netns"], "address": _address(link["addresses"][0])}
    nodes["host"] = {"netns": host_ns, "address": host_address}
    nodes[shim_name] = {"netns": host_ns, "address": _address(shim_address)}
    nodes["lan"] = {"netns": switch_ns, "address": lan_address}

    what_if_links = [dict(link, **(change.get(link["name"]) or {})) for link in links if link["name"] not in leave_out]
    what_if_links += list(what_if.get("add") or [])

    cleanup_links = []
    for link in links + [{"name": shim_name}]:
        absent = {"name": link["name"], "state": "absent"}
        if link.get("link_netns"):
            absent["link_netns"] = link["link_netns"]
        cleanup_links.append(absent)

    moved = [link["link_netns"] for link in links if link.get("link_netns")]
    changed = [link["link_netns"] for link in links if link.get("link_netns") and link["name"] in change]
    return {
        "namespaces": _unique([host_ns] + moved),
        "nodes": nodes,
        "what_if_links": what_if_links,
        "what_if_namespaces": _unique([host_ns] + changed),
        "cleanup_links": cleanup_links,
    }


class FilterModule:
    def filters(self):
        return {"demo_lab": demo_lab}
