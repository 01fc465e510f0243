"""The report printed after a ``--memray`` run: the tests with the highest peaks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from .backends.interface import AllocationSite
from .sizes import format_size

_BARS = " ▁▂▃▄▅▆▇█"
_BINS = 10
_TOP_FUNCTIONS = 5


@dataclass(frozen=True)
class ReportEntry:
    """What the report needs of one tracked test."""

    nodeid: str
    peak_bytes: int
    allocation_count: Optional[int]
    histogram: str
    top_sites: tuple[AllocationSite, ...]


def histogram(sites: Sequence[AllocationSite], bins: int = _BINS) -> str:
    """Bars for the sizes of the allocations alive at the peak, on a log scale.

    Each site contributes ``count`` allocations of its average size. Bar heights are
    relative to the fullest bin.
    """
    sizes = [(max(site.size // max(site.count, 1), 1), site.count) for site in sites if site.count]
    if not sizes:
        return " " * bins
    low = math.log(min(size for size, _ in sizes))
    high = math.log(max(size for size, _ in sizes))
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for size, count in sizes:
        counts[min(int((math.log(size) - low) / width), bins - 1)] += count
    tallest = max(counts)
    steps = len(_BARS) - 1
    return "".join(_BARS[math.ceil(count / tallest * steps)] for count in counts)


def select(entries: Sequence[ReportEntry], most: int) -> list[ReportEntry]:
    """The ``most`` entries with the highest peak (all of them when ``most`` is 0)."""
    ranked = sorted(entries, key=lambda entry: entry.peak_bytes, reverse=True)
    return ranked if most == 0 else ranked[:most]


def render_entry(entry: ReportEntry) -> list[str]:
    """The lines of one test's block in the report."""
    count = "unknown" if entry.allocation_count is None else str(entry.allocation_count)
    lines = [
        f"Allocation results for {entry.nodeid} at the high watermark",
        "",
        f"\t 📦 Total memory allocated: {format_size(entry.peak_bytes)}",
        f"\t 📏 Total allocations: {count}",
        f"\t 📊 Histogram of allocation sizes: |{entry.histogram}|",
        "\t 🥇 Biggest allocating functions:",
    ]
    for site in entry.top_sites[:_TOP_FUNCTIONS]:
        where = str(site.stack[0]) if site.stack else "<no Python frames>"
        lines.append(f"\t\t- {where} -> {format_size(site.size)}")
    lines.append("")
    return lines


def top_sites(sites: Sequence[AllocationSite]) -> tuple[AllocationSite, ...]:
    """The largest sites, by their most recent frame, as the report lists them."""
    merged: dict[object, AllocationSite] = {}
    for site in sites:
        key = site.stack[0] if site.stack else None
        seen = merged.get(key)
        if seen is None:
            merged[key] = AllocationSite(site.size, site.count, site.stack[:1], site.thread_id)
        else:
            merged[key] = AllocationSite(
                seen.size + site.size, seen.count + site.count, seen.stack, seen.thread_id
            )
    ranked = sorted(merged.values(), key=lambda site: site.size, reverse=True)
    return tuple(ranked[:_TOP_FUNCTIONS])
