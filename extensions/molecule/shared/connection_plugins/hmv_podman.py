# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""containers.podman's podman connection with pipelining (molecule scenarios of hostnet.macvlan only).

The podman connection runs five `podman exec` calls per task (temporary directory, copy, chmod, run,
clean up); with pipelining Ansible sends the module to the interpreter's standard input in one call.  The
upstream plugin does not attach standard input (`podman exec -i`), so it cannot pipeline; this subclass
does, and changes nothing else.  scripts/molecule.sh puts it on ANSIBLE_CONNECTION_PLUGINS.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: hmv_podman
    short_description: containers.podman.podman with pipelining (test use)
    description:
        - The podman connection of containers.podman, with C(podman exec -i) when Ansible pipelines.
    author: hostnet.macvlan maintainers (@hostnet)
    options:
      remote_addr:
        description: The ID of the container you want to access.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User which executes commands inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      pipelining:
        description: Pipeline the modules (one podman exec per task).
        type: boolean
        default: true
        env:
          - name: ANSIBLE_PIPELINING
        vars:
          - name: ansible_pipelining
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    transport = "hmv_podman"
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        if in_data is None:
            return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        # ConnectionBase.exec_command only logs; the parent class would run podman exec without -i
        args = ["exec", "-i"] + (["--user", self.user] if self.user else [])
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
