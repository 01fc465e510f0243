"""Reading ``--memray-json`` documents back, for the baseline gate, ``compare`` and ``merge``.

Only what those three need is checked: the layout version, the backend's name, and each test's
node id, outcome, peak and not-measured reason. Every problem raises ``DocumentError`` naming
the file. A test whose figures are missing keeps the reason it gives (or a plain one when it
gives none); it is never read as a peak of 0 B. Only the peak of a test that passed is a
reference for later runs: one that failed, errored or was skipped may have stopped early.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_memray.gates.format import SCHEMA_VERSION

#: The layout version read here: the one this version writes.
SUPPORTED_VERSION = SCHEMA_VERSION

PathLike = str | os.PathLike[str]

NO_FIGURE = "the document has no peak for it"

#: Outcomes whose peak a later run is judged against: the test's code ran to its end.
REFERENCE_OUTCOMES = frozenset({"passed", "xpassed"})


class DocumentError(ValueError):
    """A document that cannot be used: ``path`` says which, ``reason`` why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    """One test of a document; ``peak_bytes`` is None exactly when ``not_measured`` is set."""

    nodeid: str
    outcome: str
    peak_bytes: int | None
    not_measured: str | None
    raw: Mapping[str, Any]

    @property
    def reference_peak(self) -> int | None:
        """The peak a later run is judged against; None unless the test passed here."""
        return self.peak_bytes if self.outcome in REFERENCE_OUTCOMES else None

    @property
    def no_reference(self) -> str | None:
        """Why there is no ``reference_peak``; None when there is one."""
        if self.not_measured is not None:
            return self.not_measured
        if self.outcome not in REFERENCE_OUTCOMES:
            return f"its outcome was {self.outcome}, so its peak is no reference"
        return None


@dataclass(frozen=True)
class Document:
    """A read and checked document; ``entries`` keep the file's order."""

    path: str
    version: int
    backend: str
    raw: Mapping[str, Any]
    entries: Mapping[str, Entry]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(path: str, index: int, item: object) -> Entry:
    if not isinstance(item, dict):
        raise DocumentError(path, f"tests[{index}] is not an object")
    nodeid = item.get("nodeid")
    if not isinstance(nodeid, str) or not nodeid:
        raise DocumentError(path, f"tests[{index}] has no nodeid")
    where = f"test {nodeid}"
    outcome = item.get("outcome")
    if not isinstance(outcome, str):
        raise DocumentError(path, f"{where} has no outcome")
    peak = item.get("peak_bytes")
    if peak is not None and (not _is_int(peak) or peak < 0):
        raise DocumentError(
            path, f"{where}: peak_bytes must be a non-negative integer or null, got {peak!r}"
        )
    reason = item.get("not_measured")
    if reason is not None and not isinstance(reason, str):
        raise DocumentError(path, f"{where}: not_measured must be a string or null")
    if reason is not None and peak is not None:
        raise DocumentError(
            path, f"{where} has a peak of {peak} bytes and is marked not measured ({reason})"
        )
    if peak is None and reason is None:
        reason = NO_FIGURE
    return Entry(nodeid, outcome, peak, reason, item)


def parse_document(path: str, data: object) -> Document:
    """Check an already decoded document; ``path`` only names it in errors."""
    if not isinstance(data, dict):
        raise DocumentError(path, "not a pytest-memray JSON report (no top-level object)")
    version = data.get("version")
    if not _is_int(version):
        raise DocumentError(path, "not a pytest-memray JSON report (no version)")
    if version != SUPPORTED_VERSION:
        raise DocumentError(
            path,
            f"a version {version} document, but this pytest-memray reads version "
            f"{SUPPORTED_VERSION}; write it again with this version's --memray-json",
        )
    backend = data.get("backend")
    name = backend.get("name") if isinstance(backend, dict) else None
    if not isinstance(name, str) or not name:
        raise DocumentError(path, "has no backend name")
    tests = data.get("tests")
    if not isinstance(tests, list):
        raise DocumentError(path, "has no list of tests")
    entries: dict[str, Entry] = {}
    for index, item in enumerate(tests):
        entry = _entry(path, index, item)
        if entry.nodeid in entries:
            raise DocumentError(path, f"lists test {entry.nodeid} twice")
        entries[entry.nodeid] = entry
    return Document(path, version, name, data, entries)


def load_document(path: PathLike) -> Document:
    """Read and check the document at ``path``."""
    name = os.fspath(path)
    if os.path.isdir(name):  # Windows says "permission denied" when a folder is opened
        raise DocumentError(name, "is a directory, not a JSON report")
    try:
        with open(name, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise DocumentError(name, "no such file") from None
    except IsADirectoryError:
        raise DocumentError(name, "is a directory, not a JSON report") from None
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DocumentError(name, f"cannot be read: {detail}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DocumentError(name, f"not valid JSON: {exc}") from None
    return parse_document(name, data)


def check_same_backend(first: Document, second: Document) -> None:
    """Refuse two documents measured by different backends, naming both."""
    if first.backend != second.backend:
        raise DocumentError(
            second.path,
            f"measured with the {second.backend} backend, but {first.path} with "
            f"{first.backend}: peaks from different backends are not comparable",
        )
