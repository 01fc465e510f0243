"""Reading tracemalloc's counters for one call: the baseline, the exact peak, the overhead.

The peak is tracemalloc's own high-water mark, less what was traced when the test function
was entered (the baseline) and less what the backend itself holds for its pictures (the
overhead, measured object by object by the pictures: see :func:`.traces.own_bytes`). Every
reading is followed by a reset of the peak counter once the reading's own small objects are
freed (by the caller, or by the picture), so the watchers never add to the peak. The figures
kept here are in arrays, not int objects: keeping them adds nothing to what the test is
charged, and neither does the sampler thread writing them after the test's thread did.
"""

from __future__ import annotations

import tracemalloc
from array import array
from collections.abc import Callable
from types import FrameType

#: At a call, or a C function's return, seen by the profile hook, a picture is due once the
#: traced total grew past the last one by this much at least...
MIN_STEP = 64 * 1024
#: ...and by this share of what the call added so far.
STEP = 0.1
#: At a return of a Python function (whose locals are about to be freed) and at a reading of
#: the sampler thread, a picture is due as soon as the last one would not cover nine tenths
#: of the peak, and the peak grew past it by this much at least. A test function's own return
#: and the end of the call need no more than the nine tenths: every peak gets its locations.
COVER_STEP = 1024
#: After a picture that took t seconds, none is taken for t * (1 / TIME_BUDGET - 1) seconds,
#: so pictures never cost more than this share of a test's time...
TIME_BUDGET = 0.025
#: ...but for a picture due once the memory grew past the last one by as much as that one
#: had grown, and by this much at least: the last picture would no longer show half the
#: peak. A slow picture (a loaded machine) made the test's next growth go unpictured, and
#: charged to the test function as a whole when its locals were gone before the end (a
#: coroutine's). At most one per doubling of what the test holds past this step.
FORCE_STEP = 1024 * 1024
#: A peak reached while a picture read the traces is another thread's doing once it passes
#: the best peak by more than this, plus :data:`READING_BYTES_PER_TRACE` per trace read: the
#: picture's own objects up to then are a few hundred bytes (the reading that asked for it,
#: the list object of the traces)...
OTHERS_STEP = 4096
#: ...and reading the traces needs memory of its own for a moment, which tracemalloc counts
#: on some builds: up to 8 bytes per trace on a free-threaded CPython 3.13 (in blocks of
#: 200 KiB and more, once there are some 20 000 traces), none on the others. Twice that.
READING_BYTES_PER_TRACE = 16

traced = tracemalloc.get_traced_memory


class _Figure:
    """A figure of :class:`Counters`, kept in an array rather than as an int object.

    Reading it makes an int, which the reading thread frees again; writing it frees no int
    of another thread's. On a free-threaded build an object that one thread made and
    another frees is handed back to its maker in a queue whose blocks are traced (2 KiB
    each), and a figure written by the sampler thread and by the test's thread in turn did
    that: the sampler thread added to the peak.
    """

    def __init__(self, index: int) -> None:
        self.index = index

    def __get__(self, counters: Counters, owner: type | None = None) -> int:
        return counters.figures[self.index]

    def __set__(self, counters: Counters, value: int) -> None:
        counters.figures[self.index] = value


class _Moment:
    """A moment (in the clock's seconds) of :class:`Counters`, kept as :class:`_Figure`."""

    def __get__(self, counters: Counters, owner: type | None = None) -> float:
        return counters.moments[0]

    def __set__(self, counters: Counters, value: float) -> None:
        counters.moments[0] = value


class Counters:
    """The figures of one call, read from tracemalloc's counters."""

    #: Memory the backend holds while tracing (the picture, the gap's record).
    overhead = _Figure(0)
    #: What the test had alive at the last reading that asked for a picture.
    current = _Figure(1)
    baseline = _Figure(2)
    summary_total = _Figure(3)
    best_peak = _Figure(4)
    next_picture_at = _Figure(5)
    cover_at = _Figure(6)
    #: A picture is due past this even while pictures are put off (:data:`FORCE_STEP`).
    force_at = _Figure(7)
    #: No picture before this moment (see :meth:`quiet_after`).
    quiet_until = _Moment()

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.figures = array("q", bytes(8 * 8))
        self.moments = array("d", [float("-inf")])
        #: (size, count, (frame, event)) of a peak that came and went before the reading
        #: that asked for a picture: charged to a frame with the next picture.
        self.pending_gap: tuple[int, int, tuple[FrameType | None, str]] | None = None

    def set_baseline(self) -> None:
        """Count from what is traced now. The caller then resets the peak counter."""
        current = traced()[0] - self.overhead
        self.baseline = current
        self.best_peak = current
        self.summary_total = current
        self.current = current
        self.next_picture_at = current + MIN_STEP
        self.cover_at = current + COVER_STEP
        self.force_at = current + FORCE_STEP
        self.quiet_until = float("-inf")

    def fold(self, frame: FrameType | None, event: str) -> bool:
        """Read the counters and keep the peak; True when memory grew enough for a picture
        (at a call, or a C function's return: past :attr:`next_picture_at`).

        The caller resets the peak counter afterwards, once this reading's own objects are
        freed (the picture does it itself).
        """
        current, peak = traced()
        if peak == 0:  # the test stopped tracemalloc
            return False
        current -= self.overhead
        peak -= self.overhead
        if peak > self.best_peak:
            self.best_peak = peak
        if peak < self.next_picture_at or self._put_off(peak):
            return False
        if current < self.next_picture_at:
            # The peak came and went between two readings: charge the gap to a frame.
            self.pending_gap = (peak - current, 1, (frame, event))
        self.current = current
        return True

    def read(self, frame: FrameType | None, event: str) -> bool:
        """Read the counters and keep the peak; never asks for a picture."""
        peak = traced()[1]
        if peak == 0:  # the test stopped tracemalloc
            return False
        peak -= self.overhead
        if peak > self.best_peak:
            self.best_peak = peak
        return False

    def fold_to_cover(self, frame: FrameType | None, event: str) -> bool:
        """:meth:`fold` where what is alive may be freed next (a return, a reading of the
        sampler, a reset of the peak counter): True when the last picture does not cover
        nine tenths of the peak (past :attr:`cover_at`)."""
        current, peak = traced()
        if peak == 0:  # the test stopped tracemalloc
            return False
        current -= self.overhead
        peak -= self.overhead
        if peak > self.best_peak:
            self.best_peak = peak
        if self.best_peak < self.cover_at or self._put_off(self.best_peak):
            return False
        self.current = current
        self.owe_gap(frame, event)
        return True

    def uncovered(self) -> bool:
        """The last picture (gap included) covers less than nine tenths of the peak."""
        return (self.best_peak - self.summary_total) * 10 > self.best_peak - self.baseline

    def cover_now(self, frame: FrameType | None, event: str) -> None:
        """Read what is alive now, for a picture that must cover the peak (gap included)."""
        self.current = traced()[0] - self.overhead
        self.owe_gap(frame, event)

    def owe_gap(self, frame: FrameType | None, event: str) -> None:
        """Charge what is alive now (:attr:`current`) will not cover of the peak to ``frame``,
        when that is more than a tenth of the peak."""
        missing = self.best_peak - self.current
        if missing * 10 > self.best_peak - self.baseline:
            self.pending_gap = (missing, 1, (frame, event))

    def _put_off(self, peak: int) -> bool:
        """Whether a picture due at ``peak`` waits: pictures are quiet for now (see
        :meth:`quiet_after`) and the memory has not grown past :attr:`force_at`. Asked only
        once a picture is due, so it costs the readings nothing."""
        return peak < self.force_at and self.clock() < self.quiet_until

    def keep_peak_of_others(self, traces: int) -> int | None:
        """A picture has read ``traces`` traces: keep the peak reached meanwhile when only
        another thread can have made it (the reset after the picture would forget it). Then
        the bytes the reading itself may have used at that moment, which the peak kept can
        include, are told."""
        reading = READING_BYTES_PER_TRACE * traces
        peak = traced()[1] - self.overhead
        if peak <= self.best_peak + OTHERS_STEP + reading:
            return None
        self.best_peak = peak
        return reading

    def pictured(self, total: int, held: int) -> None:
        """A picture of ``total`` bytes (from :attr:`current`) was taken, and the backend
        holds ``held`` bytes now: set the next threshold and the overhead."""
        self.summary_total = total
        growth = total - self.baseline
        self.next_picture_at = total + max(int(growth * STEP), MIN_STEP)
        self.cover_at = total + max(growth // 9, COVER_STEP)
        self.force_at = total + max(growth, FORCE_STEP)
        self.overhead = held

    def quiet_after(self, started: float, now: float) -> None:
        """A picture took from ``started`` to ``now``: none for a while."""
        self.quiet_until = now + (now - started) * (1 / TIME_BUDGET - 1)

    def peak_bytes(self) -> int:
        return max(0, self.best_peak - self.baseline)
