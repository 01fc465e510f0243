"""Choosing the backend at startup: auto, explicit choices, and the reasons for falling back."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable

import pytest

from pytest_memray.backends.builtin import MEMRAY, TRACEMALLOC, memray_unavailable_reason
from pytest_memray.backends.interface import Backend
from pytest_memray.backends.registry import (
    BackendContext,
    BackendEntry,
    BackendUnavailable,
    backend_names,
    choose_backend,
    registered_backends,
)

CONTEXT = BackendContext(session_id="1-0123abcd", process_id="main")


def _entries(memray_reason: Callable[[], str | None]) -> dict[str, BackendEntry]:
    """The built-in backends, with memray's availability decided by ``memray_reason``."""
    memray = dataclasses.replace(MEMRAY, unavailable_reason=memray_reason)
    return {"memray": memray, "tracemalloc": TRACEMALLOC}


def _fake_memray(version: str) -> types.ModuleType:
    module = types.ModuleType("memray")
    module.__version__ = version  # type: ignore[attr-defined]
    return module


def _missing() -> object:
    raise ImportError("No module named 'memray'")


def test_memray_missing_is_a_reason() -> None:
    reason = memray_unavailable_reason("linux", "CPython", _missing)
    assert reason is not None
    assert "not installed" in reason


@pytest.mark.parametrize("platform_name", ["win32", "emscripten", "wasi", "cygwin"])
def test_unsupported_platform_is_a_reason(platform_name: str) -> None:
    reason = memray_unavailable_reason(platform_name, "CPython", lambda: _fake_memray("1.20"))
    assert reason is not None
    assert platform_name in reason


def test_other_interpreters_are_a_reason() -> None:
    reason = memray_unavailable_reason("linux", "PyPy", lambda: _fake_memray("1.20"))
    assert reason == "memray needs CPython, this is PyPy"


def test_too_old_memray_is_a_reason() -> None:
    reason = memray_unavailable_reason("darwin", "CPython", lambda: _fake_memray("1.5.0"))
    assert reason is not None
    assert "1.5.0 is older than" in reason


def test_unreadable_version_is_a_reason() -> None:
    reason = memray_unavailable_reason("linux", "CPython", lambda: _fake_memray("banana"))
    assert reason is not None
    assert "banana" in reason


def test_broken_memray_import_is_a_reason() -> None:
    def broken() -> object:
        raise OSError("libunwind.so.8: cannot open shared object file")

    reason = memray_unavailable_reason("linux", "CPython", broken)
    assert reason is not None
    assert "libunwind" in reason


def test_recent_memray_on_linux_is_fine() -> None:
    assert memray_unavailable_reason("linux", "CPython", lambda: _fake_memray("1.20.0")) is None


def _never() -> str | None:
    raise AssertionError("tracemalloc must not look at memray")


def test_explicit_tracemalloc_does_not_consult_memray() -> None:
    choice = choose_backend("tracemalloc", _entries(_never), CONTEXT)
    assert choice.backend.name == "tracemalloc"
    assert choice.fallback_reason is None


def test_auto_falls_back_with_the_reason() -> None:
    choice = choose_backend("auto", _entries(lambda: "memray is not installed (x)"), CONTEXT)
    assert choice.backend.name == "tracemalloc"
    assert choice.fallback_reason == "memray is not installed (x)"


def test_explicit_memray_where_it_cannot_run_raises_with_the_reason() -> None:
    with pytest.raises(BackendUnavailable, match="memray backend was requested but it is gone"):
        choose_backend("memray", _entries(lambda: "it is gone"), CONTEXT)


def test_unknown_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="'valgrind'"):
        choose_backend("valgrind", registered_backends(), CONTEXT)


def test_backends_state_their_capabilities() -> None:
    choice = choose_backend("tracemalloc", registered_backends(), CONTEXT)
    caps = choice.backend.capabilities
    assert not caps.native_allocations
    assert not caps.thread_ids
    assert caps.exact_peak
    assert caps.leaked_sites
    assert caps.capture_suffix == ".tracemalloc"


def test_built_in_backends_are_registered_highest_rank_first() -> None:
    entries = registered_backends()
    assert list(entries)[:2] == ["memray", "tracemalloc"]
    assert backend_names(entries)[:3] == ("auto", "memray", "tracemalloc")


class _Nothing(Backend):
    name = "nothing"
    version = "0"

    def start(self, request: object) -> object:  # type: ignore[override]
        raise AssertionError("never started in these tests")


def test_auto_takes_the_highest_ranked_backend_that_runs() -> None:
    def entry(name: str, rank: int, reason: str | None) -> BackendEntry:
        return BackendEntry(name, name, rank, lambda: reason, lambda context: _Nothing())

    entries = {
        "low": entry("low", 1, None),
        "high": entry("high", 30, "high cannot run"),
        "middle": entry("middle", 5, "middle cannot run"),
    }
    choice = choose_backend("auto", entries, CONTEXT)
    assert isinstance(choice.backend, _Nothing)
    assert choice.fallback_reason == "high cannot run; middle cannot run"
    with pytest.raises(BackendUnavailable, match="no memray backend can run here"):
        choose_backend("auto", {"high": entries["high"]}, CONTEXT)


def test_the_built_in_names_known_without_the_registry_are_the_registered_ones() -> None:
    from pytest_memray.backends.builtin import BUILTIN_ENTRIES
    from pytest_memray.options import BUILTIN_BACKENDS

    assert ("auto", *(entry.name for entry in BUILTIN_ENTRIES)) == BUILTIN_BACKENDS
