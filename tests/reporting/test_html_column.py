"""The "Peak memory" column in pytest-html's report: values, blanks, sort keys, registration."""

from __future__ import annotations

import html
import importlib.util
import json
import re
from typing import Any

import pytest

from ..helpers import requires_xdist

requires_pytest_html = pytest.mark.skipif(
    importlib.util.find_spec("pytest_html") is None, reason="needs pytest-html"
)

# The plugin does not set the attribute yet: this conftest stands in for it.
CONFTEST = """
import pytest
from pytest_memray.reporting.html_column import register_if_available

PEAKS = {"test_small": 900, "test_big": 3 * 1024 * 1024}

def pytest_configure(config):
    config.registered_column = register_if_available(config)

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and item.name in PEAKS:
        report.memray_peak_bytes = PEAKS[item.name]
    return report

def pytest_terminal_summary(terminalreporter, config):
    terminalreporter.write_line(f"column registered: {config.registered_column}")
"""

TESTS = """
def test_small():
    pass

def test_big():
    pass

def test_unmeasured():
    pass
"""


def _report_data(page: str) -> dict[str, Any]:
    match = re.search(r'data-jsonblob="([^"]*)"', page)
    assert match is not None, "no data blob in the report"
    data: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return data


def _row(data: dict[str, Any], name: str) -> dict[str, Any]:
    for nodeid, runs in data["tests"].items():
        if nodeid.endswith(f"::{name}"):
            run: dict[str, Any] = runs[0]
            return run
    raise AssertionError(f"{name} not in the report")


@requires_pytest_html
@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="one-process"),
        pytest.param(["-n", "2"], id="xdist", marks=requires_xdist),
    ],
)
def test_column_shows_peaks_in_human_units_and_sorts_by_bytes(
    pytester: pytest.Pytester, extra: list[str]
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_subject=TESTS)
    result = pytester.runpytest("--html=report.html", "--memray-backend=tracemalloc", *extra)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["column registered: True"])
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    data = _report_data(page)
    header = '<th class="sortable" data-column-type="peakMemory">Peak memory</th>'
    assert header in page
    # The header cell sits where the rows' cell does: before pytest-html's "Links".
    titles = re.findall(r"<th[^>]*>([^<]*)</th>", page)
    assert titles[titles.index("Peak memory") - 1] == "Duration"
    assert titles[titles.index("Peak memory") + 1] == "Links"

    small, big, unmeasured = (
        _row(data, name) for name in ("test_small", "test_big", "test_unmeasured")
    )
    # The cell shows the size; its sort key makes string order the numeric order.
    assert "900.0B</td>" in small["resultsTableRow"][3]
    assert "3.0MiB</td>" in big["resultsTableRow"][3]
    assert unmeasured["resultsTableRow"][3] == '<td class="col-peakMemory"></td>'
    assert unmeasured["peakMemory"] == ""
    assert "" < small["peakMemory"] < big["peakMemory"]
    assert "900" in small["peakMemory"]


@requires_pytest_html
def test_column_is_not_registered_without_pytest_html(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_subject=TESTS)
    result = pytester.runpytest("-p", "no:html", "--memray-backend=tracemalloc")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["column registered: False"])


@requires_pytest_html
def test_registering_twice_adds_one_column(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        CONFTEST + "\ndef pytest_sessionstart(session):\n"
        "    assert not register_if_available(session.config)\n"
    )
    pytester.makepyfile(test_subject=TESTS)
    result = pytester.runpytest("--html=report.html", "--memray-backend=tracemalloc")
    result.assert_outcomes(passed=3)
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert page.count('data-column-type="peakMemory"') == 1
