"""pytest-xdist: a small sender on each worker, a receiver on the controller.

Registered only where xdist is installed. Most results reach the controller on the test
reports (see :mod:`.collector`); the sender adds the ones that became ready at the end of the
worker's session to xdist's ``workeroutput``. The receiver gives each worker its capture
file prefix and the session's id, takes in the final results, and, when a worker dies before
sending them, asks the backend to recover what that worker left behind; what cannot be
recovered is listed as not measured, with the reason. It does so once xdist has taken its
workers down (``pytest_sessionfinish``, last), before the outputs read the final results.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_memray.backends.interface import Backend
from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.results import MemoryResult
from pytest_memray.reporting.wire import OUTPUT_KEY, PREFIX_KEY, SESSION_KEY


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def session_of_worker(config: pytest.Config) -> tuple[str, str] | None:
    """A worker's session id (its controller's) and its own id; None when the controller gave
    none (it was not active: without --memray, only marked tests are measured)."""
    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    if SESSION_KEY not in workerinput:
        return None
    return str(workerinput[SESSION_KEY]), str(workerinput["workerid"])


def send_from_worker(config: pytest.Config, results: list[MemoryResult]) -> None:
    """Put a worker's last results in the output xdist sends to the controller."""
    config.workeroutput[OUTPUT_KEY] = [r.to_dict() for r in results]  # type: ignore[attr-defined]


class ControllerReceiver:
    """The controller's side: settings for workers, their last results, and crashes."""

    def __init__(
        self, backend: Backend, collector: ResultCollector, bin_prefix: str, session_id: str
    ) -> None:
        self._backend = backend
        self._collector = collector
        self._bin_prefix = bin_prefix
        self._session_id = session_id
        self._done: set[str] = set()
        self._started: set[str] = set()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[PREFIX_KEY] = self._bin_prefix
        node.workerinput[SESSION_KEY] = self._session_id
        self._started.add(str(node.gateway.id))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        worker = str(node.gateway.id)
        output = getattr(node, "workeroutput", None) or {}
        if OUTPUT_KEY in output and worker not in self._done:
            self._collector.add(output[OUTPUT_KEY])
            self._done.add(worker)
        elif error is not None:
            self._recover(worker, f"the xdist worker {worker} crashed ({error})")

    def _recover(self, worker: str, why: str) -> None:
        if worker in self._done:
            return
        self._done.add(worker)
        try:
            recovered = self._backend.recover(worker)
        except Exception as exc:  # a recovery that fails must not end the session
            why += f"; its files could not be read ({type(exc).__name__}: {exc})"
            recovered = []
        self._collector.add_recovered(worker, recovered)
        self._collector.worker_lost(worker, why + " before handing this test's figures over")

    # trylast: after xdist's own, which takes the workers down; the outputs, which read the
    # final results, are a wrapper around every plain implementation.
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        """Recover the results of workers that never sent their last ones."""
        for worker in sorted(self._started - self._done):
            reason = (
                "the session was interrupted"
                if self._collector.interrupted
                else f"the xdist worker {worker} ended without sending its last results"
            )
            self._recover(worker, reason)
