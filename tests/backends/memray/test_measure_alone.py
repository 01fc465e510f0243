"""Tests a backend advised measuring at once are remembered in pytest's cache for the next run."""

from __future__ import annotations

import json

import pytest

from pytest_memray.backends.interface import Measurement, TrackingRequest
from pytest_memray.reporting.measure_alone import CACHE_KEY, remembered, updated
from pytest_memray.reporting.results import MemoryResult

from ...helpers import (
    MEMRAY_MISSING,
    counting_backend,
    report_blocks,
    requires_memray,
    requires_subprocess,
    requires_xdist,
)

if MEMRAY_MISSING is None:
    from pytest_memray.backends.memray.backend import ALONE_RECORDS
else:  # only the tracemalloc cases run, and any count will do for them
    ALONE_RECORDS = 100_000

#: One test whose allocations and frees make more records than ALONE_RECORDS, one with few.
CHURN = f"""
def test_churn():
    for _ in range({ALONE_RECORDS // 2 + 1000}):
        bytes(1000)

def test_quiet():
    kept = bytearray(4096)
"""


def _result(nodeid: str, advice: bool | None) -> MemoryResult:
    return MemoryResult.from_measurement(
        nodeid, Measurement(peak_bytes=1, allocation_count=1, measure_alone=advice), None
    )


def test_advice_adds_removes_and_keeps() -> None:
    before = frozenset({"t::kept", "t::dropped", "t::not_run"})
    results = [_result("t::new", True), _result("t::dropped", False), _result("t::kept", None)]
    assert updated(before, results) == {"t::kept", "t::not_run", "t::new"}


def test_unmeasured_tests_change_nothing() -> None:
    before = frozenset({"t::a"})
    assert updated(before, [MemoryResult.unmeasured("t::a", "disk full")]) == before


class _Cache:
    def __init__(self, stored: object) -> None:
        self.stored = stored

    def get(self, key: str, default: object) -> object:
        assert key == CACHE_KEY + "memray"
        return self.stored


def test_what_is_read_back() -> None:
    assert remembered(None, "memray") == frozenset()
    assert remembered(_Cache(["t::a", 3, "t::b"]), "memray") == {"t::a", "t::b"}
    assert remembered(_Cache({"t::a": True}), "memray") == frozenset()


def _stored(pytester: pytest.Pytester, backend: str) -> object:
    path = pytester.path / ".pytest_cache" / "v" / (CACHE_KEY + backend)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _requests(starts: list[object]) -> list[TrackingRequest]:
    assert all(isinstance(start, TrackingRequest) for start in starts)
    return [start for start in starts if isinstance(start, TrackingRequest)]


@requires_memray
def test_a_test_with_many_records_is_measured_at_once_next_time(
    pytester: pytest.Pytester,
) -> None:
    starts = counting_backend(pytester, "memray")
    pytester.makepyfile(test_churn=CHURN)
    args = ("--memray", "--memray-backend=counting", "-p", "no:randomly", "--most-allocations=0")

    first = pytester.runpytest(*args)
    assert first.ret == 0
    assert [request.needed_at_once for request in _requests(starts)] == [False, False]
    assert _stored(pytester, "counting") == ["test_churn.py::test_churn"]

    starts.clear()
    second = pytester.runpytest(*args)
    assert second.ret == 0
    assert [request.needed_at_once for request in _requests(starts)] == [True, False]
    # Only the time changes: the figures are the same.
    assert report_blocks(second.outlines) == report_blocks(first.outlines)
    assert _stored(pytester, "counting") == ["test_churn.py::test_churn"]


@pytest.mark.parametrize("backend", [pytest.param("memray", marks=requires_memray), "tracemalloc"])
def test_without_the_cache_plugin_nothing_is_remembered(
    pytester: pytest.Pytester, backend: str
) -> None:
    pytester.makepyfile(test_churn=CHURN)
    result = pytester.runpytest("--memray", f"--memray-backend={backend}", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert len(report_blocks(result.outlines)) == 2
    assert not (pytester.path / ".pytest_cache").exists()


def test_the_tracemalloc_backend_gives_no_advice(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_churn=CHURN)
    assert pytester.runpytest("--memray", "--memray-backend=tracemalloc").ret == 0
    assert _stored(pytester, "tracemalloc") is None


#: Each process writes whether each of its requests was for a measurement at once.
WRITE_REQUESTS = """
import json

def pytest_sessionfinish(session):
    import counting_backend

    # Not PYTEST_XDIST_WORKER: the outer run may be an xdist worker, whose environment
    # this run's controller inherits.
    workerinput = getattr(session.config, "workerinput", None)
    name = "controller" if workerinput is None else workerinput["workerid"]
    with open(f"requests-{name}.json", "w") as out:
        json.dump([request.needed_at_once for request in counting_backend.STARTS], out)
"""


def _at_once(pytester: pytest.Pytester) -> list[bool]:
    """What the xdist workers' requests said, all together; their files are then removed."""
    flags: list[bool] = []
    for path in sorted(pytester.path.glob("requests-gw*.json")):
        flags += json.loads(path.read_text(encoding="utf-8"))
        path.unlink()
    return sorted(flags)


@requires_memray
@requires_xdist
@requires_subprocess
def test_under_xdist_the_controller_writes_and_the_workers_read(
    pytester: pytest.Pytester,
) -> None:
    counting_backend(pytester, "memray")
    pytester.makeconftest(WRITE_REQUESTS)
    pytester.makepyfile(test_churn=CHURN)
    args = ("--memray", "--memray-backend=counting", "-n", "2")

    assert pytester.runpytest_subprocess(*args).ret == 0
    assert _stored(pytester, "counting") == ["test_churn.py::test_churn"]
    assert _at_once(pytester) == [False, False]

    assert pytester.runpytest_subprocess(*args).ret == 0
    assert _at_once(pytester) == [False, True]
