"""The pytest wiring: options, markers, and when the plugin's parts are put to work.

pytest loads this module in every session where the plugin is installed, so it imports only
pytest and :mod:`.settings`. ``pytest_configure`` registers the markers and reads the settings
once; then:

* when the options ask for it (``--memray``, a baseline, ``--memray-limit``, a JSON output),
  :func:`.activation.activate` chooses the backend and registers the parts at once;
* otherwise a small watcher waits for the first test that carries a memory marker and
  activates the parts then, in the process that runs it; a session without such a test
  never imports a backend, memray, or the report.

``pytest_unconfigure`` undoes what ``pytest_configure`` did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_memray.options import MARKERS, PLUGIN_NAME, add_options
from pytest_memray.reporting.wire import MEMORY_PROBLEM_ATTR
from pytest_memray.settings import Settings, read_settings

if TYPE_CHECKING:
    from pytest_memray.activation import Activation


_WATCHER_NAME = f"{PLUGIN_NAME}_marker_watcher"
_activation_key = pytest.StashKey["Activation"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for text in MARKERS.values():
        config.addinivalue_line("markers", text)
    settings = read_settings(config)
    if settings.needs_session_parts:
        _activate(config, settings)
    elif not config.pluginmanager.is_blocked(PLUGIN_NAME):  # -p no:memray_manager
        config.pluginmanager.register(_MarkerWatcher(config, settings), _WATCHER_NAME)


def _activate(config: pytest.Config, settings: Settings) -> Activation:
    from pytest_memray.activation import activate

    active = config.stash[_activation_key] = activate(config, settings)
    return active


class _MarkerWatcher:
    """Activates the plugin's parts at the setup of the first test with a memory marker.

    It stays registered, idle, until the session ends: unregistering it while a test runs
    would free objects a test may be watching (``gc.freeze`` counts, say).
    """

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self._config = config
        self._settings = settings
        self._done = False
        #: Why the parts could not be activated (a backend that cannot run here, say): every
        #: marked test fails with it, none passes unchecked.
        self._problem: str | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self._done and self._problem is None:
            return
        keywords = item.keywords
        if not any(name in keywords for name in MARKERS):
            return
        if self._problem is not None:
            pytest.fail(self._problem, pytrace=False)
        self._done = True
        try:
            active = _activate(self._config, self._settings)
        except pytest.UsageError as exc:
            self._problem = f"pytest-memray could not measure this test's memory: {exc}"
            pytest.fail(self._problem, pytrace=False)
        # The parts missed this hook call, which began before they were registered.
        assert active.tracking is not None
        active.tracking.pytest_runtest_setup(item)


def pytest_unconfigure(config: pytest.Config) -> None:
    watcher = config.pluginmanager.get_plugin(_WATCHER_NAME)
    if watcher is not None:
        config.pluginmanager.unregister(watcher)
    active = config.stash.get(_activation_key, None)
    if active is not None:
        del config.stash[_activation_key]
        active.deactivate()


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """The ``M`` status of a test that failed a memory limit."""
    if report.when == "call" and report.failed and getattr(report, MEMORY_PROBLEM_ATTR, None):
        return "failed", "M", "MEMORY PROBLEMS"
    return None
