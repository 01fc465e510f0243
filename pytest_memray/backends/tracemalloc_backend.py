"""The tracemalloc backend: standard library only, so it runs on every platform.

It sees what goes through Python's allocators (objects, buffers, and what extensions such as
numpy report to tracemalloc), not plain ``malloc`` calls from native code.

How a test call is measured:

* tracemalloc traces only during the call. If the user was already tracing, their tracing is
  left running (its peak counter is reset); otherwise tracing is stopped again afterwards.
* The peak is tracemalloc's own exact high-water mark, minus the memory the backend itself
  holds while measuring.
* To say *what* was alive at the peak, a profile hook on the test's thread watches the traced
  total at every function call and return. Whenever the total exceeds the last recorded one by
  10% of what the call added (and at least 64 KiB), it keeps the raw traces as the best
  picture so far; they are grouped by location once the call is over. After a picture that
  took t seconds, none is taken for 4t seconds, so pictures cost at most a fifth of a test's
  time (a test that grows fast past large heaps gets fewer, older pictures). When the peak was
  reached and freed again between two events, the gap is charged to the frame that was
  running, on top of a snapshot of what was still alive. No thread is needed, so this works
  where threads cannot start (WebAssembly). A Python profile function that was already
  installed is called from the hook, so both work; where a C-level profiler holds the hook,
  only the state at the end of the call is summarised (coarser).
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from types import FrameType
from typing import Any, Callable, Optional

from ..stack import StackFrame
from .interface import (
    ActiveTracking,
    AllocationSite,
    Backend,
    Capabilities,
    Measurement,
    TrackingRequest,
)
from .source_names import function_at

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
_TIME_BUDGET = 0.2
_OWN_FILES = (tracemalloc.__file__, __file__)

RawSite = tuple[int, int, tuple[tuple[str, int], ...]]  # size, count, (file, line) newest first


RawTrace = tuple[Any, ...]  # (domain, size, frames newest first, total frames)


def _newest_first(traceback: tracemalloc.Traceback) -> tuple[tuple[str, int], ...]:
    """A snapshot's traceback (oldest frame first) as raw frames, newest first."""
    return tuple((frame.filename, frame.lineno) for frame in reversed(traceback))


def _raw_traces() -> list[RawTrace]:
    """What is traced now, as tracemalloc's own raw tuples.

    ``tracemalloc._get_traces`` is what ``take_snapshot`` is built on; reading it directly
    skips building a Trace, Traceback and Frame object for every allocation.
    """
    get_traces = getattr(tracemalloc, "_get_traces", None)
    if get_traces is not None:
        traces: list[RawTrace] = get_traces()
        return traces
    return [  # pragma: no cover - every CPython from 3.9 to 3.13 has _get_traces
        (
            trace.domain,
            trace.size,
            _newest_first(trace.traceback),
            0,
        )
        for trace in tracemalloc.take_snapshot().traces
    ]


def _group(traces: list[RawTrace], limit: Optional[int]) -> list[RawSite]:
    """Traces grouped by traceback, largest first, the backend's own left out.

    Ten times faster once tracemalloc has stopped, so the backend groups after stopping
    where it can.
    """
    groups: dict[tuple[tuple[str, int], ...], list[int]] = {}
    for trace in traces:
        frames = trace[2]
        if frames and frames[0][0] in _OWN_FILES:
            continue
        group = groups.get(frames)
        if group is None:
            groups[frames] = [trace[1], 1]
        else:
            group[0] += trace[1]
            group[1] += 1
    ranked = sorted(groups.items(), key=lambda item: item[1][0], reverse=True)
    if limit is not None:
        ranked = ranked[:limit]
    return [(size, count, frames) for frames, (size, count) in ranked]


def _stack_of(frame: Optional[FrameType], depth: int) -> tuple[tuple[str, int], ...]:
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


class _TracemallocTracking(ActiveTracking):
    def __init__(self, request: TrackingRequest, handle: int, backend: Backend) -> None:
        super().__init__(handle)
        self._request = request
        self._backend = backend
        self._notes: list[str] = []
        self._we_started = not tracemalloc.is_tracing()
        self._start_snapshot: Optional[tracemalloc.Snapshot] = None
        if self._we_started:
            tracemalloc.start(request.stack_depth)
        elif request.want_leaks:
            self._start_snapshot = tracemalloc.take_snapshot()
        # Memory the backend itself holds while tracing (summaries); it is left out of figures.
        self._overhead = 0
        self._baseline = 0
        self._best_peak = 0
        self._closing_peak: Optional[int] = None
        self._capture_error: Optional[str] = None
        # The best picture of the peak so far: raw traces, or sites when there were many.
        self._raw: Optional[list[RawTrace]] = None
        self._sites: Optional[list[RawSite]] = None
        self._gap: Optional[RawSite] = None
        self._recorded = False
        self._quiet_until = 0.0
        self._previous_hook: Any = None
        self._hooked = False

    def open(self) -> None:
        self._baseline = tracemalloc.get_traced_memory()[0]
        self._best_peak = self._summary_total = self._baseline
        self._next_snapshot_at = self._baseline + _MIN_STEP
        self._rearm()
        # A Python-level profile function already installed keeps receiving every event
        # through ours; a C-level one cannot be chained, and then only the end is summarised.
        self._previous_hook = sys.getprofile()
        if self._previous_hook is None or callable(self._previous_hook):
            self._hook = self._make_hook()
            self._hooked = True
        else:
            self._notes.append(
                "another profiler holds the profile hook: locations are those alive at the end"
            )
        tracemalloc.reset_peak()
        if self._hooked:
            sys.setprofile(self._hook)

    # -- while the test runs -------------------------------------------------------------

    def _rearm(self) -> None:
        """Work out the traced peak at which the hook has something to do.

        Kept in one attribute, as the hook compares against it on every event.
        """
        self._trigger_at = self._next_snapshot_at + self._overhead

    def _make_hook(self) -> Callable[[FrameType, str, Any], None]:
        """The profile function: one C call and one comparison on most events."""
        get_traced_memory = tracemalloc.get_traced_memory
        previous = self._previous_hook
        on_growth = self._on_growth

        if previous is None:

            def hook(frame: FrameType, event: str, arg: Any) -> None:
                if get_traced_memory()[1] >= self._trigger_at:
                    on_growth(frame, event)

        else:

            def hook(frame: FrameType, event: str, arg: Any) -> None:
                previous(frame, event, arg)
                if get_traced_memory()[1] >= self._trigger_at:
                    on_growth(frame, event)

        return hook

    def _on_growth(self, frame: FrameType, event: str) -> None:
        if time.perf_counter() < self._quiet_until:
            return  # the last picture was costly: let the test run a while first
        current, peak = tracemalloc.get_traced_memory()
        if peak == 0:  # the test stopped tracemalloc
            return
        current -= self._overhead
        peak -= self._overhead
        if current >= self._next_snapshot_at:
            self._record(None)
        elif peak >= self._next_snapshot_at:
            # The peak came and went between two events: charge the gap to this frame.
            # A "call" event reports the new frame; the caller is the one that was running.
            origin = frame.f_back if event == "call" else frame
            self._record((peak - current, 1, _stack_of(origin, self._request.stack_depth)))

    def _record(self, gap: Optional[RawSite]) -> None:
        """Keep what is alive now (plus ``gap``) as the best picture of the peak so far.

        The raw traces are kept and grouped only after the call; a very large set is grouped
        at once instead, so that what the backend holds stays small.
        """
        started = time.perf_counter()
        current, peak = tracemalloc.get_traced_memory()
        true_current = current - self._overhead
        self._best_peak = max(self._best_peak, peak - self._overhead)
        self._raw = self._sites = None  # drop the old picture before taking the new one
        raw: Optional[list[RawTrace]] = _raw_traces()
        if raw is not None and len(raw) > _MAX_RAW_TRACES:
            self._sites, raw = _group(raw, _MAX_SITES), None
        self._raw, self._gap, self._recorded = raw, gap, True
        if self._request.capture_file is not None:
            self._dump(tracemalloc.take_snapshot())
        self._summary_total = true_current + (gap[0] if gap is not None else 0)
        self._overhead = tracemalloc.get_traced_memory()[0] - true_current
        tracemalloc.reset_peak()
        growth = self._summary_total - self._baseline
        self._next_snapshot_at = self._summary_total + max(int(growth * _STEP), _MIN_STEP)
        now = time.perf_counter()
        self._quiet_until = now + (now - started) * (1 / _TIME_BUDGET - 1)
        self._rearm()

    def _summary(self) -> list[RawSite]:
        sites = self._sites if self._raw is None else _group(self._raw, _MAX_SITES)
        sites = list(sites or [])
        if self._gap is not None:
            sites.insert(0, self._gap)
        return sites

    def _dump(self, snapshot: tracemalloc.Snapshot) -> None:
        target = self._request.capture_file
        assert target is not None
        # A short name of its own: the target's name may already be as long as names get.
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".partial")
        os.close(fd)
        try:
            snapshot.dump(partial)
            os.replace(partial, target)
        except OSError as exc:
            if os.path.exists(partial):
                os.unlink(partial)
            self._capture_error = f"the capture file {target.name} could not be written ({exc})"

    # -- afterwards ------------------------------------------------------------------------

    def close(self) -> None:
        """Detach the hook and keep the peak before the plugin does anything else."""
        if self._hooked and sys.getprofile() is self._hook:
            sys.setprofile(self._previous_hook)
        self._hooked = False
        if self._closing_peak is None and tracemalloc.is_tracing():
            self._closing_peak = tracemalloc.get_traced_memory()[1]
            if self._request.want_leaks:
                gc.collect()  # unreachable cycles are garbage, not leaks

    def stop(self) -> None:
        self._backend.hand_over(self.handle, self._measure())

    def _measure(self) -> Measurement:
        self.close()
        still_tracing = tracemalloc.is_tracing()
        leaked_raw: Optional[list[RawTrace]] = None
        leaked: Optional[list[RawSite]] = None
        if still_tracing:
            self._best_peak = max(self._best_peak, (self._closing_peak or 0) - self._overhead)
            if not self._recorded:
                self._record(None)
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
        if self._capture_error is not None:
            self._notes.append(self._capture_error)
        return Measurement(
            peak_bytes=max(0, self._best_peak - self._baseline),
            allocation_count=sum(site.allocations for site in peak_sites),
            peak_sites=peak_sites,
            leaked_sites=None if leaked is None else _to_sites(leaked),
            capture_file=(
                str(self._request.capture_file)
                if self._request.capture_file is not None
                and self._capture_error is None
                and self._request.capture_file.exists()
                else None
            ),
            notes=self._notes,
        )

    def _leaks_since_start(self) -> list[RawSite]:
        """What grew since the call started, for a user who was tracing already."""
        assert self._start_snapshot is not None
        end = tracemalloc.take_snapshot()
        own = [tracemalloc.Filter(False, name) for name in _OWN_FILES]
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


class TracemallocBackend(Backend):
    name = "tracemalloc"
    capabilities = CAPABILITIES

    def __init__(self) -> None:
        super().__init__()
        self.version = platform.python_version()

    def start(self, request: TrackingRequest) -> ActiveTracking:
        return _TracemallocTracking(request, self.next_handle(), self)
