"""What is kept of a measurement's allocation sites: the largest few, and the shape of the
sizes as a histogram.

Worked out where the test ran (an xdist worker, say), so that only these few figures travel
and stay in memory, whatever the test allocated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_memray.backends.interface import AllocationSite, rank_sites

_BARS = " ▁▂▃▄▅▆▇█"
_BINS = 10
_TOP_FUNCTIONS = 5


def histogram(sites: Sequence[AllocationSite], bins: int = _BINS) -> str:
    """Bars for the sizes of the allocations alive at the peak, on a log scale.

    Each site contributes ``allocations`` allocations of its average size. Bar heights are
    relative to the fullest bin.
    """
    sizes = [
        (max(site.size // max(site.allocations, 1), 1), site.allocations)
        for site in sites
        if site.allocations
    ]
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


def top_sites(sites: Sequence[AllocationSite]) -> tuple[AllocationSite, ...]:
    """The largest sites, merged by their most recent frame, as the report lists them."""
    ranked = rank_sites(sites, key=lambda site: site.stack[:1])
    return tuple(site._replace(stack=site.stack[:1]) for site in ranked[:_TOP_FUNCTIONS])
