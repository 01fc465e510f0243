"""What every measuring backend provides, and the plain data it hands back.

The layer above (markers, report, result collection across processes, pytest wiring) talks to
a backend only through :class:`Backend` and :class:`ActiveTracking`, reads what it can do from
:class:`Capabilities`, and receives results as a stream: every started tracking carries a
``handle``, and :meth:`Backend.take_results` hands back ``(handle, outcome)`` pairs as they
become ready, where the outcome is a :class:`Measurement` or a :class:`NotMeasured` that says
why there are no figures. A backend that measures at once and one that records many calls and
replays them later look the same from above. Outcomes are plain data: they hold no open file
and no object of a backend's library, so they can cross processes as dicts.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pytest_memray.stack import StackFrame

#: The plugin's own source folder. An allocation whose newest Python frame lies in it was made
#: by the plugin (its wrapper around the test, its bookkeeping), never by the test: backends
#: leave such allocations out of every figure, peaks and sites alike.
PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def is_plugin_file(filename: str) -> bool:
    """Whether ``filename`` is one of the plugin's own source files."""
    return filename.startswith(PLUGIN_DIR)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can observe and do. The plugin reads these instead of guessing."""

    #: Sees allocations made by C, C++ or Rust code with ``malloc`` and friends.
    native_allocations: bool
    #: Can show native (C) frames in stacks (``--native``).
    native_frames: bool
    #: Knows which thread made each allocation (``current_thread_only=True``).
    thread_ids: bool
    #: Counts the allocations alive at the peak.
    allocation_counts: bool
    #: Can record each allocation of Python's small-object allocator
    #: (``--trace-python-allocators``).
    python_allocator_tracing: bool
    #: Peak figures are exact high-water marks, not samples.
    exact_peak: bool
    #: Says where the memory alive at the peak was allocated (the report's functions, the
    #: allocation list of a ``limit_memory`` failure).
    allocation_sites: bool
    #: Reports what a call allocated and left alive, by call stack (``limit_leaks`` needs it).
    leaked_sites: bool
    #: Suffix of the capture files it writes with ``--memray-bin-path``.
    capture_suffix: str
    #: The tool that opens those capture files, for the report's last line.
    capture_reader: str
    #: Draws where a call's memory went from its capture file (:meth:`Backend.write_flamegraph`).
    flamegraphs: bool = False


@dataclass(frozen=True)
class TrackingRequest:
    """What the plugin wants to know about one test call; the backend decides how."""

    #: Frames to keep per allocation stack.
    stack_depth: int
    #: Put native frames in the stacks handed back (``--native``); else Python frames only.
    show_native_frames: bool = False
    #: The user asked for every small-object allocation to be recorded
    #: (``--trace-python-allocators``); only where ``Capabilities.python_allocator_tracing``.
    trace_python_allocators: bool = False
    #: Also report what was allocated during the call and is still alive at its end, grouped
    #: as precisely as the backend can (the memray backend records native frames for it).
    want_leaks: bool = False
    #: Where to keep a capture file of this call, or None for no file beyond what tracking needs.
    capture_file: Path | None = None
    #: The outcome must be ready right after :meth:`ActiveTracking.stop` (a marker judges it,
    #: or an output reads it as the test is reported). When False, a backend may hand it over
    #: later, which lets it record many calls in one go.
    needed_at_once: bool = True
    #: The test's node id: the same in every run, so a backend may remember things about the
    #: test from one run to the next (see :attr:`BackendContext.cache_dir`).
    test_id: str = ""


class AllocationSite(NamedTuple):
    """Allocations made from one call stack: their total size, how many, and by which thread.

    A named tuple, as the plugin keeps a few of these for every test of a session.
    """

    size: int
    allocations: int
    stack: tuple[StackFrame, ...]
    #: Backend's id of the allocating thread, or None where the backend does not know threads.
    thread_id: int | None = None


def rank_sites(
    sites: Iterable[AllocationSite],
    key: Callable[[AllocationSite], Hashable] | None = None,
) -> list[AllocationSite]:
    """Sites merged by ``key(site)`` (the whole stack and thread by default), largest first.

    Merged sites add up their sizes and allocations and keep the first one's stack and thread.
    """
    merged: dict[Hashable, list[Any]] = {}
    for site in sites:
        group_key = (site.stack, site.thread_id) if key is None else key(site)
        totals = merged.get(group_key)
        if totals is None:
            merged[group_key] = [site.size, site.allocations, site]
        else:
            totals[0] += site.size
            totals[1] += site.allocations
    ranked = [
        AllocationSite(size, allocations, first.stack, first.thread_id)
        for size, allocations, first in merged.values()
    ]
    ranked.sort(key=lambda site: site.size, reverse=True)
    return ranked


@dataclass
class Measurement:
    """What a backend measured during one test call."""

    #: High-water mark of memory allocated during the call and not yet freed, in bytes.
    peak_bytes: int
    #: Number of allocations alive at the peak, or None where the backend cannot count them.
    allocation_count: int | None
    #: Allocations alive at (or, for sampling backends, near) the peak, largest first.
    peak_sites: list[AllocationSite] = field(default_factory=list)
    #: Allocations made during the call and still alive at its end, largest first;
    #: None unless ``TrackingRequest.want_leaks`` was set.
    leaked_sites: list[AllocationSite] | None = None
    #: Backend's id of the thread that ran the test, where the backend knows threads.
    test_thread_id: int | None = None
    #: The capture file kept for this call, if one was asked for and written.
    capture_file: str | None = None
    #: Things the user should know about this measurement (it is partial, and why).
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NotMeasured:
    """A tracked call that has no figures, and why (the capture could not be written, ...)."""

    reason: str


Outcome = Measurement | NotMeasured


class LastStep(NamedTuple):
    """The last step of opening a tracking, left to the code that calls the test.

    The caller makes it in the very frame that then calls the test code. ``run`` is not a
    Python function (a method of a library written in C or Cython), so no Python frame
    returns between it and the test: memray takes the Python stack it starts on as the base
    of every stack it records, and on Python 3.12 and later a frame that returns before the
    test runs leaves those stacks unreadable to its flamegraph. When ``run`` raises, the
    caller hands the exception to ``failed`` and runs the test unmeasured.
    """

    run: Callable[[], object]
    failed: Callable[[Exception], None]


class ActiveTracking(abc.ABC):
    """Tracking of one test call in progress.

    The plugin calls, in order: :meth:`open` right before the test code runs, :meth:`close`
    right after it (whether it returned or raised), then :meth:`stop`. Between ``open`` and
    ``close`` only the test's own code runs, so everything recorded there is the test's.
    """

    def __init__(self, handle: int) -> None:
        #: Identifies this tracking's outcome in what :meth:`Backend.take_results` returns.
        self.handle = handle

    def open(self) -> LastStep | None:
        """The test code starts now: begin counting (called last before the test), or say
        the one call that begins it, for the caller to make (see :class:`LastStep`)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """The test code has finished: stop counting and detach anything that watches the
        test (profile hooks), so the plugin's own work afterwards is not recorded."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop tracking. Called exactly once, after :meth:`close`.

        The outcome comes from :meth:`Backend.take_results` under :attr:`handle`: right away
        when the request was ``needed_at_once``, else possibly later.
        """


class Backend(abc.ABC):
    """A way of measuring memory. One instance serves a whole pytest session."""

    #: Short name, as given to ``--memray-backend``.
    name: str
    #: Version of the measuring library (memray's, or Python's for tracemalloc).
    version: str
    capabilities: Capabilities

    def __init__(self) -> None:
        self._ready: list[tuple[int, Outcome]] = []
        self._handles = 0

    def next_handle(self) -> int:
        """A new handle for a tracking about to start."""
        self._handles += 1
        return self._handles

    def hand_over(self, handle: int, outcome: Outcome) -> None:
        """Queue ``outcome`` for :meth:`take_results`."""
        self._ready.append((handle, outcome))

    @abc.abstractmethod
    def start(self, request: TrackingRequest) -> ActiveTracking:
        """Start tracking the calling thread's test call (give it :meth:`next_handle`)."""

    def take_results(self) -> list[tuple[int, Outcome]]:
        """Outcomes that became ready since the last call, as ``(handle, outcome)``."""
        ready, self._ready = self._ready, []
        return ready

    def finish(self, *, interrupted: bool = False) -> None:  # noqa: B027 - optional hook
        """The session ends: make every stopped tracking's outcome ready.

        ``interrupted`` (Ctrl-C in a process whose outcomes another process collects, an
        xdist worker) asks to be quick: a backend may then stop recording and leave on disk
        what :meth:`recover` reads in the collecting process, instead of working it out while
        the session is torn down.
        """

    def recover(self, process_id: str) -> list[tuple[int, Outcome]]:
        """Outcomes that the process ``process_id`` of this session (an xdist worker that
        died, or was interrupted) left behind without handing them over. Backends that keep
        nothing on disk recover nothing."""
        return []

    def write_flamegraph(self, capture_file: Path, target: Path, title: str) -> str | None:
        """Draw, as a self-contained HTML page at ``target`` titled ``title``, where the memory
        of the call kept in ``capture_file`` went; None once written, else why it was not.
        Only backends whose ``Capabilities.flamegraphs`` is set draw anything."""
        return f"the {self.name} backend draws no flamegraphs"

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release what the backend holds for the session."""


@dataclass(frozen=True)
class BackendContext:
    """What the plugin tells a backend it builds about the session."""

    #: The same for the whole session: the process that reports and its xdist workers.
    session_id: str
    #: This process within the session: ``"main"``, or an xdist worker's id (``"gw0"``).
    process_id: str
    #: A folder the backends may keep things in from one run to the next (inside pytest's
    #: cache folder; each in a sub-folder named after itself, made when it is needed), or
    #: None without pytest's cache plugin.
    cache_dir: Path | None = None


@dataclass(frozen=True)
class BackendEntry:
    """A backend as registered: enough to list it, rank it, check it and build it."""

    name: str
    #: One line for messages and the docs.
    summary: str
    #: ``auto`` takes the highest-ranked backend that can run.
    rank: int
    #: Why the backend cannot run in this process, or None when it can. Must not raise.
    unavailable_reason: Callable[[], str | None]
    build: Callable[[BackendContext], Backend]
