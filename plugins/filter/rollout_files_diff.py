# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.rollout_files_diff: what the rollout's file restore removes and puts back
(playbooks/tasks/rollout_files_restore.yml)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_files_diff
short_description: What differs between two snapshots of the persisted files
version_added: 0.2.0
description:
  - Compares the snapshot taken before the change with the files as they are now (both from
    P(hostnet.macvlan.rollout_files#filter)) and tells what the restore does - remove the files written since,
    and put back (write or re-link) every file of the snapshot that is missing or differs now.
  - Used by the hostnet.macvlan.rollout playbook.
positional: _input, now
options:
  _input:
    description: The snapshot before the change.
    type: dict
    required: true
  now:
    description: The files as they are now.
    type: dict
    required: true
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: List what differs from the snapshot
  ansible.builtin.set_fact:
    files_diff: "{{ files_before | hostnet.macvlan.rollout_files_diff(files_now) }}"
"""

RETURN = r"""
_value:
  description: What the restore does.
  type: dict
  contains:
    remove:
      description: Paths written since the snapshot, sorted.
      type: list
      elements: str
    put_back:
      description:
        - Files of the snapshot that are missing or differ now, sorted by path, each C({path, content, mode, link})
          (C(link) null for a regular file, C(content) and C(mode) null for a symbolic link).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError


def rollout_files_diff(before, now):
    for name, value in (("_input", before), ("now", now)):
        if not isinstance(value, dict):
            raise AnsibleFilterError("rollout_files_diff: %s must be a dict of files, not %r" % (name, value))
    put_back = []
    for path in sorted(before):
        value = before[path]
        if now.get(path) != value:
            put_back.append(
                {"path": path, "content": value.get("content"), "mode": value.get("mode"), "link": value.get("link")}
            )
    return {"remove": sorted(path for path in now if path not in before), "put_back": put_back}


class FilterModule:
    def filters(self):
        return {"rollout_files_diff": rollout_files_diff}
