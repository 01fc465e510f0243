"""Reading ``--memray-json`` documents back, for the baseline gate, ``compare`` and ``merge``.

Every field the schema (``json_schema.json``) describes is checked for its type, in layout
versions 2 and 3 alike (keys it does not describe are left alone); whatever is wrong raises
one ``DocumentError`` naming the file and the place (``tests[3].top_locations[0].line``), in
one line: a bad document is never read in part, never a traceback. A file larger than
:data:`.json_file.MAX_DOCUMENT_BYTES`, nested deeper than
:data:`.json_file.MAX_DOCUMENT_DEPTH`, or not UTF-8 is
refused the same way.

A test whose figures are missing keeps the reason it gives (or a plain one when it gives none);
it is never read as a peak of 0 B. Only the peak of a test that passed is a reference for later
runs: one that failed, errored or was skipped may have stopped early.

A merged document (``merge``) lists the shards it was made of, and how many were expected when
the user said so; :attr:`Document.incomplete` says why one that lacks a shard cannot be judged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_memray.gates.checking import Checker, DocumentError, is_int, kind
from pytest_memray.gates.format import READ_VERSIONS, SCHEMA_VERSION
from pytest_memray.gates.json_file import decode, read_text

__all__ = [
    "Document",
    "DocumentError",
    "Entry",
    "Shard",
    "Shards",
    "load_document",
    "parse_document",
]

PathLike = str | os.PathLike[str]

NO_FIGURE = "the document has no peak for it"

#: Outcomes whose peak a later run is judged against: the test's code ran to its end.
REFERENCE_OUTCOMES = frozenset({"passed", "xpassed"})
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "interrupted")

READ_VERSIONS_TEXT = " and ".join(str(version) for version in READ_VERSIONS)


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
class Shard:
    """One input a merged document was made of."""

    source: str
    tests: int
    rootdir: str | None = None
    workers: tuple[str, ...] = ()
    #: Every test of it was in an earlier input (merge --prefer-last): a re-run of part of
    #: the suite, not a shard of its own.
    rerun: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "tests": self.tests,
            "rootdir": self.rootdir,
            "workers": list(self.workers),
        }
        if self.rerun:
            data["rerun"] = True
        return data


@dataclass(frozen=True)
class Shards:
    """The shards of a merged document, and how many were expected (None: not said)."""

    merged: tuple[Shard, ...]
    expected: int | None = None

    @property
    def incomplete(self) -> str | None:
        """Why the document cannot stand for the whole suite; None when it can."""
        counted = [shard for shard in self.merged if not shard.rerun]
        if self.expected is None or len(counted) == self.expected:
            return None
        sources = ", ".join(shard.source for shard in counted)
        if len(counted) < self.expected:
            return (
                f"incomplete: merged from {len(counted)} of the {self.expected} expected "
                f"shards ({sources}), so the tests of the missing shards would pass without "
                "being compared; merge every shard's document"
            )
        return (
            f"merged from {len(counted)} shards ({sources}) but {self.expected} were expected:"
            " the suite was split another way, or a shard was merged twice"
        )

    def to_json(self) -> dict[str, Any]:
        return {"expected": self.expected, "merged": [shard.to_json() for shard in self.merged]}


@dataclass(frozen=True)
class Document:
    """A read and checked document; ``entries`` keep the file's order."""

    path: str
    version: int
    backend: str
    raw: Mapping[str, Any]
    entries: Mapping[str, Entry]
    #: pytest's rootdir for the run that wrote it (test ids are relative to it); None when the
    #: document does not say (version 2).
    rootdir: str | None = None
    #: The xdist workers that ran its tests (empty without xdist, or when not recorded).
    workers: tuple[str, ...] = ()
    #: What it was merged from; None for the document of one pytest run.
    shards: Shards | None = None

    @property
    def incomplete(self) -> str | None:
        """Why this document cannot be judged against (a missing shard); None when it can."""
        return None if self.shards is None else self.shards.incomplete

    def shard_list(self, source: str | None = None) -> list[Shard]:
        """The shards this document stands for: its own list if merged, else itself."""
        if self.shards is not None:
            return list(self.shards.merged)
        return [Shard(source or self.path, len(self.entries), self.rootdir, self.workers)]

    @property
    def measured(self) -> int:
        """How many of its tests have a peak."""
        return sum(1 for entry in self.entries.values() if entry.peak_bytes is not None)


_TEST_KEYS = (
    "nodeid",
    "outcome",
    "peak_bytes",
    "not_measured",
    "allocations",
    "limit_bytes",
    "top_locations",
)
_LOCATION_KEYS = ("function", "file", "line", "bytes", "count")


def _entry(check: Checker, version: int, index: int, item: object) -> Entry:
    where = f"tests[{index}]"
    required = _TEST_KEYS + (("notes",) if version >= 3 else ())
    data = check.obj(where, item, required, ("capture_file",))
    nodeid = check.string(f"{where}.nodeid", data["nodeid"])
    assert nodeid is not None
    if not nodeid:
        raise check.fail(f"{where}.nodeid", "is empty")
    where = f"{where} ({nodeid})"
    outcome = check.string(f"{where}.outcome", data["outcome"])
    if outcome not in OUTCOMES:
        raise check.fail(f"{where}.outcome", f"must be one of {', '.join(OUTCOMES)}, got "
                         f"{kind(outcome)}")  # fmt: skip
    assert outcome is not None
    peak = check.count(f"{where}.peak_bytes", data["peak_bytes"], nullable=True)
    reason = check.string(f"{where}.not_measured", data["not_measured"], nullable=True)
    check.count(f"{where}.allocations", data["allocations"], nullable=True)
    check.count(f"{where}.limit_bytes", data["limit_bytes"], nullable=True)
    check.string(f"{where}.capture_file", data.get("capture_file"), nullable=True)
    for number, location in enumerate(check.array(f"{where}.top_locations", data["top_locations"])):
        at = f"{where}.top_locations[{number}]"
        place = check.obj(at, location, _LOCATION_KEYS)
        check.string(f"{at}.function", place["function"])
        check.string(f"{at}.file", place["file"])
        for key in ("line", "bytes", "count"):
            check.count(f"{at}.{key}", place[key])
    if version >= 3:
        check.strings(f"{where}.notes", data["notes"])
    if reason is not None and peak is not None:
        raise check.fail(where, f"has a peak of {peak} bytes and is marked not measured ({reason})")
    if peak is None and reason is None:
        reason = NO_FIGURE
    return Entry(nodeid, outcome, peak, reason, data)


def _version(check: Checker, data: dict[str, Any]) -> int:
    if "version" not in data:
        raise check.fail(
            "",
            f"not a pytest-memray JSON report (no version; this pytest-memray reads layout "
            f"versions {READ_VERSIONS_TEXT})",
        )
    version = data["version"]
    if isinstance(version, str) and version.strip().isdigit():
        raise check.fail(
            "",
            f"its version is the string {version!r}, not the number {version.strip()}; this "
            f"pytest-memray reads layout versions {READ_VERSIONS_TEXT}, written as numbers",
        )
    if not is_int(version):
        raise check.fail(
            "version",
            f"must be a number, got {kind(version)}; this pytest-memray reads layout versions "
            f"{READ_VERSIONS_TEXT}",
        )
    if version not in READ_VERSIONS:
        raise check.fail(
            "",
            f"a version {version} document, but this pytest-memray reads layout versions "
            f"{READ_VERSIONS_TEXT}; write it again with this version's --memray-json",
        )
    assert isinstance(version, int)
    return version


def _shards(check: Checker, value: object) -> Shards | None:
    if value is None:
        return None
    data = check.obj("shards", value, ("expected", "merged"))
    expected = check.count("shards.expected", data["expected"], nullable=True)
    if expected == 0:
        raise check.fail("shards.expected", "must be at least 1")
    merged = []
    for index, item in enumerate(check.array("shards.merged", data["merged"])):
        where = f"shards.merged[{index}]"
        shard = check.obj(where, item, ("source", "tests"), ("rootdir", "workers", "rerun"))
        source = check.string(f"{where}.source", shard["source"])
        tests = check.count(f"{where}.tests", shard["tests"])
        rootdir = check.string(f"{where}.rootdir", shard.get("rootdir"), nullable=True)
        workers = check.strings(f"{where}.workers", shard.get("workers", []))
        rerun = check.boolean(f"{where}.rerun", shard.get("rerun", False))
        assert source is not None
        assert tests is not None
        merged.append(Shard(source, tests, rootdir, workers, rerun))
    if not merged:
        raise check.fail("shards.merged", "is empty")
    return Shards(tuple(merged), expected)


def parse_document(path: str, data: object) -> Document:
    """Check an already decoded document; ``path`` only names it in errors."""
    check = Checker(path)
    if not isinstance(data, dict):
        raise DocumentError(
            path, f"not a pytest-memray JSON report (the top level is {kind(data)}, not an object)"
        )
    version = _version(check, data)
    optional = ("plugin_version",) + (("run", "shards") if version >= 3 else ())
    check.obj("", data, ("version", "backend", "python", "tests"), optional)
    if "plugin_version" in data:
        check.string("plugin_version", data["plugin_version"])
    backend = check.obj(
        "backend",
        data["backend"],
        ("name", "version", "native_allocations", "thread_ids", "exact_peak"),
        ("fallback_reason",),
    )
    name = check.string("backend.name", backend["name"])
    if not name:
        raise check.fail("backend.name", "is empty")
    check.string("backend.version", backend["version"])
    for key in ("native_allocations", "thread_ids", "exact_peak"):
        check.boolean(f"backend.{key}", backend[key])
    check.string("backend.fallback_reason", backend.get("fallback_reason"), nullable=True)
    python = check.obj("python", data["python"], ("version", "implementation", "platform"))
    for key in ("version", "implementation", "platform"):
        check.string(f"python.{key}", python[key])
    rootdir: str | None = None
    workers: tuple[str, ...] = ()
    if data.get("run") is not None:
        run = check.obj("run", data["run"], ("rootdir",), ("workers",))
        rootdir = check.string("run.rootdir", run["rootdir"], nullable=True)
        workers = check.strings("run.workers", run.get("workers", []))
    shards = _shards(check, data.get("shards"))
    entries: dict[str, Entry] = {}
    for index, item in enumerate(check.array("tests", data["tests"])):
        entry = _entry(check, version, index, item)
        if entry.nodeid in entries:
            raise DocumentError(path, f"lists test {entry.nodeid} twice")
        entries[entry.nodeid] = entry
    return Document(path, version, name, data, entries, rootdir, workers, shards)


def load_document(path: PathLike) -> Document:
    """Read and check the document at ``path``; every problem is one ``DocumentError``."""
    name = os.fspath(path)
    return parse_document(name, decode(name, read_text(name)))


def check_same_backend(first: Document, second: Document) -> None:
    """Refuse two documents measured by different backends, naming both."""
    if first.backend != second.backend:
        raise DocumentError(
            second.path,
            f"measured with the {second.backend} backend, but {first.path} with "
            f"{first.backend}: peaks from different backends are not comparable",
        )


def upgraded_entry(entry: Entry) -> dict[str, Any]:
    """The entry's JSON in the current layout (a version 2 entry gets empty ``notes``)."""
    raw = dict(entry.raw)
    raw.setdefault("notes", [])
    return raw


@dataclass(frozen=True)
class RunEntry:
    """A test of a pytest run, for building a document of the run in memory."""

    nodeid: str
    outcome: str
    peak_bytes: int | None
    not_measured: str | None


def run_document(
    backend: str, entries: Sequence[RunEntry], rootdir: str | None, path: str = "this run"
) -> Document:
    """A document for a run still in memory (the gate's end of session); not checked."""
    tests: dict[str, Entry] = {}
    for item in entries:
        reason = item.not_measured
        if item.peak_bytes is None and reason is None:
            reason = "not measured"
        raw = {"nodeid": item.nodeid, "outcome": item.outcome, "peak_bytes": item.peak_bytes}
        tests[item.nodeid] = Entry(item.nodeid, item.outcome, item.peak_bytes, reason, raw)
    return Document(path, SCHEMA_VERSION, backend, {}, tests, rootdir)
