# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.rollout_revert_status: did a failed rollout host revert its pending change by itself,
and is the change still pending (playbooks/tasks/rollout_restore.yml)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_revert_status
short_description: Whether a rollout host reverted its pending change by itself, or still has it pending
version_added: 0.2.0
description:
  - Reads the result of C(hostnet.macvlan.macvlan_info) taken after a confirm-armed change failed (its
    C(last_revert) and C(pending_confirm)).
  - The host reverted the change by itself when its last revert was not asked for (its reason is not V(asked))
    and it is this change's - the same id when the controller knows the change's id (O(confirm)), otherwise a
    revert made after the apply started (a change cut off while it was applied has no id on the controller).
  - The change is still pending when the controller knows its id and the read failed or still lists that id.
  - Used by the hostnet.macvlan.rollout playbook.
positional: _input, confirm, apply_started
options:
  _input:
    description: The registered result of C(hostnet.macvlan.macvlan_info) (failed, unreachable or skipped allowed).
    type: dict
    required: true
  confirm:
    description: The C(confirm) result of C(hostnet.macvlan.macvlan_state) (C({id, deadline})), or null.
    type: dict
  apply_started:
    description: When the apply started, in seconds since the epoch.
    type: float
    default: 0
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: Tell whether the host reverted the change by itself
  ansible.builtin.set_fact:
    revert_status: "{{ revert_info | hostnet.macvlan.rollout_revert_status(confirm, apply_started) }}"
"""

RETURN = r"""
_value:
  description: The two answers.
  type: dict
  contains:
    self_reverted:
      description: The host reverted this change by itself (deadline or lost connection, not asked).
      type: bool
    still_pending:
      description: The change is still armed on the host (so the rollout reverts it now).
      type: bool
"""

from ansible.errors import AnsibleFilterError


def rollout_revert_status(info, confirm=None, apply_started=0):
    if info is None or info == "":
        info = {"skipped": True}
    if not isinstance(info, dict):
        raise AnsibleFilterError("rollout_revert_status: the input must be the registered macvlan_info result")
    if confirm == "":
        confirm = None
    if confirm is not None and not (isinstance(confirm, dict) and confirm.get("id")):
        raise AnsibleFilterError("rollout_revert_status: confirm must be {id, deadline} or null, not %r" % (confirm,))
    try:
        started = float(apply_started or 0)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError("rollout_revert_status: apply_started %r is not a number" % (apply_started,)) from err
    succeeded = not info.get("failed", False)
    last = (info.get("last_revert") or {}) if succeeded else {}
    if last.get("reason", "asked") == "asked":
        self_reverted = False
    elif confirm:
        self_reverted = last.get("id") == confirm["id"]
    else:
        self_reverted = float(last.get("reverted_at") or 0) >= started
    still_pending = confirm is not None and (
        not succeeded or confirm["id"] in [entry.get("id") for entry in info.get("pending_confirm") or []]
    )
    return {"self_reverted": self_reverted, "still_pending": still_pending}


class FilterModule:
    def filters(self):
        return {"rollout_revert_status": rollout_revert_status}
