# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Entering network namespaces (standard library only, so the probe module does not load pyroute2)."""

import ctypes
import errno
import os

from ansible_collections.hostnet.macvlan.plugins.module_utils import _model

CLONE_NEWNET = 0x40000000


class NetlinkFailure(Exception):
    """A netlink operation failed; the message says what, why and what to do."""

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


_LIBC = None


def setns(fd):
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    if _LIBC.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def open_netns_fd(ns, option="netns"):
    """Open the file that stands for namespace ``ns``; the caller closes it."""
    path = _model.netns_path(ns)
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise NetlinkFailure(
            "%s: network namespace %r does not exist (%s not found). Create it first ('ip netns add NAME') or "
            "give the path of a running process's namespace, e.g. /proc/PID/ns/net" % (option, ns, path),
            errno.ENOENT,
        ) from None
    except PermissionError:
        raise NetlinkFailure(
            "%s: cannot open %s: permission denied; managing network namespaces needs root" % (option, path),
            errno.EACCES,
        ) from None


# --- sysctls of a namespace ------------------------------------------------------------------------------

IPV6_CONF = "/proc/sys/net/ipv6/conf"


def ipv6_conf_path(link, key):
    """/proc/sys/net/ipv6/conf/<link>/<key> (``link`` may be ``default`` or ``all``)."""
    return "%s/%s/%s" % (IPV6_CONF, link, key)


def in_netns(ns, option, factory):
    """``factory()`` called inside namespace ``ns`` (None: the module's own), then back home. What it opens stays
    bound to that namespace: a netlink socket, or a file under /proc/sys/net."""
    if ns is None:
        return factory()
    target = open_netns_fd(ns, option)
    try:
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
    except OSError:
        os.close(target)
        raise
    try:
        try:
            setns(target)
        except OSError as exc:
            raise NetlinkFailure(
                "%s: cannot enter network namespace %r: %s (entering a namespace needs root, CAP_SYS_ADMIN)"
                % (option, ns, exc.strerror),
                exc.errno,
            ) from None
        try:
            return factory()
        finally:
            setns(home)
    finally:
        os.close(target)
        os.close(home)


def open_in_netns(ns, path, flags, option="netns"):
    """``os.open(path, flags)`` inside namespace ``ns`` (None: the module's own). A file under /proc/sys/net belongs
    to the namespace of the process that opens it: the descriptor keeps it after the process returns home."""
    return in_netns(ns, option, lambda: os.open(path, flags))


def read_sysctl(ns, path):
    """The value of sysctl file ``path`` in namespace ``ns`` (stripped text), or None when it does not exist or
    holds nothing readable (``stable_secret`` reads EIO until it is set)."""
    try:
        fd = open_in_netns(ns, path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return os.read(fd, 4096).decode("ascii", "replace").strip()
    except OSError as exc:
        if exc.errno == errno.EIO:
            return None
        raise
    finally:
        os.close(fd)


def write_sysctl(ns, path, value):
    """Write ``value`` (an int) to sysctl file ``path`` in namespace ``ns``; NetlinkFailure naming the file."""
    try:
        fd = open_in_netns(ns, path, os.O_WRONLY)
    except OSError as exc:
        raise NetlinkFailure("cannot open %s: %s" % (path, exc.strerror), exc.errno) from None
    try:
        os.write(fd, b"%d\n" % int(value))
    except OSError as exc:
        raise NetlinkFailure("writing %d to %s: %s" % (int(value), path, exc.strerror), exc.errno) from None
    finally:
        os.close(fd)
