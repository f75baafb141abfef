# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where an unchanged rerun's cost over the do-nothing module goes, process by process, in CPU time.

Usage (root; the collection linked into .build/collections, as ``make bench`` does):

    .venv/bin/python benchmarks/attribute.py [--step rerun|create] [--links 1024] [--pairs 6]
                                             [--break-ansible-cycles] [--out DIR]

In pairs, a one-task playbook with the do-nothing module (``benchmarks/library/bench_noop.py``, macvlan_state's
arguments) and one with ``macvlan_state`` and the same N links, both with the links as inventory host variables, as
``make bench`` runs them. ``--step rerun`` (default): the namespace gets the N macvlans first (``ip -batch``) and
every ``macvlan_state`` run changes nothing. ``--step create``: before each ``macvlan_state`` run the namespace's
macvlans are removed (their parent deleted and added again) and the kernel is let settle, so each run creates the
N links. A probe (a ``sitecustomize`` on PYTHONPATH, written to a temporary directory) records in each process, when
it ends: its CPU time (user + system) and the time its full (generation 2) garbage collections took. The processes are Ansible's
worker (forked per task: templating, building the AnsiballZ payload, starting the module, reading its result),
the module (the interpreter running the payload) and ``ansible-playbook`` itself (which mostly polls its worker, so
its CPU time grows with the task's length). Paired medians of the differences are printed and written to
``--out`` (attribution-<step>.json, attribution-<step>.md).

``--break-ansible-cycles`` runs the pairs a second time with ansible-core's ``ModuleDepFinder`` patched in the
controller (only in these runs, through the probe) so that the syntax trees it parses of every shipped module_utils
file are freed when it is done with them: in ansible-core 2.19 each finder keeps its tree in a reference cycle
(``_visit_map`` holds bound methods of the finder, ``_tree`` the tree, and every import node gets a ``parent``), so
the trees of a module's module_utils live until the worker's next full collection, which they also bring on. The
second table shows what that costs the collection's modules, as a measurement of ansible-core, not a change to it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _lab  # noqa: E402
from bench import BIN, COLLECTIONS, HERE, PLAY_HEAD, PLAYS, PYTHON, wait_kernel_quiet  # noqa: E402

PROBE = """\
import atexit, gc, json, os, sys, time

_OUT = os.environ.get("HOSTNET_ATTRIBUTE_OUT")
if _OUT:
    _PID = os.getpid()
    _FULL = [0.0, 0]
    _START = [0.0]

    def _gc(phase, info):
        if phase == "start":
            _START[0] = time.process_time()
        elif info["generation"] == 2:
            _FULL[0] += time.process_time() - _START[0]
            _FULL[1] += 1

    gc.callbacks.append(_gc)

    def _record(process):
        times = os.times()
        with open(_OUT, "a") as out:
            out.write(json.dumps({"label": os.environ["HOSTNET_ATTRIBUTE_LABEL"], "process": process,
                                  "cpu_s": times.user + times.system, "gc_full_s": _FULL[0],
                                  "gc_full": _FULL[1]}) + "\\n")

    def _at_exit():
        if os.getpid() == _PID:
            _record("ansible-playbook" if sys.argv[0].endswith("ansible-playbook") else "module")

    atexit.register(_at_exit)
    _exit = os._exit

    def _forked_exit(code):  # Ansible's worker leaves through os._exit
        if os.getpid() != _PID:
            _record("worker")
        _exit(code)

    os._exit = _forked_exit

if os.environ.get("HOSTNET_ATTRIBUTE_BREAK_CYCLES"):
    import importlib.abc

    def _break_cycles():
        from ansible.executor import module_common

        finder = module_common.ModuleDepFinder
        init = finder.__init__

        def __init__(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self._visit_map = None  # bound methods of self: a cycle
            self._tree = None

        def unparent(visit):
            def visit_without_parent(self, node):
                try:
                    return visit(self, node)
                finally:
                    node.__dict__.pop("parent", None)  # the node is in its parent's body: a cycle

            return visit_without_parent

        finder.__init__ = __init__
        finder.visit_Import = unparent(finder.visit_Import)
        finder.visit_ImportFrom = unparent(finder.visit_ImportFrom)

    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname == "ansible.executor.task_queue_manager":
                sys.meta_path.remove(self)
                _break_cycles()
            return None

    sys.meta_path.insert(0, _Hook())
"""

PROCESSES = ("worker", "module", "ansible-playbook")


def run_pairs(work, lab, step, pairs, break_cycles):
    records = work / ("records-%s-%s.jsonl" % (step, "patched" if break_cycles else "plain"))
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_LIBRARY=str(HERE / "library"),
        PYTHONPATH=str(work / "probe"),
        HOSTNET_ATTRIBUTE_OUT=str(records),
    )
    env.pop("HOSTNET_ATTRIBUTE_BREAK_CYCLES", None)
    if break_cycles:
        env["HOSTNET_ATTRIBUTE_BREAK_CYCLES"] = "1"
    for pair in range(pairs):
        for kind in ("noop", "state"):
            label = "%s-%d" % (kind, pair)
            creates = step == "create" and kind == "state"
            if creates:
                lab.empty()
            wait_kernel_quiet()  # creating links leaves the kernel seconds of IPv6 work (docs/benchmarks.md)
            cmd = [str(BIN / "ansible-playbook"), "-i", str(work / "inventory.json"), str(work / ("%s.yml" % kind))]
            done = subprocess.run(
                cmd, env=dict(env, HOSTNET_ATTRIBUTE_LABEL=label), cwd=work, capture_output=True, text=True, check=False
            )
            expected = "changed=1" if creates else "changed=0"
            if done.returncode != 0 or expected not in done.stdout:
                raise SystemExit(
                    "%s: expected %s (rc %s):\n%s" % (label, expected, done.returncode, done.stdout[-3000:])
                )
    by = collections.defaultdict(dict)
    for line in records.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        by[item["label"]][item["process"]] = item
    rows = {}
    for process in PROCESSES:
        for key in ("cpu_s", "gc_full_s"):
            diffs, noops = [], []
            for pair in range(pairs):
                noop, state = by["noop-%d" % pair].get(process), by["state-%d" % pair].get(process)
                if noop is None or state is None:
                    raise SystemExit("pair %d: no %s record (probe not loaded?)" % (pair, process))
                diffs.append(state[key] - noop[key])
                noops.append(noop[key])
            rows["%s %s" % (process, key)] = {
                "noop_median": statistics.median(noops),
                "difference_median": statistics.median(diffs),
                "differences": diffs,
            }
    totals = [
        sum(by["state-%d" % p][proc]["cpu_s"] - by["noop-%d" % p][proc]["cpu_s"] for proc in ("worker", "module"))
        for p in range(pairs)
    ]
    rows["worker + module cpu_s"] = {"difference_median": statistics.median(totals), "differences": totals}
    return rows


def table(title, rows):
    lines = [
        "### " + title,
        "",
        "| process, measure | do-nothing module (median) | macvlan_state − do-nothing (paired median) |",
        "|---|---|---|",
    ]
    for name, row in rows.items():
        noop = "%.3f s" % row["noop_median"] if "noop_median" in row else "—"
        lines.append("| %s | %s | %+.3f s |" % (name, noop, row["difference_median"]))
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--step", choices=("rerun", "create"), default="rerun")
    parser.add_argument("--links", type=int, default=1024)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--break-ansible-cycles", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("attribute.py: needs root (network namespaces, links)")
    links = _lab.link_specs(args.links)
    with tempfile.TemporaryDirectory(prefix="hostnet-attribute-") as tmp, _lab.Lab(1, "attr") as lab:
        work = Path(tmp)
        (work / "probe").mkdir()
        (work / "probe" / "sitecustomize.py").write_text(PROBE, encoding="utf-8")
        if args.step == "rerun":
            lab.batch(["link add %s link %s up type macvlan mode bridge" % (s["name"], s["parent"]) for s in links])
        host = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON, "bench_links": links}
        host["bench_ns"] = lab.ns
        (work / "inventory.json").write_text(json.dumps({"all": {"hosts": {"localhost": host}}}), encoding="utf-8")
        for kind in ("noop", "state"):  # make bench's plays
            (work / ("%s.yml" % kind)).write_text(PLAY_HEAD.format(title=kind) + PLAYS[kind], encoding="utf-8")
        results = {"step": args.step, "links": args.links, "pairs": args.pairs}
        results["plain"] = run_pairs(work, lab, args.step, args.pairs, False)
        if args.break_ansible_cycles:
            results["ansible_cycles_broken"] = run_pairs(work, lab, args.step, args.pairs, True)
    what = "Unchanged %d-link rerun" if args.step == "rerun" else "Creating %d links"
    text = "## %s over the do-nothing module, CPU time by process (%d pairs)\n\n" % (what % args.links, args.pairs)
    text += table("ansible-core as released", results["plain"])
    if "ansible_cycles_broken" in results:
        text += "\n" + table(
            "ansible-core's ModuleDepFinder cycles broken (measurement only)", results["ansible_cycles_broken"]
        )
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / ("attribution-%s.json" % args.step)).write_text(json.dumps(results, indent=1), encoding="utf-8")
        (args.out / ("attribution-%s.md" % args.step)).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
