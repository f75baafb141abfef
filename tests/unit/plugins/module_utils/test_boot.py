"""_boot: the bytecode cache of the collection's module_utils inside an AnsiballZ payload (a zip).

The loader is tried on a zip of its own (a module ``pkg/sample.py``); the whole path, finder included, in a fresh
interpreter whose sys.path holds a zip of this checkout's module_utils, as Ansible ships them."""

from __future__ import annotations

import builtins
import hashlib
import json
import marshal
import os
import py_compile
import subprocess
import sys
import zipfile
import zipimport
from pathlib import Path

import pytest

from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot

SOURCE = "VALUE = 6 * 7\n\ndef where():\n    return __file__\n"
MODULE_UTILS = Path(_boot.__file__).resolve().parent


def make_zip(path, files):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture
def cache(tmp_path):
    directory = tmp_path / "state" / "bytecode"
    fd = _boot._prepare(str(directory))
    assert fd is not None
    os.close(fd)
    return directory


def loader_for(tmp_path, cache, source=SOURCE, name="payload.zip"):
    archive = make_zip(tmp_path / name, {"pkg/__init__.py": "", "pkg/sample.py": source})
    origin = "%s/pkg/sample.py" % archive
    return _boot._Loader(zipimport.zipimporter("%s/pkg" % archive), origin, _boot._prepare(str(cache))), origin


def run(code):
    namespace = {}
    exec(code, namespace)
    return namespace


def entries(cache):
    return sorted(p.name for p in cache.iterdir())


def test_the_first_run_compiles_and_stores_a_private_entry_named_after_the_source(tmp_path, cache):
    loader, origin = loader_for(tmp_path, cache)
    code = loader.get_code("x.pkg.sample")
    assert run(code)["VALUE"] == 42
    assert code.co_filename == origin
    (entry,) = cache.iterdir()
    assert entry.name.startswith("sample.%s." % _boot._TAG)
    assert entry.name.endswith(hashlib.sha256(SOURCE.encode()).hexdigest())
    assert entry.stat().st_mode & 0o777 == 0o600
    assert oct(cache.stat().st_mode & 0o777) == oct(0o700)


def test_a_later_run_loads_the_entry_without_compiling(tmp_path, cache, monkeypatch):
    loader, _origin = loader_for(tmp_path, cache)
    loader.get_code("x.pkg.sample")
    # The next payload lives elsewhere (Ansible unpacks every run into a new temporary directory).
    later, later_origin = loader_for(tmp_path, cache, name="later.zip")

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled although the entry was there")

    monkeypatch.setattr(builtins, "compile", no_compile)
    code = later.get_code("x.pkg.sample")
    assert run(code)["VALUE"] == 42
    assert code.co_filename == later_origin  # tracebacks name this run's payload


def test_a_changed_source_gets_a_new_entry_and_the_old_one_goes(tmp_path, cache):
    loader, _origin = loader_for(tmp_path, cache)
    loader.get_code("x.pkg.sample")
    old = entries(cache)
    changed, _changed_origin = loader_for(tmp_path, cache, source="VALUE = 1\n", name="changed.zip")
    assert run(changed.get_code("x.pkg.sample"))["VALUE"] == 1
    assert len(entries(cache)) == 1 and entries(cache) != old


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b"\xffnot marshal data"), id="garbage"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:20]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(marshal.dumps({"not": "code"})), id="not-code"),
        pytest.param(lambda p: p.chmod(0o666), id="writable-by-others"),
    ],
)
def test_an_entry_that_is_damaged_or_open_to_others_is_not_used_and_is_replaced(tmp_path, cache, damage):
    loader, _origin = loader_for(tmp_path, cache)
    loader.get_code("x.pkg.sample")
    (entry,) = cache.iterdir()
    damage(entry)
    assert run(loader.get_code("x.pkg.sample"))["VALUE"] == 42
    assert entry.stat().st_mode & 0o777 == 0o600
    assert isinstance(marshal.loads(entry.read_bytes()), type(compile("", "", "exec")))


def test_an_entry_that_is_a_symlink_is_not_followed(tmp_path, cache):
    loader, _origin = loader_for(tmp_path, cache)
    loader.get_code("x.pkg.sample")
    (entry,) = cache.iterdir()
    planted = tmp_path / "planted"
    planted.write_bytes(marshal.dumps(compile("VALUE = 'planted'", "planted", "exec")))
    entry.unlink()
    entry.symlink_to(planted)
    assert run(loader.get_code("x.pkg.sample"))["VALUE"] == 42


def test_a_directory_renamed_on_the_path_after_the_checks_changes_nothing(tmp_path, cache):
    """Whoever may rename a directory on the path (a parent that belongs to another user) can put another
    directory under the checked name after the checks: the loader keeps using the directory it checked, so a
    planted entry (root-owned: an old version's code renamed after the new source) is never executed."""
    loader, _origin = loader_for(tmp_path, cache)
    state = cache.parent
    state.rename(tmp_path / "moved")
    cache.mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    planted = cache / ("sample.%s.%s" % (_boot._TAG, hashlib.sha256(SOURCE.encode()).hexdigest()))
    planted.write_bytes(marshal.dumps(compile("VALUE = 'planted'", "planted", "exec")))
    planted.chmod(0o600)
    assert run(loader.get_code("x.pkg.sample"))["VALUE"] == 42
    assert entries(cache) == [planted.name]  # nothing written through the new path
    assert entries(tmp_path / "moved" / "bytecode") == [planted.name]  # the entry went to the checked directory


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o707])
def test_a_cache_directory_open_to_others_is_refused(tmp_path, mode):
    directory = tmp_path / "state" / "bytecode"
    directory.mkdir(parents=True)
    directory.chmod(mode)
    assert _boot._prepare(str(directory)) is None


def test_a_cache_directory_behind_a_symlink_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "bytecode").symlink_to(real)
    assert _boot._prepare(str(tmp_path / "state" / "bytecode")) is None


def test_a_cache_directory_that_cannot_be_made_is_no_error(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory would be")
    assert _boot._prepare(str(blocker / "bytecode")) is None


def test_outside_a_payload_nothing_is_installed(monkeypatch):
    before = list(sys.meta_path)
    assert _boot.use_bytecode_cache() is False  # imported from files here: Python's own cache applies
    assert sys.meta_path == before


# Fresh interpreters that import this checkout's module_utils from a zip (sys.argv[1]), as an AnsiballZ payload
# does: first what a module does first, then the test's own part.
PRELUDE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.hostnet.macvlan.plugins.module_utils import _boot
used = _boot.use_bytecode_cache()
"""
CHILD = (
    PRELUDE
    + """from ansible_collections.hostnet.macvlan.plugins.module_utils import _model
print(json.dumps({"used": used, "loader": type(_model.__loader__).__name__, "file": _model.__file__,
                  "mac": _model.normalize_mac("02:AA:bb:00:00:01", "mac_address")}))
"""
)


def package_zip(path, modules):
    """A zip holding the collection's module_utils package with ``modules`` ({file name: source}), as a payload."""
    parts = _boot.PACKAGE.split(".")
    files = {"/".join(parts[:depth]) + "/__init__.py": "" for depth in range(1, len(parts) + 1)}
    files.update(("/".join(parts) + "/" + name, text) for name, text in modules.items())
    return make_zip(path, files)


@pytest.fixture
def payload(tmp_path):
    sources = {path.name: path.read_text(encoding="utf-8") for path in MODULE_UTILS.glob("_*.py")}
    return package_zip(tmp_path / "payload.zip", sources)


def child(payload, state, code=CHILD, flags=(), **env):
    """Run ``code`` in a fresh, isolated interpreter (``flags`` such as -O) with the payload first on sys.path."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", _boot.SWITCH)}
    environ.update(HOSTNET_MACVLAN_STATE_DIR=str(state), **env)
    # Not capture_output/text: the units also run on Python 3.6 (make test-matrix).
    out = subprocess.run(  # noqa: UP022
        [sys.executable, "-I", *flags, "-c", code, str(payload)],
        env=environ,
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,  # noqa: UP021
    )
    return json.loads(out.stdout)


def test_a_payload_loads_the_collection_through_the_cache(tmp_path, payload):
    state = tmp_path / "state"
    first = child(payload, state)
    assert first["used"] is True and first["loader"] == "_Loader"
    assert first["file"] == "%s/%s/_model.py" % (payload, _boot.PACKAGE.replace(".", "/"))
    assert first["mac"] == "02:aa:bb:00:00:01"
    stored = entries(state / "bytecode")
    assert any(name.startswith("_model.") for name in stored)
    second = child(payload, state)
    assert second == first
    assert entries(state / "bytecode") == stored


@pytest.fixture
def payload_finder(tmp_path, cache, monkeypatch):
    """``make(modules)`` -> (the cache's finder, the package's path entry in a payload zip holding ``modules``), as a
    module's run has them once the package is imported (its zipimporter in sys.path_importer_cache)."""
    descriptors = []

    def make(modules):
        archive = package_zip(tmp_path / "payload.zip", modules)
        entry = "%s/%s" % (archive, _boot.PACKAGE.replace(".", "/"))
        monkeypatch.setitem(sys.path_importer_cache, entry, zipimport.zipimporter(entry))
        descriptors.append(_boot._prepare(str(cache)))
        return _boot._Finder(descriptors[-1]), entry

    yield make
    for descriptor in descriptors:
        os.close(descriptor)


def test_the_finder_answers_from_the_zip_index_and_leaves_other_path_entries_to_python(tmp_path, payload_finder):
    finder, entry = payload_finder({"_sample.py": "VALUE = 'zip'\n", "_sub/__init__.py": ""})
    directory = tmp_path / "files"
    directory.mkdir()
    (directory / "_sample.py").write_text("VALUE = 'files'\n")
    spec = finder.find_spec(_boot.PACKAGE + "._sample", [entry])
    assert isinstance(spec.loader, _boot._Loader) and spec.origin == entry + "/_sample.py" and spec.has_location
    assert run(spec.loader.get_code(spec.name))["VALUE"] == "zip"
    assert finder.find_spec(_boot.PACKAGE + "._missing", [entry]) is None
    assert finder.find_spec(_boot.PACKAGE + "._sub", [entry]) is None  # packages: Python's own finders
    # A directory ahead of the zip on the package's path: Python's own search, which keeps that order.
    assert finder.find_spec(_boot.PACKAGE + "._sample", [str(directory), entry]) is None
    assert finder.find_spec("elsewhere._sample", [entry]) is None


def test_a_module_shipped_as_compiled_code_only_is_loaded_as_zipimport_would(tmp_path, cache, payload_finder):
    source = tmp_path / "_compiled.py"
    source.write_text("VALUE = 'compiled'\n")
    compiled = py_compile.compile(str(source), cfile=str(tmp_path / "_compiled.pyc"), doraise=True)
    finder, entry = payload_finder({"_compiled.pyc": Path(compiled).read_bytes()})
    spec = finder.find_spec(_boot.PACKAGE + "._compiled", [entry])
    assert run(spec.loader.get_code(spec.name))["VALUE"] == "compiled"
    assert entries(cache) == []  # nothing of ours to cache: zipimport's own code


# The second run compiles none of the collection's modules: neither to load them nor to find them (Python's own
# path finder compiles a module in a zip just to learn its file name). zipimport written in Python (3.8 on)
# compiles through builtins.compile; the older one, built in C, out of this hook's sight.
ZIPIMPORT_IN_C = "zipimport" in sys.builtin_module_names
COUNT_COMPILES = (
    PRELUDE
    + """import builtins
compiled = []
real = builtins.compile
builtins.compile = lambda source, filename, *args, **kwargs: (compiled.append(str(filename)), real(source, filename, *args, **kwargs))[1]
from ansible_collections.hostnet.macvlan.plugins.module_utils import _runner
builtins.compile = real
print(json.dumps({"used": used, "loader": type(_runner.__loader__).__name__,
                  "compiled": [name.rpartition("/")[2] for name in compiled if "/hostnet/macvlan/" in name]}))
"""
)


def test_a_later_run_compiles_none_of_the_collection(tmp_path, payload):
    state = tmp_path / "state"
    first = child(payload, state, code=COUNT_COMPILES)
    assert first["used"] is True and first["loader"] == "_Loader"
    if not ZIPIMPORT_IN_C:
        # The first run compiles each module once (to store it), not twice.
        assert "_runner.py" in first["compiled"]
        assert len(first["compiled"]) == len(set(first["compiled"])), first["compiled"]
    second = child(payload, state, code=COUNT_COMPILES)
    assert second == dict(first, compiled=[])


def test_the_switch_turns_the_cache_off(tmp_path, payload):
    state = tmp_path / "state"
    result = child(payload, state, **{_boot.SWITCH: "off"})
    assert result["used"] is False and result["loader"] == "zipimporter"
    assert not (state / "bytecode").exists()


# Python compiles asserts and docstrings away under -O / -OO (PYTHONOPTIMIZE): code compiled at one level must
# never be executed by a run at another level, as Python's own __pycache__ keeps .opt-1/.opt-2 files apart.
GUARD = '"""Guard."""\n\ndef check(n):\n    assert n > 0, "n must be positive"\n    return n\n'
OPTIMIZE_CHILD = (
    PRELUDE
    + """from ansible_collections.hostnet.macvlan.plugins.module_utils import _guard
try:
    _guard.check(-1)
    asserted = False
except AssertionError:
    asserted = True
print(json.dumps({"used": used, "loader": type(_guard.__loader__).__name__, "asserted": asserted,
                  "doc": _guard.__doc__}))
"""
)


@pytest.mark.parametrize(
    "first, second",
    [(["-O"], []), ([], ["-O"]), (["-OO"], []), (["-OO"], ["-O"])],
    ids=["O-then-plain", "plain-then-O", "OO-then-plain", "OO-then-O"],
)
def test_code_compiled_at_another_optimization_level_is_not_used(tmp_path, first, second):
    sources = {"_boot.py": (MODULE_UTILS / "_boot.py").read_text(encoding="utf-8"), "_guard.py": GUARD}
    archive = package_zip(tmp_path / "payload.zip", sources)
    for flags in (first, second):
        result = child(archive, tmp_path / "state", code=OPTIMIZE_CHILD, flags=flags)
        assert result["used"] is True and result["loader"] == "_Loader", result
        assert result["asserted"] is (not flags), (flags, result)  # -O and -OO strip asserts, nothing else does
        assert result["doc"] == (None if flags == ["-OO"] else "Guard."), (flags, result)
    # One entry per level, side by side: a run at one level does not remove the other level's entry.
    assert len(entries(tmp_path / "state" / "bytecode")) == 2
