"""``limit_memory`` on both backends, with and without ``--memray``."""

from __future__ import annotations

import pytest

from ..helpers import Runner, assert_current_thread_only, report_blocks, requires_threads

OVER_AND_UNDER = """
import pytest

@pytest.mark.limit_memory("5 MB")
def test_over():
    data = bytearray(10 * 1024 * 1024)
    assert data

@pytest.mark.limit_memory("20 MB")
def test_under():
    data = bytearray(10 * 1024 * 1024)
    assert data
"""


@pytest.mark.parametrize("flags", [(), ("--memray",)], ids=["plain", "memray"])
def test_limit_fails_only_the_test_over_it(runner: Runner, flags: tuple[str, ...]) -> None:
    result = runner.run_source(OVER_AND_UNDER, *flags)
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Test was limited to 5.0MiB but allocated 10.0MiB*",
            "*memray-max-memory*",
            "List of allocations:",
            "*- 10.0MiB allocated here:",
            "*test_over:*test_subject.py:5",
        ]
    )
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_over*"])
    assert ("MEMRAY REPORT" in result.stdout.str()) == bool(flags)


def test_status_letter_is_m(runner: Runner) -> None:
    result = runner.run_source(OVER_AND_UNDER)
    result.stdout.fnmatch_lines(["test_subject.py M.*"])


def test_limit_on_class_and_module(runner: Runner) -> None:
    source = """
import pytest

pytestmark = pytest.mark.limit_memory("5 MB")

def test_module_level():
    data = bytearray(10 * 1024 * 1024)

@pytest.mark.limit_memory("50 MB")
class TestRoomy:
    def test_in_class(self):
        data = bytearray(10 * 1024 * 1024)

    @pytest.mark.limit_memory("1 MB")
    def test_tightened(self):
        data = bytearray(10 * 1024 * 1024)
"""
    result = runner.run_source(source)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "MEMORY PROBLEMS *test_module_level*",
            "MEMORY PROBLEMS *test_tightened*",
        ]
    )


def test_a_test_that_fails_keeps_its_own_failure(runner: Runner) -> None:
    source = """
import pytest

@pytest.mark.limit_memory("1 MB")
def test_broken():
    data = bytearray(10 * 1024 * 1024)
    raise RuntimeError("its own problem")
"""
    result = runner.run_source(source)
    result.assert_outcomes(failed=1)
    assert "its own problem" in result.stdout.str()
    assert "Test was limited to" not in result.stdout.str()


def test_freed_memory_before_peak_still_counts(runner: Runner) -> None:
    source = """
import pytest

def spike():
    scratch = bytearray(10 * 1024 * 1024)
    return len(scratch)

@pytest.mark.limit_memory("5 MB")
def test_spike():
    assert spike()
"""
    result = runner.run_source(source)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Test was limited to 5.0MiB but allocated 10.0MiB*"])


@pytest.mark.parametrize(
    ("verbosity", "shown"),
    [("-1", range(0, 1)), ("0", range(10, 11)), ("1", range(10, 11)), ("2", range(12, 100))],
)
def test_verbosity_memray_controls_the_list(runner: Runner, verbosity: str, shown: range) -> None:
    source = """
import pytest

@pytest.mark.limit_memory("1 KB")
def test_many_sites():
""" + "".join(f"    a{i} = bytearray({i + 1} * 100_000)\n" for i in range(12))
    runner.pytester.makeini(f"[pytest]\nverbosity_memray = {verbosity}\n")
    result = runner.run_source(source)
    result.assert_outcomes(failed=1)
    assert "Test was limited to 1.0KiB" in result.stdout.str()
    assert ("List of allocations:" in result.stdout.str()) == (verbosity != "-1")
    entries = [line for line in result.outlines if "allocated here:" in line]
    assert len(entries) in shown


def test_quiet_flag_gives_the_summary_only(runner: Runner) -> None:
    result = runner.run_source(OVER_AND_UNDER, "-q")
    result.assert_outcomes(passed=1, failed=1)
    assert "Test was limited to 5.0MiB but allocated 10.0MiB" in result.stdout.str()
    assert "List of allocations:" not in result.stdout.str()


def test_stacks_option_shows_more_frames(runner: Runner) -> None:
    source = """
import pytest

def inner():
    return bytearray(10 * 1024 * 1024)

def outer():
    return inner()

@pytest.mark.limit_memory("1 MB")
def test_deep():
    data = outer()
"""
    result = runner.run_source(source, "--stacks=3")
    result.stdout.fnmatch_lines(
        [
            "*- 10.0MiB allocated here:",
            "*inner:*test_subject.py:4",
            "*outer:*test_subject.py:7",
            "*test_deep:*test_subject.py:11",
        ]
    )


def test_fail_on_increase(runner: Runner) -> None:
    template = """
import pytest

@pytest.mark.limit_memory("100 MB")
def test_grows():
    data = bytearray({size} * 1024 * 1024)
"""
    runner.write(template.format(size=2))
    assert runner.run("--fail-on-increase").ret == 0
    # Each rewrite changes the file's length: a same-length file rewritten within the same
    # second could be served from the stale cached bytecode.
    runner.write(template.format(size=16))
    result = runner.run("--fail-on-increase")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["Test previously used 2.0MiB but now uses 16.0MiB"])
    runner.write(template.format(size=1))
    assert runner.run("--fail-on-increase").ret == 0


def test_tests_over_and_under_their_limits_appear_in_the_report(runner: Runner) -> None:
    result = runner.run_source(OVER_AND_UNDER, "--memray")
    assert sorted(report_blocks(result.outlines)) == [
        "test_subject.py::test_over",
        "test_subject.py::test_under",
    ]


@requires_threads
def test_current_thread_only(runner: Runner) -> None:
    source = """
import threading
import pytest

def work(box):
    box.append(bytearray(10 * 1024 * 1024))

@pytest.mark.limit_memory("5 MB", current_thread_only=True)
def test_thread_allocates():
    box = []
    thread = threading.Thread(target=work, args=(box,))
    thread.start()
    thread.join()
"""
    assert_current_thread_only(runner.run_source(source), runner.backend)
