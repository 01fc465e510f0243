"""Saved runs (``--memray-save``, ``--memray-compare``): JSON documents kept in a folder.

Runs are kept under a storage folder (``.memray/`` in the rootdir by default), in one folder
per machine kind: the platform, the Python implementation and version, and the backend, such
as ``linux-CPython-3.11-memray``. Peaks are only comparable within one such folder, so a run
is only ever compared with the runs saved beside it.

Each saved run is the run's ``--memray-json`` document, unchanged, in a file named with a
counter, the git commit (``nogit`` outside a git checkout; ``-dirty`` when the work tree had
uncommitted changes), the UTC date and time, and the name given to ``--memray-save=NAME``::

   .memray/linux-CPython-3.11-memray/0007_1a2b3c4d5e6f_20250314T091500Z.json
   .memray/linux-CPython-3.11-memray/0008_1a2b3c4d5e6f-dirty_20250314T093012Z_big-cache.json

``find_run`` resolves what ``--memray-compare`` was given (``latest``, a counter, a name);
``save_run`` writes a run and applies the retention (``keep``: how many runs a folder keeps).
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_memray.files import write_text

#: The storage folder, relative to the rootdir, unless ``--memray-storage`` names another.
DEFAULT_STORAGE = ".memray"

NO_COMMIT = "nogit"

_FILE_NAME = re.compile(
    r"^(?P<number>\d{4,})_(?P<commit>[0-9a-f]{4,40}|nogit)(?P<dirty>-dirty)?"
    r"_(?P<date>\d{8}T\d{6}Z)(?:_(?P<name>[A-Za-z0-9._-]+))?\.json$"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StorageError(ValueError):
    """A saved run that cannot be found or written; the message says which and why."""


@dataclass(frozen=True)
class SavedRun:
    """One saved run, as its file name describes it."""

    path: Path
    number: int
    commit: str | None
    dirty: bool
    #: UTC, as written in the file name: ``20250314T091500Z``.
    date: str
    name: str | None

    @property
    def label(self) -> str:
        """A short label for tables and charts: ``#7 1a2b3c4`` (``+`` when dirty), the name."""
        label = f"#{self.number}"
        if self.commit is not None:
            label += f" {self.commit[:7]}{'+' if self.dirty else ''}"
        if self.name is not None:
            label += f" {self.name}"
        return label

    @property
    def iso_date(self) -> str:
        """The date as ``2025-03-14 09:15:00 UTC``."""
        d = self.date
        return f"{d[0:4]}-{d[4:6]}-{d[6:8]} {d[9:11]}:{d[11:13]}:{d[13:15]} UTC"


def parse_file_name(path: Path) -> SavedRun | None:
    """The saved run a file name describes; None for a name ``save_run`` would not write."""
    match = _FILE_NAME.match(path.name)
    if match is None:
        return None
    commit = match.group("commit")
    return SavedRun(
        path=path,
        number=int(match.group("number")),
        commit=None if commit == NO_COMMIT else commit,
        dirty=match.group("dirty") is not None,
        date=match.group("date"),
        name=match.group("name"),
    )


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.") or "unknown"


def machine_key(platform: str, implementation: str, python_version: str, backend: str) -> str:
    """The folder name for runs of this kind, e.g. ``linux-CPython-3.11-memray``."""
    major_minor = ".".join(python_version.split(".")[:2])
    return "-".join(_safe(part) for part in (platform, implementation, major_minor, backend))


def check_name(name: str) -> str:
    """``name`` when it can be part of a file name (letters, digits, ``.``, ``_``, ``-``).

    Raises:
        StorageError: naming ``name`` otherwise.
    """
    if not name or _UNSAFE.search(name) or name.startswith(".") or name in ("latest",):
        raise StorageError(
            f"{name!r} cannot name a saved run: use letters, digits, '.', '_' and '-' only, "
            "not starting with '.', and not 'latest'"
        )
    if name.isdigit():
        raise StorageError(f"{name!r} cannot name a saved run: a number means a run's counter")
    return name


def list_runs(folder: Path) -> list[SavedRun]:
    """The runs saved in ``folder`` (one machine kind's), oldest (lowest counter) first."""
    try:
        paths = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    runs = [run for run in map(parse_file_name, paths) if run is not None and run.path.is_file()]
    return sorted(runs, key=lambda run: (run.number, run.date, run.path.name))


def machine_folders(root: Path) -> list[Path]:
    """The folders of ``root`` that hold saved runs, by name."""
    try:
        children = sorted(path for path in root.iterdir() if path.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [child for child in children if list_runs(child)]


def git_state(cwd: Path) -> tuple[str | None, bool]:
    """The commit checked out in ``cwd`` (12 hex digits) and whether tracked files changed;
    ``(None, False)`` where git or a checkout is missing."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if head.returncode != 0:
            return None, False
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None, False
    commit = head.stdout.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{4,40}", commit):
        return None, False
    return commit, status.returncode == 0 and bool(status.stdout.strip())


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def save_run(
    folder: Path,
    text: str,
    *,
    name: str | None = None,
    commit: str | None = None,
    dirty: bool = False,
    date: str | None = None,
    keep: int | None = None,
) -> tuple[SavedRun, list[Path]]:
    """Save a document's ``text`` in ``folder`` under the next counter; with ``keep``, remove
    the oldest runs so that ``keep`` remain. Returns the saved run and the removed files.

    Raises:
        StorageError: when the folder or the file cannot be written.
    """
    if name is not None:
        check_name(name)
    if keep is not None and keep < 1:
        raise StorageError(f"keep must be at least 1, got {keep}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"{folder}: cannot be made: {exc.strerror or exc}") from None
    existing = list_runs(folder)
    number = existing[-1].number + 1 if existing else 1
    stem = f"{number:04d}_{commit or NO_COMMIT}{'-dirty' if dirty and commit else ''}"
    stem += f"_{date or _now()}"
    if name is not None:
        stem += f"_{name}"
    path = folder / f"{stem}.json"
    try:
        write_text(path, text)
    except OSError as exc:
        raise StorageError(f"{path}: cannot be written: {exc.strerror or exc}") from None
    saved = parse_file_name(path)
    assert saved is not None, path
    removed: list[Path] = []
    if keep is not None:
        runs = list_runs(folder)
        for old in runs[: max(0, len(runs) - keep)]:
            try:
                old.path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(
                    f"{old.path}: cannot be removed (keep {keep}): {exc.strerror or exc}"
                ) from None
            removed.append(old.path)
    return saved, removed


def find_run(folder: Path, which: str) -> SavedRun:
    """The saved run ``which`` names in ``folder``: ``latest``, a counter (``7`` or
    ``0007``), a name given to ``--memray-save=NAME`` (its newest run), or a file name.

    Raises:
        StorageError: naming the folder and what it holds when nothing matches.
    """
    runs = list_runs(folder)
    if not runs:
        raise StorageError(
            f"no saved run in {folder} (runs are saved there by --memray-save on this "
            "platform, Python version and backend)"
        )
    which = which.strip()
    if which in ("", "latest"):
        return runs[-1]
    if which.isdigit():
        matches = [run for run in runs if run.number == int(which)]
    else:
        stem = which[:-5] if which.endswith(".json") else which
        matches = [run for run in runs if run.name == which or run.path.stem == stem]
    if not matches:
        shown = ", ".join(run.path.name for run in runs[-5:])
        raise StorageError(
            f"no saved run {which!r} in {folder} ({len(runs)} saved; the newest: {shown})"
        )
    return matches[-1]


def resolve_storage(rootdir: Path, storage: str | None) -> Path:
    """The storage folder: ``storage`` (relative to ``rootdir``) or ``.memray`` there."""
    path = Path(os.path.expanduser(storage or DEFAULT_STORAGE))
    return path if path.is_absolute() else rootdir / path
