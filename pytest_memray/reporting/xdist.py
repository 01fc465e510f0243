"""pytest-xdist: a small sender on each worker, a receiver on the controller.

Registered only where xdist is installed. Most results reach the controller on the test
reports (see :mod:`.collector`); the sender adds the ones that became ready at the end of the
worker's session to xdist's ``workeroutput``. The receiver gives each worker its capture
file prefix and its scratch folder (inside the controller's), takes in the final results,
and, when a worker dies before sending them, asks the backend to recover what the worker
left in its folder; what cannot be recovered is listed as not measured, with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_memray.backends.interface import Backend
from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.results import MemoryResult
from pytest_memray.reporting.wire import OUTPUT_KEY, PREFIX_KEY, SCRATCH_KEY
from pytest_memray.scratch import remove


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_scratch(config: pytest.Config) -> Path | None:
    """A worker's scratch folder: its own, inside the controller's; None when the controller
    gave none (it was not active: without --memray, only marked tests are measured)."""
    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    if SCRATCH_KEY not in workerinput:
        return None
    return Path(workerinput[SCRATCH_KEY]) / str(workerinput["workerid"])


def send_from_worker(config: pytest.Config, results: list[MemoryResult]) -> None:
    """Put a worker's last results in the output xdist sends to the controller."""
    config.workeroutput[OUTPUT_KEY] = [r.to_dict() for r in results]  # type: ignore[attr-defined]


class ControllerReceiver:
    """The controller's side: settings for workers, their last results, and crashes."""

    def __init__(
        self, backend: Backend, collector: ResultCollector, bin_prefix: str, scratch_root: Path
    ) -> None:
        self._backend = backend
        self._collector = collector
        self._bin_prefix = bin_prefix
        self._scratch_root = scratch_root
        self._done: set[str] = set()
        self._started: set[str] = set()
        collector.before_final(self.recover_missing)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[PREFIX_KEY] = self._bin_prefix
        node.workerinput[SCRATCH_KEY] = str(self._scratch_root)
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
        folder = self._scratch_root / worker
        try:
            recovered = self._backend.recover(folder)
        except Exception as exc:  # a recovery that fails must not end the session
            why += f"; its files could not be read ({type(exc).__name__}: {exc})"
            recovered = []
        self._collector.add_recovered(worker, recovered)
        self._collector.worker_lost(worker, why + " before handing this test's figures over")
        remove(folder)

    def recover_missing(self) -> None:
        """Recover the results of workers that never sent their last ones (run by the
        collector before the outputs, after xdist has taken the workers down)."""
        for worker in sorted(self._started - self._done):
            reason = (
                "the session was interrupted"
                if self._collector.interrupted
                else f"the xdist worker {worker} ended without sending its last results"
            )
            self._recover(worker, reason)
