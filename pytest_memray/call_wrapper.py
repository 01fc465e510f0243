"""Running code right before and right after a test function, and nothing else.

The plugin tracks the test function's own call: it wraps ``item.obj`` for the duration of
``pytest_pyfunc_call`` only (so a rerun plugin never sees it wrapped twice), which keeps
pytest's and pluggy's own work out of the measurement. Coroutine functions stay coroutine
functions, so async test runners (anyio, pytest-asyncio) still recognise them.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable


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
