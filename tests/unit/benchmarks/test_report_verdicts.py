"""The verdicts of `make bench`'s issue-11 targets (benchmarks/report.py): differences taken run by run, an
interval from a seeded bootstrap, and met / missed / not decided from where the interval lies."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[3] / "benchmarks" / "report.py"
SPEC = importlib.util.spec_from_file_location("hostnet_macvlan_bench_report", REPORT)
report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(report)


def test_percentile_by_nearest_rank():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert report.percentile(values, 0.0) == 1.0
    assert report.percentile(values, 0.5) == 3.0
    assert report.percentile(values, 1.0) == 5.0
    assert report.percentile(values, 0.74) == 4.0


def test_bootstrap_interval_needs_three_runs_of_each_list():
    assert report.bootstrap_interval(lambda s: report.median(s[0]), [[0.1, 0.2]]) is None
    assert report.bootstrap_interval(lambda s: report.median(s[0]), [[0.1, 0.2, 0.3], [1.0, 2.0]]) is None
    assert report.bootstrap_interval(lambda s: report.median(s[0]), []) is None


def test_bootstrap_interval_of_constant_runs_is_a_point_and_is_reproducible():
    assert report.bootstrap_interval(lambda s: report.median(s[0]), [[0.25] * 5]) == (0.25, 0.25)
    rng = random.Random(3)
    runs = [rng.gauss(0.2, 0.3) for i in range(9)]
    first = report.bootstrap_interval(lambda s: report.median(s[0]), [runs])
    assert first == report.bootstrap_interval(lambda s: report.median(s[0]), [runs])
    low, high = first
    assert min(runs) <= low < report.median(runs) < high <= max(runs)


def test_bootstrap_interval_undefined_estimates():
    # an estimate that is undefined in most resamples gives no interval rather than one from the few others
    assert report.bootstrap_interval(lambda s: None if s[0][0] > 0 else 1.0, [[1.0, 2.0, -1.0]]) is None


def test_verdict_takes_the_whole_interval():
    assert report.verdict(0.1, (-0.1, 0.29), 0.3) == "met"
    assert report.verdict(0.1, (-0.1, 0.3), 0.3) == "met"
    assert report.verdict(0.5, (0.31, 0.9), 0.3) == "missed"
    assert report.verdict(0.2, (0.1, 0.45), 0.3) == "not decided"
    assert report.verdict(0.4, (0.1, 0.45), 0.3) == "not decided"  # the estimate alone would have said missed
    assert report.verdict(0.2, None, 0.3) == "met (too few runs for an interval)"
    assert report.verdict(0.4, None, 0.3) == "missed (too few runs for an interval)"
    assert report.verdict(None, None, 0.3) == "not measured"


def test_a_slope_below_zero_decides_nothing():
    # a cost per link below zero is drift between the sizes, not a measurement: never "met"
    assert report.verdict(-0.1, (-0.35, 0.43), 2.0, slope=True) == report.NEGATIVE_SLOPE
    assert report.verdict(-0.1, None, 2.0, slope=True) == report.NEGATIVE_SLOPE
    assert report.verdict(-0.1, (-0.35, 0.43), 2.0) == "met"  # a difference may be below zero
    assert report.verdict(0.5, (-0.05, 1.2), 2.0, slope=True) == "met"


def test_slope_ratio_of_exact_lines():
    sizes = [16, 256, 1024]
    over = [[0.001 * n + 0.5] * 3 for n in sizes]  # 1 ms/link
    floor = [[0.0004 * n] * 3 for n in sizes]  # 0.4 ms/link
    assert report.slope_ratio(sizes, over, floor) == pytest.approx(2.5)
    assert report.slope_ratio(sizes, over, [[0.1] * 3] * len(sizes)) is None  # a flat floor: no ratio
    assert report.slope_ratio([16], over[:1], floor[:1]) is None


def records(series, step, n, walls):
    return [
        {"series": series, "step": step, "n": n, "rep": rep, "wall_s": wall, "cpu_s": wall, "maxrss_kb": 1024}
        for rep, wall in enumerate(walls, 1)
    ]


def targets_of(recs, sizes):
    return {t["id"]: t for t in report.floor_targets(report.summarize(recs), sizes)}


def test_pairing_removes_the_machine_speed_that_runs_of_one_number_share():
    # The machine's speed moves both series of a run together (2.0 s then 3.0 s): unpaired medians scatter, the
    # run-by-run difference is steady at +0.1 s - met, with an interval.
    speed = [2.0, 3.0, 2.0, 3.0, 2.0, 3.0, 2.0]
    noop = list(speed)
    state = [s + 0.1 for s in speed]
    t = targets_of(records("noop", "run", 1024, noop) + records("state", "rerun", 1024, state), [1024])
    rerun = t["rerun_over_noop"]
    assert rerun["value"] == pytest.approx(0.1)
    assert rerun["interval"] == (pytest.approx(0.1), pytest.approx(0.1))
    assert rerun["result"] == "met"
    assert rerun["cpu_result"] == "met"
    assert "paired +0.100 s (median of 7 runs" in rerun["measured"]


def test_a_clear_excess_is_missed_and_noise_is_not_decided():
    rng = random.Random(5)
    noop = [2.0 + rng.uniform(-0.4, 0.4) for i in range(9)]
    far = targets_of(
        records("noop", "run", 1024, noop) + records("state", "rerun", 1024, [x + 0.8 for x in noop]), [1024]
    )
    assert far["rerun_over_noop"]["result"] == "missed"
    noisy = [x + 0.3 + rng.uniform(-0.5, 0.5) for x in noop]
    near = targets_of(records("noop", "run", 1024, noop) + records("state", "rerun", 1024, noisy), [1024])
    assert near["rerun_over_noop"]["result"] == "not decided"
    few = targets_of(records("noop", "run", 1024, noop[:2]) + records("state", "rerun", 1024, noisy[:2]), [1024])
    assert few["rerun_over_noop"]["result"].endswith("(too few runs for an interval)")


def test_create_slope_ratio_is_paired_at_each_size():
    sizes = [16, 1024]
    recs = []
    for n in sizes:
        speed = [1.0, 1.5, 1.0, 1.5, 1.0]  # shared by the runs of one number
        recs += records("noop", "run", n, [2.0 * s for s in speed])
        recs += records("state", "create", n, [2.0 * s + 0.001 * n for s in speed])  # 1 ms/link over noop
        recs += records("floor", "create", n, [0.0005 * n] * 5)  # ip -batch 0.5 ms/link
    slope = targets_of(recs, sizes)["create_slope_over_noop_vs_ip_batch"]
    assert slope["value"] == pytest.approx(2.0)
    assert slope["interval"] == (pytest.approx(2.0), pytest.approx(2.0))
    assert slope["result"] == "missed"
    assert slope["measured"].startswith("paired 2.00× (90 % interval 2.00× … 2.00×)")


def test_the_earlier_slope_target_gets_an_interval_and_refuses_a_negative_slope():
    sizes = [16, 1024]
    floor = records("floor", "create", 16, [0.01] * 5) + records("floor", "create", 1024, [0.3] * 5)
    steady = records("state", "create", 16, [1.0, 1.1, 1.0, 1.1, 1.0]) + records("state", "create", 1024, [1.5] * 5)
    rows = {row[0]: row for row in report.targets(report.summarize(floor + steady), sizes)}
    slope = rows["macvlan_state slope within 2× of ip -batch's"]
    assert "90 % interval" in slope[1]
    assert slope[2] == "met"
    # the runs at 16 links ran while the machine was slower than at 1024: a slope below zero
    drifted = records("state", "create", 16, [1.6] * 5) + records("state", "create", 1024, [1.5] * 5)
    rows = {row[0]: row for row in report.targets(report.summarize(floor + drifted), sizes)}
    assert rows["macvlan_state slope within 2× of ip -batch's"][2] == report.NEGATIVE_SLOPE
