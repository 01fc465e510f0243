"""The HTML report without a browser: escaping, self-containment, data, the command."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from importlib.resources import files
from pathlib import Path

import pytest

from pytest_memray.gates.cli import main
from pytest_memray.gates.documents import parse_document
from pytest_memray.gates.html import report_data
from pytest_memray.gates.html.report import UPLOT_VERSION, json_for_script, safe_link

from .documents import document, write
from .reports import CRASHED, GROWN, HOSTILE, baseline_document, report_html, run_document

VENDOR = Path(str(files("pytest_memray.gates.html").joinpath("vendor")))
VENDORED = {
    "uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
    "uPlot.min.css": "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
}


def _data_of(page: str) -> dict[str, object]:
    match = re.search(
        r'<script type="application/json" id="memray-data">(.*?)</script>', page, re.S
    )
    assert match is not None
    data: dict[str, object] = json.loads(match.group(1))
    return data


def test_vendored_library_is_the_pinned_one() -> None:
    for name, digest in VENDORED.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    header = (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8").splitlines()[0]
    assert f"(v{UPLOT_VERSION})" in header
    assert f"| {UPLOT_VERSION} |" in (VENDOR / "README.md").read_text(encoding="utf-8")
    assert "MIT License" in (VENDOR / "LICENSE.uPlot").read_text(encoding="utf-8")


def test_hostile_ids_stay_text() -> None:
    page = report_html()
    assert "<img" not in page
    assert page.count("</script>") == 3  # the data, the library, the page's script
    tests = _data_of(page)["tests"]
    assert isinstance(tests, list)
    assert HOSTILE in [test["nodeid"] for test in tests]
    assert "</script>" not in json_for_script({"a": "</script><!--"})
    assert json.loads(json_for_script({"a": "</script>\u2028&"})) == {"a": "</script>\u2028&"}


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = report_html()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    assert "default-src &#x27;none&#x27;" in policy.group(1)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 2
    for code in scripts:
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        assert f"sha256-{digest}" in policy.group(1)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page


def test_data_holds_every_test_and_what_is_known_of_it() -> None:
    run = parse_document("run.json", run_document())
    base = parse_document("base.json", baseline_document())
    data = report_data(run, baseline=base)
    tests = {test["nodeid"]: test for test in data["tests"]}
    assert len(tests) == len(run.entries)
    grown = tests[GROWN]
    assert (grown["peak"], grown["baseline"], grown["change"]) == (
        30 * 1024**2,
        10 * 1024**2,
        20 * 1024**2,
    )
    assert grown["headroom"] == 34 * 1024**2
    assert grown["flamegraph"] == "flamegraphs/test_reads_big_file.html"
    assert grown["sites"][0]["function"] == "read_all"
    assert tests[HOSTILE]["flamegraph"] is None  # a javascript: URL is dropped
    crashed = tests[CRASHED]
    assert crashed["peak"] is None
    assert crashed["headroom"] is None
    assert "crashed" in crashed["not_measured"]
    leak = tests["tests/test_leak.py::test_no_leak"]
    assert leak["headroom"] is None
    assert "limit_leaks" in leak["limit_note"]
    unknown = tests["tests/test_io.py::test_small"]  # no limit_kind in the document
    assert unknown["limit"] == 8 * 1024
    assert unknown["headroom"] is None
    assert "does not say" in unknown["headroom_note"]
    comparison = data["comparison"]
    assert comparison["grew_past_allowance"] == 1
    assert [e["nodeid"] for e in comparison["gone"]] == ["tests/test_old.py::test_removed"]
    assert [e["nodeid"] for e in comparison["new"]] == ["tests/test_many.py::test_case[19]"]


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("flame/a.html", True),
        ("https://ci.example/flame.html", True),
        ("file:///tmp/a.html", True),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("data:text/html,x", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_link(url: object, kept: bool) -> None:
    assert (safe_link(url) is not None) is kept


def test_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write(tmp_path / "run.json", run_document())
    base = write(tmp_path / "base.json", baseline_document())
    history = tmp_path / "history"
    history.mkdir()
    write(history / "1.json", baseline_document())
    write(history / "2.json", run_document())
    out = tmp_path / "report.html"
    status = main(["report", run, "--baseline", base, "--history", str(history), "-o", str(out)])
    assert status == 0, capsys.readouterr().err
    data = _data_of(out.read_text(encoding="utf-8"))
    assert data["comparison"] is not None
    assert [r["label"] for r in data["history"]["runs"]] == ["1", "2"]  # type: ignore[index]
    other = write(tmp_path / "tm.json", document({"t::a": 1}, backend="tracemalloc"))
    assert main(["report", run, "--baseline", other, "-o", str(out)]) == 2
    assert "not comparable" in capsys.readouterr().err
    write(history / "3.json", document({"t::a": 1}, backend="tracemalloc"))
    assert main(["report", run, "--history", str(history), "-o", str(out)]) == 2
    assert main(["report", str(tmp_path / "nope.json"), "-o", str(out)]) == 2
