"""Offline stand-in for pip's get-pip.py, for ``ansible-test --venv``.

ansible-test bootstraps pip into each virtualenv it creates by downloading
``get-pip-<version>.py``.  That host is not reachable from our machines, but
ansible-test uses ``~/.ansible/test/cache/get_pip_<version>.py`` when present;
scripts/ansible-test-cache.sh copies this file there.

ansible-test runs it as ``python get_pip_X_Y.py [pip options] pip==X.Y
[--no-setuptools] [--no-wheel]`` with the interpreter of the new virtualenv.
We bootstrap the pip bundled with that interpreter (``ensurepip``), then let
that pip install the requested packages from the configured package index.

``--no-setuptools`` / ``--no-wheel`` are get-pip options, not pip's: they are
dropped, and setuptools (which ensurepip brings along before Python 3.12) is
uninstalled again when ``--no-setuptools`` asked for a virtualenv without it.

``ensurepip`` runs in a child process: in-process it sets PIP_CONFIG_FILE to
/dev/null, after which pip would ignore the machine's index and certificate
settings.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def installed(name):
    probe = f"import importlib.metadata as m; m.version({name!r})"
    return subprocess.call([sys.executable, "-c", probe], stderr=subprocess.DEVNULL) == 0


def main(argv):
    args = [arg for arg in argv if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    for option, name in (("--no-setuptools", "setuptools"), ("--no-wheel", "wheel")):
        if option in argv and installed(name):
            subprocess.check_call([sys.executable, "-m", "pip", "uninstall", "-q", "-y", name])
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
