# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The action plugin of every module of the collection: Ansible's own (``ansible.builtin.normal``), with the
module's payload built without walking the worker's heap.

To build a module's payload, ansible-core parses every ``module_utils`` file the module imports into an abstract
syntax tree and keeps each tree in reference cycles (``ModuleDepFinder`` holds the tree and bound methods of
itself, and sets ``parent`` on every import node). ``macvlan_state`` ships about 40,000 nodes; that garbage sets
off one more full collection of Python's cyclic garbage collector in Ansible's worker process, and a full
collection walks every object the worker holds: the templated task arguments, the host's variables, the
inventory. Measured with ``benchmarks/attribute.py`` (2 cores): 0.23 s of the worker's CPU time for an unchanged
1024-link ``macvlan_state`` task, more than the module itself spends on the managed node.

The worker is a fork of ``ansible-playbook`` that runs one task for one host and exits, so what it holds when
the payload build starts lives until the end of the task anyway. ``gc.freeze()`` puts those objects out of the
collector's reach for the length of the build (what the Python documentation recommends to keep a forked child's
collections off the objects it inherits). The collector is paused during the build, too: parsing creates tens of
thousands of tree nodes, and the young collections they set off, again and again, find nothing to free while the
trees are in use (measured with ``attribute.py``: docs/benchmarks.md, eighth run). When the build ends, however
it ends, one collection frees the build's garbage while the heap is still frozen (it walks only what the build
made), the collector is resumed and ``gc.unfreeze()`` hands the objects back. A collector someone else paused stays
paused (and nothing is collected); a freeze someone else holds (``gc.get_freeze_count()`` not 0) is left alone:
nothing is frozen, paused or collected then (nor on a Python without ``gc.freeze``). Everything else (check mode,
async, the temporary directory, the result) is ``ansible.builtin.normal`` of the installed ansible-core.
"""

from __future__ import annotations

import gc

from ansible.plugins.action.normal import ActionModule as NormalAction


class ModuleAction(NormalAction):
    """``ansible.builtin.normal`` with the payload built over a frozen heap, the collector paused."""

    def _configure_module(self, *args, **kwargs):
        if not hasattr(gc, "freeze") or gc.get_freeze_count():
            return super()._configure_module(*args, **kwargs)
        collecting = gc.isenabled()
        gc.freeze()
        gc.disable()
        try:
            return super()._configure_module(*args, **kwargs)
        finally:
            if collecting:
                # The build's garbage (the syntax trees), collected at once, while the worker's heap is still out
                # of reach: the collector walks what the build made, nothing else.
                gc.collect()
                gc.enable()
            gc.unfreeze()
