"""The transaction's signal handling (_signals.Signals): a signal raises at once between steps, and is held within
a step until the step is journaled, so that the rollback knows every change the kernel made."""

from __future__ import annotations

import os
import signal

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _signals


def test_a_signal_between_steps_interrupts_at_once():
    signals = _signals.Signals()
    reached = []
    with signals, pytest.raises(_signals.Interrupted, match="interrupted by SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)
        reached.append("after the kill")
    assert not reached


def test_a_signal_within_a_step_is_raised_once_the_step_is_journaled():
    signals = _signals.Signals()
    journal = []
    with signals, pytest.raises(_signals.Interrupted, match="interrupted by SIGHUP"):
        with signals.step():
            os.kill(os.getpid(), signal.SIGHUP)  # the kernel has done the step; its undo is not journaled yet
            journal.append("undo of the step")
        journal.append("the next step")
    assert journal == ["undo of the step"]


def test_a_step_that_fails_keeps_its_own_error_for_the_rollback():
    signals = _signals.Signals()
    with signals:
        with pytest.raises(OSError, match="refused"), signals.step():
            os.kill(os.getpid(), signal.SIGTERM)
            raise OSError("refused")
        assert signals.received == ["SIGTERM"]


def test_signals_are_held_off_during_the_rollback():
    signals = _signals.Signals()
    with signals:
        signals.rolling_back = True
        os.kill(os.getpid(), signal.SIGTERM)
    assert signals.received == ["SIGTERM"]
