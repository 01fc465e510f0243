"""The JSON document's schema ties a missing figure to its reason: a test is measured (a peak,
no reason) or not measured (no peak, never 0, and the reason)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_memray.gates.format import SCHEMA_FILE

from .documents import document

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def _with_test(**fields: Any) -> dict[str, Any]:
    doc = document({"t::a": 1024})
    doc["tests"][0].update(fields)
    return doc


@pytest.mark.parametrize(
    "fields",
    [
        {"peak_bytes": 1024, "not_measured": None},
        {"peak_bytes": None, "not_measured": "its xdist worker gw0 crashed while it ran"},
        {"limit_bytes": 2048, "limit_kind": "leaks", "flamegraph": "pages/t.html"},
    ],
    ids=["measured", "not-measured", "limit-and-flamegraph"],
)
def test_what_the_plugin_writes_is_valid(fields: dict[str, Any]) -> None:
    jsonschema.validate(_with_test(**fields), SCHEMA)


@pytest.mark.parametrize(
    "fields",
    [
        {"peak_bytes": 0, "not_measured": "the disk is full"},
        {"peak_bytes": None, "not_measured": None},
        {"limit_kind": "peak"},
    ],
    ids=["zero-for-unmeasured", "no-figure-no-reason", "unknown-limit-kind"],
)
def test_a_figure_that_was_not_measured_is_never_a_number(fields: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_with_test(**fields), SCHEMA)
