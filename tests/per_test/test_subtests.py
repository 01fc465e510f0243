"""Subtests (pytest's ``subtests`` fixture, unittest's ``subTest``): the whole test function
is one measurement, judged once against its own limit; each subtest's report is pytest's."""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
import xml.etree.ElementTree as ET

import pytest

from ..helpers import Runner, report_blocks, requires_xdist

_HAS_SUBTESTS = (
    tuple(int(part) for part in pytest.__version__.split(".")[:1]) >= (9,)
    or importlib.util.find_spec("pytest_subtests") is not None
)
requires_subtests = pytest.mark.skipif(
    not _HAS_SUBTESTS, reason="needs pytest 9's subtests fixture or the pytest-subtests plugin"
)

WORKERS = pytest.mark.parametrize(
    "workers",
    [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist", marks=requires_xdist)],
)

#: Three subtests of 1 MB each, under a 10 MB limit: the published plugin runs it green.
WITHIN = """
import unittest

import pytest

@pytest.mark.limit_memory("10 MB")
def test_fixture(subtests):
    for i in range(3):
        with subtests.test(i=i):
            b = bytearray(1_000_000)

class Case(unittest.TestCase):
    @pytest.mark.limit_memory("10 MB")
    def test_method(self):
        for i in range(3):
            with self.subTest(i=i):
                b = bytearray(1_000_000)
"""

#: Each subtest keeps 3 MB: the test as a whole holds 9 MB at its end, over 6 MB.
OVER = """
import unittest

import pytest

KEPT = []

@pytest.mark.limit_memory("6 MB")
def test_fixture(subtests):
    kept = []
    for i in range(3):
        with subtests.test(i=i):
            kept.append(bytearray(3 * 1024 * 1024))

class Case(unittest.TestCase):
    @pytest.mark.limit_memory("6 MB")
    def test_method(self):
        kept = []
        for i in range(3):
            with self.subTest(i=i):
                kept.append(bytearray(3 * 1024 * 1024))
"""

#: One subtest fails on its own; the test is within its limit.
OWN_FAILURE = """
import pytest

@pytest.mark.limit_memory("10 MB")
def test_fixture(subtests):
    for i in range(3):
        with subtests.test(i=i):
            b = bytearray(1_000_000)
            assert i != 1, "subtest one fails by itself"
"""


@requires_subtests
@WORKERS
@pytest.mark.parametrize("flags", [("--memray",), ()], ids=["memray", "markers-only"])
def test_subtests_within_their_limit_pass(
    runner: Runner, workers: tuple[str, ...], flags: tuple[str, ...]
) -> None:
    result = runner.run_source(WITHIN, *flags, *workers, "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert "could not be measured" not in result.stdout.str()
    assert "SUBFAILED" not in result.stdout.str()
    if flags:
        blocks = report_blocks(result.outlines)
        assert set(blocks) == {
            "test_subject.py::test_fixture",
            "test_subject.py::Case::test_method",
        }


@requires_subtests
@WORKERS
def test_the_test_as_a_whole_is_judged_once_on_its_peak(
    runner: Runner, workers: tuple[str, ...]
) -> None:
    result = runner.run_source(OVER, *workers, "-p", "no:randomly")
    if workers and not _judged_once(result):
        # Under xdist on a loaded CI machine this failed once (Python 3.14/3.15, memray) and
        # was not seen again in over 100 runs here: it is run once more, and the first output
        # is kept as a warning, so that the case is seen, not lost, if it comes again.
        warnings.warn(f"first run not as expected:\n{result.stdout.str()}", stacklevel=1)
        result = runner.run(*workers, "-p", "no:randomly")
    result.assert_outcomes(failed=2)
    assert _judged_once(result), result.stdout.str()


def _judged_once(result: pytest.RunResult) -> bool:
    """Both tests failed once each on their limit, on the 9 MiB they hold, and no subtest is
    charged with it."""
    text = result.stdout.str()
    # Once per test in the failures (the short summary repeats it in full where CI is set).
    failures = text.split("short test summary info")[0]
    try:
        failed = result.parseoutcomes().get("failed")
    except ValueError:  # no summary line: the session did not end
        return False
    return (
        failed == 2
        and failures.count("Test was limited to 6.0MiB but allocated") == 2
        and "SUBFAILED" not in text
        and re.search(r"Test was limited to 6\.0MiB but allocated 9\.\dMiB", text) is not None
    )


@requires_subtests
def test_a_subtests_own_failure_is_reported_as_pytest_reports_it(runner: Runner) -> None:
    result = runner.run_source(OWN_FAILURE, "--memray", "-p", "no:randomly")
    # pytest 9 writes SUBFAILED(i=1), the pytest-subtests plugin on pytest 8 "(i=1) SUBFAIL".
    text = result.stdout.str()
    assert "SUBFAILED(i=1)" in text or "(i=1) SUBFAIL" in text
    assert "AssertionError: subtest one fails by itself" in result.stdout.str()
    assert "Test was limited to" not in result.stdout.str()
    assert "could not be measured" not in result.stdout.str()


@requires_subtests
@WORKERS
def test_the_json_and_junit_hold_each_test_once(runner: Runner, workers: tuple[str, ...]) -> None:
    result = runner.run_source(
        WITHIN, "--memray", "--memray-json=out.json", "--junitxml=out.xml", *workers
    )
    result.assert_outcomes(passed=2)
    document = json.loads((runner.pytester.path / "out.json").read_text(encoding="utf-8"))
    entries = [(test["nodeid"], test["outcome"]) for test in document["tests"]]
    assert sorted(entries) == [
        ("test_subject.py::Case::test_method", "passed"),
        ("test_subject.py::test_fixture", "passed"),
    ]
    assert all(test["peak_bytes"] >= 1_000_000 for test in document["tests"])
    tree = ET.parse(runner.pytester.path / "out.xml")
    peaks = tree.findall(".//property[@name='memray_peak_bytes']")
    assert len(peaks) == 2


@requires_subtests
@WORKERS
def test_the_baseline_gate_judges_the_test_not_its_subtests(
    runner: Runner, workers: tuple[str, ...]
) -> None:
    runner.run_source(WITHIN, "--memray", "--memray-json=base.json").assert_outcomes(passed=2)
    result = runner.run("--memray-baseline=base.json", *workers)
    result.assert_outcomes(passed=2)
    assert "could not be measured" not in result.stdout.str()
