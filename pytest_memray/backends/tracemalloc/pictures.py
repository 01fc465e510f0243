"""Pictures of what is alive near the peak, since tracemalloc keeps only the peak's size.

A picture is tracemalloc's raw traces at a moment when the traced total had grown past the
last picture (see :mod:`.counters` for when), plus a *gap*: a peak that came and went before
the reading that asked for the picture, charged as one allocation to the frame that was
running. The raw traces are grouped by location only once the call is over and tracing has
stopped, which is ten times cheaper than grouping while tracing.
"""

from __future__ import annotations

import dis
import pickle
import sys
import threading
import tracemalloc
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType, FrameType

from pytest_memray.backends.interface import TrackingRequest
from pytest_memray.backends.tracemalloc.counters import Counters
from pytest_memray.backends.tracemalloc.own_use import real_reset_peak
from pytest_memray.backends.tracemalloc.traces import (
    RawFrames,
    RawSite,
    RawTrace,
    group,
    held_bytes,
    is_own,
    own_bytes,
    raw_bytes,
    raw_traces,
    sites_bytes,
)
from pytest_memray.files import write_file

#: Locations kept per picture.
MAX_SITES = 1000
#: Above this many live allocations a picture is grouped at once rather than kept raw.
MAX_RAW_TRACES = 200_000

HOOK_GAP_NOTE = (
    "the peak was reached and freed again where no function was called or returned (a "
    "loop that allocates and frees, say): its size is exact, but it is charged to the line "
    "the test was running at the next call or return, which may come after the line that "
    "allocated it"
)
SAMPLER_GAP_NOTE = (
    "the peak was reached and freed again between two readings of the sampler "
    "thread: its size is exact, but it is charged to the frame the test was running "
    "at the next reading, which may not be the one that allocated it"
)
SETTLE_GAP_NOTE = (
    "the peak was reached and freed again after the last reading: its size is "
    "exact, but it is charged to the test function as a whole"
)


@dataclass
class TrackingStats:
    """What the watchers of one tracemalloc tracking did; read it after ``stop``."""

    #: Calls and returns the profile hook saw (bounded by ``HOOK_EVENTS`` where a sampler
    #: thread takes over).
    hook_events: int = 0
    #: Readings of the traced total made by the sampler thread.
    samples: int = 0
    #: Pictures of what was alive (one more is taken at the end when none was).
    pictures: int = 0


def def_line(code: CodeType) -> int:
    """The line of a function's ``def`` (``co_firstlineno`` is its first decorator's)."""
    lines = [line for _, line in dis.findlinestarts(code) if line and line > code.co_firstlineno]
    return min(lines, default=code.co_firstlineno)


def stack_of(frame: FrameType | None, depth: int) -> tuple[RawFrames, int]:
    """The newest ``depth`` frames from ``frame`` on, and the bytes of the frame objects that
    reading them made (Python makes a caller's frame object when it is first asked for)."""
    frames: list[tuple[str, int]] = []
    made = 0
    while frame is not None:
        frames.append((frame.f_code.co_filename, frame.f_lineno or 0))
        if len(frames) == depth:
            break
        frame = frame.f_back
        made += own_bytes(frame)
    return tuple(frames), made


def _picture_bytes(
    raw: list[RawTrace] | None, sites: list[RawSite] | None, gap: RawSite | None
) -> int:
    """What one picture holds, from its objects."""
    if raw is not None:
        return raw_bytes(raw) + held_bytes(gap)
    if sites is not None:
        return sites_bytes(sites) + held_bytes(gap)
    return held_bytes(gap)


class Pictures:
    """The best picture of one call's peak so far, and the notes on how it was taken."""

    def __init__(
        self,
        request: TrackingRequest,
        counters: Counters,
        stats: TrackingStats,
        clock: Callable[[], float],
    ) -> None:
        self._request = request
        self._counters = counters
        self._stats = stats
        self._clock = clock
        self._test_thread = threading.get_ident()
        # The last picture each thread took (the test's first, then the sampler's): raw
        # traces, or sites when there were many, and the gap. Each is replaced only by the
        # thread that took it. On a free-threaded build an object one thread made and another
        # frees is handed back to its maker in a queue whose blocks are traced (2 KiB each):
        # the sampler thread letting go of the hook's picture added to the peak. Attributes
        # of their own, not items of a list: the census of limit_leaked_objects finds what the
        # tracking holds through them.
        self._test_raw: list[RawTrace] | None = None
        self._test_sites: list[RawSite] | None = None
        self._test_gap: RawSite | None = None
        self._sampler_raw: list[RawTrace] | None = None
        self._sampler_sites: list[RawSite] | None = None
        self._sampler_gap: RawSite | None = None
        self.gap_note: str | None = None
        #: Why the capture file could not be written, if it could not.
        self.dump_error: str | None = None
        # In an array, not as ints, for the same reason: the bytes of the frame objects that
        # reading the stacks of the gaps made (Python makes one the first time a running frame
        # is asked for: they live on with their frames), and when the peak was reached by
        # another thread while a picture read the traces, the most bytes that reading may
        # have used at that moment, which the peak then includes.
        self._figures = array("q", bytes(16))
        self.recorded = False
        #: The picture kept was taken by the sampler thread (near the growth, not at it).
        self.sampled = False

    @property
    def raw(self) -> list[RawTrace] | None:
        """The raw traces of the best picture of the peak so far (None when it was grouped)."""
        return self._sampler_raw if self.sampled else self._test_raw

    @property
    def sites(self) -> list[RawSite] | None:
        """The sites of the best picture so far, when there were too many traces to keep."""
        return self._sampler_sites if self.sampled else self._test_sites

    @property
    def gap(self) -> RawSite | None:
        """The gap of the best picture so far."""
        return self._sampler_gap if self.sampled else self._test_gap

    @property
    def others_reading(self) -> int:
        """The most bytes a reading of the traces may have used at a peak that another thread
        reached meanwhile (0: none was)."""
        return self._figures[1]

    def take(self, test_code: CodeType | None) -> None:
        """Keep what is alive now (plus a pending gap) as the best picture of the peak so far.

        The raw traces are kept and grouped only after the call; a very large set is grouped
        at once instead, so that what the backend holds stays small. What the backend holds
        afterwards is measured from the objects it keeps (:func:`.traces.own_bytes`), never
        from the traced total, which other threads move meanwhile; then the peak counter is
        reset.
        """
        counters = self._counters
        started = self._clock()
        sampled = not self._on_test_thread()
        # Drop this thread's old picture first.
        if sampled:
            self._sampler_raw = self._sampler_sites = None
        else:
            self._test_raw = self._test_sites = None
        raw: list[RawTrace] | None = raw_traces()
        traces = 0 if raw is None else len(raw)
        # Another thread may have allocated and freed a block while the traces were read:
        # keep that peak before the reset below forgets it.
        self._keep_peak_of_others(traces)
        gap = self._take_pending_gap(test_code)  # after: its own work is not in the picture
        sites = None
        if raw is not None and len(raw) > MAX_RAW_TRACES:
            sites, raw = group(raw, MAX_SITES), None
        if sampled:
            self._sampler_raw, self._sampler_sites, self._sampler_gap = raw, sites, gap
        else:
            self._test_raw, self._test_sites, self._test_gap = raw, sites, gap
        self.recorded, self.sampled = True, sampled
        # A grouping or a capture file's snapshot uses far more memory of its own.
        light = sites is None and self._request.capture_file is None
        del sites
        if self._request.capture_file is not None:
            self._dump(tracemalloc.take_snapshot())
        del raw
        held = self._held()
        self._stats.pictures += 1
        total = counters.current + (gap[0] if gap is not None else 0)
        del gap
        counters.quiet_after(started, self._clock())
        counters.pictured(total, held)
        if light:
            # The test (other threads of it, on a free-threaded build the test's own while
            # the sampler takes the picture) ran on since the traces were read: keep a peak
            # it reached and left meanwhile too, which the reset would forget.
            self._keep_peak_of_others(traces)
        # What the picture made and freed on the way (grouping, a snapshot for a capture
        # file, the gap's frames) is not the test's: the peak counter starts afresh.
        real_reset_peak()

    def _keep_peak_of_others(self, traces: int) -> None:
        reading = self._counters.keep_peak_of_others(traces)
        if reading is not None and reading > self._figures[1]:
            self._figures[1] = reading

    def _on_test_thread(self) -> bool:
        return threading.get_ident() == self._test_thread

    def _held(self) -> int:
        """What the backend holds for its pictures, from the objects it keeps."""
        # No container made on the way: freed, it would stay traced in a free list.
        return (
            self._figures[0]
            + own_bytes(self.dump_error)
            + _picture_bytes(self._test_raw, self._test_sites, self._test_gap)
            + _picture_bytes(self._sampler_raw, self._sampler_sites, self._sampler_gap)
        )

    def _take_pending_gap(self, test_code: CodeType | None) -> RawSite | None:
        counters = self._counters
        gap, counters.pending_gap = counters.pending_gap, None
        if gap is not None:
            return (gap[0], gap[1], self._gap_frames(*gap[2], test_code))
        return None

    def _gap_frames(
        self, frame: FrameType | None, event: str, test_code: CodeType | None
    ) -> RawFrames:
        depth = self._request.stack_depth
        if frame is not None:
            # A "call" event reports the new frame; the caller is the one that was running.
            self.gap_note = HOOK_GAP_NOTE
            if event == "call":
                frame = frame.f_back
                self._figures[0] += own_bytes(frame)
            frames, made = stack_of(frame, depth)
            self._figures[0] += made
            return frames
        if event != "settle":
            running = self._running_test_frame()
            # Not when the test thread is in the plugin's code: the test function returned.
            if running is not None and not is_own(running.f_code.co_filename):
                self.gap_note = SAMPLER_GAP_NOTE
                frames, made = stack_of(running, depth)
                self._figures[0] += made
                return frames
        self.gap_note = SETTLE_GAP_NOTE
        return () if test_code is None else ((test_code.co_filename, def_line(test_code)),)

    def _running_test_frame(self) -> FrameType | None:
        """The frame the test's thread runs now (from another thread). Python makes a frame
        object for the running frame of every thread but this one that had none: they live
        on with their frames, and are counted with what the backend holds."""
        running = sys._current_frames()
        this_thread = threading.get_ident()
        for thread, frame in running.items():
            if thread != this_thread:
                self._figures[0] += own_bytes(frame)
        return running.get(self._test_thread)

    def summary(self) -> list[RawSite]:
        """The picture kept, grouped by location, the gap first."""
        sites = self.sites if self.raw is None else group(self.raw, MAX_SITES)
        sites = list(sites or [])
        if self.gap is not None:
            sites.insert(0, self.gap)
        return sites

    def drop(self) -> None:
        """Let go of the raw traces once they are summarised."""
        self._test_raw = self._test_sites = self._sampler_raw = self._sampler_sites = None

    def _dump(self, snapshot: tracemalloc.Snapshot) -> None:
        target = self._request.capture_file
        assert target is not None
        try:
            write_file(target, pickle.dumps(snapshot, pickle.HIGHEST_PROTOCOL))
        except OSError as exc:
            self.dump_error = f"the capture file {target.name} could not be written ({exc})"
