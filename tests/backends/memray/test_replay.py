"""The memray backend's batch replay: exact figures, bounded memory, boundaries nobody can fake.

Most cases drive the backend directly (start, stop, collect), so that the figures compared
are the exact byte counts of a :class:`Measurement`, batched against one Tracker per call.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.backends.interface import BackendContext, Measurement, TrackingRequest

from ...helpers import open_window, report_blocks, requires_memray, tracked

pytestmark = requires_memray

MIB = 1024 * 1024


def _has_mmap_helper() -> bool:
    try:
        return importlib.util.find_spec("memray._test") is not None
    except ImportError:  # memray itself cannot be imported
        return False


requires_mmap_helper = pytest.mark.skipif(
    not _has_mmap_helper(),
    reason="needs memray._test (memray's own mmap/munmap helper, shipped with memray)",
)


def _context(cache: Path) -> BackendContext:
    """A session of its own, whose backend remembers nothing of other runs."""
    return BackendContext(f"{os.getpid()}-{uuid.uuid4().hex[:8]}", "main", cache)


def _measure(code: Callable[[], Any], *, batched: bool, depth: int = 5) -> Measurement:
    """Run ``code`` as one tracked call, batched (deferred) or with a Tracker of its own."""
    from pytest_memray.backends.memray.backend import MemrayBackend

    with tempfile.TemporaryDirectory() as cache:
        backend = MemrayBackend(_context(Path(cache)))
        try:
            with tracked(
                backend, TrackingRequest(stack_depth=depth, needed_at_once=not batched)
            ) as outcome:
                code()
        finally:
            backend.finish()
            backend.close()
    measurement = outcome[0]
    assert isinstance(measurement, Measurement)
    return measurement


def _figures(measurement: Measurement) -> tuple[int, list[tuple[int, int]]]:
    """The peak in KiB, rounded down to a multiple of 64 KiB (the backend's own few hundred
    bytes around the call differ between the two ways), and the sites of a MiB or more."""
    sites = sorted((s.size, s.allocations) for s in measurement.peak_sites if s.size >= MIB)
    return measurement.peak_bytes // (64 * 1024) * 64, sites


# -- memory held by the replay --------------------------------------------------------------


def _churn(pairs: int) -> None:
    kept = [bytearray(64 * 1024) for _ in range(4)]
    for _ in range(pairs):
        bytes(1000)
    del kept


def _replayed(
    tmp_path: Path, call: Callable[[], None]
) -> tuple[int, int, list[tuple[int, Measurement]], Any]:
    """One call recorded between boundary marks, then replayed from its capture file.

    Returns the records read, the most bytes the replay had allocated at once (traced by
    tracemalloc, whatever the replay keeps them in), its results and its stats.
    """
    import tracemalloc

    import memray

    from pytest_memray.backends.memray import marks
    from pytest_memray.backends.memray.replay import replay

    path = tmp_path / "call.bin"
    path.unlink(missing_ok=True)
    with memray.Tracker(path, file_format=memray.FileFormat.ALL_ALLOCATIONS):
        marks.place_mark(marks.MARK_BASE)
        anchor: bytes | None = bytes(marks.ANCHOR)
        call()
        anchor = None  # the window ends where the anchor is freed
        del anchor
    read = 0

    def counted(records: Any) -> Iterator[Any]:
        nonlocal read
        for record in records:
            read += 1
            yield record

    reader = memray.FileReader(path)
    tracemalloc.start()
    try:
        results, stats = replay(counted(reader.get_allocation_records()), 5, False)
        most_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        reader.close()
    return read, most_bytes, results, stats


def test_replay_holds_what_is_alive_not_every_record(tmp_path: Path) -> None:
    read, _, results, stats = _replayed(tmp_path, lambda: _churn(50_000))
    assert read > 100_000  # every allocation and every free was read ...
    assert stats.calls == 1
    assert stats.most_held < 100  # ... but only what was alive at once was held
    ((call, measurement),) = results
    assert call == 0
    assert measurement.peak_bytes >= 4 * 64 * 1024


def test_replay_memory_does_not_grow_with_the_allocations(tmp_path: Path) -> None:
    small = _replayed(tmp_path, lambda: _churn(2_000))
    large = _replayed(tmp_path, lambda: _churn(60_000))
    assert large[0] > 20 * small[0]
    # a pymalloc arena more or less may be alive, not thousands of blocks
    assert large[3].most_held <= small[3].most_held + 8
    # Holding each of the 120,000 records would take megabytes; what is alive takes the same.
    assert large[1] < small[1] + 64 * 1024, (small[1], large[1])
    assert large[2][0][1].peak_bytes == small[2][0][1].peak_bytes


def test_allocations_held_for_long_are_held_compactly(tmp_path: Path) -> None:
    """20,000 blocks kept after an earlier, higher peak: all are held until the end of the
    call. A memray record takes about 430 bytes; the replay must not keep one for each."""

    def call() -> None:
        spike = bytearray(64 * MIB)
        del spike
        kept = [bytes(1000) for _ in range(20_000)]
        del kept

    _, most_bytes, results, stats = _replayed(tmp_path, call)
    assert stats.most_held >= 20_000
    assert most_bytes / stats.most_held < 250, most_bytes / stats.most_held
    assert results[0][1].peak_sites[0].size >= 64 * MIB


def test_allocations_kept_below_an_earlier_peak_then_past_it() -> None:
    """Thousands of allocations made after a peak are held compactly, then become the peak."""

    def call() -> None:
        spike = bytearray(8 * MIB)
        del spike
        kept = [bytes(1000) for _ in range(6000)]  # below the spike
        kept += [bytes(1000) for _ in range(6000)]  # past it
        del kept

    batched, per_call = _measure(call, batched=True), _measure(call, batched=False)
    assert batched.peak_bytes > 12_000 * 1000
    assert _figures(batched) == _figures(per_call)
    kept = [
        (site.size, site.allocations) for site in batched.peak_sites if site.allocations == 6000
    ]
    assert kept == [(6000 * sys.getsizeof(bytes(1000)), 6000)] * 2  # one site per line

    def large(measurement: Measurement) -> list[tuple[int, int]]:
        # below 4 KiB: the backend's own few hundred bytes, which differ between the two ways
        return sorted((s.size, s.allocations) for s in measurement.peak_sites if s.size >= 4096)

    assert large(batched) == large(per_call)


# -- boundary marks -------------------------------------------------------------------------


def _mark_payload(index: int) -> int:
    """Bytes to ask ``bytes()`` for so that memray records exactly boundary mark ``index``."""
    from pytest_memray.backends.memray.marks import MARK_BASE, MARK_STEP

    return MARK_BASE + index * MARK_STEP


@pytest.mark.parametrize("index", [0, 1])
def test_an_allocation_of_a_marks_size_is_the_tests_own(index: int) -> None:
    """Mark 0 opens the batch's first call and mark 1 the next: a test making either size
    keeps its own figure (today's test size is calloc'ed: it costs no memory)."""

    def call() -> None:
        big = bytes(_mark_payload(index))
        small = bytearray(3 * MIB)
        del big, small

    measurement = _measure(call, batched=True)
    assert measurement.peak_bytes >= _mark_payload(index) + 3 * MIB
    assert measurement.peak_sites[0].size >= _mark_payload(index)
    assert _figures(measurement) == _figures(_measure(call, batched=False))


MARK_SIZED = """
from pytest_memray.backends.memray.marks import MARK_BASE, MARK_STEP

def test_0():
    data = bytes(MARK_BASE + 1 * MARK_STEP)  # the opening mark of the batch's next call

def test_1():
    data = bytearray(1024)

def test_2():
    data = bytes(MARK_BASE + 3 * MARK_STEP)  # the opening mark of the batch's next call

def test_3():
    data = bytes(MARK_BASE)  # the first mark of every batch
"""


def test_tests_allocating_mark_sizes_report_their_true_peaks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_marks=MARK_SIZED)
    result = pytester.runpytest(
        "--memray", "--memray-backend=memray", "--most-allocations=0", "-p", "no:randomly"
    )
    assert result.ret == 0
    blocks = report_blocks(result.outlines)
    for name in ("test_0", "test_2", "test_3"):
        lines = blocks[f"test_marks.py::{name}"]
        assert any("Total memory allocated: 256.0MiB" in line for line in lines), lines


# -- unmapping part of a mapping ------------------------------------------------------------


def _mappings(cut: Callable[[Any], None], then: int) -> Callable[[], None]:
    def call() -> None:
        from memray._test import MmapAllocator

        region = MmapAllocator(8 * MIB)
        cut(region)
        other = MmapAllocator(then)
        del region, other

    return call


@requires_mmap_helper
def test_unmapping_the_head_of_a_mapping_keeps_its_tail() -> None:
    # 8 MiB mapped, its first 6 MiB unmapped, then 7 MiB mapped: the peak is 2 + 7 MiB.
    call = _mappings(lambda region: region.munmap(6 * MIB, 0), 7 * MIB)
    measurement = _measure(call, batched=True)
    assert _figures(measurement) == (9 * 1024, [(2 * MIB, 1), (7 * MIB, 1)])
    assert _figures(measurement) == _figures(_measure(call, batched=False))


@requires_mmap_helper
def test_unmapping_the_middle_of_a_mapping_leaves_two_pieces() -> None:
    # 8 MiB mapped, 2 MiB cut out of its middle, then 3 MiB mapped: the peak is 6 + 3 MiB,
    # and what is left of the first mapping counts as two allocations, as memray counts it.
    call = _mappings(lambda region: region.munmap(2 * MIB, 3 * MIB), 3 * MIB)
    measurement = _measure(call, batched=True)
    assert _figures(measurement) == (9 * 1024, [(3 * MIB, 1), (6 * MIB, 2)])
    assert _figures(measurement) == _figures(_measure(call, batched=False))


@requires_mmap_helper
def test_unmapping_the_tail_of_a_mapping_keeps_its_head() -> None:
    call = _mappings(lambda region: region.munmap(5 * MIB, 3 * MIB), 7 * MIB)
    measurement = _measure(call, batched=True)
    assert _figures(measurement) == (10 * 1024, [(3 * MIB, 1), (7 * MIB, 1)])
    assert _figures(measurement) == _figures(_measure(call, batched=False))


# -- what a batch may hold ------------------------------------------------------------------


def _nested(levels: int) -> Any:
    if levels:
        return _nested(levels - 1)
    return bytearray(2 * MIB)


def test_calls_asking_for_different_stack_depths_do_not_share_a_batch(
    tmp_path: Path, trackers: list[object]
) -> None:
    """The plugin asks for one depth per session today, but the backend takes one per call:
    a deeper call must not be replayed with the depth of the batch it would have joined."""
    from pytest_memray.backends.memray.backend import MemrayBackend

    backend = MemrayBackend(_context(tmp_path))
    try:
        keys = {}
        for depth in (1, 6):
            tracking = backend.start(TrackingRequest(stack_depth=depth, needed_at_once=False))
            open_window(tracking)
            _nested(4)
            tracking.close()
            tracking.stop()
            keys[depth] = tracking.handle
        results = dict(backend.take_results())  # the first batch, closed by the second call
        assert list(results) == [keys[1]]
        backend.finish()
        results.update(backend.take_results())
        assert len(trackers) == 2
    finally:
        backend.close()
    shallow_result, deep_result = results[keys[1]], results[keys[6]]
    assert isinstance(shallow_result, Measurement)
    assert isinstance(deep_result, Measurement)
    shallow = shallow_result.peak_sites[0].stack
    deep = deep_result.peak_sites[0].stack
    assert len(shallow) == 1
    assert len(deep) == 6
    assert [frame.function for frame in deep[:3]] == ["_nested"] * 3
