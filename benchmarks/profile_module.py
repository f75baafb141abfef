# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the module process's time goes, as Ansible runs it: the AnsiballZ payload of one macvlan_state task.

Usage (root; the collection linked into .build/collections, as ``make bench`` does):

    .venv/bin/python benchmarks/profile_module.py [--links 1024] [--reps 5] [--out benchmarks/results/profiles]

One ``ansible-playbook`` run with ANSIBLE_KEEP_REMOTE_FILES=1 leaves the AnsiballZ file of a macvlan_state task
with N links (and one of the do-nothing fixture module ``bench_noop`` with the same arguments). Both files are then
run directly, without the controller, in a namespace of their own:

- ``create`` (the namespace's links removed before each run by deleting and re-adding the parent) and ``rerun``
  (nothing to change): wall and CPU time of the process, medians of ``--reps`` runs; the same for bench_noop;
- ``python -X importtime``: the imports of each (cumulative microseconds per top-level package);
- ``python -m cProfile AnsiballZ_*.py execute`` (the exploded payload, run in-process by Ansible's own loader):
  the functions with the most own time and the most cumulative time, and the time per source area.

Writes ``profile-<step>-<N>.txt`` (cProfile), ``importtime-<N>.txt`` and ``profile-summary.json`` to --out.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _lab  # noqa: E402

PYTHON = sys.executable
BIN = Path(PYTHON).parent
COLLECTIONS = ROOT / ".build" / "collections"

BOOK = """\
- name: Keep the AnsiballZ files
  hosts: all
  gather_facts: false
  vars_files: [vars.json]
  tasks:
    - name: The do-nothing module with macvlan_state's arguments
      bench_noop:
        links: "{{ bench_links }}"
        netns: "{{ bench_ns }}"
    - name: All links in one macvlan_state task (only its payload is needed here)
      hostnet.macvlan.macvlan_state:
        links: "{{ bench_links }}"
        netns: "{{ bench_ns }}"
      ignore_errors: true
"""

# Where a function's file lies, for the time per area (first match wins).
AREAS = (
    ("collection: _rtnl (netlink codec)", "module_utils/_rtnl.py"),
    ("collection: _netlink", "module_utils/_netlink.py"),
    ("collection: _model (validation)", "module_utils/_model.py"),
    ("collection: _plan", "module_utils/_plan.py"),
    ("collection: _engine", "module_utils/_engine.py"),
    ("collection: _observed", "module_utils/_observed.py"),
    ("collection: _results", "module_utils/_results.py"),
    ("collection: _runner", "module_utils/_runner.py"),
    ("collection: _journal/_lock/_confirm", "module_utils/_journal.py"),
    ("collection: _journal/_lock/_confirm", "module_utils/_lock.py"),
    ("collection: _journal/_lock/_confirm", "module_utils/_confirm.py"),
    ("collection: _options/_netns/_persist*", "macvlan/plugins/module_utils/_"),
    ("pyroute2", "pyroute2"),
    # parameters.py holds both the argument-spec checks and remove_values (no_log sanitizing of the result): its
    # share of each is in the cumulative table below.
    ("ansible: argument spec, remove_values", "module_utils/common/parameters.py"),
    ("ansible: argument spec, remove_values", "module_utils/common/arg_spec.py"),
    ("ansible: argument spec, remove_values", "module_utils/common/validation.py"),
    ("ansible: JSON, data tags", "module_utils/_internal/_json"),
    ("ansible: JSON, data tags", "module_utils/_internal/_datatag"),
    ("ansible: module_utils (other)", "ansible/module_utils"),
    ("python: json", "json/"),
    ("python: zipfile, imports", "zipfile"),
    ("python: zipfile, imports", "<frozen"),
)


# Cumulative time of the functions that make up a run (file name, function name); a name the code no longer has
# shows as "—". The collection's names are those of plugins/module_utils at the time of writing.
SELECTED = (
    ("imports (every module imported while running)", "<frozen importlib._bootstrap>", "_find_and_load"),
    ("AnsibleModule(): argument spec applied to the links", "basic.py", "__init__"),
    ("  of which: the links' suboptions", "parameters.py", "_validate_sub_spec"),
    ("the collection's run (run_state_module)", "_runner.py", "run_state_module"),
    ("  model: normalize_link, every link", "_model.py", "normalize_link"),
    ("  engine: observe, every call (dumps and parsing)", "_engine.py", "observe"),
    ("    rtnl: parse_link", "_rtnl.py", "parse_link"),
    ("    rtnl: parse_address", "_rtnl.py", "parse_address"),
    ("    rtnl: parse_route", "_rtnl.py", "parse_route"),
    ("  engine: plan", "_engine.py", "plan"),
    ("    plan: link_view (the before/after views)", "_plan.py", "link_view"),
    ("  netlink: apply, every action", "_netlink.py", "apply"),
    ("    socket send (the kernel's work, in the syscall)", "~", "<method 'send' of '_socket.socket' objects>"),
    ("  engine: read back", "_engine.py", "_read_back"),
    ("  results: invocation", "_results.py", "invocation"),
    ("exit_json (sanitize, serialize, print)", "basic.py", "exit_json"),
    ("  of which: remove_values (no_log sanitizing)", "parameters.py", "remove_values"),
    ("ipaddress objects, every caller (ip_interface, ip_network)", "ipaddress.py", ("ip_interface", "ip_network")),
)


def selected(stats):
    """{label: cumulative seconds or None} of SELECTED (before strip_dirs: matched on the file name's end)."""
    out = {}
    for label, filename, names in SELECTED:
        names = (names,) if isinstance(names, str) else names
        total, found = 0.0, False
        for (file, _line, func), (_cc, _nc, _tt, cumtime, _callers) in stats.stats.items():
            if func in names and (file == filename or file.endswith("/" + filename)):
                total += cumtime
                found = True
        if filename.startswith("<frozen"):  # recursive: the outermost call holds the total
            total = max(
                (v[3] for (file, _l, func), v in stats.stats.items() if file == filename and func in names),
                default=0.0,
            )
        out[label] = total if found else None
    return out


def sh(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw)


def reset(ns):
    """Remove the namespace's macvlans: delete the parent (its macvlans go with it) and add it again."""
    lines = "link del bp0\nlink add bp0 type veth peer name bp0x\nlink set bp0 up\nlink set bp0x up\n"
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=lines, text=True, check=True)
    time.sleep(SETTLE_S)


# After removing 1024 links the kernel finishes their clean-up asynchronously; give it a moment before timing.
SETTLE_S = 2.0
# A create whose read-back keeps being interrupted by the kernel's own asynchronous work on the new links (IPv6
# autoconfiguration) fails and rolls back ("kept changing"): on a loaded machine this happens; it is counted and
# the run repeated, at most this many times.
CREATE_ATTEMPTS = 3


def create(payload, ns, cwd, failures):
    """A timed create run after a reset; repeated when the read-back was interrupted (counted in ``failures``)."""
    for _attempt in range(CREATE_ATTEMPTS):
        reset(ns)
        wall, cpu, result = run_process(payload, cwd, check=False)
        if not result.get("failed"):
            if not result.get("changed"):
                raise SystemExit("the create run reported no change: %s" % str(result)[:500])
            return wall, cpu, result
        failures.append(str(result.get("msg"))[:300])
    return None


def create_with_ip(ns, links):
    """The links as the task asks them, created by iproute2 (when the module's create kept failing)."""
    reset(ns)
    lines = "".join("link add %s link %s up type macvlan mode bridge\n" % (s["name"], s["parent"]) for s in links)
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=lines, text=True, check=True)
    time.sleep(SETTLE_S)


def keep_payloads(work, links, ns):
    """Run the playbook once with ANSIBLE_KEEP_REMOTE_FILES=1; the two AnsiballZ files, copied into work."""
    (work / "vars.json").write_text(json.dumps({"bench_links": links, "bench_ns": ns}), encoding="utf-8")
    (work / "book.yml").write_text(BOOK, encoding="utf-8")
    (work / "inventory.ini").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=%s\n" % PYTHON, encoding="utf-8"
    )
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_LIBRARY=str(HERE / "library"),
        ANSIBLE_KEEP_REMOTE_FILES="1",
        ANSIBLE_REMOTE_TEMP=str(work / "remote"),
        ANSIBLE_LOCAL_TEMP=str(work / "local"),
        ANSIBLE_NOCOLOR="1",
    )
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "inventory.ini", "book.yml"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit("the playbook failed:\n%s" % proc.stdout[-3000:])
    found = {}
    for name in ("bench_noop", "macvlan_state"):
        paths = sorted((work / "remote").glob("ansible-tmp-*/AnsiballZ_%s.py" % name))
        if not paths:
            raise SystemExit("no AnsiballZ_%s.py kept under %s" % (name, work / "remote"))
        target = work / paths[-1].name
        shutil.copy(paths[-1], target)
        found[name] = target
    return found


def timed(cmd, cwd, check=True):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode and check:
        raise SystemExit("%s failed: %s" % (cmd, (out + err)[-2000:]))
    return wall, out.decode(errors="replace"), err.decode(errors="replace")


def run_process(payload, cwd, check=True):
    """Wall and CPU seconds of one run of an AnsiballZ file, and its result."""
    before = os.times()
    wall, out, _err = timed([PYTHON, str(payload)], cwd, check=check)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, json.loads(out[out.index("{") :])


def importtime(payload, cwd):
    """{top-level package: cumulative microseconds} of the imports of one run (``-X importtime``)."""
    _wall, _out, err = timed([PYTHON, "-X", "importtime", str(payload)], cwd)
    totals, lines = {}, []
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        _self, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        depth = (len(name) - len(name.lstrip())) // 2
        name = name.strip()
        lines.append((int(cumulative), depth, name))
        if depth == 0:
            top = name.split(".")[0]
            if name.startswith("ansible_collections."):
                top = ".".join(name.split(".")[:6])
            totals[top] = totals.get(top, 0) + int(cumulative)
    return totals, lines


# ``python -m cProfile payload`` would make the payload's wrapper drop the standard library from sys.path (it removes
# the directory of __main__.__file__, then cProfile's); this runner keeps __main__ the payload itself.
RUNNER = """\
import cProfile, runpy, sys, time
payload, out, timer = sys.argv[1], sys.argv[2], sys.argv[3]
sys.argv = [payload, "execute"]
profile = cProfile.Profile(time.process_time if timer == "cpu" else time.perf_counter)
profile.enable()
try:
    runpy.run_path(payload, run_name="__main__")
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats(out)
"""


def cprofile(payload, cwd, out_prof, timer="cpu"):
    """cProfile of ``payload execute`` (the exploded payload, run in-process by Ansible's loader); ``timer`` cpu
    counts the process's CPU time (user + system: its own work and the kernel's work for it, not waiting)."""
    sh(PYTHON, str(payload), "explode", cwd=cwd)
    runner = Path(cwd) / "cprofile_runner.py"
    runner.write_text(RUNNER, encoding="utf-8")
    _wall, out, _err = timed([PYTHON, str(runner), str(payload), str(out_prof), timer], cwd)
    stats = pstats.Stats(str(out_prof))
    return stats, json.loads(out[out.index("{") :])


def areas(stats):
    """Own time per source area (seconds)."""
    totals = {}
    for (filename, _line, _func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        area = "other"
        for label, needle in AREAS:
            if needle in filename:
                area = label
                break
        totals[area] = totals.get(area, 0.0) + tottime
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def top(stats, key, count):
    buf = io.StringIO()
    stats.stream = buf
    stats.sort_stats(key).print_stats(count)
    return buf.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--links", type=int, default=1024, help="links in the task (default 1024)")
    parser.add_argument("--reps", type=int, default=5, help="timed runs of each payload and step (default 5)")
    parser.add_argument(
        "--timer",
        choices=("cpu", "wall"),
        default="cpu",
        help="cProfile's clock: cpu (process time; default, less sensitive to other load) or wall",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profiles", help="output directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("profile_module: needs root (network namespaces)")
    args.out.mkdir(parents=True, exist_ok=True)
    links = _lab.link_specs(args.links)
    work = Path(tempfile.mkdtemp(prefix="hostnet-profile-"))
    summary = {"links": args.links, "reps": args.reps, "timer": args.timer, "load_at_start": os.getloadavg()}
    try:
        with _lab.Lab(1, "prof") as lab:
            payloads = keep_payloads(work, links, lab.ns)
            summary["payload_bytes"] = {name: path.stat().st_size for name, path in payloads.items()}
            # Timed runs: create (after a reset) and rerun, interleaved with the do-nothing module.
            runs = {"create": [], "rerun": [], "noop": []}
            failures = summary["create_failures"] = []
            for _rep in range(args.reps):
                created = create(payloads["macvlan_state"], lab.ns, work, failures)
                if created is None:
                    create_with_ip(lab.ns, links)
                else:
                    runs["create"].append((created[0], created[1], len(json.dumps(created[2]))))
                wall, cpu, result = run_process(payloads["macvlan_state"], work)
                if result.get("changed") or result.get("failed"):
                    raise SystemExit("the rerun changed something or failed: %s" % str(result)[:500])
                runs["rerun"].append((wall, cpu, len(json.dumps(result))))
                wall, cpu, result = run_process(payloads["bench_noop"], work)
                runs["noop"].append((wall, cpu, len(json.dumps(result))))
            summary["process"] = {
                step: {
                    "wall_s": statistics.median(r[0] for r in values),
                    "cpu_s": statistics.median(r[1] for r in values),
                    "result_bytes": values[-1][2],
                }
                for step, values in runs.items()
                if values
            }
            # Imports of each payload (a rerun: nothing to change).
            text = []
            summary["imports_us"] = {}
            for name in ("macvlan_state", "bench_noop"):
                totals, lines = importtime(payloads[name], work)
                summary["imports_us"][name] = totals
                text.append("== %s (rerun), imports by cumulative time, top 40 (microseconds)" % name)
                text += ["%9d  %s%s" % (cum, "  " * depth, nm) for cum, depth, nm in sorted(lines, reverse=True)[:40]]
                text.append("")
            (args.out / ("importtime-%d.txt" % args.links)).write_text("\n".join(text) + "\n", encoding="utf-8")
            # cProfile of the exploded payloads, in-process.
            summary["areas_s"] = {}
            for step, name in (("create", "macvlan_state"), ("rerun", "macvlan_state"), ("noop", "bench_noop")):
                for _attempt in range(CREATE_ATTEMPTS if step == "create" else 1):
                    if step == "create":
                        reset(lab.ns)
                    stats, result = cprofile(payloads[name], work, work / ("%s.prof" % step), args.timer)
                    if not result.get("failed"):
                        break
                    failures.append(str(result.get("msg"))[:300])
                if result.get("failed"):
                    summary.setdefault("not_profiled", {})[step] = str(result.get("msg"))[:300]
                    create_with_ip(lab.ns, links)
                    continue
                summary["areas_s"][step] = areas(stats)
                summary.setdefault("selected_s", {})[step] = selected(stats)
                stats.strip_dirs()
                summary.setdefault("profiled_total_s", {})[step] = stats.total_tt
                report = [
                    "# cProfile (%s time) of AnsiballZ_%s.py execute, %d links, %s (changed=%s); total %.3f s"
                    % (args.timer, name, args.links, step, result.get("changed"), stats.total_tt),
                    "",
                    "## Own time per area (s)",
                    "",
                ]
                report += ["%8.4f  %s" % (v, k) for k, v in summary["areas_s"][step].items()]
                report += ["", "## Cumulative time of the parts of the run (s)", ""]
                report += [
                    "%8s  %s" % ("—" if v is None else "%.4f" % v, k) for k, v in summary["selected_s"][step].items()
                ]
                report += ["", "## Top 30 by own time", "", top(stats, "tottime", 30)]
                report += ["## Top 40 by cumulative time", "", top(stats, "cumulative", 40)]
                (args.out / ("profile-%s-%d.txt" % (step, args.links))).write_text("\n".join(report), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary["load_at_end"] = os.getloadavg()
    (args.out / "profile-summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary["process"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
