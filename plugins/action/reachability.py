# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The action plugin of hostnet.macvlan.reachability: Ansible's own, with the payload built over a frozen heap
(see plugins/plugin_utils/_action.py)."""

from __future__ import annotations

from ansible_collections.hostnet.macvlan.plugins.plugin_utils._action import ModuleAction


class ActionModule(ModuleAction):
    """Runs the hostnet.macvlan.reachability module."""
