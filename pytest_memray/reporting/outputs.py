"""What the reporting process shows and writes: the header line, the report, the JSON files,
and the peaks junit-xml could not write as the tests were reported.

Registered on the controller only (a single process, or the xdist controller), next to the
:class:`~.collector.ResultCollector` it reads from.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_memray.backends.registry import BackendChoice
from pytest_memray.files import write_text
from pytest_memray.gates import DEFAULT_NOISE_FLOOR
from pytest_memray.gates.allowance import allowance_or_default
from pytest_memray.gates.format import document_text
from pytest_memray.reporting.collector import ResultCollector, worker_of
from pytest_memray.reporting.json_output import benchmark_document, report_document
from pytest_memray.reporting.terminal import render_report
from pytest_memray.settings import Settings


class SessionOutputs:
    """The header line, the terminal report and the JSON documents of a session."""

    def __init__(
        self,
        settings: Settings,
        choice: BackendChoice,
        collector: ResultCollector,
        junit: tuple[Path, str | None] | None = None,
    ) -> None:
        self.settings = settings
        #: The junit-xml file and its ``--junitprefix``, with ``--junitxml``.
        self.junit = junit
        self.choice = choice
        self.collector = collector
        self._final: list[Any] = []
        #: The xdist workers that reported tests.
        self._workers: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        worker = worker_of(report)
        if worker:
            self._workers.add(worker)

    def pytest_report_header(self) -> list[str]:
        if not self.settings.enabled:
            return []
        backend = self.choice.backend
        native = (
            "sees native allocations"
            if backend.capabilities.native_allocations
            else "Python allocations only"
        )
        line = f"memray backend: {backend.name} {backend.version} ({native})"
        if self.choice.fallback_reason is not None:
            line += f"; auto chose it because {self.choice.fallback_reason}"
        return [line]

    # A wrapper that works after the plain hooks: xdist has taken its workers down and the
    # tracking has handed its last results over; before the terminal summary (an outer
    # wrapper) prints the report.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        yield
        self._final = self.collector.final()
        settings = self.settings
        if self.junit is not None:
            self._add_junit_peaks(session, *self.junit)
        rootdir = str(session.config.rootpath)
        for path, document in (
            (
                settings.json_path,
                lambda: report_document(self.choice, self._final, rootdir, sorted(self._workers)),
            ),
            (
                settings.benchmark_json_path,
                lambda: benchmark_document(self.choice, self._final, self._floor_bytes()),
            ),
        ):
            if path is None:
                continue
            try:
                write_text(path, document_text(document()))
            except OSError as exc:
                sys.stderr.write(f"ERROR: pytest-memray could not write {path}: {exc}\n")
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _floor_bytes(self) -> int:
        """The size part of the noise floor (checked at the start of the session)."""
        floor = self.settings.noise_floor
        return allowance_or_default(floor, DEFAULT_NOISE_FLOOR, "noise floor").extra_bytes

    def _add_junit_peaks(self, session: pytest.Session, path: Path, prefix: str | None) -> None:
        peaks = {
            result.nodeid: result.peak_bytes
            for result, _ in self._final
            if result.not_measured is None
        }
        if not peaks or not path.exists():
            return  # nothing to add, or junit-xml wrote nothing (it says why itself)
        from pytest_memray.reporting.junit import add_peaks  # only with --junitxml

        try:
            add_peaks(path, peaks, prefix)
        except (OSError, ET.ParseError) as exc:
            sys.stderr.write(f"ERROR: pytest-memray could not add peaks to {path}: {exc}\n")
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.settings.enabled or self.settings.hide_summary:
            return
        terminalreporter.write_sep("=", "MEMRAY REPORT")
        results = [result for result, _ in self._final]
        for line in render_report(results, self.settings.most_allocations):
            terminalreporter.write_line(line)
        if self.settings.bin_path is not None:
            written = sum(1 for result, _ in self._final if result.capture_file)
            caps = self.choice.backend.capabilities
            # The published plugin's words first; it counts reported tests, this counts files.
            terminalreporter.write_line(
                f"Created {written} binary dumps at {self.settings.bin_path} with prefix "
                f"{self.settings.bin_prefix} (open them with {caps.capture_reader})"
            )
