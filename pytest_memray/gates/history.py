"""``history``: each test's peak across saved runs or a folder of ``--memray-json`` documents.

:func:`load_runs` reads the runs in order: a storage folder of ``--memray-save`` (oldest
counter first, labelled with counter and commit), any other folder's ``*.json`` files (by
name, numbers in names compared as numbers, so ``run-9`` comes before ``run-10``), or files
named one by one (in the order given). All runs must come from one backend.

:func:`build_history` makes one :class:`Trend` per test: its peak at each run (or why there
is none: not measured, with the document's reason, or absent from that run), the change from
its first to its last measured peak, and the run where it jumped, the largest step up
between two consecutive measured peaks that is past the allowance. A history shows what was
measured, whatever the test's outcome (a test the baseline gate failed for growing is the
jump it is there to show), so a peak of a test that did not pass is marked with its outcome:
one that failed early may have stopped before its usual peak. A test that was not measured
is never read as 0 B: its run is a gap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_memray.gates.allowance import Allowance
from pytest_memray.gates.documents import (
    REFERENCE_OUTCOMES,
    Document,
    DocumentError,
    check_same_backend,
    load_document,
)
from pytest_memray.gates.storage import list_runs, machine_folders
from pytest_memray.sizes import format_size

ABSENT = "not in this run"


@dataclass(frozen=True)
class Run:
    """One run of a history: its document and how it is labelled."""

    label: str
    document: Document
    commit: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Point:
    """A test at one run: its peak, or why it has none (``reason``)."""

    peak: int | None
    reason: str | None
    outcome: str | None

    @property
    def passed(self) -> bool:
        return self.outcome in REFERENCE_OUTCOMES


@dataclass(frozen=True)
class Jump:
    """The largest step up past the allowance, to run ``index``'s peak from the measured
    peak before it (the runs between them, if any, have none)."""

    index: int
    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old


@dataclass(frozen=True)
class Trend:
    """One test across the runs."""

    nodeid: str
    points: list[Point]
    jump: Jump | None

    @property
    def measured(self) -> list[tuple[int, int]]:
        return [(i, p.peak) for i, p in enumerate(self.points) if p.peak is not None]

    @property
    def change(self) -> tuple[int, int] | None:
        """``(first, last)`` measured peaks; None with fewer than two."""
        refs = self.measured
        return (refs[0][1], refs[-1][1]) if len(refs) >= 2 else None

    @property
    def last_peak(self) -> int | None:
        measured = [p.peak for p in self.points if p.peak is not None]
        return measured[-1] if measured else None


@dataclass(frozen=True)
class History:
    runs: list[Run]
    trends: list[Trend]
    allowance: Allowance
    notes: list[str] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return self.runs[0].document.backend if self.runs else ""


# -- reading ---------------------------------------------------------------------------------


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _runs_of_folder(folder: Path) -> list[Run]:
    saved = list_runs(folder)
    if saved:
        return [Run(run.label, load_document(run.path), run.commit, run.iso_date) for run in saved]
    files = sorted(
        (p for p in folder.glob("*.json") if p.is_file()), key=lambda p: _natural(p.name)
    )
    if files:
        return [Run(path.stem, load_document(path)) for path in files]
    kinds = machine_folders(folder)
    if len(kinds) == 1:
        return _runs_of_folder(kinds[0])
    if kinds:
        names = ", ".join(str(kind) for kind in kinds)
        raise DocumentError(
            str(folder),
            f"holds saved runs of {len(kinds)} machine kinds; name one of: {names}",
        )
    raise DocumentError(str(folder), "holds no JSON report and no saved run")


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """The runs of every path, in order (see the module's docstring).

    Raises:
        DocumentError: for a path that holds no report, a bad document, or documents of
            different backends.
    """
    runs: list[Run] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            runs += _runs_of_folder(path)
        else:
            runs.append(Run(path.stem, load_document(path)))
    for run in runs[1:]:
        check_same_backend(runs[0].document, run.document)
    return runs


# -- building --------------------------------------------------------------------------------


def _point(document: Document, nodeid: str) -> Point:
    entry = document.entries.get(nodeid)
    if entry is None:
        return Point(None, ABSENT, None)
    return Point(entry.peak_bytes, entry.not_measured, entry.outcome)


def _jump(points: Sequence[Point], allowance: Allowance) -> Jump | None:
    best: Jump | None = None
    previous: tuple[int, int] | None = None
    for index, point in enumerate(points):
        peak = point.peak
        if peak is None:
            continue
        if previous is not None:
            old = previous[1]
            if peak > old and not allowance.permits(old, peak):
                jump = Jump(index, old, peak)
                if best is None or jump.delta > best.delta:
                    best = jump
        previous = (index, peak)
    return best


def _order(trend: Trend) -> tuple[int, int, int, str]:
    change = trend.change
    moved = abs(change[1] - change[0]) if change else -1
    return (0 if trend.jump else 1, -moved, -(trend.last_peak or 0), trend.nodeid)


def build_history(runs: Sequence[Run], allowance: Allowance) -> History:
    """A :class:`Trend` per test of any run: jumps first, then by the size of the change."""
    nodeids = list(dict.fromkeys(nodeid for run in runs for nodeid in run.document.entries))
    trends = []
    for nodeid in nodeids:
        points = [_point(run.document, nodeid) for run in runs]
        trends.append(Trend(nodeid, points, _jump(points, allowance)))
    trends.sort(key=_order)
    return History(list(runs), trends, allowance)


# -- rendering -------------------------------------------------------------------------------


def _cell(point: Point) -> str:
    if point.peak is None:
        return "-" if point.reason == ABSENT else "not measured"
    text = format_size(point.peak)
    return text if point.passed else f"{text} ({point.outcome})"


def _change_text(trend: Trend) -> str:
    change = trend.change
    if change is None:
        return ""
    first, last = change
    delta = last - first
    if delta == 0:
        return "0 B"
    sign = "+" if delta > 0 else "-"
    text = f"{sign}{format_size(abs(delta))}"
    return f"{text} ({delta * 100 / first:+.1f}%)" if first else f"{text} (from 0 B)"


def _jump_text(history: History, trend: Trend) -> str:
    jump = trend.jump
    if jump is None:
        return ""
    run = history.runs[jump.index]
    where = run.commit[:12] if run.commit else run.label
    return f"{where} (+{format_size(jump.delta)})"


def _unmeasured(history: History) -> list[tuple[str, str, str]]:
    rows = []
    for trend in history.trends:
        for run, point in zip(history.runs, trend.points, strict=True):
            if point.peak is None and point.reason not in (None, ABSENT):
                rows.append((trend.nodeid, run.label, point.reason))
    return rows


def render_text(history: History) -> str:
    """A table for a terminal: a column per run, then the change and the jump."""
    runs = history.runs
    lines = [
        f"Peak memory per test over {len(runs)} runs ({history.backend} backend); "
        f"a jump is the largest step up past {history.allowance}",
        "",
    ]
    for index, run in enumerate(runs, 1):
        extra = ", ".join(part for part in (run.commit, run.date) if part)
        lines.append(f"  run {index}: {run.label}" + (f" ({extra})" if extra else ""))
    lines.append("")
    header = ("test", *(f"run {i}" for i in range(1, len(runs) + 1)), "change", "jumped at")
    rows = [header]
    for trend in history.trends:
        cells = [_cell(point) for point in trend.points]
        rows.append((trend.nodeid, *cells, _change_text(trend), _jump_text(history, trend)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [row[i].rjust(widths[i]) for i in range(1, len(row) - 1)]
        cells.append(row[-1])
        lines.append(("  ".join(cells)).rstrip())
    unmeasured = _unmeasured(history)
    if unmeasured:
        lines += ["", f"Not measured ({len(unmeasured)}):"]
        lines += [f"  {nodeid} at {label}: {reason}" for nodeid, label, reason in unmeasured]
    jumps = sum(1 for trend in history.trends if trend.jump)
    lines += ["", f"{jumps} of {len(history.trends)} tests jumped past {history.allowance}."]
    return "\n".join(lines) + "\n"


def _md_code(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _md_text(text: str) -> str:
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def render_markdown(history: History) -> str:
    """The same table in GitHub-flavoured Markdown."""
    runs = history.runs
    lines = [
        "### Peak memory per test over time",
        "",
        f"{len(runs)} runs, {history.backend} backend; a jump is the largest step up past "
        f"{history.allowance}.",
        "",
        "| Test | " + " | ".join(_md_text(run.label) for run in runs) + " | Change | Jumped at |",
        "| --- |" + " ---: |" * len(runs) + " ---: | --- |",
    ]
    for trend in history.trends:
        cells = [_md_text(_cell(point)) for point in trend.points]
        lines.append(
            f"| {_md_code(trend.nodeid)} | "
            + " | ".join(cells)
            + f" | {_md_text(_change_text(trend))} | {_md_text(_jump_text(history, trend))} |"
        )
    unmeasured = _unmeasured(history)
    if unmeasured:
        lines += ["", f"Not measured ({len(unmeasured)}):", ""]
        lines += [
            f"- {_md_code(nodeid)} at {_md_text(label)}: {_md_text(reason)}"
            for nodeid, label, reason in unmeasured
        ]
    return "\n".join(lines) + "\n"


def render_json(history: History) -> dict[str, Any]:
    """The history as a JSON-ready object (also the HTML report's trend data)."""
    return {
        "backend": history.backend,
        "allowance": str(history.allowance),
        "runs": [
            {"label": run.label, "path": run.document.path, "commit": run.commit, "date": run.date}
            for run in history.runs
        ],
        "tests": [
            {
                "nodeid": trend.nodeid,
                "peaks": [point.peak for point in trend.points],
                "outcomes": [point.outcome for point in trend.points],
                "not_measured": [
                    None if point.peak is not None else point.reason for point in trend.points
                ],
                "change_bytes": None if trend.change is None else trend.change[1] - trend.change[0],
                "jump": None
                if trend.jump is None
                else {
                    "run": trend.jump.index,
                    "commit": history.runs[trend.jump.index].commit,
                    "old_bytes": trend.jump.old,
                    "new_bytes": trend.jump.new,
                },
            }
            for trend in history.trends
        ],
    }
