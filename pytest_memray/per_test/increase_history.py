"""The peak of each limit_memory test across runs, kept in pytest's cache (``--fail-on-increase``).

The history is stored where and how the published pytest-memray 1.11 stores it, so that a
project switching packages keeps its history: one cache entry per test, key
``memray/<nodeid>``, value ``{"total_allocated_memory": <bytes>}``. The same rules apply:

* the peak of every limit_memory test whose own code passed is recorded on every run where the
  cache plugin is active, whether ``--fail-on-increase`` is given or not;
* with ``--fail-on-increase``, a peak higher than the recorded one fails the test and is not
  recorded, so the next run compares with the same figure again;
* a peak that did not grow replaces the recorded one (a smaller peak lowers the bar).

Other keys found in an entry are kept when it is rewritten. Without the cache plugin
(``-p no:cacheprovider``) there is no history: nothing is recorded or checked.

pytest keeps each cache value in a file named by its key, and a test id can hold characters
that Windows forbids in file names (every id holds ``::``), or a part longer than a file name
may be. For those the key is ``memray/`` and the test's capture file name instead: valid
everywhere and distinct per test. The published plugin does not run on Windows, so no history
of its own is lost there.
"""

from __future__ import annotations

import os
from typing import Any

from pytest_memray.per_test.capture_files import MAX_NAME_BYTES, capture_file_name
from pytest_memray.per_test.failures import MEMORY_SECTION, Failure
from pytest_memray.sizes import format_size

KEY_PREFIX = "memray/"
PEAK_FIELD = "total_allocated_memory"
#: The failure section's text, as the published plugin words it.
SECTION_TEXT = "Test uses more memory than previous run"


def cache_key(nodeid: str, windows: bool = os.name == "nt") -> str:
    """The cache key of ``nodeid``'s peak: the published ``memray/<nodeid>`` where it makes a
    valid file path, else ``memray/`` and a name valid on every system."""
    parts = nodeid.split("/")
    unsafe = any(
        part in ("", ".", "..") or len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts
    )
    if windows or unsafe:
        return KEY_PREFIX + capture_file_name("", nodeid, "")
    return KEY_PREFIX + nodeid


def increase_failure(previous: int, peak: int) -> Failure:
    """The failure of a test whose peak grew from ``previous`` to ``peak`` bytes."""
    return Failure(
        summary=f"Test previously used {format_size(previous)} but now uses {format_size(peak)}",
        section=MEMORY_SECTION,
        details=SECTION_TEXT,
    )


class IncreaseHistory:
    """Reads and writes the recorded peaks; ``cache`` is pytest's ``config.cache`` or None."""

    def __init__(self, cache: Any | None, fail_on_increase: bool) -> None:
        self._cache = cache
        self.fail_on_increase = fail_on_increase

    def _entry(self, nodeid: str) -> dict[str, Any]:
        if self._cache is None:
            return {}
        entry = self._cache.get(cache_key(nodeid), None)
        return entry if isinstance(entry, dict) else {}

    def previous(self, nodeid: str) -> int | None:
        """The recorded peak of ``nodeid`` in bytes; None if there is none or it is unreadable."""
        value = self._entry(nodeid).get(PEAK_FIELD)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value)

    def record(self, nodeid: str, peak: int) -> None:
        """Store ``peak`` as the latest peak of ``nodeid`` (nothing without the cache plugin)."""
        if self._cache is None:
            return
        entry = self._entry(nodeid)
        entry[PEAK_FIELD] = int(peak)
        self._cache.set(cache_key(nodeid), entry)

    def failure(self, nodeid: str, peak: int) -> Failure | None:
        """Judge and record one run of a limit_memory test that passed its own code.

        Returns the failure when ``--fail-on-increase`` is on and ``peak`` is higher than the
        recorded peak (which is then left as it was); otherwise records ``peak`` and returns None.
        """
        previous = self.previous(nodeid)
        if self.fail_on_increase and previous is not None and peak > previous:
            return increase_failure(previous, peak)
        self.record(nodeid, peak)
        return None
