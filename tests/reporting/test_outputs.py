"""JSON outputs, the suite-wide limit and junit-xml properties."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.gates.format import SCHEMA_FILE

from ..helpers import Runner, requires_xdist

jsonschema = pytest.importorskip("jsonschema")

SUITE = """
import pytest

def test_ten():
    data = bytearray(10 * 1024 * 1024)
    assert data

@pytest.mark.limit_memory("1 MB")
def test_over():
    data = bytearray(3 * 1024 * 1024)

def test_fails():
    assert False

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

def test_skips_inside():
    pytest.skip("decided during the call")
"""


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist", marks=requires_xdist)],
)
def test_json_report_validates_and_holds_every_tracked_test(
    runner: Runner, workers: tuple[str, ...]
) -> None:
    runner.write(SUITE)
    result = runner.run("--memray", "--memray-json=out/memray.json", *workers)
    assert result.ret == 1
    document = _load(runner.pytester.path / "out" / "memray.json")
    jsonschema.validate(document, _load(SCHEMA_FILE))
    assert document["version"] == 2
    assert document["backend"]["name"] == runner.backend
    assert document["backend"]["native_allocations"] is (runner.backend == "memray")
    tests = {test["nodeid"]: test for test in document["tests"]}
    assert set(tests) == {
        "test_subject.py::test_ten",
        "test_subject.py::test_over",
        "test_subject.py::test_fails",
        "test_subject.py::test_skips_inside",
    }
    ten = tests["test_subject.py::test_ten"]
    assert ten["outcome"] == "passed"
    assert ten["peak_bytes"] >= 10 * 1024 * 1024
    assert ten["limit_bytes"] is None
    top = ten["top_locations"][0]
    assert (top["function"], top["line"]) == ("test_ten", 4)
    assert top["file"].endswith("test_subject.py")
    assert top["bytes"] >= 10 * 1024 * 1024
    assert tests["test_subject.py::test_over"]["outcome"] == "failed"
    assert tests["test_subject.py::test_over"]["limit_bytes"] == 1024 * 1024
    assert tests["test_subject.py::test_fails"]["outcome"] == "failed"
    assert tests["test_subject.py::test_skips_inside"]["outcome"] == "skipped"


def test_json_report_from_ini(runner: Runner) -> None:
    runner.pytester.makeini("[pytest]\nmemray_json = results.json\n")
    runner.write(SUITE)
    runner.run("--memray")
    assert (runner.pytester.path / "results.json").exists()


def test_benchmark_feed(runner: Runner) -> None:
    runner.write(SUITE)
    runner.run("--memray", "--memray-benchmark-json=bench.json")
    entries = _load(runner.pytester.path / "bench.json")
    assert isinstance(entries, list)
    names = [entry["name"] for entry in entries]
    assert names == ["test_subject.py::test_ten"]
    assert entries[0]["unit"] == "bytes"
    assert entries[0]["value"] >= 10 * 1024 * 1024
    assert set(entries[0]) == {"name", "unit", "value", "extra"}


def test_json_path_that_is_a_directory(pytester: pytest.Pytester) -> None:
    pytester.mkdir("taken")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--memray", "--memray-json=taken")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-json 'taken' is a directory; give a file name*"])


def test_json_path_under_a_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".txt", blocker="x")
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--memray", "--memray-json=blocker.txt/out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--memray-json '*blocker.txt/out.json' cannot be written*"])


SUITE_LIMITS = """
import pytest

def test_unmarked_heavy():
    data = bytearray(10 * 1024 * 1024)

def test_unmarked_light():
    data = bytearray(1024)

@pytest.mark.limit_memory("50 MB")
def test_own_marker_wins():
    data = bytearray(10 * 1024 * 1024)

@pytest.mark.limit_leaks("50 MB")
def test_leak_marker_wins_too():
    data = bytearray(10 * 1024 * 1024)

@pytest.mark.limit_memory("50 MB")
class TestClassMarker:
    def test_in_class(self):
        data = bytearray(10 * 1024 * 1024)
"""


@pytest.mark.parametrize("how", ["cli", "ini"])
def test_suite_wide_limit_fences_unmarked_tests(runner: Runner, how: str) -> None:
    runner.write(SUITE_LIMITS)
    if how == "ini":
        runner.pytester.makeini("[pytest]\nmemray_limit = 5 MB\n")
        result = runner.run()
    else:
        result = runner.run("--memray-limit=5 MB")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_unmarked_heavy*"])
    result.stdout.fnmatch_lines(["*Test was limited to 5.0MiB but allocated 10.0MiB*"])


@pytest.mark.parametrize("value", ["24 XB", "lots", "-1 MB"])
def test_suite_wide_limit_bad_size_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest(f"--memray-limit={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--memray-limit / memray_limit: invalid memory size {value!r}*"])


@pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist", marks=requires_xdist)],
)
@pytest.mark.parametrize("flags", [("--memray",), ()], ids=["memray", "markers-only"])
def test_junit_records_the_peak(
    runner: Runner, workers: tuple[str, ...], flags: tuple[str, ...]
) -> None:
    runner.write(SUITE)
    runner.run(*flags, "--junitxml=out.xml", *workers)
    tree = ET.parse(runner.pytester.path / "out.xml")
    # the marked test is tracked with or without --memray
    over = tree.find(
        ".//testcase[@name='test_over']/properties/property[@name='memray_peak_bytes']"
    )
    assert over is not None
    assert int(over.get("value", "0")) >= 3 * 1024 * 1024
    if not flags:
        return
    tree = ET.parse(runner.pytester.path / "out.xml")
    prop = tree.find(".//testcase[@name='test_ten']/properties/property[@name='memray_peak_bytes']")
    assert prop is not None
    assert int(prop.get("value", "0")) >= 10 * 1024 * 1024
