"""Each memory limit judging what was measured.

A limit states what it needs (a measurement, its leaked sites, an object census) and judges
the evidence with one ``check``. A figure that was not measured never passes a limit: the
check fails with the reason instead.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from pytest_memray.backends.interface import (
    AllocationSite,
    Measurement,
    NotMeasured,
    Outcome,
    rank_sites,
)
from pytest_memray.per_test.failures import (
    LEAKS_SECTION,
    LISTED_SITES,
    MEMORY_SECTION,
    Failure,
    describe_leaked_objects,
    filter_failure,
    render_sites,
    test_frames,
)
from pytest_memray.per_test.increase_history import IncreaseHistory
from pytest_memray.per_test.leaked_objects import summarise
from pytest_memray.reporting.results import MarkedLimit
from pytest_memray.sizes import format_size
from pytest_memray.stack import LeakedObjectsFilterFunction, LeaksFilterFunction, Stack

#: Frames shown per leaked allocation at least, whatever --stacks says: enough to find it.
LEAK_FRAMES = 5


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
    #: Why a failure lists no allocation sites, where the backend records none.
    no_sites: str | None = None


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
    def marked(self) -> MarkedLimit | None:
        """The size the marker sets and on what, for the outputs; None when it sets none."""
        return None

    def stack_depth(self, stacks: int) -> int:
        """Frames to record per allocation, given ``--stacks``."""
        return stacks

    def check(self, outcome: Outcome, judging: Judging) -> Failure | None:
        """The failure this limit finds in ``outcome``, or None."""
        return None

    def check_survivors(self, survivors: list[Any]) -> Failure | None:
        """The failure this limit finds in the objects the call left alive, or None."""
        return None

    def _not_measured(self, outcome: NotMeasured, what: str) -> Failure:
        return Failure(
            summary=(
                f"{what}, but the memory of this test could not be measured: {outcome.reason}"
            ),
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
    def marked(self) -> MarkedLimit | None:
        return MarkedLimit(self.limit, "memory")

    def check(self, outcome: Outcome, judging: Judging) -> Failure | None:
        if isinstance(outcome, NotMeasured):
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
            if not sites and judging.no_sites is not None:
                details += f"\n    ({judging.no_sites})"
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
    def marked(self) -> MarkedLimit | None:
        return MarkedLimit(self.limit, "leaks")

    def stack_depth(self, stacks: int) -> int:
        return max(stacks, LEAK_FRAMES)

    def check(self, outcome: Outcome, judging: Judging) -> Failure | None:
        what = f"Test was allowed to leak {format_size(self.limit)} per location"
        if isinstance(outcome, NotMeasured):
            return self._not_measured(outcome, what)
        sites = outcome.leaked_sites
        if sites is None:
            return self._not_measured(NotMeasured("the backend reported no leaks for it"), what)
        if self.current_thread_only:
            sites = _own_thread(outcome, sites)
        else:
            sites = rank_sites(sites, key=lambda site: site.stack)
        offending = []
        for site in sites:
            if site.size < self.limit:
                break  # sites are sorted by size, largest first
            try:
                ignored = self.filter_fn is not None and not self.filter_fn(
                    Stack(tuple(test_frames(site.stack)))
                )
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


def _own_thread(measurement: Measurement, sites: list[AllocationSite]) -> list[AllocationSite]:
    """The sites of the thread that ran the test (all of them where threads are unknown)."""
    if measurement.test_thread_id is None:
        return sites
    return [site for site in sites if site.thread_id == measurement.test_thread_id]
