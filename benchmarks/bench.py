# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How the cost of converging N macvlan links grows: the kernel floor, the naive playbook, our modules and role.

Run as root, through ``make bench`` (which installs requirements/bench.txt and links the collection), or directly:

    .venv/bin/python benchmarks/bench.py [--quick] [--sizes 1,16,64] [--series state,floor] [--fleet 1,4]

Every measured run gets a fresh network namespace with veth parents (benchmarks/_lab.py); nothing leaves it.
Results go to benchmarks/results/: results.json (every run, raw), results.csv (one row per series and size),
results.md (the tables) and benchmarks.png (the plot); ``python benchmarks/report.py`` redraws them from the JSON.
docs/benchmarks.md explains each series and how to read the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import _fleet  # noqa: E402
import _lab  # noqa: E402
import report  # noqa: E402

COLLECTIONS = ROOT / ".build" / "collections"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
STATE_MODULE = ROOT / "plugins" / "modules" / "macvlan_state.py"
LINK_MODULE = ROOT / "plugins" / "modules" / "macvlan.py"
# The fixture modules bench_noop and bench_bare (macvlan_state's argument spec; loaded through ANSIBLE_LIBRARY).
LIBRARY = HERE / "library"
ROLE = ROOT / "roles" / "macvlan_topology" / "tasks" / "main.yml"
IMAGES_SCRIPT = ROOT / "scripts" / "images.sh"
DEFAULT_FLEET_IMAGE = "localhost/hostnet-macvlan-base:bookworm"

SIZES = (1, 16, 64, 256, 1024)
FLEET = (1, 4, 8, 16)
FLEET_FORKS = (8, 16, 32)
SERIES = (
    "floor",
    "ping",
    "noop",
    "aftermath",
    "bare",
    "state_none",
    "command_loop",
    "macvlan_loop",
    "state",
    "role",
    "process",
    "phases",
    "fleet",
    "fleet_role",
    "fleet_rollout",
)
# The one-task playbooks run interleaved, in this order (report.py describes them).
INTERLEAVED = report.INTERLEAVED
# A namespace name for the do-nothing module's netns argument (it is validated, never entered).
NOOP_NETNS = "hmvb-noop"

# The plays. Each measured playbook has one main task (or, for the role, the role's tasks); the bench_timer
# callback records when each task started and ended.
PLAY_HEAD = """\
- name: Benchmark {title}
  hosts: all
  gather_facts: false
"""
# The links reach the plays as inventory host variables, as a fleet's inventory (AWX's included) holds them.
# Not through vars_files: ansible-core 2.19 reads and tags a play's vars_files again for every task, which
# costs each task of a play about 0.25 s per 1024 links (docs/benchmarks.md, "Where the links come from").
# The container fleet's inventory has no room for them: there they stay in vars_files (VARS_FILES_HEAD).
VARS_FILES_HEAD = PLAY_HEAD + "  vars_files: [{vars_file}]\n"

PLAYS = {
    "ping": """\
  tasks:
    - name: Ansible's floor, ansible.builtin.ping (the links are loaded, not used)
      ansible.builtin.ping:
""",
    "noop": """\
  tasks:
    - name: The do-nothing module with macvlan_state's arguments (benchmark fixture)
      bench_noop:
        links: "{{ bench_links }}"
        netns: "{{ bench_ns | default(omit, true) }}"
""",
    "bare": """\
  tasks:
    - name: The least a verified create costs, one request per link and one read-back (benchmark fixture)
      bench_bare:
        links: "{{ bench_links }}"
        netns: "{{ bench_ns }}"
""",
    "command_loop": """\
  tasks:
    - name: Naive loop, one ip link add per link (benchmark fixture)
      ansible.builtin.command:
        argv: [ip, -n, "{{ bench_ns }}", link, add, "{{ item.name }}", link, "{{ item.parent }}", up,
               type, macvlan, mode, bridge]
      loop: "{{ bench_links }}"
      loop_control: {label: "{{ item.name }}"}
      changed_when: true
""",
    "macvlan_loop": """\
  tasks:
    - name: One macvlan task per link
      hostnet.macvlan.macvlan:
        name: "{{ item.name }}"
        parent: "{{ item.parent }}"
        netns: "{{ bench_ns | default(omit, true) }}"
      loop: "{{ bench_links }}"
      loop_control: {label: "{{ item.name }}"}
""",
    "state": """\
  tasks:
    - name: All links in one macvlan_state task
      hostnet.macvlan.macvlan_state:
        links: "{{ bench_links }}"
        netns: "{{ bench_ns | default(omit, true) }}"
""",
    "state_none": """\
  tasks:
    - name: All links in one macvlan_state task, no link in the result
      hostnet.macvlan.macvlan_state:
        links: "{{ bench_links }}"
        netns: "{{ bench_ns | default(omit, true) }}"
        return_links: none
""",
    "role": """\
  roles:
    - role: hostnet.macvlan.macvlan_topology
      vars:
        macvlan_topology_links: "{{ bench_links }}"
        macvlan_topology_netns: "{{ bench_ns | default('', true) }}"
        macvlan_topology_persist: none
        macvlan_topology_install_pyroute2: false
""",
}

# The task whose time is "the task" of a playbook (for the role: its macvlan_state task).
MAIN_ACTION = {
    "ping": "ansible.builtin.ping",
    "noop": "bench_noop",
    "bare": "bench_bare",
    "command_loop": "ansible.builtin.command",
    "macvlan_loop": "hostnet.macvlan.macvlan",
    "state": "hostnet.macvlan.macvlan_state",
    "state_none": "hostnet.macvlan.macvlan_state",
    "role": "hostnet.macvlan.macvlan_state",
}


class BenchError(RuntimeError):
    pass


# A creating run whose read-back the kernel keeps interrupting (its own asynchronous work on hundreds of new
# links, IPv6 autoconfiguration, on a loaded machine) fails and rolls back: that measurement point is run again,
# at most this many times, and the failures are counted in the notes.
INTERRUPTED = "kept changing while it was read"
POINT_ATTEMPTS = 3


def attempt(bench, func, n, rep):
    """``func(n, rep)``, repeated when a run failed because the kernel kept interrupting the read-back."""
    for number in range(POINT_ATTEMPTS):
        recorded = len(bench.records)
        try:
            return func(n, rep)
        except BenchError as exc:
            if INTERRUPTED not in str(exc) or number == POINT_ATTEMPTS - 1:
                raise
            del bench.records[recorded:]  # the point is measured again, whole
            key = "read-back interrupted"
            bench.notes[key] = bench.notes.get(key, 0) + 1
            print(
                "[%s] %s N=%d: the read-back kept being interrupted; running the point again"
                % (now(), func.__name__, n)
            )
            for ns in _lab.leftover_namespaces():
                subprocess.run(["ip", "netns", "del", ns], check=False)
            time.sleep(10)
    return None


def now():
    return time.strftime("%H:%M:%S")


def loadavg():
    with open("/proc/loadavg") as handle:
        return [float(x) for x in handle.read().split()[:3]]


# After links are created or deleted the kernel goes on working on them: 1024 macvlans coming up start IPv6 duplicate
# address detection, MLD reports and router solicitations on each (measured on the 2-core VM after `ip -batch`
# created them: system, irq and softirq time at about one CPU-second per second for 2 s, then bursts of 0.2 to 0.6
# of a CPU in quarter-second windows until about 6 s, and smaller ones after), and deleted ones are freed in RCU
# callbacks. A playbook started in that time pays for work that is not its own (the rerun right after the create
# did), so each timed playbook waits for the kernel to be quiet first: one whole window with its work below the
# share, at most KERNEL_QUIET_MAX_S. A quarter-second window (the first version) ended the wait in the lull
# between the first bursts, about 2.8 s after the create, and the rerun then met the next ones.
KERNEL_QUIET_SHARE = 0.05  # of one CPU, in system + irq + softirq time over one window
KERNEL_QUIET_WINDOW_S = 1.0
KERNEL_QUIET_MAX_S = 12.0
# The machine-speed probe at the start and the end of a run (speed_probe).
SPEED_PROBE_S = 10.0


def kernel_time():
    """Seconds of system, irq and softirq time of all CPUs since boot (/proc/stat)."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()
    return (int(fields[3]) + int(fields[6]) + int(fields[7])) / os.sysconf("SC_CLK_TCK")


def wait_kernel_quiet():
    """Wait until one window passes with the kernel's own work below KERNEL_QUIET_SHARE of a CPU (other programs'
    system time counts too: on a busy machine this waits the maximum). Returns the seconds waited."""
    start = time.perf_counter()
    before = kernel_time()
    while True:
        time.sleep(KERNEL_QUIET_WINDOW_S)
        now = kernel_time()
        if (
            now - before < KERNEL_QUIET_SHARE * KERNEL_QUIET_WINDOW_S
            or time.perf_counter() - start >= KERNEL_QUIET_MAX_S
        ):
            return time.perf_counter() - start
        before = now


def run_timed(cmd, log, env=None, cwd=None):
    """Run ``cmd`` with stdout+stderr to ``log``; wall time, CPU time and peak RSS of its process tree.

    ``os.wait4`` gives the child's resource usage including the descendants it waited for: ru_maxrss is then the
    peak RSS of the largest single process of the tree (not a sum), user+sys the CPU time of the whole tree.
    """
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        status, usage = os.wait4(proc.pid, 0)[1:]
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
        "rc": proc.returncode,
    }


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def machine_info():
    info = {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as handle:
            info["memory_gb"] = round(int(handle.readline().split()[1]) / 1024 / 1024, 1)
        with open("/etc/os-release") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    versions = {}
    code = "from importlib.metadata import version as v; print(v('ansible-core'), v('pyroute2'))"
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        versions["ansible-core"], versions["pyroute2"] = proc.stdout.split()
    ip = subprocess.run(["ip", "-V"], capture_output=True, text=True, check=False).stdout.strip()
    versions["iproute2"] = ip.split("iproute2-")[-1].split(",")[0] if "iproute2-" in ip else ip
    podman = shutil.which("podman")
    if podman:
        out = subprocess.run([podman, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        versions["podman"] = out.split()[-1] if out else None
    info["versions"] = versions
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=False
    )
    if commit.returncode == 0:
        info["commit"] = commit.stdout.strip()
    return info


def speed_probe(seconds=SPEED_PROBE_S):
    """The machine's speed over ``seconds``: the CPU time of one fixed piece of Python work (about 40 ms), taken
    every 0.2 s. On a VM it moves with whatever shares the host's cores; its spread bounds how closely one run of a
    playbook can be timed (docs/benchmarks.md). Milliseconds: min, median, max and the count of samples."""

    def work():
        start = time.process_time()
        total = 0
        for i in range(200000):
            total += i * i % 7
        table = {}
        for i in range(40000):
            table[str(i)] = i
        return (time.process_time() - start) * 1e3

    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        samples.append(work())
        time.sleep(0.2)
    return {
        "min_ms": round(min(samples), 1),
        "median_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "samples": len(samples),
    }


def wait_for_quiet(threshold, max_wait):
    """Poll the 1-minute load average until it is below ``threshold`` (at most ``max_wait`` seconds)."""
    start = time.time()
    load = loadavg()
    while load[0] >= threshold and time.time() - start < max_wait:
        print(
            "[%s] load average %.2f >= %.2f: waiting (%.0f s so far)" % (now(), load[0], threshold, time.time() - start)
        )
        time.sleep(15)
        load = loadavg()
    waited = time.time() - start
    quiet = load[0] < threshold
    if not quiet:
        print("[%s] load average still %.2f after %.0f s: measuring anyway (recorded)" % (now(), load[0], waited))
    return {"threshold": threshold, "waited_s": round(waited, 1), "load_at_start": load, "quiet": quiet}


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = Path(work)
        self.records = []
        self.notes = {}
        self.parents = args.parents
        self.env = dict(os.environ)
        self.env.update(
            {
                "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
                "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"),
                "ANSIBLE_CONNECTION_PLUGINS": str(HERE / "connection_plugins"),
                "ANSIBLE_LIBRARY": str(LIBRARY),
                "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-local"),
                "ANSIBLE_REMOTE_TEMP": str(self.work / "ansible-remote"),
                "PATH": "%s%s%s" % (BIN, os.pathsep, os.environ.get("PATH", "")),
            }
        )
        self.env.pop("ANSIBLE_CONFIG", None)
        self.module_env = dict(self.env, PYTHONPATH=str(COLLECTIONS))
        self.inventory = self.work / "localhost.ini"
        self.inventory.write_text(
            "localhost ansible_connection=local ansible_python_interpreter=%s\n" % PYTHON, encoding="utf-8"
        )
        self.counter = 0

    # -- bookkeeping -----------------------------------------------------------------------------------

    def record(self, series, step, n, rep, measurement, **extra):
        entry = {"series": series, "step": step, "n": n, "rep": rep, "load1": loadavg()[0]}
        entry.update(measurement)
        entry.update(extra)
        self.records.append(entry)
        rss = entry.get("maxrss_kb")
        print(
            "[%s] %-13s %-7s %-12s rep %d: %8.3f s%s"
            % (
                now(),
                series,
                step,
                ("K=%d N=%d" % (extra["k"], n)) if "k" in extra else "N=%d" % n,
                rep + 1,
                entry["wall_s"],
                ("  (peak RSS %.0f MB)" % (rss / 1024) if rss else "")
                + (
                    "  %d hosts, %.0f hosts/min, controller CPU %.3f s/host"
                    % (entry["hosts"], entry["hosts_per_min"], entry["controller_cpu_s"] / entry["hosts"])
                    if "hosts_per_min" in entry
                    else ""
                ),
            ),
            flush=True,
        )
        return entry

    def path(self, name):
        self.counter += 1
        return self.work / ("%04d-%s" % (self.counter, name))

    def reps(self, kind, n):
        if kind == "loop":
            return self.args.loop_reps if n < self.args.loop_cap_from else self.args.loop_reps_large
        if kind == "playbook":
            return self.args.playbook_reps
        return self.args.reps

    # -- primitives ------------------------------------------------------------------------------------

    def run_book(self, book, label, inventory=None, check=False, forks=None, extra=(), extra_env=None):
        """Run ansible-playbook on ``book`` (a path or a collection playbook's name); the measurement and the
        bench_timer callback's data (raises BenchError when the run failed or no task data was written)."""
        timer = self.path("timer.json")
        log = self.path("%s.log" % label)
        cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory or self.inventory), str(book)]
        if check:
            cmd.append("--check")
        if forks:
            cmd += ["--forks", str(forks)]
        cmd += list(extra)
        env = dict(self.env, BENCH_TIMER_FILE=str(timer), **(extra_env or {}))
        m = run_timed(cmd, log, env=env, cwd=self.work)
        if m["rc"] != 0 or not timer.exists():
            raise BenchError("ansible-playbook %s failed (rc %s); end of %s:\n%s" % (label, m["rc"], log, tail(log)))
        data = json.loads(timer.read_text(encoding="utf-8"))
        m["play_s"] = data["end"] - data["start"]
        m["startup_s"] = m["wall_s"] - m["play_s"]
        tasks = [t for t in data["tasks"] if t["end"] is not None]
        failed = [(t["name"], h) for t in tasks for h, r in t["hosts"].items() if r["failed"]]
        if failed:
            raise BenchError("%s: tasks failed: %s (see %s)" % (label, failed[:10], log))
        m["tasks"] = len(tasks)
        m["task_times"] = [[t["name"], t["end"] - t["start"]] for t in tasks]
        return m, tasks

    def playbook(self, kind, links, ns=None, check=False, inventory=None, forks=None, extra_env=None, quiet=True):
        """Run the one-task playbook ``kind`` with ``links``; unless ``quiet`` is false (or with forks: the fleet has
        its own lab), after the kernel is quiet (wait_kernel_quiet)."""
        variables = {"bench_links": links, "bench_ns": ns or ""}
        book = self.path("%s.yml" % kind)
        if inventory is None:
            inventory = self.path("inventory.json")
            host = {"ansible_connection": "local", "ansible_python_interpreter": PYTHON}
            host.update(variables)
            inventory.write_text(json.dumps({"all": {"hosts": {"localhost": host}}}), encoding="utf-8")
            book.write_text(PLAY_HEAD.format(title=kind) + PLAYS[kind], encoding="utf-8")
        else:
            vars_file = self.path("vars.json")
            vars_file.write_text(json.dumps(variables), encoding="utf-8")
            book.write_text(
                VARS_FILES_HEAD.format(title=kind, vars_file=vars_file.name) + PLAYS[kind], encoding="utf-8"
            )
        quiet_s = wait_kernel_quiet() if forks is None and quiet else None
        kernel_before = kernel_time()
        m, tasks = self.run_book(book, kind, inventory=inventory, check=check, forks=forks, extra_env=extra_env)
        m["kernel_s"] = kernel_time() - kernel_before  # system+irq+softirq of all CPUs while it ran, not only its own
        m["kernel_quiet_wait_s"] = quiet_s
        main = [t for t in tasks if t["action"] == MAIN_ACTION[kind]]
        if len(main) != 1:
            raise BenchError("%s: expected one %s task, found %d" % (kind, MAIN_ACTION[kind], len(main)))
        main = main[0]
        m["task_s"] = main["end"] - main["start"]
        m["changed"] = any(r["changed"] for r in main["hosts"].values())
        m["hosts_changed"] = sum(1 for r in main["hosts"].values() if r["changed"])
        return m

    def module_process(self, module, args, ns):
        """Run a module file directly, as Ansible's interpreter would, without Ansible around it."""
        args_file = self.path("args.json")
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, netns=ns)}), encoding="utf-8")
        log = self.path("module.out")
        m = run_timed([PYTHON, str(module), str(args_file)], log, env=self.module_env, cwd=self.work)
        text = log.read_text(encoding="utf-8", errors="replace")
        try:
            result = json.loads(text[text.index("{") :])
        except ValueError:
            raise BenchError("%s printed no result (rc %s):\n%s" % (module.name, m["rc"], text[-3000:])) from None
        if m["rc"] != 0 or result.get("failed"):
            raise BenchError("%s failed: %s" % (module.name, result.get("msg")))
        m["changed"] = bool(result.get("changed"))
        m["result_bytes"] = len(text)
        return m

    def phases(self, links, ns, check=False):
        links_file = self.path("links.json")
        links_file.write_text(json.dumps(links), encoding="utf-8")
        log = self.path("phases.out")
        cmd = [PYTHON, str(HERE / "phases.py"), str(links_file), ns] + (["--check"] if check else [])
        m = run_timed(cmd, log, env=self.module_env, cwd=self.work)
        text = log.read_text(encoding="utf-8", errors="replace")
        if m["rc"] != 0:
            raise BenchError("phases.py failed (rc %s):\n%s" % (m["rc"], text[-3000:]))
        data = json.loads(text.strip().splitlines()[-1])
        m.update(
            {
                "phases": data["phases"],
                "phases_cpu": data.get("phases_cpu"),
                "engine_s": data["total"],
                "changed": data["changed"],
                "actions": data["actions"],
                "result_bytes": data["result_bytes"],
            }
        )
        return m

    @staticmethod
    def expect(lab, n, what):
        found = len(lab.macvlans())
        if found != n:
            raise BenchError("%s: expected %d macvlan links in %s, iproute2 shows %d" % (what, n, lab.ns, found))

    @staticmethod
    def expect_changed(m, changed, what):
        if m["changed"] != changed:
            raise BenchError("%s: reported changed=%s, expected %s" % (what, m["changed"], changed))

    # -- series ----------------------------------------------------------------------------------------

    def ip_batch(self, lab, links):
        """Create ``links`` in ``lab`` with one ``ip -batch`` (up, bridge mode); its measurement."""
        batch = self.path("batch.txt")
        batch.write_text(
            "".join("link add %s link %s up type macvlan mode bridge\n" % (s["name"], s["parent"]) for s in links),
            encoding="utf-8",
        )
        m = run_timed(["ip", "-n", lab.ns, "-batch", str(batch)], self.path("ip.log"))
        if m["rc"] != 0:
            raise BenchError("ip -batch failed; see %s" % self.path("ip.log"))
        return m

    def floor(self, n, rep):
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "floor") as lab:
            m = self.ip_batch(lab, links)
            self.expect(lab, n, "ip -batch")
            self.record("floor", "create", n, rep, m)

    def aftermath(self, n, rep):
        """ip -batch creates the N links and the do-nothing module's playbook starts the moment ip exits: what the
        kernel's work on new links after ip -batch has returned (IPv6 autoconfiguration on each: duplicate address
        detection, MLD reports, router solicitations) costs a playbook that follows it. Against the noop series
        (the same playbook on a quiet kernel) this is the part of creating links that ip -batch's time leaves out
        and any playbook that creates them pays."""
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "aftermath") as lab:
            wait_kernel_quiet()  # the namespace's own setup done
            ip = self.ip_batch(lab, links)
            m = self.playbook("noop", links, NOOP_NETNS, quiet=False)
            self.expect(lab, n, "ip -batch before the do-nothing module")
            self.expect_changed(m, False, "bench_noop after ip -batch")
            self.record("aftermath", "run", n, rep, m, ip_wall_s=ip["wall_s"])

    def ping(self, n, rep):
        """Ansible's floor: one ansible.builtin.ping task; the N links are loaded from the vars file, not used."""
        links = _lab.link_specs(n, self.parents)
        m = self.playbook("ping", links, None)
        self.record("ping", "run", n, rep, m)

    def noop(self, n, rep):
        """The do-nothing module (benchmarks/library/bench_noop.py) with the arguments of the macvlan_state task."""
        links = _lab.link_specs(n, self.parents)
        m = self.playbook("noop", links, NOOP_NETNS)
        self.expect_changed(m, False, "bench_noop")
        self.record("noop", "run", n, rep, m)

    def bare(self, n, rep):
        """The least a verified create costs through Ansible (benchmarks/library/bench_bare.py): one link dump, the
        same create request as macvlan_state's per link, one read-back dump, the created names as the result."""
        self.create_once("bare", n, rep, "bench_bare")

    def create_once(self, kind, n, rep, what):
        """The one-task playbook ``kind`` creates the N links in a fresh namespace: recorded as ``kind``'s create."""
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, kind.replace("_", "-")) as lab:
            m = self.playbook(kind, links, lab.ns)
            self.expect(lab, n, what)
            self.expect_changed(m, True, what)
            self.record(kind, "create", n, rep, m)

    def command_loop(self, n, rep):
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "cmd") as lab:
            m = self.playbook("command_loop", links, lab.ns)
            self.expect(lab, n, "command loop")
            self.record("command_loop", "create", n, rep, m)

    def macvlan_loop(self, n, rep):
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "loop") as lab:
            m = self.playbook("macvlan_loop", links, lab.ns)
            self.expect(lab, n, "macvlan loop")
            self.expect_changed(m, True, "macvlan loop")
            self.record("macvlan_loop", "create", n, rep, m)
            m = self.playbook("macvlan_loop", links, lab.ns)
            self.expect_changed(m, False, "macvlan loop rerun")
            self.record("macvlan_loop", "rerun", n, rep, m)

    def state(self, n, rep):
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "state") as lab:
            m = self.playbook("state", links, lab.ns, check=True)
            self.expect(lab, 0, "macvlan_state --check")
            self.expect_changed(m, True, "macvlan_state --check")
            self.record("state", "check", n, rep, m)
            m = self.playbook("state", links, lab.ns)
            self.expect(lab, n, "macvlan_state")
            self.expect_changed(m, True, "macvlan_state")
            self.record("state", "create", n, rep, m)
            m = self.playbook("state", links, lab.ns)
            self.expect_changed(m, False, "macvlan_state rerun")
            self.record("state", "rerun", n, rep, m)

    def state_none(self, n, rep):
        """macvlan_state's create with ``return_links: none``: the create without the created links in the result
        (against the state series: what carrying them through Ansible costs)."""
        self.create_once("state_none", n, rep, "macvlan_state return_links none")

    def role(self, n, rep):
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "role") as lab:
            m = self.playbook("role", links, lab.ns)
            self.expect(lab, n, "macvlan_topology role")
            self.expect_changed(m, True, "macvlan_topology role")
            self.record("role", "create", n, rep, m)
            m = self.playbook("role", links, lab.ns)
            self.expect_changed(m, False, "macvlan_topology role rerun")
            self.record("role", "rerun", n, rep, m)

    def process(self, n, rep):
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "proc") as lab:
            m = self.module_process(STATE_MODULE, {"links": links}, lab.ns)
            self.expect(lab, n, "macvlan_state module process")
            self.expect_changed(m, True, "macvlan_state module process")
            self.record("process", "create", n, rep, m)
            m = self.module_process(STATE_MODULE, {"links": links}, lab.ns)
            self.expect_changed(m, False, "macvlan_state module process rerun")
            self.record("process", "rerun", n, rep, m)
        if n == 1:
            # What one item of the macvlan loop costs without Ansible: the single-link module, run directly.
            with _lab.Lab(self.parents, "proc1") as lab:
                m = self.module_process(LINK_MODULE, dict(links[0]), lab.ns)
                self.expect(lab, 1, "macvlan module process")
                self.record("process_link", "create", 1, rep, m)
                m = self.module_process(LINK_MODULE, dict(links[0]), lab.ns)
                self.expect_changed(m, False, "macvlan module process rerun")
                self.record("process_link", "rerun", 1, rep, m)

    def phase_series(self, n, rep, series="phases"):
        links = _lab.link_specs(n, self.parents)
        with _lab.Lab(self.parents, "phase") as lab:
            m = self.phases(links, lab.ns, check=True)
            self.expect(lab, 0, "phases --check")
            self.record(series, "check", n, rep, m)
            m = self.phases(links, lab.ns)
            self.expect(lab, n, "phases")
            self.expect_changed(m, True, "phases")
            self.record(series, "create", n, rep, m)
            m = self.phases(links, lab.ns)
            self.expect_changed(m, False, "phases rerun")
            self.record(series, "rerun", n, rep, m)

    # -- fleet -----------------------------------------------------------------------------------------

    def fleet_unavailable(self):
        """Why the fleet series cannot run here, or None."""
        if not shutil.which("podman"):
            return "podman is not installed"
        image = self.args.fleet_image
        proc = subprocess.run(["podman", "image", "exists", image], capture_output=True, check=False)
        if proc.returncode != 0 and IMAGES_SCRIPT.exists() and image == DEFAULT_FLEET_IMAGE:
            print("[%s] fleet: building %s with %s" % (now(), image, IMAGES_SCRIPT.relative_to(ROOT)))
            subprocess.run(["bash", str(IMAGES_SCRIPT), "base:bookworm"], check=False)
            proc = subprocess.run(["podman", "image", "exists", image], capture_output=True, check=False)
        if proc.returncode != 0:
            return "container image %s does not exist (scripts/images.sh base:bookworm builds it)" % image
        if self.args.fleet_connection != "podman_exec":
            proc = subprocess.run(
                [str(BIN / "ansible-doc"), "-t", "connection", self.args.fleet_connection],
                capture_output=True,
                env=self.env,
                check=False,
            )
            if proc.returncode != 0:
                return "connection plugin %s is not installed" % self.args.fleet_connection
        return None

    def fleet(self, sizes, per_host):
        reason = self.fleet_unavailable()
        if reason:
            self.notes["fleet"] = "not measured: " + reason
            print("[%s] fleet: %s" % (now(), self.notes["fleet"]))
            return
        image = self.args.fleet_image
        prefix = "%s-fleet-%s" % (_lab.PREFIX, uuid.uuid4().hex[:4])
        names = ["%s-%d" % (prefix, i) for i in range(max(sizes))]
        parent_setup = (
            "ip link del bp0 2>/dev/null; ip link add bp0 type veth peer name bp0x && "
            "ip link set bp0 up && ip link set bp0x up"
        )
        try:
            for name in names:
                subprocess.run(
                    ["podman", "run", "-d", "--name", name, "--privileged", "--network", "none"]
                    + ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"]
                    + [image, "sleep", "infinity"],
                    check=True,
                    capture_output=True,
                )
            links = _lab.link_specs(per_host, 1)
            for k in sizes:
                hosts = names[:k]
                inventory = self.path("fleet.ini")
                inventory.write_text(
                    "[fleet]\n"
                    + "".join(
                        "%s ansible_connection=%s ansible_python_interpreter=%s\n"
                        % (h, self.args.fleet_connection, self.args.fleet_python)
                        for h in hosts
                    ),
                    encoding="utf-8",
                )
                for rep in range(self.args.playbook_reps):
                    for host in hosts:
                        subprocess.run(["podman", "exec", host, "sh", "-c", parent_setup], check=True)
                    m = self.playbook("state", links, None, inventory=inventory, forks=k)
                    if m["hosts_changed"] != k:
                        raise BenchError("fleet K=%d: %d hosts changed, expected %d" % (k, m["hosts_changed"], k))
                    for host in hosts:
                        out = subprocess.run(
                            ["podman", "exec", host, "ip", "-j", "link", "show", "type", "macvlan"],
                            check=True,
                            capture_output=True,
                            text=True,
                        ).stdout
                        if len(json.loads(out or "[]")) != per_host:
                            raise BenchError("fleet: %s does not have %d macvlan links" % (host, per_host))
                    self.record("fleet", "create", per_host, rep, m, k=k)
                    m = self.playbook("state", links, None, inventory=inventory, forks=k)
                    if m["hosts_changed"]:
                        raise BenchError("fleet K=%d rerun: %d hosts changed" % (k, m["hosts_changed"]))
                    self.record("fleet", "rerun", per_host, rep, m, k=k)
        finally:
            subprocess.run(["podman", "rm", "-f", "-t", "0"] + names, capture_output=True, check=False)

    # -- fleet of namespaces ---------------------------------------------------------------------------

    FLEET_ROLE_BOOK = """\
- name: Benchmark fleet, the macvlan_topology role on every host
  hosts: all
  gather_facts: false
  roles:
    - role: hostnet.macvlan.macvlan_topology
"""

    def fleet_setup(self):
        """The fleet's namespaces (created once, reused), the interpreter wrapper and the inventory."""
        if getattr(self, "_fleet", None) is not None:
            return self._fleet
        args = self.args
        t0 = time.time()
        names, created = _fleet.ensure(args.fleet_hosts)
        print(
            "[%s] fleet: %d namespaces (%d created, %d reused) in %.0f s"
            % (now(), len(names), created, len(names) - created, time.time() - t0)
        )
        times_dir = self.work / "module-times"
        times_dir.mkdir(exist_ok=True)
        wrapper = _fleet.write_wrapper(self.work / "fleet-python", PYTHON, times_dir)
        links = _lab.link_specs(args.fleet_host_links, 1)
        inventory = _fleet.inventory(self.work / "fleet-inventory.json", names, wrapper, links)
        role_book = self.work / "fleet-role.yml"
        role_book.write_text(self.FLEET_ROLE_BOOK, encoding="utf-8")
        self._fleet = {
            "names": names,
            "times_dir": times_dir,
            "inventory": inventory,
            "role_book": role_book,
            "links": len(links),
        }
        return self._fleet

    def fleet_clean(self, names):
        """Remove the links of every fleet host (the parent deleted and added again), outside the timing."""
        failures = _fleet.clean(names)
        if failures:
            raise BenchError("fleet clean-up failed: %s" % dict(list(failures.items())[:5]))
        left = {ns: c for ns, c in _fleet.counts(names).items() if c}
        if left:
            raise BenchError("fleet clean-up left macvlans: %s" % dict(list(left.items())[:5]))

    def fleet_run(self, which, forks):
        """One timed run of the role or the rollout over the whole fleet; CPU split into modules and controller."""
        fleet = self.fleet_setup()
        _fleet.read_times(fleet["times_dir"])  # discard what an earlier, untimed run left
        if which == "fleet_role":
            book, extra = fleet["role_book"], ()
        else:
            extra_vars = {"rollout_serial": self.args.rollout_serial}
            if self.args.rollout_confirm_timeout is not None:
                extra_vars["rollout_confirm_timeout"] = self.args.rollout_confirm_timeout
            book, extra = "hostnet.macvlan.rollout", ("-e", json.dumps(extra_vars))
        m, tasks = self.run_book(
            book, "%s-f%d" % (which, forks), inventory=fleet["inventory"], forks=forks, extra=extra
        )
        runs, module_cpu = _fleet.read_times(fleet["times_dir"])
        hosts = len(fleet["names"])
        m.update(
            {
                "hosts": hosts,
                "module_runs": runs,
                "module_cpu_s": module_cpu,
                "controller_cpu_s": m["cpu_s"] - module_cpu,
                "hosts_per_min": hosts * 60.0 / m["wall_s"],
            }
        )
        state = [t for t in tasks if t["action"] == "hostnet.macvlan.macvlan_state"]
        m["state_tasks"] = len(state)
        m["hosts_changed"] = len({h for t in state for h, r in t["hosts"].items() if r["changed"]})
        m["task_times"] = []  # hundreds of hosts: the per-task list is not kept
        return m

    def netns_fleet(self, which):
        """H hosts (namespaces, local connection), the role or the rollout at each forks setting: create, rerun."""
        fleet = self.fleet_setup()
        names, per_host = fleet["names"], fleet["links"]
        reps = self.args.fleet_reps if which == "fleet_role" else self.args.rollout_reps
        forks_list = self.args.fleet_forks
        if which == "fleet_rollout" and self.args.rollout_forks:
            forks_list = self.args.rollout_forks
        for rep in range(reps):
            for forks in forks_list:
                self.fleet_clean(names)
                m = self.fleet_run(which, forks)
                wrong = {ns: c for ns, c in _fleet.counts(names).items() if c != per_host}
                if wrong:
                    raise BenchError("%s forks %d: hosts without %d macvlans: %s" % (which, forks, per_host, wrong))
                if which == "fleet_role" and m["hosts_changed"] != len(names):
                    raise BenchError("fleet_role: %d of %d hosts changed" % (m["hosts_changed"], len(names)))
                self.record(which, "create", per_host, rep, m, k=forks)
                if "rerun" not in self.args.fleet_steps:
                    continue
                m = self.fleet_run(which, forks)
                if m["hosts_changed"]:
                    raise BenchError("%s forks %d rerun: %d hosts changed" % (which, forks, m["hosts_changed"]))
                self.record(which, "rerun", per_host, rep, m, k=forks)

    # -- profile ---------------------------------------------------------------------------------------

    def profile(self, n, out_dir):
        """pyinstrument text profiles of the module's code path (create and rerun of N links)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        links = _lab.link_specs(n, self.parents)
        links_file = self.path("links.json")
        links_file.write_text(json.dumps(links), encoding="utf-8")
        with _lab.Lab(self.parents, "prof") as lab:
            for step in ("create", "rerun"):
                target = out_dir / ("phases-%s-%d.txt" % (step, n))
                cmd = [PYTHON, "-m", "pyinstrument", "--renderer", "text", "--outfile", str(target)]
                cmd += [str(HERE / "phases.py"), str(links_file), lab.ns]
                subprocess.run(cmd, env=self.module_env, cwd=self.work, check=True, capture_output=True)
                print("[%s] profile written: %s" % (now(), display(target)))
        # The AnsiballZ payload as Ansible runs it: timed runs, -X importtime, cProfile (benchmarks/profile_module.py).
        cmd = [PYTHON, str(HERE / "profile_module.py"), "--links", str(n), "--out", str(out_dir)]
        proc = subprocess.run(cmd, env=self.env, cwd=self.work, check=False, capture_output=True, text=True)
        if proc.returncode:
            self.notes["profile"] = "profile_module.py failed: %s" % (proc.stdout + proc.stderr)[-500:]
        else:
            print("[%s] profiles of the module process written to %s" % (now(), display(out_dir)))


def display(path):
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def parse_sizes(text):
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_serial(text):
    """Batches of the rollout: a JSON list, or sizes and percentages separated by commas."""
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return [int(x) if x.strip().isdigit() else x.strip() for x in text.split(",") if x.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=parse_sizes, default=SIZES, help="link counts N (default 1,16,64,256,1024)")
    parser.add_argument("--series", default=",".join(SERIES), help="comma-separated subset of: " + ",".join(SERIES))
    parser.add_argument("--reps", type=int, default=5, help="runs of ip -batch, module process, phases (default 5)")
    parser.add_argument("--playbook-reps", type=int, default=3, help="runs of one-task playbooks (default 3)")
    parser.add_argument("--loop-reps", type=int, default=3, help="runs of the loop playbooks below --loop-cap-from")
    parser.add_argument("--loop-reps-large", type=int, default=1, help="runs of loop playbooks at large N (default 1)")
    parser.add_argument("--loop-cap-from", type=int, default=256, help="N from which loops use --loop-reps-large")
    parser.add_argument("--parents", type=int, default=1, help="veth parents the links are spread over (default 1)")
    parser.add_argument("--fleet", type=parse_sizes, default=FLEET, help="fleet sizes K (default 1,4,8,16)")
    parser.add_argument("--fleet-links", type=int, default=64, help="links per fleet host (default 64)")
    parser.add_argument(
        "--fleet-image",
        default=os.environ.get("BENCH_FLEET_IMAGE", DEFAULT_FLEET_IMAGE),
        help="podman image with python3 and pyroute2 (default %s, built by scripts/images.sh)" % DEFAULT_FLEET_IMAGE,
    )
    parser.add_argument(
        "--fleet-connection",
        default="podman_exec",
        help="connection plugin for the containers: podman_exec (benchmarks/connection_plugins) or "
        "containers.podman.podman",
    )
    parser.add_argument("--fleet-python", default="/usr/bin/python3", help="interpreter in the fleet containers")
    parser.add_argument(
        "--fleet-hosts", type=int, default=256, help="fleet_role/fleet_rollout: hosts (namespaces; default 256)"
    )
    parser.add_argument("--fleet-host-links", type=int, default=16, help="fleet_role/fleet_rollout: links per host")
    parser.add_argument(
        "--fleet-forks", type=parse_sizes, default=FLEET_FORKS, help="fleet_role/fleet_rollout: forks (default 8,16,32)"
    )
    parser.add_argument("--fleet-reps", type=int, default=3, help="fleet_role: runs per forks setting (default 3)")
    parser.add_argument(
        "--rollout-reps", type=int, default=2, help="fleet_rollout: runs per forks setting (default 2; minutes each)"
    )
    parser.add_argument(
        "--rollout-serial",
        type=parse_serial,
        default=[1, "10%", "50%"],
        help="fleet_rollout: the rollout's batches, JSON or comma-separated (default: 1,10%%,50%%)",
    )
    parser.add_argument(
        "--rollout-forks",
        type=parse_sizes,
        default=None,
        help="fleet_rollout: forks (default: --fleet-forks)",
    )
    parser.add_argument(
        "--rollout-confirm-timeout",
        type=int,
        default=None,
        help="fleet_rollout: rollout_confirm_timeout (default: the playbook's own, 120; 0 turns confirm off)",
    )
    parser.add_argument(
        "--fleet-steps",
        default="create,rerun",
        help="fleet_role/fleet_rollout: create (from no links) and/or rerun (nothing changes); default both",
    )
    parser.add_argument(
        "--fleet-prefix",
        default=_fleet.PREFIX,
        help="fleet_role/fleet_rollout: name prefix of the fleet's namespaces (default %s); a different prefix "
        "lets two bench.py runs use fleets of their own" % _fleet.PREFIX,
    )
    parser.add_argument(
        "--fleet-keep",
        action="store_true",
        help="keep the fleet's namespaces (hmvbf-*) for the next run instead of deleting them at the end",
    )
    parser.add_argument("--wait-load", type=float, default=1.5, help="wait for a 1-min load average below this")
    parser.add_argument("--wait-max", type=float, default=600, help="wait at most this many seconds for it")
    parser.add_argument(
        "--wait-between",
        type=float,
        default=120,
        help="before each further series, wait at most this many seconds for the same (default 120; 0: never)",
    )
    parser.add_argument("--profile", action="store_true", help="also write pyinstrument profiles at the largest N")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="development: N=1,16,64, 2 runs each, container fleet K<=4, namespace fleet of 16 hosts, one run",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="output directory")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=report.DEFAULT_BASELINE,
        help="an earlier run's results.json to compare with (default: %(default)s; 'none': no comparison)",
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the playbooks and logs (printed path)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = tuple(n for n in args.sizes if n <= 64) or (1, 16, 64)
        args.reps = args.playbook_reps = args.loop_reps = args.loop_reps_large = 2
        args.fleet = tuple(k for k in args.fleet if k <= 4)
        args.fleet_hosts = min(args.fleet_hosts, 16)
        args.fleet_reps = args.rollout_reps = 1
    _fleet.PREFIX = args.fleet_prefix
    series = [s.strip() for s in args.series.split(",") if s.strip()]
    unknown = set(series) - set(SERIES)
    if unknown:
        parser.error("unknown series: %s" % ", ".join(sorted(unknown)))
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces, veth, macvlan)")
    if not (COLLECTIONS / "ansible_collections" / "hostnet" / "macvlan").exists():
        sys.exit("bench: %s/ansible_collections/hostnet/macvlan is missing (run 'make collection-path')" % COLLECTIONS)

    stale = _lab.leftover_namespaces()
    for ns in stale:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    if stale:
        print("[%s] removed %d namespaces left by an interrupted run" % (now(), len(stale)))

    started = time.time()
    load = wait_for_quiet(args.wait_load, args.wait_max)
    print("[%s] load average %s; measuring %s at N=%s" % (now(), load["load_at_start"], ",".join(series), args.sizes))
    work = tempfile.mkdtemp(prefix="hostnet-bench-")
    bench = Bench(args, work)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine_info(),
        "load": load,
        "speed": {"start": speed_probe()},
        "config": {
            "sizes": list(args.sizes),
            "series": series,
            "reps": args.reps,
            "playbook_reps": args.playbook_reps,
            "loop_reps": args.loop_reps,
            "loop_reps_large": args.loop_reps_large,
            "loop_cap_from": args.loop_cap_from,
            "parents": args.parents,
            "fleet": list(args.fleet),
            "fleet_links": args.fleet_links,
            "fleet_image": args.fleet_image,
            "fleet_connection": args.fleet_connection,
            "fleet_hosts": args.fleet_hosts,
            "fleet_host_links": args.fleet_host_links,
            "fleet_forks": list(args.fleet_forks),
            "fleet_reps": args.fleet_reps,
            "rollout_reps": args.rollout_reps,
            "rollout_serial": args.rollout_serial,
            "rollout_forks": list(args.rollout_forks or args.fleet_forks),
            "rollout_confirm_timeout": args.rollout_confirm_timeout,
            "fleet_steps": args.fleet_steps,
            "fleet_prefix": args.fleet_prefix,
            "quick": args.quick,
            # the interleaved playbooks ran round by round (each round every N), not N by N
            "interleave": "rounds",
            "interpreter": PYTHON,
        },
    }
    plan = [
        ("floor", bench.floor, "single"),
        ("phases", bench.phase_series, "single"),
        ("process", bench.process, "single"),
        ("playbooks", None, "playbook"),
        ("command_loop", bench.command_loop, "loop"),
        ("macvlan_loop", bench.macvlan_loop, "loop"),
    ]
    interleaved = [name for name in INTERLEAVED if name in series]
    if "role" in interleaved and not ROLE.exists():
        bench.notes["role"] = "not measured: role not available (%s missing)" % ROLE.relative_to(ROOT)
        print("[%s] %s" % (now(), bench.notes["role"]))
        interleaved.remove("role")
    error = None

    def settle(name):
        """Before a series: wait (at most --wait-between) for a quieter machine; the load is recorded."""
        if args.wait_between > 0 and loadavg()[0] >= args.wait_load:
            meta.setdefault("waits", {})[name] = wait_for_quiet(args.wait_load, args.wait_between)

    try:
        for name, func, kind in plan:
            if (name == "playbooks" and interleaved) or name in series:
                settle(name)
            if name == "playbooks":
                # The one-task playbooks (INTERLEAVED), interleaved: for each run and N, one of each.
                if not interleaved:
                    continue
                t0 = time.time()
                funcs = {
                    "ping": bench.ping,
                    "noop": bench.noop,
                    "aftermath": bench.aftermath,
                    "bare": bench.bare,
                    "state": bench.state,
                    "state_none": bench.state_none,
                    "role": bench.role,
                }
                # Round by round: each round runs every N once (one of each playbook), so the machine's speed,
                # which drifts over minutes, is shared by the sizes as well as by the series (the create slope is
                # fitted across N: sizes run one after the other put the drift into the slope).
                for rep in range(args.playbook_reps):
                    for n in args.sizes:
                        for each in interleaved:
                            attempt(bench, funcs[each], n, rep)
                meta.setdefault("series_s", {})["+".join(interleaved)] = round(time.time() - t0, 1)
                continue
            if name not in series:
                continue
            t0 = time.time()
            for n in args.sizes:
                for rep in range(bench.reps(kind, n)):
                    attempt(bench, func, n, rep)
            meta.setdefault("series_s", {})[name] = round(time.time() - t0, 1)
        if "fleet" in series:
            settle("fleet")
            t0 = time.time()
            bench.fleet(args.fleet, args.fleet_links)
            meta.setdefault("series_s", {})["fleet"] = round(time.time() - t0, 1)
        for name in ("fleet_role", "fleet_rollout"):
            if name in series:
                settle(name)
                t0 = time.time()
                bench.netns_fleet(name)
                meta.setdefault("series_s", {})[name] = round(time.time() - t0, 1)
        if args.profile:
            bench.profile(max(args.sizes), args.out / "profiles")
    except (BenchError, subprocess.CalledProcessError, KeyboardInterrupt) as exc:
        error = exc
    finally:
        for ns in _lab.leftover_namespaces():
            subprocess.run(["ip", "netns", "del", ns], check=False)
        if not args.fleet_keep and _fleet.existing():
            print("[%s] fleet: deleting its namespaces (--fleet-keep keeps them for the next run)" % now())
            _fleet.remove_all()
    meta["load_at_end"] = loadavg()
    meta.setdefault("speed", {})["end"] = speed_probe()
    meta["duration_s"] = round(time.time() - started, 1)
    meta["notes"] = bench.notes
    if error is not None:
        meta["error"] = str(error)
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / "results.json"
    raw.write_text(json.dumps({"meta": meta, "records": bench.records}, indent=1) + "\n", encoding="utf-8")
    baseline = None if str(args.baseline) == "none" else args.baseline
    written = report.write_all(raw, args.out, baseline)
    print("[%s] wrote %s" % (now(), ", ".join(display(p) for p in [raw, *written])))
    if args.keep_work or error is not None:
        print("[%s] playbooks and logs kept in %s" % (now(), work))
    else:
        shutil.rmtree(work, ignore_errors=True)
    if error is not None:
        print("bench: FAILED: %s" % error, file=sys.stderr)
        return 1
    print("[%s] done in %.0f s" % (now(), meta["duration_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
