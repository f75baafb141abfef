"""Put scripts/ansible-test-getpip.py where ansible-test looks for get-pip.

Run with the interpreter that has ansible-core (the project's .venv).  Asks the
installed ansible-test which pip version it bootstraps into its virtualenvs
and writes ``~/.ansible/test/cache/get_pip_<version>.py`` for each one that is
missing.  A cache file written by an earlier copy of the stand-in is refreshed;
any other file (e.g. a real get-pip.py) is left alone.
"""

import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

MARKER = "Offline stand-in for pip's get-pip.py"
SOURCE = Path(__file__).resolve().with_name("ansible-test-getpip.py")
CACHE_DIR = Path(os.path.expanduser("~/.ansible/test/cache"))


def wanted_pip_versions():
    """Return the pip versions ansible-test asks for, over all Python versions it supports."""
    try:
        from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS
        from ansible_test._internal.python_requirements import get_venv_packages
    except ImportError as ex:  # internal API moved: fall back to reading the source
        import ansible_test

        source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
        found = set(re.findall(r"pip='([0-9.]+)'", source.read_text()))
        if not found:
            sys.exit(f"cannot find ansible-test's pip version ({ex}; nothing in {source})")
        return found
    return {get_venv_packages(SimpleNamespace(version=v))["pip"] for v in SUPPORTED_PYTHON_VERSIONS}


def main():
    content = SOURCE.read_text()
    for version in sorted(wanted_pip_versions()):
        target = CACHE_DIR / f"get_pip_{version.replace('.', '_')}.py"
        if target.exists():
            current = target.read_text(errors="replace")
            if current == content:
                print(f"getpip: {target} up to date (pip {version})")
                continue
            if MARKER not in current:
                print(f"getpip: {target} exists and is not ours; leaving it")
                continue
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(content)
        tmp.replace(target)
        print(f"getpip: wrote {target} (pip {version} bootstrap stand-in)")


if __name__ == "__main__":
    main()
