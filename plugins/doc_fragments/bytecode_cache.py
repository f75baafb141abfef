# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # What every module of the collection keeps on the managed node between runs (module_utils/_boot.py).
    DOCUMENTATION = r"""
options: {}
notes:
  - >-
    The collection's module_utils are kept compiled on the managed node, so a run does not compile them again
    (Python cannot cache the bytecode of the zip Ansible ships): in C(/run/hostnet-macvlan/bytecode), on tmpfs,
    root-only, one entry per file named after the SHA-256 of the source Ansible sent, so a run always executes the
    code of its controller. An entry that is damaged or that someone else could have written is not used. Set
    C(HOSTNET_MACVLAN_BYTECODE_CACHE=off) in the task's C(environment) to compile every time.
"""
