"""The report at the end of a ``--memray`` run, on both backends."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ..helpers import Runner, report_blocks, requires_memray

MEMRAY_PLATFORM = sys.platform.startswith(("linux", "darwin"))

HOLDS_TEN = """
def test_holds_ten():
    data = bytearray(10 * 1024 * 1024)
    assert len(data) > 0

def test_small():
    assert [1, 2, 3]
"""


def test_report_shows_peak_and_allocating_line(runner: Runner) -> None:
    result = runner.run_source(HOLDS_TEN, "--memray")
    assert result.ret == 0
    blocks = report_blocks(result.outlines)
    block = "\n".join(blocks["test_subject.py::test_holds_ten"])
    assert "📦 Total memory allocated: 10.0MiB" in block
    assert "📏 Total allocations:" in block
    assert "📊 Histogram of allocation sizes: |" in block
    assert "test_holds_ten:" in block
    assert "test_subject.py:2 -> 10.0MiB" in block


def test_report_ranks_by_peak_and_lists_the_heaviest_first(runner: Runner) -> None:
    result = runner.run_source(HOLDS_TEN, "--memray")
    blocks = list(report_blocks(result.outlines))
    assert blocks[0] == "test_subject.py::test_holds_ten"
    assert "test_subject.py::test_small" in blocks


def test_helper_that_frees_before_returning_is_named(runner: Runner) -> None:
    source = """
def helper():
    scratch = bytearray(10 * 1024 * 1024)
    return len(scratch)

def test_spike():
    assert helper() == 10 * 1024 * 1024
"""
    result = runner.run_source(source, "--memray")
    block = "\n".join(report_blocks(result.outlines)["test_subject.py::test_spike"])
    assert "Total memory allocated: 10.0MiB" in block
    assert "helper:" in block
    assert "test_subject.py:2 -> 10.0MiB" in block


def test_most_allocations_limits_the_report(runner: Runner) -> None:
    source = "\n".join(
        f"def test_{i}():\n    data = bytearray({i + 1} * 1024 * 1024)\n" for i in range(4)
    )
    result = runner.run_source(source, "--memray", "--most-allocations=2")
    assert list(report_blocks(result.outlines)) == [
        "test_subject.py::test_3",
        "test_subject.py::test_2",
    ]
    result = runner.run("--memray", "--most-allocations=0")
    assert len(report_blocks(result.outlines)) == 4


def test_most_allocations_from_ini_and_cli_wins(runner: Runner) -> None:
    source = "\n".join(
        f"def test_{i}():\n    data = bytearray({i + 1} * 1024 * 1024)\n" for i in range(4)
    )
    runner.pytester.makeini("[pytest]\nmost_allocations = 1\n")
    result = runner.run_source(source, "--memray")
    assert list(report_blocks(result.outlines)) == ["test_subject.py::test_3"]
    result = runner.run("--memray", "--most-allocations=3")
    assert len(report_blocks(result.outlines)) == 3


def test_failed_tests_are_listed_too(runner: Runner) -> None:
    """A failing test is where a user looks for its biggest allocating functions."""
    source = """
def test_fails():
    data = bytearray(10 * 1024 * 1024)
    assert False

def test_passes():
    assert True
"""
    result = runner.run_source(source, "--memray")
    assert result.ret == 1
    blocks = report_blocks(result.outlines)
    assert list(blocks) == ["test_subject.py::test_fails", "test_subject.py::test_passes"]
    assert any(
        "Total memory allocated: 10.0MiB" in line for line in blocks["test_subject.py::test_fails"]
    )


def test_the_report_says_why_it_lists_no_test(runner: Runner) -> None:
    source = "import pytest\n\n@pytest.mark.skip\ndef test_skipped():\n    pass\n"
    result = runner.run_source(source, "--memray")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*MEMRAY REPORT*", "No test to list: no test was measured in this session."]
    )


def test_hide_summary(runner: Runner) -> None:
    result = runner.run_source(HOLDS_TEN, "--memray", "--hide-memray-summary")
    assert result.ret == 0
    assert "MEMRAY REPORT" not in result.stdout.str()


def test_ini_enables_tracking(runner: Runner) -> None:
    runner.pytester.makeini("[pytest]\nmemray = true\n")
    result = runner.run_source(HOLDS_TEN)
    assert "test_subject.py::test_holds_ten" in report_blocks(result.outlines)


def test_no_report_without_memray(runner: Runner) -> None:
    result = runner.run_source(HOLDS_TEN)
    assert result.ret == 0
    assert "MEMRAY REPORT" not in result.stdout.str()
    assert "memray backend" not in result.stdout.str()


def test_header_names_the_backend(runner: Runner) -> None:
    result = runner.run_source(HOLDS_TEN, "--memray")
    result.stdout.fnmatch_lines([f"memray backend: {runner.backend} *"])


def test_auto_header_says_why_it_fell_back(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "memray", None)
    pytester.makepyfile(HOLDS_TEN)
    result = pytester.runpytest("--memray")
    assert result.ret == 0
    expected = "memray is not installed" if MEMRAY_PLATFORM else "memray does not run on this"
    result.stdout.fnmatch_lines(
        [f"memray backend: tracemalloc * auto chose it because {expected}*"]
    )


def test_explicit_memray_where_unavailable_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "memray", None)
    pytester.makepyfile(HOLDS_TEN)
    result = pytester.runpytest("--memray", "--memray-backend=memray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    expected = "memray is not installed" if MEMRAY_PLATFORM else "memray does not run on this"
    result.stderr.fnmatch_lines([f"*memray backend was requested but {expected}*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_ini_backend_and_cli_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmemray_backend = tracemalloc\n")
    pytester.makepyfile(HOLDS_TEN)
    result = pytester.runpytest("--memray")
    result.stdout.fnmatch_lines(["memray backend: tracemalloc *"])


@requires_memray
def test_cli_backend_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmemray_backend = tracemalloc\n")
    pytester.makepyfile(HOLDS_TEN)
    result = pytester.runpytest("--memray", "--memray-backend=memray")
    result.stdout.fnmatch_lines(["memray backend: memray *"])


NATIVE_LIBRARY = r"""
#include <stdlib.h>
#include <string.h>
size_t churn(size_t size) {
    char *block = malloc(size);
    if (block == NULL) return 0;
    memset(block, 1, size);
    size_t first = (size_t)block[0];
    free(block);
    return first;
}
"""

NATIVE_TEST = """
import ctypes

def test_native():
    library = ctypes.CDLL({path!r})
    library.churn.restype = ctypes.c_size_t
    library.churn.argtypes = [ctypes.c_size_t]
    assert library.churn(4 * 1024 * 1024) == 1
"""


def _peak_of(result: pytest.RunResult, nodeid: str) -> float:
    block = report_blocks(result.outlines)[nodeid]
    line = next(text for text in block if "Total memory allocated" in text)
    value = line.split(": ")[1]
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
    number = value.rstrip("BKMGi")
    return float(number) * units[value[len(number) :]]


@pytest.fixture
def native_library(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A shared library whose C code mallocs and frees, built with the system compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("needs a C compiler to build a native library")
    folder = tmp_path_factory.mktemp("native")
    (folder / "churn.c").write_text(NATIVE_LIBRARY)
    target = folder / "libchurn.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O0", "-o", str(target), str(folder / "churn.c")],
        check=True,
    )
    return str(target)


@requires_memray
def test_memray_sees_native_mallocs(pytester: pytest.Pytester, native_library: str) -> None:
    pytester.makepyfile(test_native=NATIVE_TEST.format(path=native_library))
    result = pytester.runpytest("--memray", "--memray-backend=memray")
    assert result.ret == 0
    assert _peak_of(result, "test_native.py::test_native") >= 4 * 1024 * 1024


def test_tracemalloc_does_not_see_native_mallocs(
    pytester: pytest.Pytester, native_library: str
) -> None:
    pytester.makepyfile(test_native=NATIVE_TEST.format(path=native_library))
    result = pytester.runpytest("--memray", "--memray-backend=tracemalloc")
    assert result.ret == 0
    assert _peak_of(result, "test_native.py::test_native") < 1024 * 1024


def test_capture_files_are_kept_and_open(
    runner: Runner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("captures")
    result = runner.run_source(
        HOLDS_TEN, "--memray", f"--memray-bin-path={folder}", "--memray-bin-prefix=run1"
    )
    assert result.ret == 0
    files = sorted(folder.iterdir())
    assert len(files) == 2
    assert all(path.name.startswith("run1-test_subject.py__test_") for path in files)
    result.stdout.fnmatch_lines(
        [f"Created 2 binary dumps at {folder} with prefix run1 (open them with *)"]
    )
    if runner.backend == "memray":
        import memray

        peaks = [memray.FileReader(path).metadata.peak_memory for path in files]
    else:
        import tracemalloc

        peaks = [
            sum(stat.size for stat in tracemalloc.Snapshot.load(str(path)).statistics("lineno"))
            for path in files
        ]
    assert max(peaks) >= 10 * 1024 * 1024


def test_capture_file_of_the_same_name_is_replaced(
    runner: Runner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("captures")
    runner.run_source(HOLDS_TEN, "--memray", f"--memray-bin-path={folder}", "--memray-bin-prefix=p")
    result = runner.run("--memray", f"--memray-bin-path={folder}", "--memray-bin-prefix=p")
    assert result.ret == 0
    assert len(list(folder.iterdir())) == 2
