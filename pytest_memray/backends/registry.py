"""Which backends exist, and choosing one of them once, at startup, saying why.

Backends are registered under the entry-point group ``pytest_memray.backends``; this
distribution registers its own two there as well (see :mod:`.builtin`), and they are known
even where the package's metadata is missing (the plugin loaded from a bare checkout). Each
entry point names a :class:`BackendEntry`: the backend's name, a line for ``--help``, its rank
for ``auto``, why it cannot run here (or None), and how to build it.

``auto`` takes the highest-ranked backend that can run and records why each higher-ranked one
could not; a backend asked for by name that cannot run is an error that says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pytest_memray.backends.builtin import BUILTIN_ENTRIES
from pytest_memray.backends.interface import Backend, BackendContext, BackendEntry

__all__ = [
    "AUTO",
    "ENTRY_POINT_GROUP",
    "BackendChoice",
    "BackendContext",
    "BackendEntry",
    "BackendUnavailable",
    "backend_names",
    "check_backend_name",
    "choose_backend",
    "registered_backends",
]

ENTRY_POINT_GROUP = "pytest_memray.backends"
AUTO = "auto"


class BackendUnavailable(Exception):
    """The requested backend cannot run here; the message says why."""


@dataclass(frozen=True)
class BackendChoice:
    """The backend in use, and why ``auto`` passed over the higher-ranked ones (or None)."""

    backend: Backend
    requested: str
    fallback_reason: str | None = None


def _entry_point_entries() -> Iterable[BackendEntry]:
    from importlib.metadata import entry_points

    found = entry_points(group=ENTRY_POINT_GROUP)
    for entry_point in found:
        try:
            entry = entry_point.load()
        except Exception as exc:  # a broken third-party backend must not stop the session
            warnings.warn(
                f"pytest-memray: backend entry point {entry_point.name!r} failed to load "
                f"({type(exc).__name__}: {exc}); it is left out",
                stacklevel=2,
            )
            continue
        if not isinstance(entry, BackendEntry):
            warnings.warn(
                f"pytest-memray: backend entry point {entry_point.name!r} does not name a "
                f"BackendEntry (got {type(entry).__name__}); it is left out",
                stacklevel=2,
            )
            continue
        yield entry


def registered_backends() -> dict[str, BackendEntry]:
    """Every backend that can be asked for by name, highest rank first."""
    entries = {entry.name: entry for entry in BUILTIN_ENTRIES}
    for entry in _entry_point_entries():
        known = entries.get(entry.name)
        if known is not None and known is not entry:
            warnings.warn(
                f"pytest-memray: two backends are registered as {entry.name!r}; "
                "the first one is kept",
                stacklevel=2,
            )
            continue
        entries[entry.name] = entry
    ranked = sorted(entries.values(), key=lambda entry: entry.rank, reverse=True)
    return {entry.name: entry for entry in ranked}


def backend_names(entries: Mapping[str, BackendEntry]) -> tuple[str, ...]:
    """The values ``--memray-backend`` accepts: ``auto`` and every registered name."""
    return (AUTO, *entries)


def check_backend_name(name: str, entries: Mapping[str, BackendEntry] | None = None) -> None:
    """Raise ValueError, listing every registered backend with its summary, when ``name`` is
    neither ``auto`` nor one of ``entries`` (every registered backend by default)."""
    entries = registered_backends() if entries is None else entries
    names = backend_names(entries)
    if name not in names:
        described = "; ".join(f"{entry.name}: {entry.summary}" for entry in entries.values())
        raise ValueError(
            f"{name!r} is not one of {', '.join(names)} (auto: the first of the others that "
            f"can run here; {described})"
        )


def choose_backend(
    requested: str, entries: Mapping[str, BackendEntry], context: BackendContext
) -> BackendChoice:
    """Build the backend for ``requested`` (``auto`` or a registered name).

    Raises:
        BackendUnavailable: a backend was asked for by name and cannot run here.
        ValueError: ``requested`` names no registered backend.
    """
    if requested != AUTO:
        entry = entries.get(requested)
        if entry is None:
            raise ValueError(
                f"unknown memray backend {requested!r}: choose one of "
                f"{', '.join(backend_names(entries))}"
            )
        reason = entry.unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(f"the {entry.name} backend was requested but {reason}")
        return BackendChoice(entry.build(context), requested)
    passed_over: list[str] = []
    for entry in sorted(entries.values(), key=lambda entry: entry.rank, reverse=True):
        reason = entry.unavailable_reason()
        if reason is None:
            fallback = "; ".join(passed_over) if passed_over else None
            return BackendChoice(entry.build(context), requested, fallback_reason=fallback)
        passed_over.append(reason)
    raise BackendUnavailable(f"no memray backend can run here: {'; '.join(passed_over)}")
