"""The memray backend's batched path: few Trackers, and the same figures as one per test."""

from __future__ import annotations

import sys

import pytest

from ...helpers import register_backend, report_blocks, requires_memray, requires_xdist

pytestmark = requires_memray

SMALL_BATCHES = """
from pytest_memray.backends.registry import BackendEntry
from pytest_memray.backends.builtin import MEMRAY
from pytest_memray.backends.memray.backend import MemrayBackend

ENTRY = BackendEntry(
    name="small-batches",
    summary="the memray backend, closing a batch every 7 calls",
    rank=0,
    unavailable_reason=MEMRAY.unavailable_reason,
    build=lambda context: MemrayBackend(context, batch_size=7),
)
"""

#: Lowers the address-space limit so that a boundary mark (256 MiB) no longer fits, from the
#: test named in MARKS_STOP_FITTING_AT on (at configure time when it is empty).
ADDRESS_SPACE_LIMIT = """
import os
import resource

def _squeeze():
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
    limit = size * 1024 + 160 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

def pytest_configure(config):
    if not os.environ.get("MARKS_STOP_FITTING_AT"):
        _squeeze()

def pytest_runtest_setup(item):
    if item.name == os.environ.get("MARKS_STOP_FITTING_AT"):
        _squeeze()
"""


UNMARKED = "\n".join(
    f"def test_{i}():\n    data = bytearray({i % 3 + 1} * 1024 * 1024)\n    assert data\n"
    for i in range(30)
)


def test_unmarked_tests_share_one_tracker(
    pytester: pytest.Pytester, trackers: list[object]
) -> None:
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest("--memray", "--memray-backend=memray", "--most-allocations=0")
    assert result.ret == 0
    assert len(trackers) == 1
    assert len(report_blocks(result.outlines)) == 30


def test_marked_tests_get_their_own_tracker(
    pytester: pytest.Pytester, trackers: list[object]
) -> None:
    pytester.makepyfile(
        test_mixed=UNMARKED
        + """
import pytest

@pytest.mark.limit_memory("100 MB")
def test_marked():
    data = bytearray(1024)
"""
    )
    result = pytester.runpytest("--memray", "--memray-backend=memray", "-p", "no:randomly")
    assert result.ret == 0
    # one batch for the 30 unmarked tests, one Tracker for the marked test
    assert len(trackers) == 2


def test_capture_files_use_one_tracker_per_test(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory, trackers: list[object]
) -> None:
    folder = tmp_path_factory.mktemp("captures")
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest(
        "--memray", "--memray-backend=memray", f"--memray-bin-path={folder}"
    )
    assert result.ret == 0
    assert len(trackers) == 30
    assert len(list(folder.iterdir())) == 30


SHAPES = """
import threading

KEEP = []

def test_held():
    data = bytearray(10 * 1024 * 1024)
    assert data

def helper():
    scratch = bytearray(6 * 1024 * 1024)
    return len(scratch)

def test_spike_then_small():
    helper()
    data = bytearray(1024 * 1024)

def test_many_small():
    rows = [str(i) * 20 for i in range(50_000)]
    assert rows

def test_realloc():
    data = bytearray()
    for _ in range(40):
        data.extend(b"x" * 100_000)

def test_frees_older_memory():
    KEEP.append(bytearray(2 * 1024 * 1024))
    KEEP.clear()
    data = bytearray(3 * 1024 * 1024)

def test_thread():
    box = []
    worker = threading.Thread(target=lambda: box.append(bytearray(5 * 1024 * 1024)))
    worker.start()
    worker.join()
"""


def _peaks(result: pytest.RunResult) -> dict[str, float]:
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
    peaks = {}
    for nodeid, lines in report_blocks(result.outlines).items():
        line = next(text for text in lines if "Total memory allocated" in text)
        value = line.split(": ")[1]
        number = value.rstrip("BKMGi")
        peaks[nodeid] = float(number) * units[value[len(number) :]]
    return peaks


def test_batched_figures_match_one_tracker_per_test(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytester.makepyfile(test_shapes=SHAPES)
    # With --trace-python-allocators every object counts on its own; without it memray sees
    # pymalloc arenas (up to 1 MiB), and whether a test needs a fresh arena depends on what
    # earlier tests left free, which differs between the two runs.
    args = (
        "--memray",
        "--memray-backend=memray",
        "--trace-python-allocators",
        "--most-allocations=0",
        "-p",
        "no:randomly",
    )
    batched = _peaks(pytester.runpytest(*args))
    folder = tmp_path_factory.mktemp("captures")
    per_test = _peaks(pytester.runpytest(*args, f"--memray-bin-path={folder}"))
    assert set(batched) == set(per_test)
    assert len(batched) == 6
    for nodeid, peak in per_test.items():
        assert batched[nodeid] == pytest.approx(peak, rel=0.02, abs=64 * 1024), nodeid


@requires_xdist
def test_batches_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest(
        "--memray", "--memray-backend=memray", "--most-allocations=0", "-n", "2"
    )
    assert result.ret == 0
    peaks = _peaks(result)
    assert len(peaks) == 30
    for i in range(30):
        assert peaks[f"test_many.py::test_{i}"] == pytest.approx((i % 3 + 1) * 1024**2, rel=0.01)


def _subprocess_peaks(pytester: pytest.Pytester, stop_at: str) -> pytest.RunResult:
    pytester.makeconftest(ADDRESS_SPACE_LIMIT)
    pytester.makepyfile(test_many=UNMARKED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MARKS_STOP_FITTING_AT", stop_at)
        return pytester.runpytest_subprocess(
            "--memray", "--memray-backend=memray", "--most-allocations=0", "-p", "no:randomly"
        )


@pytest.mark.skipif(sys.platform != "linux", reason="reads the address space from /proc")
def test_one_tracker_per_test_where_marks_do_not_fit(pytester: pytest.Pytester) -> None:
    result = _subprocess_peaks(pytester, "")
    assert result.ret == 0, result.stdout.str()
    peaks = _peaks(result)
    assert len(peaks) == 30
    for i in range(30):
        assert peaks[f"test_many.py::test_{i}"] == pytest.approx((i % 3 + 1) * 1024**2, rel=0.01)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the address space from /proc")
def test_marks_that_fail_later_fall_back_to_one_tracker_per_test(
    pytester: pytest.Pytester,
) -> None:
    result = _subprocess_peaks(pytester, "test_5")
    assert result.ret == 0, result.stdout.str()
    peaks = _peaks(result)
    assert len(peaks) == 30
    for i in range(30):
        assert peaks[f"test_many.py::test_{i}"] == pytest.approx((i % 3 + 1) * 1024**2, rel=0.01)
    assert "Not measured" not in result.stdout.str()


COUNT_PENDING = """
PENDING = [0]

def pytest_runtest_logreport(report):
    # a tracked call whose figures are not on its report yet waits in its batch
    if report.when == "call":
        PENDING[0] += getattr(report, "memray_handle", None) is not None
        PENDING[0] -= len(getattr(report, "memray_results", None) or ())
        print(f"PENDING {PENDING[0]}")
"""


def test_full_batches_are_replayed_as_the_session_goes(
    pytester: pytest.Pytester, trackers: list[object]
) -> None:
    register_backend(pytester, "small_batches", SMALL_BATCHES, "small-batches")
    pytester.makeconftest(COUNT_PENDING)
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest(
        "--memray",
        "--memray-backend=small-batches",
        "--most-allocations=0",
        "-s",
        "-p",
        "no:randomly",
    )
    assert result.ret == 0
    assert len(trackers) == 5  # 30 tests in batches of 7
    pending = [int(line.split()[-1]) for line in result.outlines if "PENDING" in line]
    assert len(pending) == 30
    assert max(pending) <= 7
    peaks = _peaks(result)
    assert len(peaks) == 30
    for i in range(30):
        assert peaks[f"test_many.py::test_{i}"] == pytest.approx((i % 3 + 1) * 1024**2, rel=0.01)


@requires_memray
def test_a_test_that_leaves_tracemalloc_tracing_costs_no_later_figure(
    pytester: pytest.Pytester,
) -> None:
    """tracemalloc records each allocation with one of its own, between a batch's boundary
    marks too: while it traces, calls are measured with a Tracker of their own."""
    pytester.makepyfile(
        test_subject="""
import tracemalloc

def test_leaves_tracing_on():
    tracemalloc.start()
    kept = bytearray(1_000_000)

def test_next():
    kept = bytearray(2_000_000)

def test_last():
    tracemalloc.stop()
    kept = bytearray(3_000_000)
"""
    )
    result = pytester.runpytest("--memray", "--memray-backend=memray", "--most-allocations=0")
    result.assert_outcomes(passed=3)
    assert "Not measured" not in result.stdout.str()
    blocks = report_blocks(result.outlines)
    assert len(blocks) == 3
