"""The folder where a session's backend keeps its working files, and cleaning up after it.

Each session gets ``pytest-memray-<pid>-<random>`` in the temporary directory (its xdist
workers get a sub-folder each, named after the worker). The folder is removed when the
session ends; a session that was killed outright (a segfault, a timeout that kills the
process) cannot remove its own, so every session first removes the folders of processes that
no longer exist. Nothing is created until a backend needs it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

_PREFIX = "pytest-memray-"
_OWN_FOLDER = re.compile(rf"^{_PREFIX}(\d+)-[0-9a-f]{{8}}$")


def new_session_folder() -> Path:
    """A folder name for this process's session (not created)."""
    return Path(tempfile.gettempdir()) / f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_abandoned(parent: Path) -> list[Path]:
    """Remove the session folders in ``parent`` whose process no longer exists.

    Only on POSIX, where a signal 0 asks whether a process exists (on Windows ``os.kill``
    would end it); the backends that keep files there run on POSIX only.
    """
    removed: list[Path] = []
    if sys.platform == "win32":
        return removed
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        match = _OWN_FOLDER.match(name)
        if match is None or _alive(int(match.group(1))):
            continue
        shutil.rmtree(parent / name, ignore_errors=True)
        removed.append(parent / name)
    return removed


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
