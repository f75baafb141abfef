#!/usr/bin/env bash
# Documentation gates and the docs site (make docs), offline.
#
#  1. ansible-doc renders every module, every filter and every role entry point; every collection playbook passes
#     ansible-playbook --syntax-check and starts with its documentation comment.
#  2. antsibull-docs lint-collection-docs: the modules' and roles' documentation markup, the extra docs
#     (docs/docsite/extra-docs.yml, docs/docsite/rst/*.rst) and docs/docsite/links.yml.
#  3. The docs site: antsibull-docs sphinx-init + antsibull-docs collection + sphinx-build -W into
#     .build/docs/build/html, with module, role and guide pages (scenario guide, rollout, AWX). Offline: the
#     intersphinx inventories of docs.ansible.com and docs.python.org are not reachable, so the mapping is
#     emptied and the three labels the generated pages take from the Ansible docs get local stand-ins.
#
# Tools: ansible-doc/ansible-playbook from .venv (PATH), antsibull-docs and sphinx from DOCS_VENV
# (.build/venv-docs, requirements/docs.txt). ANSIBLE_COLLECTIONS_PATH must find hostnet.macvlan (make sets it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCS_VENV=${DOCS_VENV:-$ROOT/.build/venv-docs}
DEST=${DOCS_DEST:-$ROOT/.build/docs}
COLLECTION=hostnet.macvlan
export ANSIBLE_NOCOLOR=1 PAGER=cat

log() { printf 'docs: %s\n' "$*"; }
die() { printf 'docs: ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. ansible-doc and the playbooks ----------------------------------------------------------------
modules=()
for file in "$ROOT"/plugins/modules/*.py; do
    name=$(basename "$file" .py)
    [[ $name == __init__ ]] || modules+=("$name")
done
roles=()
for dir in "$ROOT"/roles/*/; do
    roles+=("$(basename "$dir")")
done
# ansible-doc must render the plugin's page (its header matches $3) without a warning or an error.
check_page() {
    local type=$1 name=$2 header=$3 out
    out=$(ansible-doc -t "$type" "$COLLECTION.$name" 2>&1) || die "ansible-doc -t $type $COLLECTION.$name failed: $out"
    grep -Eq "$header" <<<"$out" || die "ansible-doc -t $type $COLLECTION.$name: no page"
    ! grep -Eq '^\[?(WARNING|ERROR)' <<<"$out" || die "ansible-doc -t $type $COLLECTION.$name warns: $out"
}
for module in "${modules[@]}"; do
    check_page module "$module" "^> MODULE \*?$COLLECTION.$module\*? "
done
for role in "${roles[@]}"; do
    check_page role "$role" "^ENTRY POINT: \*?main\*? - "
done
filters=()
for file in "$ROOT"/plugins/filter/*.py; do
    [[ -e $file ]] || continue
    filters+=("$(basename "$file" .py)")
done
for filter in "${filters[@]}"; do
    check_page filter "$filter" "^> FILTER \*?$COLLECTION.$filter\*? "
done
listed=$(ansible-doc -t module -l "$COLLECTION" 2>/dev/null | wc -l)
[[ $listed -eq ${#modules[@]} ]] || die "ansible-doc -l lists $listed modules, plugins/modules has ${#modules[@]}"
playbooks=()
for file in "$ROOT"/playbooks/*.yml; do
    name=$(basename "$file" .yml)
    playbooks+=("$name")
    sed -n 2p "$file" | grep -q "^# $COLLECTION.$name: " || die "playbooks/$name.yml: line 2 must be '# $COLLECTION.$name: <what it does>'"
    ansible-playbook --syntax-check -i localhost, "$COLLECTION.$name" >/dev/null \
        || die "ansible-playbook --syntax-check $COLLECTION.$name failed"
done
log "ansible-doc renders ${#modules[@]} modules (${modules[*]}), ${#filters[@]} filters (${filters[*]}) and" \
    "${#roles[@]} roles (${roles[*]});" \
    "${#playbooks[@]} playbooks pass --syntax-check (${playbooks[*]})"

# --- 2. antsibull-docs lint ----------------------------------------------------------------------------
cd "$ROOT"
"$DOCS_VENV/bin/antsibull-docs" lint-collection-docs --plugin-docs .
log "antsibull-docs lint-collection-docs: clean"

# --- 3. the site ---------------------------------------------------------------------------------------
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mkdir -m 0755 "$DEST"
"$DOCS_VENV/bin/antsibull-docs" sphinx-init --use-current --dest-dir "$DEST" "$COLLECTION" >/dev/null
# Offline: no intersphinx inventories to fetch.
"$DOCS_VENV/bin/python" - "$DEST/conf.py" <<'PY'
import re
import sys

path = sys.argv[1]
text = open(path).read()
text, count = re.subn(r"intersphinx_mapping = \{.*?\n\}\n", "intersphinx_mapping = {}\n", text, flags=re.S)
if count != 1:
    sys.exit("conf.py: intersphinx_mapping not found")
open(path, "w").write(text)
PY
chmod og-w "$DEST/rst"  # antsibull-docs wants it writable by its owner only
"$DOCS_VENV/bin/antsibull-docs" --config-file "$DEST/antsibull-docs.cfg" collection --cleanup everything \
    --use-current --dest-dir "$DEST/rst" "$COLLECTION"
cat >"$DEST/rst/offline-intersphinx.rst" <<'EOF'
:orphan:

Ansible documentation (offline stand-ins)
=========================================

The generated pages link to these sections of the Ansible documentation on docs.ansible.com.

.. _common_return_values:

Return values common to all modules
-----------------------------------

See "Return Values" in the Ansible documentation.

.. _ansible_configuration_settings:

Ansible configuration settings
------------------------------

See "Ansible Configuration Settings" in the Ansible documentation.

.. _action_plugins:

Action plugins
--------------

See "Action plugins" in the Ansible documentation. Each module of this collection has one: Ansible's own
(ansible.builtin.normal), with the module's payload built over a frozen heap (plugins/plugin_utils/_action.py).
EOF
"$DOCS_VENV/bin/sphinx-build" -M html "$DEST/rst" "$DEST/build" -c "$DEST" -W --keep-going -q

html=$DEST/build/html/collections/hostnet/macvlan
for page in "${modules[@]/%/_module}" "${roles[@]/%/_role}" index docsite/scenario_guide docsite/rollout docsite/awx; do
    [[ -s $html/$page.html ]] || die "the site has no $page.html"
done
grep -q "host-side" "$html/docsite/scenario_guide.html" || die "scenario guide without the host-access workaround"
log "site: $DEST/build/html/index.html (${#modules[@]} module, ${#roles[@]} role and 3 guide pages)"
