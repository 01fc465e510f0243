"""junit-xml peaks: how a test is found in the file, and what is added once figures are known."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_memray.reporting.junit import add_peaks, junit_names

from ..helpers import Runner, requires_memray, requires_xdist


@pytest.mark.parametrize(
    ("nodeid", "prefix", "expected"),
    [
        ("test_a.py::test_x", None, {("test_a", "test_x")}),
        ("tests/sub/test_a.py::TestK::test_x", None, {("tests.sub.test_a.TestK", "test_x")}),
        ("test_a.py::test_x[1-a::b]", None, {("test_a", "test_x[1-a::b]")}),
        ("test_a.py::test_x", "ci", {("ci.test_a", "test_x")}),
        ("docs/guide.txt", None, {("", "docs.guide.txt")}),
        ("test_a.py::test_x[\x07\x7f\u0378]", None, {("test_a", "test_x[#x07#x7F\u0378]")}),
        ("test_a.py::test_x[\ufffe]", None, {("test_a", "test_x[#xFFFE]")}),
        # a "[" in the path: pytest 9 and older pytest name it differently
        ("t[1].py::test_x", None, {("t[1]", "test_x"), ("", "t[1].py::test_x")}),
    ],
)
def test_junit_names_follow_junit_xml(
    nodeid: str, prefix: str | None, expected: set[tuple[str, str]]
) -> None:
    assert junit_names(nodeid, prefix) == expected


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="test_a" name="test_kept"><properties>
<property name="memray_peak_bytes" value="5" /></properties></testcase>
<testcase classname="test_a" name="test_late"><properties>
<property name="owner" value="me" /></properties></testcase>
<testcase classname="test_a" name="test_bare"><failure message="x">boom</failure></testcase>
<testcase classname="test_a" name="test_unknown" />
</testsuite></testsuites>
"""


def _peaks(path: Path) -> dict[str, list[str]]:
    tree = ET.parse(path)
    return {
        case.get("name", ""): [
            prop.get("value", "")
            for prop in case.iterfind("properties/property[@name='memray_peak_bytes']")
        ]
        for case in tree.iter("testcase")
    }


def test_add_peaks_fills_only_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    peaks = {"test_a.py::test_kept": 99, "test_a.py::test_late": 7, "test_a.py::test_bare": 11}
    assert add_peaks(path, peaks) == 2
    assert _peaks(path) == {
        "test_kept": ["5"],  # written as the test was reported: left as it is
        "test_late": ["7"],
        "test_bare": ["11"],
        "test_unknown": [],
    }
    tree = ET.parse(path)
    late = tree.find(".//testcase[@name='test_late']/properties")
    assert late is not None
    assert [p.get("name") for p in late] == ["owner", "memray_peak_bytes"]
    bare = tree.find(".//testcase[@name='test_bare']")
    assert bare is not None
    assert [child.tag for child in bare] == ["properties", "failure"]
    assert path.read_text(encoding="utf-8").startswith("<?xml")
    assert not list(tmp_path.glob("*.partial"))


def test_a_name_two_tests_share_gets_no_peak(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    # both are named ("test_a", "test_late") by junit-xml
    peaks = {"test_a.py::test_late": 7, "test_a::test_late": 8, "test_a.py::test_bare": 11}
    assert add_peaks(path, peaks) == 1
    assert _peaks(path)["test_late"] == []


def test_a_test_run_twice_gets_its_peak_on_the_last_run(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="test_a" name="test_flaky"><failure message="x" /></testcase>'
        '<testcase classname="test_a" name="test_flaky" />'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    assert add_peaks(path, {"test_a.py::test_flaky": 42}) == 1
    runs = list(ET.parse(path).iter("testcase"))
    assert [len(list(run.iter("property"))) for run in runs] == [0, 1]


def test_add_peaks_leaves_an_unchanged_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT, encoding="utf-8")
    assert add_peaks(path, {"other.py::test": 1}) == 0
    assert path.read_text(encoding="utf-8") == JUNIT


def test_add_peaks_says_when_the_file_is_not_xml(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text("not xml", encoding="utf-8")
    with pytest.raises(ET.ParseError):
        add_peaks(path, {"test_a.py::test_x": 1})


SUITE = """
import pytest

@pytest.mark.parametrize("megabytes", [1, 3])
def test_sized(megabytes):
    data = bytearray(megabytes * 1024 * 1024)
    assert data

class TestGroup:
    def test_four(self):
        data = bytearray(4 * 1024 * 1024)
        assert data

@pytest.mark.limit_memory("100 MB")
def test_marked():
    data = bytearray(2 * 1024 * 1024)
    assert data
"""


@pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist", marks=requires_xdist)],
)
def test_every_measured_test_gets_its_peak(runner: Runner, workers: tuple[str, ...]) -> None:
    runner.write(SUITE)
    result = runner.run("--memray", "--junitxml=out.xml", "--junitprefix=ci", *workers)
    result.assert_outcomes(passed=4)
    peaks = {
        name: [int(v) for v in values]
        for name, values in _peaks(runner.pytester.path / "out.xml").items()
    }
    assert set(peaks) == {"test_sized[1]", "test_sized[3]", "test_four", "test_marked"}
    mib = 1024 * 1024
    for name, low in [
        ("test_sized[1]", 1),
        ("test_sized[3]", 3),
        ("test_four", 4),
        ("test_marked", 2),
    ]:
        assert len(peaks[name]) == 1
        assert low * mib <= peaks[name][0] < (low + 1) * mib


@requires_memray
def test_junit_xml_keeps_memray_batching(pytester: pytest.Pytester, trackers: list[object]) -> None:
    pytester.makepyfile(test_many=SUITE)
    result = pytester.runpytest(
        "--memray", "--memray-backend=memray", "--junitxml=out.xml", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=4)
    # the three unmarked tests in one batch, the marked one with a Tracker of its own
    assert len(trackers) == 2
    assert all(len(values) == 1 for values in _peaks(pytester.path / "out.xml").values())
