"""The baseline gate in a pytest session (``--memray-baseline``).

Once the session's tests are collected, their ids are paired with the baseline's (whatever
folder pytest was started from: :mod:`pytest_memray.gates.matching`). Each measured test that
passed its own code and its markers is then judged against its baseline peak
(:class:`~pytest_memray.gates.baseline.Baseline` decides) and fails when it grew past the
allowance. The gate reads what the tracking put on the call report (the peak, or why there is
none), and puts the baseline id it used on every report, so that the process that reports (the
xdist controller under xdist) knows the pairs the workers used.

At the end, the process that reports compares the whole baseline with the session's results,
as ``python -m pytest_memray compare`` would, and prints the counts (compared, measured, held by
the baseline) and the tables. When the gate could not judge (it compared no test, or fewer than
``--memray-min-compared``; the baseline lacks a shard; tests of the baseline did not run and
``--memray-fail-gone`` is given) the session's exit status is 2, with one line saying why,
whatever else happened.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import pytest

from pytest_memray.gates.baseline import Baseline
from pytest_memray.gates.compare import Comparison
from pytest_memray.gates.documents import RunEntry
from pytest_memray.gates.render import render_text, verdict
from pytest_memray.per_test.failures import MEMORY_SECTION, Failure, mark_failed
from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.wire import HANDLE_ATTR, NOT_MEASURED_ATTR, PEAK_ATTR

#: On every report of a test, the baseline id the gate paired it with ("" for a new test).
BASELINE_ID_ATTR = "memray_baseline_id"
#: The session's exit status when the gate could not judge.
COULD_NOT_JUDGE = 2


class BaselineGate:
    """Fails the tests whose peak grew past the allowance, and judges the session at the end."""

    def __init__(
        self, baseline: Baseline, collector: ResultCollector | None, rootdir: str | None = None
    ) -> None:
        self.baseline = baseline
        #: Where the session's results are gathered: only on the process that reports.
        self._collector = collector
        self._rootdir = rootdir
        #: Run id -> the baseline id the process that ran it used ("" when it had none).
        self._pairs: dict[str, str] = {}
        self.comparison: Comparison | None = None
        #: The item whose call is running: reports made meanwhile are its subtests'.
        self._in_call: pytest.Item | None = None

    # -- in the processes that run tests -------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.baseline.match(item.nodeid for item in session.items)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        self._in_call = item
        try:
            return (yield)
        finally:
            self._in_call = None

    # tryfirst: the outer wrapper, so that the tracking's verdict is on the report already.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        setattr(report, BASELINE_ID_ATTR, self.baseline.base_id(report.nodeid) or "")
        if self._in_call is item:
            # A subtest's report (pytest's subtests, unittest's subTest), made while the test
            # runs: the test's own figures are judged on its call report, made after it.
            return report
        if report.when == "call" and report.passed and hasattr(report, HANDLE_ATTR):
            failure = self.judge(
                report.nodeid,
                getattr(report, PEAK_ATTR, None),
                getattr(report, NOT_MEASURED_ATTR, None),
            )
            if failure is not None:
                mark_failed(report, failure)
        return report

    def judge(self, nodeid: str, peak: int | None, not_measured: str | None) -> Failure | None:
        """The failure of a test measured at ``peak`` (None: not measured, because
        ``not_measured``); None when it passes or has no baseline peak to compare with."""
        baseline = self.baseline
        if baseline.peak_of(nodeid) is None:
            return None  # a new test, or no reference peak: listed at the end
        if peak is None:
            return Failure(
                summary=(
                    f"Test has a baseline peak in {baseline.path}, but its memory could not "
                    f"be measured: {not_measured}"
                ),
                section=MEMORY_SECTION,
                details="",
            )
        grown = baseline.check(nodeid, peak)
        return None if grown is None else Failure(grown.summary, grown.section, grown.details)

    # -- in the process that reports -----------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        base_id = getattr(report, BASELINE_ID_ATTR, None)
        if self._collector is not None and isinstance(base_id, str):
            self._pairs[report.nodeid] = base_id

    # A wrapper that works after the plain hooks, like the outputs: every result is in.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        yield
        if self._collector is None:
            return
        self.comparison = comparison = self._compare()
        if comparison.problems:
            session.exitstatus = COULD_NOT_JUDGE
            if session.config.pluginmanager.get_plugin("terminalreporter") is None:
                sys.stderr.write(f"ERROR: pytest-memray: {verdict(comparison)}\n")
        elif comparison.regressions and session.exitstatus == pytest.ExitCode.OK:
            # Growth the per-test verdicts missed (a test whose call report never carried its
            # figures) still fails the session: a gate never passes a test that grew.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _compare(self) -> Comparison:
        assert self._collector is not None
        final = self._collector.final()
        entries = [
            RunEntry(result.nodeid, outcome, result.peak_bytes, result.not_measured)
            for result, outcome in final
        ]
        tracked = {result.nodeid for result, _ in final}
        # Tests of the baseline that ran but never reached their call (an error in setup, a
        # skip): they did run, so they are not "gone"; they have no figure, and say why.
        for nodeid, outcome in self._collector.outcomes.items():
            if nodeid not in tracked and self._pairs.get(nodeid):
                entries.append(
                    RunEntry(nodeid, outcome, None, f"its outcome was {outcome} before its call")
                )
        pairs = {nodeid: base for nodeid, base in self._pairs.items() if base}
        return self.baseline.comparison(entries, self._rootdir, pairs if self._pairs else None)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        terminalreporter.write_sep(
            "=",
            f"memray baseline {self.baseline.path} (allowed increase {self.baseline.allowance})",
        )
        lines = render_text(comparison, head_name="this run").rstrip("\n").splitlines()
        for line in lines[1:-1]:  # the title is in the separator; the verdict comes last
            terminalreporter.write_line(line)
        if comparison.problems:
            terminalreporter.write_line(f"ERROR: pytest-memray: {lines[-1]}", red=True, bold=True)
        else:
            terminalreporter.write_line(lines[-1])
