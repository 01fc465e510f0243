"""The memray backend: sees every allocation, native ones included (Linux and macOS, CPython).

It chooses, for each test call, between two ways of tracking with the same figures: a batch
(:mod:`.batch`: one Tracker for many calls, replayed when it closes) for calls whose outcome
can wait, and a Tracker of its own (:mod:`.per_call`) for the others, for ``limit_leaks``,
for ``--memray-bin-path``, for tests that made too many records in a batch before
(:mod:`.advice`), and where boundary marks do not fit in the address space. Only one Tracker
can run at a time, so a batch in progress is closed before a call gets a Tracker of its own.

Allocations whose newest Python frame is the plugin's own code are left out of every figure.
An interrupted xdist worker leaves its batch on disk (:meth:`MemrayBackend.finish`), and the
collecting process replays it (:meth:`MemrayBackend.recover`), from the worker's folder
(:mod:`.scratch`).
"""

from __future__ import annotations

import contextlib
import json
import tracemalloc
from pathlib import Path

import memray

from pytest_memray.backends.interface import (
    ActiveTracking,
    Backend,
    BackendContext,
    Capabilities,
    Measurement,
    Outcome,
    TrackingRequest,
)
from pytest_memray.backends.memray.advice import MeasureAloneAdvice
from pytest_memray.backends.memray.batch import Batch, BatchedTracking, replay_batch
from pytest_memray.backends.memray.flamegraph import write_flamegraph
from pytest_memray.backends.memray.marks import marks_fit
from pytest_memray.backends.memray.per_call import TrackerPerCall
from pytest_memray.backends.memray.scratch import (
    MAIN,
    hold,
    process_folder,
    release,
    remove,
    remove_abandoned,
    session_folder,
)

CAPABILITIES = Capabilities(
    native_allocations=True,
    native_frames=True,
    thread_ids=True,
    allocation_counts=True,
    python_allocator_tracing=True,
    exact_peak=True,
    allocation_sites=True,
    leaked_sites=True,
    capture_suffix=".bin",
    capture_reader="memray flamegraph, memray table or memray summary",
    flamegraphs=True,
)

#: A batch is closed and replayed after this many calls, to bound its file and replay.
BATCH_SIZE = 500


class MemrayBackend(Backend):
    name = "memray"
    capabilities = CAPABILITIES

    def __init__(self, context: BackendContext, batch_size: int = BATCH_SIZE) -> None:
        super().__init__()
        self.version = str(getattr(memray, "__version__", "unknown"))
        self._session_id = context.session_id
        self._main = context.process_id == MAIN
        self._scratch = process_folder(context.session_id, context.process_id)
        #: The lock that tells other sessions this session's folder is in use (see .scratch):
        #: the main process holds it from the start, as it recovers what workers leave there.
        self._lock: int | None = None
        if self._main:
            remove_abandoned(self._scratch.parent)
            self._hold()
        self._advice = MeasureAloneAdvice(
            None if context.cache_dir is None else context.cache_dir / self.name,
            context.process_id,
        )
        self._batch_size = batch_size
        self._batch: Batch | None = None
        self._can_batch: bool | None = None  # found out at the first batchable call
        #: The test ids of the calls in batches not replayed yet, by handle.
        self._batched: dict[int, str] = {}

    def _hold(self) -> None:
        if self._lock is None:
            # Should it fail, the files themselves say what is wrong when they are written.
            with contextlib.suppress(OSError):
                self._lock = hold(session_folder(self._session_id))

    def start(self, request: TrackingRequest) -> ActiveTracking:
        self._hold()  # before the first file of this process
        handle = self.next_handle()
        batch = self._batch
        if batch is not None and batch.broken:
            self._can_batch = False
        batchable = (
            not request.needed_at_once
            and request.capture_file is None
            and not request.want_leaks
            and not self._advice.measure_alone(request.test_id)
            # tracemalloc, while a test left it tracing, records every allocation with one of
            # its own: between a boundary mark and its anchor too, which frame a batched call.
            and not tracemalloc.is_tracing()
        )
        if batchable and self._can_batch is None:
            self._can_batch = marks_fit(self._batch_size)
        if batchable and self._can_batch:
            if batch is None or not batch.takes(request, self._batch_size):
                self._close_batch()
                batch = self._batch = Batch(self._scratch, handle, request)
            self._batched[handle] = request.test_id
            return BatchedTracking(batch, request, handle, self.tracker_instead)
        return self.tracker_instead(request, handle)

    def tracker_instead(self, request: TrackingRequest, handle: int) -> TrackerPerCall:
        """A Tracker of its own for the call ``handle``, closing the batch first."""
        self._close_batch()
        self._batched.pop(handle, None)
        return TrackerPerCall(request, self._scratch, handle, self)

    def _close_batch(self) -> None:
        if self._batch is not None:
            batch, self._batch = self._batch, None
            outcomes, heavy = batch.close()
            for handle, outcome in outcomes:
                test_id = self._batched.pop(handle, "")
                if isinstance(outcome, Measurement):
                    self._advice.note(test_id, handle in heavy)
                self.hand_over(handle, outcome)

    def finish(self, *, interrupted: bool = False) -> None:
        if not interrupted or self._batch is None:
            self._close_batch()
            return
        # Leave the batch on disk: the collecting process replays it (recover).
        batch, self._batch = self._batch, None
        batch.stop_recording()

    def recover(self, process_id: str) -> list[tuple[int, Outcome]]:
        recovered: list[tuple[int, Outcome]] = []
        folder = process_folder(self._session_id, process_id)
        for description in sorted(folder.glob("batch-*.json")):
            try:
                batch = json.loads(description.read_text(encoding="utf-8"))
                first, depth, native = (
                    int(batch["first"]),
                    int(batch["depth"]),
                    batch["show_native"],
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
            capture = description.with_suffix(".bin")
            if capture.exists():
                recovered += replay_batch(capture, first, None, depth, bool(native))[0]
        remove(folder)
        return recovered

    def write_flamegraph(self, capture_file: Path, target: Path, title: str) -> str | None:
        return write_flamegraph(capture_file, target)

    def close(self) -> None:
        self._close_batch()
        self._ready.clear()
        self._advice.save()
        if self._main:
            remove(self._scratch)
        if self._lock is not None:
            release(self._lock)
            self._lock = None
