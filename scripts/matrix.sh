#!/usr/bin/env bash
# The tested support matrix (docs/support.md): controllers ansible-core 2.16 to 2.21, managed-node Pythons 3.6 to
# 3.13, pyroute2 0.5.14 / 0.7.x / 0.8.x / 0.9.x.
#
#   scripts/matrix.sh [full]   the whole matrix (make test-matrix): a long job, see docs/support.md for its time
#   scripts/matrix.sh quick    its smallest useful form (make matrix-quick, one of make test's steps)
#
# Three kinds of runs; each list can be replaced through the environment:
#   MATRIX_SANITY  "CORE:PYTHONS ..."   ansible-test sanity --venv (scripts/sanity.sh) of ansible-core CORE on its
#                  controller Python (below), then compile and import on PYTHONS: comma-separated target Pythons,
#                  "all" (each of MATRIX_PYTHONS this ansible-core supports as a target) or "none"
#   MATRIX_UNITS   "PY@CORE ..."        ansible-test units --venv --python PY of ansible-core CORE
#   MATRIX_SMOKE   "CORE:PY:PYROUTE2 ..." tests/matrix through CORE's ansible-playbook, the modules run by Python PY
#                  (ansible_python_interpreter) with pyroute2 PYROUTE2 installed in a virtualenv of PY; PY "system"
#                  is /usr/bin/python3 with Debian's python3-pyroute2, which must be version PYROUTE2. Needs root.
#
# Everything is installed here, from the Python package index: one virtualenv per controller
# (.build/matrix/core-X.Y, ansible-core pinned below, on the Python given below, found on PATH or under pyenv) and
# one per managed-node Python and pyroute2 release (.build/matrix/target-pyX.Y-pyroute2-V). They are reused while
# their stamp matches. Each ansible-core has its own ansible-test copy of the collection
# (.build/matrix/ansible-test-X.Y, like .build/sanity for make sanity). Every run goes on after a failure; the
# summary (also in .build/matrix/summary-MODE.txt) lists each run with its result and time, and the script fails
# when any run failed. A Python of the matrix that is not installed fails its runs: the matrix tests what it claims.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MATRIX_DIR=${MATRIX_DIR:-$ROOT/.build/matrix}
# The project's tools (pytest, scripts/sync-tree.py's Python): make's bootstrap installs them.
TOOLS_VENV=${TOOLS_VENV:-$ROOT/.venv}
MATRIX_WORKERS=${MATRIX_WORKERS:-2}
# The managed-node Pythons the collection supports (tests/config.yml): "all" above means these.
MATRIX_PYTHONS=${MATRIX_PYTHONS:-3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13}

# The controllers: the latest patch release of each ansible-core line on the package index when the matrix was
# last updated, and the Python its controller runs on (each line's supported controller Pythons are 2.16/2.17:
# 3.10-3.12, 2.18/2.19: 3.11-3.13, 2.20/2.21: 3.12-3.14); spread over the Pythons this machine has.
declare -A CORE_RELEASE=(
    [2.16]=2.16.19 [2.17]=2.17.14 [2.18]=2.18.19 [2.19]=2.19.14 [2.20]=2.20.10 [2.21]=2.21.5
)
declare -A CORE_PYTHON=(
    [2.16]=3.10 [2.17]=3.11 [2.18]=3.12 [2.19]=3.13 [2.20]=3.12 [2.21]=3.13
)

# pip versions that install into a new virtualenv of these Pythons (the bundled pip of 3.6 cannot resolve
# pyroute2 0.7's dependencies; 21.3.1 and 24.0 are the last releases for 3.6 and 3.7).
declare -A TARGET_PIP=([3.6]=21.3.1 [3.7]=24.0)

log() { printf 'matrix: %s\n' "$*"; }
die() {
    printf 'matrix: ERROR: %s\n' "$*" >&2
    exit 1
}

# pip's notes about configured package locations that do not exist on this machine are dropped; the rest stays.
PIP_NOISE="^WARNING: Location '.*' is ignored: it is neither a file nor a directory.$"
pip_install() {
    local python=$1
    shift
    "$python" -m pip install --disable-pip-version-check --no-input -q "$@" 2> >(grep -v "$PIP_NOISE" >&2)
}

# python_dir, pyenv_root and, for the units, enter_ansible_test_tree (sourced again there, once DEST is known).
DEST=${DEST:-}
# shellcheck source=scripts/ansible-test-tree.sh
source "$ROOT/scripts/ansible-test-tree.sh"

# python_bin X.Y: the interpreter of Python X.Y (PATH, else pyenv), or fail.
python_bin() {
    local dir
    dir=$(python_dir "$1") || die "Python $1 is not installed (on PATH or under $(pyenv_root)/versions)"
    echo "$dir/python$1"
}

core_known() {
    [[ -n ${CORE_RELEASE[$1]:-} ]] || die "unknown ansible-core line '$1' (known: ${!CORE_RELEASE[*]})"
}

# make_venv DIR PYTHON STAMP PIP PACKAGES...: (re)create DIR unless its stamp is STAMP, with pip version PIP first
# when it is not empty, then PACKAGES. Under a lock (DIR.lock): two
# matrix runs at the same time must not delete and rebuild a virtualenv the other one is using or building.
make_venv() {
    local dir=$1 python=$2 stamp=$3 pip=$4 fd
    shift 4
    mkdir -p "$(dirname "$dir")"
    exec {fd}>"$dir.lock"
    flock -w "$ANSIBLE_TEST_LOCK_TIMEOUT" "$fd" || die "$dir.lock still locked after ${ANSIBLE_TEST_LOCK_TIMEOUT}s"
    if [[ -f $dir/.matrix.stamp && $(<"$dir/.matrix.stamp") == "$stamp" ]] && "$dir/bin/python" -c '' 2>/dev/null
    then
        exec {fd}>&-
        return
    fi
    log "creating $dir ($stamp)"
    rm -rf "$dir"
    "$python" -m venv "$dir"
    [[ -z $pip ]] || pip_install "$dir/bin/python" "pip==$pip"
    pip_install "$dir/bin/python" "$@"
    printf '%s\n' "$stamp" >"$dir/.matrix.stamp"
    exec {fd}>&-
}

# controller_venv CORE: the virtualenv of ansible-core line CORE (created when needed); prints its path.
controller_venv() {
    local core=$1 py release dir python
    core_known "$core"
    release=${CORE_RELEASE[$core]} py=${CORE_PYTHON[$core]}
    dir=$MATRIX_DIR/core-$core
    python=$(python_bin "$py")
    make_venv "$dir" "$python" "ansible-core==$release python$py" "" "ansible-core==$release" >&2
    echo "$dir"
}

# target_python PY PYROUTE2: an interpreter of Python PY that imports pyroute2 PYROUTE2; prints its path.
target_python() {
    local py=$1 pyroute2=$2 dir have python
    if [[ $py == system ]]; then
        have=$(dpkg-query -W -f='${Version}' python3-pyroute2 2>/dev/null) ||
            die "Debian's python3-pyroute2 is not installed (make bootstrap installs it)"
        have=${have%%-*}
        [[ $have == "$pyroute2" ]] || die "/usr/bin/python3 has Debian's python3-pyroute2 $have, not $pyroute2"
        echo /usr/bin/python3
        return
    fi
    dir=$MATRIX_DIR/target-py$py-pyroute2-$pyroute2
    python=$(python_bin "$py")
    make_venv "$dir" "$python" "pyroute2==$pyroute2 python$py" "${TARGET_PIP[$py]:-}" "pyroute2==$pyroute2" >&2
    echo "$dir/bin/python"
}

# target_pythons VENV: the Pythons of MATRIX_PYTHONS that the ansible-core in controller virtualenv VENV supports as targets.
target_pythons() {
    local venv=$1 supported v out=()
    supported=" $("$venv/bin/python" -c \
        'from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS as s; print(" ".join(s))') "
    for v in $MATRIX_PYTHONS; do
        [[ $supported == *" $v "* ]] && out+=("$v")
    done
    echo "${out[*]}"
}

# --- the three kinds of runs (each in its own process: see run) ------------------------------------------

# enter_copy CORE PY: lock, update and enter ansible-core CORE's ansible-test copy of the collection (VENV and DEST
# set for scripts/ansible-test-tree.sh), ready for a target-side run on Python PY.
#
# Python 3.6 has no "from __future__ import annotations". The unit tests (target-side code for ansible-test: it
# compiles and runs them on every target Python) carry that line but annotate nothing, which makes it a no-op: for
# a run on 3.6 it is removed in this copy only (the next update of the copy puts it back). A file that annotates
# anything keeps it, and the run fails on it (in compile), as it should.
enter_copy() {
    local core=$1 py=$2
    VENV=$(controller_venv "$core")
    DEST=$MATRIX_DIR/ansible-test-$core/ansible_collections/hostnet/macvlan
    # shellcheck source=scripts/ansible-test-tree.sh
    source "$ROOT/scripts/ansible-test-tree.sh"
    enter_ansible_test_tree
    [[ $py == 3.6 ]] || return 0
    "$TOOLS_VENV/bin/python" - tests/unit <<'PY'
import ast
import sys
from pathlib import Path

LINE = "from __future__ import annotations\n"
for path in sorted(Path(sys.argv[1]).rglob("*.py")):
    text = path.read_text()
    if LINE not in text:
        continue
    annotated = [
        node.lineno
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.AnnAssign)
        or (isinstance(node, ast.arg) and node.annotation is not None)
        or (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None)
    ]
    if annotated:
        print("matrix: %s annotates lines %s: it keeps its annotations import" % (path, annotated))
        continue
    path.write_text(text.replace(LINE, "", 1))
    print("matrix: %s: its unused 'from __future__ import annotations' removed for Python 3.6" % path)
PY
}

# step_sanity CORE PYTHONS: scripts/sanity.sh with ansible-core CORE (all tests on its controller Python, compile
# and import on the other Pythons), then compile and import on Python 3.6 when asked (see enter_copy).
step_sanity() {
    local core=$1 pythons=$2 venv extras=() v py list old=() keep=() dir status=0
    venv=$(controller_venv "$core")
    py=${CORE_PYTHON[$core]}
    case $pythons in
        all)
            list=$(target_pythons "$venv")
            read -r -a extras <<<"$list"
            ;;
        none) ;;
        *) IFS=, read -r -a extras <<<"$pythons" ;;
    esac
    for v in "${extras[@]}"; do
        [[ $v == "$py" ]] && continue
        python_bin "$v" >/dev/null  # every Python asked for must be there (sanity.sh would skip it)
        if [[ $v == 3.6 ]]; then old+=("$v"); else keep+=("$v"); fi
    done
    log "ansible-core ${CORE_RELEASE[$core]}: sanity on Python $py, compile and import on" \
        "${keep[*]:-no other Python}${old[*]:+ and ${old[*]}}"
    # A failure there does not stop the compile and import tests on Python 3.6 below; the run fails at the end.
    VENV=$venv SANITY_DIR=$MATRIX_DIR/ansible-test-$core/ansible_collections/hostnet/macvlan \
        SANITY_PYTHON=$py SANITY_EXTRA_PYTHONS="${keep[*]}" bash "$ROOT/scripts/sanity.sh" || status=1
    for v in "${old[@]}"; do
        enter_copy "$core" "$v"
        dir=$(python_bin "$v")
        dir=$(dirname "$dir")
        log "ansible-test sanity --venv --python $v --test compile --test import ($dir/python$v)"
        # Its virtualenvs are built under the cache lock, as scripts/sanity.sh does.
        lock_ansible_test_cache
        PATH=$dir:$PATH "$VENV/bin/ansible-test" sanity --venv --python "$v" --test compile --test import \
            --prime-venvs </dev/null >"$ANSIBLE_TEST_TREE_BASE/prime-$v.log" 2>&1 ||
            die "building ansible-test's virtualenvs for Python $v failed (output in $ANSIBLE_TEST_TREE_BASE/prime-$v.log)"
        unlock_ansible_test_cache
        PATH=$dir:$PATH "$VENV/bin/ansible-test" sanity --venv --python "$v" --test compile --test import || status=1
    done
    return "$status"
}

# step_units PY CORE: ansible-test units of the collection's unit tests on Python PY with ansible-core CORE.
step_units() {
    local py=$1 core=$2 dir
    dir=$(python_bin "$py")
    dir=$(dirname "$dir")
    enter_copy "$core" "$py"
    log "ansible-core ${CORE_RELEASE[$core]}: ansible-test units --venv --python $py ($dir/python$py)"
    PATH=$dir:$PATH "$VENV/bin/ansible-test" units --venv --python "$py"
}

# step_smoke CORE PY PYROUTE2: tests/matrix with this controller and managed-node Python.
step_smoke() {
    local core=$1 py=$2 pyroute2=$3 venv python
    [[ $(id -u) -eq 0 ]] || die "the smoke tests need root (network namespaces, veth, macvlan)"
    venv=$(controller_venv "$core")
    python=$(target_python "$py" "$pyroute2")
    log "ansible-core ${CORE_RELEASE[$core]} (Python ${CORE_PYTHON[$core]}) -> $python (pyroute2 $pyroute2)"
    cd "$ROOT"
    HOSTNET_ANSIBLE_BIN=$venv/bin HOSTNET_ANSIBLE_CORE=${CORE_RELEASE[$core]} HOSTNET_MANAGED_PYTHONS=$python \
        HOSTNET_FAIL_ON_SKIP=1 "$TOOLS_VENV/bin/python" -m pytest tests/matrix -n "$MATRIX_WORKERS" -q
}

# --- orchestration ---------------------------------------------------------------------------------------

RESULTS=()
FAILED=0

# run NAME STEP ARGS...: one run in its own bash process (so that set -e holds inside it), timed and recorded.
run() {
    local name=$1 start=$SECONDS status=passed
    shift
    log "=== $name"
    if ! bash "${BASH_SOURCE[0]}" "$@" </dev/null; then
        status=FAILED
        FAILED=$((FAILED + 1))
    fi
    RESULTS+=("$(printf '%-58s %-6s %5d s' "$name" "$status" $((SECONDS - start)))")
    log "=== $name: $status in $((SECONDS - start)) s"
}

main() {
    local mode=${1:-full} spec core pythons py pyroute2
    case $mode in
        full)
            : "${MATRIX_SANITY=2.16:all 2.17:all 2.18:all 2.19:all 2.20:all 2.21:all}"
            : "${MATRIX_UNITS=3.6@2.16 3.7@2.17 3.8@2.19 3.9@2.21 3.10@2.21 3.11@2.21 3.12@2.21 3.13@2.21}"
            : "${MATRIX_SMOKE=2.16:3.6:0.5.14 2.16:3.6:0.7.2 2.16:3.7:0.7.12 2.16:3.12:0.9.7 2.17:3.7:0.7.12 \
2.18:3.11:0.8.1 2.19:3.8:0.8.1 2.20:3.12:0.9.7 2.21:3.9:0.5.14 2.21:3.10:0.7.12 2.21:system:0.7.2 2.21:3.13:0.8.1 \
2.21:3.13:0.9.7}"
            ;;
        quick)
            # The corner make test does not reach otherwise (its other steps use .venv's ansible-core on Python
            # 3.11 and pyroute2 0.9.x / Debian's 0.7.x): the oldest controller, managed-node Python and pyroute2.
            : "${MATRIX_SANITY=}"
            : "${MATRIX_UNITS=3.6@2.16}"
            : "${MATRIX_SMOKE=2.16:3.6:0.5.14}"
            ;;
        *) die "usage: $0 [full|quick]" ;;
    esac
    mkdir -p "$MATRIX_DIR"
    local begin=$SECONDS load_start
    load_start=$(uptime)
    log "$mode matrix; machine: $(nproc) cores, $load_start"
    for spec in $MATRIX_SANITY; do
        core=${spec%%:*} pythons=${spec#*:}
        [[ $spec == *:* ]] || pythons=all
        run "sanity ansible-core $core (+ compile/import: $pythons)" _sanity "$core" "$pythons"
    done
    for spec in $MATRIX_UNITS; do
        py=${spec%@*} core=${spec#*@}
        run "units Python $py (ansible-core $core)" _units "$py" "$core"
    done
    for spec in $MATRIX_SMOKE; do
        IFS=: read -r core py pyroute2 <<<"$spec"
        run "smoke ansible-core $core -> Python $py, pyroute2 $pyroute2" _smoke "$core" "$py" "$pyroute2"
    done
    {
        echo "$mode matrix: $((SECONDS - begin)) s in all; $(nproc) cores"
        echo "load at start: $load_start"
        echo "load at end:   $(uptime)"
        printf '%s\n' "${RESULTS[@]}"
    } | tee "$MATRIX_DIR/summary-$mode.txt"
    if [[ $FAILED -gt 0 ]]; then
        log "$FAILED run(s) failed" >&2
        exit 1
    fi
    log "every run passed"
}

case ${1:-} in
    _sanity) step_sanity "$2" "$3" ;;
    _units) step_units "$2" "$3" ;;
    _smoke) step_smoke "$2" "$3" "$4" ;;
    *) main "$@" ;;
esac
