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
    is_own,
    raw_traces,
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
LONG_PICTURE_NOTE = (
    "a picture took longer than the interpreter's switch interval, so the test may "
    "have run on while it was measured: the peak can be off by what the test "
    "allocated or freed in that moment"
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


def stack_of(frame: FrameType | None, depth: int) -> RawFrames:
    frames: list[tuple[str, int]] = []
    while frame is not None and len(frames) < depth:
        frames.append((frame.f_code.co_filename, frame.f_lineno or 0))
        frame = frame.f_back
    return tuple(frames)


class Pictures:
    """The best picture of one call's peak so far, and the notes on how it was taken."""

    def __init__(
        self,
        request: TrackingRequest,
        counters: Counters,
        stats: TrackingStats,
        notes: list[str],
        clock: Callable[[], float],
    ) -> None:
        self._request = request
        self._counters = counters
        self._stats = stats
        self._notes = notes
        self._clock = clock
        self._test_thread = threading.get_ident()
        self._switch_interval = sys.getswitchinterval()
        # The best picture of the peak so far: raw traces, or sites when there were many.
        self.raw: list[RawTrace] | None = None
        self.sites: list[RawSite] | None = None
        self.gap: RawSite | None = None
        self._started = float("-inf")
        self.gap_note: str | None = None
        self.recorded = False
        #: The picture kept was taken by the sampler thread (near the growth, not at it).
        self.sampled = False

    def take(self, test_code: CodeType | None) -> None:
        """Keep what is alive now (plus a pending gap) as the best picture of the peak so far.

        The raw traces are kept and grouped only after the call; a very large set is grouped
        at once instead, so that what the backend holds stays small. What the backend holds
        afterwards is measured as the traced total less what the test had at the last reading
        (``Counters.current``), and the peak counter is reset.
        """
        counters = self._counters
        self._started = self._clock()
        self.raw = self.sites = None  # drop the old picture before taking the new one
        raw: list[RawTrace] | None = raw_traces()
        gap = self._take_pending_gap(test_code)  # after: its own work is not in the picture
        if raw is not None and len(raw) > MAX_RAW_TRACES:
            self.sites, raw = group(raw, MAX_SITES), None
        first = not self.recorded
        self.raw, self.gap, self.recorded = raw, gap, True
        self.sampled = not self._on_test_thread()
        del raw
        if self._request.capture_file is not None:
            self._dump(tracemalloc.take_snapshot())
        self._stats.pictures += 1
        total = counters.current + (gap[0] if gap is not None else 0)
        del gap
        now = self._clock()
        if now - self._started > self._switch_interval and not self._on_test_thread():
            self._add_note(LONG_PICTURE_NOTE)
        counters.quiet_after(self._started, now)
        del now
        counters.pictured(total, first)
        # What the picture made and freed on the way (grouping, a snapshot for a capture
        # file, the gap's frames) is not the test's: the peak counter starts afresh.
        real_reset_peak()

    def _on_test_thread(self) -> bool:
        return threading.get_ident() == self._test_thread

    def _add_note(self, note: str) -> None:
        if note not in self._notes:
            self._notes.append(note)

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
            return stack_of(frame.f_back if event == "call" else frame, depth)
        if event != "settle":
            running = sys._current_frames().get(self._test_thread)
            # Not when the test thread is in the plugin's code: the test function returned.
            if running is not None and not is_own(running.f_code.co_filename):
                self.gap_note = SAMPLER_GAP_NOTE
                return stack_of(running, depth)
        self.gap_note = SETTLE_GAP_NOTE
        return () if test_code is None else ((test_code.co_filename, def_line(test_code)),)

    def summary(self) -> list[RawSite]:
        """The picture kept, grouped by location, the gap first."""
        sites = self.sites if self.raw is None else group(self.raw, MAX_SITES)
        sites = list(sites or [])
        if self.gap is not None:
            sites.insert(0, self.gap)
        return sites

    def drop(self) -> None:
        """Let go of the raw traces once they are summarised."""
        self.raw = self.sites = None

    def _dump(self, snapshot: tracemalloc.Snapshot) -> None:
        target = self._request.capture_file
        assert target is not None
        try:
            write_file(target, pickle.dumps(snapshot, pickle.HIGHEST_PROTOCOL))
        except OSError as exc:
            self._add_note(f"the capture file {target.name} could not be written ({exc})")
