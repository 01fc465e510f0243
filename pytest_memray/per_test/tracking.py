"""Tracking each test: its limit, the request to the backend, the call, and the verdict.

Runs in every process that runs tests (a single process, or each xdist worker). For each
test it resolves the memory marker at setup, wraps the test's own code (see
:mod:`.instrumented_call`), and judges the outcome when the call is reported. Results leave
this module on the call reports (``memray_results``), as soon as the backend hands them
over, and at the end of the session through ``deliver``: in a single process that is the
collector, on an xdist worker the output sent back to the controller.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator

import pytest

from pytest_memray.backends.interface import Backend, NotMeasured, Outcome, TrackingRequest
from pytest_memray.per_test.capture_files import capture_file_name
from pytest_memray.per_test.failures import Failure, mark_failed
from pytest_memray.per_test.increase_history import IncreaseHistory
from pytest_memray.per_test.limits import Judging, Limit, MemoryLimit
from pytest_memray.per_test.markers import MarkerError, limit_for
from pytest_memray.per_test.window import CallState, InstrumentedCall, instrumented
from pytest_memray.reporting.results import NOT_SEEN_RUNNING, MarkedLimit, MemoryResult, no_figures
from pytest_memray.reporting.wire import (
    CAPTURE_ATTR,
    HANDLE_ATTR,
    LIMIT_ATTR,
    NOT_MEASURED_ATTR,
    PEAK_ATTR,
    PEAK_PROPERTY,
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
        self._results_at_once = results_at_once
        self._history = history
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

    def _request_for(self, item: pytest.Item, limit: Limit | None) -> TrackingRequest:
        settings = self.settings
        caps = self.backend.capabilities
        capture = None
        folder = settings.bin_path
        if folder is None and self._draws_flamegraph(limit):
            assert settings.flamegraph_dir is not None
            folder = settings.flamegraph_dir / "captures"  # removed once drawn
        if folder is not None:
            name = capture_file_name(settings.bin_prefix, item.nodeid, caps.capture_suffix)
            capture = folder / name
        if limit is None and capture is None:
            # Only the report and the JSON show this test's sites: the newest frame of each.
            # Every frame more costs the tracemalloc backend time on every allocation.
            depth = 1
        else:
            # One frame more than a failure shows, so that it can tell a stack was cut ("...").
            depth = (settings.stacks if limit is None else limit.stack_depth(settings.stacks)) + 1
        return TrackingRequest(
            test_id=item.nodeid,
            stack_depth=depth,
            show_native_frames=caps.native_frames and settings.native,
            trace_python_allocators=caps.python_allocator_tracing
            and settings.trace_python_allocators,
            want_leaks=limit is not None and limit.needs_leaks,
            capture_file=capture,
            needed_at_once=self._results_at_once or (limit is not None and limit.needs_measurement),
        )

    def _draws_flamegraph(self, limit: Limit | None) -> bool:
        """Whether a test with ``limit`` may get a flamegraph: every measured test with
        ``--memray-flamegraphs=all``, else those that can fail on their memory."""
        settings = self.settings
        if settings.flamegraph_dir is None or not self.backend.capabilities.flamegraphs:
            return False
        gated = settings.baseline is not None or settings.compare is not None
        judged = limit is not None and limit.needs_measurement
        return settings.flamegraphs_for_all or gated or judged

    # trylast: the innermost wrapper, so that other plugins' wrappers are outside the window.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        limit = item.stash.get(_limit_key, None)
        measure = self._measures(limit)
        census = limit is not None and limit.needs_census
        if not measure and not census:
            return (yield)
        state = CallState(limit)
        item.stash[_call_key] = state
        request = self._request_for(item, limit) if measure else None
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

    def _measures(self, limit: Limit | None) -> bool:
        """Whether a test with ``limit`` (or none) is measured."""
        return self.settings.measures_every_test or (limit is not None and limit.needs_measurement)

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
            if report.passed and self._measures(item.stash.get(_limit_key, None)):
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
            self._give_verdict(item, report, state)
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

    def _give_verdict(self, item: pytest.Item, report: pytest.TestReport, state: CallState) -> None:
        limit, outcome = state.limit, state.outcome
        if outcome is None and state.needed_at_once:
            # The backend broke its promise, or the test's code never ran in the window.
            outcome = NotMeasured(no_figures(self.backend.name) if state.ran else NOT_SEEN_RUNNING)
        if state.handle is not None:
            setattr(report, HANDLE_ATTR, state.handle)
            if limit is not None and limit.marked is not None:
                setattr(report, LIMIT_ATTR, list(limit.marked))
        failure = state.census_failure
        if report.passed and failure is None and limit is not None and limit.needs_measurement:
            judging = Judging(
                nodeid=item.nodeid,
                stacks=self.settings.stacks,
                verbosity=self.settings.verbosity,
                history=self._history,
                no_sites=None
                if self.backend.capabilities.allocation_sites
                else f"the {self.backend.name} backend does not record where memory is allocated",
            )
            # A limit that needs a measurement asked for it at once: there is an outcome.
            assert outcome is not None
            failure = limit.check(outcome, judging)
        if report.passed and failure is not None:
            mark_failed(report, failure)
        peak = getattr(outcome, "peak_bytes", None)
        capture = getattr(outcome, "capture_file", None)
        if capture is not None:
            setattr(report, CAPTURE_ATTR, capture)
        if peak is not None:
            setattr(report, PEAK_ATTR, peak)
            # junit-xml reads the properties off the teardown report, made from the item's.
            properties = [prop for prop in item.user_properties if prop[0] != PEAK_PROPERTY]
            properties.append((PEAK_PROPERTY, peak))
            item.user_properties[:] = properties
        for note in getattr(outcome, "notes", ()):
            report.sections.append(("memray note", note))
        reason = getattr(outcome, "reason", None)
        if reason is not None:
            setattr(report, NOT_MEASURED_ATTR, reason)
            report.sections.append(("memray note", f"not measured: {reason}"))

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
