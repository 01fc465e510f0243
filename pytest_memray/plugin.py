"""The pytest wiring: options, markers, tracking each test call, failures and the report.

``pytest_configure`` reads the settings, chooses the backend once and registers a
:class:`MemrayPlugin`; everything else hangs off that object. Nothing here imports a backend's
library: backends are reached through :mod:`pytest_memray.backends`.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from typing import Any, Optional

import pytest

from .backends.interface import Backend, TrackingRequest
from .backends.selection import BackendUnavailable, Choice, choose_backend
from .capture_files import capture_file_name
from .increase_history import IncreaseHistory
from .instrumented_call import CallState, InstrumentedCall, wrap_call
from .json_report import benchmark_document, report_document, write_atomically
from .junit import PEAK_PROPERTY, add_junit_properties
from .markers import (
    LEAK_FRAMES,
    MARKER_HELP,
    Failure,
    LeakedObjectsLimit,
    LeaksLimit,
    Limit,
    MarkerError,
    MemoryLimit,
    check_leaks,
    check_memory,
    limit_for,
    limited_peak,
)
from .report import render_entry, select
from .results import TestRecord
from .settings import Settings, add_options, read_settings

#: The published plugin's registration name: ``-p no:memray_manager`` and
#: ``config.pluginmanager.get_plugin("memray_manager")`` work as they did.
PLUGIN_NAME = "memray_manager"
WORKER_OUTPUT_KEY = "pytest_memray_records"
MEMORY_PROBLEM_ATTR = "memray_problem"


class PytestMemrayWarning(pytest.PytestWarning):
    """A backend cannot do what was asked; the plugin did the nearest thing instead."""


_limit_key = pytest.StashKey[Optional[Limit]]()
_call_key = pytest.StashKey[CallState]()
plugin_key = pytest.StashKey["MemrayPlugin"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for text in MARKER_HELP.values():
        config.addinivalue_line("markers", text)
    settings = read_settings(config)
    try:
        choice = choose_backend(settings.backend)
    except BackendUnavailable as exc:
        raise pytest.UsageError(str(exc)) from None
    plugin = MemrayPlugin(config, settings, choice)
    config.stash[plugin_key] = plugin
    # -p no:memray_manager blocks the name: then nothing is tracked, as with the published plugin.
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(plugin), f"{PLUGIN_NAME}_xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.stash.get(plugin_key, None)
    if plugin is not None:
        plugin.backend.close()
        del config.stash[plugin_key]


class MemrayPlugin:
    """Session state: the chosen backend, per-test records, and the hooks that use them."""

    def __init__(self, config: pytest.Config, settings: Settings, choice: Choice) -> None:
        self.config = config
        self.settings = settings
        self.choice = choice
        self.backend: Backend = choice.backend
        self.records: dict[str, TestRecord] = {}
        #: Tracking keys of results the backend hands over later, with their test ids.
        self._deferred: dict[int, str] = {}
        self.outcomes: dict[str, str] = {}
        self._warned: set[str] = set()
        # config.cache is missing under -p no:cacheprovider.
        self.history = IncreaseHistory(getattr(config, "cache", None), settings.fail_on_increase)
        self._warn_about_options()

    # -- capability gaps -------------------------------------------------------------------

    def _warn_about_options(self) -> None:
        caps = self.backend.capabilities
        if self.settings.fail_on_increase and not self.history.available:
            self._config_warning(
                "--fail-on-increase: the cache plugin is disabled (-p no:cacheprovider), so no "
                "peak is recorded or compared; limit_memory tests meet their limits only"
            )
        if self.settings.native and not caps.native_frames:
            self._config_warning(
                f"--native: the {self.backend.name} backend cannot record native frames; "
                "stacks show Python frames only"
            )
        if self.settings.trace_python_allocators and not caps.python_allocator_tracing:
            self._config_warning(
                f"--trace-python-allocators: the {self.backend.name} backend already sees every "
                "allocation made through Python's allocators; the option changes nothing"
            )

    def _config_warning(self, message: str) -> None:
        self._warned.add(message)
        self.config.issue_config_time_warning(PytestMemrayWarning(message), stacklevel=2)

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warnings.warn(PytestMemrayWarning(message), stacklevel=2)

    # -- header ----------------------------------------------------------------------------

    def pytest_report_header(self) -> list[str]:
        if not self.settings.enabled:
            return []
        caps = self.backend.capabilities
        native = (
            "sees native allocations" if caps.native_allocations else ("Python allocations only")
        )
        line = f"memray backend: {self.backend.name} {self.backend.version} ({native})"
        if self.choice.fallback_reason is not None:
            line += f"; auto chose it because {self.choice.fallback_reason}"
        return [line]

    # -- per test --------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[_limit_key] = None
        try:
            limit = limit_for(item)
        except MarkerError as exc:
            problem: Optional[str] = str(exc)
        else:
            problem = None
        if problem is not None:  # outside the except block: no "during handling" chain
            pytest.fail(problem, pytrace=False)
        if limit is None and self.settings.default_limit is not None:
            limit = MemoryLimit(self.settings.default_limit)
        item.stash[_limit_key] = limit

    def _request_for(self, item: pytest.Item, limit: Optional[Limit]) -> TrackingRequest:
        settings = self.settings
        caps = self.backend.capabilities
        leaks = isinstance(limit, LeaksLimit)
        capture = None
        if settings.bin_path is not None:
            name = capture_file_name(settings.bin_prefix, item.nodeid, caps.capture_suffix)
            capture = settings.bin_path / name
        return TrackingRequest(
            # One frame more than a failure shows, so that it can tell a stack was cut ("...").
            stack_depth=(max(settings.stacks, LEAK_FRAMES) if leaks else settings.stacks) + 1,
            native_traces=caps.native_frames and (settings.native or leaks),
            show_native_frames=caps.native_frames and settings.native,
            trace_python_allocators=caps.python_allocator_tracing
            and (settings.trace_python_allocators or leaks),
            want_leaks=leaks,
            capture_file=capture,
            # Only the report and the JSON output wait for the end of the session.
            deferrable=limit is None or isinstance(limit, LeakedObjectsLimit),
        )

    def _check_thread_support(self, limit: Optional[Limit]) -> None:
        if (
            isinstance(limit, (MemoryLimit, LeaksLimit))
            and limit.current_thread_only
            and not self.backend.capabilities.thread_ids
        ):
            self._warn_once(
                f"current_thread_only=True: the {self.backend.name} backend does not know which "
                "thread allocated what; allocations of all threads are counted"
            )

    # trylast: the innermost wrapper, so that other plugins' wrappers are outside the call.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Generator[None, object, object]:
        limit = pyfuncitem.stash.get(_limit_key, None)
        measure = self.settings.enabled or isinstance(limit, (MemoryLimit, LeaksLimit))
        state = CallState(limit)
        pyfuncitem.stash[_call_key] = state
        if not measure and not isinstance(limit, LeakedObjectsLimit):
            return (yield)
        self._check_thread_support(limit)
        request = self._request_for(pyfuncitem, limit) if measure else None
        call = InstrumentedCall(self.backend, request, state)
        original = pyfuncitem.obj
        pyfuncitem.obj = wrap_call(original, call.enter, call.leave)
        try:
            return (yield)
        finally:
            pyfuncitem.obj = original
            if call.deferred_key is not None:
                self._deferred[call.deferred_key] = pyfuncitem.nodeid
                # A batch closed by this call's start (full, or a marked test) is replayed:
                # keep records, not whole measurements.
                self._collect_deferred(finish=False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when != "call":
            return report
        state = item.stash.get(_call_key, None)
        if state is None:
            return report
        del item.stash[_call_key]
        try:
            self._judge(item, report, state)
        except Exception as exc:  # never let a bug here end the session
            self._fail(
                report,
                Failure(
                    summary=f"pytest-memray could not check this test: {type(exc).__name__}: {exc}",
                    section="memray-error",
                    details="",
                ),
            )
        return report

    def _judge(self, item: pytest.Item, report: pytest.TestReport, state: CallState) -> None:
        limit, measurement = state.limit, state.measurement
        failure = state.failure
        settings = self.settings
        if report.passed and failure is None and measurement is not None:
            if isinstance(limit, MemoryLimit):
                # Growth is judged (and the peak recorded) before the limit, as published.
                peak, _ = limited_peak(limit, measurement)
                failure = self.history.failure(item.nodeid, peak)
                if failure is None:
                    failure = check_memory(limit, measurement, settings.stacks, settings.verbosity)
            elif isinstance(limit, LeaksLimit):
                failure = check_leaks(limit, measurement, settings.stacks, settings.verbosity)
        if report.passed and failure is not None:
            self._fail(report, failure)
        if measurement is not None:
            # junit-xml writes the item's user properties as <property> elements.
            properties = [p for p in item.user_properties if p[0] != PEAK_PROPERTY]
            properties.append((PEAK_PROPERTY, measurement.peak_bytes))
            item.user_properties[:] = properties
            for note in measurement.notes:
                report.sections.append(("memray note", note))
            limit_bytes = limit.limit if isinstance(limit, (MemoryLimit, LeaksLimit)) else None
            self.records[item.nodeid] = TestRecord.from_measurement(
                item.nodeid, measurement, limit_bytes
            )

    def _fail(self, report: pytest.TestReport, failure: Failure) -> None:
        report.outcome = "failed"
        report.longrepr = failure.summary
        if failure.details:
            report.sections.append((failure.section, failure.details))
            # The letter M goes with a section, as published: a limit_memory failure below
            # verbosity 0 has none and shows F. A plain attribute travels through xdist.
            setattr(report, MEMORY_PROBLEM_ATTR, failure.section)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Optional[tuple[str, str, str]]:
        if report.when == "call" and report.failed and getattr(report, MEMORY_PROBLEM_ATTR, None):
            return "failed", "M", "MEMORY PROBLEMS"
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            outcome = "failed" if report.when == "call" else "error"
            if self.outcomes.get(report.nodeid) != "error":
                self.outcomes[report.nodeid] = outcome
        elif report.skipped:
            self.outcomes.setdefault(report.nodeid, "skipped")
        elif report.when == "call":
            self.outcomes.setdefault(report.nodeid, "passed")

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.outcomes.pop(nodeid, None)  # a rerun starts afresh

    # -- end of session --------------------------------------------------------------------

    def _collect_deferred(self, finish: bool) -> None:
        """Turn the results the backend deferred into records, as soon as they are ready."""
        for key, measurement in self.backend.collect(finish=finish):
            nodeid = self._deferred.pop(key, None)
            if nodeid is not None:
                self.records[nodeid] = TestRecord.from_measurement(nodeid, measurement, None)
        if finish:
            self._deferred.clear()

    # tryfirst: the records must be complete before junit-xml writes its file.
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._collect_deferred(finish=True)
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_OUTPUT_KEY] = [record.to_dict() for record in self.records.values()]
            return
        add_junit_properties(self.config, self.records.values())
        settings = self.settings
        if settings.json_path is not None or settings.benchmark_json_path is not None:
            records = self.final_records()
            if settings.json_path is not None:
                write_atomically(settings.json_path, report_document(self.choice, records))
            if settings.benchmark_json_path is not None:
                write_atomically(
                    settings.benchmark_json_path, benchmark_document(self.choice, records)
                )

    def merge(self, records: list[dict[str, Any]]) -> None:
        """Take in records sent by an xdist worker."""
        for data in records:
            record = TestRecord.from_dict(data)
            self.records[record.nodeid] = record

    def final_records(self) -> list[TestRecord]:
        for nodeid, record in self.records.items():
            record.outcome = self.outcomes.get(nodeid, record.outcome)
        return list(self.records.values())

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.settings.enabled or self.settings.hide_summary:
            return
        if getattr(self.config, "workerinput", None) is not None:
            return
        records = [r for r in self.final_records() if r.outcome not in ("failed", "error")]
        terminalreporter.write_sep("=", "MEMRAY REPORT")
        for entry in select([r.report_entry() for r in records], self.settings.most_allocations):
            for line in render_entry(entry):
                terminalreporter.write_line(line)
        if self.settings.bin_path is not None:
            written = sum(1 for r in self.records.values() if r.capture_file)
            caps = self.backend.capabilities
            # The published plugin's words first; it counts reported tests, this counts files.
            terminalreporter.write_line(
                f"Created {written} binary dumps at {self.settings.bin_path} with prefix "
                f"{self.settings.bin_prefix} (open them with {caps.capture_reader})"
            )


class XdistHooks:
    """Carries records from xdist workers to the controller over xdist's own channel."""

    def __init__(self, plugin: MemrayPlugin) -> None:
        self._plugin = plugin

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["memray_bin_prefix"] = self._plugin.settings.bin_prefix

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self._plugin.merge(output.get(WORKER_OUTPUT_KEY, []))


__all__ = ["MemrayPlugin", "PytestMemrayWarning"]
