"""Tests a backend advised measuring on their own, remembered across runs in pytest's cache.

A backend may record many test calls together and work their figures out later (the memray
backend's batches). For a call that allocates millions of times that costs more than
measuring it at once, and the backend says so on the call's measurement
(:attr:`~.backends.interface.Measurement.measure_alone`). This module keeps those tests in
pytest's cache, one list per backend under :data:`CACHE_KEY`, so that the next run asks for
them to be measured at once (``TrackingRequest.needed_at_once``). Only the time changes: the
figures are the same either way.

* The list is read in every process that runs tests (a worker reads the same cache folder).
* It is written once, at the end of the session, by the process that collects the results
  (a single process or the xdist controller): a test is added when its measurement advised
  it, taken off when a measurement advised against it, and kept when the test did not run or
  its backend could not tell (a call measured at once cannot say what a batch would cost).
* Without the cache plugin (``-p no:cacheprovider``) nothing is remembered; ``--cache-clear``
  forgets the list with the rest of the cache.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import pytest

from pytest_memray.reporting.collector import ResultCollector
from pytest_memray.reporting.results import MemoryResult

#: Cache key prefix; the backend's name follows. Not under ``memray/``, where the published
#: plugin keeps one entry per test id (see :mod:`.increase_history`).
CACHE_KEY = "pytest-memray/measure-alone/"


def remembered(cache: Any | None, backend_name: str) -> frozenset[str]:
    """The test ids to measure at once with ``backend_name``; none without a cache."""
    if cache is None:
        return frozenset()
    stored = cache.get(CACHE_KEY + backend_name, [])
    if not isinstance(stored, list):
        return frozenset()  # not ours to read: ignored, and replaced at the end
    return frozenset(nodeid for nodeid in stored if isinstance(nodeid, str))


def updated(before: frozenset[str], results: Iterable[MemoryResult]) -> frozenset[str]:
    """``before`` with the advice of this session's results applied."""
    after = set(before)
    for result in results:
        if result.measure_alone:
            after.add(result.nodeid)
        elif result.measure_alone is False:
            after.discard(result.nodeid)
    return frozenset(after)


class MeasureAloneMemory:
    """Writes the list at the end of the session, on the process that collects results."""

    def __init__(
        self, cache: Any, backend_name: str, collector: ResultCollector, before: frozenset[str]
    ) -> None:
        self._cache = cache
        self._key = CACHE_KEY + backend_name
        self._collector = collector
        self._before = before

    # After the plain hooks, as the report's outputs: the last batch has been replayed and
    # the workers' results are in.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self) -> Generator[None, None, None]:
        yield
        after = updated(self._before, (result for result, _ in self._collector.final()))
        if after != self._before:
            self._cache.set(self._key, sorted(after))
