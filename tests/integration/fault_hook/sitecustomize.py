"""Test-only fault injection into the module process, through Ansible, with no hook in production code.

The integration tests put this directory first on PYTHONPATH of ``ansible-playbook`` (local connection: the
module's Python inherits the environment) and describe one fault as JSON in ``HOSTNET_TEST_FAULT``::

    {"method": "apply", "at": 3, "op": "create", "before_cmd": "ip -n X link del p0", "raise": "errno:17",
     "log": "/tmp/.../faults.jsonl"}

Without that variable this file does nothing. With it, a ``sys.meta_path`` finder waits for the import of the
collection's ``_netlink`` module (from AnsiballZ's zip or from a directory), lets the real loader execute it,
then wraps ``Session.apply(self, action)`` and ``Session.observe(self, ns, ...)``; likewise, in the
persistence module's ``_persist_runner``, the functions ``write(base, path, want, journal)`` and
``remove(base, path, journal)`` (methods ``write`` and ``remove``: one file each). At the ``at``-th call
(1-based) of ``method`` (counting only actions whose ``op`` matches, when ``op`` is given) it runs
``before_cmd`` (a shell command), then raises:

- ``errno:N``: the module's own ``NetlinkFailure(os.strerror(N), N)`` from ``_netns``;
- ``oserror:N``: ``OSError(N, os.strerror(N))`` (a file step failing: 28 is ENOSPC);
- ``RuntimeError`` / ``struct.error``: that exception;
- ``signal:TERM`` (any signal name): ``os.kill(os.getpid(), SIGTERM)``; if the process survives, the call
  goes on;

and, unless it raised, calls through. With ``"after": true`` it calls through first and fires when the call has
returned (the kernel has done the step; a signal then arrives before the engine journals it). It fires once: the
rollback's own calls run normally. Every call is appended to ``log`` (JSON lines, with the time) so a test can
prove the fault fired where and when it meant it to. A ``before_cmd`` that waits for a file makes a barrier: the concurrency tests hold runs inside their
transaction with it.

Python reads one ``sitecustomize`` module (the first on sys.path): being first replaces Debian's
/usr/lib/python3.11/sitecustomize.py in these test processes, which only sets up crash reporting; nothing is
chained.
"""

import os

TARGET = "ansible_collections.hostnet.macvlan.plugins.module_utils._netlink"
PERSIST_TARGET = "ansible_collections.hostnet.macvlan.plugins.module_utils._persist_runner"
NETNS = "ansible_collections.hostnet.macvlan.plugins.module_utils._netns"


def _install(raw):
    import functools
    import importlib
    import json
    import signal
    import struct
    import subprocess
    import sys
    import time

    fault = json.loads(raw)
    state = {"fired": False, "calls": {}, "matched": {}}

    def log(entry):
        path = fault.get("log")
        if not path:
            return
        entry["time"] = time.time()
        with open(path, "a") as handle:
            handle.write(json.dumps(entry, default=repr) + "\n")

    def op_of(method, args):
        if method == "apply" and args and isinstance(args[0], dict):
            return args[0].get("op")
        return None

    def trigger(method, args):
        calls = state["calls"][method] = state["calls"].get(method, 0) + 1
        op = op_of(method, args)
        entry = {"method": method, "call": calls, "op": op, "pid": os.getpid()}
        if method == "observe" and args:
            entry["ns"] = args[0]
        if method in ("write", "remove") and len(args) > 1:
            entry["path"] = args[1]
        matches = not state["fired"] and method == fault.get("method")
        if matches and fault.get("op") is not None:
            matches = op == fault["op"]
        if matches:
            state["matched"][method] = state["matched"].get(method, 0) + 1
            matches = state["matched"][method] == fault.get("at", 1)
        entry["fired"] = matches
        if not matches:
            log(entry)
            return
        state["fired"] = True
        if fault.get("before_cmd"):
            log({"method": method, "call": calls, "firing": True})  # the before_cmd starts (e.g. a barrier)
            proc = subprocess.run(fault["before_cmd"], shell=True, capture_output=True, text=True, check=False)
            entry["before_cmd_rc"] = proc.returncode
            entry["before_cmd_output"] = (proc.stdout + proc.stderr)[-2000:]
        what = fault.get("raise")
        entry["raise"] = what
        log(entry)
        if not what:
            return
        if what.startswith("errno:"):
            code = int(what.split(":", 1)[1])
            failure = importlib.import_module(NETNS).NetlinkFailure
            raise failure(os.strerror(code), code)
        if what.startswith("oserror:"):
            code = int(what.split(":", 1)[1])
            raise OSError(code, os.strerror(code))
        if what == "RuntimeError":
            raise RuntimeError("injected by the test fault hook")
        if what == "struct.error":
            raise struct.error("injected by the test fault hook: argument out of range")
        if what.startswith("signal:"):
            os.kill(os.getpid(), getattr(signal, "SIG" + what.split(":", 1)[1]))
            return
        raise ValueError("HOSTNET_TEST_FAULT: unknown raise %r" % what)

    def wrap(method, original, bound=True):
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            shown = args[1:] if bound else args
            if fault.get("after"):
                result = original(*args, **kwargs)
                trigger(method, shown)
                return result
            trigger(method, shown)
            return original(*args, **kwargs)

        return wrapper

    def patch(module):
        if module.__name__ == PERSIST_TARGET:
            for function in ("write", "remove"):
                setattr(module, function, wrap(function, getattr(module, function), bound=False))
        else:
            session = module.Session
            for method in ("apply", "observe"):
                setattr(session, method, wrap(method, getattr(session, method)))
        log({"installed": True, "module": module.__name__, "loader": type(module.__spec__.loader).__name__})

    class Loader:
        """Delegates to the real loader (a zipimporter or a file loader); patches after it executed."""

        def __init__(self, inner):
            self._inner = inner

        def create_module(self, spec):
            create = getattr(self._inner, "create_module", None)
            return create(spec) if create is not None else None

        def exec_module(self, module):
            self._inner.exec_module(module)
            patch(module)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    class HostnetFaultFinder:
        def find_spec(self, fullname, path=None, target=None):
            if fullname not in (TARGET, PERSIST_TARGET):
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
            if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                log({"installed": False, "reason": "loader %r cannot be wrapped" % (spec.loader,)})
                return spec
            spec.loader = Loader(spec.loader)
            return spec

    sys.meta_path.insert(0, HostnetFaultFinder())


_RAW = os.environ.get("HOSTNET_TEST_FAULT")
if _RAW:
    _install(_RAW)
