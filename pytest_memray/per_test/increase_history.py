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
(``-p no:cacheprovider``) there is no history: nothing is recorded or checked. An entry that
cannot be a peak (not an object, or a peak that is not a whole number of bytes: a string,
``NaN``, a negative or fractional number) is treated as no history, with one warning per
session naming the first such entry; the next passing run writes a good one.

pytest keeps each cache value in a file named by its key, and a test id can hold characters
that Windows forbids in file names (every id holds ``::``), or a part longer than a file name
may be. For those the key is ``memray/`` and the test's capture file name instead: valid
everywhere and distinct per test. The published plugin does not run on Windows, so no history
of its own is lost there.
"""

from __future__ import annotations

import math
import os
import warnings
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
        self._warned = False

    def _entry(self, nodeid: str) -> dict[str, Any]:
        if self._cache is None:
            return {}
        entry = self._cache.get(cache_key(nodeid), None)
        if entry is None or isinstance(entry, dict):
            return entry or {}
        self._corrupt(nodeid, entry)
        return {}

    def previous(self, nodeid: str) -> int | None:
        """The recorded peak of ``nodeid`` in bytes; None if there is none or it is unreadable."""
        entry = self._entry(nodeid)
        if PEAK_FIELD not in entry:
            return None
        value = entry[PEAK_FIELD]
        readable = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and (not isinstance(value, float) or (math.isfinite(value) and value.is_integer()))
            and value >= 0
        )
        if not readable:
            self._corrupt(nodeid, value)
            return None
        return int(value)

    def _corrupt(self, nodeid: str, value: object) -> None:
        """Warn, once per session, that an entry is unreadable; it counts as no history."""
        if self._warned:
            return
        self._warned = True
        # Imported here: the tracking imports the limits, which import this module.
        from pytest_memray.per_test.tracking import PytestMemrayWarning

        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        warnings.warn(
            PytestMemrayWarning(
                f"--fail-on-increase: the peak recorded in pytest's cache for {nodeid} "
                f"({cache_key(nodeid)}) is unreadable ({shown}); it is treated as no history "
                "(as is any other unreadable entry this session), and this run's peak replaces "
                "it"
            ),
            stacklevel=2,
        )

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
