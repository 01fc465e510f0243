"""The report printed after a ``--memray`` run: the tests with the highest peaks, then the
tests whose memory could not be measured, with the reason."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_memray.reporting.results import MemoryResult
from pytest_memray.sizes import format_size


def render_report(results: Sequence[MemoryResult], most: int) -> list[str]:
    """The report's lines: the ``most`` highest peaks (all with 0), passed or failed, then
    the tests that could not be measured; a line that says why when no test is listed."""
    lines: list[str] = []
    for result in select(results, most):
        lines += render_entry(result)
    if not lines:
        why = (
            "no test was measured in this session"
            if not results
            else "none of the tracked tests could be measured (see below)"
        )
        lines += [f"No test to list: {why}.", ""]
    return lines + render_not_measured(results)


def select(results: Sequence[MemoryResult], most: int) -> list[MemoryResult]:
    """The ``most`` measured results with the highest peak (all of them when ``most`` is 0)."""
    measured = [result for result in results if result.peak_bytes is not None]
    ranked = sorted(measured, key=lambda result: result.peak_bytes or 0, reverse=True)
    return ranked if most == 0 else ranked[:most]


def render_entry(result: MemoryResult) -> list[str]:
    """The lines of one measured test's block in the report."""
    assert result.peak_bytes is not None, "only measured tests have a block"
    count = "unknown" if result.allocation_count is None else str(result.allocation_count)
    lines = [
        f"Allocation results for {result.nodeid} at the high watermark",
        "",
        f"\t 📦 Total memory allocated: {format_size(result.peak_bytes)}",
        f"\t 📏 Total allocations: {count}",
        f"\t 📊 Histogram of allocation sizes: |{result.histogram}|",
        "\t 🥇 Biggest allocating functions:",
    ]
    for site in result.top_sites:
        where = str(site.stack[0]) if site.stack else "<no Python frames>"
        lines.append(f"\t\t- {where} -> {format_size(site.size)}")
    lines.append("")
    return lines


def render_not_measured(results: Sequence[MemoryResult]) -> list[str]:
    """Lines naming each test whose memory could not be measured, and why."""
    missing = [result for result in results if result.not_measured is not None]
    if not missing:
        return []
    count = f"{len(missing)} test" if len(missing) == 1 else f"{len(missing)} tests"
    lines = [f"Not measured ({count}): no figures, so no limit passed on them"]
    lines += [f"\t- {result.nodeid}: {result.not_measured}" for result in missing]
    lines.append("")
    return lines
