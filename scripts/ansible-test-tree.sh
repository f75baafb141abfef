# shellcheck shell=bash
# Shared by scripts/sanity.sh and scripts/units.sh (sourced, not run): ansible-test needs the collection under
# a path ending in ansible_collections/hostnet/macvlan, with a git directory of its own, and offline pip.
# Expects ROOT, VENV and DEST to be set, and a log function.
#
# Runs at the same time (several sessions or checkouts on one machine) must not build ansible-test's
# virtualenvs at the same time. ansible-test keeps them in two places and treats any virtualenv without its
# marker.txt as left over from an interrupted run: it deletes it and builds it again. A second run that starts
# while the first is still building one therefore deletes it under the first (which then fails with "does not
# have pip available", or with pip tracebacks), and the two keep replacing each other's files. This only happens
# while the virtualenvs do not exist yet, i.e. on a fresh machine (empty ~/.ansible/test), which is why a second
# run always passed. Two locks (flock, util-linux) prevent it:
#   - the tree lock, on the copy in DEST: its tests/output holds ansible-test's per-Python controller
#     virtualenvs (tests/output/.tmp/delegation) and results. Held for the whole run of sanity.sh or units.sh;
#   - the cache lock, ~/.ansible/test/venv.lock: ~/.ansible/test/venv holds the sanity tests' virtualenvs,
#     shared by every checkout run with this HOME. Held while writing the pip stand-in and while
#     scripts/sanity.sh has ansible-test build them (--prime-venvs); the tests then only reuse them.
# The tree lock is always taken first. ANSIBLE_TEST_LOCK_TIMEOUT (seconds, default 3600) bounds each wait.

ANSIBLE_TEST_LOCK_TIMEOUT=${ANSIBLE_TEST_LOCK_TIMEOUT:-3600}
ANSIBLE_TEST_CACHE_LOCK=$HOME/.ansible/test/venv.lock
# The directory holding DEST's ansible_collections (default .build/sanity): the tree lock and logs go there.
ANSIBLE_TEST_TREE_BASE=${DEST%/ansible_collections/*}
[[ $ANSIBLE_TEST_TREE_BASE != "$DEST" ]] || ANSIBLE_TEST_TREE_BASE=$(dirname "$DEST")
# Open lock descriptors (set by take_lock). The tree lock's is only kept open, until the script exits.
# shellcheck disable=SC2034
TREE_LOCK_FD=
CACHE_LOCK_FD=

tree_die() {
    log "ERROR: $*" >&2
    exit 1
}

# take_lock VAR FILE WHAT: wait for an exclusive lock on FILE; VAR gets the open descriptor. FILE then says
# who holds it (printed to a run that has to wait).
take_lock() {
    local var=$1 file=$2 what=$3 fd holder
    [[ $ANSIBLE_TEST_LOCK_TIMEOUT =~ ^[0-9]+$ ]] ||
        tree_die "ANSIBLE_TEST_LOCK_TIMEOUT must be a number of seconds, not '$ANSIBLE_TEST_LOCK_TIMEOUT'"
    command -v flock >/dev/null 2>&1 || tree_die "flock (util-linux) is needed; run 'make bootstrap'"
    mkdir -p "$(dirname "$file")"
    exec {fd}<>"$file"
    if ! flock -n "$fd"; then
        holder=$(tr '\n' ' ' <"$file")
        log "waiting (up to ${ANSIBLE_TEST_LOCK_TIMEOUT}s) for $what, locked by another run: ${holder:-$file}"
        flock -w "$ANSIBLE_TEST_LOCK_TIMEOUT" "$fd" ||
            tree_die "$what still locked after ${ANSIBLE_TEST_LOCK_TIMEOUT}s (${holder:-$file}); lock file $file"
    fi
    printf 'pid %s (%s in %s) since %s\n' "$$" "${0##*/}" "$ROOT" "$(date '+%F %T')" >"$file"
    printf -v "$var" '%s' "$fd"
}

# release_lock FD
release_lock() {
    local fd=$1
    [[ -n $fd ]] || return 0
    flock -u "$fd"
    exec {fd}>&-
}

lock_ansible_test_cache() {
    take_lock CACHE_LOCK_FD "$ANSIBLE_TEST_CACHE_LOCK" "ansible-test's virtualenv cache ($HOME/.ansible/test)"
}

unlock_ansible_test_cache() {
    release_lock "$CACHE_LOCK_FD"
    CACHE_LOCK_FD=
}

# The pyenv installation, when there is one: PYENV_ROOT, else where the pyenv on PATH lives (its shims and
# its bin/pyenv do not depend on HOME), else ~/.pyenv.
pyenv_root() {
    local p
    if [[ -n ${PYENV_ROOT:-} ]]; then
        echo "$PYENV_ROOT"
    elif p=$(command -v pyenv) && p=$(readlink -f "$p") && [[ $p == */libexec/pyenv ]]; then
        echo "${p%/libexec/pyenv}"
    else
        echo "$HOME/.pyenv"
    fi
}

# Directory holding a working pythonX.Y, preferring PATH, else pyenv's install.
python_dir() {
    local v=$1 p d
    if p=$(command -v "python$v") && "$p" -c 'import sys' >/dev/null 2>&1; then
        dirname "$p"
        return
    fi
    for d in $(compgen -G "$(pyenv_root)/versions/$v.*/bin" | sort -V -r); do
        if [[ -x $d/python$v ]] && "$d/python$v" -c 'import sys' >/dev/null 2>&1; then
            echo "$d"
            return
        fi
    done
    return 1
}

# Lock the copy, bring it up to date with the files git sees and enter it, ready for ansible-test. The tree
# lock stays held until the calling script exits.
enter_ansible_test_tree() {
    take_lock TREE_LOCK_FD "$ANSIBLE_TEST_TREE_BASE/ansible-test.lock" "the ansible-test copy $DEST"
    "$VENV/bin/python" "$ROOT/scripts/sync-tree.py" "$DEST"
    # DEST sits inside this repository's ignored .build/: give it a git directory
    # of its own, or ansible-test would use this repository's and see no files.
    [[ -e $DEST/.git ]] || git init -q "$DEST"
    lock_ansible_test_cache
    "$VENV/bin/python" "$ROOT/scripts/install-getpip-cache.py"
    unlock_ansible_test_cache
    cd "$DEST" || return 1
    # ansible-test sets the collection path itself.
    unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
}
