# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Commit-confirmed changes: a change that reverts by itself unless it is confirmed in time (standard library
and the collection's module_utils only).

After a successful change with ``confirm_timeout``, the run's journal (``_journal``: the exact undo steps of what
it applied) stays on the host as a root-only JSON file under /run/hostnet-macvlan/pending, and a revert is armed
that does not depend on Ansible or its connection:

- where systemd is PID 1, a transient timer (``systemd-run --on-active=``) that starts a transient service;
- elsewhere, a detached process in its own session that sleeps until the deadline.

Both run the same code: ``main()`` of this file, from a copy of the collection's module_utils that this file
writes to /run/hostnet-macvlan/lib (the module's own files live in a temporary directory that Ansible removes).
The revert takes the change's file lock, then the namespaces' locks (a running module run finishes first),
replays the journal, records what it restored in /run/hostnet-macvlan/last_revert.json and logs it (journald, or
/run/hostnet-macvlan/revert-<id>.log). ``macvlan_confirm`` takes the same file lock, disarms the revert and
removes the journal; whoever takes the lock first wins, the other finds the journal gone.

While a change is pending in a namespace, another change there fails clearly (``check_pending``): a revert
replayed over a newer change would mix the two.
"""

import contextlib
import json
import os
import shutil
import stat
import sys
import time
import uuid

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot, _journal, _lock
from ansible_collections.hostnet.macvlan.plugins.module_utils._signals import Signals

MAX_TIMEOUT = 86400
UNIT_PREFIX = "hostnet-macvlan-revert-"
# The module_utils a revert needs (and what they import); copied next to the journal for the revert process.
HELPER_MODULES = (
    "_boot",
    "_confirm",
    "_journal",
    "_lock",
    "_model",
    "_netlink",
    "_netns",
    "_observed",
    "_plan",
    "_rtnl",
    "_signals",
)
PACKAGE = _boot.PACKAGE
BOOT = (
    "import sys; sys.path.insert(0, %r); "
    "from ansible_collections.hostnet.macvlan.plugins.module_utils import _confirm; "
    "sys.exit(_confirm.main(sys.argv[1:]))"
)


class ConfirmError(Exception):
    """A confirm operation could not be done; the message says why."""


state_dir = _boot.state_dir


def _pending_dir():
    return os.path.join(state_dir(), "pending")


def _path(change_id):
    return os.path.join(_pending_dir(), "%s.json" % change_id)


def _check_private(directory):
    """A directory of the state must be a directory (not a symbolic link), this user's (root's), and writable by no
    one else: the journals in it are replayed and the code in it is run as root at a deadline. Returns False when it
    does not exist; raises ConfirmError for anything else."""
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        why = "it is a symbolic link" if stat.S_ISLNK(info.st_mode) else "it is not a directory"
    elif info.st_uid not in (0, os.geteuid()):
        why = "it belongs to uid %d, not to root" % info.st_uid
    elif info.st_mode & 0o022:
        why = "others can write to it (mode %o)" % stat.S_IMODE(info.st_mode)
    else:
        return True
    raise ConfirmError(
        "refusing the state directory %s: %s. Its pending changes are replayed, and its code run, as root: it must be "
        "a directory of root's that no one else can write to" % (directory, why)
    )


def _make_state_dir():
    """The state directory and its journal directories, root-only (0700) whatever the umask, each checked
    (``_check_private``) before it is used."""
    for directory in (state_dir(), _pending_dir(), _reverted_dir()):
        if not _check_private(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
            _check_private(directory)
        os.chmod(directory, 0o700)


def _write_json(path, data):
    """Atomically, root-only (0600)."""
    _make_state_dir()
    tmp = "%s.%s.tmp" % (path, uuid.uuid4().hex[:8])
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def valid_id(change_id):
    """Ids are what ``arm`` makes: a timestamp and hex, nothing that could name another file."""
    return isinstance(change_id, str) and 0 < len(change_id) <= 64 and all(c.isalnum() or c == "-" for c in change_id)


def require_access():
    """Pending changes are root-only files: say so instead of reporting nothing pending."""
    directory = state_dir()
    if os.path.isdir(directory) and not os.access(directory, os.R_OK | os.X_OK):
        raise ConfirmError("cannot read %s: pending changes are root-only; run the task with become: true" % directory)


def identity(ns):
    try:
        return list(_lock.namespace_identity(ns))
    except OSError:
        return None


def pending(netns_filter=None):
    """Every pending change (the data of its journal file), oldest first; with ``netns_filter`` (a list of
    namespaces) only those touching one of them (compared by identity)."""
    if not (_check_private(state_dir()) and _check_private(_pending_dir())):
        return []
    try:
        names = sorted(os.listdir(_pending_dir()))
    except OSError:
        return []
    found = []
    wanted = None
    if netns_filter is not None:
        wanted = [identity(ns) for ns in netns_filter]
        wanted = [item for item in wanted if item is not None]
    for name in names:
        if not name.endswith(".json"):
            continue
        data = _read_json(os.path.join(_pending_dir(), name))
        if not data:
            continue
        if wanted is not None and not any(entry.get("identity") in wanted for entry in data.get("namespaces", ())):
            continue
        found.append(data)
    return sorted(found, key=lambda item: item.get("created", 0))


# Lines of a change's actions (and of a revert's report) that results carry: a change of thousands of links stays
# a few kilobytes in every result that shows it (AWX drops job events over 700,000 bytes); the counts say how many.
RESULT_LINES = 50


def _lines(lines):
    return _journal.summarize(list(lines or []), RESULT_LINES)


def summary(data):
    """What a pending change looks like in results: id, deadline, namespaces, what it applied (the first
    ``RESULT_LINES`` lines, and how many in all)."""
    actions = data.get("actions", [])
    return {
        "id": data["id"],
        "deadline": data["deadline"],
        "deadline_iso": _iso(data["deadline"]),
        "timeout": data["timeout"],
        "namespaces": [entry["ns"] for entry in data.get("namespaces", ())],
        "method": data.get("revert", {}).get("method"),
        "actions": _lines(actions),
        "actions_total": len(actions),
    }


def brief_record(record):
    """A revert's record as results carry it: its lists cut to ``RESULT_LINES`` lines, with their counts."""
    if not record:
        return record
    out = dict(record)
    for key in ("actions", "restored", "not_restored"):
        out[key] = _lines(record.get(key))
        out[key + "_total"] = record.get(key + "_total", len(record.get(key) or []))  # kept briefly: as counted
    return out


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def check_pending(namespaces):
    """Refuse a change while a confirmed change is pending in one of ``namespaces``."""
    for data in pending(namespaces):
        where = ", ".join(_lock.describe(entry["ns"]) for entry in data.get("namespaces", ()))
        raise ConfirmError(
            "a change armed with confirm_timeout (id %s) is pending in %s and reverts by itself at %s unless it is "
            "confirmed: confirm it (hostnet.macvlan.macvlan_confirm) or let it revert before changing %s again"
            % (data["id"], where, _iso(data["deadline"]), "it" if len(data.get("namespaces", ())) == 1 else "them")
        )


def last_revert():
    """The record of the latest revert, brief (``brief_record``)."""
    return brief_record(_read_json(os.path.join(state_dir(), "last_revert.json")))


# Records of reverted changes kept, by id (the newest): a confirm of any of them fails, naming when it reverted.
REVERTED_KEPT = 100


def _reverted_dir():
    return os.path.join(state_dir(), "reverted")


def reverted(change_id):
    """The brief record of change ``change_id`` if it reverted (one of the last ``REVERTED_KEPT``), else None."""
    if not valid_id(change_id):
        return None
    return brief_record(_read_json(os.path.join(_reverted_dir(), "%s.json" % change_id)))


def _keep_reverted(record):
    """Keep the record by id, and only the newest ``REVERTED_KEPT`` of them (and of the revert logs)."""
    _write_json(os.path.join(_reverted_dir(), "%s.json" % record["id"]), brief_record(record))
    for directory, suffix in ((_reverted_dir(), ".json"), (state_dir(), ".log")):
        try:
            names = [name for name in os.listdir(directory) if name.endswith(suffix)]
        except OSError:
            continue
        paths = [os.path.join(directory, name) for name in names]
        with contextlib.suppress(OSError):
            paths.sort(key=os.path.getmtime)
        for path in paths[:-REVERTED_KEPT]:
            with contextlib.suppress(OSError):
                os.unlink(path)


# ---------------------------------------------------------------------------------------------------------
# Arming
# ---------------------------------------------------------------------------------------------------------


def _install_helper():
    """Copy the module_utils a revert needs to <state>/lib (sources read through their loaders: Ansible runs
    modules from a zip). Returns the directory to put on sys.path."""
    _make_state_dir()
    lib = os.path.join(state_dir(), "lib")
    staging = lib + ".new-" + uuid.uuid4().hex[:8]
    staging_target = os.path.join(staging, *PACKAGE.split("."))
    os.makedirs(staging_target, mode=0o700)
    try:
        parts = PACKAGE.split(".")
        for depth in range(1, len(parts) + 1):
            init = os.path.join(staging, *parts[:depth], "__init__.py")
            with open(init, "w"):
                pass
        for name in HELPER_MODULES:
            full = "%s.%s" % (PACKAGE, name)
            module = sys.modules.get(full)
            if module is None:
                __import__(full)
                module = sys.modules[full]
            source = module.__loader__.get_source(full)
            if source is None:
                raise ConfirmError("cannot read the source of %s to install the revert helper" % full)
            if isinstance(source, str):  # a file loader gives text; some (ansible-test's) give bytes
                source = source.encode("utf-8")
            with open(os.path.join(staging_target, name + ".py"), "wb") as handle:
                handle.write(source)
        # Replace the previous copy as a whole (a revert running from it keeps its open files).
        old = None
        if os.path.isdir(lib):
            old = lib + ".old-" + uuid.uuid4().hex[:8]
            os.rename(lib, old)
        os.rename(staging, lib)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return lib


# Processes are started with fork and exec: the revert helper runs outside any Ansible module (no
# AnsibleModule.run_command), and ansible-test's pylint reserves subprocess for that.


def _exec_child(argv, stdout_fd, new_session=False):
    """In a forked child: stdin from /dev/null, stdout and stderr to ``stdout_fd``, no other descriptor, then
    exec ``argv``. Never returns."""
    try:
        if new_session:
            os.setsid()
            os.chdir("/")
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(stdout_fd, 1)
        os.dup2(stdout_fd, 2)
        _close_from(3)
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)


def _close_from(low):
    """Close every open descriptor from ``low`` on (those /proc/self/fd lists; the first 1024 without /proc)."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(low, 1024)
    for fd in fds:
        if fd >= low:
            with contextlib.suppress(OSError):
                os.close(fd)


def _exit_code(status):
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def _run(argv):
    """Run ``argv`` to its end; (exit code, its output as text). 127: it could not be started."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _exec_child(argv, write_fd)
    os.close(write_fd)
    chunks = []
    try:
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        status = os.waitpid(pid, 0)[1]
    return _exit_code(status), b"".join(chunks).decode("utf-8", "replace")


def _detach(argv, log):
    """Start ``argv`` in a session of its own, its output appended to ``log`` (0600); returns its pid. It outlives
    the module (init adopts it)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        pid = os.fork()
        if pid == 0:
            _exec_child(argv, fd, new_session=True)
    finally:
        os.close(fd)
    return pid


def systemd_running():
    return os.path.isdir("/run/systemd/system") and shutil.which("systemd-run") is not None


def arm(journal, namespaces, timeout, python=None):
    """Keep ``journal`` as a pending change of ``namespaces`` and arm its revert in ``timeout`` seconds. Returns
    the summary. Raises ConfirmError (nothing is left armed) when it cannot."""
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise ConfirmError("confirm_timeout: %r is out of range 1..%d seconds" % (timeout, MAX_TIMEOUT))
    python = python or sys.executable
    now = time.time()
    change_id = "%s-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)), uuid.uuid4().hex[:8])
    data = {
        "id": change_id,
        "created": now,
        "deadline": now + timeout,
        "timeout": timeout,
        "namespaces": [{"ns": ns, "identity": identity(ns)} for ns in namespaces],
        "actions": journal.done(),
        "journal": journal.data(),
        "python": python,
        "revert": {},
    }
    try:
        lib = _install_helper()
        _write_json(_path(change_id), data)
        command = [python, "-c", BOOT % lib]
        if systemd_running() and all(ns is not None or _same_as_pid1() for ns in namespaces):
            unit = UNIT_PREFIX + change_id
            returncode, output = _run(
                [
                    "systemd-run",
                    "--quiet",
                    "--unit=" + unit,
                    "--description=hostnet.macvlan: revert change %s unless confirmed" % change_id,
                    "--on-active=%ds" % timeout,
                    "--timer-property=AccuracySec=100ms",
                    "--",
                ]
                + command
                + ["revert", change_id, "--reason", "confirm_timeout of %d s expired" % timeout]
            )
            if returncode != 0:
                raise ConfirmError("systemd-run could not arm the revert: %s" % output.strip())
            data["revert"] = {"method": "systemd", "unit": unit}
        else:
            log = os.path.join(state_dir(), "revert-%s.log" % change_id)
            pid = _detach(command + ["wait", change_id, "--until", repr(data["deadline"])], log)
            data["revert"] = {"method": "process", "pid": pid, "log": log}
        _write_json(_path(change_id), data)
    except BaseException:
        _disarm(data)
        with contextlib.suppress(OSError):
            os.unlink(_path(change_id))
        raise
    return summary(data)


def _same_as_pid1():
    """True when the calling process shares PID 1's network namespace (a systemd service runs in that one)."""
    try:
        return identity(None) == list(_lock.namespace_identity("/proc/1/ns/net"))
    except OSError:
        return False


def _disarm(data):
    """Stop the armed revert of a change (best effort: the journal file decides what a revert does)."""
    revert = data.get("revert") or {}
    if revert.get("method") == "systemd":
        _run(["systemctl", "stop", revert["unit"] + ".timer", revert["unit"] + ".service"])
    elif revert.get("method") == "process":
        pid = revert.get("pid")
        if pid and _is_our_waiter(pid, data["id"]):
            with contextlib.suppress(OSError):
                os.kill(pid, 15)


def _is_our_waiter(pid, change_id):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            args = handle.read().split(b"\0")
    except OSError:
        return False
    return b"wait" in args and change_id.encode() in args


# ---------------------------------------------------------------------------------------------------------
# Confirming and reverting
# ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _change_lock(change_id, timeout=600):
    """The lock of one pending change (an flock on its journal file); yields its data, or None when the change
    is not pending (confirmed or reverted meanwhile)."""
    path = _path(change_id)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield None
        return
    try:
        if not _lock.take_flock(fd, time.monotonic(), timeout):
            raise ConfirmError("change %s: another confirm or revert holds it" % change_id)
        # The file may have been removed (or replaced) while we waited.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except OSError:
            same = False
        yield _read_json(path) if same else None
    finally:
        os.close(fd)


def confirm(change_ids, check_mode=False):
    """Keep the given pending changes: disarm their reverts and remove their journals. Returns (their summaries,
    the ids no longer pending when their turn came: a revert that held the change's lock first has undone them)."""
    done, lost = [], []
    for change_id in change_ids:
        with _change_lock(change_id) as data:
            if data is None:
                lost.append(change_id)
                continue
            if not check_mode:
                _disarm(data)
                os.unlink(_path(change_id))
            done.append(summary(data))
    return done, lost


def revert(change_id, reason, lock_timeout=600):
    """Undo a pending change now (the armed revert, or ``macvlan_confirm`` with revert). Returns the record of
    what was restored, or None when the change is no longer pending. Never raises for a failed step."""
    _check_private(state_dir())
    _check_private(_pending_dir())
    with _change_lock(change_id, lock_timeout) as data:
        if data is None:
            return None
        namespaces = [entry["ns"] for entry in data.get("namespaces", ())]
        problems = []
        for entry in data.get("namespaces", ()):
            now = identity(entry["ns"])
            if now is None:
                problems.append(
                    "%s no longer exists: what was changed there is gone with it" % _lock.describe(entry["ns"])
                )
            elif entry.get("identity") and now != entry["identity"]:
                problems.append("%s is not the namespace the change was made in" % _lock.describe(entry["ns"]))
        restored = []
        if not problems:
            signals = Signals()
            signals.rolling_back = True  # SIGTERM, SIGHUP, SIGINT are held off: a revert, once started, finishes
            try:
                with signals:
                    restored, replay_problems = _replay(data, namespaces, lock_timeout)
                problems += replay_problems
            except _lock.LockError as exc:
                # A run of the collection holds a namespace longer than the wait: the change stays pending (its
                # journal kept), so the revert can be tried again (``main`` does, and so can macvlan_confirm).
                return {"id": change_id, "busy": str(exc), "not_restored": ["the revert could not run yet: %s" % exc]}
            except Exception as exc:  # noqa: BLE001 (a revert never crashes: it records why it could not run)
                problems.append("the revert could not run: %s: %s" % (type(exc).__name__, exc))
        record = {
            "id": change_id,
            "reverted_at": time.time(),
            "reverted_at_iso": _iso(time.time()),
            "reason": reason,
            "namespaces": namespaces,
            "actions": data.get("actions", []),
            "restored": restored,
            "not_restored": problems,
        }
        _write_json(os.path.join(state_dir(), "last_revert.json"), record)
        with contextlib.suppress(OSError):
            _keep_reverted(record)
        if (data.get("revert") or {}).get("method") == "systemd" and reason == "asked":
            _disarm(data)
        os.unlink(_path(change_id))
        return record


# Seconds between two tries of a revert whose namespaces stayed locked for its whole wait.
RETRY_S = 30


def _replay(data, namespaces, lock_timeout):
    # Imported here: confirming never needs netlink.
    from ansible_collections.hostnet.macvlan.plugins.module_utils import _netlink

    with _lock.NamespaceLocks(namespaces, timeout=lock_timeout), _netlink.Session() as session:
        return _journal.replay(_journal.Journal.from_data(data["journal"]), session, guarded=True)


def _say(line):
    """One line of the revert helper's log on stdout (the helper is not a module: there is no module.log here)."""
    sys.stdout.write(line + "\n")


def main(argv):
    """The revert helper: ``revert ID [--reason TEXT]`` (the systemd unit) or ``wait ID --until EPOCH`` (the
    detached process). Logs what it did on stdout."""
    if len(argv) < 2 or argv[0] not in ("revert", "wait"):
        _say("usage: revert ID [--reason TEXT] | wait ID --until EPOCH")
        return 2
    change_id = argv[1]
    reason = "confirm_timeout expired"
    if "--reason" in argv:
        reason = argv[argv.index("--reason") + 1]
    if argv[0] == "wait":
        until = float(argv[argv.index("--until") + 1])
        while True:
            left = until - time.time()
            if left <= 0:
                break
            time.sleep(min(left, 1.0))
            if not os.path.exists(_path(change_id)):
                _say(
                    "hostnet.macvlan: change %s is no longer pending (confirmed or reverted); nothing to do" % change_id
                )
                return 0
        data = _read_json(_path(change_id))
        if data is not None:
            reason = "confirm_timeout of %s s expired" % data.get("timeout")
    record = revert(change_id, reason)
    while record is not None and record.get("busy"):
        # The namespaces stayed locked for the whole wait: keep trying, the change still pending (a confirm or an
        # asked revert may also end it meanwhile).
        _say("hostnet.macvlan: change %s: %s; trying again" % (change_id, record["busy"]))
        sys.stdout.flush()
        time.sleep(RETRY_S)
        record = revert(change_id, reason)
    if record is None:
        _say("hostnet.macvlan: change %s is no longer pending (confirmed or reverted); nothing to do" % change_id)
        return 0
    _say("hostnet.macvlan: reverted change %s (%s)" % (change_id, reason))
    for line in record["restored"]:
        _say("  restored: %s" % line)
    for line in record["not_restored"]:
        _say("  NOT restored: %s" % line)
    sys.stdout.flush()
    return 1 if record["not_restored"] else 0
