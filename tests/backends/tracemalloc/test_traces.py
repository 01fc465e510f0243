"""Unit tests for grouping raw traces into sites (what a picture keeps of the peak)."""

from __future__ import annotations

import tracemalloc

import pytest

import pytest_memray.backends.tracemalloc.traces as traces_module
from pytest_memray.backends.tracemalloc.traces import RawTrace, group

A = (("test_a.py", 3),)
B = (("test_b.py", 7), ("test_b.py", 2))
C = (("test_c.py", 1),)
PLUGIN = ((traces_module.__file__, 90),)


def _trace(size: int, frames: tuple[tuple[str, int], ...]) -> RawTrace:
    return (0, size, frames, 0)


def test_sites_add_up_sizes_and_counts_largest_first() -> None:
    raw = [_trace(300, A), _trace(5000, B), _trace(700, A), _trace(1, C), _trace(2000, B)]
    assert group(raw, None) == [(7000, 2, B), (1000, 2, A), (1, 1, C)]


def test_equal_frames_are_one_site_whether_or_not_they_are_the_same_tuple() -> None:
    copy_of_a = tuple((str(name), int(line)) for name, line in A)
    assert copy_of_a is not A
    assert group([_trace(10, A), _trace(20, copy_of_a)], None) == [(30, 2, A)]


def test_the_limit_keeps_the_largest_sites() -> None:
    raw = [_trace(300, A), _trace(5000, B), _trace(1, C)]
    assert group(raw, 2) == [(5000, 1, B), (300, 1, A)]
    assert group(raw, 0) == []


def test_the_plugins_own_allocations_are_left_out() -> None:
    raw = [_trace(300, A), _trace(10**6, PLUGIN), _trace(5, ())]
    assert group(raw, None) == [(300, 1, A), (5, 1, ())]


def test_sites_of_many_traces_add_up_exactly() -> None:
    # Large sizes and counts: past the small ints, each a new object when summed.
    raw = [_trace(1000 + n % 7, A) for n in range(30_000)] + [_trace(10**9, C)]
    sizes = sum(1000 + n % 7 for n in range(30_000))
    assert group(raw, None) == [(10**9, 1, C), (sizes, 30_000, A)]


@pytest.mark.parametrize("tracing", [False, True], ids=["not tracing", "tracing"])
def test_grouping_leaves_nothing_of_its_own_traced(tracing: bool) -> None:
    raw = [_trace(1000 + n, A if n % 2 else B) for n in range(10_000)]
    if tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sites = group(raw, None)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        if tracing:
            tracemalloc.stop()
    assert [count for _, count, _ in sites] == [5000, 5000]
    # What is left traced is the result: a list of two sites, each a tuple and two ints.
    assert after - before < 1024
