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
