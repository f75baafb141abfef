"""Helpers of the transaction tests (issue 9): fault injection through Ansible, the namespace lock, clean failures.

Fault injection needs no hook in production code: ``fault_hook/sitecustomize.py`` goes first on PYTHONPATH of
``ansible-playbook`` (local connection: the module's Python inherits it) and the fault travels as JSON in
``HOSTNET_TEST_FAULT`` (see that file). A test module makes the ``faults`` fixture its own with
``faults = faults_helpers.faults``.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from oracle import full_dump

HERE = Path(__file__).resolve().parent
HOOK_DIR = HERE / "fault_hook"
ORACLE = HERE / "oracle.py"
LOCK_DIR = "/run/lock/hostnet-macvlan"


def quiet_netns(lab, name):
    """``lab.netns(name)`` with IPv6 duplicate address detection off for the links created in it later: what the
    kernel adds after a link comes up (link-local address, its local route) is then there within milliseconds
    instead of one to two seconds, and the oracle's polls stay short. Nothing under test depends on DAD."""
    ns = lab.netns(name)
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ],
        check=True,
    )
    return ns


def dump_cmd(ns, path):
    """A shell command (for ``before_cmd``) that writes ``full_dump(ns)`` to ``path``."""
    return "%s %s dump %s %s" % (sys.executable, ORACLE, ns, path)


class FaultRun:
    """The result of one module run with a fault, and the hook's log of Session calls."""

    def __init__(self, result, log, output):
        self.result = result
        self.log = log
        self.output = output

    @property
    def fired(self):
        return next((e for e in self.log if e.get("fired")), None)

    def calls(self, method):
        return [e for e in self.log if e.get("method") == method]

    def before_fault(self, method):
        """The calls of ``method`` made before the fault fired."""
        found = []
        for entry in self.log:
            if entry.get("fired"):
                break
            if entry.get("method") == method:
                found.append(entry)
        return found

    def assert_fired(self):
        """The hook was installed in the module process, fired, and its before_cmd (if any) succeeded."""
        context = "result: %r\nhook log: %r" % (self.result, self.log)
        assert any(e.get("installed") for e in self.log), "the fault hook was not installed\n" + context
        fired = self.fired
        assert fired is not None, "the fault never fired\n" + context
        assert fired.get("before_cmd_rc", 0) == 0, "before_cmd failed: %s\n%s" % (
            fired.get("before_cmd_output"),
            context,
        )
        return fired


class FaultInjector:
    """``faults.run(ansible, module, fault, **args)``: one module run with ``fault`` injected."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self._numbers = itertools.count(1)

    def log_path(self):
        """A new log file for one run (runs may go on at the same time, from threads)."""
        return self.tmp_path / ("fault-%d.jsonl" % next(self._numbers))

    def run(self, ansible, module, fault, check=False, log=None, **args):
        """Run ``module`` with ``fault``; ``log``: where the hook writes (default: a new file)."""
        log = log or self.log_path()
        env = dict(ansible.env)
        path = [str(HOOK_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env["PYTHONPATH"] = os.pathsep.join(path)
        env["HOSTNET_TEST_FAULT"] = json.dumps(dict(fault, log=str(log)))
        # A runner of its own: the caller's stays as it was, and runs from several threads do not mix.
        runner = copy.copy(ansible)
        runner.env = env
        result = runner.run(module, check=check, **args)
        return FaultRun(result, read_log(log), getattr(runner, "last_output", ""))


def read_log(path):
    """The entries the hook wrote to ``path`` so far."""
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle.read().splitlines() if line.strip()]


def barrier(path, timeout=240):
    """A ``before_cmd`` that waits until ``path`` exists (at most ``timeout`` s): it holds a run inside its
    transaction until the test opens the barrier."""
    return "for i in $(seq %d); do [ -e %s ] && exit 0; sleep 0.05; done; exit 1" % (timeout * 20, path)


@pytest.fixture
def faults(tmp_path):
    return FaultInjector(tmp_path)


def assert_clean_failure(result, rolled_back=True):
    """A failure reported by the module itself: a message, no traceback, no crash; after a rollback the message
    ends with what was rolled back and the result lists it and the steps that were applied."""
    assert result.get("failed") is True, "expected a failure, got %r" % result
    msg = result.get("msg")
    assert isinstance(msg, str) and msg, "no message: %r" % result
    assert "Traceback" not in msg, "a traceback in the message: %s" % msg
    # ansible-core 2.19 puts an ``exception`` key in every failed result (fail_json's included), so a crash is
    # told apart by what only a crash has: the module did not return through fail_json (no ``invocation``), the
    # message is Ansible's "Module failed: <exception>", or the output was no JSON (killed: module_stderr).
    crashed = "invocation" not in result or "Module failed:" in msg or "MODULE FAILURE" in msg
    assert not crashed and "module_stderr" not in result, "the module crashed (an exception escaped it): %r" % result
    if rolled_back:
        assert "Rolled back: " in msg, "the message does not say what was rolled back: %s" % msg
        assert "Not rolled back" not in msg
        lines = result.get("rolled_back")
        assert isinstance(lines, list) and all(isinstance(line, str) and "\n" not in line for line in lines), (
            "rolled_back is not a list of short lines: %r" % (lines,)
        )
        actions = result.get("actions")
        assert isinstance(actions, list) and all(isinstance(a, str) for a in actions), (
            "actions is not a list of lines: %r" % (actions,)
        )
    return msg


def numbers(text):
    return [int(n) for n in re.findall(r"\d+", text)]


def namespace_file(ns):
    return "/proc/self/ns/net" if ns is None else (ns if ns.startswith("/") else "/run/netns/" + ns)


def lock_path(ns):
    """The documented lock of a namespace: /run/lock/hostnet-macvlan/netns-<st_dev>-<st_ino>.lock."""
    info = os.stat(namespace_file(ns))
    return os.path.join(LOCK_DIR, "netns-%d-%d.lock" % (info.st_dev, info.st_ino))


@contextlib.contextmanager
def holding_lock(ns):
    """Hold the namespace's lock from the test, as a run of the collection would."""
    os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
    fd = os.open(lock_path(ns), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def dumps(*namespaces):
    return {ns: full_dump(ns) for ns in namespaces}
