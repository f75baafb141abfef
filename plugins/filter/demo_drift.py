# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.demo_drift: what a check-mode run changed after all (playbooks/demo.yml, stage 2)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: demo_drift
short_description: The links a check-mode run changed after all
version_added: 0.2.0
description:
  - Compares the links C(hostnet.macvlan.macvlan_info) reads after a check-mode run with the links an earlier
    run read back, attribute by attribute (C(mode), C(mtu), C(mac_address), C(type) by default).
  - Used by the hostnet.macvlan.demo playbook to prove that its check-mode stage changed nothing.
positional: _input, applied
options:
  _input:
    description: The registered C(results) of a C(hostnet.macvlan.macvlan_info) loop (each with C(links), name to link).
    type: list
    elements: dict
    required: true
  applied:
    description: The links read back before, as a list of links (each with C(name)) or a dict by name.
    type: raw
    required: true
  attributes:
    description: The attributes compared.
    type: list
    elements: str
    default: [mode, mtu, mac_address, type]
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: Assert that check mode changed nothing
  ansible.builtin.assert:
    that:
      - (seen.results | hostnet.macvlan.demo_drift(stage1.links)).drift | length == 0
"""

RETURN = r"""
_value:
  description: What was read and what differs.
  type: dict
  contains:
    links:
      description: The names of every link read, sorted.
      type: list
      elements: str
    drift:
      description: C(name attribute) for each attribute of a link read before that differs now, in name order.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

ATTRIBUTES = ("mode", "mtu", "mac_address", "type")


def demo_drift(results, applied, attributes=ATTRIBUTES):
    if isinstance(applied, list):
        applied = {link["name"]: link for link in applied}
    if not isinstance(applied, dict) or not isinstance(results, list):
        raise AnsibleFilterError("demo_drift: give the macvlan_info loop results and the links read before")
    seen = {}
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("links"), dict):
            raise AnsibleFilterError("demo_drift: a macvlan_info result without links: %r" % (result,))
        seen.update(result["links"])
    drift = [
        "%s %s" % (name, attribute)
        for name in sorted(seen)
        if name in applied
        for attribute in attributes
        if seen[name].get(attribute) != applied[name].get(attribute)
    ]
    return {"links": sorted(seen), "drift": drift}


class FilterModule:
    def filters(self):
        return {"demo_drift": demo_drift}
