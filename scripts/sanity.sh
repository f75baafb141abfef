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
# Before any test runs, ansible-test builds (or finds) the virtualenvs of every
# run above (--prime-venvs) while this script holds the lock on its shared cache
# in ~/.ansible/test (see scripts/ansible-test-tree.sh: two runs building them
# at the same time delete each other's); the tests then only reuse them.  The
# whole output of that step is also in .build/sanity/prime-<python>.log.
#
# Extra arguments go to the first ansible-test run (e.g. --test pep8); the
# extra Pythons are then skipped.  First run about 3-10 minutes (ansible-test
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

# The runs: index 0 is SANITY_PYTHON with the arguments given, then one per extra Python
# (compile and import, with that Python's directory first on PATH).
versions=("$SANITY_PYTHON") dirs=("")
if [[ $# -gt 0 ]]; then
    log "arguments given: not running the extra Pythons ($SANITY_EXTRA_PYTHONS)"
else
    for v in $SANITY_EXTRA_PYTHONS; do
        if dir=$(python_dir "$v"); then
            versions+=("$v") dirs+=("$dir")
        else
            log "Python $v not installed: skipping compile/import on $v"
        fi
    done
fi

# run_ansible_test I [ARGS...]: ansible-test sanity for run I, with ARGS added
run_ansible_test() {
    local i=$1
    shift
    if [[ $i -eq 0 ]]; then
        "$ANSIBLE_TEST" sanity --venv --python "${versions[0]}" "${SANITY_ARGV[@]}" "$@"
    else
        PATH=${dirs[i]}:$PATH "$ANSIBLE_TEST" sanity --venv --python "${versions[i]}" --test compile --test import "$@"
    fi
}
SANITY_ARGV=("$@")

# 1. Build (or find) the virtualenvs of every run while holding the cache lock. What ansible-test prints
# while building them (pip) is shown; its "Running sanity test" lines of this step are only in the log.
PRIME_QUIET='^(Running sanity test |WARNING: Using locale |WARNING: Reviewing previous )'
lock_ansible_test_cache
for i in "${!versions[@]}"; do
    prime_log=$ANSIBLE_TEST_TREE_BASE/prime-${versions[i]}.log
    start=$SECONDS
    log "ansible-test sanity --prime-venvs on Python ${versions[i]}: builds the virtualenvs that do not exist yet" \
        "(minutes on a fresh machine)"
    if ! run_ansible_test "$i" --prime-venvs </dev/null 2>&1 | tee "$prime_log" | { grep -E -v "$PRIME_QUIET" || true; }
    then
        log "ERROR: building ansible-test's virtualenvs for Python ${versions[i]} failed (output in $prime_log)" >&2
        exit 1
    fi
    log "virtualenvs for Python ${versions[i]} ready ($((SECONDS - start)) s)"
done
unlock_ansible_test_cache

# 2. The tests, which only reuse those virtualenvs. Each run goes on after a failed one (the compile and import
# tests of the other Pythons say something of their own); the script fails at the end if any run failed.
failed=()
for i in "${!versions[@]}"; do
    if [[ $i -eq 0 ]]; then
        log "ansible-test sanity --venv --python ${versions[0]} ${SANITY_ARGV[*]}"
    else
        log "ansible-test sanity --venv --python ${versions[i]} --test compile --test import (${dirs[i]}/python${versions[i]})"
    fi
    if run_ansible_test "$i"; then
        log "Python ${versions[i]}: passed"
    else
        log "Python ${versions[i]}: FAILED"
        failed+=("${versions[i]}")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    log "ERROR: failed on Python ${failed[*]}" >&2
    exit 1
fi
