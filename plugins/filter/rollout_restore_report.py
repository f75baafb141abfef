# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.rollout_restore_report: a failed host's outcome and the lines saying what was restored
(playbooks/tasks/rollout_restore.yml), from the registered results of the restore steps."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_restore_report
short_description: The outcome of a failed rollout host and what its restore put back
version_added: 0.2.0
description:
  - Reads the registered results of the rollout's restore steps (a reconnect that waited for a self-revert,
    C(hostnet.macvlan.macvlan_confirm) with C(revert=true), C(hostnet.macvlan.macvlan_state) putting the snapshot
    back and the same call in check mode, the file restore loops) and tells the host's outcome and the restored
    lines the rollout prints.
  - Outcomes - V(reverted) (the host reverted the pending change by itself), V(unreachable) (it lost its
    connection and did not come back), V(rollback_incomplete) (a restore step failed, or the kernel still differs
    from the snapshot, or a self-revert is missing after a reconnect), V(failed) (no restore was due, for example
    before the apply, in check mode or with rollout_rollback false), V(rolled_back).
  - With O(_input.restore=true) and a pending change, the host is V(rolled_back) when the revert now succeeded and
    the check afterwards plans nothing; without a pending change, when the kernel restore did not fail, the check
    (when it ran) neither failed nor planned anything, and no file restore failed.
  - A step that did not run is left out, or given as its skipped result.
  - Used by the hostnet.macvlan.rollout playbook.
positional: _input
options:
  _input:
    description: The restore's facts and registered results.
    type: dict
    required: true
    suboptions:
      phase:
        description: The phase that failed (V(preflight), V(snapshot), V(apply), V(reconnect), V(verify)).
        type: str
        required: true
      restore:
        description: Whether the rollout restores this host (the change may have been made, rollback on, not check mode).
        type: bool
        default: false
      pending:
        description: Whether a confirm-armed change was pending (not confirmed) when the host failed.
        type: bool
        default: false
      revert_info:
        description: The result of C(hostnet.macvlan.macvlan_info) read after the deadline (C(last_revert)).
        type: dict
      revert_status:
        description: What P(hostnet.macvlan.rollout_revert_status#filter) made of O(_input.revert_info).
        type: dict
      came_back:
        description: The result of C(ansible.builtin.wait_for_connection) after a lost connection.
        type: dict
      reverted_now:
        description: The result of C(hostnet.macvlan.macvlan_confirm) with C(revert=true).
        type: dict
      restore_kernel:
        description: The result of C(hostnet.macvlan.macvlan_state) putting the snapshot back.
        type: dict
      restore_check:
        description: The result of the same C(hostnet.macvlan.macvlan_state) call in check mode.
        type: dict
      files:
        description:
          - The results of the file restore loops (remove, write back, re-link), in that order; each loop item
            is a path or a dict with C(path).
        type: list
        elements: dict
        default: []
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: Report what was restored
  ansible.builtin.set_fact:
    outcome: "{{ report.outcome }}"
    restored: "{{ report.restored }}"
  vars:
    report: "{{ steps | hostnet.macvlan.rollout_restore_report }}"
    steps:
      phase: verify
      restore: true
      pending: false
      restore_kernel: "{{ restore_kernel }}"
      restore_check: "{{ restore_check }}"
      files: "{{ [files_removed, files_written, files_linked] }}"
"""

RETURN = r"""
_value:
  description: The host's outcome and what was restored.
  type: dict
  contains:
    outcome:
      description: V(reverted), V(unreachable), V(rollback_incomplete), V(failed) or V(rolled_back).
      type: str
    restored:
      description:
        - What the host reverted by itself, what the revert now restored, the kernel restore's actions, any
          failure or remaining difference, the files removed and restored, and any file that could not be.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

PHASES = ("preflight", "snapshot", "apply", "reconnect", "verify")


def _result(steps, key):
    """A registered result; a step that did not run counts as skipped."""
    value = steps.get(key)
    if value is None or value == "":  # not run (older ansible-core templates a missing result as '')
        return {"skipped": True}
    if not isinstance(value, dict):
        raise AnsibleFilterError(
            "rollout_restore_report: %s must be a registered result (a dict), not %r" % (key, value)
        )
    return value


def _failed(result):
    return bool(result.get("failed", False))


def _loop_items(result):
    """The (item, result) pairs of a registered loop result."""
    pairs = []
    for entry in result.get("results") or []:
        item = entry.get(entry.get("ansible_loop_var") or "item")
        pairs.append((item.get("path") if isinstance(item, dict) else item, entry))
    return pairs


def files_report(files):
    """(restored lines, failure lines) of the file restore loops: remove, write back, re-link."""
    restored, failures = [], []
    for index, result in enumerate(files or []):
        if not isinstance(result, dict):
            raise AnsibleFilterError("rollout_restore_report: files[%d] must be a registered loop result" % index)
        for path, entry in _loop_items(result):
            if entry.get("skipped"):
                continue
            if _failed(entry):
                failures.append("file restore failed: %s" % entry.get("msg", ""))
            else:
                restored.append(("removed %s" if index == 0 else "restored %s") % path)
    return restored, failures


def rollout_restore_report(steps):
    if not isinstance(steps, dict):
        raise AnsibleFilterError("rollout_restore_report: the input must be a dict of the restore's results")
    phase = steps.get("phase")
    if phase not in PHASES:
        raise AnsibleFilterError("rollout_restore_report: phase %r is not one of %s" % (phase, ", ".join(PHASES)))
    restore = boolean(steps.get("restore", False), strict=True)
    pending = boolean(steps.get("pending", False), strict=True)
    status = steps.get("revert_status") or {}
    self_reverted = boolean(status.get("self_reverted", False), strict=True)
    revert_info = _result(steps, "revert_info")
    came_back = _result(steps, "came_back")
    reverted_now = _result(steps, "reverted_now")
    restore_kernel = _result(steps, "restore_kernel")
    restore_check = _result(steps, "restore_check")
    files_restored, files_failed = files_report(steps.get("files"))

    check_clean = not _failed(restore_check) and not restore_check.get("changed", False)
    if self_reverted:
        outcome = "reverted"
    elif phase == "reconnect":
        lost = revert_info.get("unreachable", False) or _failed(came_back)
        outcome = "unreachable" if lost else "rollback_incomplete"
    elif not restore:
        outcome = "failed"
    elif pending:
        ok = not _failed(reverted_now) and not restore_check.get("changed", False)
        outcome = "rolled_back" if ok else "rollback_incomplete"
    else:
        ok = not _failed(restore_kernel) and (restore_check.get("skipped", False) or check_clean) and not files_failed
        outcome = "rolled_back" if ok else "rollback_incomplete"

    restored = []
    if self_reverted:
        restored += (revert_info.get("last_revert") or {}).get("restored") or []
    if not reverted_now.get("skipped", False):
        for change in reverted_now.get("reverted") or []:
            restored += change.get("restored") or []
    if not restore_kernel.get("skipped", False):
        restored += restore_kernel.get("actions") or []
    if _failed(restore_kernel):
        restored.append("kernel restore failed: %s" % restore_kernel.get("msg", ""))
    if not restore_check.get("skipped", False) and restore_check.get("changed", False):
        restored.append(
            "kernel differs from the snapshot after the restore: %s" % "; ".join(restore_check.get("actions") or [])
        )
    return {"outcome": outcome, "restored": restored + files_restored + files_failed}


class FilterModule:
    def filters(self):
        return {"rollout_restore_report": rollout_restore_report}
