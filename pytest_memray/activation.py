"""Putting the plugin's parts together for one session, once they are needed.

:mod:`.plugin` calls :func:`activate` at configure time when the options ask for measuring
or for an output, and otherwise at the setup of the first test that carries a memory marker;
a session that needs neither never imports this module, a backend, or memray. Activation
chooses the backend once, checks the folders the outputs go to, and registers, like pytest's
junit-xml registers its writer:

* :class:`~.per_test.tracking.PerTestTracking` (as ``memray_manager``) in every process that
  runs tests (a single process, or each xdist worker);
* on the process that reports (a single process, or the xdist controller), the
  :class:`~.reporting.collector.ResultCollector` and the session's
  :class:`~.reporting.outputs.SessionOutputs`, the baseline gate with ``--memray-baseline``,
  the pytest-html column where pytest-html is loaded, and the
  :class:`~.reporting.xdist.ControllerReceiver` where xdist is.

:meth:`Activation.deactivate` unregisters all of it and releases the backend.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_memray.backends.interface import BackendContext
from pytest_memray.backends.registry import (
    BackendChoice,
    BackendUnavailable,
    check_backend_name,
    choose_backend,
    registered_backends,
)
from pytest_memray.files import output_problem, unwritable_reason
from pytest_memray.options import PLUGIN_NAME, quoted
from pytest_memray.per_test.flamegraphs import FlamegraphWriter
from pytest_memray.per_test.increase_history import IncreaseHistory
from pytest_memray.per_test.tracking import PerTestTracking, PytestMemrayWarning
from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.html_column import PLUGIN_NAME as COLUMN_PLUGIN_NAME
from pytest_memray.reporting.html_column import reads_peaks_as_reported, register_if_available
from pytest_memray.reporting.outputs import SessionOutputs
from pytest_memray.reporting.results import MemoryResult
from pytest_memray.reporting.xdist import (
    ControllerReceiver,
    is_worker,
    send_from_worker,
    session_of_worker,
)
from pytest_memray.settings import Settings

if TYPE_CHECKING:
    # Imported where a baseline is given: reading and comparing baselines weighs some 20 ms
    # of imports that a session without one would pay for nothing.
    from pytest_memray.gates.baseline import Baseline


class Activation:
    """What one activation registered and holds, so that it can be undone."""

    def __init__(self, config: pytest.Config, choice: BackendChoice) -> None:
        self.config = config
        self.choice = choice
        self.registered: list[Any] = []
        self.tracking: PerTestTracking | None = None

    def register(self, plugin: Any, name: str) -> None:
        self.config.pluginmanager.register(plugin, name)
        self.registered.append(plugin)

    def deactivate(self) -> None:
        for plugin in reversed(self.registered):
            if self.config.pluginmanager.is_registered(plugin):
                self.config.pluginmanager.unregister(plugin)
        self.registered.clear()
        self.choice.backend.close()


def _choose(settings: Settings, context: BackendContext) -> BackendChoice:
    entries = registered_backends()
    try:
        check_backend_name(settings.backend, entries)
    except ValueError as exc:
        raise pytest.UsageError(f"--memray-backend / memray_backend: {exc}") from None
    try:
        return choose_backend(settings.backend, entries, context)
    except BackendUnavailable as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_folders(settings: Settings) -> None:
    """Make the capture and flamegraph folders, and check that every output can be written."""
    if settings.bin_path is not None:
        shown = quoted(settings.bin_path)
        if settings.bin_path.exists() and not settings.bin_path.is_dir():
            raise pytest.UsageError(f"--memray-bin-path {shown} is a file, not a directory")
        reason = unwritable_reason(settings.bin_path)
        if reason is not None:
            raise pytest.UsageError(f"--memray-bin-path {shown} is not writable: {reason}")
    if settings.flamegraph_dir is not None:
        reason = unwritable_reason(settings.flamegraph_dir / "captures")
        if reason is not None:
            shown = quoted(settings.flamegraph_dir)
            raise pytest.UsageError(f"--memray-flamegraphs {shown} is not writable: {reason}")
    for option, path in (
        ("--memray-json", settings.json_path),
        ("--memray-benchmark-json", settings.benchmark_json_path),
        ("--memray-html", settings.html_path),
    ):
        if path is not None:
            reason = output_problem(path)
            if reason is not None:
                raise pytest.UsageError(f"{option} {quoted(path)} cannot be written: {reason}")


def activate(config: pytest.Config, settings: Settings) -> Activation:
    """Choose the backend and register the session's parts (see the module's docstring)."""
    worker = is_worker(config)
    context = _context(config, worker)
    choice = _choose(settings, context)
    _check_folders(settings)
    active = Activation(config, choice)
    _warn_about_options(config, settings, choice)
    baseline_path = _baseline_path(config, settings, choice)
    gate = _baseline_gate(settings, choice, baseline_path)

    collector: ResultCollector | None = None
    if not worker:
        collector = ResultCollector(choice.backend.name, settings.measures_every_test)
        active.register(collector, f"{PLUGIN_NAME}_results")
        active.register(
            SessionOutputs(settings, choice, collector, _junit_file(config)),
            f"{PLUGIN_NAME}_outputs",
        )
        if settings.save_name is not None or settings.html_path is not None:
            from pytest_memray.reporting.saved_runs import SavedRunOutputs

            active.register(
                SavedRunOutputs(
                    choice=choice,
                    collector=collector,
                    rootdir=config.rootpath,
                    storage=settings.storage,
                    save_name=settings.save_name,
                    keep=settings.save_keep,
                    html_path=settings.html_path,
                    baseline=baseline_path,
                    allowance=None if gate is None else gate.allowance,
                ),
                f"{PLUGIN_NAME}_saved_runs",
            )
        if register_if_available(config):
            active.registered.append(config.pluginmanager.get_plugin(COLUMN_PLUGIN_NAME))
        if config.pluginmanager.hasplugin("xdist"):
            receiver = ControllerReceiver(
                choice.backend, collector, settings.bin_prefix, context.session_id
            )
            active.register(receiver, f"{PLUGIN_NAME}_xdist")

    def deliver(results: list[MemoryResult]) -> None:
        if collector is not None:
            collector.add(results)
        else:
            send_from_worker(config, results)

    active.tracking = PerTestTracking(
        settings,
        choice.backend,
        results_at_once=gate is not None or reads_peaks_as_reported(config),
        history=_increase_history(config, settings),
        deliver=deliver,
        collected_elsewhere=worker,
    )
    active.register(active.tracking, PLUGIN_NAME)
    if gate is not None:
        from pytest_memray.per_test.baseline_gate import BaselineGate

        gate_plugin = BaselineGate(gate, collector, str(config.rootpath))
        active.register(gate_plugin, f"{PLUGIN_NAME}_baseline")
    if settings.flamegraph_dir is not None and choice.backend.capabilities.flamegraphs:
        # After the gate: its wrapper is then inside this one's, which sees every verdict.
        writer = FlamegraphWriter(
            choice.backend,
            settings.flamegraph_dir,
            for_all=settings.flamegraphs_for_all,
            keep_captures=settings.bin_path is not None,
        )
        active.register(writer, f"{PLUGIN_NAME}_flamegraphs")
    return active


def _context(config: pytest.Config, worker: bool) -> BackendContext:
    """The session as the backend sees it: an xdist worker belongs to its controller's session
    when the controller is active too; any other process starts a session of its own."""
    found = session_of_worker(config) if worker else None
    session_id, process_id = found or (f"{os.getpid()}-{uuid.uuid4().hex[:8]}", "main")
    cache = getattr(config, "cache", None)
    cache_dir = None if cache is None else Path(cache.mkdir("pytest-memray"))
    return BackendContext(session_id, process_id, cache_dir)


def _baseline_path(config: pytest.Config, settings: Settings, choice: BackendChoice) -> str | None:
    """The baseline document: --memray-baseline's, or the saved run --memray-compare names."""
    if settings.compare is None:
        return settings.baseline
    if settings.baseline is not None:
        raise pytest.UsageError(
            "--memray-baseline and --memray-compare both name a baseline; give one of them"
        )
    from pytest_memray.reporting.saved_runs import compared_run

    found = compared_run(config.rootpath, settings.storage, choice.backend.name, settings.compare)
    return str(found)


def _baseline_gate(settings: Settings, choice: BackendChoice, path: str | None) -> Baseline | None:
    """The baseline gate, or None without a baseline (imported only when asked for)."""
    given = (path, settings.max_increase, settings.noise_floor, settings.min_compared)
    if all(value is None for value in given):
        return None
    from pytest_memray.gates.baseline import baseline_from_options

    try:
        return baseline_from_options(
            path,
            settings.max_increase,
            choice.backend.name,
            settings.noise_floor,
            settings.min_compared,
            settings.fail_gone,
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


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
    if config.pluginmanager.is_blocked(PLUGIN_NAME):
        _config_warning(
            config,
            f"-p no:{PLUGIN_NAME}: the per-test tracking is off, so no test is measured and no "
            "memory limit is checked; the report and the outputs list no test",
        )
    if settings.flamegraph_dir is not None and not caps.flamegraphs:
        _config_warning(
            config,
            f"--memray-flamegraphs: the {backend.name} backend draws no flamegraphs; "
            "no page is written",
        )
    if settings.trace_python_allocators and not caps.python_allocator_tracing:
        _config_warning(
            config,
            f"--trace-python-allocators: the {backend.name} backend already sees every "
            "allocation made through Python's allocators; the option changes nothing",
        )


def _config_warning(config: pytest.Config, message: str) -> None:
    config.issue_config_time_warning(PytestMemrayWarning(message), stacklevel=2)
