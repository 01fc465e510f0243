"""Running the plugin's work right around a test function's call, and nothing else.

The plugin tracks the test function's own call: it wraps ``item.obj`` for the duration of
``pytest_pyfunc_call`` only (so a rerun plugin never sees it wrapped twice), which keeps
pytest's and pluggy's own work out of the measurement. Coroutine functions stay coroutine
functions, so async test runners (anyio, pytest-asyncio) still recognise them.
"""

from __future__ import annotations

import functools
import gc
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .backends.interface import ActiveTracking, Backend, Measurement, TrackingRequest
from .leaked_objects import ObjectCensus, summarise
from .markers import Failure, LeakedObjectsLimit, Limit, describe_leaked_objects, filter_failure


def wrap_call(
    func: Callable[..., Any], enter: Callable[[], None], leave: Callable[[bool], None]
) -> Callable[..., Any]:
    """``func`` with ``enter()`` before each call and ``leave(returned_normally)`` after it."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def wrapped_coroutine(*args: Any, **kwargs: Any) -> Any:
            enter()
            returned = False
            try:
                result = await func(*args, **kwargs)
                returned = True
                return result
            finally:
                leave(returned)

        return wrapped_coroutine

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        enter()
        returned = False
        try:
            result = func(*args, **kwargs)
            returned = True
            return result
        finally:
            leave(returned)

    return wrapped


@dataclass
class CallState:
    """What the instrumented call of one test left behind, for the report hook."""

    limit: Optional[Limit]
    measurement: Optional[Measurement] = None
    failure: Optional[Failure] = None


class InstrumentedCall:
    """What runs right around the test function: the object census and the tracking."""

    def __init__(
        self, backend: Backend, request: Optional[TrackingRequest], state: CallState
    ) -> None:
        self._backend = backend
        self._request = request
        self._state = state
        self._census: Optional[ObjectCensus] = None
        self._tracking: Optional[ActiveTracking] = None
        #: Set when the backend hands the result over at the end of the session.
        self.deferred_key: Optional[int] = None

    def enter(self) -> None:
        # The census inside the tracking: what starting and stopping the tracking creates
        # (first imports, caches) is not the test's doing.
        if self._request is not None:
            self._tracking = self._backend.start(self._request)
        if isinstance(self._state.limit, LeakedObjectsLimit):
            self._census = ObjectCensus()

    def leave(self, returned: bool) -> None:
        census, tracking, state = self._census, self._tracking, self._state
        self._census = self._tracking = None
        try:
            if tracking is not None:
                tracking.settle()
                if self._request is not None and self._request.want_leaks:
                    gc.collect()  # unreachable cycles are garbage, not leaks
            if census is not None and returned and isinstance(state.limit, LeakedObjectsLimit):
                state.failure = self._leaked_objects(census, state.limit, tracking)
        finally:
            if census is not None:
                census.close()
            if tracking is not None:
                state.measurement = tracking.stop()
                if state.measurement is None:
                    self.deferred_key = tracking.key

    def _leaked_objects(
        self, census: ObjectCensus, limit: LeakedObjectsLimit, tracking: Optional[ActiveTracking]
    ) -> Optional[Failure]:
        # What the tracking made while the test ran is bookkeeping, not a leak of the test's.
        survivors = census.new_survivors(exclude=[self, self._state, tracking])
        try:
            leaked = summarise(survivors, limit.filter_fn)
        except Exception as exc:
            return filter_failure("limit_leaked_objects", exc)
        finally:
            del survivors
        return None if leaked is None else describe_leaked_objects(leaked)
