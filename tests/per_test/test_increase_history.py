"""A corrupt ``--fail-on-increase`` cache entry: one warning, and no history for that test."""

from __future__ import annotations

import json

import pytest

from pytest_memray.per_test.increase_history import cache_key

from ..helpers import Runner

SUITE = """
import pytest

@pytest.mark.limit_memory("100 MB")
def test_one():
    data = bytearray(2 * 1024 * 1024)

@pytest.mark.limit_memory("100 MB")
def test_two():
    data = bytearray(2 * 1024 * 1024)
"""


def _write_entry(pytester: pytest.Pytester, nodeid: str, text: str) -> None:
    """What a hand-edited or truncated cache file holds, byte for byte."""
    path = pytester.path / ".pytest_cache" / "v" / cache_key(nodeid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    "value",
    ["NaN", "Infinity", "-5", "1.5", '"lots"', "true", "null", "[1]"],
)
def test_a_corrupt_entry_warns_once_and_is_no_history(
    runner: Runner, pytester: pytest.Pytester, value: str
) -> None:
    runner.write(SUITE)
    for name in ("test_one", "test_two"):
        _write_entry(pytester, f"test_subject.py::{name}", f'{{"total_allocated_memory": {value}}}')
    result = runner.run("--fail-on-increase")
    result.assert_outcomes(passed=2)
    text = result.stdout.str()
    assert "ValueError" not in text
    assert "could not check this test" not in text
    assert text.count("is unreadable") == 1
    # The key as this system spells it: memray/<nodeid>, or on Windows, where "::" cannot be
    # in a file name, memray/ and the test's capture file name.
    key = cache_key("test_subject.py::test_one")
    result.stdout.fnmatch_lines(
        [
            "*PytestMemrayWarning: --fail-on-increase: the peak recorded in pytest's cache for "
            f"test_subject.py::test_one ({key}) is unreadable*"
        ]
    )
    # The run's peak replaced it: the next run has a history again, and no warning.
    entry = json.loads(
        (pytester.path / ".pytest_cache" / "v" / cache_key("test_subject.py::test_one")).read_text()
    )
    assert entry["total_allocated_memory"] >= 2 * 1024 * 1024
    again = runner.run("--fail-on-increase")
    again.assert_outcomes(passed=2)
    assert "is unreadable" not in again.stdout.str()


def test_an_entry_that_is_not_an_object_is_no_history(
    runner: Runner, pytester: pytest.Pytester
) -> None:
    runner.write(SUITE)
    _write_entry(pytester, "test_subject.py::test_one", "[1, 2, 3]")
    result = runner.run("--fail-on-increase")
    result.assert_outcomes(passed=2)
    assert "is unreadable ([1, 2, 3])" in result.stdout.str()


def test_a_whole_number_written_as_a_float_is_read(
    runner: Runner, pytester: pytest.Pytester
) -> None:
    runner.write(SUITE)
    _write_entry(pytester, "test_subject.py::test_one", '{"total_allocated_memory": 1048576.0}')
    result = runner.run("--fail-on-increase")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Test previously used 1.0MiB but now uses 2.0MiB*"])
    assert "is unreadable" not in result.stdout.str()
