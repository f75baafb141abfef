"""Results small enough for AWX: with 4096 links every module's result stays under 700,000 bytes (AWX's
MAX_EVENT_RES_DATA: a larger job event loses its result), in check mode, with diff, on a rerun and on a rolled-back
failure; an unchanged rerun of 1024 links stays under 16 KB. The exception is macvlan_info's ``snapshot``, which a
restore needs whole: it is checked to be complete instead. The size is that of the JSON of the result Ansible
hands to its callbacks (what AWX stores), invocation included."""

from __future__ import annotations

import json

AWX_LIMIT = 700000
RERUN_1024_LIMIT = 16 * 1024


def size(result):
    clean = {key: value for key, value in result.items() if key != "_status"}
    return len(json.dumps(clean, default=str))


def links_for(count):
    return [
        {
            "name": "m%04d" % i,
            "parent": ("p0", "p1")[i % 2],
            "mode": ("bridge", "private", "vepa")[i % 3],
            "addresses": ["10.%d.%d.1/32" % (i >> 8, i & 255)],
        }
        for i in range(count)
    ]


def test_4096_links_fit_awx_in_every_mode(lab, ansible_default, host):
    links = links_for(4096)
    args = {"netns": host, "links": links, "parents": [{"name": "p0"}, {"name": "p1"}]}
    sizes = {}

    planned = ansible_default.run("macvlan_state", check=True, diff=True, **args)
    assert planned["changed"] is True and planned["links_changed"] == 4096, planned.get("msg")
    sizes["check+diff create"] = size(planned)

    created = ansible_default.run("macvlan_state", diff=True, **args)
    assert created["changed"] is True and not created.get("failed"), created.get("msg")
    assert len(lab.links(host)) == 4096 + 5  # lo, p0, q0, p1, q1
    sizes["create+diff"] = size(created)

    rerun = ansible_default.run("macvlan_state", diff=True, **args)
    assert rerun["changed"] is False and rerun["links"] == [] and rerun["links_total"] == 4096
    assert "truncated" not in rerun
    sizes["rerun+diff"] = size(rerun)

    subset = dict(args, links=links[:1024])
    small = ansible_default.run("macvlan_state", **subset)
    assert small["changed"] is False and small["links_total"] == 1024
    assert size(small) < RERUN_1024_LIMIT, json.dumps(small)[:2000]
    assert small["invocation"]["module_args"]["links"].startswith("1024 entries, not echoed")

    everything = ansible_default.run("macvlan_state", return_links="all", **args)
    assert everything["changed"] is False and "truncated" in everything  # 4096 full views do not fit: shortened
    sizes["rerun, return_links all"] = size(everything)

    changed = [dict(link, mode="bridge" if link["mode"] != "bridge" else "private") for link in links]
    modified = ansible_default.run("macvlan_state", check=True, diff=True, **dict(args, links=changed))
    assert modified["links_changed"] == 4096
    sizes["check+diff change"] = size(modified)

    for details in ("full", "brief"):
        facts = ansible_default.run("macvlan_info", netns=host, details=details, state_links=True)
        assert not facts.get("failed") and len(facts["links"]) > 0
        sizes["macvlan_info %s" % details] = size(facts)

    # The one result that is never shortened: macvlan_info's snapshot (a restore needs every link of it). Above
    # about 1,800 links it is over AWX's limit (documented); it must be whole, whatever the rest of the result.
    snap = ansible_default.run(
        "macvlan_info", netns=host, details="brief", snapshot={"links": links, "parents": args["parents"]}
    )
    assert not snap.get("failed"), snap.get("msg")
    assert [entry["name"] for entry in snap["snapshot"]["links"]] == [link["name"] for link in links]
    assert all(entry["state"] == "present" and entry["addresses"] for entry in snap["snapshot"]["links"])

    # A failure at the very end of a 4096-link creation: everything is rolled back, and the result still fits.
    ansible_default.run("macvlan_state", netns=host, links=[], parents=[{"name": "p0"}, {"name": "p1"}], purge=True)
    failing = [dict(link) for link in links]
    failing[-1]["routes"] = [{"dest": "198.51.100.0/24", "gateway": "203.0.113.1"}]  # unreachable: refused
    failed = ansible_default.run("macvlan_state", **dict(args, links=failing))
    assert failed["failed"] is True and "Rolled back" in failed["msg"]
    assert len(lab.links(host)) == 5
    sizes["failure, 4096 rolled back"] = size(failed)

    over = {mode: value for mode, value in sizes.items() if value >= AWX_LIMIT}
    assert not over, sizes


def test_4096_persisted_links_fit_awx(ansible_default, tmp_path):
    """macvlan_persist of 4096 links: check+diff, write+diff and the rerun each fit, and a rerun is small (the
    NetworkManager backend: two keyfiles per link, the largest files; the shortening is the same for all)."""
    backend = "networkmanager"
    dirs = {
        "networkd_dir": str(tmp_path / "networkd"),
        "networkmanager_dir": str(tmp_path / "nm"),
        "ifupdown_dir": str(tmp_path / "ifupdown"),
        "systemd_dir": str(tmp_path / "systemd"),
        "interfaces_file": str(tmp_path / "interfaces"),
    }
    (tmp_path / "interfaces").write_text("source %s/*\n" % dirs["ifupdown_dir"])
    links = [dict(link, name="m%04d" % i) for i, link in enumerate(links_for(4096))]
    args = dict(dirs, backend=backend, reload=False, links=links, parents=[{"name": "p0", "promisc": True}])
    sizes = {}

    planned = ansible_default.run("macvlan_persist", check=True, diff=True, **args)
    assert planned["changed"] is True and not planned.get("failed"), planned.get("msg")
    sizes["check+diff"] = size(planned)

    written = ansible_default.run("macvlan_persist", diff=True, **args)
    assert written["changed"] is True and not written.get("failed"), written.get("msg")
    sizes["write+diff"] = size(written)

    rerun = ansible_default.run("macvlan_persist", diff=True, **args)
    assert rerun["changed"] is False and rerun["files"] == []
    assert rerun["invocation"]["module_args"]["links"].startswith("4096 entries, not echoed")
    assert size(rerun) < RERUN_1024_LIMIT, json.dumps(rerun)[:2000]

    over = {mode: value for mode, value in sizes.items() if value >= AWX_LIMIT}
    assert not over, sizes
