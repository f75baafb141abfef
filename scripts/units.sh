#!/usr/bin/env bash
# Run `ansible-test units --venv` offline on a copy of the collection, on every Python in UNITS_PYTHONS
# (default "3.9 3.10 3.11 3.12 3.13": the ones ansible-core 2.19 supports for module code that this
# collection supports) that is installed: on PATH, or under pyenv's versions directory. Missing ones are
# reported and skipped; at least one must run. Works like scripts/sanity.sh (same copy in .build/sanity,
# same pip stand-in, same lock on the copy: ansible-test keeps the virtualenvs of `units` in its tests/output,
# see scripts/ansible-test-tree.sh); `make unit` runs the same tests with plain pytest on the venv's Python.
#
# Extra arguments go to every ansible-test run (e.g. tests/unit/plugins/module_utils/test_plan.py).
# The first run on a Python builds ansible-test's virtualenv for it (about a minute), later runs reuse it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
DEST=${SANITY_DIR:-$ROOT/.build/sanity/ansible_collections/hostnet/macvlan}
UNITS_PYTHONS=${UNITS_PYTHONS-3.9 3.10 3.11 3.12 3.13}
ANSIBLE_TEST=$VENV/bin/ansible-test

log() { printf 'units: %s\n' "$*"; }

# shellcheck source=scripts/ansible-test-tree.sh
source "$ROOT/scripts/ansible-test-tree.sh"
enter_ansible_test_tree

ran=() skipped=()
for v in $UNITS_PYTHONS; do
    if ! dir=$(python_dir "$v"); then
        log "Python $v not installed: skipping ansible-test units on $v"
        skipped+=("$v")
        continue
    fi
    log "ansible-test units --venv --python $v ($dir/python$v)"
    PATH=$dir:$PATH "$ANSIBLE_TEST" units --venv --python "$v" "$@"
    ran+=("$v")
done
if [[ ${#ran[@]} -eq 0 ]]; then
    log "no Python of $UNITS_PYTHONS is installed" >&2
    exit 1
fi
log "passed on Python ${ran[*]}${skipped[*]:+ (not installed: ${skipped[*]})}"
