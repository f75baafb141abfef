"""Mirror the collection's source files into another directory.

Usage: python scripts/sync-tree.py DEST

ansible-test must run from a real directory whose path ends in
``ansible_collections/<namespace>/<name>`` (it resolves symlinks), so the
sanity tests run on a copy.  The copy holds exactly what git would see:
tracked files plus untracked files that are not ignored
(``git ls-files -co --exclude-standard``).  Unchanged files are left as they
are; files that no longer exist in the source are removed.  ``tests/output``
in DEST (ansible-test's results and cached virtualenvs) and ``.git`` are kept.

DEST lies inside this repository's ignored .build/, so ansible-test, looking
upwards for version control, would find this repository's git and see no files
at all: make gives DEST a git directory of its own (``git init``, nothing
committed), from which ansible-test lists the untracked, not ignored files.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEEP = (".git", "tests/output")


def source_files():
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "-c", "-o", "--exclude-standard"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    names = {name for name in out.decode().split("\0") if name}
    # tracked files deleted in the work tree are listed by -c; skip them
    return {name for name in names if os.path.lexists(ROOT / name)}


def same(src, dst):
    if src.is_symlink() or dst.is_symlink():
        return src.is_symlink() and dst.is_symlink() and os.readlink(src) == os.readlink(dst)
    if not dst.is_file():
        return False
    s, d = src.stat(), dst.stat()
    return s.st_size == d.st_size and s.st_mtime_ns == d.st_mtime_ns and s.st_mode == d.st_mode


def kept(rel):
    return any(rel == k or rel.startswith(k + "/") for k in KEEP)


def main(dest):
    dest = Path(dest).resolve()
    if dest == ROOT or dest in ROOT.parents:
        sys.exit(f"refusing to sync into {dest}: it contains the source tree")
    wanted = source_files()
    copied = removed = 0
    for rel in sorted(wanted):
        src, dst = ROOT / rel, dest / rel
        if same(src, dst):
            continue
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif os.path.lexists(dst):
            dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
        copied += 1
    if dest.exists():
        for dirpath, dirnames, filenames in os.walk(dest, topdown=False):
            base = Path(dirpath)
            for name in filenames:
                rel = (base / name).relative_to(dest).as_posix()
                if rel not in wanted and not kept(rel):
                    (base / name).unlink()
                    removed += 1
            for name in dirnames:
                path = base / name
                rel = path.relative_to(dest).as_posix()
                if path.is_symlink():
                    if rel not in wanted:
                        path.unlink()
                        removed += 1
                elif not kept(rel) and not any(path.iterdir()):
                    path.rmdir()
    print(f"sync: {dest}: {len(wanted)} files, {copied} copied, {removed} removed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
