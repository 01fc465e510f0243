"""A page of where a call's memory went, drawn from the tracemalloc snapshot kept for it.

tracemalloc has no flamegraph of its own. The capture file of a call holds the snapshot of
what the call had alive at its best picture of the peak; this page lists those allocations
grouped by call stack, largest first, each with its frames (named as Python names them), as one
self-contained HTML file: no script, nothing fetched. Every text from the snapshot is escaped.
"""

from __future__ import annotations

import html
import pickle
import tracemalloc
from pathlib import Path

from pytest_memray.backends.interface import AllocationSite
from pytest_memray.backends.tracemalloc.traces import group, newest_first, to_sites
from pytest_memray.files import write_text
from pytest_memray.sizes import format_size

#: Call stacks listed at most; the rest are counted in a last line.
LISTED = 100

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1b1b1b; }
h1 { font-size: 1.3em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35em .6em; }
th, td { border-bottom: 1px solid #ddd; }
td.size, th.size { text-align: right; white-space: nowrap; }
.bar { background: #7aa6d6; height: .6em; margin-top: .3em; }
code { font: 12px ui-monospace, monospace; display: block; }
"""


def write_page(capture_file: Path, target: Path, title: str) -> str | None:
    """Write the page of ``capture_file``'s snapshot to ``target``; None once written, else
    why not."""
    try:
        snapshot = tracemalloc.Snapshot.load(str(capture_file))
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError) as exc:
        return f"the capture file {capture_file.name} could not be read ({exc})"
    raw = [
        (trace.domain, trace.size, newest_first(trace.traceback), 0) for trace in snapshot.traces
    ]
    sites = to_sites(group(raw, None))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, render(sites, title))
    except OSError as exc:
        return f"the page could not be written ({exc})"
    return None


def render(sites: list[AllocationSite], title: str) -> str:
    """The page: one row per call stack, largest first."""
    total = sum(site.size for site in sites)
    largest = max((site.size for site in sites), default=0) or 1
    rows = []
    for site in sites[:LISTED]:
        frames = "".join(f"<code>{html.escape(str(frame))}</code>" for frame in site.stack)
        width = max(1, round(100 * site.size / largest))
        rows.append(
            f'<tr><td class="size">{format_size(site.size)}'
            f'<div class="bar" style="width:{width}%"></div></td>'
            f'<td class="size">{site.allocations}</td>'
            f"<td>{frames or '<code>(no Python frames)</code>'}</td></tr>"
        )
    if len(sites) > LISTED:
        rest = sum(site.size for site in sites[LISTED:])
        rows.append(
            f'<tr><td class="size">{format_size(rest)}</td><td></td>'
            f"<td>and {len(sites) - LISTED} more call stacks</td></tr>"
        )
    heading = html.escape(title)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{heading}</title>'
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Where the memory of {heading} went</h1>"
        f"<p>{format_size(total)} alive at the picture of the peak, in {len(sites)} call "
        f"stack{'' if len(sites) == 1 else 's'} (tracemalloc; newest frame first).</p>"
        '<table><thead><tr><th class="size">Size</th><th class="size">Allocations</th>'
        f"<th>Call stack</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "</body></html>\n"
    )
