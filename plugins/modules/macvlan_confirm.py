#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: macvlan_confirm
short_description: Keep (or undo now) a change made with confirm_timeout
version_added: 0.2.0
description:
  - A M(hostnet.macvlan.macvlan_state) task with O(hostnet.macvlan.macvlan_state#module:confirm_timeout) leaves its
    change pending - the host reverts it by itself when the time runs out, whatever happens to Ansible or its
    connection. This module confirms it - disarms the revert and removes the journal, so the change stays.
  - With O(revert=true) it undoes the change now instead (the same exact revert the timer would run).
  - Without O(id) and O(netns), every pending change of the host is confirmed (or reverted). Nothing pending is
    not an error - the task reports no change.
  - Confirming a change that already reverted by itself fails, saying when and why it reverted - the change is
    gone and a playbook must not go on as if it stayed.
extends_documentation_fragment:
  - hostnet.macvlan.bytecode_cache
author:
  - hostnet.macvlan maintainers (@hostnet)
attributes:
  check_mode:
    support: full
    description: Reports what is pending and would be confirmed (or reverted); changes nothing.
  diff_mode:
    support: none
    description: There is no before and after to show; the result lists the changes confirmed or reverted.
  idempotent:
    support: full
    description: Once confirmed, a change is no longer pending; a second run reports no change.
options:
  id:
    description:
      - The change to confirm, as returned in C(confirm.id) by M(hostnet.macvlan.macvlan_state).
      - A change that reverted (its deadline passed, even while this task waited for the change's lock) fails the
        task, saying when it reverted - never a silent success.
    type: str
  netns:
    description:
      - Confirm the pending changes of this network namespace (a name from C(ip netns list) or a path such as
        C(/proc/PID/ns/net); compared by identity, so any spelling of the namespace works). A namespace that does
        not exist is an error.
    type: str
  revert:
    description:
      - Undo the pending change(s) now instead of keeping them.
    type: bool
    default: false
notes:
  - Pending changes are root-only files under C(/run/hostnet-macvlan); run the task with C(become=true).
  - A reboot before the deadline loses the pending journal together with the kernel state it concerns (links
    that were not persisted are gone anyway). Persist a change (M(hostnet.macvlan.macvlan_persist)) only after
    confirming it.
seealso:
  - module: hostnet.macvlan.macvlan_state
  - module: hostnet.macvlan.macvlan_info
"""

EXAMPLES = r"""
- name: Change the links; the host reverts the change by itself in 90 s unless confirmed
  hostnet.macvlan.macvlan_state:
    links: "{{ links }}"
    parents: [{name: eth0, promisc: true}]
    confirm_timeout: 90
  register: change

- name: Prove the management path still works, over a new connection
  ansible.builtin.meta: reset_connection

- name: Keep the change
  hostnet.macvlan.macvlan_confirm:
    id: "{{ change.confirm.id }}"
  when: change.confirm

- name: Undo every pending change of a namespace now
  hostnet.macvlan.macvlan_confirm:
    netns: ns1
    revert: true
"""

RETURN = r"""
confirmed:
  description: The changes that were pending and are now kept (in check mode, that would be kept).
  returned: unless O(revert=true)
  type: list
  elements: dict
  contains:
    id:
      description: The change's id.
      type: str
    deadline:
      description: When it would have reverted (seconds since the epoch).
      type: float
    deadline_iso:
      description: The same, as UTC date and time.
      type: str
    timeout:
      description: The confirm_timeout it was armed with.
      type: int
    namespaces:
      description: The namespaces it changed (null for the module's own).
      type: list
      elements: str
    method:
      description: How the revert was armed - V(systemd) (a transient timer) or V(process) (a detached process).
      type: str
    actions:
      description: What the change applied - the first 50 lines (the last one saying how many more).
      type: list
      elements: str
    actions_total:
      description: How many steps the change applied.
      type: int
  sample:
    - {id: 20261129T231500-1a2b3c4d, deadline: 1795990590.5, deadline_iso: "2026-11-29T23:16:30Z", timeout: 90,
       namespaces: [null], method: systemd, actions: ["create macvlan mv0 on eth0 (mode bridge, up) in the host namespace"]}
reverted:
  description:
    - With O(revert=true), what each revert restored (C(restored)) and could not (C(not_restored)), each list its
      first 50 lines, with C(restored_total) and C(not_restored_total).
  returned: when O(revert=true)
  type: list
  elements: dict
  sample: [{id: 20261129T231500-1a2b3c4d, reason: asked, restored: ["delete macvlan mv0 (created by this run) in the host namespace"], not_restored: []}]
reverted_change:
  description: When the change to confirm had reverted (the task fails), the record of that revert, as in RV(last_revert).
  returned: failure, when the change reverted
  type: dict
  sample: {id: 20261129T231500-1a2b3c4d, reason: confirm_timeout of 90 s expired, reverted_at_iso: "2026-11-29T23:16:30Z"}
last_revert:
  description:
    - The last revert of a pending change on this host (by its timer or asked), or null. Its lists are cut to 50
      lines as in RV(reverted).
    - Every revert is also kept by id (the last 100), so that confirming any change that reverted fails, saying
      when and why.
  returned: always
  type: dict
  sample: {id: 20261129T231500-1a2b3c4d, reason: confirm_timeout of 90 s expired, reverted_at_iso: "2026-11-29T23:16:30Z"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

_boot.use_bytecode_cache()  # first: the collection's code below then loads without compiling (see _boot)

from ansible_collections.hostnet.macvlan.plugins.module_utils._options import CONFIRM_OPTIONS
from ansible_collections.hostnet.macvlan.plugins.module_utils._runner import run_confirm_module


def main():
    module = AnsibleModule(argument_spec=CONFIRM_OPTIONS, supports_check_mode=True)
    run_confirm_module(module)


if __name__ == "__main__":
    main()
