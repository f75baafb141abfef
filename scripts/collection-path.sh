#!/usr/bin/env bash
# Make this repository reachable as the collection hostnet.macvlan.
#
# Ansible finds a collection at <path>/ansible_collections/<namespace>/<name>;
# the repository root is the collection root, so a symlink does it:
#   .build/collections/ansible_collections/hostnet/macvlan -> <repo>
# Prints the directory to use as ANSIBLE_COLLECTIONS_PATH.  Idempotent.
#
# In a shell:  export ANSIBLE_COLLECTIONS_PATH=$(scripts/collection-path.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COLLECTIONS=$ROOT/.build/collections
LINK=$COLLECTIONS/ansible_collections/hostnet/macvlan

if [[ ! -L $LINK || $(readlink "$LINK") != "$ROOT" ]]; then
    mkdir -p "$(dirname "$LINK")"
    rm -rf "$LINK"
    ln -s "$ROOT" "$LINK"
    echo "collection-path: linked $LINK -> $ROOT" >&2
fi
echo "$COLLECTIONS"
