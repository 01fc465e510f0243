"""Finding Python objects that a test call created and left alive (``limit_leaked_objects``).

Before the call, a full garbage collection runs and every surviving object is moved to the
collector's permanent generation (``gc.freeze``), which ``gc.get_objects`` does not list.
After the call, another collection runs; what ``gc.get_objects`` lists then was created during
the call and is still alive. This works on every Python from 3.10 and needs no help from a
backend. Where objects are frozen already (the process uses ``gc.freeze`` itself, or the
interpreter froze some at startup, as CPython 3.12 does), the census falls back to comparing
object ids, which costs more memory and time while the test runs.

Only objects the collector tracks are seen: instances of classes, containers, functions and
the like; a leaked ``str`` or ``int`` held in a list shows up as that list if it is new.
"""

from __future__ import annotations

import collections
import gc
import reprlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

_SAMPLE_SIZE = 10
_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60


def _type_name(obj: Any) -> str:
    kind = type(obj)
    module = getattr(kind, "__module__", None)
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in (None, "builtins") else f"{module}.{name}"


def _safe_repr(obj: Any) -> str:
    try:
        return _REPR.repr(obj)
    except Exception as exc:  # a repr that raises must not break the report
        return f"<{_type_name(obj)} object; repr() raised {type(exc).__name__}>"


@dataclass(frozen=True)
class LeakedObjects:
    """What leaked: a count, counts by type (largest first), and short reprs of a sample."""

    total: int
    by_type: tuple[tuple[str, int], ...]
    sample: tuple[str, ...]


def _references_of_an_object_only_listed() -> int:
    """What ``sys.getrefcount`` says, in a loop over a list, of an object only the list holds:
    the list's reference, the loop variable's (a borrowed one from Python 3.14 on, which does
    not count) and getrefcount's own argument."""
    listed = [object()]
    for obj in listed:
        return sys.getrefcount(obj)
    raise AssertionError("the list holds one object")


#: Measured once, on this interpreter: 3 up to Python 3.13, 2 from 3.14.
_ONLY_LISTED = _references_of_an_object_only_listed()


def _drop_resurrected(found: list[Any]) -> list[Any]:
    """``found`` without the objects that only ``found`` keeps alive.

    An object that became garbage after the collection (bookkeeping the backend replaced while
    the census ran, say) is alive only through the list ``gc.get_objects`` made. Dropping it
    frees it, which can leave what it held unreferenced too, hence the passes.
    """
    while True:
        kept = []
        for obj in found:
            if sys.getrefcount(obj) > _ONLY_LISTED:
                kept.append(obj)
        if len(kept) == len(found):
            return kept
        found = kept
        del kept


class ObjectCensus:
    """Notes the live objects before a call, and lists the new survivors after it."""

    def __init__(self) -> None:
        gc.collect()
        self._frozen = gc.get_freeze_count() == 0
        self._before: set[int] | None = None
        if self._frozen:
            gc.freeze()
        else:
            self._before = {id(obj) for obj in gc.get_objects()}

    def new_survivors(self, exclude: Iterable[object] = ()) -> list[Any]:
        """Objects created since the census began and alive now, after a collection.

        Objects reachable from ``exclude`` (the plugin's own bookkeeping) are left out.
        """
        # Plain loops only: a comprehension that used these locals would turn them into
        # cells, new objects that the census would then report.
        roots: list[object] = list(exclude)
        # What running code holds is in use, not leaked: the frames of this thread (the
        # plugin's, pytest's) and of the others (an xdist worker's I/O thread, say), and their
        # locals (a profile function makes Python create those dicts, so they are new too).
        frame: FrameType | None
        for frame in [sys._getframe(), *sys._current_frames().values()]:
            while frame is not None:
                roots.append(frame)
                frame_locals = frame.f_locals
                if not isinstance(frame_locals, dict):
                    # Python 3.13: a proxy, whose referents are not the locals themselves
                    frame_locals = dict(frame_locals)
                roots.append(frame_locals)
                frame = frame.f_back
        del frame, frame_locals
        gc.collect()
        found = gc.get_objects()
        if self._before is not None:
            everything, found = found, []
            for obj in everything:
                if id(obj) not in self._before:
                    found.append(obj)
            del everything
        found = _drop_resurrected(found)
        new_ids = set(map(id, found))
        # The census's own attributes: their dict is untracked by the collector until it
        # holds a container, so it can look new (Python 3.10).
        own = {id(found), id(exclude), id(roots), id(self._before), id(vars(self))}
        pending = []
        for root in roots:
            own.add(id(root))
            pending.append(root)
            # A root's attributes count as the root's even when its __dict__ is older than
            # the census (it would otherwise stop the walk below).
            attributes = getattr(root, "__dict__", None)
            if isinstance(attributes, dict):
                pending.extend(attributes.values())
        del roots
        while pending:
            obj = pending.pop()
            if id(obj) in new_ids:
                own.add(id(obj))
            referents = gc.get_referents(obj)
            # Python 3.10 keeps an instance's attributes in a __dict__ of its own, which may be
            # older than the census and would stop the walk: its values are the instance's.
            # (3.11 and later give them as the instance's own referents.)
            attributes = _instance_dict(obj)
            if attributes is not None:
                referents += attributes.values()
            for ref in referents:
                if id(ref) in new_ids and id(ref) not in own:
                    own.add(id(ref))
                    pending.append(ref)
        own.add(id(pending))
        # An instance's __dict__ is reported as part of the instance, not on its own.
        survivors = []
        for obj in found:
            if id(obj) in own:
                continue
            survivors.append(obj)
            if isinstance(obj, type):
                continue
            try:
                own_dict = object.__getattribute__(obj, "__dict__")
            except Exception:
                continue
            own.add(id(own_dict))
        result = []
        for obj in survivors:
            if id(obj) not in own:
                result.append(obj)
        return result

    def close(self) -> None:
        """Give the frozen objects back to the collector."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        self._before = None


def _instance_dict(obj: object) -> dict[str, Any] | None:
    """The ``__dict__`` of an instance, without running any of its code; None for a type
    (whose namespace is a proxy) or an object without one."""
    if isinstance(obj, type):
        return None
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except Exception:
        return None
    return attributes if type(attributes) is dict else None


def summarise(objects: list[Any], filter_fn: Callable[[Any], bool] | None) -> LeakedObjects | None:
    """Summarise ``objects`` that ``filter_fn`` does not ignore; None when none is left.

    ``filter_fn`` may raise; the exception propagates to the caller.
    """
    kept = objects if filter_fn is None else [obj for obj in objects if filter_fn(obj)]
    if not kept:
        return None
    counts = collections.Counter(_type_name(obj) for obj in kept)
    by_type = tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    sample = tuple(_safe_repr(obj) for obj in kept[:_SAMPLE_SIZE])
    return LeakedObjects(total=len(kept), by_type=by_type, sample=sample)
