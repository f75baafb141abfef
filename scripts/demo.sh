#!/usr/bin/env bash
# The hostnet.macvlan demo: build a lab of network namespaces, run the
# collection playbook hostnet.macvlan.demo against it, remove the lab.
#
#   make demo                      (bootstraps .venv first; the usual way)
#   bash scripts/demo.sh [ARGS]    (ARGS go to ansible-playbook, e.g. -v or --diff)
#
# Needs root (network namespaces, veth pairs, macvlan links) and iproute2.
# Everything it creates is named hmvdemo-*: leftovers of an interrupted run are
# removed first, and the lab is removed again when the script exits, whatever
# the outcome.  The lab is a test fixture built with `ip`; the playbook then
# does everything else through the collection (docs/demo.md has the picture):
#
#   hmvdemo-host     "the host": parents eth1, eth2, eth3 (veth ends), eth1
#                    with the host's address 192.0.2.1/24
#   hmvdemo-switch   "the external switch": one bridge per parent, sw1..sw3;
#                    only sw-eth2 (eth2's port) has hairpin (reflective relay)
#                    on; sw1 holds 192.0.2.200/24, a machine on eth1's LAN
#   hmvdemo-<vm>     one empty namespace per "VM"; the playbook moves one
#                    macvlan child into each (link_netns)
#
# Environment:
#   DEMO_PYTHON   interpreter the modules run with on the managed node (needs
#                 pyroute2); default .venv/bin/python.  /usr/bin/python3 with
#                 Debian's python3-pyroute2 works too.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=hmvdemo-
NS_HOST=${PREFIX}host
NS_SWITCH=${PREFIX}switch
# The "VMs": one namespace each (playbooks/demo.yml, demo_links: link_netns).
VMS=(bridge1 bridge2 private1 private2 vepa1 vepa2 private3)
LOCK=/run/${PREFIX}lock

# The fixture's addresses (documentation ranges only; the playbook's defaults
# demo_parent_address and demo_lan_address are the same).
PARENT_ADDRESS=192.0.2.1/24 # eth1: the host's own address on the parent
LAN_ADDRESS=192.0.2.200/24  # sw1: another machine on eth1's LAN

VENV=$ROOT/.venv
PLAYBOOK_BIN=$VENV/bin/ansible-playbook
DEMO_PYTHON=${DEMO_PYTHON:-$VENV/bin/python}

say() { printf '\n=== demo: %s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

# --- preconditions -------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, veth, macvlan links); run it as root or with sudo"
command -v ip >/dev/null || die "needs iproute2 ('ip'); 'make demo' installs it (scripts/bootstrap.sh)"
[[ -x $PLAYBOOK_BIN ]] || die "$PLAYBOOK_BIN is missing; run 'make demo' (or 'make venv') to create .venv"
"$DEMO_PYTHON" -c 'import pyroute2' 2>/dev/null ||
    die "$DEMO_PYTHON cannot import pyroute2; set DEMO_PYTHON to an interpreter that can"

# One demo at a time: the start-up clean-up below would tear down a running one.
exec 9>"$LOCK"
flock -n 9 || die "another demo is running (lock $LOCK held)"

# --- the lab ---------------------------------------------------------------------

demo_namespaces() {
    # `ip netns list` prints "NAME" or "NAME (id: N)".
    ip netns list | awk -v p="$PREFIX" 'index($1, p) == 1 { print $1 }'
}

remove_lab() {
    local ns
    for ns in $(demo_namespaces); do
        # Deleting a namespace deletes every link in it; a veth takes its peer
        # along, and a parent takes its macvlans along (also those moved away).
        ip netns del "$ns" || echo "demo: could not delete netns $ns" >&2
    done
}

on_exit() {
    local rc=$?
    trap - EXIT
    say "removing the lab (${PREFIX}* namespaces)"
    remove_lab
    local left
    left=$(demo_namespaces)
    if [[ -n $left ]]; then
        echo "demo: namespaces left behind: $left" >&2
        [[ $rc -ne 0 ]] || rc=1
    fi
    if [[ $rc -eq 0 ]]; then
        say "passed in $((SECONDS - START))s; no ${PREFIX}* namespaces left"
    else
        say "FAILED (exit $rc) after $((SECONDS - START))s; lab removed"
    fi
    exit "$rc"
}

START=$SECONDS
leftovers=$(demo_namespaces)
if [[ -n $leftovers ]]; then
    say "removing leftovers of an earlier run: $(echo "$leftovers" | tr '\n' ' ')"
    remove_lab
fi
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building the lab"
for ns in "$NS_SWITCH" "$NS_HOST" "${VMS[@]/#/$PREFIX}"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done

# The switch: one bridge per parent (three separate LANs), so eth1's, eth2's
# and eth3's frames never meet.  Only eth2's port reflects frames back where
# they came from (hairpin), which VEPA-mode siblings need to reach each other.
# eth1's port must not: with hairpin there, frames between a child and its
# own parent would come back too, and the known macvlan limit would vanish.
for n in 1 2 3; do
    ip -n "$NS_SWITCH" link add "sw$n" type bridge
    ip -n "$NS_SWITCH" link set "sw$n" up
    # Parent ethN in the host namespace, its peer sw-ethN a port of swN.
    ip -n "$NS_HOST" link add "eth$n" type veth peer name "sw-eth$n" netns "$NS_SWITCH"
    ip -n "$NS_SWITCH" link set "sw-eth$n" master "sw$n"
    ip -n "$NS_SWITCH" link set "sw-eth$n" up
    ip -n "$NS_HOST" link set "eth$n" up
done
ip -n "$NS_SWITCH" link set sw-eth2 type bridge_slave hairpin on
ip -n "$NS_HOST" address add "$PARENT_ADDRESS" dev eth1
ip -n "$NS_SWITCH" address add "$LAN_ADDRESS" dev sw1

echo "namespaces: $(demo_namespaces | sort | tr '\n' ' ')"
echo "parents in $NS_HOST:"
ip -n "$NS_HOST" -br address show type veth
echo "switch ports in $NS_SWITCH (hairpin on/off):"
for n in 1 2 3; do
    printf '  sw-eth%s  %s\n' "$n" \
        "$(ip -n "$NS_SWITCH" -d link show "sw-eth$n" | grep -o 'hairpin [a-z]*' || echo 'hairpin ?')"
done

# --- the playbook ----------------------------------------------------------------

# Ansible finds this repository as the collection hostnet.macvlan here.
COLLECTIONS=$(bash "$ROOT/scripts/collection-path.sh")
export ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS
# Multi-line debug messages (the report) print as text blocks, not JSON strings.
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml
export ANSIBLE_LOCALHOST_WARNING=False
export ANSIBLE_INVENTORY_UNPARSED_WARNING=False
export ANSIBLE_RETRY_FILES_ENABLED=False

say "running ansible-playbook hostnet.macvlan.demo (modules run with $DEMO_PYTHON)"
"$PLAYBOOK_BIN" hostnet.macvlan.demo \
    -i localhost, -c local \
    -e "ansible_python_interpreter=$DEMO_PYTHON" \
    -e "demo_ns_prefix=$PREFIX" \
    -e "demo_parent_address=${PARENT_ADDRESS%/*}" \
    -e "demo_lan_address=${LAN_ADDRESS%/*}" \
    "$@"
