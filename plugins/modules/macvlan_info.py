#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: macvlan_info
short_description: Facts about macvlan and macvtap links and their parents
version_added: 0.1.0
description:
  - Reads every macvlan and macvtap link of a network namespace with all its attributes, and the
    promiscuous flag, promiscuity counter, MTU, MAC address and state of each parent, from one netlink dump.
  - Read-only; works without root, and without pyroute2 (it reads over a plain netlink socket).
author:
  - hostnet.macvlan maintainers (@hostnet)
extends_documentation_fragment:
  - hostnet.macvlan.bytecode_cache
  - hostnet.macvlan.netns
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Read-only; there is nothing to show a difference for.
  idempotent:
    support: full
    description: Never changes anything.
options:
  names:
    description:
      - Report only the links with these names.
    type: list
    elements: str
  parents:
    description:
      - Report only the links on these parents, and these parents (even without links).
    type: list
    elements: str
  details:
    description:
      - V(full) reports every attribute of each link (see RV(links)); V(brief) only its name, namespace, state,
        type, parent, mode, MAC address, administrative and operational state, for hosts with thousands of links.
      - Whatever the choice, a result that would exceed what AWX accepts for one job event (700,000 bytes) is
        shortened and says so in RV(truncated).
    type: str
    choices: [full, brief]
    default: full
  state_links:
    description:
      - Also return RV(state_links), the reported links in the form the M(hostnet.macvlan.macvlan_state) module
        takes (to restore this state later).
    type: bool
    default: false
  snapshot:
    description:
      - The arguments of a M(hostnet.macvlan.macvlan_state) call to come (in the same O(netns)). Also return
        RV(snapshot), the arguments of another macvlan_state call that later gives back everything that call can
        change, as it is now.
      - Checked as macvlan_state checks them (an error names C(snapshot.) and the option); a C(parent) of
        V(default) is resolved from the routes as macvlan_state would resolve it now.
      - The C(hostnet.macvlan.rollout) playbook takes one (through the topology role's C(snapshot) entry point)
        before it applies a topology without confirm mode, and gives it back when the host fails.
    type: dict
    suboptions:
      links:
        description: macvlan_state's O(hostnet.macvlan.macvlan_state#module:links), as they will be given to it.
        type: list
        elements: dict
        default: []
      parents:
        description: macvlan_state's O(hostnet.macvlan.macvlan_state#module:parents).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The parent's name.
            type: raw
            required: true
          promisc:
            description: Its promiscuous flag.
            type: bool
            default: true
          mtu:
            description: Its MTU.
            type: int
          link_state:
            description: Its administrative state.
            type: str
            choices: [up, down]
      purge:
        description: macvlan_state's O(hostnet.macvlan.macvlan_state#module:purge).
        type: bool
        default: false
      purge_exclude:
        description: macvlan_state's O(hostnet.macvlan.macvlan_state#module:purge_exclude).
        type: list
        elements: raw
        default: []
seealso:
  - module: hostnet.macvlan.macvlan
  - module: hostnet.macvlan.promisc
"""

EXAMPLES = r"""
- name: Facts about eth1's macvlans
  hostnet.macvlan.macvlan_info:
    parents: [eth1]
  register: facts

- name: Show each link's mode
  ansible.builtin.debug:
    msg: "{{ item.key }} is in {{ item.value.mode }} mode"
  loop: "{{ facts.links | dict2items }}"

- name: Assert the parent is promiscuous
  ansible.builtin.assert:
    that: facts.parents.eth1.promisc
"""

RETURN = r"""
links:
  description:
    - macvlan and macvtap links by name, with the attributes of the M(hostnet.macvlan.macvlan) module's
      RV(hostnet.macvlan.macvlan#module:link) return value.
  returned: always
  type: dict
  sample:
    mv-web:
      name: mv-web
      type: macvlan
      parent: eth1
      mode: bridge
      mac_address: "02:42:ac:11:00:10"
      mtu: 1400
      link_state: up
      operstate: UP
      source_macs: []
      nopromisc: false
      nodst: false
      bcqueuelen: 1000
      bcqueuelen_used: 1000
      bclim: 1
      addresses: [192.0.2.10/24]
      routes: []
      ifindex: 7
      parent_ifindex: 3
      parent_netnsid: null
      promisc: false
      promiscuity: 0
parents:
  description: Parents of the reported links (and those named in O(parents)), by name.
  returned: always
  type: dict
  sample:
    eth1:
      name: eth1
      kind: null
      ifindex: 3
      promisc: true
      promiscuity: 1
      mtu: 1500
      mac_address: "52:54:00:12:34:56"
      link_state: up
      operstate: UP
      children: [mv-web]
state_links:
  description:
    - The reported links as a list in the format of the M(hostnet.macvlan.macvlan_state) module's
      O(hostnet.macvlan.macvlan_state#module:links) option, with every attribute that restores them exactly
      (kernel-made IPv6 link-local addresses left out). Give it back to macvlan_state to return to this state,
      for example after a failed rollout.
    - Links whose parent is in another namespace are left out.
    - Shortened to its first 100 links when the result would not fit AWX's event size (RV(truncated) says so),
      and a shortened list given back to macvlan_state with purge deletes the other links. To restore what a
      macvlan_state call changes, use O(snapshot), which is never shortened.
  returned: when O(state_links=true)
  type: list
  elements: dict
  sample:
    - {name: mv-web, parent: eth1, type: macvlan, mode: bridge, mac_address: "02:42:ac:11:00:10", mtu: 1400,
       link_state: up, bcqueuelen: 1000, addresses: [192.0.2.10/24], routes: [], state: present}
snapshot:
  description:
    - With O(snapshot), the arguments of the M(hostnet.macvlan.macvlan_state) call (in the same O(netns), without
      purge) that gives back everything the call described by O(snapshot) can change, as it is now.
    - C(links) holds each link that call names, with every attribute that restores it exactly, in the namespace it
      is in now (a link that call would move into C(link_netns) is listed where it is now, and as absent there);
      a named link that does not exist yet is listed with C(state=absent) (the restore deletes it if that call
      created it); when that call gives a link C(bclim), the other links on its parent (the kernel keeps one
      broadcast cutoff per parent); with C(purge), every other macvlan/macvtap link on the parents that call manages, in every
      namespace it looks into, except C(purge_exclude) (that call may delete them, the restore creates them
      again). C(parents) holds each parent of C(parents) with its promiscuous flag, MTU and state as they are now.
    - C(left_out) names the links that cannot be given back (their parent is in a namespace that call does not
      see); C(resolved) the resolved C(parent=default) values, as macvlan_state reports them.
    - Never shortened to fit AWX's event size (a restore needs all of it). A link takes about 380 bytes of JSON, so
      above about 1,800 links the result is larger than AWX keeps for one job event (700,000 bytes), so that
      event carries no result data in AWX; the playbook still has all of it.
  returned: when O(snapshot) is given
  type: dict
  sample:
    links:
      - {name: mv-web, parent: eth1, type: macvlan, mode: bridge, mac_address: "02:42:ac:11:00:10", mtu: 1400,
         link_state: up, bcqueuelen: 1000, addresses: [192.0.2.10/24], routes: [], state: present}
      - {name: mv-new, state: absent}
    parents:
      - {name: eth1, promisc: false, mtu: 1500, link_state: up}
    left_out: []
truncated:
  description:
    - Present only when the result had to be shortened to stay under AWX's limit for one job event, saying what
      was shortened. Narrow the report with O(names) or O(parents).
  returned: when shortened
  type: list
  elements: str
pending_confirm:
  description:
    - Changes made with C(confirm_timeout) in this namespace that are not confirmed yet (they revert by themselves
      at their deadline), with C(id), C(deadline), C(deadline_iso), C(timeout), C(namespaces), C(method),
      C(actions) (its first 50 lines) and C(actions_total). Empty without root (the journals are root-only).
  returned: always
  type: list
  elements: dict
  sample: [{id: 20261129T231500-1a2b3c4d, deadline_iso: "2026-11-29T23:16:30Z", timeout: 90, method: systemd}]
last_revert:
  description:
    - The last time a pending change of this host was reverted (by its timer or asked) - C(id), C(reason),
      C(reverted_at_iso), C(namespaces), C(actions) (what the change had applied), C(restored) and
      C(not_restored), each list its first 50 lines, with C(actions_total), C(restored_total) and
      C(not_restored_total). Null when none was.
  returned: always
  type: dict
  sample: {id: 20261129T231500-1a2b3c4d, reason: confirm_timeout of 90 s expired, reverted_at_iso: "2026-11-29T23:16:31Z",
           restored: ["delete macvlan mv0 (created by this run) in the host namespace"], not_restored: []}
pyroute2:
  description:
    - The version of pyroute2 the module's Python can import (the changing modules need it; this one does not),
      V(unknown) when it is installed but its version cannot be read (Python before 3.8), null when it is missing.
  returned: always
  type: str
  sample: 0.9.7
kernel:
  description: Release of the running kernel (attribute support depends on it).
  returned: always
  type: str
  sample: 6.1.0-18-amd64
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

_boot.use_bytecode_cache()  # first: the collection's code below then loads without compiling (see _boot)

from ansible_collections.hostnet.macvlan.plugins.module_utils._options import INFO_OPTIONS
from ansible_collections.hostnet.macvlan.plugins.module_utils._runner import run_info_module


def main():
    module = AnsibleModule(argument_spec=INFO_OPTIONS, supports_check_mode=True)
    run_info_module(module)


if __name__ == "__main__":
    main()
