"""Choosing the backend once, at startup, and saying why.

``auto`` takes memray where it can run (Linux or macOS, CPython, memray importable and recent
enough) and tracemalloc everywhere else. An explicit ``memray`` where memray cannot run is an
error that says why; ``tracemalloc`` is always available.
"""

from __future__ import annotations

import importlib
import platform
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from packaging.version import InvalidVersion, Version

from .interface import Backend

BACKEND_NAMES = ("auto", "memray", "tracemalloc")
MINIMUM_MEMRAY = Version("1.12")
MEMRAY_PLATFORMS = ("linux", "darwin")


class BackendUnavailable(Exception):
    """The requested backend cannot run here; the message says why."""


@dataclass(frozen=True)
class Choice:
    """The backend in use, and why auto did not take memray (None when it did not fall back)."""

    backend: Backend
    requested: str
    fallback_reason: Optional[str] = None


def memray_unavailable_reason(
    platform_name: str = sys.platform,
    implementation: str = platform.python_implementation(),
    import_memray: Callable[[], object] = lambda: importlib.import_module("memray"),
) -> Optional[str]:
    """Why memray cannot be used here, or None when it can."""
    if not platform_name.startswith(MEMRAY_PLATFORMS):
        return f"memray does not run on this platform ({platform_name})"
    if implementation != "CPython":
        return f"memray needs CPython, this is {implementation}"
    try:
        module = import_memray()
    except ImportError as exc:
        return f"memray is not installed ({exc})"
    except Exception as exc:  # a broken install must not stop the session: fall back
        return f"memray failed to import ({type(exc).__name__}: {exc})"
    raw_version = str(getattr(module, "__version__", ""))
    try:
        version = Version(raw_version)
    except InvalidVersion:
        return f"memray reports an unreadable version {raw_version!r}"
    if version < MINIMUM_MEMRAY:
        return f"memray {version} is older than the {MINIMUM_MEMRAY} this plugin needs"
    return None


def _memray_backend() -> Backend:
    from .memray_backend import MemrayBackend

    return MemrayBackend()


def _tracemalloc_backend() -> Backend:
    from .tracemalloc_backend import TracemallocBackend

    return TracemallocBackend()


def choose_backend(
    requested: str,
    unavailable_reason: Callable[[], Optional[str]] = memray_unavailable_reason,
) -> Choice:
    """Pick the backend for ``requested`` (``auto``, ``memray`` or ``tracemalloc``).

    Raises:
        BackendUnavailable: ``memray`` was asked for explicitly and cannot run here.
        ValueError: ``requested`` is not one of the names above.
    """
    if requested not in BACKEND_NAMES:
        raise ValueError(
            f"unknown memray backend {requested!r}: choose one of {', '.join(BACKEND_NAMES)}"
        )
    if requested == "tracemalloc":
        return Choice(_tracemalloc_backend(), requested)
    reason = unavailable_reason()
    if reason is None:
        return Choice(_memray_backend(), requested)
    if requested == "memray":
        raise BackendUnavailable(f"the memray backend was requested but {reason}")
    return Choice(_tracemalloc_backend(), requested, fallback_reason=reason)
