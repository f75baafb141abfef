# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""What a module does before it imports the rest of the collection (standard library only, kept small: it is
compiled from source on every run).

Ansible ships a module to the managed node as a zip of source files, and Python compiles every file it imports
from a zip again on every run: it cannot write ``__pycache__`` there. For this collection's ``module_utils``
(about 270 KB of source for ``macvlan_state``) that is about 0.2 s of each run, more than the rest of an
unchanged 1024-link run costs. ``use_bytecode_cache()`` keeps the compiled code of those files in a root-only
directory under the state directory (``/run/hostnet-macvlan/bytecode``, on tmpfs: gone after a reboot), one
entry per file named after the SHA-256 of the source the controller sent, the interpreter's bytecode magic and
the optimization level (``-O``/``-OO`` code is kept apart, as ``__pycache__`` keeps ``.opt-1.pyc``). A run therefore
executes exactly the code it was sent; an entry is only a faster way to get it. Nothing else is cached: Ansible's
own ``module_utils`` and the module file are compiled as before.

The cache is used only where it is safe: the state directory and the cache directory must belong to the user
running the module and be closed to everyone else, and each entry must belong to that user and be writable by
nobody else. The directory is opened once, without following symlinks, checked through its descriptor, and every
entry is read, written and removed through that descriptor (whoever could rename a directory higher up the path
cannot swap another one in after the checks); entries are opened without following symlinks. Anything unexpected
(a foreign owner, a damaged entry, a read-only or full /run) falls back to compiling the source, silently, as
Python would. Entries are written in check mode too, like the namespace locks under /run/lock: runtime files of
the collection, not the host's configuration. ``HOSTNET_MACVLAN_BYTECODE_CACHE=off`` in the task's environment
turns it off; ``PYTHONDONTWRITEBYTECODE`` does not (it is about ``__pycache__`` next to source files, and many
environments set it for that). Outside an AnsiballZ payload (unit tests, ``ansible-test``, a revert process running
from files) it does nothing: there Python's own ``__pycache__`` applies.
"""

import contextlib
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import stat
import sys
import types
import zipimport

STATE_DIR = "/run/hostnet-macvlan"
PACKAGE = "ansible_collections.hostnet.macvlan.plugins.module_utils"
SWITCH = "HOSTNET_MACVLAN_BYTECODE_CACHE"
# The magic number changes with the bytecode format; the cache tag names the interpreter (cpython-311). -O and -OO
# (PYTHONOPTIMIZE) compile asserts and docstrings away: their code is kept apart, as __pycache__ keeps .opt-1.pyc.
_TAG = "%s-%s%s" % (
    sys.implementation.cache_tag,
    importlib.util.MAGIC_NUMBER.hex(),
    "-opt%d" % sys.flags.optimize if sys.flags.optimize else "",
)


def state_dir():
    """Where the collection keeps its root-only runtime files (pending changes, the bytecode cache)."""
    return os.environ.get("HOSTNET_MACVLAN_STATE_DIR", STATE_DIR)


def cache_dir():
    return os.path.join(state_dir(), "bytecode")


def use_bytecode_cache():
    """Load the rest of this collection's module_utils through the cache (once per process). True when the cache
    is in use."""
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "false", "no"):
        return False
    if not isinstance(globals().get("__loader__"), zipimport.zipimporter):
        return False  # not an AnsiballZ payload: Python's own bytecode cache applies
    if any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return True
    directory = _prepare(cache_dir())
    if directory is None:
        return False
    # Just before Python's path finder, which finds the zip: a finder placed earlier (a test's fault hook, a
    # coverage tool) still sees these modules first and can wrap this loader as it would wrap zipimport's.
    finders = sys.meta_path
    position = next((i for i, f in enumerate(finders) if f is importlib.machinery.PathFinder), len(finders))
    finders.insert(position, _Finder(directory))
    return True


def _owned_private(st, kind):
    """Owned by this user, of the expected kind, writable by nobody else."""
    return kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _prepare(directory):
    """A descriptor of the cache directory, made if missing, when it and its parent belong to this user and are
    closed to everyone else; None otherwise. Every later open goes through this descriptor (and the cache directory
    is opened through its checked parent's): whoever may rename a directory higher up the path cannot put another
    directory under the checked name afterwards."""
    parent = None
    try:
        parent = _private_directory(os.path.dirname(directory), None)
        return None if parent is None else _private_directory(os.path.basename(directory), parent)
    except OSError:
        return None
    finally:
        if parent is not None:
            os.close(parent)


def _private_directory(name, at):
    """``name`` (in the directory ``at``, a descriptor, or None), made if missing and opened without following a
    symlink: its descriptor when it belongs to this user and is closed to everyone else, else None."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=at)
    fd = os.open(name, _DIRECTORY, dir_fd=at)
    st = os.fstat(fd)
    if _owned_private(st, stat.S_ISDIR) and not st.st_mode & 0o077:
        return fd
    os.close(fd)
    return None


class _Finder(importlib.abc.MetaPathFinder):
    """Finds this collection's module_utils as usual (in the payload's zip) and gives them the caching loader."""

    def __init__(self, directory):
        self.directory = directory  # a descriptor (_prepare)

    def find_spec(self, fullname, path, target=None):
        if path is None or not fullname.startswith(PACKAGE + ".") or fullname == __name__:
            return None
        # Not PathFinder.find_spec: for a zip it asks zipimport for the module's file name, and zipimport works that
        # out by compiling the module (seen on Python 3.8 to 3.13), which costs as much as the cache saves. The
        # package's zipimporter (made when the package was imported) tells from the zip's index alone.
        for entry in path:
            archive = sys.path_importer_cache.get(entry)
            if not isinstance(archive, zipimport.zipimporter):
                return None  # not (known to be) a zip: Python's own search, in path order
            try:
                if archive.is_package(fullname):
                    return None  # a package: Python's own finders
            except zipimport.ZipImportError:
                continue  # not in this entry
            origin = "%s/%s.py" % (entry, fullname.rpartition(".")[2])
            spec = importlib.machinery.ModuleSpec(fullname, _Loader(archive, origin, self.directory), origin=origin)
            spec.has_location = True
            return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, archive, origin, directory):
        self.archive = archive
        self.origin = origin
        self.directory = directory  # a descriptor (_prepare)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)  # pylint: disable=exec-used

    def get_source(self, fullname):
        return self.archive.get_source(fullname)  # tracebacks show the source lines

    def is_package(self, fullname):
        return False

    def get_code(self, fullname):
        try:
            source = self.archive.get_data(self.origin)
        except OSError:
            return self.archive.get_code(fullname)  # no source in the zip (compiled code only): zipimport's way
        entry = "%s.%s.%s" % (fullname.rpartition(".")[2], _TAG, hashlib.sha256(source).hexdigest())
        code = _read(self.directory, entry)
        if code is None:
            code = compile(source, self.origin, "exec", dont_inherit=True)
            _write(self.directory, entry, code)
        else:
            _fix_filename(code, self.origin)
        return code


def _read(directory, entry):
    """The code object stored at ``entry`` in ``directory`` (a descriptor), or None (missing, not ours, damaged)."""
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    except OSError:
        return None
    try:
        if not _owned_private(os.fstat(fd), stat.S_ISREG):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        code = marshal.loads(b"".join(chunks))
    except (OSError, EOFError, ValueError, TypeError):
        return None
    finally:
        os.close(fd)
    return code if isinstance(code, types.CodeType) else None


def _write(directory, name, code):
    """Store ``code`` as ``name`` in ``directory`` (a descriptor) atomically (a private temporary file renamed into
    place) and remove the entries of older sources of the same file. Failures only mean the next run compiles
    again."""
    tmp = "%s.%d.tmp" % (name, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=directory)
        try:
            data = memoryview(marshal.dumps(code))
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)
        stem = name.rpartition(".")[0] + "."
        for other in os.listdir(directory):
            if other.startswith(stem) and other != name and not other.endswith(".tmp"):
                os.unlink(other, dir_fd=directory)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=directory)


def _fix_filename(code, origin):
    """Tracebacks name this run's payload, as they would had the source been compiled now."""
    fix = getattr(sys.modules.get("_imp"), "_fix_co_filename", None)
    if fix is not None:
        fix(code, origin)
