#!/usr/bin/env bash
# Run the molecule scenarios (extensions/molecule) in podman containers: `make molecule` calls it.
#
#   scripts/molecule.sh                 every scenario (extensions/molecule/*), MOLECULE_JOBS at a time, each logged to
#                                       .build/molecule/<scenario>.log; fails if any scenario fails
#   scripts/molecule.sh modes default   only these scenarios (one scenario: its output goes to the terminal)
#   MOLECULE_COMMAND=converge scripts/molecule.sh modes
#                                       another molecule command than `test` (converge, verify, login,
#                                       destroy, ...), for development
#
# First it installs what is missing (scripts/molecule-setup.sh: podman, runc, mmdebstrap, containers.conf
# drop-in, .venv-molecule, containers.podman) and builds or reuses the images (scripts/images.sh).
# Needs root: the containers are privileged (they create links, namespaces and bridges).
#
# Environment:
#   MOLECULE_JOBS      scenarios run at the same time (default 2: this machine's cores)
#   MOLECULE_COMMAND   molecule command (default test)
#   MOLECULE_ARGS      extra arguments for molecule's command (e.g. --destroy=never)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${MOLECULE_VENV:-$ROOT/.venv-molecule}
LOGS=$ROOT/.build/molecule
JOBS=${MOLECULE_JOBS:-2}
COMMAND=${MOLECULE_COMMAND:-test}
# Every scenario (extensions/molecule/*/molecule.yml); the longest first, so that the parallel runs end
# close together, then any others in name order.
PREFERRED=(confirm persistence persistence_ifupdown default multihost purge_rollback modes)
ALL_SCENARIOS=()
mapfile -t FOUND < <(for file in "$ROOT"/extensions/molecule/*/molecule.yml; do basename "$(dirname "$file")"; done)
for scenario in "${PREFERRED[@]}"; do
    [[ " ${FOUND[*]} " == *" $scenario "* ]] && ALL_SCENARIOS+=("$scenario")
done
for scenario in "${FOUND[@]}"; do
    [[ " ${PREFERRED[*]} " == *" $scenario "* ]] || ALL_SCENARIOS+=("$scenario")
done

log() { printf 'molecule: %s\n' "$*"; }
die() { printf 'molecule: ERROR: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (privileged podman containers)"

scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=("${ALL_SCENARIOS[@]}")
for scenario in "${scenarios[@]}"; do
    [[ -f $ROOT/extensions/molecule/$scenario/molecule.yml ]] ||
        die "no scenario '$scenario' (extensions/molecule/*/molecule.yml: ${ALL_SCENARIOS[*]})"
done

bash "$ROOT/scripts/molecule-setup.sh"
bash "$ROOT/scripts/images.sh"

# Ansible finds hostnet.macvlan (this repository) and containers.podman; molecule runs from .venv-molecule.
COLLECTIONS=$(bash "$ROOT/scripts/collection-path.sh")
export ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS:$ROOT/.build/molecule-collections
export PATH=$VENV/bin:$PATH
export PY_COLORS=${PY_COLORS:-0} ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
export ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-1} NO_COLOR=${NO_COLOR:-1}
cd "$ROOT"

run_one() {  # SCENARIO: molecule COMMAND -s SCENARIO
    # shellcheck disable=SC2086  # MOLECULE_ARGS is a list of words
    molecule "$COMMAND" -s "$1" ${MOLECULE_ARGS:-}
}

if [[ ${#scenarios[@]} -eq 1 ]]; then
    start=$(date +%s)
    if run_one "${scenarios[0]}"; then
        log "${scenarios[0]} passed in $(( $(date +%s) - start ))s"
        exit 0
    fi
    log "${scenarios[0]} FAILED after $(( $(date +%s) - start ))s" >&2
    exit 1
fi

mkdir -p "$LOGS"
declare -A pid_of=() started=()
passed=() failed=()
overall=$(date +%s)

finish() {  # SCENARIO PID: wait for it and record the outcome
    local scenario=$1 rc=0
    wait "$2" || rc=$?
    local took=$(( $(date +%s) - started[$scenario] ))
    if [[ $rc == 0 ]]; then
        passed+=("$scenario")
        log "$scenario passed in ${took}s"
    else
        failed+=("$scenario")
        log "$scenario FAILED (rc $rc) after ${took}s; the end of $LOGS/$scenario.log:" >&2
        tail -n 150 "$LOGS/$scenario.log" | sed "s/^/  $scenario| /" >&2
    fi
}

wait_any() {  # wait until one running scenario has ended, and record it
    local scenario
    while true; do
        for scenario in "${!pid_of[@]}"; do
            if ! kill -0 "${pid_of[$scenario]}" 2>/dev/null; then
                finish "$scenario" "${pid_of[$scenario]}"
                unset "pid_of[$scenario]"
                return
            fi
        done
        sleep 2
    done
}

for scenario in "${scenarios[@]}"; do
    while [[ ${#pid_of[@]} -ge $JOBS ]]; do
        wait_any
    done
    log "$scenario: started (log: $LOGS/$scenario.log)"
    started[$scenario]=$(date +%s)
    run_one "$scenario" >"$LOGS/$scenario.log" 2>&1 &
    pid_of[$scenario]=$!
done
while [[ ${#pid_of[@]} -gt 0 ]]; do
    wait_any
done

log "${#scenarios[@]} scenarios in $(( $(date +%s) - overall ))s (MOLECULE_JOBS=$JOBS)"
[[ ${#failed[@]} -eq 0 ]] || log "failed: ${failed[*]}" >&2
echo "molecule: ${#passed[@]} passed, ${#failed[@]} failed"
[[ ${#failed[@]} -eq 0 ]]
