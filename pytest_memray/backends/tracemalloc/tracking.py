"""One test call's tracking: tracing started and stopped, the watchers opened and closed, and
the measurement (or the reason there is none) handed to the backend."""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from types import FrameType

from pytest_memray.backends.interface import (
    ActiveTracking,
    Backend,
    Measurement,
    NotMeasured,
    Outcome,
    TrackingRequest,
)
from pytest_memray.backends.tracemalloc.counters import Counters
from pytest_memray.backends.tracemalloc.own_use import (
    OWN_USE,
    real_clear_traces,
    real_is_tracing,
    real_reset_peak,
    unseen_reset,
)
from pytest_memray.backends.tracemalloc.pictures import Pictures, TrackingStats
from pytest_memray.backends.tracemalloc.sampler import (
    SAMPLE_INTERVAL,
    Sampler,
    profiler_registered,
)
from pytest_memray.backends.tracemalloc.traces import (
    RawSite,
    RawTrace,
    group,
    grown_since,
    raw_traces,
    to_sites,
)
from pytest_memray.backends.tracemalloc.tracing import Tracing
from pytest_memray.backends.tracemalloc.watch import ProfileWatch


class TracemallocTracking(ActiveTracking):
    """Tracking of one test call. ``stats`` (a :class:`TrackingStats`) says what the
    watchers did; it is complete once :meth:`stop` has returned."""

    def __init__(
        self,
        request: TrackingRequest,
        sampler: Sampler | None,
        handle: int,
        backend: Backend,
        clock: Callable[[], float] = time.perf_counter,
        tracing: Tracing | None = None,
    ) -> None:
        super().__init__(handle)
        self._backend = backend
        self._request = request
        self._sampler = sampler
        self.stats = TrackingStats()
        self._notes: list[str] = []
        self._tracing = Tracing(keep=False) if tracing is None else tracing
        # Set when tracing begins, in open(): whether it is the backend's (started for this
        # call, or kept since an earlier one), where it forgets what was traced before the
        # test; otherwise it is the user's.
        self._begun = False
        self._ours = False
        self._start_snapshot: tracemalloc.Snapshot | None = None
        self._counters = Counters(clock)
        self._pictures = Pictures(request, self._counters, self.stats, clock)
        self._settled = False
        self._collected = False
        self._watched = False
        self._watch = ProfileWatch(
            self, self._counters, sys._getframe(1), sampler is not None, self.stats
        )
        #: What the test did to tracemalloc that makes the figures wrong, if anything.
        self._reset: str | None = None
        # Traced until the call ends, unless the test clears the traces or restarts tracing
        # (made again once tracing has begun).
        self._sentinel = object()
        self._frames = 0

    def open(self) -> None:
        """The test code starts now: tracing begins, what the plugin did since
        :meth:`__init__` (the object census, say) is in the baseline, and the watchers begin."""
        self._begin_tracing()
        hooked = self._watch.hooked
        OWN_USE.install(self)
        self.rebaseline(forget_what_is_traced=not hooked)
        if hooked:
            self._watch.attach()
        else:
            self._notes.append(
                "another profiler holds the profile hook: "
                + (
                    "locations come from the sampler thread only"
                    if self.hand_to_sampler()
                    else "locations are those alive at the end"
                )
            )

    def _begin_tracing(self) -> None:
        """Tracing begins as late as this, so that the plugin's own work before the test is
        never traced: CPython 3.10, 3.11 and early 3.12 releases never free a traceback that
        tracing recorded (gh-121390), some 32 bytes for each place that allocated, each call."""
        request = self._request
        self._ours, note = self._tracing.begin(request.stack_depth)
        self._begun = True
        if note is not None:
            self._notes.append(note)
        if not self._ours and request.want_leaks:
            self._start_snapshot = tracemalloc.take_snapshot()
        self._sentinel = object()
        self._frames = tracemalloc.get_traceback_limit()

    # -- while the test runs (called by the watchers) ---------------------------------------

    def rebaseline(self, forget_what_is_traced: bool = True) -> None:
        """Start counting from what is traced now (the test function is being entered).

        Where the backend started tracing, what was traced since (the plugin's own objects)
        is forgotten first, so that no picture shows it, unless ``forget_what_is_traced`` is
        False (the hook will rebaseline when the test function is entered). Then the peak
        counter starts afresh.
        """
        if forget_what_is_traced and self._ours:
            real_clear_traces()
            self._sentinel = object()  # traced again: see unseen_reset
        self._counters.set_baseline()
        real_reset_peak()

    def picture(self) -> None:
        self._pictures.take(self._watch.test_code)

    def hand_to_sampler(self) -> bool:
        """Let the sampler thread watch the rest of the call; False when there is none, or
        when a profiler of the test's would see its readings (then the hook goes on)."""
        if self._sampler is None:
            return False
        if not self._watched:
            if profiler_registered():
                return False
            self._watched = True
            self._sampler.watch(self)
        return True

    def sample(self) -> None:
        """One reading on the sampler thread."""
        due = self._counters.fold_to_cover(None, "sample")
        self.stats.samples += 1
        if due:
            self.picture()
        else:
            real_reset_peak()

    def before_reset_peak(self, caller: FrameType | None) -> None:
        """The test is about to reset the peak counter: keep the peak reached so far."""
        sampler = self._sampler if self._watched else None
        if sampler is not None:
            sampler.unwatch()  # one reader at a time
        if self._counters.fold_to_cover(caller, "reset"):
            self.picture()
        if sampler is not None:
            sampler.watch(self)

    def reset_by_test(self, reason: str) -> None:
        """The test did something to tracemalloc that makes the figures wrong (the last
        thing it did is told: "stop(), then start()" comes after "stop()")."""
        self._reset = reason

    # -- afterwards ------------------------------------------------------------------------

    def close(self) -> None:
        """The test returned: stop both watchers, then read the peak, before the plugin's
        own work after the call can add to it."""
        self._finish_watching()
        if self._request.want_leaks and not self._collected:
            self._collected = True
            gc.collect()  # unreachable cycles are garbage, not leaks

    def _finish_watching(self) -> None:
        if self._settled:
            return
        self._settled = True
        self._watch.detach()
        if self._watched:
            self._watched = False
            assert self._sampler is not None
            self._sampler.unwatch()
        if not self._begun:  # never opened: there is nothing to read
            return
        counters = self._counters
        # The peak was read at the test function's return where the hook saw it; otherwise
        # now, before the plugin's own work after the call.
        if real_is_tracing() and (
            (not self._watch.returned and counters.fold(None, "settle"))
            or counters.uncovered()
            or (self._request.capture_file is not None and not self._pictures.recorded)
        ):
            counters.cover_now(None, "settle")
            self.picture()
        self._watch.test_frame = None  # the test's locals go now, after the last picture
        OWN_USE.remove()  # after the last reading: what it frees and makes is not the test's

    def stop(self) -> None:
        outcome: Outcome
        try:
            self.close()  # when close() was not called
            if not self._begun:
                outcome = NotMeasured("the tracking was never opened: no test code ran")
            else:
                reset = self._reset or unseen_reset(self._sentinel, self._frames)
                outcome = self._measure() if reset is None else self._not_measured(reset)
        except OSError as exc:  # a capture file that cannot be written
            outcome = NotMeasured(f"tracemalloc's capture file could not be written ({exc})")
        self._backend.hand_over(self.handle, outcome)

    def _not_measured(self, reason: str) -> NotMeasured:
        self._watch.forget()
        self._pictures.drop()
        self._tracing.end(self._ours)  # the test may have started it again
        return NotMeasured(reason)

    def _measure(self) -> Measurement:
        self._watch.forget()
        leaked_raw: list[RawTrace] | None = None
        leaked: list[RawSite] | None = None
        if self._request.want_leaks:
            if self._start_snapshot is None:
                # Tracing began with the call: all still traced was allocated during it.
                leaked_raw = raw_traces()
            else:
                assert self._start_snapshot is not None
                leaked = grown_since(self._start_snapshot)
        self._tracing.end(self._ours)
        if leaked_raw is not None:
            leaked = group(leaked_raw, None)
        pictures = self._pictures
        peak_sites = to_sites(pictures.summary())
        pictures.drop()
        if pictures.gap_note is not None and pictures.gap is not None:
            self._notes.append(pictures.gap_note)
        if pictures.dump_error is not None:
            self._notes.append(pictures.dump_error)
        if pictures.others_reading:
            self._notes.append(
                "another thread reached the peak while the backend read the traces for a "
                "picture: the peak figure may include up to "
                f"{pictures.others_reading} bytes that this reading used at that moment"
            )
        if pictures.sampled:
            self._notes.append(
                "locations come from the sampler thread: they were pictured up to one reading "
                f"({SAMPLE_INTERVAL * 1000:g} ms or more) after memory grew past the last "
                "picture, not at the peak itself; the peak figure is exact"
            )
        return Measurement(
            peak_bytes=self._counters.peak_bytes(),
            allocation_count=sum(site.allocations for site in peak_sites),
            peak_sites=peak_sites,
            leaked_sites=None if leaked is None else to_sites(leaked),
            capture_file=(
                str(self._request.capture_file)
                if self._request.capture_file is not None and self._request.capture_file.exists()
                else None
            ),
            notes=self._notes,
        )
