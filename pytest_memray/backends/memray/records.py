"""What the memray backend reads off memray's records: stacks, sites and the plugin's own share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_memray.backends.interface import AllocationSite, is_plugin_file
from pytest_memray.stack import StackFrame


def stack_of(record: Any, depth: int, native: bool) -> tuple[StackFrame, ...]:
    """The frames of ``record``, newest first, with native ones only when ``native``."""
    if native:
        raw = record.hybrid_stack_trace(max_stacks=depth)
    else:
        raw = record.stack_trace(max_stacks=depth)
    return tuple(StackFrame(str(func), str(file), int(line)) for func, file, line in raw)


def made_by_plugin(record: Any) -> bool:
    """Whether the newest Python frame of ``record`` is the plugin's own code."""
    frames = record.stack_trace(max_stacks=1)
    return bool(frames) and is_plugin_file(str(frames[0][1]))


def sites_of(records: Iterable[Any], depth: int, native: bool) -> tuple[list[AllocationSite], int]:
    """Neutral sites from memray's aggregated records (native frames only when ``native``),
    largest first, and the bytes of the sites left out as the plugin's own."""
    sites = []
    own = 0
    for record in records:
        if made_by_plugin(record):
            own += int(record.size)
            continue
        sites.append(
            AllocationSite(
                size=int(record.size),
                allocations=int(record.n_allocations),
                stack=stack_of(record, depth, native),
                thread_id=int(record.tid),
            )
        )
    sites.sort(key=lambda site: site.size, reverse=True)
    return sites, own
