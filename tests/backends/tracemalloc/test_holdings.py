"""What the backend holds while tracing is measured from its own objects, never from the
traced total: what other threads (or a garbage collection) allocate and free while a picture
is taken is theirs, and the figure stays right.

Each test makes "another thread" act at the one moment that matters, deterministically, by
standing in for the picture's reading of the traces; ``tests/test_free_threaded.py`` checks
the same with real threads, where they run at once.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from pytest_memray.backends.interface import Measurement, TrackingRequest
from pytest_memray.backends.tracemalloc import pictures
from pytest_memray.backends.tracemalloc.backend import TracemallocBackend
from pytest_memray.backends.tracemalloc.counters import Counters
from pytest_memray.backends.tracemalloc.traces import held_bytes, own_bytes, raw_traces

MIB = 1024 * 1024
#: What the backend's own small objects may still move a figure by (see docs/backends.rst).
SLACK = 4096

#: What a garbage collection may allocate for itself while it runs.
COLLECTING = 64 * 1024

#: Blocks of "another thread".
_OTHERS: list[bytearray] = []


def _block(size: int) -> bytearray:
    """A block made in a function: its return is where the profile hook takes a picture."""
    return bytearray(size)


def _once_during_picture(
    monkeypatch: pytest.MonkeyPatch, action: Callable[[], object], at: int = 1
) -> list[int]:
    """Run ``action`` once, while the ``at``-th picture reads the traces; the list it returns
    counts the pictures taken."""
    real = raw_traces
    taken: list[int] = []

    def reading() -> Any:
        taken.append(1)
        if len(taken) == at:
            action()
        return real()

    monkeypatch.setattr(pictures, "raw_traces", reading)
    return taken


@pytest.fixture(autouse=True)
def _first_calls_made() -> None:
    """The backend's first tracking in a process measures a call of its own first (see
    ``TracemallocBackend._make_first_calls``): made here, before any stand-in."""
    _measure(lambda: None)


def _still() -> float:
    """A clock that never moves: every picture that is due is taken (none is put off because
    the one before took long), so the n-th picture is always at the same place."""
    return 0.0


def _measure(call: Callable[[], object]) -> Measurement:
    backend = TracemallocBackend(clock=_still)
    try:
        tracking = backend.start(TrackingRequest(stack_depth=1))
        tracking.open()
        call()
        tracking.close()
        tracking.stop()
        outcome = dict(backend.take_results())[tracking.handle]
    finally:
        backend.close()
        _OTHERS.clear()
    assert isinstance(outcome, Measurement)
    return outcome


#: Python 3.10 copies the locals of each frame a Python-level profile function sees into its
#: ``f_locals``, and the copy keeps the test's deleted cycle from the collection: 12 MiB read
#: for 8. Known and open (docs/backends.rst); 3.11 to 3.15 and 3.13t pass.
OPEN_ON_310 = pytest.mark.xfail(
    sys.version_info < (3, 11),
    reason="Python 3.10: the hook's copy of the test's locals keeps the cycle alive (open)",
    strict=False,
)


def test_a_block_freed_by_another_thread_during_a_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freed meanwhile, it made the backend's holdings negative, and every later reading too
    high (with the GIL: 20.1 MiB read for 16 MiB held)."""
    taken = _once_during_picture(monkeypatch, _OTHERS.clear)

    def test() -> None:
        _OTHERS.append(bytearray(4 * MIB))  # "another thread's" block, alive from the start
        first = _block(4 * MIB)  # 8 MiB alive; a picture, while the other block is freed
        second = _block(4 * MIB)  # 8 MiB alive again
        del first, second

    measurement = _measure(test)
    assert taken
    assert 8 * MIB <= measurement.peak_bytes < 8 * MIB + SLACK, measurement.peak_bytes


def test_a_block_allocated_by_another_thread_during_a_picture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Allocated meanwhile, it was counted as the backend's own: once freed, the test's own
    memory read low (on 3.13t, 4 MiB held read as 2.1 MiB, and an over-limit test passed)."""
    taken = _once_during_picture(monkeypatch, lambda: _OTHERS.append(bytearray(2 * MIB)))

    def test() -> None:
        first = _block(4 * MIB)  # a picture, while the other thread makes its block
        _OTHERS.clear()  # ... and frees it again
        second = _block(4 * MIB)
        third = _block(4 * MIB)  # 12 MiB of the test's own alive
        del first, second, third

    measurement = _measure(test)
    assert taken
    assert 12 * MIB <= measurement.peak_bytes < 12 * MIB + SLACK, measurement.peak_bytes


def _spike() -> None:
    blob = bytearray(16 * MIB)
    del blob


def test_a_peak_another_thread_reaches_during_a_picture_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The peak counter is reset after a picture (its own work never counts): a block made
    and freed meanwhile by another thread is read before that."""
    taken = _once_during_picture(monkeypatch, _spike)

    def test() -> None:
        first = _block(4 * MIB)  # a picture, while the other thread's 16 MiB come and go
        del first

    measurement = _measure(test)
    assert taken
    assert 20 * MIB <= measurement.peak_bytes < 20 * MIB + SLACK, measurement.peak_bytes


def test_a_peak_reached_after_the_traces_were_read_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same, once the traces are read and the picture is being kept (on a free-threaded
    build the test's own thread runs on while the sampler thread takes a picture): a doctest's
    4 MiB made and freed then was lost, and the test read 22 KiB."""
    real = Counters.quiet_after
    done: list[int] = []

    def late(counters: Counters, started: float, now: float) -> None:
        if not done:
            done.append(1)
            _spike()
        real(counters, started, now)

    monkeypatch.setattr(Counters, "quiet_after", late)

    def test() -> None:
        first = _block(4 * MIB)  # a picture, at the end of which 16 MiB come and go
        del first

    measurement = _measure(test)
    assert done
    assert 20 * MIB <= measurement.peak_bytes < 20 * MIB + SLACK, measurement.peak_bytes


@OPEN_ON_310
def test_a_collection_during_a_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    """The picture's own objects can set off a garbage collection: what it frees then is no
    holding of the backend's (a negative one made every later reading too high)."""
    taken = _once_during_picture(monkeypatch, lambda: gc.collect(), at=2)

    def test() -> None:
        cycle: list[object] = [bytearray(4 * MIB)]
        cycle.append(cycle)  # the first picture, at append's return
        del cycle  # garbage until a collection
        first = _block(4 * MIB)  # a picture: 8 MiB alive, 4 MiB after its collection
        second = _block(4 * MIB)  # 8 MiB alive again
        del first, second

    measurement = _measure(test)
    assert len(taken) >= 2
    # The collection needs memory of its own while it runs, with the 8 MiB alive (on 3.13t
    # some KiB, the more the more objects the process has): like what another thread
    # allocates, the peak then counts it. Not the 4 MiB collected, which made it 12 MiB.
    assert 8 * MIB <= measurement.peak_bytes < 8 * MIB + SLACK + COLLECTING, measurement.peak_bytes


def test_own_bytes_counts_only_what_the_backends_code_allocated() -> None:
    tracemalloc.start(1)
    try:
        mine = bytearray(1000)  # this file is not the backend's
        assert own_bytes(mine) == 0
        assert held_bytes((mine, [mine])) == 0
        assert own_bytes(None) == 0  # never allocated
    finally:
        tracemalloc.stop()
