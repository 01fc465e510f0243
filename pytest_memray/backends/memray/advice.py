"""Tests the memray backend measures with a Tracker of their own, remembered across runs.

A batched call is replayed from the batch's capture file in Python; for a call that makes
millions of allocation records that costs more than a Tracker of its own would have (see
:data:`~.backend.ALONE_RECORDS`). The backend notes, for each batched call, whether it was
that heavy, and measures the heavy ones with a Tracker of their own from the next run on.
Only the time changes: the figures are the same either way.

The notes are kept in the folder the plugin gives the backend for that
(:attr:`~pytest_memray.backends.interface.BackendContext.cache_dir`, inside pytest's cache):
one file per process of the session (``main``, or an xdist worker's id), written when the
backend closes. Reading takes every file, oldest first, so a later note about a test wins
whichever process made it; a test that did not run keeps its note. Without pytest's cache
(``-p no:cacheprovider``) nothing is remembered; ``--cache-clear`` forgets it all.
"""

from __future__ import annotations

import json
from pathlib import Path

from pytest_memray.files import write_text

_FILE_PREFIX = "measure-alone-"


class MeasureAloneAdvice:
    """Which tests to measure alone: read at start, noted while replaying, saved at close."""

    def __init__(self, folder: Path | None, process_id: str) -> None:
        self._folder = folder
        self._process_id = process_id
        #: This process's notes: test id -> measure it alone next time; those of its earlier
        #: runs are kept, so that a test measured alone this time (which says nothing about
        #: what a batch would cost) keeps its note.
        self._noted: dict[str, bool] = {}
        self._changed = False
        self._alone = self._read()

    def _read(self) -> frozenset[str]:
        if self._folder is None:
            return frozenset()
        alone: set[str] = set()
        try:
            files = sorted(self._folder.glob(_FILE_PREFIX + "*.json"), key=_modified)
        except OSError:
            return frozenset()
        for path in files:
            try:
                notes = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # not ours to read, or cut short: ignored, and replaced in time
            if not isinstance(notes, dict):
                continue
            own = path.name == self._file_name
            for test_id, heavy in notes.items():
                if heavy is True:
                    alone.add(test_id)
                elif heavy is False:
                    alone.discard(test_id)
                else:
                    continue
                if own:
                    self._noted[test_id] = heavy
        return frozenset(alone)

    @property
    def _file_name(self) -> str:
        return f"{_FILE_PREFIX}{self._process_id}.json"

    def measure_alone(self, test_id: str) -> bool:
        """Whether ``test_id`` made so many records in a batch before that it is measured
        with a Tracker of its own."""
        return test_id in self._alone

    def note(self, test_id: str, heavy: bool) -> None:
        """Note what a batched call of ``test_id`` showed."""
        if test_id and self._noted.get(test_id) is not heavy:
            self._noted[test_id] = heavy
            self._changed = True

    def save(self) -> None:
        """Write this process's notes (nothing without a folder, or when none changed)."""
        if self._folder is None or not self._changed:
            return
        path = self._folder / self._file_name
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            write_text(path, json.dumps(self._noted, sort_keys=True))
        except OSError:
            pass  # only the next run's time depends on it
        self._changed = False


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
