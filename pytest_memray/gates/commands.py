"""The command line's ``history``, ``report`` and ``export`` (``pytest-memray``, or
``python -m pytest_memray``), added to :mod:`.cli`'s parser by :func:`add_commands`.

``history [PATH ...]``
   Each test's peak across saved runs (``.memray/`` by default) or folders and files of
   ``--memray-json`` documents: text, Markdown or JSON.
``report RUN.json [--baseline B.json] [--history PATH] -o report.html``
   The self-contained HTML report.
``export --format bmf|csv RUN.json [-o FILE]``
   A document in Bencher's metric format or as CSV; standard output unless ``-o``.

Exit status: 0, or 2 on bad input with one line on standard error (as for ``compare``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_memray.files import same_file, stream_fd, write_text
from pytest_memray.gates import DEFAULT_MAX_INCREASE
from pytest_memray.gates.allowance import allowance_or_default
from pytest_memray.gates.documents import load_document
from pytest_memray.gates.exports import bmf_document, csv_text
from pytest_memray.gates.history import History, build_history, load_runs
from pytest_memray.gates.history import render_json as history_json
from pytest_memray.gates.history import render_markdown as history_markdown
from pytest_memray.gates.history import render_text as history_text
from pytest_memray.gates.html import render_html, report_data
from pytest_memray.gates.storage import DEFAULT_STORAGE

Handler = Callable[[argparse.Namespace], int]

_ALLOWANCE_HELP = (
    "the step up that counts as a jump: '10%%', '512 KB' or '10%% + 64 KB' "
    f"(default: '{DEFAULT_MAX_INCREASE.replace('%', '%%')}')"
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_commands(commands: Any) -> dict[str, Handler]:
    """Add ``history``, ``report`` and ``export`` to the ``add_subparsers()`` object
    ``commands``; returns each command's handler by name."""
    history = commands.add_parser(
        "history",
        help="each test's peak across saved runs or JSON reports",
        description="Show each test's peak at each run, its change from the first to the "
        "last run, and the run where it jumped (the largest step up past the allowance). "
        "PATH is a storage folder of --memray-save (default: .memray), a folder of JSON "
        "reports (read in name order), or report files (read in the order given).",
    )
    history.add_argument("paths", metavar="PATH", nargs="*", help="folders or reports")
    history.add_argument(
        "--last", metavar="N", type=_positive, help="only the last N runs (default: all)"
    )
    history.add_argument(
        "--max-increase", metavar="VALUE", default=DEFAULT_MAX_INCREASE, help=_ALLOWANCE_HELP
    )
    history.add_argument(
        "--format", choices=["text", "markdown", "json"], default="text", help="output format"
    )

    report = commands.add_parser(
        "report",
        help="write the self-contained HTML report of a run",
        description="Write one HTML file, readable offline, with every test of RUN.json, a "
        "chart of the biggest peaks, the changes against a baseline and the trend over "
        "earlier runs.",
    )
    report.add_argument("run", metavar="RUN.json", help="the report of the run to show")
    report.add_argument("-o", "--output", metavar="FILE", required=True, help="the HTML file")
    report.add_argument("--baseline", metavar="BASE.json", help="compare with this report")
    report.add_argument(
        "--history",
        metavar="PATH",
        action="append",
        help="saved runs or JSON reports for the trend (as for history; may be repeated)",
    )
    report.add_argument("--last", metavar="N", type=_positive, help="only the last N runs")
    report.add_argument(
        "--max-increase", metavar="VALUE", default=DEFAULT_MAX_INCREASE, help=_ALLOWANCE_HELP
    )
    report.add_argument("--title", help="the page's title")

    export = commands.add_parser(
        "export",
        help="write a report in a format other tools read (BMF, CSV)",
        description="bmf: Bencher Metric Format, measures peak-memory and allocations per "
        "passing, measured test (the others are left out and listed on standard error). "
        "csv: one row per test; a test not measured has an empty peak_bytes and the reason.",
    )
    export.add_argument("run", metavar="RUN.json", help="the report to export")
    export.add_argument("--format", choices=["bmf", "csv"], required=True)
    export.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    return {"history": _history, "report": _report, "export": _export}


def _load_history(paths: list[str], last: int | None, max_increase: str) -> History:
    allowance = allowance_or_default(max_increase, DEFAULT_MAX_INCREASE)
    runs = load_runs(paths or [DEFAULT_STORAGE])
    if last is not None:
        runs = runs[-last:]
    return build_history(runs, allowance)


def _history(args: argparse.Namespace) -> int:
    history = _load_history(args.paths, args.last, args.max_increase)
    if args.format == "json":
        sys.stdout.write(json.dumps(history_json(history), indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(history_markdown(history))
    else:
        sys.stdout.write(history_text(history))
    return 0


def _write(path: str | None, text: str, inputs: list[str | None]) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    for name in inputs:
        if name is not None and stream_fd(path) is None and same_file(path, name):
            raise ValueError(
                f"the output {path} is the input {name}: no command overwrites its input; "
                "name another file with -o, or leave -o out for standard output"
            )
    try:
        write_text(Path(path), text)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be written: {exc.strerror or exc}") from None


def _report(args: argparse.Namespace) -> int:
    allowance = allowance_or_default(args.max_increase, DEFAULT_MAX_INCREASE)
    document = load_document(args.run)
    baseline = None if args.baseline is None else load_document(args.baseline)
    history = None
    if args.history:
        history = _load_history(args.history, args.last, args.max_increase)
    data = report_data(
        document, baseline=baseline, allowance=allowance, history=history, title=args.title
    )
    if history is not None and history.backend != document.backend:
        raise ValueError(
            f"the history was measured with the {history.backend} backend, but {args.run} "
            f"with {document.backend}: peaks from different backends are not comparable"
        )
    _write(args.output, render_html(data), [args.run, args.baseline, *(args.history or [])])
    return 0


def _export(args: argparse.Namespace) -> int:
    document = load_document(args.run)
    if args.format == "csv":
        _write(args.output, csv_text(document), [args.run])
        return 0
    metrics, left_out = bmf_document(document)
    for line in left_out:
        print(f"left out of the BMF file: {line}", file=sys.stderr)
    _write(args.output, json.dumps(metrics, indent=2) + "\n", [args.run])
    return 0
