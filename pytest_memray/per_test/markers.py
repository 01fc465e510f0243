"""The memory markers: reading them off a test, and each limit judging what was measured.

A limit states what it needs (a measurement, its leaked sites, an object census) and judges
the evidence with one ``check``. A figure that was not measured never passes a limit: the
check fails with the reason instead.
"""

from __future__ import annotations

import abc
import inspect
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from pytest_memray.backends.interface import (
    AllocationSite,
    Measurement,
    NotMeasured,
    Outcome,
    rank_sites,
)
from pytest_memray.per_test.leaked_objects import LeakedObjects, summarise
from pytest_memray.sizes import format_size, parse_size
from pytest_memray.stack import LeakedObjectsFilterFunction, LeaksFilterFunction, Stack

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
    filter_fn: LeaksFilterFunction | None = None,
    current_thread_only: bool = False,
) -> None:
    """limit_leaks(location_limit, *, filter_fn=None, current_thread_only=False)"""


def _limit_leaked_objects(*, filter_fn: LeakedObjectsFilterFunction | None = None) -> None:
    """limit_leaked_objects(*, filter_fn=None)"""


MARKER_SIGNATURES: dict[str, Callable[..., None]] = {
    "limit_memory": _limit_memory,
    "limit_leaks": _limit_leaks,
    "limit_leaked_objects": _limit_leaked_objects,
}


class MarkerError(Exception):
    """A memory marker on a test is malformed; the message names the test and the value."""


@dataclass(frozen=True)
class Failure:
    """Why a test failed its memory limit: a one-line summary and a titled section."""

    summary: str
    section: str
    details: str


class IncreaseHistory(Protocol):
    """Peaks of earlier runs, for ``--fail-on-increase`` (see :mod:`.increase_history`)."""

    def failure(self, nodeid: str, peak: int) -> Failure | None:
        """Judge ``peak`` against the recorded one and record it; the failure, or None."""


@dataclass(frozen=True)
class Judging:
    """What a limit needs to know besides the evidence."""

    nodeid: str
    #: Frames shown per allocation (--stacks).
    stacks: int
    #: Detail of allocation lists: <0 none, 0-1 ten, 2+ all.
    verbosity: int
    #: Earlier peaks, when --fail-on-increase checks them (None otherwise).
    history: IncreaseHistory | None = None


class Limit(abc.ABC):
    """A memory marker's meaning for one test."""

    #: The marker's name, for messages.
    marker: str
    #: Needs the backend to measure the call.
    needs_measurement: bool = True
    #: Needs what the call left alive, by call stack (``Capabilities.leaked_sites``).
    needs_leaks: bool = False
    #: Needs the census of Python objects around the call.
    needs_census: bool = False
    #: Restricts itself to the test's own thread (needs ``Capabilities.thread_ids``).
    current_thread_only: bool = False

    @property
    def limit_bytes(self) -> int | None:
        """The size the marker sets, for the JSON output; None when it sets none."""
        return None

    def stack_depth(self, stacks: int) -> int:
        """Frames to record per allocation, given ``--stacks``."""
        return stacks

    def check(self, outcome: Outcome | None, judging: Judging) -> Failure | None:
        """The failure this limit finds in ``outcome``, or None."""
        return None

    def check_survivors(self, survivors: list[Any]) -> Failure | None:
        """The failure this limit finds in the objects the call left alive, or None."""
        return None

    def _not_measured(self, outcome: Outcome | None, what: str) -> Failure:
        reason = outcome.reason if isinstance(outcome, NotMeasured) else "no result came back"
        return Failure(
            summary=f"{what}, but the memory of this test could not be measured: {reason}",
            section=MEMORY_SECTION,
            details="",
        )


@dataclass(frozen=True)
class MemoryLimit(Limit):
    """``limit_memory``: the call's peak stays below ``limit``."""

    limit: int
    current_thread_only: bool = False
    marker = "limit_memory"

    @property
    def limit_bytes(self) -> int | None:
        return self.limit

    def check(self, outcome: Outcome | None, judging: Judging) -> Failure | None:
        if not isinstance(outcome, Measurement):
            return self._not_measured(outcome, f"Test was limited to {format_size(self.limit)}")
        peak, sites = self.judged_peak(outcome)
        if judging.history is not None:
            # Growth is judged (and the peak recorded) before the limit, as published.
            failure = judging.history.failure(judging.nodeid, peak)
            if failure is not None:
                return failure
        if peak < self.limit or peak == 0:
            return None
        details = ""
        if judging.verbosity >= 0:
            most = None if judging.verbosity >= 2 else LISTED_SITES
            details = render_sites("List of allocations:", sites, judging.stacks, most)
        return Failure(
            summary=(
                f"Test was limited to {format_size(self.limit)} but allocated {format_size(peak)}"
            ),
            section=MEMORY_SECTION,
            details=details,
        )

    def judged_peak(self, measurement: Measurement) -> tuple[int, list[AllocationSite]]:
        """The peak this limit judges, and the sites it is made of.

        With ``current_thread_only`` (where the backend knows threads) only the test thread's
        sites at the peak count.
        """
        if self.current_thread_only and measurement.test_thread_id is not None:
            sites = _own_thread(measurement, measurement.peak_sites)
            return sum(site.size for site in sites), sites
        return measurement.peak_bytes, measurement.peak_sites


@dataclass(frozen=True)
class LeaksLimit(Limit):
    """``limit_leaks``: no call stack leaves ``limit`` or more allocated after the call."""

    limit: int
    filter_fn: LeaksFilterFunction | None = None
    current_thread_only: bool = False
    marker = "limit_leaks"
    needs_leaks = True

    @property
    def limit_bytes(self) -> int | None:
        return self.limit

    def stack_depth(self, stacks: int) -> int:
        return max(stacks, LEAK_FRAMES)

    def check(self, outcome: Outcome | None, judging: Judging) -> Failure | None:
        if not isinstance(outcome, Measurement) or outcome.leaked_sites is None:
            return self._not_measured(
                outcome, f"Test was allowed to leak {format_size(self.limit)} per location"
            )
        sites = outcome.leaked_sites
        if self.current_thread_only:
            sites = _own_thread(outcome, sites)
        else:
            sites = rank_sites(sites, key=lambda site: site.stack)
        offending = []
        for site in sites:
            if site.size < self.limit:
                break  # sites are sorted by size, largest first
            try:
                ignored = self.filter_fn is not None and not self.filter_fn(Stack(site.stack))
            except Exception as exc:
                return filter_failure(self.marker, exc)
            if not ignored:
                offending.append(site)
        if not offending:
            return None
        return Failure(
            summary=(
                f"Test was allowed to leak {format_size(self.limit)} per location "
                "but at least one location leaked more"
            ),
            section=LEAKS_SECTION,
            # Every offending stack is listed, whatever the verbosity (as published).
            details=render_sites(
                "List of leaked allocations:", offending, self.stack_depth(judging.stacks)
            ),
        )


@dataclass(frozen=True)
class LeakedObjectsLimit(Limit):
    """``limit_leaked_objects``: no Python object created by the call outlives it."""

    filter_fn: LeakedObjectsFilterFunction | None = None
    marker = "limit_leaked_objects"
    needs_measurement = False
    needs_census = True

    def check_survivors(self, survivors: list[Any]) -> Failure | None:
        try:
            leaked = summarise(survivors, self.filter_fn)
        except Exception as exc:
            return filter_failure(self.marker, exc)
        return None if leaked is None else describe_leaked_objects(leaked)


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


def limit_for(item: pytest.Item) -> Limit | None:
    """The memory marker that applies to ``item``.

    Marks of one kind on several levels (module, class, test) are allowed: the closest wins.
    Two marks on one level, or marks of two kinds anywhere on the chain, are an error.

    Raises:
        MarkerError: the marker is malformed, or two memory markers apply.
    """
    closest: pytest.Mark | None = None
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


# -- failure texts -------------------------------------------------------------------------


#: Allocations a limit_memory failure lists below verbosity 2; the rest are counted.
LISTED_SITES = 10
_INDENT = " " * 4


def render_sites(
    title: str, sites: Sequence[AllocationSite], stacks: int, most: int | None = None
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


def _own_thread(measurement: Measurement, sites: list[AllocationSite]) -> list[AllocationSite]:
    """The sites of the thread that ran the test (all of them where threads are unknown)."""
    if measurement.test_thread_id is None:
        return sites
    return [site for site in sites if site.thread_id == measurement.test_thread_id]


def filter_failure(marker: str, exc: BaseException) -> Failure:
    """The failure for a ``filter_fn`` that raised."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Failure(
        summary=f"The filter_fn of {marker} raised {type(exc).__name__}: {exc}",
        section=f"{marker} filter_fn error",
        details=text.rstrip(),
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
