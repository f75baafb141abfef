#!/usr/bin/env bash
# Install what the molecule scenarios need on this machine; safe to re-run (scripts/molecule.sh calls it).
#
#  1. Debian packages (only the missing ones): podman, runc (crun refuses a hybrid cgroup v1 host) and
#     mmdebstrap (scripts/images.sh builds the images with it).
#  2. A podman drop-in, /etc/containers/containers.conf.d/50-hostnet-macvlan.conf: runtime runc, and
#     ulimits a container may have without CAP_SYS_RESOURCE (podman's defaults need it).  Other podman
#     settings of the machine are left alone.
#  3. The virtualenv .venv-molecule with requirements/molecule.txt (molecule, molecule-plugins[podman],
#     pytest-testinfra, ansible-core; every version pinned).  Kept apart from .venv: the lint and test
#     tool chain does not grow.  pip runs only when the requirements (or the interpreter) changed.
#  4. The collection containers.podman (molecule's podman driver and the podman connection plugin) in
#     .build/molecule-collections.  Ansible Galaxy is not reachable: it is taken from the `ansible`
#     package on the Python package index (the wheel is downloaded, only that collection is extracted;
#     the package is not installed).
#
# Environment:
#   MOLECULE_VENV           virtualenv directory (default: <repo>/.venv-molecule)
#   PYTHON                  interpreter for a new virtualenv (default: python3)
#   BOOTSTRAP_SKIP_APT=1    do not touch Debian packages
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MOLECULE_VENV:-$ROOT/.venv-molecule}
REQUIREMENTS=$ROOT/requirements/molecule.txt
STAMP=$VENV/.molecule.stamp
COLLECTIONS=$ROOT/.build/molecule-collections
APT_PACKAGES=(podman runc mmdebstrap)
CONTAINERS_CONF=/etc/containers/containers.conf.d/50-hostnet-macvlan.conf
# The `ansible` release whose wheel carries the containers.podman version below.
ANSIBLE_DIST=ansible==12.3.0
PODMAN_COLLECTION=containers/podman
PODMAN_COLLECTION_VERSION=1.18.0

log() { printf 'molecule-setup: %s\n' "$*"; }
die() { printf 'molecule-setup: ERROR: %s\n' "$*" >&2; exit 1; }
pip_quiet() {  # pip, without its notes about configured package locations that do not exist here
    "$@" 2> >(grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory.$" >&2)
}

# --- 1. Debian packages ------------------------------------------------------
install_apt_packages() {
    if [[ ${BOOTSTRAP_SKIP_APT:-0} == 1 ]]; then
        log "BOOTSTRAP_SKIP_APT=1: not checking Debian packages"
        return
    fi
    command -v dpkg-query >/dev/null 2>&1 || die "not a Debian system: install ${APT_PACKAGES[*]} yourself"
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "Debian packages present: ${APT_PACKAGES[*]}"
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "missing Debian packages ${missing[*]} and not root"
    export DEBIAN_FRONTEND=noninteractive
    log "installing Debian packages: ${missing[*]}"
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q </dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
    fi
}

# --- 2. podman settings -------------------------------------------------------
configure_podman() {
    local want
    want=$(cat <<'EOF'
# Written by hostnet.macvlan scripts/molecule-setup.sh (molecule scenarios in podman).
[containers]
# podman's default ulimits (nproc 32768, nofile 1048576) need CAP_SYS_RESOURCE, which CI machines lack.
default_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]

[engine]
# crun refuses a hybrid cgroup v1 host; runc works.
runtime = "runc"
EOF
)
    if [[ -f $CONTAINERS_CONF && $(cat "$CONTAINERS_CONF") == "$want" ]]; then
        log "$CONTAINERS_CONF up to date"
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "cannot write $CONTAINERS_CONF: not root"
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    printf '%s\n' "$want" >"$CONTAINERS_CONF"
    log "wrote $CONTAINERS_CONF"
}

# --- 3. virtualenv -------------------------------------------------------------
setup_venv() {
    if [[ -d $VENV ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "$VENV exists but its interpreter does not run; recreating it"
        rm -rf "$VENV"
    fi
    if [[ ! -d $VENV ]]; then
        local py=${PYTHON:-python3}
        log "creating $VENV with $(command -v "$py")"
        "$py" -m venv "$VENV"
    fi
    local want have=""
    want=$({ cat "$REQUIREMENTS"; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-64)
    [[ -f $STAMP ]] && have=$(cat "$STAMP")
    if [[ $want == "$have" ]]; then
        log "$VENV up to date (requirements hash ${want:0:12})"
        return
    fi
    log "installing requirements/molecule.txt into $VENV"
    pip_quiet "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS"
    printf '%s\n' "$want" >"$STAMP"
    log "installed: $("$VENV/bin/python" - <<'PY'
from importlib.metadata import version
names = ("molecule", "molecule-plugins", "pytest-testinfra", "ansible-core")
print(", ".join("%s %s" % (name, version(name)) for name in names))
PY
)"
}

# --- 4. containers.podman ------------------------------------------------------
collection_version() {  # the version of an extracted collection, or nothing
    local manifest=$COLLECTIONS/ansible_collections/$PODMAN_COLLECTION/MANIFEST.json
    [[ -f $manifest ]] || return 0
    "$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
        "$manifest"
}

setup_collections() {
    if [[ $(collection_version) == "$PODMAN_COLLECTION_VERSION" ]]; then
        log "containers.podman $PODMAN_COLLECTION_VERSION present in $COLLECTIONS"
        return
    fi
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" RETURN
    log "extracting containers.podman $PODMAN_COLLECTION_VERSION from the $ANSIBLE_DIST wheel"
    pip_quiet "$VENV/bin/python" -m pip download --disable-pip-version-check --no-input -q --no-deps \
        -d "$tmp" "$ANSIBLE_DIST"
    rm -rf "$COLLECTIONS/ansible_collections/$PODMAN_COLLECTION"
    mkdir -p "$COLLECTIONS"
    "$VENV/bin/python" - "$tmp"/ansible-*.whl "$COLLECTIONS" "ansible_collections/$PODMAN_COLLECTION/" <<'PY'
import sys
import zipfile

wheel, dest, prefix = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    members = [name for name in archive.namelist() if name.startswith(prefix)]
    if not members:
        sys.exit("%s has no %s" % (wheel, prefix))
    archive.extractall(dest, members)
PY
    [[ $(collection_version) == "$PODMAN_COLLECTION_VERSION" ]] ||
        die "$ANSIBLE_DIST carries containers.podman $(collection_version), not $PODMAN_COLLECTION_VERSION"
}

install_apt_packages
configure_podman
setup_venv
setup_collections
