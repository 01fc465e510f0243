"""The memray backend: sees every allocation, native ones included (Linux and macOS, CPython).

Two ways of tracking a test call, with the same figures:

* **Batched** (the default for tests whose result can wait for the end of the session): one
  ``memray.Tracker`` records every allocation and free of many test calls into one capture
  file. Starting and stopping a Tracker costs several milliseconds (memray patches the symbol
  tables of every loaded library each time), so paying it once per batch instead of once per
  test is what makes ``--memray`` cheap. Each call is bracketed by two *boundary marks*:
  zero-filled ``bytes`` objects of 256 MiB and more (allocated with ``calloc``, so no page is
  touched), each of its own size, made by :func:`_place_mark` and freed at once. A record is a
  mark only if it has the expected size *and* its innermost frame is :func:`_place_mark`, so a
  test allocating that very size is not taken for a boundary. When the batch closes, the file
  is replayed as one stream (:func:`replay`): between the marks of a call, allocations made in
  the call are added up and their frees taken off, which gives the same high-water mark, the
  same allocations alive at it and the same count as a Tracker of its own would. Only what the
  call has alive, and what was alive at its peak so far, is held: memory follows what a test
  keeps, not how many allocations it makes. Allocations from before the call that are freed
  during it are ignored, as a Tracker started at the call would not have seen them either.
* **One Tracker per call**, started in :meth:`~ActiveTracking.open` and stopped in
  :meth:`~ActiveTracking.close`, writing an aggregated capture file that is read back at
  once: for requests ``needed_at_once`` (limit markers, junit-xml, pytest-html, a baseline),
  for ``limit_leaks`` (which needs native frames and Python-allocator tracing), and with
  ``--memray-bin-path``, whose users want one capture file per test. A batch in progress is
  closed first (only one Tracker can run). A capture that ended at the file-size limit or on
  a full disk is not trusted (:func:`storage_problem`).

Allocations whose newest Python frame is the plugin's own code are left out of every figure.
Each batch file has a small description beside it, so that the xdist controller can replay
the batch of a worker that died (:meth:`MemrayBackend.recover`); an interrupted worker leaves
its batch on disk for that (:meth:`MemrayBackend.suspend`). A call whose closing mark never
made it to the file is reported as not measured, with the reason.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import memray

from pytest_memray.backends.interface import (
    ActiveTracking,
    AllocationSite,
    Backend,
    BackendContext,
    Capabilities,
    Measurement,
    NotMeasured,
    Outcome,
    TrackingRequest,
    is_plugin_file,
)
from pytest_memray.backends.memray.advice import MeasureAloneAdvice
from pytest_memray.backends.memray.scratch import (
    MAIN,
    process_folder,
    remove,
    remove_abandoned,
)
from pytest_memray.stack import StackFrame

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
)

#: Size of the first boundary mark; mark ``n`` is ``_MARK_BASE + n * _MARK_STEP`` bytes long.
_MARK_BASE = 256 * 1024 * 1024 + 7
_MARK_STEP = 4096
#: A batch is closed and replayed after this many calls, to bound its file and replay.
BATCH_SIZE = 500
#: A batched call that made this many records or more would have been measured faster by a
#: Tracker of its own: replaying a record costs about 0.5 microseconds more than a Tracker's
#: own counting, and a Tracker costs about 14 ms to start and stop. Such a test is measured
#: with a Tracker of its own from the next run on (:mod:`.advice`).
ALONE_RECORDS = 100_000

_SMALL_FREES = frozenset(
    int(kind) for kind in (memray.AllocatorType.FREE, memray.AllocatorType.PYMALLOC_FREE)
)
_MUNMAP = int(memray.AllocatorType.MUNMAP)
_MMAP = int(memray.AllocatorType.MMAP)
_FREES = _SMALL_FREES | {_MUNMAP}
#: Room a capture file must have had left to be trusted (see :func:`storage_problem`).
_WRITE_MARGIN = 1024 * 1024


def _mark_size(index: int) -> int:
    """What memray records for boundary mark ``index``: the object's whole allocation."""
    return sys.getsizeof(b"") + _MARK_BASE + index * _MARK_STEP


def _place_mark(size: int) -> None:
    mark = bytes(size)  # calloc'ed: costs no memory
    del mark


def _marks_fit(batch_size: int) -> bool:
    """Whether this process may ask for a boundary mark's size (costs no memory if it may).

    Under a strict overcommit policy or a small address-space limit it may not; every test
    then gets a Tracker of its own, as without batching. Should a mark fail later in the
    session, batching stops from the next test on.
    """
    try:
        _place_mark(_MARK_BASE + batch_size * 2 * _MARK_STEP)
    except MemoryError:
        return False
    return True


def _stack(record: Any, depth: int, native: bool) -> tuple[StackFrame, ...]:
    if native:
        raw = record.hybrid_stack_trace(max_stacks=depth)
    else:
        raw = record.stack_trace(max_stacks=depth)
    return tuple(StackFrame(str(func), str(file), int(line)) for func, file, line in raw)


def _test_sites(
    records: Iterable[Any], depth: int, native: bool
) -> tuple[list[AllocationSite], int]:
    """Neutral sites from memray's aggregated records (native frames only when ``native``),
    largest first, and the bytes of the sites left out as the plugin's own."""
    sites = []
    own = 0
    for record in records:
        if _made_by_plugin(record):
            own += int(record.size)
            continue
        sites.append(
            AllocationSite(
                size=int(record.size),
                allocations=int(record.n_allocations),
                stack=_stack(record, depth, native),
                thread_id=int(record.tid),
            )
        )
    sites.sort(key=lambda site: site.size, reverse=True)
    return sites, own


class ReplayStats(NamedTuple):
    """How much a replay held at once: the figure that must not grow with the records read."""

    #: Most allocations held at any one time: those alive in the current call, plus those
    #: that were alive at its peak so far and have been freed since.
    most_held: int
    #: Calls whose two boundary marks were found.
    calls: int
    #: The calls (by index) that made :data:`ALONE_RECORDS` records or more.
    heavy: frozenset[int] = frozenset()


def _is_mark(record: Any) -> bool:
    """Whether an allocation of a mark's size was made by :func:`_place_mark`.

    Only records of exactly a mark's size get here, so the stack is looked at rarely; a test
    that allocates the same size from its own code is not taken for a boundary.
    """
    frames = record.stack_trace(max_stacks=1)
    return bool(frames) and frames[0][:2] == _MARK_FRAME


def _made_by_plugin(record: Any) -> bool:
    """Whether the newest Python frame of ``record`` is the plugin's own code."""
    frames = record.stack_trace(max_stacks=1)
    return bool(frames) and is_plugin_file(str(frames[0][1]))


#: How memray names the innermost frame of a boundary mark: function and source file.
_MARK_FRAME = (_place_mark.__code__.co_name, _place_mark.__code__.co_filename)


def replay(
    records: Iterable[Any], depth: int, native: bool
) -> tuple[list[tuple[int, Measurement]], ReplayStats]:
    """Measurements of the calls in a batch's raw records, as ``(call index, measurement)``.

    The records are read once, as a stream. Within a call only the allocations it has alive
    are held, plus those alive at its peak so far and freed since (see :class:`_Call`), so
    memory follows what the test keeps alive, not how many allocations it makes. The stats
    say how many were held at most.
    """
    results: list[tuple[int, Measurement]] = []
    heavy: set[int] = set()
    most_held = 0
    stream = iter(records)
    call = 0
    opening = _mark_size(0)
    for record in stream:
        # Between calls: only the next call's opening mark matters.
        if record.size == opening and record.allocator not in _FREES and _is_mark(record):
            outcome = _replay_call(stream, _mark_size(2 * call + 1), depth, native, record)
            if outcome is None:
                break  # the file ended inside the call: its closing mark was never placed
            measurement, held, made = outcome
            results.append((call, measurement))
            if made >= ALONE_RECORDS:
                heavy.add(call)
            most_held = max(most_held, held)
            call += 1
            opening = _mark_size(2 * call)
    return results, ReplayStats(most_held=most_held, calls=len(results), heavy=frozenset(heavy))


#: A compacted allocation is one int: its size shifted left by this, plus its location.
_LOC_BITS = 32
_LOC_MASK = (1 << _LOC_BITS) - 1
#: Records held as they are before they are compacted into ints.
_RECENT_LIMIT = 4096


class _Call:
    """What the replay holds for the call being read: only allocations alive now or at the peak.

    ``before`` holds the call's allocations made up to its peak so far and still alive,
    ``recent`` and ``after`` those made since, ``gone`` those alive at the peak and freed
    since. What was alive at the peak is then ``before`` and ``gone``; a new peak moves
    ``recent`` and ``after`` into ``before`` and forgets ``gone``.

    ``recent`` maps an address to its memray record: most allocations are freed soon, and
    those cost no more than reading them. The others, once the peak moves past them or once
    ``recent`` fills up, are compacted into one int each, size and location (stack and
    thread) packed together, a third of a record's memory; ``locations`` keeps one record
    per location, for its stack. ``maps`` holds the addresses of the mappings among them.
    """

    __slots__ = (
        "after",
        "before",
        "gone",
        "location_ids",
        "locations",
        "maps",
        "native",
        "recent",
    )

    def __init__(self, native: bool) -> None:
        self.native = native
        self.recent: dict[int, Any] = {}
        self.after: dict[int, int] = {}
        self.before: dict[int, int] = {}
        self.gone: dict[int, int] = {}
        self.maps: set[int] = set()
        self.location_ids: dict[tuple[int, int, int], int] = {}
        self.locations: list[Any] = []

    def held(self) -> int:
        return len(self.recent) + len(self.after) + len(self.before) + len(self.gone)

    def compact(self, into: dict[int, int]) -> None:
        """Move ``recent`` into ``into`` as ints."""
        ids, locations, native = self.location_ids, self.locations, self.native
        for address, record in self.recent.items():
            key = (record.stack_id, record.native_stack_id if native else 0, record.tid)
            where = ids.get(key)
            if where is None:
                where = ids[key] = len(locations)
                locations.append(record)
            into[address] = record.size << _LOC_BITS | where
        self.recent.clear()

    def new_peak(self) -> None:
        self.compact(self.before)
        if self.after:
            self.before.update(self.after)
            self.after.clear()
        if self.gone:
            self.gone.clear()

    def unmap(self, start: int, length: int) -> int:
        """Take ``[start, start + length)`` off the call's mappings; returns the bytes unmapped.

        A mapping cut at one end or in the middle leaves pieces, each counted as an
        allocation of the same stack (as memray counts them). Mappings made before the
        call are not the call's: ignored.
        """
        self.compact(self.after)
        end = start + length
        freed = 0
        for address in [a for a in self.maps if a < end]:
            entry = self.after.get(address)
            if entry is None:
                entry = self.before[address]
            size = entry >> _LOC_BITS
            if address + size <= start:
                continue
            if self.after.pop(address, None) is None:
                self.gone[address] = self.before.pop(address)
            self.maps.discard(address)
            cut_from, cut_to = max(address, start), min(address + size, end)
            freed += cut_to - cut_from
            for piece_from, piece_to in ((address, cut_from), (cut_to, address + size)):
                if piece_to > piece_from:
                    where = entry & _LOC_MASK
                    self.after[piece_from] = (piece_to - piece_from) << _LOC_BITS | where
                    self.maps.add(piece_from)
        return freed

    def measurement(self, peak: int, opening: Any, depth: int) -> Measurement:
        """What was alive at the peak, grouped like memray groups it: by stack and thread."""
        sizes = [0] * len(self.locations)
        counts = [0] * len(self.locations)
        for entries in (self.before, self.gone):
            for entry in entries.values():
                sizes[entry & _LOC_MASK] += entry >> _LOC_BITS
                counts[entry & _LOC_MASK] += 1
        sites = [
            AllocationSite(
                size=sizes[where],
                allocations=counts[where],
                stack=_stack(record, depth, self.native),
                thread_id=int(record.tid),
            )
            for where, record in enumerate(self.locations)
            if counts[where]
        ]
        sites.sort(key=lambda site: site.size, reverse=True)
        return Measurement(
            peak_bytes=peak,
            allocation_count=sum(counts),
            peak_sites=sites,
            test_thread_id=int(opening.tid),
        )


def _replay_call(
    stream: Iterator[Any], closing: int, depth: int, native: bool, opening: Any
) -> tuple[Measurement, int, int] | None:
    """Read one call's records up to its closing mark: its measurement, the most
    allocations held at once, and how many records it made; None if the stream ends first."""
    call = _Call(native)
    recent, after, before, gone, maps = call.recent, call.after, call.before, call.gone, call.maps
    current = peak = 0
    most_held = 0
    settled = 0  # allocations held as ints: all but ``recent``
    frees, munmap, mmap, bits, limit = _SMALL_FREES, _MUNMAP, _MMAP, _LOC_BITS, _RECENT_LIMIT
    plugin_stacks: dict[int, bool] = {}
    # Each attribute of a memray record is built on access: read only those needed.
    for records, record in enumerate(stream, 1):
        kind = record.allocator
        if kind in frees:
            address = record.address
            fresh = recent.pop(address, None)
            if fresh is not None:
                current -= fresh.size
                continue
            old = after.pop(address, None)
            if old is None:
                old = before.pop(address, None)
                if old is None:
                    continue  # allocated before the call
                gone[address] = old
            else:
                settled -= 1
            current -= old >> bits
        elif kind == munmap:
            current -= call.unmap(record.address, record.size)
            settled = call.held()
            most_held = max(most_held, settled)
        else:
            address, size = record.address, record.size
            if size == closing and _is_mark(record):
                return call.measurement(peak, opening, depth), most_held, records
            stack_id = record.stack_id
            own = plugin_stacks.get(stack_id)
            if own is None:
                own = plugin_stacks[stack_id] = _made_by_plugin(record)
            if own:
                continue  # the plugin's wrapper, not the test (its free is ignored too)
            recent[address] = record
            if kind == mmap:
                maps.add(address)
            current += size
            if current > peak:
                peak = current
                call.new_peak()
                settled = len(before)
            elif len(recent) > limit:
                call.compact(after)
                settled = call.held()
            if len(recent) + settled > most_held:
                most_held = len(recent) + settled
    return None


def storage_problem(path: Path) -> str | None:
    """Why the capture file at ``path`` may be incomplete, or None.

    When memray cannot grow its file it stops recording and says so only on stderr; the file
    then reads as a call that allocated nothing. So a file that ended near the file size
    limit (``ulimit -f``), or on a disk with no room left, is not trusted.
    """
    try:
        size = path.stat().st_size
        limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        if limit != resource.RLIM_INFINITY and size + _WRITE_MARGIN > limit:
            return (
                f"its capture file reached the file size limit of {limit} bytes (ulimit -f), "
                "so memray may have stopped recording"
            )
        folder = os.statvfs(path.parent)
        if folder.f_bavail * folder.f_frsize < _WRITE_MARGIN:
            return "the disk holding its capture file is full, so memray may have stopped recording"
    except OSError as exc:
        return f"its capture file could not be checked ({exc})"
    return None


class _Batch:
    """One Tracker recording many calls between boundary marks.

    Its calls have consecutive handles from ``first``. Beside the capture file, a small
    description of the batch is written first, so that a batch whose process died can be
    replayed by another one (:meth:`MemrayBackend.recover`).
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
        self._marks = 0  # boundary marks reserved so far
        folder.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        _describe_batch(self.path, first, self.depth, self.show_native)
        self._tracker = memray.Tracker(
            self.path,
            native_traces=self.native_traces,
            trace_python_allocators=self.trace_python_allocators,
            file_format=memray.FileFormat.ALL_ALLOCATIONS,
        )
        self._tracker.__enter__()

    def takes(self, request: TrackingRequest, batch_size: int) -> bool:
        """Whether a call asking for ``request`` can be recorded in this batch."""
        return (
            not self.broken
            and self.calls < batch_size
            and request.show_native_frames == self.native_traces
            and request.trace_python_allocators == self.trace_python_allocators
            and request.stack_depth == self.depth
        )

    def next_mark_sizes(self) -> tuple[int, int]:
        """Sizes to ask for the next call's two boundary marks.

        They are worked out before the call starts, so that placing the closing mark makes
        no allocation but the mark itself.
        """
        opening = _MARK_BASE + self._marks * _MARK_STEP
        self._marks += 2
        self.calls += 1
        return opening, opening + _MARK_STEP

    def stop_recording(self) -> str | None:
        """Stop the Tracker; why its file is unusable, or None."""
        try:
            self._tracker.__exit__(None, None, None)
        except Exception as exc:
            return f"memray could not finish its capture file ({exc})"
        return None

    def close(self) -> tuple[list[tuple[int, Outcome]], frozenset[int]]:
        """Stop recording and replay the file: one outcome per finished call, and the
        handles of the calls that made :data:`ALONE_RECORDS` records or more."""
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
    handle ``first + n``), and the handles of the calls that made :data:`ALONE_RECORDS`
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


class _BatchedTracking(ActiveTracking):
    def __init__(
        self, batch: _Batch, request: TrackingRequest, handle: int, backend: MemrayBackend
    ) -> None:
        super().__init__(handle)
        self._batch = batch
        self._request = request
        self._backend = backend
        self._opening, self._closing = batch.next_mark_sizes()
        self._failed: str | None = None
        #: A Tracker of its own, where the opening mark could not be placed.
        self._instead: _TrackerPerCall | None = None

    def open(self) -> None:
        try:
            _place_mark(self._opening)  # last: the window starts after it
        except MemoryError:
            # No room for a mark: this call and the ones after it get Trackers of their own.
            self._batch.broken = True
            self._batch.calls -= 1  # this call has no window in the batch
            self._instead = self._backend.tracker_instead(self._request, self.handle)
            self._instead.open()

    def close(self) -> None:
        if self._instead is not None:
            self._instead.close()
            return
        try:
            _place_mark(self._closing)  # first: the window ends before anything else
        except MemoryError:
            # The call's window stays open: it cannot be measured, and no more calls join.
            self._failed = "the closing boundary mark of its memray batch could not be allocated"
            self._batch.broken = True

    def stop(self) -> None:
        if self._instead is not None:
            self._instead.stop()
        elif self._failed is not None:
            self._backend.hand_over(self.handle, NotMeasured(self._failed))


class _TrackerPerCall(ActiveTracking):
    """A Tracker of its own, started right before the test code and stopped right after."""

    def __init__(
        self, request: TrackingRequest, scratch_dir: Path, handle: int, backend: MemrayBackend
    ) -> None:
        super().__init__(handle)
        self._request = request
        self._backend = backend
        self._failed: str | None = None
        if request.capture_file is not None:
            self._path = request.capture_file
            self._keep = True
        else:
            scratch_dir.mkdir(parents=True, exist_ok=True)
            self._path = scratch_dir / f"call-{handle}.bin"
            self._keep = False
        self._path.unlink(missing_ok=True)  # memray refuses to overwrite
        # Precise leak grouping needs native frames and every small-object allocation.
        self._tracker = memray.Tracker(
            self._path,
            native_traces=request.show_native_frames or request.want_leaks,
            trace_python_allocators=request.trace_python_allocators or request.want_leaks,
            file_format=memray.FileFormat.AGGREGATED_ALLOCATIONS,
        )
        self._open = False

    def open(self) -> None:
        try:
            self._tracker.__enter__()
        except Exception as exc:
            self._failed = f"memray could not start tracking ({exc})"
        else:
            self._open = True

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._request.want_leaks:
            gc.collect()  # unreachable cycles are garbage, not leaks
        try:
            self._tracker.__exit__(None, None, None)
        except Exception as exc:
            self._failed = f"memray could not finish its capture file ({exc})"

    def stop(self) -> None:
        self.close()
        outcome: Outcome
        if self._failed is None:
            self._failed = storage_problem(self._path)
        if self._failed is not None:
            outcome = NotMeasured(self._failed)
        else:
            try:
                outcome = self._read()
            except (OSError, RuntimeError, ValueError) as exc:
                outcome = NotMeasured(f"memray could not read its capture file ({exc})")
        if not self._keep:
            self._path.unlink(missing_ok=True)
        self._backend.hand_over(self.handle, outcome)

    def _read(self) -> Measurement:
        request = self._request
        reader = memray.FileReader(self._path)
        try:
            metadata = reader.metadata
            # Native traces may be on for precise leak grouping without the user asking to see
            # native frames; they are shown only on request (--native).
            native = request.show_native_frames and bool(metadata.has_native_traces)
            peak_sites, own_bytes = _test_sites(
                reader.get_high_watermark_allocation_records(merge_threads=False),
                request.stack_depth,
                native,
            )
            leaked: list[AllocationSite] | None = None
            if request.want_leaks:
                leaked, _ = _test_sites(
                    reader.get_leaked_allocation_records(merge_threads=False),
                    request.stack_depth,
                    native,
                )
            return Measurement(
                peak_bytes=max(0, int(metadata.peak_memory) - own_bytes),
                allocation_count=sum(site.allocations for site in peak_sites),
                peak_sites=peak_sites,
                leaked_sites=leaked,
                test_thread_id=int(metadata.main_thread_id),
                capture_file=str(self._path) if self._keep else None,
            )
        finally:
            reader.close()


class MemrayBackend(Backend):
    name = "memray"
    capabilities = CAPABILITIES

    def __init__(self, context: BackendContext, batch_size: int = BATCH_SIZE) -> None:
        super().__init__()
        self.version = str(getattr(memray, "__version__", "unknown"))
        self._session_id = context.session_id
        self._main = context.process_id == MAIN
        self._scratch = process_folder(context.session_id, context.process_id)
        if self._main:
            remove_abandoned(self._scratch.parent)
        self._advice = MeasureAloneAdvice(
            None if context.cache_dir is None else context.cache_dir / self.name,
            context.process_id,
        )
        self._batch_size = batch_size
        self._batch: _Batch | None = None
        self._can_batch: bool | None = None  # found out at the first batchable call
        #: The test ids of the calls in batches not replayed yet, by handle.
        self._batched: dict[int, str] = {}

    def start(self, request: TrackingRequest) -> ActiveTracking:
        handle = self.next_handle()
        batch = self._batch
        if batch is not None and batch.broken:
            self._can_batch = False
        batchable = (
            not request.needed_at_once
            and request.capture_file is None
            and not request.want_leaks
            and not self._advice.measure_alone(request.test_id)
        )
        if batchable and self._can_batch is None:
            self._can_batch = _marks_fit(self._batch_size)
        if batchable and self._can_batch:
            if batch is None or not batch.takes(request, self._batch_size):
                self._close_batch()
                batch = self._batch = _Batch(self._scratch, handle, request)
            self._batched[handle] = request.test_id
            return _BatchedTracking(batch, request, handle, self)
        return self.tracker_instead(request, handle)

    def tracker_instead(self, request: TrackingRequest, handle: int) -> _TrackerPerCall:
        """A Tracker of its own for the call ``handle``, closing the batch first."""
        self._close_batch()
        self._batched.pop(handle, None)
        return _TrackerPerCall(request, self._scratch, handle, self)

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

    def close(self) -> None:
        self._close_batch()
        self._ready.clear()
        self._advice.save()
        if self._main:
            remove(self._scratch)
