# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.rollout_files: the rollout's snapshot of the persisted files, from its slurp and stat
loops (playbooks/tasks/rollout_files_read.yml)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_files
short_description: The persisted files the rollout read, as one snapshot
version_added: 0.2.0
description:
  - Turns the results of the rollout's C(ansible.builtin.slurp) loop (regular files) and C(ansible.builtin.stat)
    loop (symbolic links) into one dict, path to C({content, mode, link}), that
    P(hostnet.macvlan.rollout_files_diff#filter) compares and the rollout's restore writes back.
  - Each loop result names its loop item through C(ansible_loop_var); the item is a file of
    C(ansible.builtin.find) (C(path), C(mode)).
  - Used by the hostnet.macvlan.rollout playbook.
positional: _input, linked
options:
  _input:
    description: The C(results) of the slurp loop, one per regular file.
    type: list
    elements: dict
    required: true
  linked:
    description: The C(results) of the stat loop (C(follow=false)), one per symbolic link.
    type: list
    elements: dict
    default: []
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: Keep the persisted files
  ansible.builtin.set_fact:
    files_before: "{{ slurped.results | hostnet.macvlan.rollout_files(linked.results) }}"
"""

RETURN = r"""
_value:
  description:
    - Path to C({content, mode, link}) - C(content) base64 (null for a link), C(mode) as find gave it (null for a
      link), C(link) the link's target (null for a regular file).
  type: dict
"""

from ansible.errors import AnsibleFilterError


def _item(result):
    """The loop item of one loop result (the task may name its loop variable)."""
    if not isinstance(result, dict):
        raise AnsibleFilterError("rollout_files: a loop result must be a dict, not %r" % (result,))
    item = result.get(result.get("ansible_loop_var") or "item")
    if not isinstance(item, dict) or not item.get("path"):
        raise AnsibleFilterError("rollout_files: loop result without a file item (path): %r" % (item,))
    return item


def rollout_files(slurped, linked=None):
    files = {}
    for result in slurped or []:
        item = _item(result)
        files[item["path"]] = {"content": result.get("content"), "mode": item.get("mode"), "link": None}
    for result in linked or []:
        item = _item(result)
        files[item["path"]] = {"content": None, "mode": None, "link": (result.get("stat") or {}).get("lnk_target")}
    return files


class FilterModule:
    def filters(self):
        return {"rollout_files": rollout_files}
