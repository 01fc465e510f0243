"""The memory markers: reading them off a test, and each limit judging what was measured.

A limit states what it needs (a measurement, its leaked sites, an object census) and judges
the evidence with one ``check``. A figure that was not measured never passes a limit: the
check fails with the reason instead.
"""

from __future__ import annotations

import abc
import inspect
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

import pytest

from .backends.interface import AllocationSite, Measurement, NotMeasured, Outcome, rank_sites
from .leaked_objects import LeakedObjects, summarise
from .sizes import format_size, parse_size
from .stack import LeakedObjectsFilterFunction, LeaksFilterFunction, Stack

MEMORY_SECTION = "memray-max-memory"
LEAKS_SECTION = "memray-leaked-memory"
OBJECTS_SECTION = "memray-leaked-objects"
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
class Failure:
    """Why a test failed its memory limit: a one-line summary and a titled section."""

    summary: str
    section: str
    details: str


class IncreaseHistory(Protocol):
    """Peaks of earlier runs, for ``--fail-on-increase``."""

    def check(self, nodeid: str, peak: int) -> Optional[Failure]:
        """The failure when ``peak`` is higher than the one recorded for ``nodeid``."""

    def record(self, nodeid: str, peak: int) -> None:
        """Keep ``peak`` as the one to compare the next run with."""


@dataclass(frozen=True)
class Judging:
    """What a limit needs to know besides the evidence."""

    nodeid: str
    #: Frames shown per allocation (--stacks).
    stacks: int
    #: Detail of allocation lists: <0 none, 0-1 ten, 2+ all.
    verbosity: int
    #: Earlier peaks, when --fail-on-increase checks them (None otherwise).
    history: Optional[IncreaseHistory] = None


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
    def limit_bytes(self) -> Optional[int]:
        """The size the marker sets, for the JSON output; None when it sets none."""
        return None

    def stack_depth(self, stacks: int) -> int:
        """Frames to record per allocation, given ``--stacks``."""
        return stacks

    def check(self, outcome: Optional[Outcome], judging: Judging) -> Optional[Failure]:
        """The failure this limit finds in ``outcome``, or None."""
        return None

    def check_survivors(self, survivors: list[Any]) -> Optional[Failure]:
        """The failure this limit finds in the objects the call left alive, or None."""
        return None

    def _not_measured(self, outcome: Optional[Outcome], what: str) -> Optional[Failure]:
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
    def limit_bytes(self) -> Optional[int]:
        return self.limit

    def check(self, outcome: Optional[Outcome], judging: Judging) -> Optional[Failure]:
        if not isinstance(outcome, Measurement):
            return self._not_measured(outcome, f"Test was limited to {format_size(self.limit)}")
        sites = outcome.peak_sites
        peak = outcome.peak_bytes
        if self.current_thread_only and outcome.test_thread_id is not None:
            sites = _own_thread(outcome, sites)
            peak = sum(site.size for site in sites)
        if peak >= self.limit and peak > 0:
            return Failure(
                summary=(
                    f"Test was limited to {format_size(self.limit)} "
                    f"but allocated {format_size(peak)}"
                ),
                section=MEMORY_SECTION,
                details=_render_sites(
                    "List of allocations:", sites, "allocated", judging.stacks, judging.verbosity
                ),
            )
        if judging.history is not None:
            failure = judging.history.check(judging.nodeid, outcome.peak_bytes)
            if failure is not None:
                return failure
            judging.history.record(judging.nodeid, outcome.peak_bytes)
        return None


@dataclass(frozen=True)
class LeaksLimit(Limit):
    """``limit_leaks``: no call stack leaves ``limit`` or more allocated after the call."""

    limit: int
    filter_fn: Optional[LeaksFilterFunction] = None
    current_thread_only: bool = False
    marker = "limit_leaks"
    needs_leaks = True

    @property
    def limit_bytes(self) -> Optional[int]:
        return self.limit

    def stack_depth(self, stacks: int) -> int:
        return max(stacks, LEAK_FRAMES)

    def check(self, outcome: Optional[Outcome], judging: Judging) -> Optional[Failure]:
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
            details=_render_sites(
                "List of leaked allocations:",
                offending,
                "leaked",
                self.stack_depth(judging.stacks),
                judging.verbosity,
            ),
        )


@dataclass(frozen=True)
class LeakedObjectsLimit(Limit):
    """``limit_leaked_objects``: no Python object created by the call outlives it."""

    filter_fn: Optional[LeakedObjectsFilterFunction] = None
    marker = "limit_leaked_objects"
    needs_measurement = False
    needs_census = True

    def check_survivors(self, survivors: list[Any]) -> Optional[Failure]:
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


def limit_for(item: pytest.Item) -> Optional[Limit]:
    """The memory marker that applies to ``item``: the closest one, from test to module.

    Raises:
        MarkerError: the marker is malformed, or one test, class or module carries two.
    """
    for node in reversed(item.listchain()):
        marks = [mark for mark in node.own_markers if mark.name in MARKER_SIGNATURES]
        if len(marks) > 1:
            names = ", ".join(_describe(mark) for mark in marks)
            raise MarkerError(
                f"{item.nodeid}: only one memory marker may apply to a test, found {names}"
            )
        if marks:
            return _parse(marks[0], item.nodeid)
    return None


# -- failure texts -------------------------------------------------------------------------


def _render_sites(
    title: str, sites: Sequence[AllocationSite], verb: str, stacks: int, verbosity: int
) -> str:
    """The failure section's list: none below verbosity 0, ten sites up to 1, all from 2."""
    if verbosity < 0:
        return ""
    lines = [title]
    for site in sites if verbosity >= 2 else sites[:10]:
        lines.append(f"\t- {format_size(site.size)} {verb} here:")
        for frame in site.stack[:stacks]:
            lines.append(f"\t\t{frame}")
        if not site.stack:
            lines.append("\t\t<no Python frames>")
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


def describe_leaked_objects(leaked: LeakedObjects) -> Failure:
    """The failure for objects that outlived the call."""
    lines = ["Leaked objects by type:"]
    lines += [f"\t- {name}: {count}" for name, count in leaked.by_type]
    lines.append(f"Sample of leaked objects ({len(leaked.sample)} of {leaked.total}):")
    lines += [f"\t- {text}" for text in leaked.sample]
    return Failure(
        summary=f"Test leaked {leaked.total} objects",
        section=OBJECTS_SECTION,
        details="\n".join(lines),
    )
