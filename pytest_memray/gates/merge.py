"""``merge``: one ``--memray-json`` document from the documents of several shards.

Every input is a shard: the document of a CI matrix job, of a pytest-split group, or of one
pytest run over xdist workers (its ``run.workers`` say which). The merged document lists them
under ``shards.merged`` (each input as given, its number of tests, rootdir and workers; an
input that was itself merged contributes its own list), and ``shards.expected`` holds how many
shards the suite is split into when the user says so (``--expect``), or what the inputs said.
``compare`` and the baseline gate refuse a document whose count of shards differs from the
expected one: the tests of a missing shard would otherwise pass without being compared.

The shards must share the backend: peaks measured differently are not comparable. Documents of
layout versions 2 and 3 are read; the output is version 3. The first document gives the merged
one its header (plugin, backend, Python details and ``run``); the tests are concatenated in
input order. A test listed by two inputs is an error, unless ``prefer_last`` lets the later
input's entry replace the earlier one in place; an input all of whose tests were in earlier
inputs is then a re-run, recorded with ``"rerun": true`` and not counted as a shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_memray.gates.documents import (
    Document,
    DocumentError,
    Shard,
    Shards,
    check_same_backend,
    upgraded_entry,
)
from pytest_memray.gates.format import SCHEMA_VERSION


@dataclass(frozen=True)
class Merged:
    """The merged document, notes worth printing about the inputs, and why it is incomplete
    (None when it is not)."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    incomplete: str | None = None


def _describe(document: Document) -> tuple[object, object, object]:
    raw = document.raw
    backend = raw.get("backend")
    python = raw.get("python")
    return (
        backend.get("version") if isinstance(backend, dict) else None,
        python.get("version") if isinstance(python, dict) else None,
        python.get("platform") if isinstance(python, dict) else None,
    )


def _expected(documents: Sequence[Document], expected: int | None) -> int | None:
    if expected is not None:
        if expected < 1:
            raise ValueError(f"--expect must be at least 1, got {expected}")
        return expected
    said = {
        document.shards.expected: document.path
        for document in documents
        if document.shards is not None and document.shards.expected is not None
    }
    if len(said) > 1:
        listed = ", ".join(f"{path} expects {count}" for count, path in said.items())
        raise DocumentError(
            list(said.values())[-1],
            f"the inputs disagree on how many shards there are ({listed}); pass --expect",
        )
    return next(iter(said), None)


def merge_documents(
    documents: Sequence[Document], prefer_last: bool = False, expected: int | None = None
) -> Merged:
    """Merge ``documents``; raises ``DocumentError`` for mixed backends or duplicate tests."""
    if not documents:
        raise ValueError("merge needs at least one document")
    first = documents[0]
    tests: dict[str, Any] = {}
    source: dict[str, str] = {}
    shards: list[Shard] = []
    notes = []
    count = _expected(documents, expected)
    for document in documents:
        check_same_backend(first, document)
        if _describe(document) != _describe(first):
            version, python, platform = _describe(document)
            notes.append(
                f"note: {document.path} was measured with backend version {version}, Python "
                f"{python} on {platform}, unlike {first.path}; its peaks may not be comparable"
            )
        fresh = 0
        for nodeid, entry in document.entries.items():
            if nodeid in tests:
                if not prefer_last:
                    raise DocumentError(
                        document.path,
                        f"test {nodeid} is also in {source[nodeid]}; give each test to one "
                        "shard, or pass --prefer-last to keep the later input's entry",
                    )
            else:
                fresh += 1
            tests[nodeid] = upgraded_entry(entry)
            source[nodeid] = document.path
        own = document.shard_list()
        if document.entries and not fresh:  # every test re-run: not a shard of its own
            own = [replace(shard, rerun=True) for shard in own]
        shards.extend(own)
    record = Shards(tuple(shards), count)
    merged: dict[str, Any] = {"version": SCHEMA_VERSION}
    merged.update(
        (key, value)
        for key, value in first.raw.items()
        if key not in ("version", "run", "shards", "tests")
    )
    merged["run"] = first.raw.get("run") or {"rootdir": first.rootdir, "workers": []}
    merged["shards"] = record.to_json()
    merged["tests"] = list(tests.values())
    return Merged(merged, notes, record.incomplete)
