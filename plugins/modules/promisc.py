#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: promisc
short_description: Set the promiscuous flag (IFF_PROMISC) of a network interface
version_added: 0.1.0
description:
  - Sets or clears the C(IFF_PROMISC) flag of an interface over netlink, as C(ip link set NAME promisc on|off)
    does. A macvlan parent must accept frames for its links' MAC addresses; operators set this flag on it.
  - Idempotence keys on the flag, not on the kernel's promiscuity counter, which other users (passthru links,
    bridges, packet capture) raise too. Both are returned.
  - Clearing the flag never lowers promiscuity that others hold; the counter may stay above zero.
author:
  - hostnet.macvlan maintainers (@hostnet)
extends_documentation_fragment:
  - hostnet.macvlan.bytecode_cache
  - hostnet.macvlan.netns
  - hostnet.macvlan.lock
  - hostnet.macvlan.pyroute2
attributes:
  check_mode:
    support: full
    description: Reports the change and changes nothing.
  diff_mode:
    support: full
    description: Shows the flag before and after.
  idempotent:
    support: full
    description: A second run reports no change.
options:
  name:
    description:
      - Interface name, looked up in O(netns).
    type: str
    required: true
  promisc:
    description:
      - Whether the C(IFF_PROMISC) flag is set.
    type: bool
    default: true
seealso:
  - module: hostnet.macvlan.macvlan
  - module: hostnet.macvlan.macvlan_info
"""

EXAMPLES = r"""
- name: Let eth1 accept frames for its macvlans
  hostnet.macvlan.promisc:
    name: eth1
    promisc: true

- name: Clear the flag on a parent inside a namespace
  hostnet.macvlan.promisc:
    name: eth0
    promisc: false
    netns: lab-host1
"""

RETURN = r"""
promisc:
  description: The C(IFF_PROMISC) flag after the task (in check mode, as predicted).
  returned: success
  type: bool
  sample: true
promiscuity:
  description:
    - The kernel's promiscuity counter after the task (in check mode, as predicted). Counts every holder
      (the flag, passthru macvlans, bridges, packet sockets), so it can be above 1 or stay above 0 when the
      flag is cleared.
  returned: success
  type: int
  sample: 1
actions:
  description: What was done (or would be done), one line per step.
  returned: always
  type: list
  elements: str
  sample: ["set promisc of eth1: False -> True"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

_boot.use_bytecode_cache()  # first: the collection's code below then loads without compiling (see _boot)

from ansible_collections.hostnet.macvlan.plugins.module_utils._options import PROMISC_OPTIONS
from ansible_collections.hostnet.macvlan.plugins.module_utils._runner import run_promisc_module


def main():
    module = AnsibleModule(argument_spec=PROMISC_OPTIONS, supports_check_mode=True)
    run_promisc_module(module)


if __name__ == "__main__":
    main()
