"""``merge``: one ``--memray-json`` document from the documents of several shards.

The shards must share the layout version and the backend: peaks measured differently are
not comparable, so a merged document mixing them would gate on nothing meaningful. The first
document gives the merged one its header (plugin, backend and Python details); the tests are
concatenated in input order. A test listed by two inputs is an error, unless ``prefer_last``
lets the later input's entry replace the earlier one in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_memray.gates.documents import Document, DocumentError, check_same_backend


@dataclass(frozen=True)
class Merged:
    """The merged document, and notes worth printing about the inputs."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _describe(document: Document) -> tuple[object, object, object]:
    raw = document.raw
    backend = raw.get("backend")
    python = raw.get("python")
    return (
        backend.get("version") if isinstance(backend, dict) else None,
        python.get("version") if isinstance(python, dict) else None,
        python.get("platform") if isinstance(python, dict) else None,
    )


def merge_documents(documents: Sequence[Document], prefer_last: bool = False) -> Merged:
    """Merge ``documents``; raises ``DocumentError`` for mixed backends or duplicate tests."""
    if not documents:
        raise ValueError("merge needs at least one document")
    first = documents[0]
    tests: dict[str, Any] = {}
    source: dict[str, str] = {}
    notes = []
    for document in documents:
        check_same_backend(first, document)
        if _describe(document) != _describe(first):
            version, python, platform = _describe(document)
            notes.append(
                f"note: {document.path} was measured with backend version {version}, Python "
                f"{python} on {platform}, unlike {first.path}; its peaks may not be comparable"
            )
        for nodeid, entry in document.entries.items():
            if nodeid in tests and not prefer_last:
                raise DocumentError(
                    document.path,
                    f"test {nodeid} is also in {source[nodeid]}; give each test to one shard, "
                    "or pass --prefer-last to keep the later input's entry",
                )
            tests[nodeid] = dict(entry.raw)
            source[nodeid] = document.path
    merged = dict(first.raw)
    merged["tests"] = list(tests.values())
    return Merged(merged, notes)
