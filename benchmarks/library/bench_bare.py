# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark fixture, not shipped: the least a verified create of macvlan_state's links costs.

bench.py loads it through ANSIBLE_LIBRARY (benchmarks/library) as ``bench_bare``. It takes ``macvlan_state``'s
argument spec (``_options.STATE_OPTIONS``, imported, as ``bench_noop`` does) and does only what any module that
creates links and says what it did must do: in the namespace ``netns``, one dump of the links, one RTM_NEWLINK per
missing link (``_netlink.Session.apply``'s create step: the request macvlan_state sends),
one dump to read them back, a check that each is there with its parent, kind, mode and state, and a result that
names the links it created. No normalisation beyond the defaults, no plan, no lock, no journal, no rollback (a
failure leaves what was created), no addresses or routes, no result views: it is a floor, not a module to use.

Against the do-nothing module (``bench_noop``), its slope is what creating and verifying links costs through
Ansible at the least; macvlan_state's create beyond it is the collection's own work on a create.
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _netlink
from ansible_collections.hostnet.macvlan.plugins.module_utils._options import STATE_LINK_OPTIONS, STATE_OPTIONS

DOCUMENTATION = r"""
module: bench_bare
short_description: Benchmark fixture: the least a verified create of macvlan_state's links costs (not part of the collection)
description:
  - Creates the links of M(hostnet.macvlan.macvlan_state)'s O(hostnet.macvlan.macvlan_state#module:links) that do
    not exist, with one request each, reads them back once and returns their names. Used by C(make bench) as the
    floor of a verified create through Ansible. No plan, lock, journal or rollback.
options: {}
author:
  - hostnet.macvlan maintainers (@hostnet)
"""

RETURN = r"""
created:
  description: The names of the links it created.
  returned: always
  type: list
  elements: str
links_total:
  description: The number of links it was given.
  returned: always
  type: int
"""

# The options a creation needs, with macvlan_state's defaults (the link options' own).
DEFAULTS = {key: STATE_LINK_OPTIONS[key]["default"] for key in ("type", "mode", "link_state")}


def main():
    module = AnsibleModule(argument_spec=STATE_OPTIONS, supports_check_mode=False)
    wanted = [dict(DEFAULTS, **{k: v for k, v in link.items() if v is not None}) for link in module.params["links"]]
    netns = module.params["netns"]
    invocation = {"module_args": {"links": "%d entries, not echoed" % len(wanted), "netns": netns}}
    ns = netns or None
    try:
        # The engine's own reads and create step (the Session macvlan_state uses), nothing around them.
        with _netlink.Session() as session:
            session.open(ns)
            before = {link["name"]: link for link in session.dump_links(ns)}
            created = []
            for spec in wanted:
                if spec["name"] not in before:
                    session.apply({"op": "create", "ns": ns, "link_ns": ns, "name": spec["name"], "spec": spec})
                    created.append(spec)
            after = {link["name"]: link for link in session.dump_links(ns)} if created else before
    except (_netlink.NetlinkFailure, KeyError) as exc:
        module.fail_json(msg="bench_bare: %s" % exc, invocation=invocation)
    wrong = []
    for spec in created:
        link = after.get(spec["name"])
        parent = before[spec["parent"]]["ifindex"]
        got = link and (link["kind"], link["parent_ifindex"], link.get("mode"), link["link_state"])
        if got != (spec["type"], parent, spec["mode"], spec["link_state"]):
            wrong.append(spec["name"])
    if wrong:
        module.fail_json(
            msg="bench_bare: not as requested after the change: %s" % ", ".join(wrong), invocation=invocation
        )
    module.exit_json(
        changed=bool(created),
        created=[spec["name"] for spec in created],
        links_total=len(wanted),
        invocation=invocation,
    )


if __name__ == "__main__":
    main()
