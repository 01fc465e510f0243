"""The memray backend and the profile hook that it shares with the user's profilers.

memray sees Python stacks through the thread's profile hook. A batched call whose test
replaces that hook keeps exact figures (the boundaries of a call do not depend on stacks), is
told it has no locations after that, and the calls after it get their locations back; a
profiler that the user runs is never taken away, batched or not.
"""

from __future__ import annotations

import cProfile
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_memray.backends.interface import (
    BackendContext,
    Measurement,
    Outcome,
    TrackingRequest,
)

from ...helpers import open_window, requires_memray

pytestmark = requires_memray

MIB = 1024 * 1024


def _run(
    tmp_path: Path, calls: list[Callable[[], Any]], *, batched: bool = True
) -> list[Measurement]:
    """Each of ``calls`` as one tracked call of one backend, in order; their measurements."""
    from pytest_memray.backends.memray.backend import MemrayBackend

    context = BackendContext(f"{os.getpid()}-{uuid.uuid4().hex[:8]}", "main", tmp_path)
    backend = MemrayBackend(context)
    handles = []
    outcomes: dict[int, Outcome] = {}
    try:
        for call in calls:
            tracking = backend.start(TrackingRequest(stack_depth=1, needed_at_once=not batched))
            open_window(tracking)
            try:
                call()
            finally:
                tracking.close()
                tracking.stop()
            handles.append(tracking.handle)
            outcomes.update(backend.take_results())
        backend.finish()
        outcomes.update(backend.take_results())
    finally:
        backend.close()
    measured = [outcomes[handle] for handle in handles]
    assert all(isinstance(outcome, Measurement) for outcome in measured), measured
    return measured  # type: ignore[return-value]


def _holds(mib: int) -> Callable[[], None]:
    def holding() -> None:
        data = bytearray(mib * MIB)
        del data

    return holding


def _clears_the_hook() -> None:
    sys.setprofile(None)
    data = bytearray(2 * MIB)
    del data


def _functions(measurement: Measurement) -> list[str]:
    return [site.stack[0].function for site in measurement.peak_sites if site.stack]


def _peak_mib(measurement: Measurement) -> float:
    return measurement.peak_bytes / MIB


def test_a_test_that_clears_the_hook_keeps_its_figure_and_the_next_get_locations(
    tmp_path: Path,
) -> None:
    from pytest_memray.backends.memray.hooks import HOOK_REPLACED

    before, cleared, after = _run(tmp_path, [_holds(1), _clears_the_hook, _holds(3)])
    assert [round(_peak_mib(m)) for m in (before, cleared, after)] == [1, 2, 3]
    assert before.notes == []
    assert cleared.notes == [HOOK_REPLACED]
    assert _functions(cleared) == []  # its allocation has no Python location ...
    assert after.notes == []
    assert _functions(after) == ["holding"]  # ... and the next test has its own again


def _kills_the_hook_then_fakes_boundaries() -> None:
    """Without the hook, allocates the sizes of the next call's opening mark and of an
    anchor: nothing a test allocates can end its window or open the next one."""
    from pytest_memray.backends.memray.marks import ANCHOR, MARK_BASE, MARK_STEP

    sys.setprofile(None)
    kept = [bytes(MARK_BASE + MARK_STEP), bytes(ANCHOR), bytes(MARK_BASE + 2 * MARK_STEP)]
    del kept


def test_mark_sized_allocations_without_the_hook_are_the_tests_own(tmp_path: Path) -> None:
    from pytest_memray.backends.memray.marks import MARK_BASE

    faked, after, last = _run(
        tmp_path, [_kills_the_hook_then_fakes_boundaries, _holds(3), _holds(4)]
    )
    assert faked.peak_bytes >= 2 * MARK_BASE
    assert round(_peak_mib(after)) == 3
    assert round(_peak_mib(last)) == 4


def test_a_profiler_running_when_a_batched_test_starts_is_kept(tmp_path: Path) -> None:
    from pytest_memray.backends.memray.hooks import HOOK_NOT_OURS

    profiler = cProfile.Profile()
    seen: list[str] = []

    def profiled_by_a_fixture() -> None:
        data = bytearray(5 * MIB)
        del data

    def start() -> None:
        sys.setprofile(lambda frame, event, arg: seen.append(frame.f_code.co_name))

    # The first call starts the batch's Tracker while the user's profile function runs.
    start()
    try:
        first = _run(tmp_path, [profiled_by_a_fixture], batched=True)[0]
        assert sys.getprofile() is not None  # still the user's
    finally:
        sys.setprofile(None)
    assert "profiled_by_a_fixture" in seen
    assert round(_peak_mib(first)) == 5
    assert first.notes == [HOOK_NOT_OURS]

    profiler.enable()
    try:
        alone = _run(tmp_path, [profiled_by_a_fixture], batched=False)[0]
    finally:
        profiler.disable()
    profiler.create_stats()
    assert any(name == "profiled_by_a_fixture" for _, _, name in profiler.stats)
    assert round(_peak_mib(alone)) == 5
    # From Python 3.12 on, cProfile watches calls through sys.monitoring, not the hook.
    assert alone.notes == ([HOOK_NOT_OURS] if sys.version_info < (3, 12) else [])
