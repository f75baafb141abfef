# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Serialization: one lock per network namespace (standard library only).

Every run that changes a namespace holds its lock from the observation to the end of the read-back (and, on
failure, to the end of the rollback), so two runs never plan against a state the other is changing. The lock
is an ``flock`` on a file under /run/lock/hostnet-macvlan named after the namespace's identity (the device and
inode of its nsfs file): two spellings of one namespace (``ns1`` and ``/run/netns/ns1``, or
``/proc/PID/ns/net``) share a lock, and the lock dies with the process that holds it (a killed run never
leaves a stale lock behind). The persisted files of a host are written under the lock of the host's namespace.

A run that needs several namespaces takes their locks in one global order (by identity), so two runs can never
wait for each other.
"""

import contextlib
import errno
import fcntl
import os
import time

LOCK_DIR = "/run/lock/hostnet-macvlan"
DEFAULT_TIMEOUT = 60
# Waiting polls: the first retries are quick (a short run is usually about to finish), later ones slower.
_FIRST_PAUSE = 0.02
_MAX_PAUSE = 0.5


class LockError(Exception):
    """The lock could not be taken: another run held it past the timeout, or the lock file is unusable."""


def namespace_file(ns):
    """The file that stands for namespace ``ns`` (None: the calling process's own)."""
    if ns is None:
        return "/proc/self/ns/net"
    return ns if ns.startswith("/") else "/run/netns/" + ns


def namespace_identity(ns):
    """(device, inode) of a namespace; OSError when it does not exist."""
    info = os.stat(namespace_file(ns))
    return (info.st_dev, info.st_ino)


def describe(ns):
    return "the host namespace" if ns is None else "netns %s" % ns


def take_flock(fd, start, timeout):
    """Take an exclusive flock on ``fd``: True once taken, False when ``timeout`` seconds since ``start``
    (time.monotonic()) passed first. It polls with a pause that doubles up to half a second instead of blocking in
    the kernel, so the timeout holds and signals are handled. An error other than "another holds it" is raised
    (OSError)."""
    pause = _FIRST_PAUSE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        elapsed = time.monotonic() - start
        if elapsed >= timeout:
            return False
        time.sleep(min(pause, max(0.0, timeout - elapsed)))
        pause = min(pause * 2, _MAX_PAUSE)


class NamespaceLocks:
    """Exclusive locks on the namespaces ``namespaces`` (an iterable of names/paths; None is the process's
    own), taken in a global order; a context manager. ``timeout`` is in seconds (0: fail at once when held).

    Namespaces that do not exist are skipped: the run fails on them later, with the option that named them.
    """

    def __init__(self, namespaces, timeout=DEFAULT_TIMEOUT, lock_dir=LOCK_DIR, option="lock_timeout"):
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.lock_dir = lock_dir
        self.option = option
        found = {}
        for ns in namespaces:
            try:
                identity = namespace_identity(ns)
            except OSError:
                continue
            found.setdefault(identity, ns)
        self._wanted = sorted(found.items())
        self._fds = []
        self.waited = 0.0

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def _path(self, identity):
        return os.path.join(self.lock_dir, "netns-%d-%d.lock" % identity)

    def _open(self, path):
        try:
            os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise LockError(
                "cannot open the lock file %s: %s (the lock needs root; check mode needs no lock)"
                % (path, exc.strerror or exc)
            ) from None

    def acquire(self):
        start = time.monotonic()
        try:
            for identity, ns in self._wanted:
                fd = self._open(self._path(identity))
                self._fds.append(fd)
                self._wait(fd, ns, start)
                # Who holds it, for the message of a run that waits too long (read only for that message).
                os.ftruncate(fd, 0)
                os.pwrite(fd, ("%d\n" % os.getpid()).encode(), 0)
        except BaseException:
            self.release()
            raise
        self.waited = time.monotonic() - start

    def _wait(self, fd, ns, start):
        try:
            if take_flock(fd, start, self.timeout):
                return
        except OSError as exc:
            raise LockError("cannot lock %s: %s" % (describe(ns), exc.strerror or exc)) from None
        raise LockError(
            "%s: another hostnet.macvlan run%s has been changing %s for the last %.0f s and still holds its "
            "lock; runs on one namespace take turns. Wait for it to finish, or raise %s (now %s)"
            % (self.option, _holder(fd), describe(ns), time.monotonic() - start, self.option, self.timeout)
        )

    def release(self):
        for fd in reversed(self._fds):
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the last descriptor releases the flock
        self._fds = []


def _holder(fd):
    try:
        pid = int(os.pread(fd, 32, 0).split()[0])
    except (OSError, ValueError, IndexError):
        return ""
    return " (pid %d)" % pid
