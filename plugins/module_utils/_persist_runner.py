# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""The ``macvlan_persist`` module's flow: validate, choose the backend, then under the host's lock read what is
on disk, plan (``_persist*``, pure), compare (the drift report; check mode stops here), write atomically,
remove, and reload the stack.

The only I/O of persistence lives here: listing and reading the owned files, reading which .network
systemd-networkd uses for a parent, asking systemd which stack runs, writing (a temporary file in the same
directory, fsync, rename), removing, and the reload commands. Every path written or removed is checked to be
inside its directory, also after resolving symbolic links.
"""

import collections
import contextlib
import errno
import glob
import os
import posixpath
import re
import stat
import tempfile

from ansible_collections.hostnet.macvlan.plugins.module_utils import (
    _journal,
    _model,
    _netlink,
    _persist,
    _plan,
    _results,
)
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_ifupdown as _ifupdown
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_networkd as _networkd
from ansible_collections.hostnet.macvlan.plugins.module_utils import _persist_nm as _nm
from ansible_collections.hostnet.macvlan.plugins.module_utils._lock import LockError, NamespaceLocks
from ansible_collections.hostnet.macvlan.plugins.module_utils._signals import Interrupted, Signals

SYSTEMD_RUNNING = "/run/systemd/system"
NETIF_LINKS = "/run/systemd/netif/links"
_MAX_READ = 1 << 20


class Settings:
    """The validated options that are not the desired state."""

    def __init__(self, params):
        self.prefix = _persist.validate_prefix(params["prefix"])
        self.dirs = {}
        for option in ("networkd_dir", "networkmanager_dir", "ifupdown_dir", "systemd_dir"):
            self.dirs[option] = _persist.validate_dir(params[option], option)
        self.interfaces_file = _persist.validate_dir(params["interfaces_file"], "interfaces_file")
        mapping = params.get("networkd_parent_network") or {}
        for key, value in mapping.items():
            if value is not None and not isinstance(value, str):
                _persist.fail("networkd_parent_network.%s" % key, value, "must be a file name or ''")
        self.mapping = {str(k): (v or "") for k, v in mapping.items()}
        self.netns = params.get("netns") or None
        self.backend = params["backend"]
        self.reload = params["reload"]
        self.lock_timeout = params["lock_timeout"]
        self.systemd_version = None  # read when a networkd plan has a setting that depends on it (``systemd_version``)


# --- reading ------------------------------------------------------------------------------------------


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return []
        raise


def _read_text(path, limit=_MAX_READ):
    """The text of a regular file (not following a symbolic link), or None: a directory, a FIFO, a device or a
    file that cannot be read is skipped (as ifupdown's ``source`` does), never waited on."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > limit:
        return None
    return data.decode("utf-8", "replace")


def entry(path, read=False):
    """What is at path (not following a symbolic link), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        try:
            return _persist.Entry("symlink", target=os.readlink(path))
        except OSError:
            return _persist.Entry("other")
    if stat.S_ISREG(info.st_mode):
        return _persist.Entry("file", _read_text(path) if read else None, mode=stat.S_IMODE(info.st_mode))
    if stat.S_ISDIR(info.st_mode):
        return _persist.Entry("dir")
    return _persist.Entry("other")


def scan_networkd(directory, prefix):
    listing = {}
    for name in _listdir(directory):
        path = posixpath.join(directory, name)
        # Every .network is read: which one configures a parent is decided by its [Match] (``_networkd``).
        found = entry(path, read=name.startswith(prefix) or name.endswith(".network"))
        if found is None:
            continue
        listing[path] = found
        if found.kind == "dir" and name.endswith(".network.d"):
            for sub in _listdir(path):
                sub_path = posixpath.join(path, sub)
                sub_found = entry(sub_path, read=sub.startswith(prefix))
                if sub_found is not None:
                    listing[sub_path] = sub_found
    return listing


def scan_prefixed(directory, prefix):
    listing = {}
    for name in _listdir(directory):
        if name.startswith(prefix):
            found = entry(posixpath.join(directory, name), read=True)
            if found is not None:
                listing[posixpath.join(directory, name)] = found
    return listing


def keyfile_uuids(directory):
    """{path: uuid} of the NetworkManager keyfiles in ``directory`` (read to find a UUID two files would share)."""
    found = {}
    for name in _listdir(directory):
        if name.endswith(".nmconnection"):
            path = posixpath.join(directory, name)
            value = _nm.keyfile_uuid(_read_text(path))
            if value:
                found[path] = value
    return found


def scan_systemd(directory, prefix):
    listing = {}
    unit = posixpath.join(directory, prefix + "promisc@.service")
    found = entry(unit, read=True)
    if found is not None:
        listing[unit] = found
    for name in _listdir(directory):
        if name.startswith(prefix + "parent-") and name.endswith(".service"):  # a parent's MTU and state
            found = entry(posixpath.join(directory, name), read=True)
            if found is not None:
                listing[posixpath.join(directory, name)] = found
    wants = posixpath.join(directory, _nm.WANTS)
    for name in _listdir(wants):
        if name.startswith((prefix + "promisc@", prefix + "parent-")):
            found = entry(posixpath.join(wants, name))
            if found is not None:
                listing[posixpath.join(wants, name)] = found
    return listing


def networkd_reported(parents):
    """{parent: .network file name} from systemd-networkd's state (NETWORK_FILE= of the parent's ifindex)."""
    out = {}
    for parent in parents:
        if "/" in parent or parent in (".", ".."):
            continue
        index = _read_text("/sys/class/net/%s/ifindex" % parent, 64)
        if not index or not index.strip().isdigit():
            continue
        state = _read_text(posixpath.join(NETIF_LINKS, index.strip()), 65536)
        for line in (state or "").splitlines():
            if line.startswith("NETWORK_FILE="):
                value = line[len("NETWORK_FILE=") :].strip()
                if value:
                    out[parent] = posixpath.basename(value)
    return out


def _expand(pattern):
    return glob.glob(pattern)


def _read_interfaces(path):
    return _read_text(path)


# --- the stack ------------------------------------------------------------------------------------------


def systemd_running():
    return os.path.isdir(SYSTEMD_RUNNING)


def unit_active(module, unit):
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return False
    rc, out, _err = module.run_command([systemctl, "is-active", unit])
    return rc == 0 and out.strip() == "active"


def unit_enabled(systemd_dir, unit):
    pattern = posixpath.join(glob.escape(systemd_dir), "*.wants")
    return any(os.path.lexists(posixpath.join(wants, unit)) for wants in glob.glob(pattern))


def detect(module, settings):
    running = systemd_running()
    units = {}
    for _backend, unit in _persist.UNITS:
        units[unit] = unit_active(module, unit) if running else unit_enabled(settings.dirs["systemd_dir"], unit)
    stanzas = _persist.ifupdown_interfaces(settings.interfaces_file, _read_interfaces, _expand, _listdir)
    return _persist.choose_backend(running, units, stanzas)


def is_host_namespace(ns):
    try:
        mine = os.stat("/proc/self/ns/net")
        other = os.stat(ns if ns.startswith("/") else "/run/netns/" + ns)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (other.st_dev, other.st_ino)


# --- planning -------------------------------------------------------------------------------------------


def systemd_version(module):
    """The host's systemd version (``systemctl --version``: "systemd 256 (256.7-2)"), or None."""
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return None
    rc, out, dummy = module.run_command([systemctl, "--version"])
    match = re.match(r"systemd (\d+)", out or "")
    return int(match.group(1)) if rc == 0 and match else None


def scan_and_plan(backend, desired, settings):
    """(listing, plan) for one backend: read what is on disk, plan the owned file set."""
    prefix = settings.prefix
    if backend == "networkd":
        directory = settings.dirs["networkd_dir"]
        listing = scan_networkd(directory, prefix)
        parents = set(desired.managed) | set(desired.parents)
        reported = networkd_reported(sorted(p for p in parents if p not in settings.mapping))
        plan = _networkd.plan(desired, prefix, directory, listing, settings.mapping, reported, settings.systemd_version)
    elif backend == "networkmanager":
        directory = settings.dirs["networkmanager_dir"]
        listing = scan_prefixed(directory, prefix)
        listing.update(scan_systemd(settings.dirs["systemd_dir"], prefix))
        plan = _nm.plan(desired, prefix, directory, settings.dirs["systemd_dir"], listing, keyfile_uuids(directory))
    else:
        directory = settings.dirs["ifupdown_dir"]
        listing = scan_prefixed(directory, prefix)
        plan = _ifupdown.plan(desired, prefix, directory, listing)
        sample = _ifupdown.sample_name(prefix)
        if not _persist.sources_directory(
            settings.interfaces_file, directory, sample, _read_interfaces, _expand, _listdir
        ):
            plan.warn(
                "interfaces_file %s does not source ifupdown_dir %s (no 'source' or 'source-directory' line reads "
                "its files): ifupdown does not read the files written there. Add 'source-directory %s' to %s"
                % (settings.interfaces_file, directory, directory, settings.interfaces_file)
            )
    return listing, plan


# --- writing --------------------------------------------------------------------------------------------


def _check_real(base, path):
    """The directory a path is written in, resolved, must still be inside the resolved base directory."""
    real_base = os.path.realpath(base)
    real_dir = os.path.realpath(posixpath.dirname(path))
    if real_dir != real_base and not real_dir.startswith(real_base + "/"):
        raise _persist.PersistError(
            "refusing to write %s: its directory resolves to %s, outside %s" % (path, real_dir, real_base)
        )


def _makedirs(base, folder, journal):
    """Create folder (and base) with mode 0755, whatever the umask; each directory created is journaled."""
    missing = []
    current = folder
    while not os.path.isdir(current):
        missing.append(current)
        parent = posixpath.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        with journal.step():
            try:
                os.mkdir(path, _persist.DIR_MODE)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise
                continue
            journal.add("mkdir", path)
        os.chmod(path, _persist.DIR_MODE)


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _identity(path):
    """(device, inode) of what is at path (not following a symbolic link), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


# One journaled change: ``op`` (create, replace, remove, mkdir, rmdir), ``path``, ``extra`` (the kept file of a
# replace or remove, the mode of a removed directory) and ``identity`` (of what this run put at ``path``).
FileChange = collections.namedtuple("FileChange", "op path extra identity")


class FileJournal:
    """The files ``apply`` changed, each change recorded as it is made (within one ``step``, which holds off a
    signal until the change is journaled), and how to put it back exactly.

    A file that is replaced or removed is kept first, as a hard link (replaced) or by renaming it (removed), under a
    hidden name in its own directory (``.<name>.<pid>.hostnet-macvlan-undo``: no network stack reads such a name).
    It is the same inode, so content, mode, owner and extended attributes come back byte for byte. A new file is
    removed again while it is still the one this run wrote; a directory this run created is removed again; a
    directory it removed is made again. ``commit`` drops the kept files; ``rollback`` restores in reverse order and
    never raises."""

    SUFFIX = ".hostnet-macvlan-undo"

    def __init__(self, signals):
        self.signals = signals
        self.entries = []  # FileChange, in the order they were made

    def __len__(self):
        return len(self.entries)

    def step(self):
        return self.signals.step()

    def add(self, op, path, extra=None, identity=None):
        self.entries.append(FileChange(op, path, extra, identity))

    def keep_name(self, path):
        folder, name = posixpath.split(path)
        return posixpath.join(folder, ".%s.%d%s" % (name, os.getpid(), self.SUFFIX))

    def done(self):
        """[{path, state}] of the files changed so far (directories left out), as ``apply`` reports them."""
        states = {"create": "written", "replace": "written", "remove": "removed"}
        return [{"path": change.path, "state": states[change.op]} for change in self.entries if change.op in states]

    def folders(self):
        return {posixpath.dirname(change.path) for change in self.entries}

    def commit(self):
        """The run succeeded: drop the kept files."""
        for change in self.entries:
            if change.op in ("replace", "remove"):
                _unlink_quietly(change.extra)

    def rollback(self):
        """Undo every journaled change, newest first. Returns (restored, problems): lines for the report."""
        restored, problems = [], []
        for op, path, extra, identity in reversed(self.entries):
            try:
                line = self._undo(op, path, extra, identity)
            except OSError as exc:
                problems.append("%s: %s" % (path, exc.strerror or exc))
                continue
            if line.startswith("NOT "):
                problems.append(line[4:])
            elif line:
                restored.append(line)
        for folder in sorted(self.folders()):
            _fsync_dir(folder)
        return restored, problems

    @staticmethod
    def _undo(op, path, extra, identity):
        current = _identity(path)
        if op == "mkdir":
            try:
                os.rmdir(path)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return ""
                raise
            return "%s removed (a directory this run created)" % path
        if op == "rmdir":
            if current is None:
                os.mkdir(path, extra)
                os.chmod(path, extra)
            return "%s made again" % path
        if op == "create":
            if current is None:
                return ""
            if current != identity:
                return "NOT %s: it was changed by someone else after this run wrote it (left as it is)" % path
            os.unlink(path)
            return "%s removed (this run created it)" % path
        if op == "replace":
            kept = _identity(extra)
            if kept is None:
                return "NOT %s: its previous version %s is gone" % (path, extra)
            if current == kept:  # the rename never happened: the file is still the old one
                os.unlink(extra)
                return ""
            if current is not None and current != identity:
                return "NOT %s: it was changed by someone else after this run wrote it (the previous version is %s)" % (
                    path,
                    extra,
                )
            os.rename(extra, path)
            return "%s restored" % path
        # remove
        if _identity(extra) is None:
            return ""  # the rename never happened: the file is still at path
        if current is not None:
            return "NOT %s: someone else wrote it after this run removed it (the previous version is %s)" % (
                path,
                extra,
            )
        os.rename(extra, path)
        return "%s restored (this run had removed it)" % path


def write(base, path, want, journal):
    """Write one file (or symbolic link) atomically: a temporary file in the same directory, fsync, rename; the file
    it replaces is kept for the rollback (``FileJournal``). Returns the directory (the caller fsyncs it once for all
    its files)."""
    if not _persist.inside(base, path):
        raise _persist.PersistError("refusing to write %s: it is not inside %s" % (path, base))
    folder = posixpath.dirname(path)
    _makedirs(base, folder, journal)
    _check_real(base, path)
    found = entry(path)
    if found is not None and found.kind not in ("file", "symlink"):
        raise _persist.PersistError("refusing to write %s: it is a %s" % (path, _KINDS.get(found.kind, found.kind)))
    name = posixpath.basename(path)
    # One step: a signal is held until the file is in place and journaled (or the temporary file is gone).
    with journal.step():
        if "symlink" in want:
            tmp = posixpath.join(folder, ".%s.%d.tmp" % (name, os.getpid()))
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(want["symlink"], tmp)
        else:
            fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(want["content"].encode("utf-8"))
                    handle.flush()
                    os.fchmod(handle.fileno(), want["mode"])
                    os.fsync(handle.fileno())
            except BaseException:
                _unlink_quietly(tmp)
                raise
        try:
            written = _identity(tmp)
            if os.path.lexists(path):
                kept = journal.keep_name(path)
                _unlink_quietly(kept)
                os.link(path, kept, follow_symlinks=False)
                journal.add("replace", path, kept, written)
            else:
                journal.add("create", path, None, written)
            os.rename(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
    return folder


_KINDS = {"dir": "directory", "other": "special file (not a regular file)"}


def _unlink_quietly(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


def remove(base, path, journal):
    if not _persist.inside(base, path):
        raise _persist.PersistError("refusing to remove %s: it is not inside %s" % (path, base))
    _check_real(base, path)
    found = entry(path)
    if found is None:
        return False
    if found.kind == "dir":
        raise _persist.PersistError("refusing to remove %s: it is a directory" % path)
    kept = journal.keep_name(path)
    _unlink_quietly(kept)
    with journal.step():
        journal.add("remove", path, kept)
        os.rename(path, kept)
    return True


def _describe(stepor_want):
    if stepor_want is None:
        return ""
    if isinstance(stepor_want, dict):
        if "symlink" in stepor_want:
            return "symbolic link to %s\n" % stepor_want["symlink"]
        return stepor_want["content"]
    if stepor_want.kind == "symlink":
        return "symbolic link to %s\n" % stepor_want.target
    if stepor_want.kind == "file":
        return stepor_want.content if stepor_want.content is not None else "(unreadable)\n"
    return "(%s)\n" % stepor_want.kind


def _step_error(exc, doing, path):
    """A file step's failure as a PersistError that names the file."""
    if isinstance(exc, _persist.PersistError):
        return exc
    return _persist.PersistError("%s %s failed: %s" % (doing, path, exc.strerror or exc))


def apply(plan, listing, changes, backend, settings):
    """Write and remove what the drift report lists, as one transaction: any failure (an error, a signal) undoes
    every change already made, then raises PersistError with the cause and what was restored. Returns [{path,
    state}] of what was done."""
    signals = Signals()
    journal = FileJournal(signals)
    try:
        with signals:
            try:
                done = _apply(plan, listing, changes, backend, settings, journal)
            except BaseException as exc:
                signals.rolling_back = True
                _rollback(exc, journal)
    except Interrupted as exc:  # between the failure and the rollback's start
        _rollback(exc, journal)
    journal.commit()
    return done


def _apply(plan, listing, changes, backend, settings, journal):
    done = []
    folders = set()
    for path, state in changes:
        if state in ("missing", "differs"):
            try:
                folders.add(write(plan.bases[path], path, plan.files[path], journal))
            except (OSError, _persist.PersistError) as exc:
                raise _step_error(exc, "writing", path) from None
            done.append({"path": path, "state": "written"})
    for path, state in changes:
        if state != "extra":
            continue
        try:
            removed = remove(plan.bases[path], path, journal)
        except (OSError, _persist.PersistError) as exc:
            raise _step_error(exc, "removing", path) from None
        if removed:
            folders.add(posixpath.dirname(path))
            done.append({"path": path, "state": "removed"})
    if backend == "networkd":
        for folder in _networkd.prune_dirs(plan, listing, settings.prefix, settings.dirs["networkd_dir"]):
            try:
                info = os.lstat(folder)
            except OSError:
                continue
            if not stat.S_ISDIR(info.st_mode):
                continue
            with journal.step():
                try:
                    os.rmdir(folder)  # refused while anything (of any prefix) is still in it
                except OSError:
                    continue
                journal.add("rmdir", folder, stat.S_IMODE(info.st_mode))
            folders.add(posixpath.dirname(folder))
    # The renames and unlinks reach the disk with one fsync of each directory they changed.
    for folder in sorted(folders | journal.folders()):
        _fsync_dir(folder)
    return done


class RolledBack(_persist.PersistError):
    """A failed write or removal, after the rollback: ``result`` holds the files done and what was restored."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.result = result


def _rollback(exc, journal):
    """Undo the journal; raise RolledBack with the cause and the report."""
    if isinstance(exc, (SystemExit, GeneratorExit)):
        raise exc
    if isinstance(exc, (_persist.PersistError, Interrupted)):
        message = str(exc)
    else:
        message = "persisting failed: %s: %s" % (type(exc).__name__, exc)
    done = journal.done()
    if not journal:
        raise RolledBack("%s. Nothing had been changed" % message, {"files": done}) from None
    restored, problems = journal.rollback()
    result = {"files": done, "rolled_back": _journal.summarize(restored, 200), "not_restored": problems}
    report = _journal.report(restored, problems, "files restored")
    raise RolledBack("%s. Rolled back: %s" % (message, report), result) from None


def reload_stack(module, backend, done, settings):
    """Reload the stack after files changed; returns the commands run."""
    if not done or not settings.reload or not systemd_running():
        return []
    ran = []

    def run(argv):
        rc, out, err = module.run_command(argv)
        if rc != 0:
            raise _persist.PersistError(
                "the files were written, but '%s' failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip())
            )
        ran.append(" ".join([posixpath.basename(argv[0])] + argv[1:]))

    paths = [item["path"] for item in done]
    if backend == "networkd" and unit_active(module, "systemd-networkd.service"):
        networkctl = module.get_bin_path("networkctl")
        if networkctl:
            run([networkctl, "reload"])
    elif backend == "networkmanager":
        nm_dir = settings.dirs["networkmanager_dir"] + "/"
        if any(p.startswith(nm_dir) for p in paths) and unit_active(module, "NetworkManager.service"):
            nmcli = module.get_bin_path("nmcli")
            if nmcli:
                run([nmcli, "connection", "reload"])
        systemd_dir = settings.dirs["systemd_dir"] + "/"
        if any(p.startswith(systemd_dir) for p in paths):
            systemctl = module.get_bin_path("systemctl")
            if systemctl:
                run([systemctl, "daemon-reload"])
    return ran


def resolve_links(links):
    """``parent: default`` and ``mac_address: stable`` as macvlan_state resolves them (the same rules, read on this
    host: its IPv4 default route, its machine id), so the files name what the kernel has."""
    specs = [spec for dummy, spec in links]
    default, stable = _plan.needs_resolving(specs)
    if not (default or stable):
        return
    try:
        machine_id = _netlink.read_machine_id() if stable else None
        snapshots = {}
        if default:
            with _netlink.Session() as session:
                session.open(None)
                snapshots[None] = session.observe(None, addresses=False)
        # prepare() gives every spec netns None: a parent (and a link moved by link_netns) starts in the host's.
        _plan.resolve_links(specs, snapshots, machine_id, ["links[%d]." % i for i, dummy in links])
    except (_plan.PlanError, _model.ModelError, _netlink.NetlinkFailure) as exc:
        raise _persist.PersistError(str(exc)) from None


# --- the module -----------------------------------------------------------------------------------------


def run_persist_module(module):
    """The whole of the ``macvlan_persist`` module."""
    params = module.params
    try:
        settings = Settings(params)
        # Links in a namespace are not persisted (below): nothing of that namespace is resolved here.
        desired = _persist.prepare(params, is_host_namespace, resolve_links if settings.netns is None else None)
        backend = settings.backend
        reason = "asked for"
        if settings.netns is not None:
            if backend != "auto":
                _persist.fail(
                    "netns",
                    settings.netns,
                    "persistence applies to the host namespace only (its network stack recreates the links at "
                    "boot, and a network namespace does not exist then); omit netns, or use backend auto, which "
                    "persists nothing for a namespace",
                )
            _results.exit_json(
                module,
                changed=False,
                backend="none",
                backend_reason="netns %s: persistence applies to the host namespace only" % settings.netns,
                files=[],
                reloaded=[],
                msg="Nothing is persisted: the links are in network namespace %s." % settings.netns,
            )
        if backend == "auto":
            backend, reason = detect(module, settings)
            if backend is None:
                module.warn(
                    "Nothing is persisted: %s. The links exist until the next reboot; set backend to networkd, "
                    "networkmanager or ifupdown to write that stack's files anyway." % reason
                )
                _results.exit_json(module, changed=False, backend="none", backend_reason=reason, files=[], reloaded=[])
        _persist.validate_prefix(settings.prefix, backend)
        if backend == "networkd" and _networkd.needs_systemd_version(desired):
            settings.systemd_version = systemd_version(module)
        if module.check_mode:
            listing, plan = scan_and_plan(backend, desired, settings)
            changes = _persist.drift(plan, listing)
            done = [{"path": path, "state": state} for path, state in changes]
            ran = []
        else:
            with NamespaceLocks([None], timeout=settings.lock_timeout):
                listing, plan = scan_and_plan(backend, desired, settings)
                changes = _persist.drift(plan, listing)
                done = apply(plan, listing, changes, backend, settings)
            ran = reload_stack(module, backend, done, settings)
    except _persist.PersistError as exc:
        _results.fail_json(module, str(exc), **getattr(exc, "result", {}))
    except LockError as exc:
        _results.fail_json(module, str(exc))
    except OSError as exc:
        _results.fail_json(module, "persisting failed: %s" % exc)

    for text in plan.warnings:
        module.warn(text)
    result = {
        "changed": bool(changes),
        "backend": backend,
        "backend_reason": reason,
        "files": done,
        "reloaded": ran,
    }
    if module._diff:
        result["diff"] = [
            {
                "before_header": path,
                "after_header": path,
                "before": _describe(listing.get(path)),
                "after": _describe(plan.files.get(path)) if state != "extra" else "",
            }
            for path, state in changes
        ]
    _results.exit_json(module, **result)
