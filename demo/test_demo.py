"""A small suite to try the plugin on: ``pytest demo --memray``.

Every test here passes; the report at the end ranks them by peak memory.
``demo/over_limit.py`` holds tests that break their limits on purpose.
"""

from __future__ import annotations

import pytest

MIB = 1024 * 1024
_cache: list[bytes] = []


def build_table(rows: int) -> list[tuple[int, str]]:
    return [(i, str(i) * 3) for i in range(rows)]


def spike_and_free() -> int:
    scratch = bytearray(10 * MIB)  # alive only inside this helper
    return len(scratch)


def test_holds_ten_mebibytes() -> None:
    data = bytearray(10 * MIB)
    assert len(data) == 10 * MIB


def test_helper_spike_is_attributed() -> None:
    assert spike_and_free() == 10 * MIB


def test_many_small_objects() -> None:
    assert len(build_table(50_000)) == 50_000


@pytest.mark.limit_memory("24 MB")
def test_within_its_limit() -> None:
    payload = b"x" * (4 * MIB)
    assert payload.count(b"x") == 4 * MIB


@pytest.mark.limit_leaks("1 MB")
def test_does_not_leak() -> None:
    for _ in range(10):
        chunk = bytearray(4 * MIB)
        del chunk


def test_trivial() -> None:
    assert sum(range(10)) == 45
