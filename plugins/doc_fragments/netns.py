# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The netns option, shared by every module of the collection.
    DOCUMENTATION = r"""
options:
  netns:
    description:
      - Network namespace the module works in.
      - Either a name as listed by C(ip netns list) (the file C(/run/netns/NAME)) or an absolute path to a
        namespace file such as C(/proc/1234/ns/net) (a container's namespace).
      - Omit to work in the namespace the module runs in.
      - Entering a namespace needs root (C(CAP_SYS_ADMIN)); a missing namespace is an error and nothing is
        changed.
    type: str
"""
