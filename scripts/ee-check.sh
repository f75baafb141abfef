#!/usr/bin/env bash
# Check meta/execution-environment.yml with ansible-builder, offline (make ee-check); no image is built.
#
# ansible-builder reads a collection's requirement files relative to the collection root, and a definition's
# relative to the definition's folder. The check therefore uses the definition the way docs/awx.md does: at
# the root of the collection (the built tarball, unpacked into .build/ee/collection).
#  1. `ansible-builder create` turns it into a build context (.build/ee/context): the Containerfile installs
#     ansible-core and ansible-runner, and the context's requirement files hold pyroute2, the system packages
#     and the collection;
#  2. `ansible-builder introspect` of the collection installed from the tarball finds pyroute2 and the system
#     packages: what any execution environment that installs hostnet.macvlan gets.
# Needs the tarball (make build) and ansible-builder in DOCS_VENV (.build/venv-docs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCS_VENV=${DOCS_VENV:-$ROOT/.build/venv-docs}
OUT=$ROOT/.build/ee
BUILDER=$DOCS_VENV/bin/ansible-builder

log() { printf 'ee-check: %s\n' "$*"; }
die() { printf 'ee-check: ERROR: %s\n' "$*" >&2; exit 1; }
has() {  # has FILE REGEX WHAT
    grep -Eq "$2" "$1" || die "$3 (no /$2/ in ${1#"$ROOT"/})"
}

version=$("$DOCS_VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$ROOT/galaxy.yml")
tarball=$ROOT/.build/hostnet-macvlan-$version.tar.gz
[[ -f $tarball ]] || die "$tarball missing (make build)"

rm -rf "$OUT"
mkdir -p "$OUT/collection"
tar -xzf "$tarball" -C "$OUT/collection"
cp "$OUT/collection/meta/execution-environment.yml" "$OUT/collection/execution-environment.yml"

# 1. the build context
"$BUILDER" create -f "$OUT/collection/execution-environment.yml" -c "$OUT/context" --output-filename Containerfile >/dev/null
ctx=$OUT/context
for file in Containerfile _build/requirements.txt _build/bindep.txt _build/requirements.yml; do
    [[ -s $ctx/$file ]] || die "the build context has no $file"
done
has "$ctx/Containerfile" '^ARG ANSIBLE_INSTALL_REFS=".*ansible-core==[0-9.]+.*ansible-runner==' "ansible-core and ansible-runner are not installed"
has "$ctx/Containerfile" '^ARG PYCMD="/usr/bin/python3\.11"' "the Python interpreter is not the definition's"
has "$ctx/Containerfile" 'COPY _build/requirements.txt requirements.txt' "the Containerfile does not use the Python requirements"
has "$ctx/Containerfile" 'COPY _build/bindep.txt bindep.txt' "the Containerfile does not use the system requirements"
has "$ctx/Containerfile" 'ansible-galaxy collection install .*-r requirements.yml' "the Containerfile does not install the collections"
has "$ctx/_build/requirements.txt" '^pyroute2' "pyroute2 is not a Python requirement"
has "$ctx/_build/bindep.txt" '^openssh-clients ' "no ssh client in the system requirements"
has "$ctx/_build/requirements.yml" 'name: hostnet\.macvlan' "the collection is not installed"
log "ansible-builder create: ${ctx#"$ROOT"/}/Containerfile ($(grep -c '^FROM ' "$ctx/Containerfile") stages) installs" \
    "$(grep -v '^#' "$ctx/_build/requirements.txt" | xargs), $(grep -vc '^#' "$ctx/_build/bindep.txt") system packages, hostnet.macvlan"

# 2. introspection of the installed collection
ANSIBLE_COLLECTIONS_PATH=$OUT/collections ansible-galaxy collection install --offline --force -p "$OUT/collections" "$tarball" >/dev/null
"$BUILDER" introspect --sanitize "$OUT/collections" >"$OUT/introspect.yml"
has "$OUT/introspect.yml" "pyroute2.*# from collection hostnet\.macvlan" "introspection misses pyroute2"
has "$OUT/introspect.yml" "openssh-clients.*# from collection hostnet\.macvlan" "introspection misses the system packages"
log "ansible-builder introspect: the installed collection brings pyroute2 and $(grep -c 'from collection hostnet.macvlan' "$OUT/introspect.yml") requirements in all"
