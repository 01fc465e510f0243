"""Where the memray backend keeps its working files, and cleaning up after it.

A session's files live in ``pytest-memray-<session id>`` in the temporary directory: the
main process's at its top, each xdist worker's in a sub-folder named after the worker, where
the collecting process finds what a worker that died left (:meth:`MemrayBackend.recover`).
The session id starts with the process id of the process that made it. The folder is removed
when the session ends; a session that was killed outright (a segfault, a timeout that kills
the process) cannot remove its own, so every new session first removes the folders of
processes that no longer exist. Nothing is created until a file is written.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_PREFIX = "pytest-memray-"
_SESSION_FOLDER = re.compile(rf"^{_PREFIX}(\d+)-[0-9a-f]{{8}}$")
#: The process id of the main process (a single process, or the xdist controller).
MAIN = "main"


def session_folder(session_id: str) -> Path:
    """The folder of the session ``session_id`` (not created)."""
    return Path(tempfile.gettempdir()) / f"{_PREFIX}{session_id}"


def process_folder(session_id: str, process_id: str) -> Path:
    """The folder of one process of the session (not created)."""
    root = session_folder(session_id)
    return root if process_id == MAIN else root / process_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_abandoned(parent: Path) -> list[Path]:
    """Remove the session folders in ``parent`` whose process no longer exists."""
    removed: list[Path] = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        match = _SESSION_FOLDER.match(name)
        if match is None or _alive(int(match.group(1))):
            continue
        shutil.rmtree(parent / name, ignore_errors=True)
        removed.append(parent / name)
    return removed


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
