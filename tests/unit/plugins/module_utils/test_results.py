"""Result shaping: what the modules return stays small enough for AWX (pure, no root)."""

from __future__ import annotations

from ansible_collections.hostnet.macvlan.plugins.module_utils import _results


def link(i, **extra):
    entry = {
        "name": "mv%04d" % i,
        "netns": None,
        "state": "present",
        "type": "macvlan",
        "parent": "p0",
        "mode": "bridge",
        "mac_address": "02:00:00:00:%02x:%02x" % (i >> 8, i & 255),
        "mtu": 1500,
        "link_state": "up",
        "operstate": "UP",
        "source_macs": [],
        "addresses": ["192.0.2.%d/24" % (i % 250 + 1)],
        "routes": [],
        "bcqueuelen": 1000,
        "bclim": 1,
        "nopromisc": False,
        "nodst": False,
    }
    entry.update(extra)
    return entry


def test_invocation_leaves_out_unset_options_and_summarizes_long_link_lists():
    params = {"links": [{"name": "a", "mode": None, "mtu": 1400}], "netns": None, "purge": False}
    assert _results.invocation(params) == {"module_args": {"links": [{"name": "a", "mtu": 1400}], "purge": False}}
    many = {"links": [{"name": "mv%d" % i, "parent": "p0"} for i in range(1024)]}
    args = _results.invocation(many)["module_args"]
    assert args["links"] == "1024 entries, not echoed (first mv0, last mv1023)"


def test_a_diff_shows_only_the_attributes_that_change():
    before, after = _results.changed_parts(link(1), link(1, mode="private", mtu=1400))
    assert before == {"name": "mv0001", "mode": "bridge", "mtu": 1500}
    assert after == {"name": "mv0001", "mode": "private", "mtu": 1400}
    created = _results.changed_parts({"name": "mv1", "state": "absent"}, link(1))
    assert created[1]["addresses"] == ["192.0.2.2/24"]  # a new link is shown whole


def test_a_small_result_is_left_alone():
    result = {"changed": True, "links": [link(1)], "actions": ["x"]}
    assert _results.fit(dict(result)) == result


def test_a_large_result_is_shortened_step_by_step_and_says_so():
    links = [link(i) for i in range(4096)]
    actions = ["create macvlan mv%04d on p0 (mode bridge, up) in the host namespace" % i for i in range(4096)]
    result = {
        "changed": True,
        "links": links,
        "actions": actions,
        "diff": {"before": {"links": {x["name"]: {"state": "absent"} for x in links}}, "after": {"links": {}}},
    }
    _results.fit(result)
    assert _results.size_of(result) <= _results.RESULT_BUDGET
    assert set(result["links"][0]) == set(_results.BRIEF_KEYS) & set(links[0])
    assert result["truncated"][0].startswith("links: brief form")
    assert any("AWX" in note for note in result["truncated"])


def test_actions_are_cut_last_and_the_cut_is_counted():
    result = {"changed": True, "actions": ["step %d %s" % (i, "x" * 300) for i in range(4000)]}
    _results.fit(result, budget=100000)
    assert _results.size_of(result) <= 100000
    assert result["actions"][-1].startswith("... and ") and result["actions"][-1].endswith(" more steps")


def test_a_file_diff_is_cut_to_its_paths_then_the_file_list_is_halved():
    """macvlan_persist: the diff is a list of files with contents; too large, it keeps the paths."""
    files = [{"path": "/etc/x/60-hostnet-macvlan-m%04d.netdev" % i, "state": "new"} for i in range(4096)]
    diff = [{"before_header": f["path"], "after_header": f["path"], "before": "", "after": "x" * 400} for f in files]
    result = _results.fit({"changed": True, "files": list(files), "diff": diff}, budget=200000)
    assert _results.size_of(result) <= 200000
    assert all(set(entry) == {"before_header", "after_header"} for entry in result["diff"])
    assert "diff: the paths of the files that change" in result["truncated"]
    assert result["files"] == files[: len(result["files"])]
    assert any(note.startswith("files: first ") for note in result["truncated"])


def test_a_result_is_serialized_again_only_after_a_step_that_shortened_it(monkeypatch):
    """A create of many links: measured whole, then once in the brief form that fits; no re-measuring per step."""
    calls = []
    size_of = _results.size_of
    monkeypatch.setattr(_results, "size_of", lambda result: calls.append(1) or size_of(result))
    links = [dict(link(i), ifindex=i, promisc=False, promiscuity=0) for i in range(2048)]
    actions = ["create macvlan mv%04d on p0 (mode bridge, up) in the host namespace" % i for i in range(2048)]
    result = {"changed": True, "links": links, "actions": actions, "links_total": 2048, "links_changed": 2048}
    assert size_of(result) > _results.RESULT_BUDGET  # the full views do not fit
    _results.fit(result)
    assert size_of(result) <= _results.RESULT_BUDGET
    assert result["truncated"][0].startswith("links: brief form")
    assert len(result["links"]) == len(result["actions"]) == 2048  # the brief form was enough
    assert len(calls) == 2
