#!/usr/bin/env bash
# Run `ansible-test sanity --venv` offline on a copy of the collection.
#
# ansible-test wants to run from a real directory ending in
# ansible_collections/<namespace>/<name> (it resolves symlinks), so the files
# git sees are mirrored to .build/sanity/ansible_collections/hostnet/macvlan
# (scripts/sync-tree.py) and the tests run there.  The pip bootstrap script it
# would download is replaced by our stand-in (scripts/install-getpip-cache.py).
#
# 1. all sanity tests on SANITY_PYTHON (default 3.11, the controller's);
# 2. the target-side tests (compile, import) on every other Python the modules
#    must run on (SANITY_EXTRA_PYTHONS, default "3.9 3.10 3.12 3.13") that is
#    installed: on PATH, or under pyenv's versions directory.  Missing ones are
#    reported and skipped.
#
# Extra arguments go to the first ansible-test run (e.g. --test pep8); the
# extra Pythons are then skipped.  First run about 1-3 minutes (ansible-test
# builds its virtualenvs under ~/.ansible/test and tests/output), later runs
# reuse them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
DEST=${SANITY_DIR:-$ROOT/.build/sanity/ansible_collections/hostnet/macvlan}
SANITY_PYTHON=${SANITY_PYTHON:-3.11}
SANITY_EXTRA_PYTHONS=${SANITY_EXTRA_PYTHONS-3.9 3.10 3.12 3.13}
ANSIBLE_TEST=$VENV/bin/ansible-test

log() { printf 'sanity: %s\n' "$*"; }

# shellcheck source=scripts/ansible-test-tree.sh
source "$ROOT/scripts/ansible-test-tree.sh"
enter_ansible_test_tree

log "ansible-test sanity --venv --python $SANITY_PYTHON $*"
"$ANSIBLE_TEST" sanity --venv --python "$SANITY_PYTHON" "$@"

if [[ $# -gt 0 ]]; then
    log "arguments given: not running the extra Pythons ($SANITY_EXTRA_PYTHONS)"
    exit 0
fi
for v in $SANITY_EXTRA_PYTHONS; do
    if ! dir=$(python_dir "$v"); then
        log "Python $v not installed: skipping compile/import on $v"
        continue
    fi
    log "ansible-test sanity --venv --python $v --test compile --test import ($dir/python$v)"
    PATH=$dir:$PATH "$ANSIBLE_TEST" sanity --venv --python "$v" --test compile --test import
done
