"""Issue 9, concurrency: runs on one namespace take turns (the per-namespace lock), a foreign actor creating and
deleting links in the same namespace is never touched and never makes a run fail, and the final state is what
the last successful run asked for.

Every run goes through ``ansible-playbook`` (several at once, from threads); the oracle is iproute2
(``oracle.full_dump``). While the runs go on, a background shell loop (the foreign actor) adds and deletes a
macvlan ``fX`` on p9, a parent no run manages; two more foreign macvlans (``fstay`` on p9 and ``fkeep`` on p0,
a parent the runs do manage, without purge) must come out of it exactly as they were.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import faults_helpers
import pytest
from conftest import ip_json
from faults_helpers import assert_clean_failure, barrier, quiet_netns, read_log
from oracle import assert_same, full_dump

faults = faults_helpers.faults  # the fixture: fault injection into the module process

# The runs that queue for the lock wait while the first one is held at the barrier: on a loaded CI machine the
# others may need long to start, so the queue may be long too (the default lock_timeout is 60 s).
WAIT = 300


@pytest.fixture
def host(lab):
    ns = quiet_netns(lab, "host")
    for i in (0, 9):
        lab.veth(ns, "p%d" % i, "q%d" % i)
    lab.ip(ns, "link", "add", "fstay", "link", "p9", "type", "macvlan", "mode", "private")
    lab.ip(ns, "link", "add", "fkeep", "link", "p0", "type", "macvlan", "mode", "vepa")
    lab.ip(ns, "link", "set", "fkeep", "up")
    lab.ip(ns, "addr", "add", "192.0.2.99/24", "dev", "fkeep")
    return ns


class ForeignActor:
    """``ip link add fX link p9 type macvlan; ip link del fX`` in a loop until stopped; every command that fails
    (another process deleted or created fX) is logged."""

    def __init__(self, ns, tmp_path):
        self.stop_file = tmp_path / "foreign.stop"
        self.log = tmp_path / "foreign.log"
        script = (
            f"i=0; while [ ! -e {self.stop_file} ]; do i=$((i+1)); "
            f'ip -n {ns} link add fX link p9 type macvlan || echo "round $i: add failed"; '
            f'ip -n {ns} link del fX || echo "round $i: del failed"; sleep 0.05; done; echo "rounds $i"'
        )
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(["bash", "-c", script], stdout=out, stderr=subprocess.STDOUT)

    def stop(self):
        """Stop the loop; return its log lines."""
        if self.proc.poll() is None:
            self.stop_file.touch()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # only this loop, by its pid
                self.proc.wait()
        return self.log.read_text().splitlines()


@pytest.fixture
def foreign(host, tmp_path):
    actor = ForeignActor(host, tmp_path)
    try:
        yield actor
    finally:
        actor.stop()


def foreign_links(dump):
    return {name: (dump["links"][name], dump["addresses"][name]) for name in ("fstay", "fkeep")}


def assert_foreign_untouched(foreign, before, ns):
    lines = foreign.stop()
    assert lines and lines[-1].startswith("rounds ") and int(lines[-1].split()[1]) > 0, lines
    failed = [line for line in lines if "failed" in line]
    assert not failed, "the foreign actor's links were touched: %s" % failed
    assert "fX" not in {link["ifname"] for link in ip_json("-n", ns, "link", "show")}
    assert foreign_links(full_dump(ns)) == foreign_links(before), "fstay or fkeep changed"


class Crowd:
    """Runs started at the same time whose transactions are made to overlap: each run's first apply step waits
    at a barrier (the fault hook's ``before_cmd``) that the test opens once every module is running and one of
    them has reached the barrier, plus a second for the others to reach it too (without a lock) or to queue for
    the lock (with one)."""

    def __init__(self, faults, tmp_path):
        self.faults = faults
        self.go = tmp_path / "barrier.go"
        self.opened = None

    def run(self, ansible, module, arg_sets):
        fault = {"method": "apply", "at": 1, "before_cmd": barrier(self.go)}
        logs = [self.faults.log_path() for args in arg_sets]
        with ThreadPoolExecutor(max_workers=len(arg_sets)) as pool:
            futures = [
                pool.submit(self.faults.run, ansible, module, fault, log=log, **args)
                for log, args in zip(logs, arg_sets, strict=True)
            ]
            try:
                self._wait(lambda: all(any(e.get("installed") for e in read_log(log)) for log in logs), futures)
                self._wait(lambda: any(e.get("firing") for log in logs for e in read_log(log)), futures)
                time.sleep(1.0)
            finally:
                self.opened = time.time()
                self.go.touch()
            runs = [future.result() for future in futures]
        for run in runs:
            fired = run.fired
            assert fired is None or fired.get("before_cmd_rc") == 0, "a run timed out at the barrier: %r" % run.log
        return runs

    @staticmethod
    def _wait(condition, futures, timeout=90):
        deadline = time.monotonic() + timeout
        while not condition() and not any(f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(0.05)

    def observed_before_opening(self, runs):
        """The runs that read the namespace before the barrier opened: with the lock, only the one at it."""
        return [run for run in runs if run.calls("observe") and run.calls("observe")[0]["time"] < self.opened]


@pytest.fixture
def crowd(faults, tmp_path):
    return Crowd(faults, tmp_path)


def rerun_unchanged(ansible, ns, module, arg_sets):
    """In one playbook: a rerun of every argument set reports no change, then a check-mode run of each plans
    nothing; the full dump is the same after as before."""
    before = full_dump(ns)
    name = "hostnet.macvlan." + module
    tasks = [{"name": "rerun %d" % i, name: args, "ignore_errors": True} for i, args in enumerate(arg_sets)]
    tasks += [
        {"name": "check %d" % i, name: args, "check_mode": True, "ignore_errors": True}
        for i, args in enumerate(arg_sets)
    ]
    results = ansible.playbook(tasks)
    assert len(results) == len(tasks), results
    for task, result in zip(tasks, results, strict=True):
        assert not result.get("failed") and result["changed"] is False, "%s: %r" % (task["name"], result)
    assert_same(ns, before)


def macvlans(ns):
    """{name: (parent, mode)} of the macvlans of ns (foreign ones left out)."""
    return {
        link["ifname"]: (link.get("link"), link["linkinfo"]["info_data"]["mode"])
        for link in ip_json("-n", ns, "-d", "link", "show")
        if link.get("linkinfo", {}).get("info_kind") == "macvlan" and link["ifname"] not in ("fstay", "fkeep", "fX")
    }


def addresses(ns, name):
    return sorted(
        "%s/%d" % (a["local"], a["prefixlen"])
        for entry in ip_json("-n", ns, "addr", "show", "dev", name)
        for a in entry["addr_info"]
        if a.get("scope") != "link"
    )


def promisc(ns, name):
    return "PROMISC" in ip_json("-n", ns, "link", "show", "dev", name)[0]["flags"]


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_runs_of_the_same_links_take_turns(lab, ansible_default, host, foreign, crowd, runs):
    """2 or 4 identical macvlan_state runs at once, their transactions made to overlap, beside the foreign actor:
    all succeed; one creates the links while the others wait for the lock (they read the namespace only after
    it) and then report no change; nothing foreign is touched."""
    before = full_dump(host)
    args = {
        "netns": host,
        "links": [
            {"name": "c0", "parent": "p0", "addresses": ["192.0.2.10/24"]},
            {"name": "c1", "parent": "p0", "mode": "private"},
            {"name": "c2", "parent": "p0", "mode": "vepa"},
        ],
        "parents": [{"name": "p0", "promisc": True}],
        "lock_timeout": WAIT,
    }
    runs = crowd.run(ansible_default, "macvlan_state", [args] * runs)
    results = [run.result for run in runs]
    for result in results:
        assert not result.get("failed"), result.get("msg")
    assert sorted(r["changed"] for r in results) == [False] * (len(runs) - 1) + [True], [
        r.get("actions") for r in results
    ]
    assert len(crowd.observed_before_opening(runs)) == 1, "runs read the namespace while another was changing it"
    assert_foreign_untouched(foreign, before, host)
    assert macvlans(host) == {"c0": ("p0", "bridge"), "c1": ("p0", "private"), "c2": ("p0", "vepa")}
    assert addresses(host, "c0") == ["192.0.2.10/24"] and promisc(host, "p0")
    rerun_unchanged(ansible_default, host, "macvlan_state", [args])


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_runs_of_disjoint_links_all_succeed(lab, ansible_default, host, foreign, crowd, runs):
    """2 or 4 macvlan_state runs at once, each with its own links on the same parent, their transactions made to
    overlap, beside the foreign actor: every run succeeds and creates its links, none undoes another's, they
    take turns, nothing foreign is touched."""
    before = full_dump(host)
    arg_sets = [
        {
            "netns": host,
            "links": [
                {"name": "d%da" % i, "parent": "p0", "addresses": ["198.51.100.%d/24" % (10 + i)]},
                {"name": "d%db" % i, "parent": "p0", "mode": "private"},
            ],
            "parents": [{"name": "p0", "promisc": True}],
            "lock_timeout": WAIT,
        }
        for i in range(runs)
    ]
    crowded = crowd.run(ansible_default, "macvlan_state", arg_sets)
    for run in crowded:
        assert not run.result.get("failed"), run.result.get("msg")
        assert run.result["changed"] is True
    assert len(crowd.observed_before_opening(crowded)) == 1, "runs read the namespace while another was changing it"
    assert_foreign_untouched(foreign, before, host)
    expected = {}
    for i in range(runs):
        expected.update({"d%da" % i: ("p0", "bridge"), "d%db" % i: ("p0", "private")})
    assert macvlans(host) == expected
    for i in range(runs):
        assert addresses(host, "d%da" % i) == ["198.51.100.%d/24" % (10 + i)]
    rerun_unchanged(ansible_default, host, "macvlan_state", arg_sets)


def test_concurrent_runs_that_disagree_end_in_what_the_last_run_asked(lab, ansible_default, host, foreign, crowd):
    """Two macvlan runs at once ask different modes and MTUs for one link: they take turns, so one creates the
    link and the other, the last, changes it in place; the kernel ends with what the last run asked. Neither
    fails or undoes the other."""
    before = full_dump(host)
    wishes = [("bridge", 1400), ("private", 1300)]
    arg_sets = [
        {"name": "cm", "parent": "p0", "netns": host, "mode": mode, "mtu": mtu, "lock_timeout": WAIT}
        for mode, mtu in wishes
    ]
    results = [run.result for run in crowd.run(ansible_default, "macvlan", arg_sets)]
    for result in results:
        assert not result.get("failed"), result.get("msg")
    creators = [i for i, r in enumerate(results) if any(a.startswith("create ") for a in r["actions"])]
    assert len(creators) == 1, [r["actions"] for r in results]
    last = 1 - creators[0]
    assert results[last]["changed"] is True, results[last]
    mode, mtu = wishes[last]
    link = ip_json("-n", host, "-d", "link", "show", "dev", "cm")[0]
    assert (link["linkinfo"]["info_data"]["mode"], link["mtu"]) == (mode, mtu)
    assert_foreign_untouched(foreign, before, host)
    rerun_unchanged(ansible_default, host, "macvlan", [arg_sets[last]])


def test_failed_run_beside_a_successful_one_undoes_only_its_own_work(lab, ansible_default, host, foreign, crowd):
    """Item 1, second half: two runs of the same links at once, one of which fails (its route's gateway is
    unreachable). Its rollback removes only what it applied itself: the links the other run created stay."""
    before = full_dump(host)
    good = {
        "netns": host,
        "links": [{"name": "s0", "parent": "p0"}, {"name": "s1", "parent": "p0"}],
        "lock_timeout": WAIT,
    }
    bad = {
        "netns": host,
        "lock_timeout": WAIT,
        "links": [
            {"name": "s0", "parent": "p0"},
            {"name": "s1", "parent": "p0", "routes": [{"dest": "203.0.113.0/24", "gateway": "198.18.0.1"}]},
        ],
    }
    results = [run.result for run in crowd.run(ansible_default, "macvlan_state", [good, bad])]
    assert not results[0].get("failed"), results[0].get("msg")
    assert_clean_failure(results[1], rolled_back="Rolled back" in results[1].get("msg", ""))
    assert set(macvlans(host)) == {"s0", "s1"}, "the failed run's rollback removed the other run's links"
    assert_foreign_untouched(foreign, before, host)
    rerun_unchanged(ansible_default, host, "macvlan_state", [good])
