"""Tests that break their memory limits on purpose.

The file name does not start with ``test_``, so ``pytest demo`` skips it; run it by naming it:
``pytest demo/over_limit.py --memray``. Both tests fail with the status letter ``M``.
"""

from __future__ import annotations

import pytest

MIB = 1024 * 1024
_kept: list[bytearray] = []


@pytest.mark.limit_memory("5 MB")
def test_goes_over_its_limit() -> None:
    data = bytearray(10 * MIB)
    assert len(data) == 10 * MIB


@pytest.mark.limit_leaks("1 MB")
def test_leaks_a_buffer() -> None:
    _kept.append(bytearray(4 * MIB))
