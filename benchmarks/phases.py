# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module's own time, phase by phase, without Ansible: one fresh process per measurement.

Usage: python benchmarks/phases.py LINKS_JSON NETNS [--check]

Runs the real ``hostnet.macvlan.macvlan_state`` module in this process (its ``main()``, with its arguments
in a file as Ansible's debugging entry point reads them) and times it from the outside, without changing
anything in plugins/: the engine's methods are wrapped with timers. The phases:

  import ansible   ansible.module_utils.basic (AnsibleModule)
  import pyroute2  pyroute2 itself, when the run imports it (the engine does that lazily, for a change that needs
                   it: 0 when it did not); its time is taken out of the phase that triggered it
  import engine    the collection's module and module_utils
  argspec          AnsibleModule(): the argument spec applied to the N link dicts
  validate         run_state_module until the engine starts: the model's validation, opening the session
  observe          LinkEngine.observe, first call: the netlink dumps (links, addresses, routes)
  plan             LinkEngine.plan: planning every link
  apply            Session.apply, every call: one netlink request per action
  verify           LinkEngine.observe, second call: the read-back dumps
  engine other     the rest of LinkEngine.converge (ordering, comparing the read-back)
  result           building the return value and serialising it (exit_json)

Prints one JSON object: seconds per phase, the total, changed, whether pyroute2 was imported, and the process's
peak RSS. The collection must be importable (PYTHONPATH=.build/collections).
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
        self.nested = []  # time of wrapped calls inside the running wrapped call (exclusive times)
        self.spans = {}  # phase -> [(start, end)] of the wrapped calls

    def add(self, name, seconds):
        self.times[name] = self.times.get(name, 0.0) + seconds

    def wrap(self, owner, attr, name_of_call):
        """Replace owner.attr by a wrapper adding its time to the phase ``name_of_call(call_number)``."""
        original = getattr(owner, attr)
        count = [0]

        def wrapper(*args, **kwargs):
            start = CLOCK()
            cpu = os.times()
            self.nested.append([0.0, 0.0, 0.0])  # wall, user, system of wrapped calls inside this one
            try:
                return original(*args, **kwargs)
            finally:
                end = CLOCK()
                now = os.times()
                inner = self.nested.pop()
                wall, user, system = end - start, now.user - cpu.user, now.system - cpu.system
                name = name_of_call(count[0])
                if name is not None:
                    self.add(name, wall - inner[0])
                    self.spans.setdefault(name, []).append((start, end))
                    self.cpu.setdefault(name, [0.0, 0.0])
                    self.cpu[name][0] += user - inner[1]
                    self.cpu[name][1] += system - inner[2]
                if self.nested:
                    outer = self.nested[-1]
                    outer[0] += wall
                    outer[1] += user
                    outer[2] += system
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
    from ansible_collections.hostnet.macvlan.plugins.module_utils import _netlink, _runner
    from ansible_collections.hostnet.macvlan.plugins.modules import macvlan_state

    timer.add("import engine", CLOCK() - t)
    imported_before = "pyroute2" in sys.modules

    marks = timer.marks
    # The engine imports pyroute2 on first use (_netlink.pyroute2()): its first call is the import.
    if hasattr(_netlink, "pyroute2") and not imported_before:
        timer.wrap(_netlink, "pyroute2", lambda n: "import pyroute2" if n == 0 else None)
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
    times.setdefault("import pyroute2", 0.0)

    def outside_import(begin, finish):
        """Seconds of [begin, finish] minus the pyroute2 import when it happened in that span."""
        spans = timer.spans.get("import pyroute2", [])
        return (finish - begin) - sum(e - s for s, e in spans if begin <= s and e <= finish)

    times["argspec"] = outside_import(start, marks["run start"])
    times["validate"] = outside_import(marks["run start"], marks["converge start"])
    engine = sum(times.get(p, 0.0) for p in ("observe", "plan", "apply", "verify"))
    converge = outside_import(marks["converge start"], marks["converge end"])
    times["engine other"] = converge - engine
    times["result"] = outside_import(marks["converge end"], end)
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
                "pyroute2_imported": "pyroute2" in sys.modules and not imported_before,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
