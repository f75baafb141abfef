"""Make ``ansible_collections.hostnet.macvlan`` importable when pytest runs straight from a checkout.

(``ansible-test units`` sets this up itself; plain ``pytest tests/unit`` needs the same.)
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

import importlib.util

if importlib.util.find_spec("ansible_collections.hostnet.macvlan") is None:
    root = REPO / ".build" / "collections"
    link = root / "ansible_collections" / "hostnet" / "macvlan"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(root))
