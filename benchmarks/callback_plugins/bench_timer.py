# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only callback: when each task started and ended, and its outcome, as JSON in $BENCH_TIMER_FILE."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Task start/end times and outcomes as JSON (benchmarks only)
description:
  - Writes the playbook's start and end time and, per task, its start, end, hosts, changed and failed flags to
    the file named by the environment variable BENCH_TIMER_FILE (written once, at the end of the run).
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._start = time.time()
        self._tasks = []
        self._by_uuid = {}

    def v2_playbook_on_start(self, playbook):
        self._start = time.time()

    def _task_start(self, task):
        entry = {
            "name": task.get_name(),
            "action": task.action,
            "start": time.time(),
            "end": None,
            "hosts": {},
        }
        self._tasks.append(entry)
        self._by_uuid[task._uuid] = entry

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task)

    def _result(self, result, status):
        entry = self._by_uuid.get(result._task._uuid)
        if entry is None:
            return
        entry["end"] = time.time()
        data = result._result
        entry["hosts"][result._host.get_name()] = {
            "status": status,
            "changed": bool(data.get("changed")),
            "failed": status == "failed",
            "msg": str(data.get("msg", ""))[:2000] if status == "failed" else "",
        }

    def v2_runner_on_ok(self, result):
        self._result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "failed")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_TIMER_FILE")
        if not path:
            return
        with open(path, "w") as handle:
            json.dump({"start": self._start, "end": time.time(), "tasks": self._tasks}, handle)
