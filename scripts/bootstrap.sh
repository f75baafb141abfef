#!/usr/bin/env bash
# Install everything the project's tests need on this machine; safe to re-run.
#
#  1. Debian packages (only the missing ones): iproute2 (the test oracle and
#     fixtures), iputils-ping, python3-venv, python3-pyroute2, shellcheck (for
#     ansible-test's shellcheck sanity test) and git.  python3-pyroute2 (0.7.x
#     on bookworm) is the second pyroute2 version the integration tests run the
#     modules with, through /usr/bin/python3 as the managed node's interpreter.
#  2. The controller virtualenv .venv (Python >= 3.11, which ansible-core 2.19
#     requires) with requirements/test.txt pinned by requirements/constraints.txt.
#     An existing .venv is reused; pip runs only when the requirements files (or
#     the interpreter) changed since the last install, as recorded in a stamp
#     file holding their hash.
#
# Environment:
#   PYTHON                  interpreter for a new .venv (default: first python3
#                           >= 3.11 found: python3 on PATH, then /usr/bin/python3)
#   VENV                    virtualenv directory (default: <repo>/.venv)
#   BOOTSTRAP_SKIP_APT=1    do not touch Debian packages
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
STAMP=$VENV/.bootstrap.stamp
# ifupdown: ifquery and ifup --no-act read the macvlan_persist module's ifupdown files in the tests (they never
# configure this machine).
APT_PACKAGES=(iproute2 iputils-ping python3-venv python3-pyroute2 shellcheck git util-linux systemd network-manager ifupdown)
REQ_FILES=("$ROOT/requirements/test.txt" "$ROOT/requirements/constraints.txt")

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. Debian packages ------------------------------------------------------
apt_missing() {
    local pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            printf '%s\n' "$pkg"
        fi
    done
}

install_apt_packages() {
    if [[ ${BOOTSTRAP_SKIP_APT:-0} == 1 ]]; then
        log "BOOTSTRAP_SKIP_APT=1: not checking Debian packages"
        return
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        log "no dpkg-query: not a Debian system, skipping system packages (${APT_PACKAGES[*]})"
        return
    fi
    local missing
    mapfile -t missing < <(apt_missing)
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "Debian packages present: ${APT_PACKAGES[*]}"
        return
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "missing Debian packages ${missing[*]} and not root (no sudo)"
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    local apt_install=("${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}")
    log "installing Debian packages: ${missing[*]}"
    if ! "${apt_install[@]}" </dev/null; then
        log "apt-get install failed; running apt-get update and retrying"
        "${sudo[@]}" apt-get update -q </dev/null
        "${apt_install[@]}" </dev/null
    fi
}

# --- 2. virtualenv -----------------------------------------------------------
python_ok() {  # usable interpreter for the controller: Python >= 3.11 with venv
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

pick_python() {
    local candidates=() c
    if [[ -n ${PYTHON:-} ]]; then
        candidates=("$PYTHON")
    else
        candidates=(python3 python3.11 python3.12 python3.13 /usr/bin/python3)
    fi
    for c in "${candidates[@]}"; do
        if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then
            command -v "$c"
            return
        fi
    done
    die "no Python >= 3.11 with the venv module found (tried: ${candidates[*]})"
}

requirements_hash() {
    {
        cat "${REQ_FILES[@]}"
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

setup_venv() {
    if [[ -d $VENV ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "$VENV exists but its interpreter does not run; recreating it"
        rm -rf "$VENV"
    fi
    if [[ ! -d $VENV ]]; then
        local py
        py=$(pick_python)
        log "creating $VENV with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
        "$py" -m venv "$VENV"
    fi
    python_ok "$VENV/bin/python" || die "$VENV/bin/python is older than 3.11; run 'make distclean' and retry"

    local want have=""
    want=$(requirements_hash)
    [[ -f $STAMP ]] && have=$(cat "$STAMP")
    if [[ $want == "$have" ]]; then
        log "$VENV up to date (requirements hash ${want:0:12})"
        touch "$STAMP"  # newer than the requirements files, for make
        return
    fi
    log "installing requirements/test.txt (constraints.txt) into $VENV"
    # (the grep drops pip's notes about configured package locations that do
    # not exist on this machine; every other line, and pip's status, stay)
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$ROOT/requirements/test.txt" -c "$ROOT/requirements/constraints.txt" \
        2> >(grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory.$" >&2)
    printf '%s\n' "$want" >"$STAMP"
    log "installed: $("$VENV/bin/python" - <<'PY'
from importlib.metadata import version
names = ("ansible-core", "pyroute2", "pytest", "ruff", "ansible-lint", "antsibull-changelog")
print(", ".join("%s %s" % (name, version(name)) for name in names))
PY
)"
}

install_apt_packages
setup_venv
