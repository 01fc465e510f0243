"""Replaying a batch's capture file: the figures of each call between its boundary marks.

The records are read once, as one stream (:func:`replay`): between the marks of a call,
allocations made in the call are added up and their frees taken off, which gives the same
high-water mark, the same allocations alive at it and the same count as a Tracker of its own
would. Only what the call has alive, and what was alive at its peak so far, is held
(:class:`_Call`): memory follows what a test keeps, not how many allocations it makes.
Allocations from before the call that are freed during it are ignored, as a Tracker started at
the call would not have seen them either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import memray

from pytest_memray.backends.interface import AllocationSite, Measurement
from pytest_memray.backends.memray.hooks import HOOK_NOT_OURS, HOOK_REPLACED
from pytest_memray.backends.memray.marks import (
    ANCHOR_SIZE,
    MARK_TO_ANCHOR,
    PROBE_SIZE,
    mark_size,
    saw_frames,
)
from pytest_memray.backends.memray.records import made_by_plugin, stack_of

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


class ReplayStats(NamedTuple):
    """How much a replay held at once: the figure that must not grow with the records read."""

    #: Most allocations held at any one time: those alive in the current call, plus those
    #: that were alive at its peak so far and have been freed since.
    most_held: int
    #: Calls whose two boundary marks were found.
    calls: int
    #: The calls (by index) that made :data:`ALONE_RECORDS` records or more.
    heavy: frozenset[int] = frozenset()


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
    opening = mark_size(0)
    #: Threads that made an opening mark, and how many of their allocations may still come
    #: before its anchor (a profile function the user installed runs, and may allocate, on
    #: the calls between the two).
    marked: dict[int, int] = {}
    #: The call whose probe is still to come, and its thread.
    probed: Measurement | None = None
    probe_thread = 0
    for record in stream:
        # Between calls: only the next call's opening mark, its anchor and the last call's
        # probe matter. Most records are none of them: their size is all that is read.
        size = record.size
        if not marked and probed is None:
            if size == opening and record.allocator not in _FREES:
                marked[record.tid] = MARK_TO_ANCHOR
            continue
        if record.allocator in _FREES:
            continue  # frees never break the pattern
        thread = record.tid
        if size == opening:
            marked[thread] = MARK_TO_ANCHOR
            continue
        if probed is not None and thread == probe_thread:
            if (
                size == PROBE_SIZE
                and HOOK_NOT_OURS not in probed.notes
                and not saw_frames(record, probe=True)
            ):
                probed.notes.append(HOOK_REPLACED)
            probed = None
        left = marked.get(thread)
        if left is None:
            continue
        if size != ANCHOR_SIZE:
            # Not the anchor: another allocation of that thread, or the mark's size was
            # allocated by someone else.
            if left > 1:
                marked[thread] = left - 1
            else:
                del marked[thread]
            continue
        marked.clear()
        outcome = _replay_call(stream, record.address, depth, native, record)
        if outcome is None:
            break  # the file ended inside the call: its anchor was never freed
        measurement, held, made = outcome
        if not saw_frames(record):
            measurement.notes.append(HOOK_NOT_OURS)
        results.append((call, measurement))
        probed, probe_thread = measurement, thread
        if made >= ALONE_RECORDS:
            heavy.add(call)
        most_held = max(most_held, held)
        call += 1
        opening = mark_size(call)
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
                stack=stack_of(record, depth, self.native),
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
    stream: Iterator[Any], anchor: int, depth: int, native: bool, opening: Any
) -> tuple[Measurement, int, int] | None:
    """Read one call's records up to the free of its anchor (at address ``anchor``): its
    measurement, the most allocations held at once, and how many records it made; None if
    the stream ends first."""
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
            if address == anchor:
                return call.measurement(peak, opening, depth), most_held, records
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
            stack_id = record.stack_id
            own = plugin_stacks.get(stack_id)
            if own is None:
                own = plugin_stacks[stack_id] = made_by_plugin(record)
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
