"""The memory markers: reading them off a test, and judging a measurement against them."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import pytest

from .backends.interface import AllocationSite, Measurement
from .leaked_objects import LeakedObjects
from .sizes import format_size, parse_size
from .stack import LeakedObjectsFilterFunction, LeaksFilterFunction, Stack

MEMORY_SECTION = "memray-max-memory"
LEAKS_SECTION = "memray-leaked-memory"
OBJECTS_SECTION = "memray-tracked-objects"
#: Frames shown per leaked allocation at least, whatever --stacks says: enough to find it.
LEAK_FRAMES = 5


def _limit_memory(limit: str, *, current_thread_only: bool = False) -> None:
    """limit_memory(limit, *, current_thread_only=False)"""


def _limit_leaks(
    location_limit: str,
    *,
    filter_fn: Optional[LeaksFilterFunction] = None,
    current_thread_only: bool = False,
) -> None:
    """limit_leaks(location_limit, *, filter_fn=None, current_thread_only=False)"""


def _limit_leaked_objects(*, filter_fn: Optional[LeakedObjectsFilterFunction] = None) -> None:
    """limit_leaked_objects(*, filter_fn=None)"""


MARKER_SIGNATURES: dict[str, Callable[..., None]] = {
    "limit_memory": _limit_memory,
    "limit_leaks": _limit_leaks,
    "limit_leaked_objects": _limit_leaked_objects,
}

MARKER_HELP = {
    "limit_memory": (
        "limit_memory(limit, *, current_thread_only=False): fail the test if the peak memory "
        "of its call reaches limit, a size such as '24 MB'."
    ),
    "limit_leaks": (
        "limit_leaks(location_limit, *, filter_fn=None, current_thread_only=False): fail the "
        "test if one call stack leaks at least location_limit during its call."
    ),
    "limit_leaked_objects": (
        "limit_leaked_objects(*, filter_fn=None): fail the test if Python objects created "
        "during its call are still alive after it."
    ),
}


class MarkerError(Exception):
    """A memory marker on a test is malformed; the message names the test and the value."""


@dataclass(frozen=True)
class MemoryLimit:
    limit: int
    current_thread_only: bool = False


@dataclass(frozen=True)
class LeaksLimit:
    limit: int
    filter_fn: Optional[LeaksFilterFunction] = None
    current_thread_only: bool = False


@dataclass(frozen=True)
class LeakedObjectsLimit:
    filter_fn: Optional[LeakedObjectsFilterFunction] = None


Limit = Union[MemoryLimit, LeaksLimit, LeakedObjectsLimit]


def _describe(mark: pytest.Mark) -> str:
    parts = [repr(arg) for arg in mark.args]
    parts += [f"{key}={value!r}" for key, value in mark.kwargs.items()]
    return f"@pytest.mark.{mark.name}({', '.join(parts)})"


def _parse(mark: pytest.Mark, nodeid: str) -> Limit:
    where = f"{nodeid}: invalid {_describe(mark)}"
    try:
        bound = inspect.signature(MARKER_SIGNATURES[mark.name]).bind(*mark.args, **mark.kwargs)
    except TypeError as exc:
        raise MarkerError(
            f"{where}: {exc}; expected {MARKER_SIGNATURES[mark.name].__doc__}"
        ) from None
    bound.apply_defaults()
    values = bound.arguments
    if not isinstance(values.get("current_thread_only", False), bool):
        raise MarkerError(f"{where}: current_thread_only must be True or False")
    filter_fn = values.get("filter_fn")
    if filter_fn is not None and not callable(filter_fn):
        raise MarkerError(f"{where}: filter_fn must be callable or None")
    if mark.name == "limit_leaked_objects":
        return LeakedObjectsLimit(filter_fn=filter_fn)
    size_text = values["limit"] if mark.name == "limit_memory" else values["location_limit"]
    try:
        size = parse_size(size_text)
    except ValueError as exc:
        raise MarkerError(f"{where}: {exc}") from None
    if mark.name == "limit_memory":
        return MemoryLimit(size, current_thread_only=values["current_thread_only"])
    return LeaksLimit(size, filter_fn=filter_fn, current_thread_only=values["current_thread_only"])


#: The published plugin's words when more than one memory marker applies to a test; kept
#: verbatim at the start of our message so that tools matching them keep working.
ONE_MARKER_TEXT = "Only one Memray marker can be applied to each test"


def limit_for(item: pytest.Item) -> Optional[Limit]:
    """The memory marker that applies to ``item``.

    Marks of one kind on several levels (module, class, test) are allowed: the closest wins.
    Two marks on one level, or marks of two kinds anywhere on the chain, are an error.

    Raises:
        MarkerError: the marker is malformed, or two memory markers apply.
    """
    closest: Optional[pytest.Mark] = None
    kinds: dict[str, pytest.Mark] = {}
    for node in reversed(item.listchain()):
        marks = [mark for mark in node.own_markers if mark.name in MARKER_SIGNATURES]
        if len(marks) > 1:
            names = " and ".join(_describe(mark) for mark in marks)
            raise MarkerError(f"{ONE_MARKER_TEXT}: {item.nodeid} has {names} on {node.name}")
        for mark in marks:
            kinds.setdefault(mark.name, mark)
            closest = closest or mark
    if len(kinds) > 1:
        names = " and ".join(_describe(mark) for mark in kinds.values())
        raise MarkerError(f"{ONE_MARKER_TEXT}: {item.nodeid} has {names}")
    return None if closest is None else _parse(closest, item.nodeid)


# -- judging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """Why a test failed its memory limit: a one-line summary and a titled section."""

    summary: str
    section: str
    details: str


#: Allocations a limit_memory failure lists below verbosity 2; the rest are counted.
LISTED_SITES = 10
_INDENT = " " * 4


def render_sites(
    title: str, sites: Sequence[AllocationSite], stacks: int, most: Optional[int] = None
) -> str:
    """A failure section's list of allocation sites, laid out as the published plugin does.

    One line per site, ``    - <size> allocated here:``, then its first ``stacks`` frames
    indented by eight spaces, then a line ``        ...`` if the stack had more frames. With
    ``most``, only the ``most`` largest sites are listed and a last line counts the others.
    """
    shown = list(sites)
    if most is not None:
        shown = sorted(shown, key=lambda site: site.size, reverse=True)[:most]
    lines = [title]
    for site in shown:
        lines.append(f"{_INDENT}- {format_size(site.size)} allocated here:")
        lines += [f"{_INDENT * 2}{frame}" for frame in site.stack[:stacks]]
        if len(site.stack) > stacks:
            lines.append(f"{_INDENT * 2}...")
        if not site.stack:
            lines.append(f"{_INDENT * 2}<no Python frames>")
    if len(sites) > len(shown):
        lines.append(f"{_INDENT}...and {len(sites) - len(shown)} more")
    return "\n".join(lines)


def _visible(
    measurement: Measurement, sites: list[AllocationSite], thread_only: bool
) -> list[AllocationSite]:
    if thread_only and measurement.test_thread_id is not None:
        return [site for site in sites if site.thread_id == measurement.test_thread_id]
    return sites


def _merge_threads(sites: list[AllocationSite]) -> list[AllocationSite]:
    merged: dict[tuple[Any, ...], list[int]] = {}
    for site in sites:
        totals = merged.setdefault(site.stack, [0, 0])
        totals[0] += site.size
        totals[1] += site.count
    result = [AllocationSite(size, count, stack) for stack, (size, count) in merged.items()]
    result.sort(key=lambda site: site.size, reverse=True)
    return result


def filter_failure(marker: str, exc: BaseException) -> Failure:
    """The failure for a ``filter_fn`` that raised."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Failure(
        summary=f"The filter_fn of {marker} raised {type(exc).__name__}: {exc}",
        section=f"{marker} filter_fn error",
        details=text.rstrip(),
    )


def limited_peak(limit: MemoryLimit, measurement: Measurement) -> tuple[int, list[AllocationSite]]:
    """The peak a limit_memory marker judges, and the sites it is made of.

    With ``current_thread_only`` (where the backend knows threads) only the test thread's
    sites at the peak count.
    """
    sites = measurement.peak_sites
    if limit.current_thread_only and measurement.test_thread_id is not None:
        sites = _visible(measurement, sites, True)
        return sum(site.size for site in sites), sites
    return measurement.peak_bytes, sites


def check_memory(
    limit: MemoryLimit, measurement: Measurement, stacks: int, verbosity: int
) -> Optional[Failure]:
    """Fail when the call's peak reached the limit.

    The list of allocations follows ``verbosity``: none below 0 (no section), the
    ``LISTED_SITES`` largest up to 1, all from 2.
    """
    peak, sites = limited_peak(limit, measurement)
    if peak < limit.limit or peak == 0:
        return None
    details = ""
    if verbosity >= 0:
        most = None if verbosity >= 2 else LISTED_SITES
        details = render_sites("List of allocations:", sites, stacks, most)
    return Failure(
        summary=f"Test was limited to {format_size(limit.limit)} but allocated {format_size(peak)}",
        section=MEMORY_SECTION,
        details=details,
    )


def check_leaks(
    limit: LeaksLimit, measurement: Measurement, stacks: int, verbosity: int
) -> Optional[Failure]:
    """Fail when one call stack leaked at least the limit; at least ``LEAK_FRAMES`` frames.

    Every offending stack is listed, whatever ``verbosity`` (which only limit_memory follows).
    """
    del verbosity
    stacks = max(stacks, LEAK_FRAMES)
    sites = _visible(measurement, measurement.leaked_sites or [], limit.current_thread_only)
    if not limit.current_thread_only:
        sites = _merge_threads(sites)
    offending = []
    for site in sites:
        if site.size < limit.limit:
            break  # sites are sorted by size, largest first
        try:
            ignored = limit.filter_fn is not None and not limit.filter_fn(Stack(site.stack))
        except Exception as exc:
            return filter_failure("limit_leaks", exc)
        if not ignored:
            offending.append(site)
    if not offending:
        return None
    return Failure(
        summary=(
            f"Test was allowed to leak {format_size(limit.limit)} per location "
            "but at least one location leaked more"
        ),
        section=LEAKS_SECTION,
        details=render_sites("List of leaked allocations:", offending, stacks),
    )


#: Object types a limit_leaked_objects failure lists; the rest are counted.
LISTED_TYPES = 10


def describe_leaked_objects(leaked: LeakedObjects) -> Failure:
    """The failure for objects that outlived the call, laid out as the published plugin does."""
    lines = [
        "List of leaked objects:",
        f"{_INDENT}Object types that leaked (total: {leaked.total} objects):",
    ]
    listed = leaked.by_type[:LISTED_TYPES]
    width = max((len(str(count)) for _, count in listed), default=1)
    lines += [f"{_INDENT * 2}- {count:>{width}} {name} instance(s)" for name, count in listed]
    if len(leaked.by_type) > len(listed):
        lines.append(f"{_INDENT * 2}... and {len(leaked.by_type) - len(listed)} more types")
    lines += ["", f"{_INDENT}Sample of leaked objects:"]
    lines += [f"{_INDENT * 2}- {text}" for text in leaked.sample]
    if leaked.total > len(leaked.sample):
        lines.append(f"{_INDENT * 2}... and {leaked.total - len(leaked.sample)} more")
    return Failure(
        summary=f"Test leaked {leaked.total} objects",
        section=OBJECTS_SECTION,
        details="\n".join(lines),
    )
