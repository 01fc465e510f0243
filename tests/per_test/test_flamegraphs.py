"""``--memray-flamegraphs``: a page of where a test's memory went, for each test that failed
on its memory (every measured test with ``=all``), linked from the failure and junit-xml."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ..helpers import Runner, requires_memray

SUITE = """
import pytest

@pytest.mark.limit_memory("1 MB")
def test_over():
    kept = [bytearray(100_000) for _ in range(30)]

@pytest.mark.limit_memory("10 MB")
def test_under():
    kept = bytearray(100)

def test_unmarked():
    kept = bytearray(100)
"""


def _pages(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.html"))


def test_a_failing_test_links_to_its_page(runner: Runner) -> None:
    pytester = runner.pytester
    result = runner.run_source(
        SUITE, "--memray-flamegraphs=pages", "--junitxml=out.xml", "--memray-json=out.json"
    )
    result.assert_outcomes(passed=2, failed=1)
    folder = pytester.path / "pages"
    pages = _pages(folder)
    assert len(pages) == 1
    assert pages[0].startswith("test_subject.py__test_over-")
    result.stdout.fnmatch_lines(
        ["*memray flamegraph*", f"where this test's memory went: pages{Path('/')}{pages[0]}"]
    )
    page = (folder / pages[0]).read_text(encoding="utf-8")
    if runner.backend == "memray":
        # memray's page holds the frames recorded since its Tracker started, with their lines.
        assert "bytearray(100_000) for _ in range(30)" in page
    else:
        # tracemalloc's: the sites alive at the peak, with their stacks, newest frame first.
        assert "Where the memory of test_subject.py::test_over went" in page
        assert re.search(
            r"&lt;listcomp&gt;:\S*test_subject.py:5|test_over:\S*test_subject.py:5", page
        )
    prop = ET.parse(pytester.path / "out.xml").find(
        ".//testcase[@name='test_over']/properties/property[@name='memray_flamegraph']"
    )
    assert prop is not None
    assert prop.get("value") == str(folder / pages[0])
    tests = {
        test["nodeid"]: test
        for test in json.loads((pytester.path / "out.json").read_text())["tests"]
    }
    assert tests["test_subject.py::test_over"]["flamegraph"] == str(folder / pages[0])
    assert tests["test_subject.py::test_under"]["flamegraph"] is None
    # The capture files made only for drawing are gone; --memray-bin-path was not given.
    assert list((folder / "captures").iterdir()) == []


def test_all_draws_every_measured_test(runner: Runner) -> None:
    pytester = runner.pytester
    result = runner.run_source(SUITE, "--memray", "--memray-flamegraphs=all:pages")
    result.assert_outcomes(passed=2, failed=1)
    pages = _pages(pytester.path / "pages")
    assert [page.split("-")[0] for page in pages] == [
        "test_subject.py__test_over",
        "test_subject.py__test_under",
        "test_subject.py__test_unmarked",
    ]


@requires_memray
def test_capture_files_kept_with_bin_path_stay(pytester: pytest.Pytester) -> None:
    runner = Runner(pytester, "memray")
    result = runner.run_source(
        SUITE, "--memray-flamegraphs=pages", "--memray-bin-path=captures", "--memray"
    )
    result.assert_outcomes(passed=2, failed=1)
    assert len(_pages(pytester.path / "pages")) == 1
    assert len(list((pytester.path / "captures").glob("*.bin"))) == 3


def test_a_file_in_the_way_is_a_usage_error(runner: Runner) -> None:
    runner.pytester.makefile(".txt", pages="x")
    result = runner.run_source(SUITE, "--memray-flamegraphs=pages.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-flamegraphs 'pages.txt'*is not a folder*"])
