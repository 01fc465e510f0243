"""BMF and CSV: the shapes their readers document, and no not-measured test read as 0."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path

import pytest

from pytest_memray.gates.cli import main
from pytest_memray.gates.documents import parse_document
from pytest_memray.gates.exports import CSV_COLUMNS, bmf_document, csv_text

from .documents import document, make_entry, write

#: Bencher's published JSON Schema of the Bencher Metric Format, restated: an object of
#: benchmark name -> object of measure -> object with a numeric "value" and optional
#: numeric "lower_value" and "upper_value". Benchmark names are at most 1024 characters,
#: measure slugs at most 64.
BMF_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "propertyNames": {"minLength": 1, "maxLength": 1024},
    "additionalProperties": {
        "type": "object",
        "propertyNames": {"minLength": 1, "maxLength": 64},
        "additionalProperties": {
            "type": "object",
            "properties": {
                "value": {"type": "number"},
                "lower_value": {"type": "number"},
                "upper_value": {"type": "number"},
            },
            "required": ["value"],
            "additionalProperties": False,
        },
    },
}


def _check_bmf(metrics: object) -> None:
    """``metrics`` meets :data:`BMF_SCHEMA`: by jsonschema where it is installed, and by hand."""
    if importlib.util.find_spec("jsonschema") is not None:
        import jsonschema  # type: ignore[import-untyped]

        jsonschema.validate(metrics, BMF_SCHEMA)
    assert isinstance(metrics, dict)
    for name, measures in metrics.items():
        assert isinstance(name, str)
        assert 0 < len(name) <= 1024
        assert isinstance(measures, dict)
        assert measures
        for slug, value in measures.items():
            assert isinstance(slug, str)
            assert 0 < len(slug) <= 64
            assert set(value) == {"value"}
            assert isinstance(value["value"], (int, float))
            assert not isinstance(value["value"], bool)


def _document() -> dict[str, object]:
    data = document({})
    crashed = make_entry("t::crashed", (None, "the xdist worker gw1 crashed"))
    failed = make_entry("t::failed", 7 * 1024**2, outcome="failed")
    measured = make_entry('t::param[a,b "c"]', 3 * 1024**2)
    measured["allocations"] = 12
    measured["limit_bytes"] = 4 * 1024**2
    zero = make_entry("t::empty", 0)
    data["tests"] = [measured, crashed, failed, zero]
    return data


def test_bmf_meets_bencher_schema_and_leaves_unmeasured_tests_out() -> None:
    metrics, left_out = bmf_document(parse_document("run.json", _document()))
    _check_bmf(metrics)
    assert metrics == {
        't::param[a,b "c"]': {"peak-memory": {"value": 3 * 1024**2}, "allocations": {"value": 12}},
        "t::empty": {"peak-memory": {"value": 0}},
    }
    assert left_out == [
        "t::crashed: not measured (the xdist worker gw1 crashed)",
        "t::failed: its outcome was failed",
    ]


def test_csv_has_every_test_and_an_empty_cell_for_no_figure() -> None:
    text = csv_text(parse_document("run.json", _document()))
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_id = {row["nodeid"]: row for row in rows}
    assert list(by_id) == ['t::param[a,b "c"]', "t::crashed", "t::failed", "t::empty"]
    assert by_id["t::crashed"]["peak_bytes"] == ""
    assert by_id["t::crashed"]["not_measured"] == "the xdist worker gw1 crashed"
    assert by_id["t::empty"]["peak_bytes"] == "0"
    assert by_id['t::param[a,b "c"]']["limit_bytes"] == str(4 * 1024**2)
    assert by_id["t::failed"]["outcome"] == "failed"
    assert {row["backend"] for row in rows} == {"memray"}


def test_export_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write(tmp_path / "run.json", _document())
    assert main(["export", "--format", "bmf", run]) == 0
    out, err = capsys.readouterr()
    _check_bmf(json.loads(out))
    assert "left out of the BMF file: t::crashed: not measured" in err
    assert main(["export", "--format", "csv", run, "-o", str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").startswith("nodeid,outcome,")
    assert main(["export", "--format", "csv", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
