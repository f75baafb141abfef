# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter hostnet.macvlan.rollout_summary: the lines the rollout prints after each batch
(playbooks/tasks/rollout_summary.yml)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_summary
short_description: The rollout's summary of every batch so far
version_added: 0.2.0
description:
  - Groups the play's hosts that have started (those with a C(__rollout_batch) fact) by batch and outcome
    (C(__rollout_outcome)) - changed, unchanged, rolled back (V(rolled_back) or V(rollback_incomplete)),
    reverted by itself (V(reverted)), failed (V(failed) or V(unreachable)) - and says how many hosts have not
    started yet.
  - Used by the hostnet.macvlan.rollout playbook.
positional: _input, hostvars
options:
  _input:
    description: Every host of the play (C(ansible_play_hosts_all)), in play order.
    type: list
    elements: str
    required: true
  hostvars:
    description: C(hostvars), where each host's C(__rollout_batch) and C(__rollout_outcome) are read.
    type: dict
    required: true
  batch:
    description: The number of the batch that just finished.
    type: int
    required: true
  batch_size:
    description: How many hosts that batch had.
    type: int
    required: true
  max_fail_percentage:
    description: The play's max_fail_percentage, as printed.
    type: raw
    default: 0
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

EXAMPLES = r"""
- name: Show the batch and the rollout so far
  ansible.builtin.debug:
    msg: >-
      {{ ansible_play_hosts_all | hostnet.macvlan.rollout_summary(hostvars, batch=__rollout_batch,
         batch_size=__rollout_batch_hosts | length, max_fail_percentage=rollout_max_fail_percentage | default(0)) }}
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - A heading line, one line per batch so far (C(batch N - changed 1 ['h1'], unchanged 0 [], rolled back 0 [],
      reverted by itself 0 [], failed 0 [])), and V(Rollout complete) or V(Not started yet - N hosts).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

# The columns of a batch line: title, outcomes.
COLUMNS = (
    ("changed", ("changed",)),
    ("unchanged", ("unchanged",)),
    ("rolled back", ("rolled_back", "rollback_incomplete")),
    ("reverted by itself", ("reverted",)),
    ("failed", ("failed", "unreachable")),
)


def _batch_number(host, value):
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise AnsibleFilterError("rollout_summary: host %s has batch %r, not a number" % (host, value)) from err


def rollout_summary(hosts, hostvars, batch, batch_size, max_fail_percentage=0):
    lines = [
        "Batch %s (%s hosts) done; max_fail_percentage %s%%: Ansible stops the rollout when more than that share of"
        " a batch failed or was rolled back" % (batch, batch_size, max_fail_percentage)
    ]
    batches = {}
    started = 0
    for host in hosts:
        facts = hostvars[host]
        if facts.get("__rollout_batch") is None:
            continue
        started += 1
        number = _batch_number(host, facts.get("__rollout_batch"))
        batches.setdefault(number, []).append((host, facts.get("__rollout_outcome")))
    for number in sorted(batches):
        members = batches[number]
        parts = []
        for title, outcomes in COLUMNS:
            names = [host for host, outcome in members if outcome in outcomes]
            parts.append("%s %d %r" % (title, len(names), [str(name) for name in names]))
        lines.append("batch %d: %s" % (number, ", ".join(parts)))
    waiting = len(hosts) - started
    lines.append("Rollout complete" if waiting == 0 else "Not started yet: %d hosts" % waiting)
    return lines


class FilterModule:
    def filters(self):
        return {"rollout_summary": rollout_summary}
