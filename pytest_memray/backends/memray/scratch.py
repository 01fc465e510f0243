"""Where the memray backend keeps its working files, and cleaning up after it.

A session's files live in ``pytest-memray-<session id>`` in the temporary directory: the
main process's at its top, each xdist worker's in a sub-folder named after the worker, where
the collecting process finds what a worker that died left (:meth:`MemrayBackend.recover`).
The folder is removed when the session ends. A session that was killed outright (a segfault,
a timeout that kills the process) cannot remove its own, so every new session first removes
the folders that no live session holds (:func:`remove_abandoned`).

A process id cannot tell that: two containers that share a temporary folder each see only
their own processes, and a session of one would remove a running session's folder of the
other. So every process of a session that uses the folder holds a shared lock
(``fcntl.flock``) on the file ``.lock`` in it for as long as it runs (:func:`hold`); the
kernel releases it when the process ends, however it ends, in any PID namespace. A folder is
removed only when an exclusive lock on that file can be taken. A session folder appears with
its lock file already held (it is made under another name and renamed), so a folder without
the file was left by a version that held none: it is judged by its process id, as then.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path

_PREFIX = "pytest-memray-"
_SESSION_FOLDER = re.compile(rf"^{_PREFIX}(\d+)-[0-9a-f]{{8}}$")
#: The process id of the main process (a single process, or the xdist controller).
MAIN = "main"
#: The file in a session's folder that its live processes hold a shared lock on.
LOCK_FILE = ".lock"


def session_folder(session_id: str) -> Path:
    """The folder of the session ``session_id`` (not created)."""
    return Path(tempfile.gettempdir()) / f"{_PREFIX}{session_id}"


def process_folder(session_id: str, process_id: str) -> Path:
    """The folder of one process of the session (not created)."""
    root = session_folder(session_id)
    return root if process_id == MAIN else root / process_id


def hold(folder: Path) -> int:
    """Make the session folder ``folder`` if needed and hold a shared lock on it for this
    process; returns the lock's file descriptor, for :func:`release` (the lock goes with the
    process otherwise)."""
    lock = folder / LOCK_FILE
    while True:
        if not folder.exists():
            _make_held(folder)
        try:
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            continue  # removed meanwhile: made again
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        try:
            # A cleanup may have removed the folder between opening the file and locking it.
            if os.stat(lock).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


def _make_held(folder: Path) -> None:
    """Make ``folder`` with its lock file in it, at once: under another name, then renamed."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    making = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    (making / LOCK_FILE).touch()
    try:
        making.rename(folder)
    except OSError:  # another process of the session made it first
        shutil.rmtree(making, ignore_errors=True)


def release(descriptor: int) -> None:
    os.close(descriptor)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_abandoned(parent: Path) -> list[Path]:
    """Remove the session folders in ``parent`` that no live process holds."""
    removed: list[Path] = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        match = _SESSION_FOLDER.match(name)
        if match is None:
            continue
        folder = parent / name
        if _abandoned_then_removed(folder, int(match.group(1))):
            removed.append(folder)
    return removed


def _abandoned_then_removed(folder: Path, pid: int) -> bool:
    try:
        descriptor = os.open(folder / LOCK_FILE, os.O_RDWR)
    except FileNotFoundError:
        # Left by a version that held no lock: judged by its process id, as it was then.
        if _alive(pid):
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    except OSError:
        return False  # someone else's folder, or not a folder: not ours to judge
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live process of that session holds it
    else:
        shutil.rmtree(folder, ignore_errors=True)
        return True
    finally:
        os.close(descriptor)


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
