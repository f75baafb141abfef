# shellcheck shell=bash
# Shared by scripts/sanity.sh and scripts/units.sh (sourced, not run): ansible-test needs the collection under
# a path ending in ansible_collections/hostnet/macvlan, with a git directory of its own, and offline pip.
# Expects ROOT, VENV and DEST to be set.

# Directory holding a working pythonX.Y, preferring PATH, else pyenv's install.
python_dir() {
    local v=$1 p d
    if p=$(command -v "python$v") && "$p" -c 'import sys' >/dev/null 2>&1; then
        dirname "$p"
        return
    fi
    for d in $(compgen -G "${PYENV_ROOT:-$HOME/.pyenv}/versions/$v.*/bin" | sort -V -r); do
        if [[ -x $d/python$v ]] && "$d/python$v" -c 'import sys' >/dev/null 2>&1; then
            echo "$d"
            return
        fi
    done
    return 1
}

# Copy the files git sees into DEST and enter it, ready for ansible-test.
enter_ansible_test_tree() {
    "$VENV/bin/python" "$ROOT/scripts/sync-tree.py" "$DEST"
    # DEST sits inside this repository's ignored .build/: give it a git directory
    # of its own, or ansible-test would use this repository's and see no files.
    [[ -e $DEST/.git ]] || git init -q "$DEST"
    "$VENV/bin/python" "$ROOT/scripts/install-getpip-cache.py"
    cd "$DEST" || return 1
    # ansible-test sets the collection path itself.
    unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
}
