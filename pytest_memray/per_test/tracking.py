"""Tracking each test: its limit, the request to the backend, the call, and the verdict.

Runs in every process that runs tests (a single process, or each xdist worker). For each
test it resolves the memory marker at setup, wraps the test's own code (:mod:`.window`) with
the request :mod:`.requests` makes, and has the call report judged once by :mod:`.verdict`.
Results leave this module on the call reports (``memray_results``), as soon as the backend
hands them over, and at the end of the session through ``deliver``: in a single process that
is the collector, on an xdist worker the output sent back to the controller.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator

import pytest

from pytest_memray.backends.interface import Backend, NotMeasured, Outcome
from pytest_memray.per_test.failures import Failure, mark_failed
from pytest_memray.per_test.increase_history import IncreaseHistory
from pytest_memray.per_test.limits import Limit, MemoryLimit
from pytest_memray.per_test.markers import MarkerError, limit_for
from pytest_memray.per_test.requests import Requests
from pytest_memray.per_test.verdict import Verdict
from pytest_memray.per_test.window import CallState, InstrumentedCall, instrumented
from pytest_memray.reporting.results import MarkedLimit, MemoryResult
from pytest_memray.reporting.wire import (
    RESULTS_ATTR,
    TRACKED_ATTR,
)
from pytest_memray.settings import Settings

_limit_key = pytest.StashKey[Limit | None]()
_call_key = pytest.StashKey[CallState]()


class PytestMemrayWarning(pytest.PytestWarning):
    """A backend cannot do what was asked; the plugin did the nearest thing instead."""


class PerTestTracking:
    """The per-test hooks, for one session and its backend."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        *,
        results_at_once: bool,
        history: IncreaseHistory | None,
        deliver: Callable[[list[MemoryResult]], None],
        collected_elsewhere: bool = False,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self._requests = Requests(settings, backend, results_at_once)
        self._verdict = Verdict(settings, backend, history)
        self._deliver = deliver
        #: Another process (the xdist controller) collects the results.
        self._collected_elsewhere = collected_elsewhere
        #: Trackings whose outcome has not come back yet: handle -> (nodeid, limit, state).
        self._waiting: dict[int, tuple[str, MarkedLimit | None, CallState]] = {}
        #: Results not yet sent on a report.
        self._outbox: list[MemoryResult] = []
        self._warned: set[str] = set()

    # -- setup: which limit ------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[_limit_key] = None
        try:
            limit = limit_for(item)
        except MarkerError as exc:
            problem: str | None = str(exc)
        else:
            problem = self._cannot_judge(item, limit)
        if problem is not None:  # outside the except block: no "during handling" chain
            pytest.fail(problem, pytrace=False)
        if limit is None and self.settings.default_limit is not None:
            limit = MemoryLimit(self.settings.default_limit)
        item.stash[_limit_key] = limit

    def _cannot_judge(self, item: pytest.Item, limit: Limit | None) -> str | None:
        caps = self.backend.capabilities
        if limit is None:
            return None
        if limit.needs_leaks and not caps.leaked_sites:
            return (
                f"{item.nodeid}: {limit.marker} needs a backend that reports leaked allocations "
                f"by call stack; the {self.backend.name} backend does not, so the limit cannot "
                "be checked"
            )
        if limit.current_thread_only and not caps.thread_ids:
            self._warn_once(
                f"current_thread_only=True: the {self.backend.name} backend does not know which "
                "thread allocated what; allocations of all threads are counted"
            )
        return None

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(PytestMemrayWarning(message), stacklevel=2)

    # -- the call ------------------------------------------------------------------------------

    # trylast: the innermost wrapper, so that other plugins' wrappers are outside the window.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        limit = item.stash.get(_limit_key, None)
        measure = self._requests.measures(limit)
        census = limit is not None and limit.needs_census
        if not measure and not census:
            return (yield)
        state = CallState(limit)
        item.stash[_call_key] = state
        request = self._requests.request_for(item, limit) if measure else None
        state.needed_at_once = request is not None and request.needed_at_once
        marked = None if limit is None else limit.marked
        with instrumented(item, InstrumentedCall(self.backend, request, state)):
            try:
                return (yield)
            finally:
                state.finished = True
                for handle in state.handles:
                    self._waiting[handle] = (item.nodeid, marked, state)
                self._take(self.backend.take_results())
                if state.start_problem is not None and state.outcome is None:
                    state.outcome = NotMeasured(state.start_problem)
                    self._outbox.append(
                        MemoryResult.unmeasured(item.nodeid, state.start_problem, marked)
                    )

    def _take(self, ready: list[tuple[int, Outcome]]) -> None:
        """Turn outcomes the backend handed over into results, ready to be sent."""
        for handle, outcome in ready:
            waiting = self._waiting.pop(handle, None)
            if waiting is None:
                continue
            nodeid, marked, state = waiting
            state.outcome = outcome
            self._outbox.append(MemoryResult.from_outcome(nodeid, outcome, marked))

    # -- the verdict -----------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "setup":
            if report.passed and self._requests.measures(item.stash.get(_limit_key, None)):
                setattr(report, TRACKED_ATTR, True)
            return report
        if report.when != "call":
            return report
        state = item.stash.get(_call_key, None)
        if state is None or not state.finished:
            # Not tracked; or a subtest's report (pytest's subtests fixture, unittest's
            # subTest), made while the test runs: the test is judged once, as a whole, on
            # the report made after its call.
            return report
        del item.stash[_call_key]
        try:
            self._verdict.give(item, report, state)
        except Exception as exc:  # never let a bug here end the session
            mark_failed(
                report,
                Failure(
                    summary=f"pytest-memray could not check this test: {type(exc).__name__}: {exc}",
                    section="memray-error",
                    details="",
                ),
            )
        self._send(report)
        return report

    def _send(self, report: pytest.TestReport) -> None:
        if self._outbox:
            # Plain dicts where xdist carries the report to another process; the objects
            # themselves where the collector is in this one.
            results: list[object] = (
                [result.to_dict() for result in self._outbox]
                if self._collected_elsewhere
                else list(self._outbox)
            )
            setattr(report, RESULTS_ATTR, results)
            self._outbox = []

    # -- the end ---------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # An interrupted worker's controller is going down too: it recovers what the backend
        # leaves behind, rather than this process working it out while it is torn down.
        self.backend.finish(
            interrupted=self._collected_elsewhere and exitstatus == pytest.ExitCode.INTERRUPTED
        )
        self._take(self.backend.take_results())
        outbox, self._outbox = self._outbox, []
        self._deliver(outbox)
