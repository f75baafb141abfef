#!/usr/bin/env bash
# Run galaxy-importer (what Ansible Galaxy and Automation Hub run on an upload) on the built tarball, offline,
# and fail on any warning or error it reports (make galaxy-import). Settings: scripts/galaxy-importer.cfg.
# Needs the tarball (make build) and galaxy-importer in DOCS_VENV (.build/venv-docs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCS_VENV=${DOCS_VENV:-$ROOT/.build/venv-docs}
OUT=$ROOT/.build/galaxy-importer

log() { printf 'galaxy-import: %s\n' "$*"; }
die() { printf 'galaxy-import: ERROR: %s\n' "$*" >&2; exit 1; }

version=$("$DOCS_VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$ROOT/galaxy.yml")
tarball=$ROOT/.build/hostnet-macvlan-$version.tar.gz
[[ -f $tarball ]] || die "$tarball missing (make build)"

rm -rf "$OUT"
mkdir -p "$OUT/tmp"
cd "$OUT"
# The importer runs ansible-doc and ansible-lint from PATH: the ones next to it.
status=0
PATH=$DOCS_VENV/bin:$PATH GALAXY_IMPORTER_CONFIG=$ROOT/scripts/galaxy-importer.cfg TMPDIR=$OUT/tmp \
    "$DOCS_VENV/bin/python" -m galaxy_importer.main "$tarball" >"$OUT/import.log" 2>&1 || status=$?
problems=$(grep -E '^(WARNING|ERROR)' "$OUT/import.log" || true)
if [[ $status -ne 0 || -n $problems || $(tail -n 1 "$OUT/import.log") != "Importer processing completed successfully" ]]; then
    printf '%s\n' "$problems" >&2
    die "galaxy-importer did not accept ${tarball#"$ROOT"/} cleanly (exit $status; log: ${OUT#"$ROOT"/}/import.log)"
fi
log "accepted ${tarball#"$ROOT"/} with no warnings ($(grep -c '^Loading ' "$OUT/import.log") contents loaded, ansible-doc and ansible-lint run)"
