"""A "Peak memory" column in pytest-html's results table, where pytest-html is loaded.

The plugin puts each measured call's peak on its report as ``memray_peak_bytes``; this column
prints it in binary units. Tests without that attribute (not measured, or rows for a setup or
teardown) get an empty cell, never a 0. pytest-html sorts a column by comparing the cells'
HTML as strings, so each cell starts with a hidden, zero-padded byte count that makes that
string order the numeric order.
"""

from __future__ import annotations

import html
from typing import Any

import pytest

from pytest_memray.reporting.wire import PEAK_ATTR
from pytest_memray.sizes import format_size

COLUMN = "peakMemory"
PLUGIN_NAME = "memray-html-column"
_SORT_DIGITS = 20


class PeakMemoryColumn:
    """pytest-html hooks adding the column; the header and the cells go at the same index."""

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(
            _column_index(cells),
            f'<th class="sortable" data-column-type="{COLUMN}">Peak memory</th>',
        )

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        peak: Any = getattr(report, PEAK_ATTR, None)
        content = ""
        if isinstance(peak, int) and not isinstance(peak, bool) and peak >= 0:
            text = html.escape(format_size(peak))
            content = f"<span hidden>{peak:0{_SORT_DIGITS}d}</span>{text}"
        cells.insert(_column_index(cells), f'<td class="col-{COLUMN}">{content}</td>')


def _column_index(cells: list[str]) -> int:
    """Before pytest-html's own "Links" column, which is last; at the end if it is gone."""
    return 3 if len(cells) >= 4 else len(cells)


def reads_peaks_as_reported(config: pytest.Config) -> bool:
    """Whether pytest-html writes a report in this session: it reads each test's peak as the
    test is reported, so no backend may hand the figures over later."""
    return config.pluginmanager.hasplugin("html") and bool(getattr(config.option, "htmlpath", None))


def register_if_available(config: pytest.Config) -> bool:
    """Register the column when pytest-html is loaded; True when it was registered."""
    manager = config.pluginmanager
    if not manager.hasplugin("html") or manager.has_plugin(PLUGIN_NAME):
        return False
    manager.register(PeakMemoryColumn(), PLUGIN_NAME)
    return True
