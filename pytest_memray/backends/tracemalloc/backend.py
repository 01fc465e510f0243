"""The tracemalloc backend: standard library only, so it runs on every platform.

It sees what goes through Python's allocators (objects, buffers, and what extensions such as
numpy report to tracemalloc), not plain ``malloc`` calls from native code.

How a test call is measured:

* tracemalloc traces only during the call. If the user was already tracing, their tracing is
  left running (its peak counter is reset); otherwise tracing is stopped again afterwards.
* The peak is tracemalloc's own exact high-water mark, read as soon as the test function
  returns (:meth:`close`, before the plugin's own work after the call), less what was traced
  when the test function was entered and less what the backend itself holds. Every reading
  of the counters is followed by a reset of the peak counter once the reading's own small
  objects are freed, so the watchers never add to the peak. What a picture keeps is measured
  from the traced total; the interpreter's caches of floats and short tuples make that good to
  a few dozen bytes, so a test pictured while running can be off by that much.
* To say *what* was alive at the peak, the backend keeps a picture (tracemalloc's raw traces)
  whenever the traced total has grown past the last picture by 10% of what the call added (and
  at least 64 KiB); pictures are grouped by location once the call is over. Two watchers read
  the total:

  - a profile hook on the test's thread, for the first :data:`_HOOK_EVENTS` events of the
    test function (calls and returns of Python functions, returns of C functions: what was
    allocated before a C function's call is still there at its return), a picture at the
    very moment of growth; a peak reached and freed between two events is charged to the
    frame that was running;
  - then a sampler thread, one per process, which reads the total every
    :data:`_SAMPLE_INTERVAL` seconds while a test runs and waits otherwise. Its pictures are
    taken near the peak rather than at it; a peak reached and freed between two readings is
    charged to the frame the test was running at the next reading, and the measurement's
    notes say so.

  A hook on every event costs several times a call-heavy test's own time; the sampler costs
  almost nothing. Where threads cannot start (WebAssembly), the hook watches the whole call.
  After a picture that took t seconds, none is taken for 39t seconds (:data:`_TIME_BUDGET`).
  A Python profile function that was already installed is called from the hook, so both work;
  where a C-level profiler holds the hook, the sampler alone watches.
* Allocations whose newest frame is in this package, or that were traced before the test
  function was entered, are left out of the locations.

Each tracking's :attr:`~_TracemallocTracking.stats` counts what the watchers did (hook events,
readings, pictures); the project's tests bound the hook's events per call with it.
"""

from __future__ import annotations

import dis
import gc
import inspect
import pickle
import platform
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

from pytest_memray.backends.interface import (
    PLUGIN_DIR,
    ActiveTracking,
    AllocationSite,
    Backend,
    Capabilities,
    Measurement,
    NotMeasured,
    Outcome,
    TrackingRequest,
    is_plugin_file,
)
from pytest_memray.backends.tracemalloc.source_names import function_at
from pytest_memray.files import write_file
from pytest_memray.stack import StackFrame

CAPABILITIES = Capabilities(
    native_allocations=False,
    native_frames=False,
    thread_ids=False,
    allocation_counts=True,
    python_allocator_tracing=False,
    exact_peak=True,
    allocation_sites=True,
    leaked_sites=True,
    capture_suffix=".tracemalloc",
    capture_reader="tracemalloc.Snapshot.load",
)

_MIN_STEP = 64 * 1024
_MAX_SITES = 1000
#: Above this many live allocations a picture is grouped at once rather than kept raw.
_MAX_RAW_TRACES = 200_000
#: A new picture is taken when memory grew by this share of what the call added so far...
_STEP = 0.1
#: ...but after a picture that took t seconds, none is taken for t * (1 / _TIME_BUDGET - 1)
#: seconds, so pictures never cost more than this share of a test's time.
_TIME_BUDGET = 0.025
#: Events (Python calls and returns, C returns) the profile hook watches at the start of each
#: test call where a sampler thread takes over afterwards. At most 256: CPython keeps the
#: ints up to 256 ready made, so counting them down allocates nothing that would show in the
#: figures.
_HOOK_EVENTS = 32
#: The same for a coroutine or generator test: the event loop's own calls, between two lines
#: of the test, use events up.
_HOOK_EVENTS_SUSPENDING = 200
#: Events the hook sees at most before the test function is entered (plugin work, finalisers
#: run by a garbage collection); past them, the sampler alone watches the call.
_HOOK_EVENTS_BEFORE = 10_000
#: Seconds between two readings of the sampler thread.
_SAMPLE_INTERVAL = 0.001
_traced = tracemalloc.get_traced_memory
_TRACEMALLOC_FILE = tracemalloc.__file__
#: Code whose "return" event may be a pause: coroutines and generators.
_SUSPENDS = (
    inspect.CO_COROUTINE
    | inspect.CO_GENERATOR
    | inspect.CO_ASYNC_GENERATOR
    | inspect.CO_ITERABLE_COROUTINE
)
_get_traces: Callable[[], list[Any]] | None = getattr(tracemalloc, "_get_traces", None)

RawSite = tuple[int, int, tuple[tuple[str, int], ...]]  # size, count, (file, line) newest first


RawTrace = tuple[Any, ...]  # (domain, size, frames newest first, total frames)


def _is_own(filename: str) -> bool:
    """Whether a frame of this file is the plugin's or tracemalloc's, not the test's."""
    return is_plugin_file(filename) or filename == _TRACEMALLOC_FILE


def _newest_first(traceback: tracemalloc.Traceback) -> tuple[tuple[str, int], ...]:
    """A snapshot's traceback (oldest frame first) as raw frames, newest first."""
    return tuple((frame.filename, frame.lineno) for frame in reversed(traceback))


def _raw_traces() -> list[RawTrace]:
    """What is traced now, as tracemalloc's own raw tuples.

    ``tracemalloc._get_traces`` is what ``take_snapshot`` is built on; reading it directly
    skips building a Trace, Traceback and Frame object for every allocation.
    """
    if _get_traces is not None:
        return _get_traces()
    return [  # pragma: no cover - every CPython from 3.9 to 3.13 has _get_traces
        (
            trace.domain,
            trace.size,
            _newest_first(trace.traceback),
            0,
        )
        for trace in tracemalloc.take_snapshot().traces
    ]


def _group_all(traces: list[RawTrace]) -> dict[tuple[tuple[str, int], ...], list[int]]:
    groups: dict[tuple[tuple[str, int], ...], list[int]] = {}
    for trace in traces:
        group = groups.get(trace[2])
        if group is None:
            groups[trace[2]] = [trace[1], 1]
        else:
            group[0] += trace[1]
            group[1] += 1
    return groups


def _group(
    traces: list[RawTrace],
    limit: int | None,
    before: list[RawTrace] | None = None,
) -> list[RawSite]:
    """Traces grouped by traceback, largest first, the plugin's own and what was traced
    ``before`` the test function began left out.

    Ten times faster once tracemalloc has stopped, so the backend groups after stopping
    where it can.
    """
    groups: dict[tuple[tuple[str, int], ...], list[int]] = {}
    own: dict[str, bool] = {}
    for trace in traces:
        frames = trace[2]
        if frames:
            filename = frames[0][0]
            is_own = own.get(filename)
            if is_own is None:
                is_own = own[filename] = _is_own(filename)
            if is_own:
                continue
        group = groups.get(frames)
        if group is None:
            groups[frames] = [trace[1], 1]
        else:
            group[0] += trace[1]
            group[1] += 1
    for frames, (size, count) in (_group_all(before) if before else {}).items():
        group = groups.get(frames)
        if group is not None:
            group[0] -= size
            group[1] -= count
            if group[0] <= 0 or group[1] <= 0:
                del groups[frames]
    ranked = sorted(groups.items(), key=lambda item: item[1][0], reverse=True)
    if limit is not None:
        ranked = ranked[:limit]
    return [(size, count, frames) for frames, (size, count) in ranked]


def _def_line(code: CodeType) -> int:
    """The line of a function's ``def`` (``co_firstlineno`` is its first decorator's)."""
    lines = [line for _, line in dis.findlinestarts(code) if line and line > code.co_firstlineno]
    return min(lines, default=code.co_firstlineno)


def _callers(frame: FrameType | None) -> tuple[FrameType, ...]:
    """``frame`` and its callers."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return tuple(frames)


def _stack_of(frame: FrameType | None, depth: int) -> tuple[tuple[str, int], ...]:
    frames: list[tuple[str, int]] = []
    while frame is not None and len(frames) < depth:
        frames.append((frame.f_code.co_filename, frame.f_lineno or 0))
        frame = frame.f_back
    return tuple(frames)


def _to_sites(raw: Sequence[RawSite]) -> list[AllocationSite]:
    return [
        AllocationSite(
            size=size,
            allocations=count,
            stack=tuple(
                StackFrame(function_at(filename, lineno), filename, lineno)
                for filename, lineno in frames
            ),
        )
        for size, count, frames in raw
    ]


@dataclass
class TrackingStats:
    """What the watchers of one tracemalloc tracking did; read it after :meth:`stop`."""

    #: Calls and returns the profile hook saw (bounded by ``_HOOK_EVENTS`` where a sampler
    #: thread takes over).
    hook_events: int = 0
    #: Readings of the traced total made by the sampler thread.
    samples: int = 0
    #: Pictures of what was alive (one more is taken at the end when none was).
    pictures: int = 0


class _Sampler:
    """A daemon thread that reads the traced total of the tracking being watched.

    It waits on a closed gate while no test runs. ``watch`` opens the gate, ``unwatch`` closes
    it again and returns once a reading in progress is over, so a tracking is never read after
    it stopped being watched.
    """

    def __init__(self) -> None:
        self._gate = threading.Lock()
        self._gate.acquire()
        self._tracking: _TracemallocTracking | None = None
        ready = threading.Event()
        thread = threading.Thread(
            target=self._run, args=(ready,), name="pytest-memray tracemalloc sampler", daemon=True
        )
        thread.start()  # RuntimeError where threads cannot start
        # What the thread allocates for itself is made before any test is measured.
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        # Bound once: the loop allocates nothing itself, so a reading that lands at the peak
        # adds nothing to it once the peak counter is reset (see _TracemallocTracking.sample).
        acquire, release = self._gate.acquire, self._gate.release
        sleep = time.sleep
        ready.set()
        del ready
        while True:
            acquire()
            try:
                tracking = self._tracking
                if tracking is not None:
                    tracking.sample()
            finally:
                release()
            sleep(_SAMPLE_INTERVAL)

    def watch(self, tracking: _TracemallocTracking) -> None:
        self._tracking = tracking
        self._gate.release()

    def unwatch(self) -> None:
        self._gate.acquire()
        self._tracking = None


class _TracemallocTracking(ActiveTracking):
    """Tracking of one test call. ``stats`` (a :class:`TrackingStats`) says what the
    watchers did; it is complete once :meth:`stop` has returned."""

    def __init__(
        self,
        request: TrackingRequest,
        sampler: _Sampler | None,
        handle: int,
        backend: Backend,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(handle)
        self._backend = backend
        self._request = request
        self._clock = clock
        self._sampler = sampler
        self.stats = TrackingStats()
        self._notes: list[str] = []
        self._we_started = not tracemalloc.is_tracing()
        self._start_snapshot: tracemalloc.Snapshot | None = None
        if self._we_started:
            tracemalloc.start(request.stack_depth)
        elif request.want_leaks:
            self._start_snapshot = tracemalloc.take_snapshot()
        self._test_thread = threading.get_ident()
        # Memory the backend itself holds while tracing (the picture, the gap's record); it
        # is left out of figures. The figures kept below are ints, traced objects too: each
        # is a distinct object set before the baseline, and only ever replaced by one of the
        # same size, so that keeping them adds nothing to what the test is charged.
        self._overhead = 0
        self._quiet_until = float("-inf")
        #: What the test had alive at the last reading that asked for a picture.
        self._current = int("1000003")
        self._switch_interval = sys.getswitchinterval()
        # The best picture of the peak so far: raw traces, or sites when there were many.
        self._raw: list[RawTrace] | None = None
        self._sites: list[RawSite] | None = None
        self._gap: RawSite | None = None
        #: (size, count, (frame, event)) of a gap to charge with the next picture.
        self._pending_gap: tuple[int, int, tuple[FrameType | None, str]] | None = None
        self._started = float("-inf")
        self._gap_note: str | None = None
        self._recorded = False
        #: The picture kept was taken by the sampler thread (near the growth, not at it).
        self._sampled = False
        self._settled = False
        self._collected = False
        self._watched = False
        # Traced before the test function was entered (we started tracing): not the test's.
        # Kept raw: grouping them costs more than reading them, and most tests never need it.
        self._before: list[RawTrace] = []
        # The test function's code: not its frame, whose lasting reference would make Python
        # build its caller's frame object when it returns.
        self._test_code: Any = None
        # Frames that were running when tracking started: the test function is the first
        # one called from one of them (not, say, a finaliser that a garbage collection of
        # the plugin's ran in between).
        self._callers = _callers(sys._getframe(1))
        self._events_left = _HOOK_EVENTS if sampler is not None else -1
        self._events_before = _HOOK_EVENTS_BEFORE
        # A Python-level profile function already installed keeps receiving every event
        # through ours; a C-level one cannot be chained, and then the sampler alone watches.
        self._previous_hook: Any = sys.getprofile()
        self._hooked = self._previous_hook is None or callable(self._previous_hook)
        self._hook = self._make_hook()
        if not self._hooked:
            self._notes.append(
                "another profiler holds the profile hook: "
                + (
                    "locations are those alive at the end"
                    if sampler is None
                    else "locations come from the sampler thread only"
                )
            )
        self._baseline = self._summary_total = self._best_peak = self._next_snapshot_at = 0

    def open(self) -> None:
        """The test code starts now: what the plugin did since :meth:`__init__` (the object
        census, say) is in the baseline, and the watchers begin."""
        self._rebaseline(note_what_is_traced=not self._hooked)
        if self._hooked:
            sys.setprofile(self._hook)
        else:
            self._watch()

    # -- while the test runs -------------------------------------------------------------

    def _rebaseline(self, note_what_is_traced: bool = True) -> None:
        """Start counting from what is traced now (the test function is being entered).

        The figures are set twice, so that the second reading already counts their ints, and
        then the peak counter starts afresh. What is traced now is noted too, to be left out
        of the locations, unless ``note_what_is_traced`` is False (the hook will rebaseline
        when the test function is entered, and note it then).
        """
        if note_what_is_traced and self._we_started and _get_traces is not None:
            self._before = _get_traces()
        self._set_baseline()
        self._set_baseline()
        tracemalloc.reset_peak()

    def _set_baseline(self) -> None:
        current = tracemalloc.get_traced_memory()[0] - self._overhead
        self._baseline = current
        self._best_peak = current + 0  # distinct objects: each is replaced on its own
        self._summary_total = current + 0
        self._next_snapshot_at = current + _MIN_STEP

    def _watch(self) -> None:
        if self._sampler is not None and not self._watched:
            self._watched = True
            self._sampler.watch(self)

    def _detach(self) -> None:
        """Take the profile hook off (the previous one, if any, is put back)."""
        if self._hooked:
            self._hooked = False
            if sys.getprofile() is self._hook:
                sys.setprofile(self._previous_hook)

    def _make_hook(self) -> Callable[[FrameType, str, Any], None]:
        """The profile function. After ``on_event`` has read the counters and kept the peak,
        the peak counter is reset, once the reading's own small objects are freed, so that
        they never count."""
        previous = self._previous_hook
        on_event = self._on_event
        picture = self._picture
        reset_peak = tracemalloc.reset_peak
        stats = self.stats

        if previous is None:

            def hook(frame: FrameType, event: str, arg: Any) -> None:
                if event == "c_call":  # its c_return comes next, and reads the same growth
                    return
                due = on_event(frame, event)
                stats.hook_events += 1
                if due:
                    picture()
                elif due is not None:
                    reset_peak()

        else:

            def hook(frame: FrameType, event: str, arg: Any) -> None:
                previous(frame, event, arg)
                if event == "c_call":
                    return
                due = on_event(frame, event)
                stats.hook_events += 1
                if due:
                    picture()
                elif due is not None:
                    reset_peak()

        return hook

    def _on_event(self, frame: FrameType, event: str) -> bool | None:
        """One profile event on the test's thread; True when a picture is due, None while
        the test function has not been entered (nothing read, so no peak reset owed)."""
        if self._test_code is None:
            if (
                event != "call"
                or frame.f_back not in self._callers
                or _is_own(frame.f_code.co_filename)
            ):
                # The plugin's own work before the test function (a garbage collection may
                # run finalisers): not counted against the test's events, but bounded.
                self._events_before -= 1
                if self._events_before == 0 and self._events_left > 0:
                    self._detach()
                    self._watch()
                return None
            # The test function is being entered: what was made so far (including the frame
            # object Python makes for the hook) is not the test's.
            self._test_code = frame.f_code
            self._callers = ()
            if self._events_left > 0 and frame.f_code.co_flags & _SUSPENDS:
                self._events_left = _HOOK_EVENTS_SUSPENDING
            self._rebaseline()
            return False
        if self._events_left > 0:
            self._events_left -= 1
            if self._events_left == 0:
                self._detach()
                self._watch()
        due = self._fold(frame, event)
        if (
            event == "return"
            and frame.f_code is self._test_code
            and not frame.f_code.co_flags & _SUSPENDS
        ):
            # The test function returned (a coroutine's "return" may be a pause): close()
            # comes next and reads the peak before the plugin's work. The sampler is not
            # woken for that moment: handing the interpreter to it and back would cost more.
            self._detach()
        return due

    def sample(self) -> None:
        """One reading on the sampler thread."""
        due = self._fold(None, "sample")
        self.stats.samples += 1
        if due:
            self._picture()
        else:
            tracemalloc.reset_peak()

    def _fold(self, frame: FrameType | None, event: str) -> bool:
        """Read the counters and keep the peak; True when memory grew enough for a picture.

        The caller resets the peak counter afterwards, once this reading's own objects are
        freed (the picture does it itself).
        """
        current, peak = tracemalloc.get_traced_memory()
        if peak == 0:  # the test stopped tracemalloc
            return False
        current -= self._overhead
        peak -= self._overhead
        if peak > self._best_peak:
            self._best_peak = peak
        if peak < self._next_snapshot_at or self._clock() < self._quiet_until:
            return False
        if current < self._next_snapshot_at:
            # The peak came and went between two readings: charge the gap to a frame.
            self._pending_gap = (peak - current, 1, (frame, event))
        self._current = current
        return True

    def _gap_frames(self, frame: FrameType | None, event: str) -> tuple[tuple[str, int], ...]:
        depth = self._request.stack_depth
        if event == "settle":
            self._gap_note = (
                "the peak was reached and freed again after the last reading: its size is "
                "exact, but it is charged to the test function as a whole"
            )
            code = self._test_code
            return () if code is None else ((code.co_filename, _def_line(code)),)
        if frame is not None:
            # A "call" event reports the new frame; the caller is the one that was running.
            return _stack_of(frame.f_back if event == "call" else frame, depth)
        running = sys._current_frames().get(self._test_thread)
        self._gap_note = (
            "the peak was reached and freed again between two readings of the sampler "
            "thread: its size is exact, but it is charged to the frame the test was running "
            "at the next reading, which may not be the one that allocated it"
        )
        return _stack_of(running, depth)

    def _picture(self) -> None:
        """Keep what is alive now (plus a pending gap) as the best picture of the peak so far.

        The raw traces are kept and grouped only after the call; a very large set is grouped
        at once instead, so that what the backend holds stays small. What the backend holds
        afterwards is measured as the traced total less what the test had at the last reading
        (``_current``); the caller then resets the peak counter.
        """
        self._started = self._clock()
        self._raw = self._sites = None  # drop the old picture before taking the new one
        gap = self._take_pending_gap()
        raw: list[RawTrace] | None = _raw_traces()
        if raw is not None and len(raw) > _MAX_RAW_TRACES:
            self._sites, raw = _group(raw, _MAX_SITES, self._before), None
        first = not self._recorded
        self._raw, self._gap, self._recorded = raw, gap, True
        self._sampled = not self._on_test_thread()
        del raw
        if self._request.capture_file is not None:
            self._dump(tracemalloc.take_snapshot())
        self.stats.pictures += 1
        self._summary_total = self._current + (gap[0] if gap is not None else 0)
        del gap
        growth = self._summary_total - self._baseline
        self._next_snapshot_at = self._summary_total + max(int(growth * _STEP), _MIN_STEP)
        now = self._clock()
        if now - self._started > self._switch_interval and not self._on_test_thread():
            self._notes_long_picture()
        self._quiet_until = now + (now - self._started) * (1 / _TIME_BUDGET - 1)
        del now
        overhead = _traced()[0] - self._current
        if first:  # the first non-zero figure is a new int, kept for the rest of the call
            overhead += sys.getsizeof(overhead)
        self._overhead = overhead

    def _on_test_thread(self) -> bool:
        return threading.get_ident() == self._test_thread

    def _notes_long_picture(self) -> None:
        note = (
            "a picture took longer than the interpreter's switch interval, so the test may "
            "have run on while it was measured: the peak can be off by what the test "
            "allocated or freed in that moment"
        )
        if note not in self._notes:
            self._notes.append(note)

    def _take_pending_gap(self) -> RawSite | None:
        gap, self._pending_gap = self._pending_gap, None
        if gap is not None:
            return (gap[0], gap[1], self._gap_frames(*gap[2]))
        return None

    def _summary(self) -> list[RawSite]:
        sites = self._sites if self._raw is None else _group(self._raw, _MAX_SITES, self._before)
        sites = list(sites or [])
        if self._gap is not None:
            sites.insert(0, self._gap)
        return sites

    def _dump(self, snapshot: tracemalloc.Snapshot) -> None:
        target = self._request.capture_file
        assert target is not None
        try:
            write_file(target, pickle.dumps(snapshot, pickle.HIGHEST_PROTOCOL))
        except OSError as exc:
            note = f"the capture file {target.name} could not be written ({exc})"
            if note not in self._notes:
                self._notes.append(note)

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
        self._detach()
        if self._watched:
            self._watched = False
            assert self._sampler is not None
            self._sampler.unwatch()
        if not tracemalloc.is_tracing():
            return
        if self._fold(None, "settle") or not self._recorded:
            self._current = _traced()[0] - self._overhead
            self._picture()

    def stop(self) -> None:
        outcome: Outcome
        try:
            outcome = self._measure()
        except OSError as exc:  # a capture file that cannot be written
            outcome = NotMeasured(f"tracemalloc's capture file could not be written ({exc})")
        self._backend.hand_over(self.handle, outcome)

    def _measure(self) -> Measurement:
        self.close()  # when close() was not called
        self._test_code = None
        self._callers = ()
        still_tracing = tracemalloc.is_tracing()
        leaked_raw: list[RawTrace] | None = None
        leaked: list[RawSite] | None = None
        if still_tracing:
            if self._request.want_leaks:
                if self._start_snapshot is None:
                    # Tracing began with the call: all still traced was allocated during it.
                    leaked_raw = _raw_traces()
                else:
                    leaked = self._leaks_since_start()
        else:
            self._notes.append(
                "the test stopped tracemalloc: figures cover the call up to that point"
            )
        if self._we_started and still_tracing:
            tracemalloc.stop()
        if leaked_raw is not None:
            leaked = _group(leaked_raw, None)
        peak_sites = _to_sites(self._summary())
        self._raw = self._sites = None
        self._before = []
        if self._gap_note is not None and self._gap is not None:
            self._notes.append(self._gap_note)
        if self._sampled:
            self._notes.append(
                "locations come from the sampler thread: they were pictured up to one reading "
                f"({_SAMPLE_INTERVAL * 1000:g} ms or more) after memory grew past the last "
                "picture, not at the peak itself; the peak figure is exact"
            )
        return Measurement(
            peak_bytes=max(0, self._best_peak - self._baseline),
            allocation_count=sum(site.allocations for site in peak_sites),
            peak_sites=peak_sites,
            leaked_sites=None if leaked is None else _to_sites(leaked),
            capture_file=(
                str(self._request.capture_file)
                if self._request.capture_file is not None and self._request.capture_file.exists()
                else None
            ),
            notes=self._notes,
        )

    def _leaks_since_start(self) -> list[RawSite]:
        """What grew since the call started, for a user who was tracing already."""
        assert self._start_snapshot is not None
        end = tracemalloc.take_snapshot()
        own = [
            tracemalloc.Filter(False, PLUGIN_DIR + "*"),
            tracemalloc.Filter(False, _TRACEMALLOC_FILE),
        ]
        diff = end.filter_traces(own).compare_to(
            self._start_snapshot.filter_traces(own), "traceback"
        )
        return [
            (
                stat.size_diff,
                max(stat.count_diff, 1),
                _newest_first(stat.traceback),
            )
            for stat in diff
            if stat.size_diff > 0
        ]


def _start_sampler() -> _Sampler | None:
    """The sampler thread, or None where threads cannot start (WebAssembly)."""
    try:
        return _Sampler()
    except RuntimeError:
        return None


class TracemallocBackend(Backend):
    name = "tracemalloc"
    capabilities = CAPABILITIES

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        """``clock`` times the pictures, to keep them within their share of the test's time."""
        super().__init__()
        self.version = platform.python_version()
        self._clock = clock
        self._sampler: _Sampler | None = None
        self._sampler_tried = False

    def start(self, request: TrackingRequest) -> ActiveTracking:
        if not self._sampler_tried:
            self._sampler_tried = True
            self._sampler = _start_sampler()
        return _TracemallocTracking(request, self._sampler, self.next_handle(), self, self._clock)
