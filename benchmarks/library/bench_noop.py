# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark fixture, not shipped: a module that does nothing with the arguments of hostnet.macvlan.macvlan_state.

bench.py loads it through ANSIBLE_LIBRARY (benchmarks/library) as ``bench_noop``. It takes ``macvlan_state``'s
argument spec itself (``_options.STATE_OPTIONS``, imported, so the two stay identical): Ansible templates the
same arguments, builds an AnsiballZ payload, starts the interpreter, validates every link against the same spec
and carries a result back. What ``macvlan_state`` costs beyond this module is the collection's own cost.
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils._options import STATE_OPTIONS

DOCUMENTATION = r"""
module: bench_noop
short_description: Benchmark fixture: macvlan_state's arguments, no work (not part of the collection)
description:
  - Validates the arguments of M(hostnet.macvlan.macvlan_state) with the same argument spec and returns
    C(changed=false) without touching anything. Used by C(make bench) as the floor of a module call that
    carries the same links.
options: {}
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

RETURN = r"""
links_total:
  description: The number of links it was given.
  returned: always
  type: int
"""


def main():
    module = AnsibleModule(argument_spec=STATE_OPTIONS, supports_check_mode=True)
    links = module.params["links"]
    # A small invocation, like macvlan_state's: Ansible's default would echo every link with each unset option.
    invocation = {"module_args": {"links": "%d entries, not echoed" % len(links), "netns": module.params["netns"]}}
    module.exit_json(changed=False, links_total=len(links), invocation=invocation)


if __name__ == "__main__":
    main()
