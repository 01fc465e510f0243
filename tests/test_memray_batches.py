"""The memray backend's batched path: few Trackers, and the same figures as one per test."""

from __future__ import annotations

import re

import pytest

from .helpers import report_blocks, requires_memray, requires_xdist

pytestmark = requires_memray

COUNT_TRACKERS = """
from pytest_memray.plugin import plugin_key

def pytest_terminal_summary(terminalreporter, config):
    backend = config.stash[plugin_key].backend
    terminalreporter.write_line(f"TRACKERS STARTED: {backend.trackers_started}")
"""

UNMARKED = "\n".join(
    f"def test_{i}():\n    data = bytearray({i % 3 + 1} * 1024 * 1024)\n    assert data\n"
    for i in range(30)
)


def _trackers(result: pytest.RunResult) -> int:
    match = re.search(r"TRACKERS STARTED: (\d+)", result.stdout.str())
    assert match is not None, result.stdout.str()
    return int(match.group(1))


def test_unmarked_tests_share_one_tracker(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(COUNT_TRACKERS)
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest("--memray", "--memray-backend=memray", "--most-allocations=0")
    assert result.ret == 0
    assert _trackers(result) == 1
    assert len(report_blocks(result.outlines)) == 30


def test_marked_tests_get_their_own_tracker(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(COUNT_TRACKERS)
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
    assert _trackers(result) == 2


def test_capture_files_use_one_tracker_per_test(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("captures")
    pytester.makeconftest(COUNT_TRACKERS)
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest(
        "--memray", "--memray-backend=memray", f"--memray-bin-path={folder}"
    )
    assert result.ret == 0
    assert _trackers(result) == 30
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


def test_one_tracker_per_test_where_marks_do_not_fit(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_memray.backends import memray_backend

    monkeypatch.setattr(memray_backend, "_marks_fit", lambda: False)
    pytester.makeconftest(COUNT_TRACKERS)
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest("--memray", "--memray-backend=memray", "--most-allocations=0")
    assert result.ret == 0
    assert _trackers(result) == 30
    assert len(report_blocks(result.outlines)) == 30


def test_marks_that_fail_later_fall_back_to_one_tracker_per_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_memray.backends import memray_backend

    def no_room(size: int) -> None:
        raise MemoryError

    monkeypatch.setattr(memray_backend, "_marks_fit", lambda: True)
    monkeypatch.setattr(memray_backend, "_place_mark", no_room)
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest("--memray", "--memray-backend=memray", "--most-allocations=0")
    assert result.ret == 0
    peaks = _peaks(result)
    assert len(peaks) == 30
    assert peaks["test_many.py::test_2"] == pytest.approx(3 * 1024**2, rel=0.01)


def test_full_batches_are_replayed_as_the_session_goes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_memray.backends import memray_backend

    monkeypatch.setattr(memray_backend, "BATCH_SIZE", 7)
    pytester.makeconftest(
        COUNT_TRACKERS
        + """
from pytest_memray.plugin import plugin_key

def pytest_runtest_teardown(item):
    # results of closed batches are turned into records before the session ends
    plugin = item.config.stash[plugin_key]
    print(f"PENDING {len(plugin._deferred)}")
"""
    )
    pytester.makepyfile(test_many=UNMARKED)
    result = pytester.runpytest(
        "--memray", "--memray-backend=memray", "--most-allocations=0", "-s", "-p", "no:randomly"
    )
    assert result.ret == 0
    assert _trackers(result) == 5  # 30 tests in batches of 7
    pending = [int(line.split()[-1]) for line in result.outlines if "PENDING" in line]
    assert max(pending) <= 7
    peaks = _peaks(result)
    assert len(peaks) == 30
    for i in range(30):
        assert peaks[f"test_many.py::test_{i}"] == pytest.approx((i % 3 + 1) * 1024**2, rel=0.01)
