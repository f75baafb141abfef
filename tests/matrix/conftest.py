"""Fixtures of the support-matrix smoke tests (scripts/matrix.sh): tests/integration's lab and Ansible runner, with
the controller and the managed-node Pythons chosen by environment variables.

- ``HOSTNET_ANSIBLE_BIN``: a directory holding the ``ansible-playbook`` to run (a controller virtualenv's bin/,
  e.g. .build/matrix/core-2.16/bin). Unset: the one next to the Python running pytest (as in tests/integration).
- ``HOSTNET_ANSIBLE_CORE``: the ansible-core version that ``ansible-playbook`` must report (checked once).
- ``HOSTNET_MANAGED_PYTHONS``: ``:``-separated interpreters the modules run with (ansible_python_interpreter),
  each with pyroute2 installed. Unset: this Python and /usr/bin/python3, as in tests/integration.

Each managed-node Python is probed once (its version and the pyroute2 it imports), with code that runs on
Python 3.6; the test ids name both (``py3.6-pyroute2-0.5.14``).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
ANSIBLE_BIN = os.environ.get("HOSTNET_ANSIBLE_BIN") or str(Path(sys.executable).parent)
ANSIBLE_CORE = os.environ.get("HOSTNET_ANSIBLE_CORE")
MANAGED = [p for p in os.environ.get("HOSTNET_MANAGED_PYTHONS", "%s:/usr/bin/python3" % sys.executable).split(":") if p]

# tests/integration/conftest.py probes its own interpreters when it is imported (with importlib.metadata, which
# Python 3.6 and 3.7 lack): give it this Python only; the interpreters here are probed below.
os.environ["PYROUTE2_INTERPRETERS"] = sys.executable
sys.path.insert(0, str(INTEGRATION))
_spec = importlib.util.spec_from_file_location("hostnet_integration_conftest", INTEGRATION / "conftest.py")
integration = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = integration
_spec.loader.exec_module(integration)

# The fixtures and hooks this directory shares with tests/integration.
lab = integration.lab
pytest_sessionfinish = integration.pytest_sessionfinish

PROBE = r"""
import sys
try:
    from importlib.metadata import version
except ImportError:  # Python 3.6 and 3.7
    from pkg_resources import get_distribution

    def version(name):
        return get_distribution(name).version
import pyroute2
print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], version("pyroute2")))
"""


def _probe(python):
    proc = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.exit("%s cannot import pyroute2:\n%s" % (python, proc.stderr[-2000:]), returncode=1)
    py_version, pyroute2_version = proc.stdout.split()
    return {"python": python, "python_version": py_version, "pyroute2": pyroute2_version}


TARGETS = [_probe(python) for python in MANAGED]


@pytest.fixture(params=TARGETS, ids=["py%(python_version)s-pyroute2-%(pyroute2)s" % t for t in TARGETS])
def target(request):
    """The managed-node Python of this run: {python, python_version, pyroute2}."""
    return request.param


@pytest.fixture
def ansible(target, tmp_path):
    """tests/integration's AnsibleRunner with this run's interpreter and HOSTNET_ANSIBLE_BIN's ansible-playbook."""
    runner = integration.AnsibleRunner(target["python"], tmp_path)
    runner.env["PATH"] = ANSIBLE_BIN + os.pathsep + runner.env["PATH"]
    # The integration tests' make target puts .build/collections on PYTHONPATH for pytest's own imports; the
    # controller under test finds the collection through ANSIBLE_COLLECTIONS_PATH only.
    runner.env.pop("PYTHONPATH", None)
    return runner
