#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: reachability
short_description: Probe whether an address answers ICMP echo, seen from inside a network namespace
version_added: 0.1.0
description:
  - Sends ICMP (IPv4) or ICMPv6 echo requests to O(dest) from inside O(netns) and reports whether any reply came
    back. The socket lives in that namespace, so the probe uses that namespace's addresses and routes (a
    container's or VM's view), not the host's, and the host's own routes cannot hide a failure.
  - Used to verify macvlan topologies, for example that bridge-mode children reach each other, that private
    children do not, or that a host reaches its children only through a host-access shim.
  - Never changes anything. With O(expect), the task fails when the result is not the expected one.
author:
  - hostnet.macvlan maintainers (@hostnet)
extends_documentation_fragment:
  - hostnet.macvlan.bytecode_cache
  - hostnet.macvlan.netns
requirements:
  - Root or C(CAP_NET_RAW) on the managed node (raw ICMP sockets); root to enter another namespace.
notes:
  - Uses the Python standard library only; it does not run C(ping).
attributes:
  check_mode:
    support: full
    description: Read-only; probes the same in check mode.
  diff_mode:
    support: none
    description: Nothing to show a difference for.
  idempotent:
    support: full
    description: Never changes anything.
  platform:
    support: full
    platforms: posix
    description: Linux only.
options:
  dest:
    description: IPv4 or IPv6 address to probe.
    type: str
    required: true
  count:
    description: Number of echo requests; the address is reachable when any is answered.
    type: int
    default: 3
  timeout:
    description: Seconds to wait for each reply.
    type: float
    default: 1.0
  interface:
    description: Send through this interface only (C(SO_BINDTODEVICE)).
    type: str
  source:
    description: Source address to send from (must be configured in O(netns)).
    type: str
  expect:
    description:
      - V(reachable) or V(unreachable) makes the task fail when the probe says otherwise; V(any) only reports.
    type: str
    choices: [any, reachable, unreachable]
    default: any
seealso:
  - module: hostnet.macvlan.macvlan
"""

EXAMPLES = r"""
- name: A container's macvlan reaches the gateway
  hostnet.macvlan.reachability:
    netns: /proc/4242/ns/net
    dest: 192.0.2.1
    expect: reachable

- name: Private-mode children must not reach each other
  hostnet.macvlan.reachability:
    netns: vm1
    dest: 192.0.2.12
    count: 1
    expect: unreachable
"""

RETURN = r"""
reachable:
  description: Whether at least one echo reply came back.
  returned: success
  type: bool
  sample: true
sent:
  description: Echo requests sent.
  returned: success
  type: int
  sample: 3
received:
  description: Echo replies received.
  returned: success
  type: int
  sample: 3
rtt_ms:
  description: Average round-trip time of the answered requests, in milliseconds; null when none was answered.
  returned: success
  type: float
  sample: 0.081
dest:
  description: The probed address (canonical spelling).
  returned: success
  type: str
  sample: 192.0.2.12
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

_boot.use_bytecode_cache()  # first: the collection's code below then loads without compiling (see _boot)

from ansible_collections.hostnet.macvlan.plugins.module_utils._probe import ProbeError, probe


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "str", "required": True},
            "count": {"type": "int", "default": 3},
            "timeout": {"type": "float", "default": 1.0},
            "interface": {"type": "str"},
            "source": {"type": "str"},
            "expect": {"type": "str", "default": "any", "choices": ["any", "reachable", "unreachable"]},
            "netns": {"type": "str"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not 1 <= params["count"] <= 100:
        module.fail_json(msg="count: %r is out of range 1..100" % params["count"])
    if not 0 < params["timeout"] <= 60:
        module.fail_json(msg="timeout: %r is out of range (0, 60] seconds" % params["timeout"])
    try:
        result = probe(
            params["dest"], params["netns"], params["count"], params["timeout"], params["interface"], params["source"]
        )
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    expect = params["expect"]
    if expect != "any" and result["reachable"] != (expect == "reachable"):
        module.fail_json(
            msg="%s is %s from %s, expected %s (%d of %d echo requests answered)"
            % (
                result["dest"],
                "reachable" if result["reachable"] else "unreachable",
                params["netns"] or "the module's namespace",
                expect,
                result["received"],
                result["sent"],
            ),
            **result,
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
