# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tables (Markdown, CSV) and the plot (PNG) from a benchmark run's raw results.

Usage: python benchmarks/report.py [benchmarks/results/results.json [OUT_DIR [BASELINE_JSON|none]]]

BASELINE_JSON (default benchmarks/baselines/before-rtnl.json): an earlier run to compare with, before → after.

bench.py calls this at the end of a run; run it alone to redraw the outputs from the JSON.
Only reads what was measured: a series or size without runs shows as "—" and is never estimated.
"""

from __future__ import annotations

import csv
import json
import random
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The run before the engine read and created links with its own rtnetlink codec (pyroute2 decoded everything).
DEFAULT_BASELINE = HERE / "baselines" / "before-rtnl.json"

# Row order and labels of the tables and the plot legend.
LABELS = {
    ("floor", "create"): "ip -batch, one process (floor)",
    ("ping", "run"): "ansible.builtin.ping playbook (Ansible's floor)",
    ("noop", "run"): "do-nothing module, macvlan_state's arguments (fixture)",
    ("aftermath", "run"): "do-nothing module started as ip -batch exits (the kernel's aftermath)",
    ("bare", "create"): "bare verified create (fixture: a request per link, one read-back)",
    ("command_loop", "create"): "naive: loop of command: ip link add",
    ("macvlan_loop", "create"): "loop of macvlan module, one task per link",
    ("macvlan_loop", "rerun"): "loop of macvlan module, rerun (no change)",
    ("state", "create"): "macvlan_state, all links in one task",
    ("state", "rerun"): "macvlan_state, rerun (no change)",
    ("state", "check"): "macvlan_state --check (plans N creations)",
    ("state_none", "create"): "macvlan_state, all links in one task, return_links: none",
    ("role", "create"): "macvlan_topology role",
    ("role", "rerun"): "macvlan_topology role, rerun (no change)",
    ("process", "create"): "macvlan_state module process, no Ansible",
    ("process", "rerun"): "macvlan_state module process, rerun",
    ("process_link", "create"): "macvlan module process (1 link), no Ansible",
    ("process_link", "rerun"): "macvlan module process (1 link), rerun",
    ("phases", "create"): "module code path in-process: create",
    ("phases", "rerun"): "module code path in-process: rerun",
    ("phases", "check"): "module code path in-process: check",
}
PLOTTED = [
    ("floor", "create"),
    ("ping", "run"),
    ("noop", "run"),
    ("aftermath", "run"),
    ("bare", "create"),
    ("command_loop", "create"),
    ("macvlan_loop", "create"),
    ("macvlan_loop", "rerun"),
    ("state", "create"),
    ("state", "rerun"),
    ("state", "check"),
    ("state_none", "create"),
    ("role", "create"),
    ("role", "rerun"),
    ("process", "create"),
    ("process", "rerun"),
    ("phases", "create"),
    ("phases", "rerun"),
]
PHASES = (
    "import ansible",
    "import pyroute2",
    "import engine",
    "argspec",
    "validate",
    "observe",
    "plan",
    "apply",
    "verify",
    "engine other",
    "result",
)
DASH = "—"
# Series measured per forks setting (k): the container fleet and the fleet of namespaces.
FLEET_SERIES = ("fleet", "fleet_role", "fleet_rollout")
# The targets of issue 11, measured against the two floors of the same run (seconds, or a ratio).
RERUN_OVER_NOOP_MAX_S = 0.3
SLOPE_OVER_FLOOR_MAX = 1.5
ROLE_OVER_TASK_MAX_S = 0.3
# The create slope is fitted from this N on (the "16 -> 1024 links").
SLOPE_FROM_N = 16
# A target's verdict is taken on an interval, not on one number. This machine's speed changes by up to a factor of
# two from one second to the next (the same piece of Python work took 31 to 65 ms of CPU time; docs/benchmarks.md),
# so one-task playbooks spread by +-0.3-0.5 s and the median of seven runs moves by as much as a target's margin:
# single medians said met in one run and missed in the next. The interval is a percentile bootstrap of the paired
# estimate (seeded, so a report drawn again from the same runs says the same); a target is met when all of it is
# within the limit, missed when all of it is beyond, not decided when it straddles the limit (more runs narrow it).
CONFIDENCE = 0.90
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 11
MIN_RUNS_FOR_INTERVAL = 3
# The one-task playbooks bench.py runs interleaved (round by round, each round every N, for each N one of each, in
# this order; N by N before the eleventh run), so that the differences the targets are made of are taken under the
# same load.
INTERLEAVED = ("ping", "noop", "aftermath", "bare", "state", "state_none", "role")


def is_fleet(key):
    return len(key) > 2


def load(path):
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data["meta"], data["records"]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(records):
    """{(series, step): {n: summary}}; fleet records are keyed (series, step, k)."""
    groups = {}
    for rec in records:
        key = (
            (rec["series"], rec["step"])
            if rec["series"] not in FLEET_SERIES
            else (rec["series"], rec["step"], rec["k"])
        )
        groups.setdefault(key, {}).setdefault(rec["n"], []).append(rec)
    out = {}
    for key, by_n in groups.items():
        for n, recs in by_n.items():
            walls = [r["wall_s"] for r in recs]
            summary = {
                "runs": len(recs),
                # Each run by its number: the interleaved series' runs of one number ran next to each other.
                "by_rep": {r["rep"]: r for r in recs if r.get("rep") is not None},
                "wall_s": median(walls),
                "wall_min_s": min(walls),
                "wall_max_s": max(walls),
                "cpu_s": median([r.get("cpu_s") for r in recs]),
                "maxrss_mb": max(r["maxrss_kb"] for r in recs) / 1024.0,
                "task_s": median([r.get("task_s") for r in recs]),
                "play_s": median([r.get("play_s") for r in recs]),
                "startup_s": median([r.get("startup_s") for r in recs]),
                "engine_s": median([r.get("engine_s") for r in recs]),
                # system + irq + softirq time of all CPUs while a playbook ran (the kernel's work, whoever it was for)
                "kernel_s": median([r.get("kernel_s") for r in recs]),
                "load1": median([r.get("load1") for r in recs]),
                "load1_max": max((r.get("load1") or 0.0) for r in recs),
            }
            if "hosts" in recs[0]:
                hosts = recs[0]["hosts"]
                summary.update(
                    {
                        "hosts": hosts,
                        "hosts_per_min": median([r["hosts_per_min"] for r in recs]),
                        "controller_cpu_per_host_s": median([r["controller_cpu_s"] / hosts for r in recs]),
                        "module_cpu_per_host_s": median([r["module_cpu_s"] / hosts for r in recs]),
                        "module_runs_per_host": median([r["module_runs"] / hosts for r in recs]),
                        "cpu_per_host_s": median([r["cpu_s"] / hosts for r in recs]),
                    }
                )
            if recs[0].get("task_times"):
                names = []
                for r in recs:
                    names += [name for name, _s in r["task_times"] if name not in names]
                summary["task_times"] = {
                    name: median([sum(sec for nm, sec in r["task_times"] if nm == name) for r in recs])
                    for name in names
                }
            if recs[0].get("phases_cpu") is not None:
                names = {p for r in recs for p in (r.get("phases_cpu") or {})}
                summary["phases_cpu"] = {
                    p: median([sum((r.get("phases_cpu") or {}).get(p, (0.0, 0.0))) for r in recs]) for p in names
                }
            if recs[0].get("phases"):
                summary["phases"] = {p: median([r["phases"].get(p, 0.0) for r in recs]) for p in PHASES}
            out.setdefault(key, {})[n] = summary
    return out


def fit(points):
    """Least-squares line through (n, seconds): (slope s/link, intercept s), or None for fewer than 2 sizes."""
    points = [(n, t) for n, t in points if t is not None]
    if len(points) < 2:
        return None
    mean_n = sum(p[0] for p in points) / len(points)
    mean_t = sum(p[1] for p in points) / len(points)
    var = sum((p[0] - mean_n) ** 2 for p in points)
    if var == 0:
        return None
    slope = sum((n - mean_n) * (t - mean_t) for n, t in points) / var
    return slope, mean_t - slope * mean_n


def series_fit(summary, key, field="wall_s", from_n=0):
    """The least-squares line (``fit``) through a series' medians of ``field`` at every N from ``from_n`` on."""
    by_n = summary.get(key, {})
    return fit([(n, s.get(field)) for n, s in sorted(by_n.items()) if n >= from_n])


def fmt(value, digits=3):
    if value is None:
        return DASH
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return ("%%.%df" % digits) % value


def fmt_ratio(value):
    if value is None:
        return DASH
    return "%.0f×" % value if value >= 10 else "%.1f×" % value


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def sizes_of(meta, summary):
    sizes = meta.get("config", {}).get("sizes")
    if sizes:
        return sorted(sizes)
    return sorted({n for key, by_n in summary.items() if not is_fleet(key) for n in by_n})


def ordered_keys(summary):
    return [key for key in LABELS if key in summary]


# ---------------------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------------------


def targets(summary, sizes):
    top = max(sizes) if sizes else None
    mid = 256 if 256 in sizes else (max(n for n in sizes if n <= 256) if any(n <= 256 for n in sizes) else None)
    rows = []

    def get(key, n, field="wall_s"):
        return summary.get(key, {}).get(n, {}).get(field)

    floor_fit = series_fit(summary, ("floor", "create"))
    state_fit = series_fit(summary, ("state", "create"))
    if floor_fit and state_fit:
        # With its interval as for issue 11's targets (the two series did not run side by side: each N's runs are
        # resampled on their own).
        states, floors = summary[("state", "create")], summary[("floor", "create")]
        common = sorted(n for n in states if n in floors)
        ratio, interval = slope_ratio_with_interval(
            common,
            [run_values(states[n].get("by_rep") or {}, "wall_s") for n in common],
            [run_values(floors[n].get("by_rep") or {}, "wall_s") for n in common],
        )
        rows.append(
            [
                "macvlan_state slope within 2× of ip -batch's",
                "%.2f ms/link vs %.2f ms/link: %.1f× (%s)"
                % (state_fit[0] * 1e3, floor_fit[0] * 1e3, state_fit[0] / floor_fit[0], fmt_interval(interval, "×")),
                verdict(ratio, interval, 2.0, slope=True),
            ]
        )
    else:
        rows.append(["macvlan_state slope within 2× of ip -batch's", "not measured", DASH])
    for key, what in (
        (("process", "create"), "the module process alone"),
        (("phases", "create"), "the module code path alone"),
    ):
        f = series_fit(summary, key)
        if f and floor_fit:
            rows.append(
                [
                    "(for comparison) slope of %s, no Ansible" % what,
                    "%.2f ms/link: %.1f× the floor's" % (f[0] * 1e3, f[0] / floor_fit[0]),
                    "within 2×" if f[0] / floor_fit[0] <= 2 else "above 2×",
                ]
            )
    wall = get(("state", "create"), top)
    rows.append(
        [
            "%s links converge in one task" % top,
            ("one macvlan_state task, %s s (playbook wall)" % fmt(wall)) if wall is not None else "not measured",
            ("met" if top == 1024 else "met at N=%s only" % top) if wall is not None else DASH,
        ]
    )
    proc = get(("process", "rerun"), top)
    engine = get(("phases", "rerun"), top, "engine_s")
    if proc is not None:
        rows.append(
            [
                "rerun of %s links: module time < 1 s" % top,
                "module process %s s (in-process code path %s s)" % (fmt(proc), fmt(engine)),
                "met" if proc < 1 else "missed",
            ]
        )
    else:
        rows.append(["rerun of %s links: module time < 1 s" % top, "not measured", DASH])
    naive = get(("command_loop", "create"), mid)
    ours = get(("state", "create"), mid)
    if naive is not None and ours is not None:
        speedup = naive / ours
        rows.append(
            [
                "≥ 20× faster than the naive command loop at N=%s" % mid,
                "%s s vs %s s: %.0f×" % (fmt(naive), fmt(ours), speedup),
                "met" if speedup >= 20 else "missed",
            ]
        )
    else:
        rows.append(["≥ 20× faster than the naive command loop at N=%s" % mid, "not measured", DASH])
    return rows


def paired_differences(runs_a, runs_b, field):
    """a − b for each run number both have (``by_rep`` of two summaries), in run order."""
    return [
        runs_a[rep][field] - runs_b[rep][field]
        for rep in sorted(set(runs_a) & set(runs_b))
        if runs_a[rep].get(field) is not None and runs_b[rep].get(field) is not None
    ]


def run_values(runs, field):
    """``field`` of every run (``by_rep`` of a summary), in run order."""
    return [runs[rep][field] for rep in sorted(runs) if runs[rep].get(field) is not None]


def percentile(values, q):
    """The ``q`` quantile (0…1) of ``values`` by nearest rank."""
    ordered = sorted(values)
    return ordered[int(round(q * (len(ordered) - 1)))]


def bootstrap_interval(estimate, samples, confidence=CONFIDENCE, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED):
    """The ``confidence`` interval (low, high) of ``estimate(samples)`` by the percentile bootstrap: each list of
    ``samples`` is resampled with replacement on its own (lists measured at different times are independent),
    ``resamples`` times, from a fixed seed (a report drawn again from the same runs says the same). None when a list
    has fewer than MIN_RUNS_FOR_INTERVAL values or the estimate is undefined in more than a tenth of the resamples."""
    if not samples or any(len(sample) < MIN_RUNS_FOR_INTERVAL for sample in samples):
        return None
    rng = random.Random(seed)
    draws = (estimate([rng.choices(sample, k=len(sample)) for sample in samples]) for i in range(resamples))
    values = [value for value in draws if value is not None]
    if len(values) < 0.9 * resamples:
        return None
    tail = (1.0 - confidence) / 2.0
    return percentile(values, tail), percentile(values, 1.0 - tail)


NEGATIVE_SLOPE = "not decided (the slope came out below zero: the sizes ran at different machine speeds)"


def verdict(value, interval, limit, slope=False):
    """met when the whole interval is within ``limit``, missed when the whole interval is beyond it, not decided
    when it straddles it; without an interval (too few runs) the value alone decides, and says so. ``slope``: the
    value is a ratio of costs per link, which cannot be below zero; a run that measures one there decides nothing
    (the bootstrap resamples the runs, it cannot see a drift that sizes measured minutes apart share)."""
    if value is None:
        return "not measured"
    if slope and value < 0:
        return NEGATIVE_SLOPE
    if interval is None:
        return ("met" if value <= limit else "missed") + " (too few runs for an interval)"
    if interval[1] <= limit:
        return "met"
    if interval[0] > limit:
        return "missed"
    return "not decided"


def slope_ratio(sizes, numerators, floors):
    """The least-squares slope through the medians of ``numerators`` (one list of paired differences per N of
    ``sizes``) over the slope through the medians of ``floors`` (one list of ip -batch runs per N); None when
    undefined."""
    over = fit([(n, median(numerators[i])) for i, n in enumerate(sizes)])
    floor = fit([(n, median(floors[i])) for i, n in enumerate(sizes)])
    if not over or not floor or floor[0] <= 0:
        return None
    return over[0] / floor[0]


def slope_ratio_with_interval(sizes, numerators, floors):
    """(``slope_ratio``, its bootstrap interval) from one list of runs per N of ``sizes`` in ``numerators`` and in
    ``floors``; (None, None) without two sizes or with a size that has no run."""
    if len(sizes) < 2 or not all(numerators) or not all(floors):
        return None, None
    k = len(sizes)
    interval = bootstrap_interval(lambda s: slope_ratio(sizes, s[:k], s[k:]), list(numerators) + list(floors))
    return slope_ratio(sizes, numerators, floors), interval


def fmt_interval(interval, unit="s", digits=3):
    if interval is None:
        return "no interval (fewer than %d runs)" % MIN_RUNS_FOR_INTERVAL
    if unit == "×":
        return "%d %% interval %.2f× … %.2f×" % (round(CONFIDENCE * 100), interval[0], interval[1])
    return "%d %% interval %+.*f … %+.*f %s" % (round(CONFIDENCE * 100), digits, interval[0], digits, interval[1], unit)


def floor_targets(summary, sizes):
    """The targets of issue 11, each measured against the floors of the same run.

    A list of dicts: id, target, limit, unit, value (the paired estimate from the playbooks' wall time; None when not
    measured), interval (its bootstrap interval, or None), measured (text), result (met / missed / not decided /
    not measured; see ``verdict``), the same from CPU time (cpu_value, cpu_interval, cpu_measured, cpu_result: user
    + system time of the whole process tree) and the inputs.

    Paired: the interleaved series' runs of one number ran next to each other (for each N of a round: noop, bare,
    state, ...), so a difference is taken run by run and its median over the runs is the estimate; the medians of
    each series (unpaired, as earlier reports gave them) are in the text too.
    """
    top = max(sizes) if sizes else None

    def get(key, field, n=top):
        return summary.get(key, {}).get(n, {}).get(field)

    def runs(key, n=top):
        return get(key, "by_rep", n) or {}

    at = "" if top == 1024 else " (at N=%s, not 1024)" % top
    out = []

    def difference(entry, prefix, a, b, field):
        x, y = get(a, field), get(b, field)
        entry["inputs"].update({"%s_%s" % ("_".join(a), field): x, "%s_%s" % ("_".join(b), field): y})
        if x is None or y is None:
            entry[prefix + "value"] = entry[prefix + "interval"] = entry[prefix + "measured"] = None
            return
        pairs = paired_differences(runs(a), runs(b), field)
        entry["inputs"]["paired_%s_%s" % ("_".join(a), field)] = pairs
        unpaired = "medians %s s − %s s = %+.3f s%s" % (fmt(x), fmt(y), x - y, at)
        if pairs:
            value, interval = median(pairs), bootstrap_interval(lambda s: median(s[0]), [pairs])
            text = "paired %+.3f s (median of %d runs; %s); %s" % (value, len(pairs), fmt_interval(interval), unpaired)
        else:
            value, interval, text = x - y, None, unpaired
        entry[prefix + "value"], entry[prefix + "interval"], entry[prefix + "measured"] = value, interval, text

    # (a) an unchanged rerun of N links against the do-nothing module with the same arguments
    entry = {
        "id": "rerun_over_noop",
        "target": "1024-link unchanged rerun of macvlan_state at most %.1f s over the do-nothing module with the "
        "same arguments" % RERUN_OVER_NOOP_MAX_S,
        "limit": RERUN_OVER_NOOP_MAX_S,
        "unit": "s",
        "n": top,
        "inputs": {},
    }
    for prefix, field in (("", "wall_s"), ("cpu_", "cpu_s")):
        difference(entry, prefix, ("state", "rerun"), ("noop", "run"), field)
    task = paired_differences(runs(("state", "rerun")), runs(("noop", "run")), "task_s")
    if entry["measured"] and task:
        entry["measured"] += "; the task alone, paired %+.3f s" % median(task)
    out.append(entry)

    # (b) the create slope over the do-nothing module's, against ip -batch's slope
    slope_sizes = sorted(
        n
        for n in summary.get(("state", "create"), {})
        if n >= SLOPE_FROM_N and n in summary.get(("noop", "run"), {}) and n in summary.get(("floor", "create"), {})
    )
    entry = {
        "id": "create_slope_over_noop_vs_ip_batch",
        "target": "create slope of macvlan_state minus the do-nothing module's slope at most %.1f× ip -batch's slope "
        "(N = %d…%s, least squares)" % (SLOPE_OVER_FLOOR_MAX, SLOPE_FROM_N, top),
        "limit": SLOPE_OVER_FLOOR_MAX,
        "unit": "×",
        "sizes": slope_sizes,
        "inputs": {},
    }

    def ratio_of(key, field):
        """(point estimate, interval) of key's create slope over the do-nothing module's, paired run by run at
        each N, against ip -batch's slope; (None, None) without two sizes."""
        numerators = [paired_differences(runs(key, n), runs(("noop", "run"), n), field) for n in slope_sizes]
        floors = [run_values(runs(("floor", "create"), n), field) for n in slope_sizes]
        return slope_ratio_with_interval(slope_sizes, numerators, floors)

    for field, prefix in (("wall_s", ""), ("cpu_s", "cpu_")):
        state_fit = series_fit(summary, ("state", "create"), field, SLOPE_FROM_N)
        noop_fit = series_fit(summary, ("noop", "run"), field, SLOPE_FROM_N)
        floor_fit = series_fit(summary, ("floor", "create"), field, SLOPE_FROM_N)
        for name, f in (("state_create", state_fit), ("noop", noop_fit), ("ip_batch", floor_fit)):
            entry["inputs"]["%s_%s_ms_per_link" % (name, field)] = f[0] * 1e3 if f else None
        value, interval = ratio_of(("state", "create"), field)
        entry[prefix + "value"], entry[prefix + "interval"], entry[prefix + "measured"] = value, interval, None
        if value is not None and state_fit and noop_fit and floor_fit and floor_fit[0] > 0:
            ours = state_fit[0] - noop_fit[0]
            entry[prefix + "measured"] = (
                "paired %.2f× (%s); medians (%.3f − %.3f) ms/link = %.3f ms/link vs ip -batch %.3f ms/link: %.2f×"
                % (
                    value,
                    fmt_interval(interval, "×"),
                    state_fit[0] * 1e3,
                    noop_fit[0] * 1e3,
                    ours * 1e3,
                    floor_fit[0] * 1e3,
                    ours / floor_fit[0],
                )
            )
        # Not the verdict: the same ratio for the bare verified create (fixture), the least any module that creates
        # the links and reads them back pays through Ansible on this machine, and for macvlan_state's create
        # without the created links in its result.
        for key, label in (
            (("bare", "create"), "the bare verified create (fixture)"),
            (("state_none", "create"), "macvlan_state with return_links: none"),
        ):
            other = series_fit(summary, key, field, SLOPE_FROM_N)
            entry["inputs"]["%s_%s_ms_per_link" % ("_".join(key), field)] = other[0] * 1e3 if other else None
            other_value, other_interval = ratio_of(key, field)
            if entry[prefix + "measured"] and other_value is not None:
                entry[prefix + "measured"] += "; %s paired %.2f× (%s)" % (
                    label,
                    other_value,
                    fmt_interval(other_interval, "×"),
                )
    out.append(entry)

    # (c) the role against one macvlan_state task with the same links
    for step in ("rerun", "create"):
        entry = {
            "id": "role_over_task_%s" % step,
            "target": "macvlan_topology role (persist none) at most %.1f s over one macvlan_state task at 1024 links, "
            "%s" % (ROLE_OVER_TASK_MAX_S, "unchanged rerun" if step == "rerun" else "create"),
            "limit": ROLE_OVER_TASK_MAX_S,
            "unit": "s",
            "n": top,
            "inputs": {},
        }
        for prefix, field in (("", "wall_s"), ("cpu_", "cpu_s")):
            difference(entry, prefix, ("role", step), ("state", step), field)
        out.append(entry)

    for entry in out:
        for prefix in ("", "cpu_"):
            value = entry.get(prefix + "value")
            result = verdict(value, entry.get(prefix + "interval"), entry["limit"], entry["unit"] == "×")
            if value is None:
                entry[prefix + "measured"] = "not measured"
            elif top != 1024 and not entry["id"].startswith("create_slope"):
                result += " at N=%s only" % top
            entry[prefix + "result"] = result
    return out


def floors_table(summary, sizes, rounds=False):
    """The floors and the series measured against them, at every N, and the differences the targets use.
    ``rounds``: bench.py ran them round by round (each run: every N, one of each), not N by N."""
    keys = [("ping", "run"), ("noop", "run"), ("aftermath", "run"), ("bare", "create"), ("state", "rerun")]
    keys += [("state", "create"), ("state_none", "create")]
    keys += [("role", "rerun"), ("role", "create")]
    if not any(summary.get(k) for k in keys[:2]):
        return []
    lines = ["", "## Against Ansible's floors (median playbook wall seconds; interleaved runs)", ""]
    rows = []
    for key in keys:
        by_n = summary.get(key, {})
        if by_n:
            rows.append([LABELS[key]] + [fmt(by_n.get(n, {}).get("wall_s")) for n in sizes])

    def diff(a, b, n):
        x, y = summary.get(a, {}).get(n, {}).get("wall_s"), summary.get(b, {}).get(n, {}).get("wall_s")
        return "%+.3f" % (x - y) if x is not None and y is not None else DASH

    for label, a, b in (
        ("do-nothing module − ping (Ansible carrying the links)", ("noop", "run"), ("ping", "run")),
        ("do-nothing module right after ip -batch − the same on a quiet kernel", ("aftermath", "run"), ("noop", "run")),
        ("macvlan_state rerun − do-nothing module (ours, unchanged)", ("state", "rerun"), ("noop", "run")),
        ("bare verified create − do-nothing module (the least a create costs)", ("bare", "create"), ("noop", "run")),
        ("macvlan_state create − do-nothing module (ours, create)", ("state", "create"), ("noop", "run")),
        ("macvlan_state create − bare verified create (the collection's own)", ("state", "create"), ("bare", "create")),
        ("… with return_links: none − bare verified create", ("state_none", "create"), ("bare", "create")),
        (
            "macvlan_state create − the same with return_links: none (the links in the result)",
            ("state", "create"),
            ("state_none", "create"),
        ),
        ("role rerun − macvlan_state rerun (the role's own)", ("role", "rerun"), ("state", "rerun")),
        ("role create − macvlan_state create (the role's own)", ("role", "create"), ("state", "create")),
    ):
        if summary.get(a) and summary.get(b):
            rows.append([label] + [diff(a, b, n) for n in sizes])
    lines.append(table(["series"] + ["N=%d" % n for n in sizes], rows))
    lines += [
        "",
        "The ping playbook gets the same inventory variables (the N links) and runs `ansible.builtin.ping`: Ansible's own "
        "floor for one task. The do-nothing module (`benchmarks/library/bench_noop.py`, a fixture loaded through "
        "ANSIBLE_LIBRARY, not part of the collection) takes macvlan_state's argument spec (imported from "
        "`plugins/module_utils/_options.py`) and the same `links` and `netns` arguments, validates them and returns "
        "`changed=false` with a small result: what Ansible costs to carry the links to a module and back. They run "
        "interleaved with the macvlan_state and role playbooks (%s: %s), so the differences are taken under the "
        "same load."
        % (
            "round by round, each round every N, for each N one of each" if rounds else "for each N and run",
            ", ".join(name for name in INTERLEAVED if any(k[0] == name for k in summary)),
        ),
    ]
    # What each optional series is, when the run has it.
    notes = (
        (
            ("aftermath", "run"),
            "The aftermath row is the do-nothing module's playbook started the moment `ip -batch` has created the N "
            "links (no wait for a quiet kernel).",
        ),
        (
            ("bare", "create"),
            "The bare verified create (`benchmarks/library/bench_bare.py`, a fixture) does only what any module that "
            "creates the links and says what it did must do: one dump of the links, macvlan_state's own create "
            "request per link, one dump to read them back, the created names as its result (no plan, lock, journal, "
            "rollback, addresses, routes or result views).",
        ),
        (
            ("state_none", "create"),
            "The return_links: none row is macvlan_state's create with no link in its result (its actions and counts "
            "only): against the create with the default (the created links, brief when they are many), what carrying "
            "the links through Ansible costs.",
        ),
    )
    for key, note in notes:
        if summary.get(key):
            lines[-1] += " " + note
    return lines


def kernel_floor(summary, sizes):
    """The kernel's whole work on new links against ip -batch's time (not a target of the issue: the measurement
    of what the create slope's floor leaves out). None when the aftermath series was not run.

    ``ip -batch``'s time ends when its last request is answered; the kernel goes on working on every new link
    after that (IPv6 autoconfiguration), and a playbook running meanwhile pays for it. The aftermath series runs the
    do-nothing module's playbook the moment ``ip -batch`` exits; against the same playbook on a quiet kernel, its
    wall time says what a playbook pays for that work, and the kernel's CPU time (system, irq and softirq of all
    CPUs while the playbook ran) how much work it is. Wall time on a shared 2-core machine is noisy (a one-task
    playbook's runs spread by about 0.5 s); the kernel's CPU time much less so."""
    if not summary.get(("aftermath", "run")):
        return None

    def get(key, n, field):
        return summary.get(key, {}).get(n, {}).get(field)

    def slope(key, field):  # ms/link
        f = series_fit(summary, key, field, SLOPE_FROM_N)
        return f[0] * 1e3 if f else None

    def minus(a, b):
        return a - b if a is not None and b is not None else None

    after, noop, state, floor = ("aftermath", "run"), ("noop", "run"), ("state", "create"), ("floor", "create")
    rows = {}
    for n in sizes:
        rows[n] = {
            "ip_batch_wall_s": get(floor, n, "wall_s"),
            "ip_batch_cpu_s": get(floor, n, "cpu_s"),
            "kernel_cpu_noop_s": get(noop, n, "kernel_s"),
            "kernel_cpu_after_ip_batch_s": get(after, n, "kernel_s"),
            "kernel_cpu_state_create_s": get(state, n, "kernel_s"),
            "aftermath_wall_s": minus(get(after, n, "wall_s"), get(noop, n, "wall_s")),
        }
    slopes = {
        "ip_batch_wall": slope(floor, "wall_s"),
        "aftermath_wall": minus(slope(after, "wall_s"), slope(noop, "wall_s")),
        "kernel_cpu_after_ip_batch": minus(slope(after, "kernel_s"), slope(noop, "kernel_s")),
        "state_create_over_noop_wall": minus(slope(state, "wall_s"), slope(noop, "wall_s")),
        "bare_create_over_noop_wall": minus(slope(("bare", "create"), "wall_s"), slope(noop, "wall_s")),
    }
    return {"by_n": rows, "ms_per_link": slopes}


def kernel_floor_lines(summary, sizes):
    k = kernel_floor(summary, sizes)
    if k is None:
        return []
    labels = (
        ("ip_batch_wall_s", "ip -batch, wall (until the kernel answered its last request)"),
        ("ip_batch_cpu_s", "ip -batch, CPU time of the ip process (user + system)"),
        ("kernel_cpu_noop_s", "kernel CPU time during the do-nothing playbook, quiet kernel"),
        ("kernel_cpu_after_ip_batch_s", "kernel CPU time during the do-nothing playbook started as ip -batch exits"),
        ("kernel_cpu_state_create_s", "kernel CPU time during macvlan_state's create playbook (its own requests too)"),
        ("aftermath_wall_s", "wall: the do-nothing playbook right after ip -batch − on a quiet kernel"),
    )
    rows = [[label] + [fmt(k["by_n"][n][field]) for n in sizes] for field, label in labels]
    slopes = k["ms_per_link"]
    slope_labels = (
        ("ip_batch_wall", "ip -batch, wall (the issue's floor)"),
        ("aftermath_wall", "wall a playbook pays for the kernel's work after ip -batch (noisy)"),
        ("kernel_cpu_after_ip_batch", "the kernel's CPU time after ip -batch exits"),
        ("state_create_over_noop_wall", "macvlan_state create − do-nothing module, wall (the issue's numerator)"),
        ("bare_create_over_noop_wall", "bare verified create (fixture) − do-nothing module, wall (the least of it)"),
    )
    return [
        "",
        "## The kernel's whole work on new links (measured; not a target)",
        "",
        table(["seconds (medians)"] + ["N=%d" % n for n in sizes], rows),
        "",
        table(
            ["slope, ms/link (least squares through the medians, N = %d…)" % SLOPE_FROM_N, "ms/link"],
            [[label, fmt(slopes[field])] for field, label in slope_labels],
        ),
        "",
        "ip -batch's time ends when its last request is answered; the kernel then goes on working on the new links "
        "(IPv6 duplicate address detection, MLD reports and router solicitations on each), and a playbook running "
        "meanwhile pays for it, as macvlan_state's create does after its last request. Kernel CPU time is the "
        "system, irq and softirq time of all CPUs while the playbook ran (/proc/stat), whoever it was for.",
    ]


# ---------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------


def machine_lines(meta):
    m = meta.get("machine", {})
    v = m.get("versions", {})
    load = meta.get("load", {})
    lines = [
        "- Date: %s; whole run %s s (%.0f min)"
        % (meta.get("date"), meta.get("duration_s"), (meta.get("duration_s") or 0) / 60),
        "- Machine: %s, %s cores, %s GB RAM; %s; kernel %s"
        % (m.get("cpu", "?"), m.get("cores"), m.get("memory_gb"), m.get("os", "?"), m.get("kernel")),
        "- Software: Python %s, ansible-core %s, pyroute2 %s (module interpreter: the project's .venv), iproute2 %s"
        % (m.get("python"), v.get("ansible-core"), v.get("pyroute2"), v.get("iproute2")),
        "- Load average (1, 5, 15 min) at start: %s (waited %s s for the 1-min value to drop below %s%s); at end: %s"
        % (
            load.get("load_at_start"),
            load.get("waited_s"),
            load.get("threshold"),
            "" if load.get("quiet", True) else "; it did not",
            meta.get("load_at_end"),
        ),
    ]
    speed = meta.get("speed") or {}
    probes = [(when, speed[when]) for when in ("start", "end") if speed.get(when)]
    if probes:
        lines.append(
            "- The machine's speed: one fixed piece of Python work (benchmarks/bench.py, speed_probe) took %s ms of "
            "CPU time (min / median / max of %s samples taken 0.2 s apart); a one-task playbook's time moves "
            "with it"
            % (
                ", ".join(
                    "at the %s %s / %s / %s" % (when, p["min_ms"], p["median_ms"], p["max_ms"]) for when, p in probes
                ),
                " and ".join(str(p["samples"]) for when, p in probes),
            )
        )
    cfg = meta.get("config", {})
    lines.append(
        "- Runs per point (median reported): ip -batch, module process and in-process code path %s; one-task "
        "playbooks %s; loop playbooks %s below N=%s and %s from N=%s (capped: a 1024-link loop takes minutes)%s"
        % (
            cfg.get("reps"),
            cfg.get("playbook_reps"),
            cfg.get("loop_reps"),
            cfg.get("loop_cap_from"),
            cfg.get("loop_reps_large"),
            cfg.get("loop_cap_from"),
            "; QUICK development run" if cfg.get("quick") else "",
        )
    )
    lines.append(
        "- Links: bridge-mode macvlans, up, on %s veth parent(s) in a fresh network namespace per run; Ansible "
        "runs against localhost (connection local, default settings: no pipelining, forks 5)" % cfg.get("parents", 1)
    )
    if meta.get("series_s"):
        lines.append("- Time per series (s): " + ", ".join("%s %s" % (k, v) for k, v in meta["series_s"].items()))
    for name, note in sorted((meta.get("notes") or {}).items()):
        lines.append("- **%s: %s**" % (name, note))
    if meta.get("error"):
        lines.append("- **The run stopped early: %s**" % meta["error"])
    return lines


def loop_table(summary, sizes):
    """Seconds per item of the loops at each N."""
    keys = [("command_loop", "create"), ("macvlan_loop", "create"), ("macvlan_loop", "rerun")]
    keys = [k for k in keys if summary.get(k)]
    if not keys:
        return []
    lines = ["", "## The loops: seconds per item (wall time / N)", ""]
    rows = []
    for key in keys:
        by_n = summary[key]
        rows.append([LABELS[key]] + [fmt(by_n[n]["wall_s"] / n) if n in by_n else DASH for n in sizes])
    single = summary.get(("process_link", "create"), {}).get(1)
    if single:
        rows.append(
            [LABELS[("process_link", "create")] + " (empty namespace)", fmt(single["wall_s"])] + [""] * (len(sizes) - 1)
        )
    lines.append(table(["series"] + ["N=%d" % n for n in sizes], rows))
    text = (
        "Each item of a loop is a whole task: templating, building and copying the AnsiballZ payload, starting "
        "the interpreter, running the module, handling the result. The macvlan module reads the whole namespace "
        "(every link, address and route) each time it runs, and once more after a change."
    )
    loop = summary.get(("macvlan_loop", "create"), {})
    measured = sorted(n for n in loop if n > 1)
    if len(measured) >= 2:
        small, large = measured[0], measured[-1]
        per_small, per_large = loop[small]["wall_s"] / small, loop[large]["wall_s"] / large
        growth = per_large / per_small
        text += " Its time per item went from %s s at N=%d to %s s at N=%d (%.2f×): %s." % (
            fmt(per_small),
            small,
            fmt(per_large),
            large,
            growth,
            "the reading grows with the links already there, so the loop grows faster than linearly"
            if growth > 1.2
            else "the per-task cost of Ansible dominates and the loop grows linearly",
        )
    lines += ["", text]
    return lines


def baseline_table(summary, sizes, base_meta, base_summary, label):
    """Each series of this run next to the same series of an earlier run (the baseline): before → after."""
    lines = [
        "",
        "## Before → after: this run against the baseline (median wall seconds)",
        "",
        "Baseline: `%s`, measured %s at commit %s (load average %s at its start). The floor and the naive "
        "command loop do not use the collection: their change is the machine's, not the code's."
        % (
            label,
            base_meta.get("date", "?"),
            base_meta.get("machine", {}).get("commit", "?"),
            base_meta.get("load", {}).get("load_at_start"),
        ),
        "",
    ]
    rows = []
    for key in PLOTTED:  # every series the plot shows, before and after
        before, after = base_summary.get(key, {}), summary.get(key, {})
        if not before or not after:
            continue
        cells = [LABELS[key]]
        for n in sizes:
            b, a = before.get(n, {}).get("wall_s"), after.get(n, {}).get("wall_s")
            cells.append("%s → %s" % (fmt(b), fmt(a)) if b is not None and a is not None else DASH)
        fb, fa = series_fit(base_summary, key), series_fit(summary, key)
        cells.append("%.2f → %.2f" % (fb[0] * 1e3, fa[0] * 1e3) if fb and fa else DASH)
        rows.append(cells)
    lines.append(table(["series"] + ["N=%d" % n for n in sizes] + ["ms/link"], rows))
    top = max(sizes) if sizes else None
    rows = []
    for step in ("create", "rerun"):
        b = base_summary.get(("phases", step), {}).get(top)
        a = summary.get(("phases", step), {}).get(top)
        if not a or not b or "phases" not in a or "phases" not in b:
            continue
        rows.append(
            [step, top]
            + ["%s → %s" % (fmt(b["phases"].get(p), 3), fmt(a["phases"].get(p), 3)) for p in PHASES_COMPARED]
            + ["%s → %s" % (fmt(b.get("engine_s"), 3), fmt(a.get("engine_s"), 3))]
        )
    if rows:
        lines += ["", "The module's phases at N=%s, before → after (median seconds):" % top, ""]
        lines.append(table(["step", "N"] + list(PHASES_COMPARED) + ["total"], rows))
    return lines


PHASES_COMPARED = ("import pyroute2", "argspec", "observe", "plan", "apply", "verify", "result")


def role_tasks(summary, sizes):
    """The role's tasks at the largest N, slowest first (medians over the runs)."""
    lines = []
    for step in ("create", "rerun"):
        by_n = summary.get(("role", step), {})
        if not by_n:
            continue
        n = max(by_n)
        tasks = by_n[n].get("task_times") or {}
        if not tasks:
            continue
        total = sum(tasks.values())
        rows = [
            [name.split(" : ", 1)[-1][:100], fmt(seconds), "%.0f%%" % (100 * seconds / total) if total else DASH]
            for name, seconds in sorted(tasks.items(), key=lambda item: -item[1])[:8]
        ]
        lines += [
            "",
            "## The macvlan_topology role's tasks at N=%d, %s (median seconds, slowest first)" % (n, step),
            "",
        ]
        lines.append(table(["task", "seconds", "share of the play"], rows))
    return lines


def markdown(meta, summary, baseline=None, baseline_label=None):
    sizes = sizes_of(meta, summary)
    keys = ordered_keys(summary)
    floor = summary.get(("floor", "create"), {})
    out = ["# hostnet.macvlan benchmark results", ""]
    out += machine_lines(meta)
    out += ["", "Generated by `make bench` (benchmarks/bench.py); docs/benchmarks.md explains the series.", ""]

    out += ["## Targets of issue 11: the collection's own cost over the floors (measured, not asserted)", ""]
    out.append(
        table(
            ["target", "playbook wall time", "result", "CPU time of the process tree", "result"],
            [
                [t["target"], t["measured"], "**%s**" % t["result"], t["cpu_measured"], t["cpu_result"]]
                for t in floor_targets(summary, sizes)
            ],
        )
    )
    out += [
        "",
        "The verdict is taken on the playbook's wall time, as the issue sets the targets; the same differences in "
        "CPU time (user + system of `ansible-playbook` and everything it started) are next to it. Each difference is "
        "taken run by run (the interleaved series' runs of one number ran next to each other) and its median over "
        "the runs is the estimate; the medians of each series, unpaired, follow it. **met** means the whole %d %% "
        "interval of the estimate (percentile bootstrap over the runs, %d resamples, seeded) is within the target, "
        "**missed** that the whole interval is beyond it, **not decided** that it straddles the target: this "
        "machine's speed changes from one second to the next by up to a factor of two, more runs narrow the "
        "interval." % (round(CONFIDENCE * 100), BOOTSTRAP_RESAMPLES),
    ]
    out += kernel_floor_lines(summary, sizes)
    out += ["", "## Earlier targets (measured, not asserted)", ""]
    out.append(table(["target", "measured", "result"], targets(summary, sizes)))
    out += floors_table(summary, sizes, meta.get("config", {}).get("interleave") == "rounds")

    out += ["", "## Wall time (seconds, median of runs)", ""]
    rows = []
    for key in keys:
        by_n = summary[key]
        f = series_fit(summary, key)
        runs = sorted({s["runs"] for s in by_n.values()})
        loads = [s["load1"] for s in by_n.values() if s.get("load1") is not None]
        rows.append(
            [LABELS[key]]
            + [fmt(by_n.get(n, {}).get("wall_s")) for n in sizes]
            + [
                fmt(f[0] * 1e3, 2) if f else DASH,
                fmt(f[1], 2) if f else DASH,
                "/".join(str(r) for r in runs),
                "%.1f–%.1f" % (min(loads), max(loads)) if loads else DASH,
            ]
        )
    header = ["series"] + ["N=%d" % n for n in sizes] + ["ms/link (slope)", "intercept s", "runs", "load1 during"]
    out.append(table(header, rows))
    out += [
        "",
        "Slope and intercept: least-squares line through the medians at every N. For the module process and the "
        "in-process code path the time is that of the module alone (no Ansible); the playbook rows are the "
        "`ansible-playbook` wall time, start to exit. load1 during: the range of the 1-minute load average "
        "(median over each point's runs) while the series ran; other work on the machine shows there.",
    ]

    out += ["", "## Ratio to the floor (ip -batch) at the same N", ""]
    rows = []
    floor_fit = series_fit(summary, ("floor", "create"))
    for key in keys:
        if key == ("floor", "create"):
            continue
        by_n = summary[key]
        f = series_fit(summary, key)
        ratios = []
        for n in sizes:
            a, b = by_n.get(n, {}).get("wall_s"), floor.get(n, {}).get("wall_s")
            ratios.append(fmt_ratio(a / b) if a is not None and b else DASH)
        slope_ratio = fmt_ratio(f[0] / floor_fit[0]) if f and floor_fit and floor_fit[0] > 0 else DASH
        rows.append([LABELS[key]] + ratios + [slope_ratio])
    out.append(table(["series"] + ["N=%d" % n for n in sizes] + ["slope ratio"], rows))

    out += ["", "## Where the time of one macvlan_state task goes (medians, seconds)", ""]
    rows = []
    for step in ("create", "rerun", "check"):
        play = summary.get(("state", step), {})
        proc = summary.get(("process", step), {})
        phases = summary.get(("phases", step), {})
        for n in sizes:
            p = play.get(n, {})
            task, module = p.get("task_s"), proc.get(n, {}).get("wall_s")
            if not p and not phases.get(n):
                continue
            rows.append(
                [
                    step,
                    n,
                    fmt(p.get("wall_s")),
                    fmt(p.get("startup_s")),
                    fmt(p["play_s"] - task) if p.get("play_s") is not None and task is not None else DASH,
                    fmt(task),
                    fmt(module),
                    fmt(phases.get(n, {}).get("engine_s")),
                    fmt(task - module) if task is not None and module is not None else DASH,
                ]
            )
    out.append(
        table(
            [
                "step",
                "N",
                "playbook wall",
                "ansible-playbook start/exit",
                "play minus task",
                "task",
                "module process (run directly)",
                "module code path (in-process)",
                "Ansible per-task overhead (task − module process)",
            ],
            rows,
        )
    )
    out += [
        "",
        "`task` is the time the bench_timer callback saw between the task's start and its result; the module "
        "process is the same module file run directly by the same interpreter with the same arguments (no "
        "AnsiballZ, no controller); the module code path is phases.py (below) in a fresh process. The check row "
        "has no module-process measurement (it is the in-process check).",
    ]

    out += ["", "## The module's phases, in-process (median seconds; fresh process per run)", ""]
    rows = []
    for step in ("create", "rerun", "check"):
        for n in sizes:
            s = summary.get(("phases", step), {}).get(n)
            if not s or "phases" not in s:
                continue
            rows.append(
                [step, n]
                + [fmt(s["phases"].get(p), 4) for p in PHASES]
                + [fmt(s.get("engine_s"), 4), "%.0f" % s["maxrss_mb"]]
            )
    out.append(table(["step", "N"] + list(PHASES) + ["total", "peak RSS MB"], rows))
    out += [
        "",
        "The real module's `main()` in a fresh process, timed from outside (benchmarks/phases.py): import "
        "ansible: `ansible.module_utils.basic`; argspec: `AnsibleModule()` applying the argument spec to the N "
        "link dicts; validate: the model's validation until the engine starts; observe: the netlink dumps "
        "(links, addresses, routes); plan: planning every link; apply: one netlink request per action; verify: "
        "the read-back dumps; engine other: the rest of `converge` (ordering, comparing the read-back); result: "
        "the return value, serialised.",
    ]

    if baseline is not None:
        base_meta, base_records = baseline
        out += baseline_table(summary, sizes, base_meta, summarize(base_records), baseline_label)

    out += loop_table(summary, sizes)

    out += role_tasks(summary, sizes)

    out += ["", "## Peak memory (MB: max RSS of the largest process of the run's process tree)", ""]
    rows = []
    for key in keys:
        by_n = summary[key]
        rows.append([LABELS[key]] + [fmt(by_n[n]["maxrss_mb"], 0) if n in by_n else DASH for n in sizes])
    out.append(table(["series"] + ["N=%d" % n for n in sizes], rows))

    out += ["", "## CPU time (seconds, user+sys of the whole process tree, median)", ""]
    rows = []
    for key in keys:
        by_n = summary[key]
        rows.append([LABELS[key]] + [fmt(by_n.get(n, {}).get("cpu_s")) for n in sizes])
    out.append(table(["series"] + ["N=%d" % n for n in sizes], rows))

    out += netns_fleet_tables(meta, summary)

    out += ["", "## Container fleet: K privileged podman containers, forks = K, one macvlan_state task", ""]
    fleet = {key: by_n for key, by_n in summary.items() if key[0] == "fleet"}
    note = (meta.get("notes") or {}).get("fleet")
    if fleet:
        ks = sorted({key[2] for key in fleet})
        rows = []
        for k in ks:
            create = next(iter(fleet.get(("fleet", "create", k), {}).values()), {})
            rerun = next(iter(fleet.get(("fleet", "rerun", k), {}).values()), {})
            n = next(iter(fleet.get(("fleet", "create", k), {}).keys()), None)
            rows.append(
                [
                    k,
                    n,
                    fmt(create.get("wall_s")),
                    fmt(create.get("task_s")),
                    fmt(rerun.get("wall_s")),
                    fmt(rerun.get("task_s")),
                    fmt(create["wall_s"] / k) if create.get("wall_s") else DASH,
                    fmt(create.get("maxrss_mb"), 0),
                    create.get("runs", DASH),
                ]
            )
        out.append(
            table(
                [
                    "K hosts",
                    "links per host",
                    "create: playbook wall",
                    "create: task",
                    "rerun: playbook wall",
                    "rerun: task",
                    "create wall per host",
                    "peak RSS MB",
                    "runs",
                ],
                rows,
            )
        )
        if note:
            out += ["", "- " + note]
    else:
        out.append(note or "not measured (the fleet series was not selected)")
    out += ["", "![benchmark plot](benchmarks.png)", ""]
    return "\n".join(out)


FLEET_LABELS = {
    "fleet_role": "macvlan_topology role (persist none)",
    "fleet_rollout": "hostnet.macvlan.rollout playbook",
}


def netns_fleet_rows(summary):
    """(series, step, forks, summary) of the namespace fleet, in table order."""
    rows = []
    for series in ("fleet_role", "fleet_rollout"):
        for step in ("create", "rerun"):
            for key in sorted(k for k in summary if k[:2] == (series, step)):
                for n, s in sorted(summary[key].items()):
                    rows.append((series, step, key[2], n, s))
    return rows


def netns_fleet_tables(meta, summary):
    rows = netns_fleet_rows(summary)
    cfg = meta.get("config", {})
    notes = meta.get("notes") or {}
    lines = [
        "",
        "## Fleet of %s simulated hosts: network namespaces, local connection, %s links per host"
        % (cfg.get("fleet_hosts", "H"), cfg.get("fleet_host_links", "N")),
        "",
    ]
    if not rows:
        lines.append(
            notes.get("fleet_role")
            or notes.get("fleet_rollout")
            or "not measured (fleet_role, fleet_rollout not selected)"
        )
        return lines
    body = []
    for series, step, forks, _n, s in rows:
        body.append(
            [
                FLEET_LABELS[series],
                step,
                forks,
                s.get("hosts"),
                fmt(s["wall_s"]),
                "%.0f" % s["hosts_per_min"],
                fmt(s["controller_cpu_per_host_s"]),
                fmt(s["module_cpu_per_host_s"]),
                "%.1f" % s["module_runs_per_host"],
                fmt(s["maxrss_mb"], 0),
                s["runs"],
                "%.1f (max %.1f)" % (s["load1"], s["load1_max"]) if s.get("load1") is not None else DASH,
            ]
        )
    lines.append(
        table(
            [
                "playbook",
                "step",
                "forks",
                "hosts",
                "wall s",
                "hosts/min",
                "controller CPU s/host",
                "module CPU s/host",
                "module runs/host",
                "peak RSS MB",
                "runs",
                "load1",
            ],
            body,
        )
    )
    lines += [
        "",
        "Each host is a network namespace on this machine with a veth parent, reached with the local connection "
        "(`macvlan_topology_netns`); the topology (the %s links) is a group variable. `create` starts from no "
        "links (removed before each run by deleting and re-adding each host's veth parent, untimed), `rerun` is the same playbook "
        "again (nothing changes). The rollout runs with `rollout_serial` %s. Wall, hosts/min and the CPU figures "
        "are medians over the runs. Controller CPU per host: user+system time of `ansible-playbook` and every "
        "process it started, minus the module processes (their CPU time is measured by a `sh` wrapper around the "
        "module interpreter, `times`), divided by the hosts; what remains is the controller's work (templating, "
        "the strategy, AnsiballZ payloads, results, the callback) plus the small shell commands Ansible runs per "
        "task (temporary directories), which an SSH connection would run on the host instead. Module CPU per host "
        "is what the managed node would spend." % (cfg.get("fleet_host_links"), json.dumps(cfg.get("rollout_serial"))),
    ]
    return lines


# ---------------------------------------------------------------------------------------------------------
# CSV and plot
# ---------------------------------------------------------------------------------------------------------

CSV_FIELDS = [
    "series",
    "step",
    "label",
    "k",
    "n",
    "runs",
    "wall_s",
    "wall_min_s",
    "wall_max_s",
    "cpu_s",
    "task_s",
    "play_s",
    "startup_s",
    "engine_s",
    "maxrss_mb",
    "ratio_to_floor",
    "load1",
    "hosts",
    "hosts_per_min",
    "controller_cpu_per_host_s",
    "module_cpu_per_host_s",
    "module_runs_per_host",
]


def write_csv(summary, path):
    floor = summary.get(("floor", "create"), {})
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=CSV_FIELDS + ["phase_" + p.replace(" ", "_") for p in PHASES], lineterminator="\n"
        )
        writer.writeheader()
        for key in sorted(summary, key=lambda k: (k[0], k[1], k[2] if len(k) > 2 else 0)):
            for n, s in sorted(summary[key].items()):
                row = {f: s.get(f) for f in CSV_FIELDS if f in s}
                label = LABELS.get(key[:2]) or FLEET_LABELS.get(key[0], "")
                row.update({"series": key[0], "step": key[1], "label": label, "n": n})
                row["k"] = key[2] if len(key) > 2 else ""
                base = floor.get(n, {}).get("wall_s")
                row["ratio_to_floor"] = s["wall_s"] / base if base and not is_fleet(key) else ""
                for p, v in (s.get("phases") or {}).items():
                    row["phase_" + p.replace(" ", "_")] = v
                writer.writerow(row)


def plot(meta, summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fleet = {key: by_n for key, by_n in summary.items() if key[0] == "fleet"}
    netns_rows = netns_fleet_rows(summary)
    panels = 2 + bool(fleet) + bool(netns_rows)
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 6.2))
    ax = axes[0]
    styles = {"create": "-", "rerun": "--", "check": ":"}
    colors = {
        "floor": "black",
        "ping": "tab:gray",
        "noop": "tab:olive",
        "aftermath": "tab:cyan",
        "bare": "tab:pink",
        "command_loop": "tab:red",
        "macvlan_loop": "tab:orange",
        "state": "tab:blue",
        "state_none": "navy",
        "role": "tab:green",
        "process": "tab:purple",
        "phases": "tab:brown",
    }
    for key in PLOTTED:
        by_n = summary.get(key)
        if not by_n:
            continue
        ns = sorted(by_n)
        ax.plot(
            ns,
            [by_n[n]["wall_s"] for n in ns],
            styles.get(key[1], "-"),
            marker="o",
            markersize=4,
            linewidth=2.5 if key == ("floor", "create") else 1.5,
            color=colors.get(key[0]),
            label=LABELS[key],
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes_of(meta, summary))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("macvlan links N (one host)")
    ax.set_ylabel("wall time, s (median)")
    ax.set_title("Converging N links: wall time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")

    ax = axes[1]
    sizes = [n for n in sizes_of(meta, summary) if n in summary.get(("state", "create"), {})]
    parts = [
        ("imports + argspec + validate", ("import ansible", "import pyroute2", "import engine", "argspec", "validate")),
        ("observe + plan", ("observe", "plan")),
        ("apply (netlink requests)", ("apply",)),
        ("verify (read back)", ("verify", "engine other")),
        ("result", ("result",)),
    ]
    bottoms = [0.0] * len(sizes)
    labels = [str(n) for n in sizes]
    for name, keys in parts:
        values = []
        for n in sizes:
            phases = summary.get(("phases", "create"), {}).get(n, {}).get("phases") or {}
            values.append(sum(phases.get(k, 0.0) for k in keys))
        ax.bar(labels, values, bottom=bottoms, label=name)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    extra = []
    for n in sizes:
        play = summary[("state", "create")][n]
        extra.append(
            (
                max(0.0, (play.get("task_s") or 0.0) - bottoms[sizes.index(n)]),
                max(0.0, (play.get("wall_s") or 0.0) - (play.get("task_s") or 0.0)),
            )
        )
    ax.bar(labels, [e[0] for e in extra], bottom=bottoms, label="Ansible per-task + interpreter start", hatch="//")
    bottoms = [b + e[0] for b, e in zip(bottoms, extra, strict=True)]
    ax.bar(labels, [e[1] for e in extra], bottom=bottoms, label="ansible-playbook start/exit, other tasks", alpha=0.5)
    floor = summary.get(("floor", "create"), {})
    ax.plot(labels, [floor.get(n, {}).get("wall_s") for n in sizes], "k_", markersize=30, label="ip -batch (floor)")
    ax.set_xlabel("macvlan links N")
    ax.set_ylabel("seconds (medians)")
    ax.set_title("One macvlan_state task (create): where the time goes")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)

    if fleet:
        ax = axes[2]
        for step in ("create", "rerun"):
            ks = sorted(key[2] for key in fleet if key[1] == step)
            walls = [next(iter(fleet[("fleet", step, k)].values()))["wall_s"] for k in ks]
            ax.plot(ks, walls, styles[step], marker="o", label="macvlan_state %s, playbook wall" % step)
        ax.set_xlabel("hosts K (privileged podman containers, forks = K)")
        ax.set_ylabel("wall time, s (median)")
        ax.set_title("Container fleet: %s links per host" % meta.get("config", {}).get("fleet_links"))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if netns_rows:
        ax = axes[-1]
        cfg = meta.get("config", {})
        for series, color in (("fleet_role", "tab:green"), ("fleet_rollout", "tab:blue")):
            for step in ("create", "rerun"):
                points = sorted(
                    (forks, s["hosts_per_min"]) for se, st, forks, _n, s in netns_rows if (se, st) == (series, step)
                )
                if points:
                    ax.plot(
                        [p[0] for p in points],
                        [p[1] for p in points],
                        styles[step],
                        marker="o",
                        color=color,
                        label="%s, %s" % (FLEET_LABELS[series], step),
                    )
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r[2] for r in netns_rows}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_ylim(bottom=0)
        ax.set_xlabel("forks")
        ax.set_ylabel("hosts per minute (median)")
        ax.set_title(
            "Fleet: %s namespaces, %s links per host, local connection"
            % (cfg.get("fleet_hosts"), cfg.get("fleet_host_links"))
        )
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    m = meta.get("machine", {})
    fig.suptitle(
        "hostnet.macvlan benchmarks — %s, %s cores, kernel %s, %s (load %s at start)"
        % (
            m.get("cpu", "?"),
            m.get("cores"),
            m.get("kernel"),
            meta.get("date"),
            meta.get("load", {}).get("load_at_start"),
        ),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def derived(meta, summary):
    """What results.json keeps next to the raw runs: the targets with their verdicts, and the fleet per forks."""
    sizes = sizes_of(meta, summary)
    fleet = [
        {
            "series": series,
            "step": step,
            "forks": forks,
            "links_per_host": n,
            "hosts": s.get("hosts"),
            "runs": s["runs"],
            "wall_s": s["wall_s"],
            "hosts_per_min": s["hosts_per_min"],
            "controller_cpu_per_host_s": s["controller_cpu_per_host_s"],
            "module_cpu_per_host_s": s["module_cpu_per_host_s"],
            "module_runs_per_host": s["module_runs_per_host"],
            "load1": s.get("load1"),
        }
        for series, step, forks, n, s in netns_fleet_rows(summary)
    ]
    return {"targets": floor_targets(summary, sizes), "kernel_floor": kernel_floor(summary, sizes), "fleet": fleet}


def write_all(raw, out_dir, baseline_path=None):
    meta, records = load(raw)
    summary = summarize(records)
    # results.json keeps the raw runs and, derived from them, the targets and the fleet figures
    data = json.loads(Path(raw).read_text(encoding="utf-8"))
    data["derived"] = derived(meta, summary)
    Path(raw).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    out_dir = Path(out_dir)
    written = []
    baseline = label = None
    if baseline_path is not None and Path(baseline_path).exists():
        baseline = load(baseline_path)
        label = Path(baseline_path).resolve().relative_to(HERE.parent).as_posix()
    md = out_dir / "results.md"
    md.write_text(markdown(meta, summary, baseline, label), encoding="utf-8")
    written.append(md)
    csv_path = out_dir / "results.csv"
    write_csv(summary, csv_path)
    written.append(csv_path)
    try:
        png = out_dir / "benchmarks.png"
        plot(meta, summary, png)
        written.append(png)
    except ImportError as exc:
        print("report: no plot (%s); make bench installs matplotlib from requirements/bench.txt" % exc)
    return written


def main(argv):
    raw = Path(argv[0]) if argv else HERE / "results" / "results.json"
    out_dir = Path(argv[1]) if len(argv) > 1 else raw.parent
    baseline = Path(argv[2]) if len(argv) > 2 else DEFAULT_BASELINE
    for path in write_all(raw, out_dir, None if str(baseline) == "none" else baseline):
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
