"""Bad sizes, marker arguments and option values: a clear message, never an INTERNALERROR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_memray.options import quoted

from .helpers import Runner

GOOD_NEIGHBOUR = """

def test_neighbour():
    assert True
"""


def _assert_no_internal_error(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text


@pytest.mark.parametrize("size", ["24 XB", "-1 MB", "lots"])
@pytest.mark.parametrize("marker", ["limit_memory", "limit_leaks"])
def test_bad_size_errors_only_its_own_test(runner: Runner, size: str, marker: str) -> None:
    source = (
        f"""
import pytest

@pytest.mark.{marker}({size!r})
def test_bad_size():
    pass
"""
        + GOOD_NEIGHBOUR
    )
    result = runner.run_source(source, "--memray")
    _assert_no_internal_error(result)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [f"*test_subject.py::test_bad_size: invalid @pytest.mark.{marker}({size!r})*{size!r}*"]
    )
    assert "MEMRAY REPORT" in result.stdout.str()


@pytest.mark.parametrize(
    ("decorator", "expected"),
    [
        ('limit_memory("1 MB", foo=1)', "*unexpected keyword argument 'foo'*"),
        ("limit_memory()", "*missing a required argument: 'limit'*"),
        ("limit_memory(1024)", "*must be a string such as '24 MB', got int 1024*"),
        ('limit_memory("1 MB", "2 MB")', "*too many positional arguments*"),
        ('limit_memory("1 MB", current_thread_only="yes")', "*current_thread_only must be*"),
        ('limit_leaks("1 MB", filter_fn=3)', "*filter_fn must be callable*"),
        ("limit_leaked_objects(5)", "*too many positional arguments*"),
    ],
)
def test_bad_marker_arguments_name_the_test(runner: Runner, decorator: str, expected: str) -> None:
    source = (
        f"""
import pytest

@pytest.mark.{decorator}
def test_bad_marker():
    pass
"""
        + GOOD_NEIGHBOUR
    )
    result = runner.run_source(source)
    _assert_no_internal_error(result)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_subject.py::test_bad_marker: invalid @pytest.mark.*"])
    result.stdout.fnmatch_lines([expected])


def test_two_memory_markers_on_one_test(runner: Runner) -> None:
    source = (
        """
import pytest

@pytest.mark.limit_memory("1 MB")
@pytest.mark.limit_leaks("1 MB")
def test_two():
    pass
"""
        + GOOD_NEIGHBOUR
    )
    result = runner.run_source(source)
    _assert_no_internal_error(result)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "Only one Memray marker can be applied to each test: test_subject.py::test_two has "
            "@pytest.mark.limit_leaks('1 MB') and @pytest.mark.limit_memory('1 MB') on test_two"
        ]
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stacks", "0"], "*--stacks: '0' must be at least 1*"),
        (["--stacks", "many"], "*--stacks: 'many' is not a whole number*"),
        (["--most-allocations", "-1"], "*--most-allocations: '-1' must be at least 0*"),
        (
            ["--memray-backend", "valgrind"],
            "*--memray-backend / memray_backend: 'valgrind' is not one of auto, memray,*",
        ),
    ],
)
def test_bad_option_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], expected: str
) -> None:
    pytester.makepyfile(GOOD_NEIGHBOUR)
    result = pytester.runpytest("--memray", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    _assert_no_internal_error(result)


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        ("stacks = 0", "*ini option stacks: '0' must be at least 1*"),
        ("most_allocations = lots", "*ini option most_allocations: 'lots' is not a whole*"),
        ("memray_backend = valgrind", "*memray_backend: 'valgrind' is not one of auto, memray,*"),
        ("verbosity_memray = loud", "*ini option verbosity_memray = 'loud'*"),
    ],
)
def test_bad_ini_values_are_usage_errors(
    pytester: pytest.Pytester, ini: str, expected: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(GOOD_NEIGHBOUR)
    result = pytester.runpytest("--memray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    _assert_no_internal_error(result)


def test_a_path_in_a_message_reads_as_typed() -> None:
    r"""repr() shows C:\tmp\out.json as 'C:\\tmp\\out.json', a name the user never typed."""
    assert quoted(r"C:\tmp\out.json") == r"'C:\tmp\out.json'"
    assert quoted(Path("out") / "a.json") == f"'{Path('out') / 'a.json'}'"
    # A quote or a control character would make plain quotes ambiguous: repr() then.
    assert quoted("it's.json") == repr("it's.json")
    assert quoted("a\nb.json") == repr("a\nb.json")


def test_bin_path_that_is_a_file(pytester: pytest.Pytester) -> None:
    target = pytester.makefile(".txt", occupied="x")
    pytester.makepyfile(GOOD_NEIGHBOUR)
    result = pytester.runpytest("--memray", f"--memray-bin-path={target}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # The path as typed, in quotes: one backslash per separator on Windows, not repr()'s two.
    result.stderr.fnmatch_lines([f"*--memray-bin-path '{target}' is a file, not a directory*"])


def test_bin_path_that_cannot_be_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = pytester.mkdir("locked")
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and geteuid() != 0:
        folder.chmod(0o500)
    else:  # root writes anywhere: make the write probe fail as a read-only folder would

        def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("pytest_memray.files.tempfile.mkstemp", refuse)
    pytester.makepyfile(GOOD_NEIGHBOUR)
    try:
        result = pytester.runpytest("--memray", f"--memray-bin-path={folder}")
    finally:
        folder.chmod(0o700)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--memray-bin-path '{folder}' is not writable: Permission denied*"]
    )


def test_bin_path_is_created(pytester: pytest.Pytester) -> None:
    target = Path(pytester.path) / "new" / "captures"
    pytester.makepyfile(GOOD_NEIGHBOUR)
    result = pytester.runpytest("--memray", f"--memray-bin-path={target}")
    assert result.ret == 0
    assert len(list(target.iterdir())) == 1


def test_an_unknown_backend_is_a_usage_error_in_any_session(pytester: pytest.Pytester) -> None:
    """Even a session that measures nothing refuses a misspelt backend, naming it."""
    pytester.makepyfile(GOOD_NEIGHBOUR)
    result = pytester.runpytest("--memray-backend=tracemaloc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*memray_backend: 'tracemaloc' is not one of auto, memray,*"])


def test_parts_that_cannot_start_fail_every_marked_test(pytester: pytest.Pytester) -> None:
    """Without --memray the parts start at the first marked test; when they cannot, every
    marked test fails with the reason, none passes unchecked, unmarked tests run."""
    pytester.makefile(".txt", blocker="x")
    pytester.makepyfile(
        """
import pytest

@pytest.mark.limit_memory("1 MB")
def test_first():
    pass

def test_unmarked():
    pass

@pytest.mark.limit_leaks("1 MB")
def test_second():
    pass
"""
    )
    result = pytester.runpytest("--memray-bin-path=blocker.txt/captures", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=2)
    assert result.stdout.str().count("pytest-memray could not measure this test's memory") >= 2
    _assert_no_internal_error(result)
