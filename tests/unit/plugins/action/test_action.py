"""The collection's action plugins (pure, controller side): each module runs through ModuleAction, which builds
the module's payload over a frozen heap with the collector paused, frees the build's garbage, and hands the heap
back afterwards, however the build ends."""

from __future__ import annotations

import gc
import importlib
import weakref
from pathlib import Path

import pytest
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as NormalAction

from ansible_collections.hostnet.macvlan.plugins.plugin_utils._action import ModuleAction

MODULES = sorted(
    path.stem for path in (Path(__file__).parents[4] / "plugins" / "modules").glob("*.py") if path.stem != "__init__"
)


class Marker:
    """An object the worker holds before the build (stands for the templated task arguments)."""


class Node:
    """Stands for a syntax-tree node of the build: garbage in a reference cycle once the build is done."""


def tracked(obj):
    """Whether the cyclic garbage collector walks ``obj`` (frozen objects are out of its reach)."""
    return any(item is obj for item in gc.get_objects())


class Build:
    """ModuleAction with its parent build (ActionBase._configure_module) replaced: records whether the collector
    could see ``marker`` (an object the worker held before the build) and the freeze count during the build."""

    def __init__(self, monkeypatch):
        self.fail = False
        self.marker = Marker()
        self.seen = {}
        self.action = ModuleAction.__new__(ModuleAction)  # the build needs no task or connection here
        monkeypatch.setattr(ActionBase, "_configure_module", self.parent_build)

    def parent_build(self, module_name, module_args, task_vars):
        self.seen.update(
            marker_tracked=tracked(self.marker), freeze_count=gc.get_freeze_count(), collecting=gc.isenabled()
        )
        self.seen["args"] = (module_name, module_args, task_vars)
        node = Node()
        node.parent = node  # a cycle: only the cyclic collector frees it
        self.garbage = weakref.ref(node)
        if self.fail:
            raise RuntimeError("the build failed")
        return ("payload", "path")


@pytest.fixture
def build(monkeypatch):
    gc.unfreeze()
    gc.enable()
    yield Build(monkeypatch)
    gc.unfreeze()
    gc.enable()


def test_every_module_has_the_action_plugin():
    assert "macvlan_state" in MODULES and len(MODULES) == 7
    for name in MODULES:
        plugin = importlib.import_module("ansible_collections.hostnet.macvlan.plugins.action.%s" % name)
        assert issubclass(plugin.ActionModule, ModuleAction), name
        assert issubclass(plugin.ActionModule, NormalAction), name


def test_the_heap_is_frozen_during_the_build_only(build):
    assert tracked(build.marker)
    assert build.action._configure_module("hostnet.macvlan.macvlan_state", {"links": []}, {"x": 1}) == (
        "payload",
        "path",
    )
    assert build.seen["args"] == ("hostnet.macvlan.macvlan_state", {"links": []}, {"x": 1})
    assert build.seen["freeze_count"] > 0
    assert build.seen["marker_tracked"] is False  # the collector did not walk what the worker held
    assert build.seen["collecting"] is False  # paused during the build
    assert gc.get_freeze_count() == 0
    assert tracked(build.marker)  # handed back
    assert gc.isenabled()  # resumed
    assert build.garbage() is None  # the build's garbage was freed when it ended


def test_a_failed_build_unfreezes_too(build):
    build.fail = True
    with pytest.raises(RuntimeError, match="the build failed"):
        build.action._configure_module("hostnet.macvlan.macvlan_state", {}, {})
    assert build.seen["marker_tracked"] is False
    assert build.seen["collecting"] is False
    assert gc.get_freeze_count() == 0
    assert tracked(build.marker)
    assert gc.isenabled()  # (the build's frame, with its garbage, lives on in the exception's traceback)


def test_a_collector_paused_by_someone_else_stays_paused(build):
    gc.disable()
    build.action._configure_module("hostnet.macvlan.macvlan_state", {}, {})
    assert build.seen["marker_tracked"] is False  # frozen all the same
    assert gc.get_freeze_count() == 0
    assert not gc.isenabled()  # not ours to resume
    assert build.garbage() is not None  # nor to collect: whoever paused it decides when


def test_a_freeze_held_by_someone_else_is_left_alone(build):
    frozen = build.marker
    gc.freeze()
    build.marker = Marker()  # created after that freeze: the collector walks it, before, during and after the build
    build.action._configure_module("hostnet.macvlan.macvlan_info", {}, {})
    assert build.seen["marker_tracked"] is True  # not frozen by us
    assert build.seen["collecting"] is True  # nor paused
    assert build.seen["freeze_count"] > 0
    assert gc.get_freeze_count() > 0 and not tracked(frozen)  # that freeze is still held: not ours to undo


def test_a_python_without_freeze_builds_as_ansible_does(build, monkeypatch):
    monkeypatch.delattr(gc, "freeze")
    assert build.action._configure_module("hostnet.macvlan.promisc", {}, {}) == ("payload", "path")
    assert build.seen["marker_tracked"] is True
    assert build.seen["freeze_count"] == 0
