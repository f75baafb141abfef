# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # What every netlink module of the collection needs on the managed node, and its platform.
    DOCUMENTATION = r"""
requirements:
  - pyroute2 (0.5.14 or later; docs/support.md lists the tested releases) on the managed node, for the Python
    interpreter Ansible uses there (Debian/Ubuntu C(python3-pyroute2), or C(pip install pyroute2)).
  - Linux with macvlan (and macvtap for macvtap links) support.
notes:
  - Talks to the kernel over netlink; it never runs C(ip) or other commands.
  - Changes need root or C(CAP_NET_ADMIN) (use C(become)); reading and check mode do not.
attributes:
  platform:
    support: full
    platforms: posix
    description: Linux only.
"""
