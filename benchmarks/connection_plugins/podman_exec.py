# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only connection: run tasks in a local podman container through ``podman exec``.

The fleet series needs no collection from Galaxy this way (containers.podman's connection works too: bench.py
--fleet-connection containers.podman.podman).
"""

from __future__ import annotations

import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.plugins.connection import ConnectionBase

DOCUMENTATION = r"""
name: podman_exec
short_description: Run tasks in a local podman container with podman exec (benchmarks only)
description:
  - Executes commands with C(podman exec -i CONTAINER /bin/sh -c CMD) and copies files through the same pipe.
author:
  - hostnet.macvlan maintainers (@hostnet)
options:
  remote_addr:
    description: The container's name or ID.
    default: inventory_hostname
    type: str
    vars:
      - name: inventory_hostname
      - name: ansible_host
  podman_executable:
    description: The podman command.
    default: podman
    type: str
    vars:
      - name: ansible_podman_executable
extends_documentation_fragment:
  - connection_pipelining
"""


class Connection(ConnectionBase):
    transport = "podman_exec"
    has_pipelining = True

    def _connect(self):
        self._connected = True
        return self

    def _podman(self, args, in_data=None):
        cmd = [self.get_option("podman_executable"), "exec", "-i", self.get_option("remote_addr"), *args]
        try:
            proc = subprocess.run(cmd, input=in_data, capture_output=True, check=False)
        except OSError as exc:
            raise AnsibleConnectionFailure("cannot run %s: %s" % (cmd[0], exc)) from None
        return proc.returncode, proc.stdout, proc.stderr

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        return self._podman(["/bin/sh", "-c", cmd], in_data)

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        with open(in_path, "rb") as handle:
            data = handle.read()
        rc, dummy, err = self._podman(["/bin/sh", "-c", "cat > %s" % shlex.quote(out_path)], data)
        if rc != 0:
            raise AnsibleError("put_file to %s failed: %s" % (out_path, err.decode(errors="replace")))

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        rc, out, err = self._podman(["cat", in_path])
        if rc != 0:
            raise AnsibleError("fetch_file from %s failed: %s" % (in_path, err.decode(errors="replace")))
        with open(out_path, "wb") as handle:
            handle.write(out)

    def close(self):
        self._connected = False
