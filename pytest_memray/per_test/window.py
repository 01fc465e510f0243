"""Running the plugin's work right around a test's own code, and nothing else.

The measured window is the test's own code: for a pytest test function and a
``unittest.TestCase`` test method (synchronous or not) the function itself, without fixtures,
``setUp`` or ``tearDown``, by wrapping it for the duration of the call; for every other kind
of item (doctests, items of other plugins) the item's ``runtest``, wrapped the same way, so a
doctest's window includes the doctest runner's own work. Coroutine functions stay coroutine
functions, so async test runners (anyio, pytest-asyncio, unittest's) still recognise them.

Around the window, in order: the backend starts tracking, the object census (for
``limit_leaked_objects``) takes its picture, and the tracking opens as the last thing before
the test code; after it, the tracking closes first, then the census looks for survivors, then
the tracking stops. So the plugin's own work is never inside the window.
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_memray.backends.interface import (
    ActiveTracking,
    Backend,
    LastStep,
    Outcome,
    TrackingRequest,
)
from pytest_memray.per_test.failures import Failure
from pytest_memray.per_test.leaked_objects import ObjectCensus
from pytest_memray.per_test.limits import Limit

try:  # pytest's unittest item calls item.obj as the test method when it runs synchronously
    from _pytest.unittest import TestCaseFunction
except ImportError:  # pragma: no cover - pytest moved it; such items are measured by runtest
    TestCaseFunction = None  # type: ignore[assignment,misc]


def wrap_call(
    func: Callable[..., Any], enter: Callable[[], LastStep | None], leave: Callable[[bool], None]
) -> Callable[..., Any]:
    """``func`` with ``enter()`` right before each call and ``leave(returned)`` right after.

    The last step of opening that ``enter`` may return is made right here, in the frame that
    calls ``func`` (see :class:`~pytest_memray.backends.interface.LastStep`).
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def wrapped_coroutine(*args: Any, **kwargs: Any) -> Any:
            # The coroutine object is made before the window opens.
            awaitable = func(*args, **kwargs)
            step = enter()
            if step is not None:  # made here, not in a helper whose frame would return
                try:
                    step.run()
                except Exception as exc:
                    step.failed(exc)
            returned = False
            try:
                result = await awaitable
                returned = True
                return result
            finally:
                leave(returned)

        return wrapped_coroutine

    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        call, arguments = _positional_call(func, args, kwargs)
        step = enter()
        if step is not None:  # made here, not in a helper whose frame would return
            try:
                step.run()
            except Exception as exc:
                step.failed(exc)
        returned = False
        try:
            result = call(*arguments)
            returned = True
            return result
        finally:
            leave(returned)

    return wrapped


def _positional_call(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """``func`` and a tuple to call it with, so that the call itself allocates nothing.

    pytest passes fixtures by keyword; calling with ``**kwargs`` would build a dict and a
    tuple of names inside the measured window, so they are bound to positions beforehand.
    """
    if not kwargs:
        return func, args
    names = _parameter_names(func)
    if names is not None and len(args) + len(kwargs) == len(names):
        try:
            return func, (*args, *(kwargs[name] for name in names[len(args) :]))
        except KeyError:
            pass  # an unexpected keyword: bound below, which says what is wrong
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return functools.partial(func, *args, **kwargs), ()
    if bound.kwargs:  # keyword-only parameters
        return functools.partial(func, *bound.args, **bound.kwargs), ()
    return func, tuple(bound.args)


#: Parameter names of test functions, in order (see :func:`_parameter_names`): of functions
#: called as they are, and of functions called as bound methods (less their first parameter).
_NAMES: weakref.WeakKeyDictionary[Any, tuple[str, ...] | None] = weakref.WeakKeyDictionary()
_METHOD_NAMES: weakref.WeakKeyDictionary[Any, tuple[str, ...] | None] = weakref.WeakKeyDictionary()


def _parameter_names(func: Callable[..., Any]) -> tuple[str, ...] | None:
    """The names of ``func``'s parameters in order, when each can be passed by position or
    keyword and none has a default (then binding is putting keywords in that order); else
    None. Worked out once per function: a test function runs many times (parameters, reruns).
    """
    if inspect.ismethod(func):
        known, key = _METHOD_NAMES, func.__func__
    else:
        known, key = _NAMES, func
    try:
        return known[key]
    except (KeyError, TypeError):  # TypeError: cannot be weakly referenced
        pass
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    names: tuple[str, ...] | None = tuple(p.name for p in parameters)
    if any(
        p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD
        or p.default is not inspect.Parameter.empty
        for p in parameters
    ):
        names = None
    with suppress(TypeError):
        known[key] = names
    return names


def _runs_item_obj(item: pytest.Item) -> bool:
    """Whether running ``item`` calls ``item.obj`` as the test's own code."""
    if not isinstance(item, pytest.Function):
        return False
    if type(item).runtest is pytest.Function.runtest:
        return True
    return (
        TestCaseFunction is not None
        and isinstance(item, TestCaseFunction)
        and not inspect.iscoroutinefunction(item.obj)
    )


def _is_async_test_case(item: pytest.Item) -> bool:
    return (
        TestCaseFunction is not None
        and isinstance(item, TestCaseFunction)
        and inspect.iscoroutinefunction(item.obj)
        and item.name not in vars(item.instance)
    )


@contextmanager
def instrumented(item: pytest.Item, call: InstrumentedCall) -> Iterator[str]:
    """Wrap the test's own code of ``item`` with ``call`` while the block runs.

    Yields what the window covers: ``"function"`` or ``"runtest"``.
    """
    if _runs_item_obj(item):
        assert isinstance(item, pytest.Function)
        original = item.obj
        item.obj = wrap_call(original, call.enter, call.leave)
        try:
            yield "function"
        finally:
            item.obj = original
        return
    if _is_async_test_case(item):
        # unittest runs an async test method itself, looking it up on the TestCase instance.
        assert isinstance(item, pytest.Function)
        testcase = item.instance
        setattr(testcase, item.name, wrap_call(item.obj, call.enter, call.leave))
        try:
            yield "function"
        finally:
            delattr(testcase, item.name)
        return
    had_own = "runtest" in vars(item)
    original_runtest = item.runtest
    item.runtest = wrap_call(original_runtest, call.enter, call.leave)  # type: ignore[method-assign]
    try:
        yield "runtest"
    finally:
        if had_own:
            item.runtest = original_runtest  # type: ignore[method-assign]
        else:
            del item.runtest


@dataclass
class CallState:
    """What the instrumented call of one test left behind, for the report hook."""

    limit: Limit | None
    #: The backend's handle of this call's tracking, when it was measured.
    handle: int | None = None
    #: Every tracking started for the test (its function may be called more than once).
    handles: list[int] = field(default_factory=list)
    #: The outcome, when the backend handed it over at once.
    outcome: Outcome | None = None
    #: What the object census found.
    census_failure: Failure | None = None
    #: The test code ran (the window opened).
    ran: bool = False
    #: Why the backend could not start tracking the call (it ran unmeasured).
    start_problem: str | None = None
    #: Its outcome must come back right after the call (a limit or the gate judges it).
    needed_at_once: bool = False
    #: The test's call is over (pytest's call hook returned): the report made now is the
    #: test's own, not one of its subtests'.
    finished: bool = False


class InstrumentedCall:
    """What runs right around the test's own code: the tracking and the object census."""

    def __init__(
        self,
        backend: Backend,
        request: TrackingRequest | None,
        state: CallState,
    ) -> None:
        self._backend = backend
        self._request = request
        self._state = state
        self._census: ObjectCensus | None = None
        self._tracking: ActiveTracking | None = None

    def enter(self) -> LastStep | None:
        state = self._state
        if self._request is not None:
            try:
                self._tracking = self._backend.start(self._request)
            except Exception as exc:  # the test runs all the same, unmeasured
                name = self._backend.name
                state.start_problem = f"the {name} backend could not start tracking it ({exc})"
            else:
                state.handle = self._tracking.handle
                state.handles.append(state.handle)
        # The census inside the tracking: what starting the tracking creates (first imports,
        # caches) is not the test's doing.
        if state.limit is not None and state.limit.needs_census:
            self._census = ObjectCensus()
        state.ran = True
        if self._tracking is not None:
            return self._tracking.open()
        return None

    def leave(self, returned: bool) -> None:
        census, tracking, state = self._census, self._tracking, self._state
        self._census = self._tracking = None
        try:
            if tracking is not None:
                tracking.close()
            if census is not None and returned and state.limit is not None:
                # Positional: Python 3.10 calls a method with keywords through a bound
                # method object, which would be a new object alive during the census.
                survivors = census.new_survivors([self, state, tracking])
                state.census_failure = state.limit.check_survivors(survivors)
                del survivors
        finally:
            if census is not None:
                census.close()
            if tracking is not None:
                tracking.stop()
