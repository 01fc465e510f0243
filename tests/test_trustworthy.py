"""Figures are measured and exact, or marked as not measured with the reason: crashes, Ctrl-C,
a full disk, every kind of test item, and the smaller holes found by trying hard."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import pytest_memray

from .helpers import (
    Runner,
    report_blocks,
    requires_memray,
    requires_subprocess,
    requires_xdist,
)

MIB = 1024 * 1024
posix_only = pytest.mark.skipif(
    sys.platform in ("win32", "emscripten", "wasi"),
    reason="needs POSIX processes, signals and rlimits",
)


def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _tests(path: Path) -> dict[str, dict[str, Any]]:
    return {test["nodeid"]: test for test in _document(path)["tests"]}


def _default_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_isolated(
    pytester: pytest.Pytester, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest in a process of its own, in a session (process group) of its own, so that it can
    signal its whole group the way a terminal's Ctrl-C does. Ctrl-C is given its default
    action back: a shell's background job (``.ci/run &``) starts with it ignored, and Python
    would then keep ignoring it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
        preexec_fn=_default_ctrl_c if os.name == "posix" else None,
        env={**os.environ, **(env or {})},
    )


# -- a crashed xdist worker ------------------------------------------------------------------

CRASHING = "\n".join(
    f"def test_{i:02d}():\n    data = bytearray({(i + 1) * 100_000})\n"
    if i != 24
    else "def test_24():\n    import ctypes\n    ctypes.string_at(0)\n"
    for i in range(50)
)


@posix_only
@requires_xdist
def test_a_crashed_worker_loses_no_finished_test(pytester: pytest.Pytester, backend: str) -> None:
    pytester.makepyfile(test_crash=CRASHING)
    scratch = pytester.mkdir("scratch")
    result = _run_isolated(
        pytester,
        ["-n", "2", "--memray", f"--memray-backend={backend}", "--memray-json=out.json"],
        env={"TMPDIR": str(scratch)},
    )
    assert "crashed while running 'test_crash.py::test_24'" in result.stdout, result.stdout
    tests = _tests(pytester.path / "out.json")
    assert len(tests) == 50
    for i in range(50):
        if i == 24:
            continue
        peak = tests[f"test_crash.py::test_{i:02d}"]["peak_bytes"]
        assert (i + 1) * 100_000 <= peak <= (i + 1) * 100_000 + 64 * 1024, (i, peak)
    # The test that crashed its worker is listed, never dropped: not measured, and why.
    crashed = tests["test_crash.py::test_24"]
    assert crashed["outcome"] == "failed"
    assert crashed["peak_bytes"] is None
    assert re.fullmatch(r"its xdist worker gw\d crashed while it ran", crashed["not_measured"])
    assert "Not measured (1 test): " in result.stdout
    assert list(scratch.iterdir()) == []  # nothing of the workers is left behind


@posix_only
@requires_xdist
def test_a_marked_test_that_crashes_its_worker_is_listed_without_memray(
    pytester: pytest.Pytester, backend: str
) -> None:
    """Without --memray only marked tests are measured: the setup report says this one was to
    be, so its crash is listed (an unmarked one is not measured, so not listed)."""
    pytester.makepyfile(
        test_crash="""
import ctypes

import pytest

@pytest.mark.limit_memory("1 MB")
def test_marked():
    ctypes.string_at(0)

def test_unmarked():
    ctypes.string_at(0)
"""
    )
    result = _run_isolated(
        pytester, ["-n", "2", f"--memray-backend={backend}", "--memray-json=out.json"]
    )
    assert "crashed while running 'test_crash.py::test_marked'" in result.stdout, result.stdout
    assert "crashed while running 'test_crash.py::test_unmarked'" in result.stdout
    tests = _tests(pytester.path / "out.json")
    assert list(tests) == ["test_crash.py::test_marked"]
    assert tests["test_crash.py::test_marked"]["outcome"] == "failed"
    assert "crashed while it ran" in tests["test_crash.py::test_marked"]["not_measured"]


# -- Ctrl-C --------------------------------------------------------------------------------

INTERRUPTED = "\n".join(
    [
        "import os, signal, time",
        *(
            f"def test_{i:02d}():\n"
            f"    data = bytearray({(i + 1) * 100_000})\n"
            "    time.sleep(0.01)\n"
            for i in range(60)
        ),
        "def test_zz_ctrl_c():",
        "    os.killpg(os.getpgrp(), signal.SIGINT)  # a terminal's Ctrl-C: the whole group",
        "    time.sleep(5)",
        *(f"def test_zzz_{i}():\n    time.sleep(0.5)\n" for i in range(4)),
    ]
)


@posix_only
@pytest.mark.parametrize(
    "workers",
    [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist", marks=requires_xdist)],
)
def test_ctrl_c_keeps_every_finished_test(
    pytester: pytest.Pytester, backend: str, workers: list[str]
) -> None:
    pytester.makepyfile(test_ctrl_c=INTERRUPTED)
    result = _run_isolated(
        pytester,
        [*workers, "-rA", "--memray", f"--memray-backend={backend}", "--memray-json=out.json"],
    )
    assert "KeyboardInterrupt" in result.stdout + result.stderr
    tests = _tests(pytester.path / "out.json")
    # What pytest itself says finished (under xdist, the other worker may have been in the
    # middle of a test when the signal came).
    finished = {
        line.split()[1] for line in result.stdout.splitlines() if line.startswith("PASSED ")
    }
    assert len(finished) >= 50, result.stdout
    assert finished <= set(tests), sorted(finished - set(tests))
    # memray sees Python's small objects only as pymalloc's arenas: a test in which the process
    # (any of its threads) needs a fresh one is charged that 1 MiB more, exactly
    arenas = (0, 1024 * 1024) if backend == "memray" else (0,)
    for nodeid in finished:
        size = (int(nodeid[-2:]) + 1) * 100_000
        assert tests[nodeid]["outcome"] == "passed"
        extra = tests[nodeid]["peak_bytes"] - size
        assert any(0 <= extra - arena <= 64 * 1024 for arena in arenas), (nodeid, extra)
    blocks = report_blocks(result.stdout.splitlines())
    assert max(finished) in blocks  # the heaviest finished test heads the report
    for nodeid, test in tests.items():
        if nodeid not in finished:
            assert test["outcome"] != "passed", test


@requires_subprocess
def test_a_test_interrupted_by_keyboard_interrupt_is_never_recorded_as_passed(
    pytester: pytest.Pytester, backend: str
) -> None:
    pytester.makepyfile(
        test_subject="""
def test_first():
    data = bytearray(1024 * 1024)

def test_interrupted():
    data = bytearray(2 * 1024 * 1024)
    raise KeyboardInterrupt
"""
    )
    # In a process of its own: the KeyboardInterrupt would stop this test session too.
    result = _run_isolated(
        pytester, ["--memray", f"--memray-backend={backend}", "--memray-json=out.json"]
    )
    assert result.returncode == pytest.ExitCode.INTERRUPTED
    tests = _tests(pytester.path / "out.json")
    assert tests["test_subject.py::test_first"]["outcome"] == "passed"
    assert tests["test_subject.py::test_interrupted"]["outcome"] == "interrupted"


# -- killed sessions -------------------------------------------------------------------------


@posix_only
@requires_memray
def test_folders_of_dead_sessions_are_removed(pytester: pytest.Pytester) -> None:
    """The memray backend's working folders (tracemalloc keeps none)."""
    scratch = pytester.mkdir("scratch")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid now names no process
    dead = scratch / f"pytest-memray-{gone.pid}-0123abcd"
    alive = scratch / f"pytest-memray-{os.getpid()}-4567cdef"
    unrelated = scratch / "pytest-memray-something-else"
    for folder in (dead, alive, unrelated):
        folder.mkdir()
        (folder / "batch-1.bin").write_bytes(b"x")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = _run_isolated(
        pytester, ["--memray", "--memray-backend=memray"], env={"TMPDIR": str(scratch)}
    )
    assert result.returncode == 0, result.stdout
    assert sorted(path.name for path in scratch.iterdir()) == sorted([alive.name, unrelated.name])


@posix_only
@requires_memray
def test_a_segfault_without_xdist_leaves_a_folder_the_next_session_removes(
    pytester: pytest.Pytester,
) -> None:
    scratch = pytester.mkdir("scratch")
    pytester.makepyfile(test_crash=CRASHING)
    env = {"TMPDIR": str(scratch)}
    crashed = _run_isolated(pytester, ["--memray", "--memray-backend=memray"], env=env)
    assert crashed.returncode < 0 or crashed.returncode > 1  # killed by SIGSEGV
    assert len(list(scratch.iterdir())) == 1
    again = _run_isolated(
        pytester, ["--memray", "--memray-backend=memray", "-k", "test_01"], env=env
    )
    assert again.returncode == 0, again.stdout
    assert list(scratch.iterdir()) == []


# -- a full disk -----------------------------------------------------------------------------

FILE_SIZE_LIMIT = """
import os
import resource

def pytest_configure(config):
    limit = int(os.environ["FILE_SIZE_LIMIT"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
"""

DISK_SUITE = "\n".join(
    [
        "import pytest",
        *(
            f"def test_{i:02d}():\n    data = [bytearray(1000) for _ in range({(i + 1) * 100})]\n"
            for i in range(30)
        ),
        '@pytest.mark.limit_memory("1 MB")',
        "def test_limited():",
        "    data = bytearray(2 * 1024 * 1024)",
    ]
)


@posix_only
@pytest.mark.parametrize("kib", [16, 8])
def test_a_capture_that_cannot_be_written_is_not_measured(
    pytester: pytest.Pytester, backend: str, kib: int
) -> None:
    pytester.makeconftest(FILE_SIZE_LIMIT)
    pytester.makepyfile(test_disk=DISK_SUITE)
    result = _run_isolated(
        pytester,
        ["--memray", f"--memray-backend={backend}", "--most-allocations=0"],
        env={"FILE_SIZE_LIMIT": str(kib * 1024)},
    )
    assert "INTERNALERROR" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    measured = report_blocks(lines)
    if backend == "tracemalloc":  # writes nothing: every figure is measured, the limited too
        assert len(measured) == 31
        assert "Test was limited to 1.0MiB but allocated 2.0MiB" in lines
        return
    # The memray backend cannot write its captures: the tests it could not measure are
    # listed with the reason, and the limit fails saying why instead of passing on 0 B; where
    # the limited test's own capture was written to its end, it fails on its true figure.
    assert (
        "FAILED test_disk.py::test_limited" in result.stdout or "MEMORY PROBLEMS" in result.stdout
    )
    limited_unmeasured = (
        "Test was limited to 1.0MiB, but the memory of this test could not be measured: "
        f"its capture file reached the file size limit of {kib * 1024} bytes (ulimit -f)"
    ) in result.stdout
    assert limited_unmeasured or "Test was limited to 1.0MiB but allocated 2.0MiB" in lines
    listed = [line for line in lines if line.startswith("\t- test_disk.py::")]
    assert len(measured) + len(listed) == 31
    for block in measured.values():
        assert not any("Total memory allocated: 0.0B" in line for line in block)
    assert listed
    assert all(
        f"reached the file size limit of {kib * 1024} bytes (ulimit -f)" in line for line in listed
    )


@posix_only
def test_a_json_file_that_cannot_be_written_is_one_clear_error(
    pytester: pytest.Pytester, backend: str
) -> None:
    pytester.makeconftest(FILE_SIZE_LIMIT)
    pytester.makepyfile(test_many="\n".join(f"def test_{i}():\n    pass\n" for i in range(100)))
    result = _run_isolated(
        pytester,
        ["--memray", f"--memray-backend={backend}", "--memray-json=out.json"],
        # no room for a document of 100 tests
        env={"FILE_SIZE_LIMIT": str(16 * 1024 if backend == "memray" else 4096)},
    )
    assert result.returncode == 1
    path = pytester.path / "out.json"
    assert (
        f"ERROR: pytest-memray could not write {path}: [Errno 27] File too large" in result.stderr
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert not path.exists()
    assert [p.name for p in pytester.path.iterdir() if p.name.endswith(".partial")] == []


# -- every kind of item ------------------------------------------------------------------------

KINDS = '''
import unittest
import pytest

import pytest_memray

class TestCaseKind(unittest.TestCase):
    def setUp(self):
        self.pad = bytearray(1024)

    def test_three_mebibytes(self):
        data = bytearray(3 * 1024 * 1024)

    @pytest.mark.limit_memory("1 MB")
    def test_over_its_limit(self):
        data = bytearray(3 * 1024 * 1024)


def double(x):
    """
    >>> big = bytearray(4 * 1024 * 1024)
    >>> double(2)
    4
    """
    return 2 * x
'''

CUSTOM_ITEMS = """
import pytest

import pytest_memray

class DataItem(pytest.Item):
    def runtest(self):
        blob = bytearray(5 * 1024 * 1024)
        del blob

class DataFile(pytest.File):
    def collect(self):
        yield DataItem.from_parent(self, name="custom")

def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".data":
        return DataFile.from_parent(parent, path=file_path)
"""


def test_unittest_doctest_and_custom_items_are_measured(runner: Runner) -> None:
    runner.write(KINDS, name="test_kinds")
    runner.pytester.makeconftest(CUSTOM_ITEMS)
    (runner.pytester.path / "test_custom.data").write_text("x", encoding="utf-8")
    result = runner.run(
        "--doctest-modules", "--memray", "--most-allocations=0", "--memray-json=out.json"
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "Test was limited to 1.0MiB but allocated 3.0MiB",
            "MEMORY PROBLEMS test_kinds.py::TestCaseKind::test_over_its_limit*",
        ]
    )
    tests = _tests(runner.pytester.path / "out.json")
    expected = {
        "test_kinds.py::TestCaseKind::test_three_mebibytes": 3 * MIB,
        "test_kinds.py::TestCaseKind::test_over_its_limit": 3 * MIB,
        "test_kinds.py::test_kinds.double": 4 * MIB,
        "test_custom.data::custom": 5 * MIB,
    }
    assert set(tests) == set(expected)
    for nodeid, size in expected.items():
        assert size <= tests[nodeid]["peak_bytes"] <= size * 1.2, nodeid


@pytest.mark.skipif(
    sys.platform == "emscripten",
    reason="unittest's asyncio runner cannot start inside Pyodide's loop",
)
def test_async_unittest_methods_are_measured_by_their_own_body(runner: Runner) -> None:
    source = """
import unittest

class AsyncKind(unittest.IsolatedAsyncioTestCase):
    async def test_async_two_mebibytes(self):
        data = bytearray(2 * 1024 * 1024)
"""
    runner.run_source(source, "--memray", "--memray-json=out.json").assert_outcomes(passed=1)
    test = _tests(runner.pytester.path / "out.json")[
        "test_subject.py::AsyncKind::test_async_two_mebibytes"
    ]
    # the body only: not the event loop that unittest starts around it
    assert 2 * MIB <= test["peak_bytes"] <= 2 * MIB + 64 * 1024


def test_memray_limit_applies_to_unittest_tests(runner: Runner) -> None:
    source = """
import unittest

class TestBig(unittest.TestCase):
    def test_three_mebibytes(self):
        data = bytearray(3 * 1024 * 1024)
"""
    result = runner.run_source(source, "--memray-limit=1 MB")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Test was limited to 1.0MiB but allocated 3.0MiB*"])


# -- smaller holes -----------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["--memray"]], ids=["plain", "memray"])
def test_without_the_terminal_plugin(runner: Runner, flags: list[str]) -> None:
    result = runner.run_source(
        "def test_ok():\n    data = bytearray(100)\n", "-p", "no:terminal", *flags
    )
    assert result.ret == 0
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_capture_file_of_a_test_with_a_very_long_id(
    runner: Runner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("captures")
    source = f"""
import pytest

import pytest_memray

@pytest.mark.parametrize("value", ["{"v" * 300}"])
def test_long(value):
    data = bytearray(1024 * 1024)
"""
    result = runner.run_source(source, "--memray", f"--memray-bin-path={folder}")
    result.assert_outcomes(passed=1)
    files = list(folder.iterdir())
    assert len(files) == 1
    assert len(files[0].name.encode()) <= 255
    assert not files[0].name.endswith(".partial")


def test_xfail_and_xpass_have_their_own_outcomes(runner: Runner) -> None:
    source = """
import pytest

import pytest_memray

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False

@pytest.mark.xfail(reason="known", strict=False)
def test_xpasses():
    pass

def test_skips():
    pytest.skip("inside")
"""
    runner.run_source(source, "--memray", "--memray-json=out.json")
    tests = _tests(runner.pytester.path / "out.json")
    assert tests["test_subject.py::test_xfails"]["outcome"] == "xfailed"
    assert tests["test_subject.py::test_xpasses"]["outcome"] == "xpassed"
    assert tests["test_subject.py::test_skips"]["outcome"] == "skipped"


# -- only the test's own bytes -----------------------------------------------------------------

OWN_BYTES = """
import pytest

import pytest_memray

def test_empty():
    pass

def test_empty_again():
    pass

def test_empty_with_a_fixture(tmp_path):
    pass

@pytest.mark.limit_memory("1 KB")
def test_nine_hundred_bytes():
    data = bytearray(900)
"""


@requires_subprocess
def test_the_first_test_of_a_process_is_charged_none_of_the_plugins_first_calls(
    pytester: pytest.Pytester, backend: str
) -> None:
    """The interpreter keeps objects it makes at a function's first call (Python 3.10 the
    frame, 3.12 some 72 bytes): the plugin's own first calls inside the first test's window
    charged them to it on the tracemalloc backend (5.9 KiB on 3.10, 288 bytes on 3.12). In a
    process of its own, so that the first test is the process's first."""
    pytester.makepyfile(test_subject=OWN_BYTES)
    result = _run_isolated(
        pytester, ["--memray", f"--memray-backend={backend}", "--memray-json=out.json"]
    )
    assert result.returncode == 0, result.stdout
    tests = _tests(pytester.path / "out.json")
    assert next(iter(tests)) == "test_subject.py::test_empty"
    for name in ("test_empty", "test_empty_again", "test_empty_with_a_fixture"):
        assert tests[f"test_subject.py::{name}"]["peak_bytes"] == 0, name


@pytest.mark.parametrize("flags", [[], ["--trace-python-allocators"]], ids=["plain", "tpa"])
def test_only_the_tests_own_bytes_are_counted(runner: Runner, flags: list[str]) -> None:
    result = runner.run_source(
        OWN_BYTES, "--memray", "--most-allocations=0", "--memray-json=out.json", *flags
    )
    result.assert_outcomes(passed=4)
    tests = _tests(runner.pytester.path / "out.json")
    for name in ("test_empty", "test_empty_again", "test_empty_with_a_fixture"):
        assert tests[f"test_subject.py::{name}"]["peak_bytes"] == 0, name
    nine_hundred = tests["test_subject.py::test_nine_hundred_bytes"]
    # 900 bytes and the trailing NUL of the buffer (from Python 3.15 the buffer is a bytes
    # object: its header); the object itself where the backend sees Python's small objects
    # one by one (memray sees them only as arenas unless asked).
    buffer = 900 + (sys.getsizeof(b"") if sys.version_info >= (3, 15) else 1)
    header = sys.getsizeof(bytearray())
    if runner.backend == "memray" and not flags:
        header = 0
    assert nine_hundred["peak_bytes"] == buffer + header
    plugin_dir = str(Path(pytest_memray.__file__ or "").parent)
    for test in tests.values():
        for location in test["top_locations"]:
            assert not location["file"].startswith(plugin_dir), location
    for nodeid, block in report_blocks(result.outlines).items():
        assert not any(plugin_dir in line for line in block), (nodeid, block)
