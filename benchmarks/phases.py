# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's own time, phase by phase, without Ansible: one fresh process per measurement.

Usage: python benchmarks/phases.py LINKS_JSON NETNS [--check]

Runs the real ``hostnet.macvlan.macvlan_state`` module in this process (its ``main()``, with its arguments
in a file as Ansible's debugging entry point reads them) and times it from the outside, without changing
anything in plugins/: the engine's methods are wrapped with timers. The phases:

  import ansible   ansible.module_utils.basic (AnsibleModule)
  import pyroute2  pyroute2 itself
  import engine    the collection's module and module_utils
  argspec          AnsibleModule(): the argument spec applied to the N link dicts
  validate         run_state_module until the engine starts: the model's validation, opening the session
  observe          LinkEngine.observe, first call: the netlink dumps (links, addresses, routes)
  plan             LinkEngine.plan: planning every link
  apply            Session.apply, every call: one netlink request per action
  verify           LinkEngine.observe, second call: the read-back dumps
  engine other     the rest of LinkEngine.converge (ordering, comparing the read-back)
  result           building the return value and serialising it (exit_json)

Prints one JSON object: seconds per phase, the total, changed, and the process's peak RSS. The collection
must be importable (PYTHONPATH=.build/collections).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

CLOCK = time.perf_counter


class Timer:
    def __init__(self):
        self.times = {}
        self.cpu = {}  # phase -> [user, system] seconds, for the wrapped calls
        self.marks = {}

    def add(self, name, seconds):
        self.times[name] = self.times.get(name, 0.0) + seconds

    def wrap(self, owner, attr, name_of_call):
        """Replace owner.attr by a wrapper adding its time to the phase ``name_of_call(call_number)``."""
        original = getattr(owner, attr)
        count = [0]

        def wrapper(*args, **kwargs):
            start = CLOCK()
            cpu = os.times()
            try:
                return original(*args, **kwargs)
            finally:
                name = name_of_call(count[0])
                self.add(name, CLOCK() - start)
                now = os.times()
                self.cpu.setdefault(name, [0.0, 0.0])
                self.cpu[name][0] += now.user - cpu.user
                self.cpu[name][1] += now.system - cpu.system
                count[0] += 1

        setattr(owner, attr, wrapper)


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if not a.startswith("--")]
    links_path, netns = args[0], args[1]
    with open(links_path) as handle:
        links = json.load(handle)
    timer = Timer()

    t = CLOCK()
    from ansible.module_utils import basic  # noqa: F401

    timer.add("import ansible", CLOCK() - t)
    t = CLOCK()
    import pyroute2

    timer.add("import pyroute2", CLOCK() - t)
    t = CLOCK()
    from ansible_collections.hostnet.macvlan.plugins.module_utils import _netlink, _runner
    from ansible_collections.hostnet.macvlan.plugins.modules import macvlan_state

    timer.add("import engine", CLOCK() - t)

    marks = timer.marks
    timer.wrap(_runner.LinkEngine, "observe", lambda n: "observe" if n == 0 else "verify")
    timer.wrap(_runner.LinkEngine, "plan", lambda n: "plan")
    timer.wrap(_netlink.Session, "apply", lambda n: "apply")
    original_converge = _runner.LinkEngine.converge

    def converge(self, *a, **k):
        marks["converge start"] = CLOCK()
        try:
            return original_converge(self, *a, **k)
        finally:
            marks["converge end"] = CLOCK()

    _runner.LinkEngine.converge = converge
    original_run = macvlan_state.run_state_module

    def run_state_module(module):
        marks["run start"] = CLOCK()
        return original_run(module)

    macvlan_state.run_state_module = run_state_module

    arguments = {"links": links, "netns": netns, "_ansible_check_mode": check}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": arguments}, handle)
    sys.argv = [macvlan_state.__file__, handle.name]
    out = io.StringIO()
    start = CLOCK()
    code = 0
    try:
        with contextlib.redirect_stdout(out):
            macvlan_state.main()
    except SystemExit as exc:
        code = exc.code or 0
    end = CLOCK()
    Path(handle.name).unlink()
    text = out.getvalue()
    result = json.loads(text[text.index("{") :]) if "{" in text else {}
    if code or result.get("failed") or "converge end" not in marks:
        raise SystemExit("macvlan_state failed (exit %s): %s" % (code, result.get("msg") or text[-2000:]))

    times = timer.times
    times["argspec"] = marks["run start"] - start
    times["validate"] = marks["converge start"] - marks["run start"]
    engine = sum(times.get(p, 0.0) for p in ("observe", "plan", "apply", "verify"))
    times["engine other"] = (marks["converge end"] - marks["converge start"]) - engine
    times["result"] = end - marks["converge end"]
    print(
        json.dumps(
            {
                "phases": times,
                "phases_cpu": timer.cpu,
                "total": sum(times.values()),
                "changed": bool(result.get("changed")),
                "actions": len(result.get("actions") or []),
                "result_bytes": len(text),
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "pyroute2": getattr(pyroute2, "__version__", None),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
