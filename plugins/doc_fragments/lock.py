# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The lock_timeout option of every module that changes the kernel or files.
    DOCUMENTATION = r"""
options:
  lock_timeout:
    description:
      - Seconds to wait for another run of the collection's modules that is changing the same network namespace
        (or, for persistence, the same host) to finish. Runs on one namespace take turns; each holds the
        namespace's lock from reading the kernel to the end of its read-back (and of its rollback).
      - The lock is an C(flock) on a file under C(/run/lock/hostnet-macvlan/) named after the namespace's identity,
        so every spelling of one namespace shares it; it is released when the run's process ends, however it
        ends. Check mode takes no lock.
      - When the time runs out the task fails, naming the process that holds the lock, and changes nothing.
    type: int
    default: 60
"""
