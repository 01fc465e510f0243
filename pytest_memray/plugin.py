"""The pytest wiring: options, markers, and which of the plugin's parts run in which process.

``pytest_configure`` reads the settings, chooses the backend once and registers:

* :class:`~.tracking.PerTestTracking` (as ``memray_manager``) in every process that runs tests;
* :class:`~.collector.ResultCollector` and :class:`~.outputs.SessionOutputs` on the process
  that reports (a single process, or the xdist controller), the way junit-xml registers its
  writer, and there too :class:`~.measure_alone.MeasureAloneMemory` with ``--memray`` where
  pytest's cache is on;
* :class:`~.xdist_support.ControllerReceiver` on the xdist controller, where xdist is
  installed.

Nothing here imports a backend's library: backends are reached through
:mod:`pytest_memray.backends.registry`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_memray.backends.registry import (
    BackendChoice,
    BackendContext,
    BackendUnavailable,
    choose_backend,
    registered_backends,
)
from pytest_memray.per_test.increase_history import IncreaseHistory
from pytest_memray.per_test.markers import MARKER_HELP
from pytest_memray.per_test.tracking import (
    MEMORY_PROBLEM_ATTR,
    PerTestTracking,
    PytestMemrayWarning,
)
from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.measure_alone import MeasureAloneMemory, remembered
from pytest_memray.reporting.outputs import SessionOutputs
from pytest_memray.reporting.results import MemoryResult
from pytest_memray.reporting.xdist import (
    ControllerReceiver,
    is_worker,
    send_from_worker,
    worker_scratch,
)
from pytest_memray.scratch import new_session_folder, remove, remove_abandoned
from pytest_memray.settings import Settings, add_options, read_settings

#: The published plugin's registration name: ``-p no:memray_manager`` and
#: ``config.pluginmanager.get_plugin("memray_manager")`` work as they did.
PLUGIN_NAME = "memray_manager"

if TYPE_CHECKING:
    from pytest_memray.gates.baseline import Baseline

_scratch_key = pytest.StashKey["_Session"]()


class _Session:
    """What ``pytest_unconfigure`` has to release."""

    def __init__(self, choice: BackendChoice, scratch: Path | None) -> None:
        self.choice = choice
        self.scratch = scratch


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, registered_backends())


def pytest_configure(config: pytest.Config) -> None:
    for text in MARKER_HELP.values():
        config.addinivalue_line("markers", text)
    entries = registered_backends()
    settings = read_settings(config, entries)
    worker = is_worker(config)
    if worker:
        scratch = worker_scratch(config)
    else:
        scratch = new_session_folder()
        remove_abandoned(scratch.parent)
    try:
        choice = choose_backend(settings.backend, entries, BackendContext(scratch_dir=scratch))
    except BackendUnavailable as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_scratch_key] = _Session(choice, None if worker else scratch)
    _warn_about_options(config, settings, choice)
    gate = _baseline_gate(settings, choice)
    # Only --memray batches calls: without it every measured call is measured at once.
    cache = getattr(config, "cache", None) if settings.enabled else None
    measure_alone = remembered(cache, choice.backend.name)

    collector: ResultCollector | None = None
    if not worker:
        collector = ResultCollector(choice.backend.name)
        config.pluginmanager.register(collector, f"{PLUGIN_NAME}_results")
        config.pluginmanager.register(
            SessionOutputs(settings, choice, collector, gate, _junit_file(config)),
            f"{PLUGIN_NAME}_outputs",
        )
        if cache is not None:
            config.pluginmanager.register(
                MeasureAloneMemory(cache, choice.backend.name, collector, measure_alone),
                f"{PLUGIN_NAME}_measure_alone",
            )
        if config.pluginmanager.hasplugin("html"):
            from pytest_memray.reporting.html_column import register_if_available

            register_if_available(config)
        if config.pluginmanager.hasplugin("xdist"):
            receiver = ControllerReceiver(choice.backend, collector, settings.bin_prefix, scratch)
            config.pluginmanager.register(receiver, f"{PLUGIN_NAME}_xdist")

    def deliver(results: list[MemoryResult]) -> None:
        if collector is not None:
            collector.add(results)
        else:
            send_from_worker(config, results)

    tracking = PerTestTracking(
        settings,
        choice.backend,
        results_at_once=gate is not None or _results_needed_at_once(config),
        history=_increase_history(config, settings),
        gate=gate,
        deliver=deliver,
        collected_elsewhere=worker,
        measure_alone=measure_alone,
    )
    config.pluginmanager.register(tracking, PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_scratch_key, None)
    if session is None:
        return
    del config.stash[_scratch_key]
    session.choice.backend.close()
    if session.scratch is not None:
        remove(session.scratch)


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """The ``M`` status of a test that failed a memory limit."""
    if report.when == "call" and report.failed and getattr(report, MEMORY_PROBLEM_ATTR, None):
        return "failed", "M", "MEMORY PROBLEMS"
    return None


def _baseline_gate(settings: Settings, choice: BackendChoice) -> Baseline | None:
    """The baseline gate, or None without --memray-baseline (imported only when asked for)."""
    if settings.baseline is None and settings.max_increase is None:
        return None
    from pytest_memray.gates.baseline import baseline_from_options

    try:
        return baseline_from_options(settings.baseline, settings.max_increase, choice.backend.name)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _results_needed_at_once(config: pytest.Config) -> bool:
    """Whether an output reads each test's figures as the test is reported (pytest-html's
    column), so that no backend may hand them over later. junit-xml's are added at the end
    (:mod:`.junit_properties`)."""
    return bool(getattr(config.option, "htmlpath", None))


def _junit_file(config: pytest.Config) -> tuple[Path, str | None] | None:
    """The file junit-xml writes and its ``--junitprefix``, or None without ``--junitxml``."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if not xmlpath or not config.pluginmanager.hasplugin("junitxml"):
        return None
    path = Path(os.path.expandvars(xmlpath)).expanduser().absolute()
    return path, getattr(config.option, "junitprefix", None)


def _increase_history(config: pytest.Config, settings: Settings) -> IncreaseHistory | None:
    cache = getattr(config, "cache", None)
    if cache is None:
        if settings.fail_on_increase:
            _config_warning(
                config,
                "--fail-on-increase: the cache plugin is disabled (-p no:cacheprovider), so no "
                "peak is recorded or compared; limit_memory tests meet their limits only",
            )
        return None
    return IncreaseHistory(cache, settings.fail_on_increase)


def _warn_about_options(config: pytest.Config, settings: Settings, choice: BackendChoice) -> None:
    backend = choice.backend
    caps = backend.capabilities
    if settings.native and not caps.native_frames:
        _config_warning(
            config,
            f"--native: the {backend.name} backend cannot record native frames; "
            "stacks show Python frames only",
        )
    if settings.trace_python_allocators and not caps.python_allocator_tracing:
        _config_warning(
            config,
            f"--trace-python-allocators: the {backend.name} backend already sees every "
            "allocation made through Python's allocators; the option changes nothing",
        )


def _config_warning(config: pytest.Config, message: str) -> None:
    config.issue_config_time_warning(PytestMemrayWarning(message), stacklevel=2)


__all__ = ["PLUGIN_NAME", "PytestMemrayWarning"]
