"""The verdict on a test's call report: its limit judged on its measurement (or on why there
is none), and what the report carries for everything that reads it.

The report gets the tracking's handle and the marker's limit (so that the collector lists a
test whose figures never come), the peak (pytest-html, the baseline gate), the capture file
(flamegraphs), the junit-xml property, and a ``memray note`` section for each note and for a
missing figure's reason.
"""

from __future__ import annotations

import pytest

from pytest_memray.backends.interface import Backend, NotMeasured
from pytest_memray.per_test.failures import mark_failed
from pytest_memray.per_test.increase_history import IncreaseHistory
from pytest_memray.per_test.limits import Judging
from pytest_memray.per_test.window import CallState
from pytest_memray.reporting.results import NOT_SEEN_RUNNING, no_figures
from pytest_memray.reporting.wire import (
    CAPTURE_ATTR,
    HANDLE_ATTR,
    LIMIT_ATTR,
    NOT_MEASURED_ATTR,
    PEAK_ATTR,
    PEAK_PROPERTY,
)
from pytest_memray.settings import Settings


class Verdict:
    """Judges each tracked test's call report, for one session."""

    def __init__(
        self, settings: Settings, backend: Backend, history: IncreaseHistory | None
    ) -> None:
        self.settings = settings
        self.backend = backend
        self._history = history

    def give(self, item: pytest.Item, report: pytest.TestReport, state: CallState) -> None:
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
