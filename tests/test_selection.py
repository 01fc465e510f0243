"""Choosing the backend at startup: auto, explicit choices, and the reasons for falling back."""

from __future__ import annotations

import types
from typing import Optional

import pytest

from pytest_memray.backends.selection import (
    BackendUnavailable,
    choose_backend,
    memray_unavailable_reason,
)


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


def _never() -> Optional[str]:
    raise AssertionError("tracemalloc must not look at memray")


def test_explicit_tracemalloc_does_not_consult_memray() -> None:
    choice = choose_backend("tracemalloc", unavailable_reason=_never)
    assert choice.backend.name == "tracemalloc"
    assert choice.fallback_reason is None


def test_auto_falls_back_with_the_reason() -> None:
    choice = choose_backend("auto", unavailable_reason=lambda: "memray is not installed (x)")
    assert choice.backend.name == "tracemalloc"
    assert choice.fallback_reason == "memray is not installed (x)"


def test_explicit_memray_where_it_cannot_run_raises_with_the_reason() -> None:
    with pytest.raises(BackendUnavailable, match="memray backend was requested but it is gone"):
        choose_backend("memray", unavailable_reason=lambda: "it is gone")


def test_unknown_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="'valgrind'"):
        choose_backend("valgrind")


def test_backends_state_their_capabilities() -> None:
    choice = choose_backend("tracemalloc")
    caps = choice.backend.capabilities
    assert not caps.native_allocations
    assert not caps.thread_ids
    assert caps.exact_peak
    assert caps.capture_suffix == ".tracemalloc"
