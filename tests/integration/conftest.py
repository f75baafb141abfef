"""Fixtures for integration tests on the real kernel.

Every test gets its own network namespaces (named ``hmv-<random>-<name>``) with veth parents, runs the
collection's modules through ``ansible-playbook`` against localhost, and checks the result with iproute2
(``ip -j -d link``, ``ip -j addr``, ``ip -j route``): never with the code under test. Namespaces are deleted
at teardown, which also deletes every link in them.

The modules run with each Python interpreter in ``PYROUTE2_INTERPRETERS`` that can import pyroute2, so both
pyroute2 lines are exercised: the venv's PyPI release (0.9.x) and Debian's python3-pyroute2 (0.7.x).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

if os.geteuid() != 0:
    pytest.exit("integration tests need root (network namespaces, veth, netlink changes)", returncode=1)

if shutil.which("ip") is None:
    pytest.exit("integration tests need iproute2 ('ip'); run 'make test' to install it", returncode=1)


def _collections_path():
    """A directory holding ansible_collections/hostnet/macvlan pointing at this checkout.

    In a fresh checkout the pytest-xdist workers all get here at once: the link is made under a name of this
    process and renamed into place (atomic), so a worker that finds another's link, or loses the race, is fine.
    """
    root = REPO / ".build" / "collections"
    link = root / "ansible_collections" / "hostnet" / "macvlan"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and link.resolve() == REPO):
        new = link.with_name("%s.%d.tmp" % (link.name, os.getpid()))
        new.unlink(missing_ok=True)
        new.symlink_to(REPO, target_is_directory=True)
        os.replace(new, link)
    return str(root)


def _pyroute2_version(python):
    code = "from importlib.metadata import version; print(version('pyroute2'))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _interpreters():
    """(id, path) of each interpreter the modules run with; each must have pyroute2."""
    wanted = os.environ.get("PYROUTE2_INTERPRETERS", "%s:/usr/bin/python3" % sys.executable)
    found = []
    for python in [p for p in wanted.split(":") if p]:
        version = _pyroute2_version(python)
        if version is None:
            pytest.exit("%s cannot import pyroute2 (run 'make test', which installs it)" % python, returncode=1)
        found.append(("pyroute2-%s" % version, python))
    return found


INTERPRETERS = _interpreters()


def ip_json(*args):
    """Run ``ip -j ARGS`` and return the parsed JSON (the test oracle)."""
    proc = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout or "[]")


def rtnl(ns, name):
    """IFLA_MACVLAN_* of a link read by the stand-alone raw-netlink reader rtnl_oracle.py (for what this
    machine's iproute2 does not print, such as bclim)."""
    script = str(Path(__file__).with_name("rtnl_oracle.py"))
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, script, name], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class Lab:
    """Namespaces and veth pairs for one test, all removed at teardown."""

    def __init__(self):
        self.prefix = "hmv-%s" % uuid.uuid4().hex[:6]
        self.namespaces = []

    def netns(self, name, lo_up=True):
        full = "%s-%s" % (self.prefix, name)
        sh("ip", "netns", "add", full)
        self.namespaces.append(full)
        if lo_up:
            sh("ip", "-n", full, "link", "set", "lo", "up")
        return full

    def veth(self, ns, name, peer, peer_ns=None, up=True):
        cmd = ["ip", "-n", ns, "link", "add", name, "type", "veth", "peer", "name", peer]
        if peer_ns:
            cmd += ["netns", peer_ns]
        sh(*cmd)
        if up:
            sh("ip", "-n", ns, "link", "set", name, "up")
            sh("ip", "-n", peer_ns or ns, "link", "set", peer, "up")

    def ip(self, ns, *args, check=True):
        return sh("ip", "-n", ns, *args, check=check)

    def link(self, ns, name):
        """``ip -j -d link show NAME`` in ns, or None when it does not exist."""
        proc = sh("ip", "-n", ns, "-j", "-d", "link", "show", "dev", name, check=False)
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)[0]

    def links(self, ns):
        return ip_json("-n", ns, "-d", "link", "show")

    def state(self, ns):
        """Links, addresses and routes of ns as kernel_state() sees them: the "nothing changed" oracle (fields
        that settle asynchronously after a veth comes up, such as carrier and operstate, left out)."""
        return kernel_state({"netns": ns})

    def addresses(self, ns, name):
        """Global/site addresses as 'ip/prefix' strings (link-local excluded)."""
        data = ip_json("-n", ns, "addr", "show", "dev", name)
        return sorted(
            "%s/%d" % (a["local"], a["prefixlen"])
            for entry in data
            for a in entry.get("addr_info", [])
            if a.get("scope") != "link"
        )

    def routes(self, ns, name, family="-4"):
        return ip_json("-n", ns, family, "route", "show", "dev", name)

    def cleanup(self):
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def lab():
    lab = Lab()
    try:
        yield lab
    finally:
        lab.cleanup()


class AnsibleRunner:
    """Runs one module (or a list of tasks) through ansible-playbook against localhost."""

    def __init__(self, python, tmp_path):
        self.python = python
        self.tmp_path = tmp_path
        self.env = dict(os.environ)
        self.env.update(
            {
                "ANSIBLE_COLLECTIONS_PATH": _collections_path(),
                "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "record_results",
                "ANSIBLE_LOCALHOST_WARNING": "False",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                "ANSIBLE_PYTHON_INTERPRETER": python,
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
                "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
            }
        )
        bindir = str(Path(sys.executable).parent)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")

    def playbook(self, tasks, check=False, diff=False, extra_args=(), prefix=()):
        """Run tasks; return the list of per-task results for localhost (as the json callback gives them)."""
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
        fd, path = tempfile.mkstemp(suffix=".yml", dir=self.tmp_path)
        with os.fdopen(fd, "w") as handle:
            json.dump(play, handle)
        cmd = [*prefix, "ansible-playbook", "-i", "localhost,", "-c", "local", path, *extra_args]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        record = path + ".results"
        env = dict(self.env, RECORD_RESULTS_FILE=record)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        self.last_output = proc.stdout + proc.stderr
        if not os.path.exists(record):
            raise AssertionError("ansible-playbook recorded no result:\n%s" % self.last_output)
        with open(record) as handle:
            entries = [json.loads(line) for line in handle if line.strip()]
        results = [e["result"] for e in entries if e["host"] == "localhost"]
        for result, entry in zip(results, entries, strict=False):
            result["_status"] = entry["status"]
        return results

    def run(self, module, check=False, diff=False, **args):
        """Run one module of this collection; return its result dict."""
        name = module if "." in module else "hostnet.macvlan." + module
        return self.playbook([{"name": "under test", name: args, "ignore_errors": True}], check=check, diff=diff)[0]

    def converge(self, module, **args):
        """Apply, then prove: the rerun reports no change, and a check-mode run plans nothing and (per iproute2)
        changes nothing."""
        first = self.run(module, diff=True, **args)
        assert not first.get("failed"), first.get("msg")
        again = self.run(module, **args)
        assert not again.get("failed"), again.get("msg")
        assert again["changed"] is False, "rerun changed: %s" % again.get("actions")
        before = kernel_state(args)
        checked = self.run(module, check=True, **args)
        assert not checked.get("failed"), checked.get("msg")
        assert checked["changed"] is False, "check mode after converge plans: %s" % checked.get("actions")
        assert kernel_state(args) == before, "a check-mode run changed the kernel"
        return first


def _namespaces(args):
    found = {args.get("netns"), args.get("link_netns")}
    found |= {link.get("link_netns") for link in args.get("links") or []}
    return sorted(ns for ns in found if ns and not ns.startswith("/"))


def kernel_state(args):
    """What iproute2 shows in the namespaces a task names: links, addresses, routes (fields that settle
    asynchronously, such as operstate, carrier and DAD flags, left out)."""
    state = {}
    for ns in _namespaces(args):
        links = [
            (
                link["ifname"],
                link["ifindex"],
                link.get("address"),
                link.get("mtu"),
                link.get("link"),
                "UP" in link.get("flags", []),
                "PROMISC" in link.get("flags", []),
                json.dumps(link.get("linkinfo"), sort_keys=True),
            )
            for link in ip_json("-n", ns, "-d", "link", "show")
        ]
        # IPv6 link-local addresses and the kernel's own routes appear asynchronously after a link comes up.
        addresses = sorted(
            (entry["ifname"], a["local"], a["prefixlen"])
            for entry in ip_json("-n", ns, "addr", "show")
            for a in entry.get("addr_info", [])
            if a.get("scope") != "link"
        )
        routes = sorted(
            json.dumps({k: r.get(k) for k in ("dst", "gateway", "dev", "metric", "protocol", "table")}, sort_keys=True)
            for family in ("-4", "-6")
            for r in ip_json("-n", ns, family, "route", "show", "table", "all")
            if r.get("protocol") != "kernel"
        )
        state[ns] = (sorted(links), addresses, routes)
    return state


@pytest.fixture(params=INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
def ansible(request, tmp_path):
    return AnsibleRunner(request.param[1], tmp_path)


@pytest.fixture
def ansible_default(tmp_path):
    """The first interpreter only: for tests whose subject is not pyroute2 (frames, input errors)."""
    return AnsibleRunner(INTERPRETERS[0][1], tmp_path)


def pytest_sessionfinish(session, exitstatus):
    """With HOSTNET_FAIL_ON_SKIP=1 (``make integration`` sets it), a skipped test fails the run: a test that did
    not run must never count as passing. Tests that belong to another make target are deselected there instead."""
    if os.environ.get("HOSTNET_FAIL_ON_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == 0:
        reporter.write_line(
            "FAILED: %d test(s) skipped; install what they need (make test does)" % len(skipped), red=True
        )
        session.exitstatus = 1


@pytest.fixture
def host(lab):
    """A namespace with two veth parents, p0 (peer q0) and p1 (peer q1), all up (a test module may define its own)."""
    ns = lab.netns("host")
    lab.veth(ns, "p0", "q0")
    lab.veth(ns, "p1", "q1")
    return ns


@pytest.fixture
def state(ansible_default, tmp_path):
    """A state directory of the test's own (HOSTNET_MACVLAN_STATE_DIR: pending changes, the bytecode cache), set
    for the default interpreter's runs (a test that uses ``ansible`` sets it there too). Not created here."""
    directory = tmp_path / "state"
    ansible_default.env["HOSTNET_MACVLAN_STATE_DIR"] = str(directory)
    return directory
