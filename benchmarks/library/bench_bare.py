# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark fixture, not shipped: the least a verified create of macvlan_state's links costs.

bench.py loads it through ANSIBLE_LIBRARY (benchmarks/library) as ``bench_bare``. It takes ``macvlan_state``'s
argument spec (``_options.STATE_OPTIONS``, imported, as ``bench_noop`` does) and does only what any module that
creates links and says what it did must do: in the namespace ``netns``, one dump of the links, one RTM_NEWLINK per
missing link (the collection's own request, ``_rtnl.create_link_request``: the same bytes macvlan_state sends),
one dump to read them back, a check that each is there with its parent, kind, mode and state, and a result that
names the links it created. No normalisation beyond the defaults, no plan, no lock, no journal, no rollback (a
failure leaves what was created), no addresses or routes, no result views: it is a floor, not a module to use.

Against the do-nothing module (``bench_noop``), its slope is what creating and verifying links costs through
Ansible at the least; macvlan_state's create beyond it is the collection's own work on a create.
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _netns, _rtnl
from ansible_collections.hostnet.macvlan.plugins.module_utils._options import STATE_OPTIONS

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

DEFAULTS = {"type": "macvlan", "mode": "bridge", "link_state": "up"}


def dump_links(sock):
    return {link["name"]: link for link in sock.dump(_rtnl.link_dump_request, _rtnl.RTM_NEWLINK, parse_link)}


def parse_link(buf, start, end):
    return _rtnl.parse_link(buf, start, end, True)


def main():
    module = AnsibleModule(argument_spec=STATE_OPTIONS, supports_check_mode=False)
    wanted = [dict(DEFAULTS, **{k: v for k, v in link.items() if v is not None}) for link in module.params["links"]]
    netns = module.params["netns"]
    invocation = {"module_args": {"links": "%d entries, not echoed" % len(wanted), "netns": netns}}
    try:
        sock = _netns.in_netns(netns or None, "netns", _rtnl.RtnlSocket)
        try:
            before = dump_links(sock)
            created = []
            for spec in wanted:
                if spec["name"] in before:
                    continue
                parent_index = before[spec["parent"]]["ifindex"]
                sock.request(lambda seq, spec=spec, index=parent_index: _rtnl.create_link_request(spec, index, seq))
                created.append(spec)
            after = dump_links(sock) if created else before
        finally:
            sock.close()
    except (_rtnl.RtnlError, _netns.NetlinkFailure, KeyError) as exc:
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
