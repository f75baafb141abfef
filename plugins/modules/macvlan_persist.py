#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: macvlan_persist
short_description: Persist a host's macvlan links and their parents' settings for its network stack
version_added: 0.1.0
description:
  - Writes the configuration files that make the host's network stack recreate the macvlan and macvtap links
    of O(links), and the promiscuous flag, MTU and state of the parents in O(parents), at every boot. The same
    O(links) and
    O(parents) as M(hostnet.macvlan.macvlan_state), which applies them to the kernel now.
  - Three stacks (O(backend)), each with the files it reads. V(networkd) - systemd-networkd C(.netdev) and
    C(.network) files per link, and drop-ins in the parent's C(.network) directory that attach the links and set
    the flag (C(<prefix>promisc.conf)) and the MTU and state (C(<prefix>parent.conf) - C(MTUBytes=),
    C(ActivationPolicy=), read by systemd 248 and later). V(networkmanager) - a keyfile connection per link, a
    oneshot systemd unit for the flag, and a oneshot unit per parent for its MTU and state
    (C(<prefix>parent-<parent>.service), run before the network is configured). V(ifupdown) - a file per link in
    the interfaces directory, with an C(auto) stanza whose commands create the link at boot (networking.service)
    and with C(ifup), and a stanza per parent for the flag, the MTU and the state.
  - A parent's own configuration (its C(.network), its NetworkManager connection, its ifupdown stanza) is never
    edited. With NetworkManager, a parent that NetworkManager itself activates takes the MTU and state of its
    own connection when it activates it, and a parent NetworkManager creates (a bridge, a bond) does not exist
    yet when the unit runs; both are limits of that backend (see docs/persistence.md).
  - Owns only files whose names start with O(prefix), only inside its directories. Files of links the task
    lists but does not write (C(state=absent), moved into another namespace, or on another parent) are
    removed; with O(purge), also the files of unlisted links on managed parents. Files of other prefixes, and
    files that are not the collection's, are never read for removal, written or removed.
  - Writes atomically (a temporary file in the same directory, fsync, rename), files mode 0644 (keyfiles 0600),
    directories it creates 0755, under the lock of the host's network namespace that the collection's modules
    share, so concurrent runs take turns.
  - The writes and removals of one task are one transaction - a failure part-way (a file that cannot be written,
    a full disk, SIGTERM) puts every file back as it was, byte for byte, and the task fails naming the file, with
    RV(rolled_back). Reloading the stack afterwards is not part of it.
  - Every value written comes from the normalised desired state (MAC addresses lower case, addresses and routes
    in canonical spelling); a value that a stack would read as something else (a newline, C([), C(=), a path
    separator, a glob, a scope id in an address) is refused with an error that names the option and the value,
    and nothing is written.
  - In check mode the task is a drift report between what is persisted and what is asked - RV(files) lists each
    file that is V(missing), V(differs) or is V(extra) (would be removed).
  - Settings a stack cannot express are not persisted and are reported as warnings.
author:
  - hostnet.macvlan maintainers (@hostnet)
extends_documentation_fragment:
  - hostnet.macvlan.bytecode_cache
  - hostnet.macvlan.links
notes:
  - Needs no pyroute2 and does not talk to the kernel. Writing needs root.
  - The links of a network namespace other than the host's are not persisted (the namespace does not exist at
    boot); see O(netns).
  - With O(backend=ifupdown) nothing is reloaded - ifupdown reads the files when C(ifup) runs (at boot,
    networking.service runs C(ifup -a)); M(hostnet.macvlan.macvlan_state) applies the links now. A link that
    macvlan_state created is not known to ifupdown as configured until the next boot (C(ifdown) then skips it).
seealso:
  - module: hostnet.macvlan.macvlan_state
  - module: hostnet.macvlan.macvlan_info
attributes:
  check_mode:
    support: full
    description: Reports the drift between the files on disk and the files asked for, and changes nothing.
  diff_mode:
    support: full
    description: Shows the content of every file written or removed, before and after.
  idempotent:
    support: full
    description: A second run with the same options writes nothing and reports no change.
  platform:
    support: full
    platforms: posix
    description: Linux with systemd-networkd, NetworkManager or ifupdown.
options:
  backend:
    description:
      - The network stack whose files are written.
      - V(auto) - the stack that runs, reported in RV(backend) and RV(backend_reason). When systemd is the init
        system, the active unit - C(NetworkManager.service), else C(systemd-networkd.service), else
        C(networking.service) (ifupdown). When it is not (a container without systemd, an image being built), the
        unit enabled in O(systemd_dir) (a link in a C(*.wants) directory), in the same order. Else ifupdown when
        O(interfaces_file) (or a file it sources) has an C(iface) stanza for an interface besides the loopback.
        Else nothing is persisted (a warning says so; RV(backend) is V(none)).
    type: str
    choices: [auto, networkd, networkmanager, ifupdown]
    default: auto
  parents:
    description:
      - Parent interfaces whose C(IFF_PROMISC) flag, MTU and administrative state are persisted - the
        O(hostnet.macvlan.macvlan_state#module:parents) of the same host. Each parent may be listed once.
      - What each persistence backend writes for them is in the description above and in docs/persistence.md.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Interface name in O(netns) (a string).
        type: raw
        required: true
      promisc:
        description: Whether the flag is set.
        type: bool
        default: true
      mtu:
        description:
          - The parent's MTU (68 to 65535, and within the range the device reports). Omitted, the parent's MTU is
            not managed.
          - It may not be lower than the MTU of a link on the parent.
        type: int
      link_state:
        description: The parent's administrative state. Omitted, it is not managed.
        type: str
        choices: [up, down]
  purge:
    description:
      - Remove the files of links that O(links) does not list, when they are links on managed parents (those in
        O(parents) and those used by O(links)). Files of links on other parents stay. With no managed parents,
        purge removes nothing.
      - Only link files. The files of a parent follow O(parents) alone - C(promisc=true) writes the flag, V(false)
        removes it, C(mtu) and C(link_state) write the parent's settings and an entry without them removes them,
        and a parent that is not listed keeps what it has.
    type: bool
    default: false
  purge_exclude:
    description:
      - Link names whose files purge never removes.
    type: list
    elements: str
    default: []
  prefix:
    description:
      - Name prefix of every file the task writes or removes. Runs with different prefixes own different files
        (for example the macvlan_host_access role uses its own).
      - A plain file name prefix - ASCII letters, digits, C(_), C(.), C(@), C(+), C(:) and C(-), not starting with
        C(.) (no glob characters, which the shell globs that select the files would read as patterns). With
        V(ifupdown) only ASCII
        letters, digits, C(_) and C(-) (the characters source-directory reads); with V(networkmanager) those and
        C(.) and C(:) (it starts the name of the promisc unit).
    type: str
    default: 60-hostnet-macvlan-
  networkd_dir:
    description: Directory of the systemd-networkd files (absolute).
    type: path
    default: /etc/systemd/network
  networkd_parent_network:
    description:
      - Maps a parent to the file name of the C(.network) that configures it, for example C(eth1) to
        C(10-eth1.network) - the links are attached with drop-ins in that file's C(.d) directory in
        O(networkd_dir), and the file itself is never changed. The empty string writes the collection's own
        minimal C(.network) for that parent.
      - Parents not listed - the C(.network) systemd-networkd reports for the parent in its state
        (C(/run/systemd/netif/links/<ifindex>)), else the first C(.network) in O(networkd_dir), in lexical order as
        networkd reads them, that is a parent C(.network) of the collection (of this prefix or another) or matches
        the parent by C(Name=) alone in its C([Match]) section, else the collection's own
        C(<prefix>parent-<parent>.network).
    type: dict
    default: {}
  networkmanager_dir:
    description: Directory of the NetworkManager keyfiles (absolute).
    type: path
    default: /etc/NetworkManager/system-connections
  ifupdown_dir:
    description:
      - Directory of the ifupdown files (absolute). O(interfaces_file) must source it; a warning says so when it
        does not.
    type: path
    default: /etc/network/interfaces.d
  systemd_dir:
    description:
      - Directory of the systemd units that set the parents' promiscuous flag, MTU and state with NetworkManager
        (absolute).
      - With O(backend=auto) and systemd not running, the enabled units are read here.
    type: path
    default: /etc/systemd/system
  interfaces_file:
    description:
      - The ifupdown interfaces file. It must read the files in O(ifupdown_dir) through a C(source) line whose
        glob matches them (C(source /etc/network/interfaces.d/*), Debian's default) or a C(source-directory)
        line; otherwise the task warns (and still writes the files).
      - With O(backend=auto), an C(iface) stanza here besides the loopback means ifupdown is in use.
    type: path
    default: /etc/network/interfaces
  reload:
    description:
      - When files changed and the stack runs (systemd is the init system), make it read them -
        C(networkctl reload) for systemd-networkd, C(nmcli connection reload) for NetworkManager and
        C(systemctl daemon-reload) after the promisc unit changed. Nothing for ifupdown (see the notes).
    type: bool
    default: true
  netns:
    description:
      - Persistence applies to the host namespace only. With a namespace here, V(auto) persists nothing (and
        says so) and any other O(backend) fails.
      - Links with C(link_netns) (moved into a namespace) are not persisted either, and the files of such a link
        that an earlier run wrote are removed.
    type: str
  lock_timeout:
    description:
      - Seconds to wait for the host namespace's lock, held by any other run of the collection that changes the
        host (check mode takes no lock).
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Apply the links now
  hostnet.macvlan.macvlan_state:
    parents: &parents
      - {name: eth1, promisc: true}
    links: &links
      - {name: mv-web, parent: eth1, mode: bridge, addresses: [192.0.2.10/24]}
      - {name: mv-db, parent: eth1, mode: bridge, mac_address: "02:42:ac:11:00:11"}
    purge: true

- name: And persist them for the network stack that runs
  hostnet.macvlan.macvlan_persist:
    parents: *parents
    links: *links
    purge: true
  register: persisted

- name: Which stack it chose
  ansible.builtin.debug:
    msg: "{{ persisted.backend }} ({{ persisted.backend_reason }})"

- name: Drift report - what differs between the files and the links asked for
  hostnet.macvlan.macvlan_persist:
    backend: ifupdown
    links: *links
  check_mode: true
  diff: true
  register: drift

- name: Write systemd-networkd files into an image being built (nothing runs there)
  hostnet.macvlan.macvlan_persist:
    backend: networkd
    networkd_dir: /srv/image/etc/systemd/network
    networkd_parent_network: {eth1: 10-eth1.network}
    reload: false
    links:
      - {name: mv-web, parent: eth1, addresses: [192.0.2.10/24]}
"""

RETURN = r"""
backend:
  description: The stack whose files were written (or compared) - V(none) when nothing is persisted.
  returned: always
  type: str
  sample: ifupdown
backend_reason:
  description: Why - V(asked for), or what O(backend=auto) found.
  returned: always
  type: str
  sample: networking.service is active
files:
  description:
    - The files the task changed - C(state) V(written) or V(removed).
    - In check mode, the drift report - C(state) V(missing) (would be created), V(differs) (would be rewritten)
      or V(extra) (would be removed). Empty when what is persisted is what is asked.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the file (or symbolic link).
      type: str
    state:
      description: V(written), V(removed), V(missing), V(differs) or V(extra).
      type: str
  sample:
    - {path: /etc/network/interfaces.d/60-hostnet-macvlan-link-mv-web, state: written}
reloaded:
  description: The reload commands that ran.
  returned: always
  type: list
  elements: str
  sample: [networkctl reload]
rolled_back:
  description:
    - On failure part-way, what the rollback did to put every file back as it was, last change first (at most 200
      lines). C(files) then lists what had been done before the failure.
  returned: failure after a file was changed
  type: list
  elements: str
  sample: ["/etc/network/interfaces.d/60-hostnet-macvlan-link-mv-web restored"]
not_restored:
  description: On failure, the files the rollback could not restore, and why (empty when everything was restored).
  returned: failure after a file was changed
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

_boot.use_bytecode_cache()  # first: the collection's code below then loads without compiling (see _boot)

from ansible_collections.hostnet.macvlan.plugins.module_utils._options import (
    LINKS_OPTION,
    LOCK_OPTIONS,
    PARENT_OPTIONS,
)
from ansible_collections.hostnet.macvlan.plugins.module_utils._persist_runner import run_persist_module

ARGUMENT_SPEC = {
    "links": LINKS_OPTION,
    "parents": {"type": "list", "elements": "dict", "default": [], "options": PARENT_OPTIONS},
    "backend": {"type": "str", "default": "auto", "choices": ["auto", "networkd", "networkmanager", "ifupdown"]},
    "purge": {"type": "bool", "default": False},
    "purge_exclude": {"type": "list", "elements": "str", "default": []},
    "prefix": {"type": "str", "default": "60-hostnet-macvlan-"},
    "networkd_dir": {"type": "path", "default": "/etc/systemd/network"},
    "networkd_parent_network": {"type": "dict", "default": {}},
    "networkmanager_dir": {"type": "path", "default": "/etc/NetworkManager/system-connections"},
    "ifupdown_dir": {"type": "path", "default": "/etc/network/interfaces.d"},
    "systemd_dir": {"type": "path", "default": "/etc/systemd/system"},
    "interfaces_file": {"type": "path", "default": "/etc/network/interfaces"},
    "reload": {"type": "bool", "default": True},
    "netns": {"type": "str"},
    "lock_timeout": LOCK_OPTIONS["lock_timeout"],
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_persist_module(module)


if __name__ == "__main__":
    main()
