# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""Signals during a transaction (the engine's netlink steps, the persistence module's file steps): a signal that
would end the process raises ``Interrupted`` between steps, so the rollback runs, and is held within a step and
during the rollback."""

import contextlib
import signal


class Interrupted(Exception):
    """A signal that ends the process arrived during the transaction (raised from the signal handler)."""


class Signals:
    """During the transaction, SIGTERM, SIGHUP and SIGINT raise ``Interrupted`` (so the rollback runs); during the
    rollback they are held off (noted, not acted on) so that the rollback finishes.

    Within one step (``step()``: one change and the journal entry of its undo) a signal is held until the step is
    journaled, then raised: raised in between, after the change was made, it would leave a change the journal does
    not know, which the rollback could not undo. A step is one netlink request and its answer, or one file
    renamed, written or removed."""

    SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")

    def __init__(self):
        self.rolling_back = False
        self.received = []
        self._previous = {}
        self._in_step = False
        self._held = None

    def _handler(self, signum, _frame):
        name = signal.Signals(signum).name
        self.received.append(name)
        if self.rolling_back:
            return
        if self._in_step:
            self._held = self._held or name
            return
        raise Interrupted("the module was interrupted by %s" % name)

    @contextlib.contextmanager
    def step(self):
        """One step, signals held until it is done (or has failed: its own error then goes on to the rollback)."""
        self._in_step = True
        try:
            yield
        finally:
            self._in_step = False
        if self._held is not None:
            raise Interrupted("the module was interrupted by %s" % self._held)

    def __enter__(self):
        for name in self.SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            with contextlib.suppress(ValueError, OSError):  # not the main thread: signals cannot be caught here
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, previous)
        return False
