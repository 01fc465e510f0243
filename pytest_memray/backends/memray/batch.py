"""One memray Tracker recording many test calls, framed by boundary marks, and read back.

Starting and stopping a Tracker costs several milliseconds (memray patches the symbol tables of
every loaded library each time), so paying it once per batch instead of once per test is what
makes ``--memray`` cheap. Each call is framed by boundary marks (:mod:`.marks`); when the batch
closes, its capture file is replayed (:mod:`.replay`) into one outcome per call. Beside the
capture file, a small description of the batch is written first, so that the batch of a process
that died can be replayed by another one (:func:`replay_batch`). A call whose closing mark never
made it to the file is reported as not measured, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import memray

from pytest_memray.backends.interface import (
    ActiveTracking,
    LastStep,
    NotMeasured,
    Outcome,
    TrackingRequest,
)
from pytest_memray.backends.memray.hooks import enter_tracker, exit_tracker, rearm_profile_hook
from pytest_memray.backends.memray.marks import (
    ANCHOR,
    MARK_BASE,
    MARK_STEP,
    place_mark,
    place_probe,
)
from pytest_memray.backends.memray.per_call import TrackerPerCall
from pytest_memray.backends.memray.replay import replay
from pytest_memray.backends.memray.storage import storage_problem


class Batch:
    """One Tracker recording many calls between boundary marks.

    Its calls have consecutive handles from ``first``. Beside the capture file, a small
    description of the batch is written first, so that a batch whose process died can be
    replayed by another one (:func:`replay_batch`).
    """

    def __init__(self, folder: Path, first: int, request: TrackingRequest) -> None:
        self.path = folder / f"batch-{first}.bin"
        self.first = first
        self.depth = request.stack_depth
        self.show_native = request.show_native_frames
        self.native_traces = request.show_native_frames
        self.trace_python_allocators = request.trace_python_allocators
        self.calls = 0
        #: A boundary mark could not be placed: no more calls go into this batch.
        self.broken = False
        folder.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        _describe_batch(self.path, first, self.depth, self.show_native)
        self._tracker = memray.Tracker(
            self.path,
            native_traces=self.native_traces,
            trace_python_allocators=self.trace_python_allocators,
            file_format=memray.FileFormat.ALL_ALLOCATIONS,
        )
        enter_tracker(self._tracker)

    def takes(self, request: TrackingRequest, batch_size: int) -> bool:
        """Whether a call asking for ``request`` can be recorded in this batch."""
        return (
            not self.broken
            and self.calls < batch_size
            and request.show_native_frames == self.native_traces
            and request.trace_python_allocators == self.trace_python_allocators
            and request.stack_depth == self.depth
        )

    def next_mark_size(self) -> int:
        """The size to ask for the next call's opening mark."""
        opening = MARK_BASE + self.calls * MARK_STEP
        self.calls += 1
        return opening

    def stop_recording(self) -> str | None:
        """Stop the Tracker; why its file is unusable, or None."""
        try:
            exit_tracker(self._tracker)
        except Exception as exc:
            return f"memray could not finish its capture file ({exc})"
        return None

    def close(self) -> tuple[list[tuple[int, Outcome]], frozenset[int]]:
        """Stop recording and replay the file: one outcome per finished call, and the
        handles of the calls that made :data:`~.replay.ALONE_RECORDS` records or more."""
        problem = self.stop_recording()
        if problem is not None:
            self.path.unlink(missing_ok=True)
            self.path.with_suffix(".json").unlink(missing_ok=True)
            return self._unmeasured(problem), frozenset()
        try:
            return replay_batch(self.path, self.first, self.calls, self.depth, self.show_native)
        finally:
            self.path.unlink(missing_ok=True)
            self.path.with_suffix(".json").unlink(missing_ok=True)

    def _unmeasured(self, reason: str) -> list[tuple[int, Outcome]]:
        return [(self.first + call, NotMeasured(reason)) for call in range(self.calls)]


def _describe_batch(path: Path, first: int, depth: int, show_native: bool) -> None:
    description = {"first": first, "depth": depth, "show_native": show_native}
    path.with_suffix(".json").write_text(json.dumps(description), encoding="utf-8")


def replay_batch(
    path: Path, first: int, calls: int | None, depth: int, native: bool
) -> tuple[list[tuple[int, Outcome]], frozenset[int]]:
    """One outcome per call recorded in the batch file at ``path`` (call ``n`` has the
    handle ``first + n``), and the handles of the calls that made :data:`~.replay.ALONE_RECORDS`
    records or more.

    A call whose closing mark is missing (the process died in it, or memray could not write
    any more) gets no figures; with ``calls`` given, every call up to it that has none is
    reported as not measured, with the reason (:func:`storage_problem` when the file may have
    been cut short by the file size limit or a full disk).
    """
    results: list[tuple[int, Outcome]] = []
    heavy: frozenset[int] = frozenset()
    reason: str | None = None
    try:
        reader = memray.FileReader(path)
    except (OSError, RuntimeError, ValueError) as exc:
        reason = f"memray could not read its capture file ({exc})"
    else:
        try:
            replayed, stats = replay(reader.get_allocation_records(), depth, native)
            results += [(first + call, measurement) for call, measurement in replayed]
            heavy = frozenset(first + call for call in stats.heavy)
        except (OSError, RuntimeError, ValueError) as exc:
            reason = f"memray could not read its capture file to the end ({exc})"
        finally:
            reader.close()
    if calls is not None and len(results) < calls:
        reason = (
            reason
            or storage_problem(path)
            or "memray's capture file ended before this test's end (the disk may be full)"
        )
        done = {handle for handle, _ in results}
        results += [
            (first + call, NotMeasured(reason)) for call in range(calls) if first + call not in done
        ]
    return results, heavy


#: Gives the call ``handle`` a Tracker of its own instead (closing the batch first).
Instead = Callable[[TrackingRequest, int], TrackerPerCall]


class BatchedTracking(ActiveTracking):
    """One call of a batch: places its boundary marks right around the test's code."""

    def __init__(
        self,
        batch: Batch,
        request: TrackingRequest,
        handle: int,
        instead: Instead,
    ) -> None:
        super().__init__(handle)
        self._batch = batch
        self._request = request
        self._tracker_instead = instead
        self._opening = batch.next_mark_size()
        #: Alive while the test runs (set to None beforehand, so that setting it allocates
        #: nothing inside the window).
        self._anchor: bytes | None = None
        #: A Tracker of its own, where the opening mark could not be placed.
        self._instead: TrackerPerCall | None = None

    def open(self) -> LastStep | None:
        rearm_profile_hook()
        try:
            place_mark(self._opening)
        except MemoryError:
            # No room for a mark: this call and the ones after it get Trackers of their own.
            self._batch.broken = True
            self._batch.calls -= 1  # this call has no window in the batch
            self._instead = self._tracker_instead(self._request, self.handle)
            return self._instead.open()
        self._anchor = bytes(ANCHOR)  # last: the window starts after it
        return None

    def close(self) -> None:
        if self._instead is not None:
            self._instead.close()
            return
        anchor, self._anchor = self._anchor, None
        del anchor  # first: freeing the anchor ends the window
        place_probe()
        rearm_profile_hook()

    def stop(self) -> None:
        if self._instead is not None:
            self._instead.stop()
