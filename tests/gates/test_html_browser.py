"""The HTML report in a real headless Chromium: it loads without errors, every test is in the
table, sorting and filtering work, the charts draw, and no test id runs as HTML.

Skipped, saying why, where Chromium is not installed (``apt-get install -y chromium``, or
``CHROMIUM=/path/to/chrome``), unless ``PYTEST_MEMRAY_REQUIRE_TOOLS`` is set (as in CI): then
they fail. Off Linux they are skipped even then: they cannot run there. One browser serves
the whole module. With ``PYTEST_MEMRAY_SCREENSHOTS=DIR`` set, a screenshot of the report is
written there (CI keeps it as an artifact).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser import PLATFORM_REASON, REQUIRE_TOOLS, Chromium, find_chromium, unavailable_reason
from .reports import CRASHED, GROWN, HOSTILE, report_html, run_document

MISSING = unavailable_reason()
# A missing Chromium fails the tests where tools are required; a platform they cannot run on
# (Windows, WebAssembly) skips them even there.
pytestmark = pytest.mark.skipif(
    MISSING is not None and (not REQUIRE_TOOLS or PLATFORM_REASON is not None),
    reason=str(MISSING),
)

ROWS = "#tests tbody tr:not(.detail)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    if MISSING is not None:
        pytest.fail(f"PYTEST_MEMRAY_REQUIRE_TOOLS is set, but {MISSING}")
    binary = find_chromium()
    assert binary is not None
    chromium = Chromium(binary)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(report_html(), encoding="utf-8")
    return path


@pytest.fixture
def page(browser: Chromium, report_file: Path) -> Chromium:
    """The report freshly loaded: each test starts from the page as a reader first sees it,
    whatever an earlier test sorted, filtered or opened."""
    browser.open(report_file)
    return browser


def _ids(page: Chromium) -> list[str]:
    ids: list[str] = page.evaluate(
        f"Array.from(document.querySelectorAll({json.dumps(ROWS)}))"
        ".map(tr => tr.getAttribute('data-nodeid'))"
    )
    return ids


def _click(page: Chromium, selector: str) -> None:
    page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


def _toggle(page: Chromium, nodeid: str) -> None:
    """Click the button that opens the test's allocation sites."""
    page.evaluate(
        f"Array.from(document.querySelectorAll({json.dumps(ROWS)}))"
        f".find(tr => tr.getAttribute('data-nodeid') === {json.dumps(nodeid)})"
        ".querySelector('button.toggle').click()"
    )


def _painted(page: Chromium, selector: str) -> int:
    """How many pixels of the chart's canvas are painted."""
    count: int = page.evaluate(
        f"""(() => {{
          const canvas = document.querySelector({json.dumps(selector)} + ' canvas');
          if (!canvas || !canvas.width || !canvas.height) return 0;
          const context = canvas.getContext('2d');
          const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
          return painted;
        }})()"""
    )
    return count


def test_loads_without_errors_and_lists_every_test(page: Chromium) -> None:
    assert page.problems() == []
    expected = [test["nodeid"] for test in run_document()["tests"]]
    assert sorted(_ids(page)) == sorted(expected)
    assert page.evaluate("document.title").startswith("Peak memory per test")
    text: str = page.evaluate("document.body.innerText")
    assert "not measured" in text
    assert "the xdist worker gw1 crashed" in text


def test_no_test_id_runs_as_html(page: Chromium) -> None:
    assert page.evaluate("window.pwned === undefined")
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert HOSTILE in _ids(page)


def test_charts_are_drawn(page: Chromium) -> None:
    assert _painted(page, "#peaks-chart") > 1000
    assert _painted(page, "#trend-chart") > 1000
    legend: str = page.evaluate("document.querySelector('#trend-chart').innerText")
    assert "test_reads_big_file" in legend


def test_sorting(page: Chromium) -> None:
    ids = _ids(page)
    assert ids[0] == GROWN  # by peak, largest first
    assert ids[-1] == CRASHED  # no figure: last
    _click(page, '#tests th[data-key="peak"]')
    ids = _ids(page)
    assert ids[0] == "tests/test_io.py::test_small"
    assert ids[-1] == CRASHED
    _click(page, '#tests th[data-key="nodeid"]')
    assert _ids(page) == sorted(_ids(page))
    assert (
        page.evaluate(
            "document.querySelector('#tests th[data-key=\"nodeid\"]').getAttribute('aria-sort')"
        )
        == "ascending"
    )
    _click(page, '#tests th[data-key="peak"]')  # back to largest first for the other tests


def test_filtering(page: Chromium) -> None:
    def filter_by(text: str, show: str = "all") -> list[str]:
        page.evaluate(
            f"""(() => {{
              const input = document.getElementById('filter');
              input.value = {json.dumps(text)};
              input.dispatchEvent(new Event('input'));
              const select = document.getElementById('show');
              select.value = {json.dumps(show)};
              select.dispatchEvent(new Event('change'));
            }})()"""
        )
        return _ids(page)

    try:
        cases = [f"tests/test_many.py::test_case[{i}]" for i in (19, *range(18, 9, -1), 1)]
        assert filter_by("TEST_CASE[1") == cases  # case-insensitive, still by peak
        assert filter_by("", "not-measured") == [CRASHED]
        assert filter_by("", "failed") == ["tests/test_io.py::test_small"]
        assert filter_by("", "grew")[0] == GROWN
        shown = len(filter_by("io.py"))
        assert shown == 3
        count = page.evaluate("document.getElementById('shown-count').textContent")
        assert count == "3 of 25 tests shown"
    finally:
        filter_by("")


def test_details_show_sites_and_only_safe_links(page: Chromium) -> None:
    _toggle(page, GROWN)
    detail: dict[str, Any] = page.evaluate(
        """(() => {
          const row = document.querySelector('#tests tr.detail');
          const link = row.querySelector('a');
          return {text: row.innerText, href: link && link.getAttribute('href')};
        })()"""
    )
    assert "read_all src/io.py:12" in detail["text"]
    assert detail["href"] == "flamegraphs/test_reads_big_file.html"
    _toggle(page, HOSTILE)
    hrefs = page.evaluate(
        "Array.from(document.querySelectorAll('#tests a')).map(a => a.getAttribute('href'))"
    )
    assert hrefs == ["flamegraphs/test_reads_big_file.html"]


def test_diff_and_trend_sections(page: Chromium) -> None:
    text: str = page.evaluate("document.getElementById('diff-section').innerText")
    assert "1 grew past the allowance" in text
    assert "compared 22 of the" in text
    assert "Improvements (1)" in text
    assert "tests/test_old.py::test_removed" in text
    trend: str = page.evaluate("document.getElementById('trend-table').innerText")
    assert "ccccccc00003 (+20.0MiB)" in trend
    assert page.problems() == []


def test_screenshot(page: Chromium, tmp_path: Path) -> None:
    folder = os.environ.get("PYTEST_MEMRAY_SCREENSHOTS")
    target = Path(folder) if folder else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    shot = target / "html-report.png"
    page.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
