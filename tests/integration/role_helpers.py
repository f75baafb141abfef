"""Helpers for the role and persistence tests: run a role through Ansible, parse systemd ini files, boot
systemd-networkd.

``boot_networkd`` is the reboot oracle for persisted systemd-networkd files: it starts the real
``systemd-networkd`` in a throwaway mount and network namespace (``unshare -m -n``) whose
``/etc/systemd/network`` is the directory under test, with veth parents, and returns what the kernel then has
(``ip -j -d link``, ``ip -j addr``, ``ip -j route``) — never what the role says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

NETWORKD = next(
    (p for p in ("/lib/systemd/systemd-networkd", "/usr/lib/systemd/systemd-networkd") if os.path.exists(p)), None
)


def role_task(role, **variables):
    """A task that applies hostnet.macvlan.<role> with these variables."""
    return {
        "name": "role under test",
        "ansible.builtin.include_role": {"name": "hostnet.macvlan." + role},
        "vars": variables,
        "ignore_errors": False,
    }


class RoleRun:
    """The per-task results of one role run, with the questions the tests ask."""

    def __init__(self, results, output):
        self.results = results
        self.output = output

    @property
    def failed(self):
        return [r for r in self.results if r.get("_status") == "failed"]

    @property
    def changed(self):
        return [r for r in self.results if r.get("changed")]

    def messages(self):
        """The msg of every debug task (what the role reports)."""
        return [r["msg"] for r in self.results if isinstance(r.get("msg"), str) and r.get("_status") == "ok"]

    def warnings(self):
        """Every warning the role's tasks returned."""
        return [w for r in self.results for w in r.get("warnings") or []]

    def persisted(self):
        """The results of the role's hostnet.macvlan.macvlan_persist tasks (those that ran)."""
        return [r for r in self.results if "backend" in r and r.get("_status") != "skipped"]

    def describe_changes(self):
        out = []
        for result in self.changed:
            items = result.get("results")
            if items:
                out += [i.get("dest") or i.get("path") or str(i.get("item")) for i in items if i.get("changed")]
            elif result.get("files"):
                out += [f["path"] for f in result["files"]]
            else:
                out.append(result.get("dest") or result.get("path") or result.get("actions") or sorted(result))
        return out


def run_role(ansible, role, check=False, diff=False, **variables):
    results = ansible.playbook([role_task(role, **variables)], check=check, diff=diff)
    return RoleRun(results, ansible.last_output)


def converge_role(ansible, role, **variables):
    """Apply a role; the run must succeed, the rerun change nothing, and a check-mode rerun too."""
    first = run_role(ansible, role, diff=True, **variables)
    assert not first.failed, "role failed:\n%s" % first.output[-4000:]
    again = run_role(ansible, role, **variables)
    assert not again.failed, "rerun failed:\n%s" % again.output[-4000:]
    assert not again.changed, "rerun changed: %s" % again.describe_changes()
    checked = run_role(ansible, role, check=True, **variables)
    assert not checked.failed, "check-mode rerun failed:\n%s" % checked.output[-4000:]
    assert not checked.changed, "check-mode rerun changed: %s" % checked.describe_changes()
    return first


def parse_ini(text):
    """A systemd / NetworkManager ini file as a list of (section, [(key, value), ...]), in order.

    Strict: every non-comment line is a section header or key=value, keys are not indented, and no
    section is empty, so a template that emits a stray line fails here.
    """
    sections = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
            continue
        assert sections, "line %d: %r before the first section" % (number, line)
        assert "=" in line and not line[0].isspace(), "line %d: not key=value: %r" % (number, line)
        key, value = line.split("=", 1)
        assert key == key.strip() and key, "line %d: bad key %r" % (number, key)
        sections[-1][1].append((key, value))
    return sections


def section(parsed, name):
    """The key/value pairs of the single section `name` (as a list, repeated keys kept)."""
    found = [pairs for title, pairs in parsed if title == name]
    assert len(found) == 1, "expected one [%s] section, found %d" % (name, len(found))
    return found[0]


def sections(parsed, name):
    return [pairs for title, pairs in parsed if title == name]


_BOOT_SCRIPT = r"""
set -eu
conf=$1; out=$2; shift 2
mount --bind "$conf" /etc/systemd/network
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
chown -R systemd-network:systemd-network /run/systemd/netif 2>/dev/null || true
# Read-only sysfs of this namespace: networkd then does not wait for udev to initialise the links.
mount -t sysfs -o ro sysfs /sys
ip link set lo up
for pair in "$@"; do
    ip link add "${pair%%:*}" type veth peer name "${pair##*:}"
    ip link set "${pair##*:}" up
done
"$NETWORKD" >"$out/networkd.log" 2>&1 &
pid=$!
deadline=$((SECONDS + 20))
for name in $WAIT_FOR; do
    until ip link show dev "$name" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || break
        sleep 0.2
    done
done
sleep "${SETTLE:-3}"
ip -j -d link show >"$out/link.json"
ip -j addr show >"$out/addr.json"
ip -j -4 route show >"$out/route4.json"
ip -j -6 route show >"$out/route6.json"
kill "$pid"
wait "$pid" || true
"""


def boot_networkd(conf_dir, out_dir, parents, wait_for, settle=3):
    """Start systemd-networkd on conf_dir in a throwaway namespace with veth parents (name -> peer).

    Returns {'links': {name: link}, 'addresses': {name: [cidr]}, 'routes': [route], 'log': text}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    script = out / "boot.sh"
    script.write_text(_BOOT_SCRIPT)
    env = dict(os.environ, NETWORKD=NETWORKD, WAIT_FOR=" ".join(wait_for), SETTLE=str(settle))
    pairs = ["%s:%s" % (name, peer) for name, peer in parents.items()]
    cmd = ["unshare", "-m", "-n", "--propagation", "private", "bash", str(script), str(conf_dir), str(out), *pairs]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=60)
    log = (out / "networkd.log").read_text() if (out / "networkd.log").exists() else ""
    assert proc.returncode == 0, "networkd boot failed (%ds): %s\n%s\n%s" % (
        time.monotonic() - started,
        proc.stdout,
        proc.stderr,
        log[-3000:],
    )
    links = {link["ifname"]: link for link in json.loads((out / "link.json").read_text())}
    addresses = {}
    for entry in json.loads((out / "addr.json").read_text()):
        addresses[entry["ifname"]] = sorted(
            "%s/%d" % (a["local"], a["prefixlen"]) for a in entry.get("addr_info", []) if a.get("scope") != "link"
        )
    routes = json.loads((out / "route4.json").read_text()) + json.loads((out / "route6.json").read_text())
    return {"links": links, "addresses": addresses, "routes": routes, "log": log}


def have(tool):
    return shutil.which(tool) is not None


_HOST_SCRIPT = r"""
set -u
conf=$1; out=$2; parents=$3; shift 3
mount --bind "$conf" /etc/systemd/network
mount -t tmpfs tmpfs /run/systemd
mkdir -p /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
chown -R systemd-network:systemd-network /run/systemd/netif 2>/dev/null || true
mount -t sysfs -o ro sysfs /sys
ip link set lo up
for pair in $parents; do
    ip link add "${pair%%:*}" type veth peer name "${pair##*:}"
    ip link set "${pair##*:}" up
done
dump() {
    ip -j -d link show >"$out/$1-link.json"
    ip -j addr show >"$out/$1-addr.json"
    ip -j -4 route show >"$out/$1-route4.json"
    ip -j -6 route show >"$out/$1-route6.json"
}
"$NETWORKD" >"$out/networkd-1.log" 2>&1 &
pid=$!
sleep "${SETTLE:-3}"
# The role runs here, in this namespace, while systemd-networkd runs.
"$@"
rc=$?
sleep 1
dump applied
# "Reboot": networkd stops, the links the role created go, the parents' flags are reset, networkd starts again
# with only the files.
kill "$pid"; wait "$pid"
for name in $(ip -o link show type macvlan | cut -d: -f2 | cut -d@ -f1) \
            $(ip -o link show type macvtap | cut -d: -f2 | cut -d@ -f1); do
    ip link del "$name"
done
for pair in $parents; do ip link set "${pair%%:*}" promisc off; done
dump wiped
"$NETWORKD" >"$out/networkd-2.log" 2>&1 &
pid=$!
deadline=$((SECONDS + 20))
for name in $WAIT_FOR; do
    until ip link show dev "$name" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || break
        sleep 0.2
    done
done
sleep "${SETTLE:-3}"
dump booted
kill "$pid"; wait "$pid"
exit $rc
"""


def networkd_host(tmp_path, parents, wait_for, settle=3):
    """A command prefix that runs ansible-playbook as on a host where systemd-networkd runs, then reboots it.

    The prefix starts a throwaway mount and network namespace with veth parents (name -> peer), whose
    /etc/systemd/network is tmp_path/'networkd', starts systemd-networkd, runs the playbook there (the role's
    "host namespace" is this throwaway one), then dumps the kernel state ('applied'), removes every macvlan and
    macvtap link and resets the parents' flags ('wiped'), starts systemd-networkd again with only the files,
    and dumps the state it recreates ('booted'). Read them with ``networkd_state(out, phase)``.
    """
    out = tmp_path / "host"
    out.mkdir(parents=True, exist_ok=True)
    conf = tmp_path / "networkd"
    conf.mkdir(parents=True, exist_ok=True)
    script = out / "host.sh"
    script.write_text(_HOST_SCRIPT)
    pairs = " ".join("%s:%s" % item for item in parents.items())
    prefix = ["env", "NETWORKD=%s" % NETWORKD, "WAIT_FOR=%s" % " ".join(wait_for), "SETTLE=%s" % settle]
    prefix += ["unshare", "-m", "-n", "--propagation", "private", "bash", str(script), str(conf), str(out), pairs]
    return prefix, out


def networkd_state(out, phase):
    """The kernel state dumped at phase: {'links': {name: link}, 'addresses': {name: [cidr]}, 'routes': [...]}."""
    out = Path(out)
    links = {link["ifname"]: link for link in json.loads((out / ("%s-link.json" % phase)).read_text())}
    addresses = {}
    for entry in json.loads((out / ("%s-addr.json" % phase)).read_text()):
        addresses[entry["ifname"]] = sorted(
            "%s/%d" % (a["local"], a["prefixlen"]) for a in entry.get("addr_info", []) if a.get("scope") != "link"
        )
    routes = json.loads((out / ("%s-route4.json" % phase)).read_text())
    routes += json.loads((out / ("%s-route6.json" % phase)).read_text())
    return {"links": links, "addresses": addresses, "routes": routes}
