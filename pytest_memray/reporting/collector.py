"""Gathering every tracked test's result and outcome, on the process that reports (controller only).

Results travel on the test reports themselves (the ``memray_results`` attribute: plain dicts
from an xdist worker, the result objects in a single process), so they reach this collector
through ``pytest_runtest_logreport`` in a single process and from xdist workers alike, as each
test is reported: what was reported before a worker crashed or the session was interrupted is
kept. Once read, after every other plugin has seen the report, the attribute is removed: the
terminal reporter keeps every report to the end of the session, and the second copy of each
result left there grew memory by about 0.3 KiB per trivial test, more with deeper stacks. A
call report also says when its test was tracked (``memray_handle``), so a tracked test whose
figures never arrive is listed as not measured, with the reason, instead of dropping out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import pytest

from pytest_memray.reporting.results import InternTable, MarkedLimit, MemoryResult, no_figures
from pytest_memray.reporting.wire import (
    FLAMEGRAPH_ATTR,
    HANDLE_ATTR,
    LIMIT_ATTR,
    RESULTS_ATTR,
    TRACKED_ATTR,
)

#: A test that started but never reported its call (Ctrl-C while it ran).
INTERRUPTED = "interrupted"


#: The ``when`` of the report xdist makes for a test whose worker died while running it.
CRASH = "???"


def outcome_of(report: pytest.TestReport) -> str | None:
    """The outcome one report gives its test, in the JSON vocabulary (None: says nothing)."""
    expected_failure = hasattr(report, "wasxfail")
    if report.when in ("call", CRASH):  # pytest counts a crashed test as failed
        if report.passed:
            return "xpassed" if expected_failure else "passed"
        if report.skipped:
            return "xfailed" if expected_failure else "skipped"
        return "failed"
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if expected_failure else "skipped"
    return None


def worker_of(report: Any) -> str:
    """The xdist worker that ran the test of ``report``; ``""`` outside xdist."""
    node = getattr(report, "node", None)
    gateway = getattr(node, "gateway", None)
    return str(getattr(gateway, "id", ""))


class ResultCollector:
    """The session's results by test id, their outcomes, and what went missing."""

    def __init__(self, backend_name: str, measures_every_test: bool = False) -> None:
        self._backend_name = backend_name
        #: Every test is measured (--memray), not only the marked ones.
        self._every_test = measures_every_test
        #: Tests whose setup said their call would be tracked (their call report has not come).
        self._expected: set[str] = set()
        self._intern = InternTable()
        self.results: dict[str, MemoryResult] = {}
        self.outcomes: dict[str, str] = {}
        #: Tracked tests still waiting for their figures: nodeid -> (worker, handle, limit).
        self._pending: dict[str, tuple[str, int, MarkedLimit | None]] = {}
        #: Why a worker's pending results are gone, by worker id.
        self._lost: dict[str, str] = {}
        self.interrupted = False
        self._final: list[tuple[MemoryResult, str]] | None = None
        #: The flamegraph drawn for a test (its call report says so), by test id.
        self._flamegraphs: dict[str, str] = {}

    # -- as the session goes ---------------------------------------------------------------

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.outcomes.pop(nodeid, None)  # a rerun starts afresh

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = outcome_of(report)
        # An error in setup or teardown outranks what the call said; a failure outranks a pass.
        if outcome == "error" or (
            outcome is not None and self.outcomes.get(report.nodeid) not in ("error", "failed")
        ):
            self.outcomes[report.nodeid] = outcome
        if report.when == "setup" and getattr(report, TRACKED_ATTR, False):
            self._expected.add(report.nodeid)
        elif report.when == CRASH:
            self._crashed(report)
        else:
            self._expected.discard(report.nodeid)
        flamegraph = getattr(report, FLAMEGRAPH_ATTR, None)
        if flamegraph is not None:
            self._flamegraphs[report.nodeid] = str(flamegraph)
        handle = getattr(report, HANDLE_ATTR, None)
        if handle is not None and report.nodeid not in self.results:
            marked = getattr(report, LIMIT_ATTR, None)
            limit = None if marked is None else MarkedLimit(*marked)
            self._pending[report.nodeid] = (worker_of(report), int(handle), limit)
        results = getattr(report, RESULTS_ATTR, None)
        if results is not None:
            delattr(report, RESULTS_ATTR)
            self.add(results)

    def _crashed(self, report: pytest.TestReport) -> None:
        """A test whose xdist worker died while it ran: listed as not measured, if it was
        to be measured (its setup said so, or every test is), never dropped."""
        nodeid = report.nodeid
        expected = nodeid in self._expected or self._every_test
        self._expected.discard(nodeid)
        if expected and nodeid not in self.results:
            worker = worker_of(report) or "running it"
            self._pending.pop(nodeid, None)
            self.results[nodeid] = MemoryResult.unmeasured(
                nodeid, f"its xdist worker {worker} crashed while it ran"
            )

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def add(self, results: Iterable[Any]) -> None:
        """Take in results, as dicts (from a report or a worker) or as objects."""
        for data in results:
            result = data if isinstance(data, MemoryResult) else MemoryResult.from_dict(data)
            self.results[result.nodeid] = self._intern(result)
            self._pending.pop(result.nodeid, None)

    def add_recovered(self, worker: str, outcomes: Iterable[tuple[int, Any]]) -> None:
        """Take in outcomes a backend recovered from a dead worker's files."""
        waiting = {
            handle: (nodeid, limit)
            for nodeid, (where, handle, limit) in self._pending.items()
            if where == worker
        }
        for handle, outcome in outcomes:
            found = waiting.get(handle)
            if found is not None:
                nodeid, limit = found
                self.add([MemoryResult.from_outcome(nodeid, outcome, limit)])

    def worker_lost(self, worker: str, reason: str) -> None:
        """Results still pending from ``worker`` will not come: this is why."""
        self._lost.setdefault(worker, reason)

    # -- at the end --------------------------------------------------------------------------

    def final(self) -> list[tuple[MemoryResult, str]]:
        """Every tracked test's result with its outcome; missing figures marked, not dropped.

        Worked out once, when the session's results are all in (after xdist took its workers
        down); every output at the end reads the same list.
        """
        if self._final is not None:
            return self._final
        for nodeid, (worker, _, limit) in self._pending.items():
            reason = self._lost.get(worker)
            if reason is None:
                reason = (
                    "the session was interrupted before this test's figures were read"
                    if self.interrupted
                    else no_figures(self._backend_name)
                )
            self.results[nodeid] = MemoryResult.unmeasured(nodeid, reason, limit)
        self._pending.clear()
        for nodeid, flamegraph in self._flamegraphs.items():
            if nodeid in self.results:
                self.results[nodeid] = replace(self.results[nodeid], flamegraph=flamegraph)
        self._final = [
            (result, self.outcomes.get(nodeid, INTERRUPTED))
            for nodeid, result in self.results.items()
        ]
        return self._final
