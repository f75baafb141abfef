"""take_flock: the one polling flock of the namespace locks and of a pending change's journal (a temporary file,
two open file descriptions of it in this process)."""

from __future__ import annotations

import fcntl
import os
import time

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _lock


@pytest.fixture
def two_fds(tmp_path):
    path = str(tmp_path / "lock")
    first = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    second = os.open(path, os.O_RDWR)
    yield first, second
    os.close(second)
    os.close(first)


def test_a_free_lock_is_taken_at_once(two_fds):
    first, _second = two_fds
    start = time.monotonic()
    assert _lock.take_flock(first, start, 0) is True
    assert time.monotonic() - start < 0.5


def test_a_held_lock_times_out_after_the_timeout_and_not_long_after(two_fds):
    first, second = two_fds
    fcntl.flock(first, fcntl.LOCK_EX)
    start = time.monotonic()
    assert _lock.take_flock(second, start, 0.3) is False
    waited = time.monotonic() - start
    assert 0.3 <= waited < 0.3 + 0.5 + 0.5, waited  # at most one pause (0.5 s) late, plus slack


def test_a_lock_released_while_waiting_is_taken(two_fds, monkeypatch):
    first, second = two_fds
    fcntl.flock(first, fcntl.LOCK_EX)
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            fcntl.flock(first, fcntl.LOCK_UN)

    monkeypatch.setattr(_lock.time, "sleep", sleep)
    assert _lock.take_flock(second, time.monotonic(), 60) is True
    assert sleeps == [0.02, 0.04, 0.08]  # the pause doubles


def test_an_error_other_than_held_is_raised():
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError):
        _lock.take_flock(write_end, time.monotonic(), 1)  # a closed descriptor: EBADF
