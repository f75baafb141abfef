"""hostnet.macvlan.rollout on a fleet of network namespaces: batches, verification, rollback, stop.

Every fleet host is an inventory host with ``ansible_connection=local`` working in its own namespace
(``macvlan_topology_netns``, persistence ``none``): nothing touches this machine's own links. The oracle is
iproute2 (``ip -j -d link``, ``ip -j addr``) and, for persisted files, the files themselves. The default
batches ``[1, "10%", "50%"]`` of four hosts are [h1], [h2], [h3, h4].
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, ip_json
from oracle import describe_difference, full_dump
from rollout_helpers import Fleet, add_host, failing_probe, kernel_state, recap, seed, topology

HOSTS = (1, 2, 3, 4)


def make_fleet(lab, tmp_path, failing=(), **extra):
    """Four seeded fleet hosts; the ones in ``failing`` get a probe that must fail. Returns (fleet, namespaces)."""
    fleet = Fleet(tmp_path)
    namespaces = {}
    for index in HOSTS:
        ns = add_host(lab, index)
        seed(lab, ns)
        namespaces[index] = ns
        variables = topology(ns, index)
        if index in failing:
            variables["rollout_probes"] = variables["rollout_probes"] + [failing_probe(ns)]
            variables["rollout_probe_retries"] = 0
        variables.update(extra)
        fleet.add("h%d" % index, variables)
    return fleet, namespaces


def assert_converged(ns, index):
    state = {link["name"]: link for link in kernel_state(ns)}
    assert "mv-gone" not in state, "purge left mv-gone"
    mv0 = state["mv0"]
    assert (mv0["kind"], mv0["mode"], mv0["parent"], mv0["mtu"]) == ("macvlan", "bridge", "p0", 1400)
    assert mv0["mac"] == "02:00:00:00:0%d:10" % index
    assert mv0["addresses"] == ["192.0.2.%d/24" % (100 + index)]
    assert mv0["up"]
    old = state["mv-old"]
    assert (old["mode"], old["mac"], old["addresses"]) == (
        "bridge",
        "02:00:00:00:aa:01",
        ["192.0.2.%d/24" % (150 + index)],
    )
    assert state["p0"]["promisc"] is True


def summary_lines(output):
    """The lines of the last batch summary the playbook printed."""
    start = output.rfind("TASK [Show the batch and the rollout so far]")
    assert start >= 0, output[-3000:]
    block = output[start:].split("\n\n")[0]
    return [line.strip().strip('",') for line in block.splitlines() if line.strip().startswith('"')]


def test_happy_path_in_batches_then_unchanged(lab, tmp_path):
    fleet, namespaces = make_fleet(lab, tmp_path)
    first = fleet.run()
    assert first.returncode == 0, first.stdout[-5000:]
    for index, ns in namespaces.items():
        assert_converged(ns, index)
    lines = summary_lines(first.stdout)
    assert "batch 1: changed 1 ['h1'], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 0 []" in lines
    assert "batch 2: changed 1 ['h2'], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 0 []" in lines
    assert (
        "batch 3: changed 2 ['h3', 'h4'], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 0 []"
        in lines
    )
    assert "Rollout complete" in lines
    after = {index: kernel_state(ns) for index, ns in namespaces.items()}

    again = fleet.run()
    assert again.returncode == 0, again.stdout[-5000:]
    lines = summary_lines(again.stdout)
    assert (
        "batch 3: changed 0 [], unchanged 2 ['h3', 'h4'], rolled back 0 [], reverted by itself 0 [], failed 0 []"
        in lines
    )
    assert {index: kernel_state(ns) for index, ns in namespaces.items()} == after
    assert all(counters["changed"] == 0 for counters in recap(again.stdout).values()), again.stdout[-3000:]


def test_failed_verification_rolls_back_the_host_and_stops_the_rollout(lab, tmp_path):
    fleet, namespaces = make_fleet(lab, tmp_path, failing=(2,))
    before = {index: kernel_state(ns) for index, ns in namespaces.items()}
    proc = fleet.run()
    assert proc.returncode != 0
    # h1 (batch 1) is converged; h2 (batch 2) failed its probe and is back to its snapshot, as ip shows it
    assert_converged(namespaces[1], 1)
    assert kernel_state(namespaces[2]) == before[2]
    # the rollout stopped: the last batch was never touched
    assert kernel_state(namespaces[3]) == before[3]
    assert kernel_state(namespaces[4]) == before[4]
    lines = summary_lines(proc.stdout)
    assert "batch 2: changed 0 [], unchanged 0 [], rolled back 1 ['h2'], reverted by itself 0 [], failed 0 []" in lines
    assert "Not started yet: 2 hosts" in lines  # Ansible's max_fail_percentage then stopped the rollout
    assert "192.0.2.99 is unreachable" in proc.stdout
    assert "h2 was rolled back (verify)" in proc.stdout
    assert "delete macvlan mv0" in proc.stdout  # what was restored is reported
    counters = recap(proc.stdout)
    assert counters["h2"]["failed"] == 1 and counters["h2"]["rescued"] == 1
    assert counters["h1"]["failed"] == 0
    assert "h3" not in counters and "h4" not in counters


def test_failure_rate_within_max_fail_percentage_goes_on(lab, tmp_path):
    fleet, namespaces = make_fleet(lab, tmp_path, failing=(1,))
    before = kernel_state(namespaces[1])
    proc = fleet.run(extra_vars={"rollout_serial": "2", "rollout_max_fail_percentage": 50})
    assert proc.returncode != 0  # h1 failed: the job fails, but the rollout went on (1 of 2 is not above 50 %)
    assert kernel_state(namespaces[1]) == before
    for index in (2, 3, 4):
        assert_converged(namespaces[index], index)
    lines = summary_lines(proc.stdout)
    assert (
        "batch 1: changed 1 ['h2'], unchanged 0 [], rolled back 1 ['h1'], reverted by itself 0 [], failed 0 []" in lines
    )
    assert (
        "batch 2: changed 2 ['h3', 'h4'], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 0 []"
        in lines
    )
    assert "Rollout complete" in lines


def test_failure_during_apply_is_rolled_back(lab, tmp_path):
    """The kernel refuses a step the pre-flight cannot foresee (a route whose gateway is on none of the link's
    subnets: the plan is valid, the kernel says ENETUNREACH)."""
    fleet = Fleet(tmp_path)
    ns = add_host(lab, 1)
    seed(lab, ns)
    variables = topology(ns, 1)
    variables["macvlan_topology_links"][0]["routes"] = [{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}]
    fleet.add("h1", variables)
    before = kernel_state(ns)
    proc = fleet.run()
    assert proc.returncode != 0
    assert "h1 was rolled back (apply)" in proc.stdout
    assert "Network is unreachable" in proc.stdout
    assert kernel_state(ns) == before
    assert (
        "batch 1: changed 0 [], unchanged 0 [], rolled back 1 ['h1'], reverted by itself 0 [], failed 0 []"
        in summary_lines(proc.stdout)
    )


def test_what_the_kernel_would_refuse_is_refused_at_pre_flight(lab, tmp_path):
    """A passthru macvlan next to other children: the plan in check mode refuses it; nothing is touched."""
    fleet = Fleet(tmp_path)
    ns = add_host(lab, 1)
    seed(lab, ns)
    variables = topology(ns, 1)
    variables["macvlan_topology_links"] = variables["macvlan_topology_links"] + [
        {"name": "mv-pass", "parent": "p0", "mode": "passthru"}
    ]
    fleet.add("h1", variables)
    before = kernel_state(ns)
    proc = fleet.run()
    assert proc.returncode != 0
    assert "h1 failed (preflight)" in proc.stdout and "passthru needs parent 'p0' to itself" in proc.stdout
    assert kernel_state(ns) == before
    assert (
        "batch 1: changed 0 [], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 1 ['h1']"
        in summary_lines(proc.stdout)
    )


def test_spellings_the_modules_normalise_verify_and_are_not_rolled_back(lab, tmp_path):
    """A MAC written with dashes in capitals and an IPv6 address written long: the modules normalise them, and the
    verification asks the modules again (no comparison of the user's spelling with the kernel's)."""
    fleet = Fleet(tmp_path)
    ns = add_host(lab, 1)
    variables = topology(ns, 1)
    variables["macvlan_topology_links"] = [
        {
            "name": "mv0",
            "parent": "p0",
            "mac_address": "02-42-AC-11-00-10",
            "addresses": ["2001:db8:0:0::10/64", "192.0.2.101/24"],
        }
    ]
    fleet.add("h1", variables)
    proc = fleet.run()
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert (
        "batch 1: changed 1 ['h1'], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 0 []"
        in summary_lines(proc.stdout)
    )
    link = {entry["name"]: entry for entry in kernel_state(ns)}["mv0"]
    assert link["mac"] == "02:42:ac:11:00:10" and link["addresses"] == ["192.0.2.101/24", "2001:db8::10/64"]
    again = fleet.run()
    assert again.returncode == 0, again.stdout[-5000:]
    assert (
        "batch 1: changed 0 [], unchanged 1 ['h1'], rolled back 0 [], reverted by itself 0 [], failed 0 []"
        in summary_lines(again.stdout)
    )


def test_preflight_refuses_and_touches_nothing(lab, tmp_path):
    fleet, namespaces = make_fleet(lab, tmp_path)
    lab.veth(namespaces[3], "v9", "w9")
    bad = {
        1: {"rollout_protected_interfaces": ["p0"]},
        2: {"macvlan_topology_links": [{"name": "mv0", "parent": "p9"}, {"name": "mv1", "parent": "p0", "mtu": 9000}]},
        3: {"macvlan_topology_links": [{"name": "v9", "parent": "p0"}]},
        4: {"macvlan_topology_links": [{"name": "mv0", "parent": "p0", "mode": "sideways"}]},
    }
    for index, variables in bad.items():
        fleet.hosts["h%d" % index].update(variables)
    lab.ip(namespaces[2], "link", "set", "p0", "down")
    before = {index: kernel_state(ns) for index, ns in namespaces.items()}
    proc = fleet.run(extra_vars={"rollout_serial": [4], "rollout_max_fail_percentage": 100})
    assert proc.returncode != 0
    assert {index: kernel_state(ns) for index, ns in namespaces.items()} == before
    out = proc.stdout
    assert "protect: p0 is listed in protect.interfaces, and this task would set promisc of p0" in out
    assert "links[0] (mv0): parent: 'p9' does not exist in netns %s" % namespaces[2] in out
    assert "links[0] (v9): name: 'v9' already exists in netns %s as a veth interface" % namespaces[3] in out
    assert "sideways" in out  # the role's argument spec
    assert (
        "batch 1: changed 0 [], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 4 ['h1', 'h2', 'h3', 'h4']"
        in summary_lines(out)
    )


def test_a_boolean_confirm_timeout_is_refused_at_pre_flight(lab, tmp_path):
    """rollout_confirm_timeout: true would have become a 1-second revert (Ansible's int type keeps a boolean,
    Jinja's int filter makes it 1): macvlan_state refuses it in the pre-flight's check mode, nothing changes."""
    fleet = Fleet(tmp_path)
    ns = add_host(lab, 1)
    seed(lab, ns)
    fleet.add("h1", dict(topology(ns, 1), rollout_confirm_timeout=True))
    before = kernel_state(ns)
    proc = fleet.run()
    assert proc.returncode != 0
    assert "confirm_timeout: True is not a number of seconds" in proc.stdout, proc.stdout[-3000:]
    assert kernel_state(ns) == before
    assert (
        "batch 1: changed 0 [], unchanged 0 [], rolled back 0 [], reverted by itself 0 [], failed 1 ['h1']"
        in summary_lines(proc.stdout)
    )


def test_refuses_the_interface_of_the_ansible_connection(lab, tmp_path):
    """With confirm off, the default-route interface is refused in the host namespace; with confirm on (the
    default) a change that cuts the path reverts by itself, so the same plan passes (check mode: nothing changes)."""
    default = [r for r in ip_json("route", "show", "default") if r.get("dev")]
    if not default:
        pytest.skip("this machine has no default route")
    iface = default[0]["dev"]
    # The host namespace is shared with whatever else runs on the machine (container runtimes add and remove
    # links): the oracle is the interface itself and the name the plan would create.
    before = ip_json("-d", "link", "show", "dev", iface)
    fleet = Fleet(tmp_path)
    fleet.add(
        "h1",
        {
            "macvlan_topology_persist": "none",
            "macvlan_topology_install_pyroute2": False,
            "macvlan_topology_links": [{"name": "hmv-conn", "parent": iface}],
            "rollout_confirm_timeout": 0,
        },
    )
    proc = fleet.run(args=["--check"])
    assert proc.returncode != 0
    assert (
        "protect: %s carries a default route, and this task would create macvlan hmv-conn on %s"
        % (
            iface,
            iface,
        )
        in proc.stdout
    )
    assert not [link for link in ip_json("link", "show") if link["ifname"] == "hmv-conn"]
    assert ip_json("-d", "link", "show", "dev", iface) == before

    fleet.hosts["h1"].pop("rollout_confirm_timeout")
    proc = fleet.run(args=["--check"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "protect:" not in proc.stdout
    assert not [link for link in ip_json("link", "show") if link["ifname"] == "hmv-conn"]
    assert ip_json("-d", "link", "show", "dev", iface) == before


def test_persisted_files_are_restored(lab, tmp_path):
    """Files only (macvlan_topology_apply false): new files are removed, changed ones get their content back."""
    ns = add_host(lab, 1)
    netdir = tmp_path / "network"
    netdir.mkdir()
    mine = netdir / "60-hostnet-macvlan-link-mv0.netdev"
    mine.write_text("# written by an earlier rollout\n")
    mine.chmod(0o640)
    other = netdir / "10-eth0.network"
    other.write_text("[Match]\nName=eth0\n")
    before = {
        p.relative_to(netdir).as_posix(): (p.read_text(), p.stat().st_mode) for p in netdir.rglob("*") if p.is_file()
    }
    fleet = Fleet(tmp_path)
    fleet.add(
        "h1",
        {
            "macvlan_topology_apply": False,
            "macvlan_topology_persist": "networkd",
            "macvlan_topology_networkd_dir": str(netdir),
            "macvlan_topology_networkmanager_dir": str(tmp_path / "nm"),
            "macvlan_topology_systemd_dir": str(tmp_path / "systemd"),
            "macvlan_topology_reload": False,
            "macvlan_topology_links": [{"name": "mv0", "parent": "p0", "addresses": ["192.0.2.10/24"]}],
            "rollout_probes": [failing_probe(ns)],
            "rollout_probe_retries": 0,
        },
    )
    proc = fleet.run()
    assert proc.returncode != 0
    assert "h1 was rolled back (verify)" in proc.stdout
    assert "restored %s" % mine in proc.stdout
    assert "removed %s/60-hostnet-macvlan-link-mv0.network" % netdir in proc.stdout
    after = {
        p.relative_to(netdir).as_posix(): (p.read_text(), p.stat().st_mode) for p in netdir.rglob("*") if p.is_file()
    }
    assert after == before


def _without_ifindex(ns):
    """The full iproute2 dump of ``ns`` with the ifindexes left out: the snapshot restore creates a deleted or
    moved link again (same name, MAC, mode, addresses and routes), and the kernel gives it a new index."""
    dump = full_dump(ns)
    for link in dump["links"].values():
        link.pop("ifindex", None)
    return dump


def _assert_dumps_equal(before, after, ns):
    assert after == before, "netns %s differs from the dump taken before:\n  %s" % (
        ns,
        "\n  ".join(describe_difference(before, after)),
    )


def test_without_confirm_the_snapshot_gives_back_parents_moved_links_and_the_default_parent(lab, tmp_path):
    """rollout_confirm_timeout 0: a host that fails verification is restored from the role's snapshot. The
    change raised a parent's MTU and took another parent down, created a link on ``parent: default``, changed a
    link, purged one, moved one into another namespace with ``link_netns`` and created one there: afterwards
    both namespaces' full iproute2 dumps are as before (but for the ifindexes of the links created again)."""
    ns = add_host(lab, 1)
    gw = "%s-g1" % lab.prefix
    other = lab.netns("x1")
    lab.veth(ns, "p1", "q1", peer_ns=gw)
    lab.ip(ns, "addr", "add", "192.0.2.2/24", "dev", "p0")
    lab.ip(ns, "route", "add", "default", "via", "192.0.2.1")
    seed(lab, ns)
    lab.ip(ns, "link", "add", "mv-moved", "link", "p0", "address", "02:00:00:00:aa:03", "type", "macvlan")
    lab.ip(ns, "addr", "add", "10.1.0.2/24", "dev", "mv-moved")
    lab.ip(ns, "link", "set", "mv-moved", "up")
    before, before_other = _without_ifindex(ns), _without_ifindex(other)
    fleet = Fleet(tmp_path)
    fleet.add(
        "h1",
        {
            "macvlan_topology_netns": ns,
            "macvlan_topology_persist": "none",
            "macvlan_topology_install_pyroute2": False,
            "macvlan_topology_purge": True,
            "macvlan_topology_parents": [{"name": "p0", "mtu": 1600}, {"name": "p1", "link_state": "down"}],
            "macvlan_topology_links": [
                {"name": "mv0", "parent": "default", "addresses": ["192.0.2.101/24"]},
                {"name": "mv-old", "parent": "p0", "mode": "bridge", "mtu": 1400},
                {"name": "mv-moved", "parent": "p0", "link_netns": other},
                {"name": "mvx", "parent": "p0", "link_netns": other, "addresses": ["10.2.0.2/24"]},
            ],
            "rollout_confirm_timeout": 0,
            "rollout_probes": [failing_probe(ns)],
            "rollout_probe_retries": 0,
        },
    )
    proc = fleet.run()
    assert proc.returncode != 0
    assert "h1 was rolled back (verify)" in proc.stdout, proc.stdout[-5000:]
    assert "set mtu of p0: 1600 -> 1500" in proc.stdout  # the change did happen, and was given back
    _assert_dumps_equal(before, _without_ifindex(ns), ns)
    _assert_dumps_equal(before_other, _without_ifindex(other), other)


def test_without_confirm_a_snapshot_of_many_links_is_given_back_whole(lab, tmp_path):
    """1500 macvlans on the parent and a purge that deletes them all: the snapshot is never shortened to fit
    AWX's event size (a shortened one gave back the first 100 links only), and the restore creates every one
    again, each with its MAC, mode and address."""
    ns = add_host(lab, 1)
    batch = tmp_path / "links.batch"
    lines = []
    for index in range(1500):
        name = "m%04d" % index
        mac = "02:00:00:01:%02x:%02x" % (index >> 8, index & 0xFF)
        mode = ("bridge", "vepa", "private")[index % 3]
        lines.append("link add %s link p0 address %s type macvlan mode %s" % (name, mac, mode))
        lines.append("address add 10.%d.%d.1/32 dev %s" % (index >> 8, index & 0xFF, name))
    batch.write_text("\n".join(lines) + "\n")
    lab.ip(ns, "-batch", str(batch))
    before = kernel_state(ns)
    fleet = Fleet(tmp_path)
    fleet.add(
        "h1",
        dict(
            topology(ns, 1),
            rollout_confirm_timeout=0,
            rollout_probes=[failing_probe(ns)],
            rollout_probe_retries=0,
        ),
    )
    fleet.hosts["h1"]["macvlan_topology_links"] = [{"name": "mv0", "parent": "p0"}]
    proc = fleet.run()
    assert proc.returncode != 0
    assert "h1 was rolled back (verify)" in proc.stdout, proc.stdout[-5000:]
    assert "create macvlan m0000 on p0" in proc.stdout  # the purge did happen: the restore creates them again
    assert kernel_state(ns) == before


def _ansible_runner():
    path = os.environ.get("ANSIBLE_RUNNER") or str(REPO / ".build" / "venv-docs" / "bin" / "ansible-runner")
    return path if os.access(path, os.X_OK) else None


def test_rollout_under_ansible_runner(lab, tmp_path):
    """What AWX does: ansible-runner runs the playbook; its artifacts hold the status and the job events."""
    runner = _ansible_runner()
    if runner is None:
        pytest.skip("ansible-runner not installed (make runner-test installs it into .build/venv-docs)")
    fleet, namespaces = make_fleet(lab, tmp_path, failing=(2,))
    before = kernel_state(namespaces[2])
    private = tmp_path / "runner"
    (private / "inventory").mkdir(parents=True)
    (private / "env").mkdir()
    (private / "project").mkdir()
    shutil.copy(fleet.inventory(), private / "inventory" / "hosts.json")
    env = fleet.env()
    envvars = {key: env[key] for key in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_REMOTE_TEMP")}
    (private / "env" / "envvars").write_text(json.dumps(envvars))
    (private / "env" / "extravars").write_text(json.dumps({"rollout_serial": [1, "10%", "50%"]}))
    env["PATH"] = str(Path(runner).parent) + os.pathsep + env["PATH"]
    proc = subprocess.run(
        [runner, "run", str(private), "-p", "hostnet.macvlan.rollout", "--ident", "rollout"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    artifacts = private / "artifacts" / "rollout"
    assert (artifacts / "status").read_text() == "failed", proc.stdout[-5000:]
    assert int((artifacts / "rc").read_text()) != 0
    events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"))]
    by_type = {}
    for event in events:
        by_type.setdefault(event["event"], []).append(event)
    failed = [(e["event_data"]["host"], e["event_data"]["task"]) for e in by_type.get("runner_on_failed", [])]
    assert ("h2", "Fail the hosts that were rolled back or refused") in failed
    assert ("h2", "Fail the verification") in failed
    # Confirm mode (the default): the change h2 could not verify is still pending, and its exact journal is
    # reverted at once (the snapshot restore is for a run without confirm).
    reverted = [
        e
        for e in by_type.get("runner_on_ok", [])
        if e["event_data"]["task"] == "Revert the pending change now (its verification failed)"
    ]
    assert [e["event_data"]["host"] for e in reverted] == ["h2"]
    lines = [line for change in reverted[0]["event_data"]["res"]["reverted"] for line in change["restored"]]
    assert any("mv0" in line and namespaces[2] in line for line in lines), lines
    stats = by_type["playbook_on_stats"][-1]["event_data"]
    assert stats["failures"] == {"h2": 1}
    assert stats["rescued"] == {"h2": 1}
    assert set(stats["ok"]) == {"h1", "h2"}  # h3 and h4 never started
    assert kernel_state(namespaces[2]) == before
    assert_converged(namespaces[1], 1)


SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def _specs():
    """The argument specs the survey's variables must satisfy: the playbook's and each role's."""
    import yaml

    specs = dict(
        yaml.safe_load((REPO / "playbooks/vars/rollout_argument_spec.yml").read_text())["rollout_argument_spec"]
    )
    for role in sorted((REPO / "roles").iterdir()):
        data = yaml.safe_load((role / "meta/argument_specs.yml").read_text())
        specs.update(data["argument_specs"]["main"]["options"])
    return specs


def test_job_template_survey_answers_pass_the_argument_specs():
    """docs/job-template-survey.json is a valid AWX survey and its default answers pass the argument specs."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    survey = json.loads((REPO / "docs/job-template-survey.json").read_text())
    assert survey["name"] and survey["spec"]
    specs = _specs()
    answers = {}
    for question in survey["spec"]:
        assert question["type"] in SURVEY_TYPES, question
        assert {"question_name", "variable", "required", "default"} <= set(question), question
        variable = question["variable"]
        assert variable not in answers, "asked twice: %s" % variable
        assert variable in specs, "%s is in no argument spec" % variable
        if question["type"] in ("multiplechoice", "multiselect"):
            assert question["default"] in question["choices"], question
            choices = specs[variable].get("choices")
            if choices:
                assert set(question["choices"]) <= {str(c) for c in choices}, question
        if question["type"] == "integer":
            assert question["min"] <= question["default"] <= question["max"], question
        answers[variable] = question["default"]
    wanted = {name: spec for name, spec in specs.items() if name in answers}
    result = ArgumentSpecValidator(wanted).validate(answers)
    assert not result.error_messages, result.error_messages
    # a wrong answer is caught the same way
    bad = ArgumentSpecValidator(wanted).validate(dict(answers, macvlan_topology_persist="floppy"))
    assert bad.error_messages
