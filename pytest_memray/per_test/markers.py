"""The memory markers: reading them off a test, and checking their arguments.

:func:`limit_for` finds the one memory marker that applies to a test and turns it into a
:class:`~.limits.Limit`; a malformed marker, or two that apply, is a :class:`MarkerError`
naming the test and the value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from pytest_memray.per_test.limits import LeakedObjectsLimit, LeaksLimit, Limit, MemoryLimit
from pytest_memray.sizes import parse_size
from pytest_memray.stack import LeakedObjectsFilterFunction, LeaksFilterFunction


def _limit_memory(limit: str, *, current_thread_only: bool = False) -> None:
    """limit_memory(limit, *, current_thread_only=False)"""


def _limit_leaks(
    location_limit: str,
    *,
    filter_fn: LeaksFilterFunction | None = None,
    current_thread_only: bool = False,
) -> None:
    """limit_leaks(location_limit, *, filter_fn=None, current_thread_only=False)"""


def _limit_leaked_objects(*, filter_fn: LeakedObjectsFilterFunction | None = None) -> None:
    """limit_leaked_objects(*, filter_fn=None)"""


MARKER_SIGNATURES: dict[str, Callable[..., None]] = {
    "limit_memory": _limit_memory,
    "limit_leaks": _limit_leaks,
    "limit_leaked_objects": _limit_leaked_objects,
}


class MarkerError(Exception):
    """A memory marker on a test is malformed; the message names the test and the value."""


def _describe(mark: pytest.Mark) -> str:
    parts = [repr(arg) for arg in mark.args]
    parts += [f"{key}={value!r}" for key, value in mark.kwargs.items()]
    return f"@pytest.mark.{mark.name}({', '.join(parts)})"


def _parse(mark: pytest.Mark, nodeid: str) -> Limit:
    where = f"{nodeid}: invalid {_describe(mark)}"
    try:
        bound = inspect.signature(MARKER_SIGNATURES[mark.name]).bind(*mark.args, **mark.kwargs)
    except TypeError as exc:
        raise MarkerError(
            f"{where}: {exc}; expected {MARKER_SIGNATURES[mark.name].__doc__}"
        ) from None
    bound.apply_defaults()
    values = bound.arguments
    if not isinstance(values.get("current_thread_only", False), bool):
        raise MarkerError(f"{where}: current_thread_only must be True or False")
    filter_fn = values.get("filter_fn")
    if filter_fn is not None and not callable(filter_fn):
        raise MarkerError(f"{where}: filter_fn must be callable or None")
    if mark.name == "limit_leaked_objects":
        return LeakedObjectsLimit(filter_fn=filter_fn)
    size_text = values["limit"] if mark.name == "limit_memory" else values["location_limit"]
    try:
        size = parse_size(size_text)
    except ValueError as exc:
        raise MarkerError(f"{where}: {exc}") from None
    if mark.name == "limit_memory":
        return MemoryLimit(size, current_thread_only=values["current_thread_only"])
    return LeaksLimit(size, filter_fn=filter_fn, current_thread_only=values["current_thread_only"])


#: The published plugin's words when more than one memory marker applies to a test; kept
#: verbatim at the start of our message so that tools matching them keep working.
ONE_MARKER_TEXT = "Only one Memray marker can be applied to each test"


def limit_for(item: pytest.Item) -> Limit | None:
    """The memory marker that applies to ``item``.

    Marks of one kind on several levels (module, class, test) are allowed: the closest wins.
    Two marks on one level, or marks of two kinds anywhere on the chain, are an error.

    Raises:
        MarkerError: the marker is malformed, or two memory markers apply.
    """
    closest: pytest.Mark | None = None
    kinds: dict[str, pytest.Mark] = {}
    for node in reversed(item.listchain()):
        marks = [mark for mark in node.own_markers if mark.name in MARKER_SIGNATURES]
        if len(marks) > 1:
            names = " and ".join(_describe(mark) for mark in marks)
            raise MarkerError(f"{ONE_MARKER_TEXT}: {item.nodeid} has {names} on {node.name}")
        for mark in marks:
            kinds.setdefault(mark.name, mark)
            closest = closest or mark
    if len(kinds) > 1:
        names = " and ".join(_describe(mark) for mark in kinds.values())
        raise MarkerError(f"{ONE_MARKER_TEXT}: {item.nodeid} has {names}")
    return None if closest is None else _parse(closest, item.nodeid)


# -- failure texts -------------------------------------------------------------------------
