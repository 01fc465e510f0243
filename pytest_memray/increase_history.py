"""Peaks of ``limit_memory`` tests kept in pytest's cache, for ``--fail-on-increase``.

The peak of every ``limit_memory`` test is recorded on every run where the cache plugin is
active, under the key ``memray/<nodeid>`` as ``{"total_allocated_memory": <bytes>}``, the
published plugin's key and format, so a history it recorded carries over. With
``--fail-on-increase``, a peak above the recorded one fails the test.
"""

from __future__ import annotations

from typing import Any, Optional

from .markers import MEMORY_SECTION, Failure
from .sizes import format_size

_KEY = "memray/{nodeid}"
_FIELD = "total_allocated_memory"


class IncreaseHistory:
    """Reads and writes recorded peaks in ``cache`` (a ``pytest.Cache``)."""

    def __init__(self, cache: Any, fail_on_increase: bool) -> None:
        self._cache = cache
        self._fail_on_increase = fail_on_increase

    def previous(self, nodeid: str) -> Optional[int]:
        stored = self._cache.get(_KEY.format(nodeid=nodeid), None)
        value = stored.get(_FIELD) if isinstance(stored, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def check(self, nodeid: str, peak: int) -> Optional[Failure]:
        if not self._fail_on_increase:
            return None
        previous = self.previous(nodeid)
        if previous is None or peak <= previous:
            return None
        return Failure(
            summary=(
                f"Test previously used {format_size(previous)} but now uses {format_size(peak)}"
            ),
            section=MEMORY_SECTION,
            details="Test uses more memory than previous run",
        )

    def record(self, nodeid: str, peak: int) -> None:
        self._cache.set(_KEY.format(nodeid=nodeid), {_FIELD: peak})
