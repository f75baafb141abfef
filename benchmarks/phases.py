# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's own time, phase by phase, without Ansible: one fresh process per measurement.

Usage: python benchmarks/phases.py LINKS_JSON NETNS [--check]

Runs the code path of ``hostnet.macvlan.macvlan_state`` in this process, from the outside (nothing in plugins/
is changed): the imports, argument-spec validation, the model's validation, opening the netlink handle, and
then the steps of ``LinkEngine.converge`` one by one (observe, plan, apply, read back and verify), and finally
building and serialising the result the module returns. Prints one JSON object: seconds per phase, the total,
the number of actions, and the process's peak RSS. The collection must be importable
(PYTHONPATH=.build/collections).

The steps mirror ``_runner.LinkEngine.converge`` and ``_runner.run_state_module``; ``--whole`` times
``converge`` as one call instead, to check that the split adds nothing.
"""

from __future__ import annotations

import json
import resource
import sys
import time

CLOCK = time.perf_counter


def main(argv):
    check = "--check" in argv
    whole = "--whole" in argv
    args = [a for a in argv if not a.startswith("--")]
    links_path, netns = args[0], args[1]
    with open(links_path) as handle:
        links = json.load(handle)
    times = {}

    def phase(name, start):
        now = CLOCK()
        times[name] = times.get(name, 0.0) + now - start
        return now

    t = CLOCK()
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: F401 (what AnsibleModule uses)

    t = phase("import ansible", t)
    import pyroute2  # noqa: F401

    t = phase("import pyroute2", t)
    from ansible_collections.hostnet.macvlan.plugins.module_utils import _model, _netlink, _plan, _runner

    t = phase("import engine", t)

    validated = ArgumentSpecValidator(_runner.STATE_OPTIONS).validate({"links": links, "netns": netns})
    if validated.error_messages:
        raise SystemExit("argument spec: %s" % validated.error_messages)
    params = validated.validated_parameters
    t = phase("argspec", t)

    specs = []
    for index, link in enumerate(params["links"]):
        spec = _model.normalize_link(dict(link, netns=netns), prefix="links[%d]." % index)
        if spec["state"] == "present":
            _model.check_kernel_support(spec, _netlink.kernel_release(), "links[%d]." % index)
        specs.append(spec)
    _plan.check_link_set(specs)
    t = phase("validate", t)

    with _netlink.Session() as session:
        engine = _runner.LinkEngine(session, check)
        session.handle(netns)
        t = phase("open", t)
        if whole:
            entries, parent_entries, after = engine.converge(specs, netns=netns)
            t = phase("converge", t)
            actions = _plan.order_actions([a for e in parent_entries + entries for a in e["actions"]])
        else:
            snapshots = engine.observe(specs, netns)
            t = phase("observe", t)
            entries, parent_entries = engine.plan(specs, snapshots, (), netns)
            actions = _plan.order_actions([a for e in parent_entries + entries for a in e["actions"]])
            t = phase("plan", t)
            after = None
            if actions and not check:
                for action in actions:
                    session.apply(action)
                t = phase("apply", t)
                after = engine.observe(specs, netns)
                problems = []
                for entry in entries:
                    problems += _plan.verify_link(entry["spec"], engine.read_view(entry["spec"], after))
                if problems:
                    raise SystemExit("verification failed: %s" % problems[:5])
                t = phase("verify", t)

        result_links = {}
        before_links = {}
        after_links = {}
        for entry in entries:
            spec = entry["spec"]
            view, link = _runner.read_back(spec, after, entry)
            result_links[spec["name"]] = _runner.full_view(view, link, spec)
            before_links[spec["name"]] = _runner.diff_view(entry["before"], spec["name"])
            after_links[spec["name"]] = _runner.diff_view(view, spec["name"])
        result = {
            "changed": bool(actions),
            "actions": [_plan.describe(a) for a in actions],
            "links": result_links,
        }
        output = json.dumps(result)
        t = phase("result", t)
    times["close"] = CLOCK() - t
    print(
        json.dumps(
            {
                "phases": times,
                "total": sum(times.values()),
                "actions": len(actions),
                "changed": bool(actions),
                "result_bytes": len(output),
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "pyroute2": getattr(pyroute2, "__version__", None),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
