"""The two backends this distribution ships, as registry entries.

``memray`` (rank 20) runs on Linux and macOS under CPython with memray installed and recent
enough; ``tracemalloc`` (rank 10) runs everywhere. Neither module is imported until its
backend is built, so listing the backends never imports memray.
"""

from __future__ import annotations

import importlib
import platform
import sys
from collections.abc import Callable

from packaging.version import InvalidVersion, Version

from pytest_memray.backends.interface import Backend, BackendContext, BackendEntry

MINIMUM_MEMRAY = Version("1.12")
MEMRAY_PLATFORMS = ("linux", "darwin")


def memray_unavailable_reason(
    platform_name: str = sys.platform,
    implementation: str = platform.python_implementation(),
    import_memray: Callable[[], object] = lambda: importlib.import_module("memray"),
) -> str | None:
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


def _build_memray(context: BackendContext) -> Backend:
    from pytest_memray.backends.memray.backend import MemrayBackend

    return MemrayBackend(context)


def _build_tracemalloc(context: BackendContext) -> Backend:
    from pytest_memray.backends.tracemalloc.backend import TracemallocBackend

    return TracemallocBackend()


MEMRAY = BackendEntry(
    name="memray",
    summary="every allocation, native ones included (Linux and macOS, CPython)",
    rank=20,
    unavailable_reason=memray_unavailable_reason,
    build=_build_memray,
)

TRACEMALLOC = BackendEntry(
    name="tracemalloc",
    summary="allocations through Python's allocators (standard library; everywhere)",
    rank=10,
    unavailable_reason=lambda: None,
    build=_build_tracemalloc,
)

BUILTIN_ENTRIES = (MEMRAY, TRACEMALLOC)
