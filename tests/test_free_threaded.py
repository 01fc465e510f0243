"""Several threads allocating at once inside one test.

Written for the free-threaded build of CPython (3.13t, 3.14t), where the threads of a test
truly run in parallel with each other, with the test's own thread and with the plugin's
watchers (the tracemalloc backend's sampler thread, memray's Tracker). They hold on every
build: with the GIL the same code runs interleaved instead.

What they check, on both backends: the test's peak is what its threads held at once (not
less, not counted twice); ``limit_memory`` and ``limit_leaks`` decide on that figure; what
threads leak is listed and what they free is not; and many such tests in one session, with a
thread of the test module allocating all along across the tests' boundaries, each get their
own right figures, with no error of the plugin's (the plugin's own state is shared by the
test's thread, the watchers and pytest's hooks). CI runs this file many times in a row on
the free-threaded build.
"""

from __future__ import annotations

import json
import re
import sys
import sysconfig
from typing import Any

import pytest

from .helpers import Runner, requires_subprocess, requires_threads

pytestmark = requires_threads

MIB = 1024 * 1024
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
#: A free-threaded build running without the GIL (PYTHON_GIL=1 or -X gil=1 turns it on).
GIL_OFF = FREE_THREADED and not getattr(sys, "_is_gil_enabled", lambda: True)()

#: ``run_threads(count, mib)``: ``count`` threads each make a block of ``mib`` MiB, all hold
#: their blocks at the same moment (the test's thread waits a while then), then free them.
THREADS = """
import threading
import time

def _hold(mib, arrived, release):
    block = bytearray(mib * 1024 * 1024)
    arrived.wait()
    release.wait()
    del block

def run_threads(count, mib):
    arrived = threading.Barrier(count + 1)
    release = threading.Barrier(count + 1)
    threads = [
        threading.Thread(target=_hold, args=(mib, arrived, release)) for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    arrived.wait()  # every block is alive now
    time.sleep(0.02)
    release.wait()
    for thread in threads:
        thread.join()
"""


def _document(runner: Runner, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = runner.run("--memray", "--memray-json=out.json", *args)
    document = json.loads((runner.pytester.path / "out.json").read_text(encoding="utf-8"))
    tests = {test["nodeid"].split("::")[-1]: test for test in document["tests"]}
    return result, tests


def _no_plugin_trouble(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    for sign in ("INTERNALERROR", "Traceback", "PytestUnhandledThreadExceptionWarning"):
        assert sign not in text, text


def test_the_peak_is_what_the_threads_held_at_once(runner: Runner) -> None:
    runner.pytester.makepyfile(threads_helper=THREADS)
    runner.write(
        """
from threads_helper import run_threads

def test_four_threads():
    run_threads(4, 4)

def test_eight_threads():
    run_threads(8, 2)
"""
    )
    result, tests = _document(runner)
    result.assert_outcomes(passed=2)
    _no_plugin_trouble(result)
    for name in ("test_four_threads", "test_eight_threads"):
        peak = tests[name]["peak_bytes"]
        assert peak is not None, tests[name]["not_measured"]
        # 16 MiB alive at once; a little more for the threads themselves, never twice it.
        assert 16 * MIB <= peak < 20 * MIB, (name, peak)


def test_limit_memory_holds_for_threads_allocating_at_once(runner: Runner) -> None:
    runner.pytester.makepyfile(threads_helper=THREADS)
    runner.write(
        """
import pytest
from threads_helper import run_threads

@pytest.mark.limit_memory("12 MB")
def test_over():
    run_threads(4, 4)

@pytest.mark.limit_memory("24 MB")
def test_under():
    run_threads(4, 4)
"""
    )
    result = runner.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Test was limited to 12.0MiB but allocated 16.*MiB*"])
    result.stdout.fnmatch_lines(["MEMORY PROBLEMS test_subject.py::test_over*"])
    assert "test_subject.py::test_under" not in "\n".join(
        line for line in result.outlines if line.startswith("MEMORY PROBLEMS")
    )
    _no_plugin_trouble(result)


LEAKING_THREADS = """
import threading
import pytest

KEPT = []
KEPT_LOCK = threading.Lock()

def leak(mib, start):
    start.wait()
    block = bytearray(mib * 1024 * 1024)
    with KEPT_LOCK:
        KEPT.append(block)

def leak_from_threads(count, mib):
    start = threading.Barrier(count)
    threads = [threading.Thread(target=leak, args=(mib, start)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

def churn(rounds, start):
    start.wait()
    for _ in range(rounds):
        block = bytearray(1024 * 1024)
        del block

@pytest.mark.limit_leaks("1 MB")
def test_threads_leak():
    leak_from_threads(4, 2)

@pytest.mark.limit_leaks("16 MB")
def test_threads_leak_under_the_limit():
    leak_from_threads(4, 2)

@pytest.mark.limit_leaks("1 MB")
def test_threads_free_what_they_make():
    start = threading.Barrier(4)
    threads = [threading.Thread(target=churn, args=(50, start)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
"""

_LEAK_ENTRY = re.compile(r"^    - ([\d.]+)(B|KiB|MiB) allocated here:$")


def test_limit_leaks_holds_for_threads_leaking_at_once(runner: Runner) -> None:
    result = runner.run_source(LEAKING_THREADS)
    result.assert_outcomes(passed=2, failed=1)
    _no_plugin_trouble(result)
    result.stdout.fnmatch_lines(
        ["*Test was allowed to leak 1.0MiB per location but at least one location leaked more*"]
    )
    problems = [line for line in result.outlines if line.startswith("MEMORY PROBLEMS")]
    assert problems == [line for line in problems if "::test_threads_leak " in line + " "]
    # Each thread's block is listed, once, whether the backend groups the threads' identical
    # stacks into one location (tracemalloc) or not: 8 MiB in all, made in leak().
    lines = result.outlines
    units = {"B": 1, "KiB": 1024, "MiB": MIB}
    listed = 0.0
    for index, line in enumerate(lines):
        match = _LEAK_ENTRY.match(line)
        if match:
            listed += float(match.group(1)) * units[match.group(2)]
            assert re.match(r"^        leak:.*test_subject\.py:\d+$", lines[index + 1]), lines[
                index + 1
            ]
    assert 8 * MIB <= listed < 9 * MIB, listed


#: Forty tests, each with threads holding a size of its own at once.
MANY = (
    THREADS
    + """
import pytest

@pytest.mark.parametrize("case", range(40))
def test_case(case):
    run_threads(1 + case % 4, 1 + case % 3)
"""
)

#: The same, while a thread of the module allocates and frees small blocks all along, across
#: the tests' starts and ends (when the backend starts and stops measuring).
WITH_BACKGROUND = (
    MANY
    + """
_stop = threading.Event()

def _background():
    while not _stop.is_set():
        blocks = [bytearray(16 * 1024) for _ in range(4)]
        del blocks

_thread = threading.Thread(target=_background, daemon=True)
_thread.start()

@pytest.fixture(scope="module", autouse=True)
def _stop_background():
    yield
    _stop.set()
    _thread.join()
"""
)


@pytest.mark.parametrize(
    "source", [pytest.param(MANY, id="alone"), pytest.param(WITH_BACKGROUND, id="background")]
)
def test_many_threaded_tests_each_get_their_own_figures(runner: Runner, source: str) -> None:
    runner.write(source)
    result, tests = _document(runner, "-q")
    result.assert_outcomes(passed=40)
    _no_plugin_trouble(result)
    assert len(tests) == 40
    wrong = []
    for case in range(40):
        test = tests[f"test_case[{case}]"]
        expected = (1 + case % 4) * (1 + case % 3) * MIB
        # The background thread's four small blocks may be alive at the peak too.
        if test["peak_bytes"] is None or not expected <= test["peak_bytes"] < expected + 3 * MIB:
            wrong.append((case, expected, test["peak_bytes"], test["not_measured"]))
    assert not wrong, wrong


GIL_CHECK = """
import sys
import threading

def test_gil_is_still_off():
    threads = [threading.Thread(target=bytearray, args=(1024 * 1024,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not sys._is_gil_enabled()
"""


@pytest.mark.skipif(not GIL_OFF, reason="needs a free-threaded build running without the GIL")
@requires_subprocess
def test_the_plugin_leaves_the_gil_off(runner: Runner) -> None:
    """Importing an extension module that does not declare free-threading support turns the
    GIL on for the whole process: the plugin, and the backend it measures with, must not."""
    runner.write(GIL_CHECK)
    result = runner.pytester.runpytest_subprocess(
        f"--memray-backend={runner.backend}", "--memray", "-W", "error::RuntimeWarning"
    )
    result.assert_outcomes(passed=1)
