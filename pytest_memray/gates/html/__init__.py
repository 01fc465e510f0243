"""The self-contained HTML report: :mod:`.report` renders it from documents already read;
``template.html``, ``report.js`` and ``report.css`` are the page, ``vendor/`` the charting
library it inlines (uPlot, with its licence and pinned version in ``vendor/README.md``)."""

from __future__ import annotations

from pytest_memray.gates.html.report import render_html, report_data

__all__ = ["render_html", "report_data"]
