#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: macvlan_state
short_description: The whole desired macvlan state of a host or network namespace, in one call
version_added: 0.1.0
description:
  - Converges many macvlan and macvtap links, and the promiscuous flag, MTU and state of their parents, in one
    task.
  - One netlink dump per namespace to observe, one plan, an ordered apply (parents' promiscuity, raised MTU and
    C(up) first, then creations, moves, in-place changes, re-creations, addresses and routes, deletions, and last
    the parents' lowered MTU and C(down)), and one read-back to verify. Cost grows linearly with the number of
    links; an idempotent run is a dump and a comparison.
  - A link the task deletes (O(links[].state=absent) or O(purge)) makes room on its parent, so a new link may
    take its MAC address and a passthru link may replace the parent's other links; such a deletion runs before
    the creations (the kernel would refuse the new link while the old one exists).
  - With O(rollback=true) (the default), a step the kernel refuses, or a read-back that differs from what was
    asked, restores every link and parent the task touched to what it observed (deleted links are re-created,
    created links deleted, changes reverted) and then fails with the error and the list of what was restored.
  - With O(purge=true), macvlan and macvtap links on managed parents (those in O(parents) or used by O(links))
    that are not listed are deleted. Links on other parents and interfaces of other kinds are never touched.
author:
  - hostnet.macvlan maintainers (@hostnet)
extends_documentation_fragment:
  - hostnet.macvlan.bytecode_cache
  - hostnet.macvlan.links
  - hostnet.macvlan.netns
  - hostnet.macvlan.lock
  - hostnet.macvlan.pyroute2
notes:
  - Links whose parent is in O(netns) but which were moved into a namespace not named in any O(links) entry's
    C(link_netns) cannot be seen, so purge cannot find them.
  - Hundreds of links in one namespace - every new link that comes up with IPv6 gets a link-local address,
    duplicate address detection and MLD reports, and the kernel's route lookups for those packets walk one
    C(fe80::/64) route per link, so that work grows faster than the links (measured with 1024 links, about 1.6
    CPU-seconds after the links exist; with 256, hardly any). Links that need no IPv6 link-local address avoid
    it with O(links[].ipv6_addr_gen_mode=none), which is set before the link comes up.
attributes:
  check_mode:
    support: full
    description: Plans the whole change, reports it (and the diff) and changes nothing.
  diff_mode:
    support: full
    description:
      - Shows what changes, before and after - a created or deleted link whole, a changed link by the attributes
        that change, and the parents that change (flag, MTU, state) by the attributes that change.
  idempotent:
    support: full
    description: A second run with the same options reports no change.
options:
  parents:
    description:
      - Parent interfaces whose C(IFF_PROMISC) flag, MTU and administrative state are managed. Each parent may be
        listed once; it must exist in O(netns). The collection never creates or deletes a parent.
      - A parent's settings are read back and verified with the links, and rolled back with them.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Interface name in O(netns) (a string).
        type: raw
        required: true
      promisc:
        description: Whether the flag is set. Set first.
        type: bool
        default: true
      mtu:
        description:
          - The parent's MTU. Omitted, the parent keeps its MTU.
          - Raised before the links on it are created or changed (a link may then ask for the larger MTU in the
            same task; check mode plans that too); lowered after every link change.
          - Refused before anything changes when it is outside the range the device reports (C(IFLA_MIN_MTU) to
            C(IFLA_MAX_MTU), Linux 4.19 and later; C(ip -d link) shows them as minmtu and maxmtu), or when it is
            lowered below the MTU of a link on the parent (the MTU asked for in O(links), or the current MTU of a
            link the task does not change or does not list), because the kernel would lower that link's MTU too.
          - Links on the parent in network namespaces the task does not involve (moved there by a container runtime)
            are not seen - the kernel lowers their MTU too, and a rollback cannot raise it again.
        type: int
      link_state:
        description:
          - The parent's administrative state. Omitted, the parent keeps its state.
          - V(up) is set before the links are created or changed, V(down) after. Taking a parent down also takes
            its links' carrier down (their own state stays as asked) and drops the parent's addresses and routes.
        type: str
        choices: [up, down]
  purge:
    description:
      - Delete macvlan and macvtap links on managed parents that O(links) does not list.
      - Managed parents are those in O(parents) and those used by O(links). With none, purge does nothing.
    type: bool
    default: false
  purge_exclude:
    description:
      - Names of links that purge never deletes (for example a host-access shim managed elsewhere).
    type: list
    elements: raw
    default: []
  rollback:
    description:
      - On failure of any kind after the first change (a step the kernel refuses, an error, a signal such as
        SIGTERM, a parent or namespace that vanishes, a read-back that differs from what was asked), undo exactly
        what the task did, last step first, then fail. A link another program created meanwhile is never
        deleted; a link the task deleted comes back as it was (same ifindex when free, attributes, every address
        with its flags, every route through it in every table). See the collection's C(docs/transaction.md).
      - With V(false), the task fails where it stopped and lists what was done.
    type: bool
    default: true
  confirm_timeout:
    description:
      - Seconds the change stays without confirmation. After a successful change (applied and read back), the
        host keeps the task's journal - the exact undo steps of what it applied - as a root-only file under
        C(/run/hostnet-macvlan) and arms a revert that needs neither Ansible nor its connection - a transient
        systemd timer (C(systemd-run --on-active)) where systemd is PID 1, else a detached process. Unless
        M(hostnet.macvlan.macvlan_confirm) confirms the change before the time runs out, the host undoes it by
        itself (taking the namespace lock like any run) and M(hostnet.macvlan.macvlan_info) reports the revert.
      - Use it when the change may cut the path Ansible reaches the host by (the parent is the management NIC).
        Reconnect (C(meta - reset_connection)), verify, then confirm.
      - While a change is pending in a namespace, another change there (by any module of the collection) fails
        clearly - confirm the pending one or let it revert first. Check mode and reading are not affected.
      - V(0) (the default) turns it off. At most 86400.
      - A reboot before the deadline loses the pending journal together with the kernel state it concerns.
    type: int
    default: 0
  return_links:
    description:
      - Which links RV(links) holds. V(changed) (the default) holds the links the task changes (or would change, in
        check mode), so the result of an unchanged run of a thousand links stays a few kilobytes; V(all) holds
        every listed and purged link; V(none) holds none. RV(links_total) and RV(links_changed) count them all.
      - The controller handles every link in the result (ansible-core 2.19 decodes, copies and converts each of
        its values), so a task that creates or changes a thousand links takes about 0.1 to 0.5 s longer with them
        than with V(none), which keeps RV(actions) and the counts.
    type: str
    choices: [changed, all, none]
    default: changed
  protect:
    description:
      - Interfaces of O(netns) the task must not touch, typically the ones that carry the Ansible connection. A
        plan that would act on one of them (change, delete, its promiscuous flag, its addresses or routes) or
        create a link on it as parent is refused before anything changes, in check mode too, naming the
        interface, why it is protected and the step.
      - The rollout playbook passes the connection's address and the default routes here.
    type: dict
    suboptions:
      interfaces:
        description: Interface names.
        type: list
        elements: raw
        default: []
      addresses:
        description: IP addresses; the interfaces holding them (static or dynamic addresses) are protected.
        type: list
        elements: str
        default: []
      default_route:
        description: Protect the interfaces the main table's default routes (IPv4 and IPv6) leave through.
        type: bool
        default: false
seealso:
  - module: hostnet.macvlan.macvlan
  - module: hostnet.macvlan.macvlan_info
  - module: hostnet.macvlan.promisc
"""

EXAMPLES = r"""
- name: The macvlan state of a hypervisor
  hostnet.macvlan.macvlan_state:
    parents:
      - name: eth1
        promisc: true
    links:
      - name: mv-web
        parent: eth1
        mode: bridge
        addresses: [192.0.2.10/24]
      - name: mv-db
        parent: eth1
        mode: bridge
        mac_address: "02:42:ac:11:00:11"
      - name: mvtap0
        parent: eth2
        mode: passthru
        type: macvtap
    purge: true

- name: Jumbo frames - raise the parent's MTU and create links that use it, in one task
  hostnet.macvlan.macvlan_state:
    parents:
      - name: eth1
        mtu: 9000
        link_state: up
    links:
      - name: mv-storage
        parent: eth1
        mtu: 9000

- name: Preview a change without touching the kernel
  hostnet.macvlan.macvlan_state:
    links:
      - name: mv-web
        parent: eth1
        mode: private
  check_mode: true
  diff: true
"""

RETURN = r"""
links:
  description:
    - The links the task changed (with O(return_links=all), every listed and purged link), as read back after the
      change (in check mode, as predicted), with the attributes of the M(hostnet.macvlan.macvlan) module's C(link)
      return value, in the order of O(links) (purged links last).
    - Each entry has C(name) and C(netns), the namespace the link lives in (null for the module's own), so links
      with one name in several namespaces stay apart.
  returned: success
  type: list
  elements: dict
  sample:
    - {name: mv-web, netns: null, state: present, type: macvlan, parent: eth1, mode: bridge, mtu: 1500,
       mac_address: "02:42:ac:11:00:10", link_state: up, addresses: [192.0.2.10/24], routes: []}
confirm:
  description:
    - With O(confirm_timeout), the pending change - its C(id) (give it to M(hostnet.macvlan.macvlan_confirm)), its
      C(deadline) (seconds since the epoch) and C(deadline_iso), C(timeout), C(namespaces), C(method) (V(systemd)
      or V(process)), C(actions) (its first 50 lines; RV(actions) has them all) and C(actions_total). Null when
      nothing changed (nothing to confirm) or without confirm.
  returned: success
  type: dict
  sample: {id: 20261129T231500-1a2b3c4d, deadline: 1795990590.5, deadline_iso: "2026-11-29T23:16:30Z", timeout: 90,
           namespaces: [null], method: systemd, actions: ["set promisc of eth0: False -> True in the host namespace"]}
links_total:
  description: How many links the task handled (listed and purged).
  returned: success
  type: int
  sample: 1024
links_changed:
  description: How many of them it changed (or would change, in check mode).
  returned: success
  type: int
  sample: 3
truncated:
  description:
    - Present only when the result had to be shortened to stay under AWX's limit for one job event (700,000
      bytes), saying what was shortened (links to a brief form, the diff to names, the action lines to the first
      ones).
  returned: when shortened
  type: list
  elements: str
parents:
  description:
    - Each listed parent's flag, promiscuity counter, MTU and administrative state, as read back (predicted in
      check mode, where the counter is null).
  returned: success
  type: dict
  sample:
    eth1: {name: eth1, promisc: true, promiscuity: 1, mtu: 9000, link_state: up}
purged:
  description: Names of the links purge deleted (or would delete, in check mode).
  returned: success
  type: list
  elements: str
  sample: [mv-old]
resolved:
  description:
    - What C(parent=default) and C(mac_address=stable) resolved to on this run, keyed by the option.
  returned: when a link asks for either
  type: dict
  sample:
    links[0].parent: eth0
    links[0].mac_address: 06:5e:2b:91:7c:0d
actions:
  description:
    - What was done (or would be done), one line per step, in the order applied; each line names the namespace
      it acts in. On failure, the steps that were applied before it.
  returned: always
  type: list
  elements: str
  sample:
    - "set promisc of eth1: False -> True in the host namespace"
    - "set mtu of eth1: 1500 -> 9000 in the host namespace"
    - "create macvlan mv-web on eth1 (mode bridge, up) in the host namespace"
rolled_back:
  description: On failure, the steps that undid the task's changes, last change first (at most 200 lines).
  returned: failure after a change was started
  type: list
  elements: str
  sample: ["delete macvlan mv-web (created by this run) in the host namespace"]
not_restored:
  description: On failure, what the rollback could not restore, and why (empty when everything was restored).
  returned: failure after a change was started
  type: list
  elements: str
  sample: ["eth2: set promisc of eth2: True -> False in the host namespace FAILED (No such device)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

_boot.use_bytecode_cache()  # first: the collection's code below then loads without compiling (see _boot)

from ansible_collections.hostnet.macvlan.plugins.module_utils._options import STATE_OPTIONS
from ansible_collections.hostnet.macvlan.plugins.module_utils._runner import run_state_module


def main():
    module = AnsibleModule(argument_spec=STATE_OPTIONS, supports_check_mode=True)
    run_state_module(module)


if __name__ == "__main__":
    main()
