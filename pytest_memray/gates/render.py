"""Printing a comparison: text for a terminal or a CI log, Markdown for a pull request (kept
under GitHub's 65,536-character comment limit), JSON for programs.

Tables are sorted by the absolute change and capped at ``max_rows``, with "and N more"; growth
from 0 B reads "new allocation", never a percentage; a test without a figure shows its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_memray.gates.compare import (
    DEFAULT_MAX_ROWS,
    MARKDOWN_BUDGET,
    Change,
    Comparison,
)
from pytest_memray.gates.documents import Entry
from pytest_memray.sizes import format_size

# -- words shared by the renderers -------------------------------------------------------------


def _signed_size(delta: int) -> str:
    return ("+" if delta > 0 else "-") + format_size(abs(delta))


def _change_text(change: Change) -> str:
    if change.old == 0:
        return f"new allocation: {format_size(change.new)}"
    return _signed_size(change.delta)


def _percent(change: Change) -> str:
    percent = change.percent
    if percent is None:
        return ""
    if abs(percent) < 0.05:  # would print as 0.0% although the peak moved
        return f"{'+' if percent > 0 else '-'}<0.1%"
    return f"{percent:+.1f}%"


def _peak_or_reason(entry: Entry) -> str:
    if entry.peak_bytes is None:
        return f"not measured ({entry.not_measured})"
    return format_size(entry.peak_bytes)


def _tests(count: int) -> str:
    return f"{count} test" if count == 1 else f"{count} tests"


def verdict(result: Comparison) -> str:
    """The comparison's conclusion, in one line."""
    if result.problems:
        return f"Could not judge: {result.problem_line()}."
    count = len(result.regressions)
    if count:
        return f"{_tests(count)} grew past the allowed increase of {result.allowance}."
    return (
        f"No test grew past the allowed increase of {result.allowance} "
        f"({result.compared} compared)."
    )


def summary(result: Comparison, head_name: str | None = None) -> str:
    """How many tests were compared, out of how many measured, against how many."""
    head = head_name or result.head_path
    return (
        f"Compared {result.compared} of the {result.head_measured} tests measured in {head} "
        f"with the baseline {result.base_path} ({_tests(result.base_tests)}, "
        f"{result.backend} backend)."
    )


def _rules_line(result: Comparison) -> str:
    within = result.within_noise
    if not result.compared:
        return f"Allowed increase {result.allowance}; noise floor {result.rules.noise_floor}."
    return (
        f"Allowed increase {result.allowance}; noise floor {result.rules.noise_floor}: "
        f"{_tests(within)} moved by no more than it ({result.unchanged} not at all) and "
        f"{'is' if within == 1 else 'are'} not listed."
    )


def _shift_line(result: Comparison, head_name: str) -> str | None:
    shift = result.matching.shift
    if shift is None or not result.matching.shifted:
        return None
    return (
        f"{_tests(result.matching.shifted)} matched by folder: {shift.describe(head_name)} "
        "(ids relative to another rootdir)."
    )


@dataclass(frozen=True)
class _Section:
    title: str
    changes: list[Change] | None = None
    lines: list[str] | None = None
    total: int = 0


def _sections(
    result: Comparison, head: str, id_text: Callable[[str], str], plain: Callable[[str], str]
) -> list[_Section]:
    grew_over = result.regressions
    grew_within = [change for change in result.grew if not change.over_allowance]
    sections = [
        _Section(f"Grew past the allowed increase ({len(grew_over)})", changes=grew_over),
        _Section(f"Grew within the allowed increase ({len(grew_within)})", changes=grew_within),
        _Section(f"Improved ({len(result.improved)})", changes=result.improved),
        _Section(
            f"New tests, not in the baseline ({len(result.new)})",
            lines=[f"{id_text(e.nodeid)}: {plain(_peak_or_reason(e))}" for e in result.new],
        ),
        _Section(
            f"Gone: in the baseline, not in {head} ({len(result.gone)})",
            lines=[f"{id_text(e.nodeid)}: {plain(_peak_or_reason(e))}" for e in result.gone],
        ),
        _Section(
            f"Not compared, no figure on one side ({len(result.not_compared)})",
            lines=[f"{id_text(u.nodeid)}: {plain(u.reason())}" for u in result.not_compared],
        ),
    ]
    return [
        section
        for section in sections
        if (section.changes if section.changes is not None else section.lines)
    ]


def _more(count: int) -> str:
    return f"... and {count} more"


# -- text --------------------------------------------------------------------------------------


def render_text(
    result: Comparison, max_rows: int = DEFAULT_MAX_ROWS, head_name: str | None = None
) -> str:
    """A plain-text report for a terminal or a CI log."""
    head = head_name or result.head_path
    lines = [
        f"Peak memory per test: {result.base_path} -> {head} ({result.backend} backend)",
        summary(result, head),
        _rules_line(result),
    ]
    shift = _shift_line(result, head)
    if shift:
        lines.append(shift)
    for section in _sections(result, head, lambda nodeid: nodeid, lambda text: text):
        lines += ["", f"{section.title}:"]
        if section.changes is not None:
            lines += _text_table(section.changes[:max_rows])
            rest = len(section.changes) - max_rows
        else:
            assert section.lines is not None
            lines += [f"  {line}" for line in section.lines[:max_rows]]
            rest = len(section.lines) - max_rows
        if rest > 0:
            lines.append(f"  {_more(rest)}")
    if result.compared and not result.grew and not result.improved:
        lines += ["", "No peak changed by more than the noise floor."]
    lines += ["", verdict(result)]
    return "\n".join(lines) + "\n"


def _text_table(changes: Sequence[Change]) -> list[str]:
    rows = [("test", "old", "new", "change", "%")]
    rows += [
        (c.nodeid, format_size(c.old), format_size(c.new), _change_text(c), _percent(c))
        for c in changes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    out = []
    for row, change in zip(rows, [None, *changes], strict=True):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)]
        flag = "  over the allowance" if change is not None and change.over_allowance else ""
        out.append(("  " + "  ".join(cells) + flag).rstrip())
    return out


# -- Markdown ----------------------------------------------------------------------------------


def _md(text: str, in_table: bool = False, limit: int = 300) -> str:
    """``text`` as a Markdown code span (long ids cut in the middle); pipes escaped in a
    table cell."""
    if len(text) > limit:
        text = text[: limit // 2 - 1] + "…" + text[-(limit // 2) :]
    if in_table:
        text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _md_text(text: str, limit: int = 500) -> str:
    """Plain ``text`` that is safe inside a Markdown table cell or list item."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def _md_table(changes: Sequence[Change]) -> list[str]:
    lines = ["| Test | Base | Head | Change | % |", "| --- | ---: | ---: | ---: | ---: |"]
    for c in changes:
        flag = " **over**" if c.over_allowance else ""
        lines.append(
            f"| {_md(c.nodeid, in_table=True)} | {format_size(c.old)} | {format_size(c.new)} "
            f"| {_change_text(c)}{flag} | {_percent(c)} |"
        )
    return lines


def render_markdown(
    result: Comparison,
    max_rows: int = DEFAULT_MAX_ROWS,
    head_name: str | None = None,
    budget: int = MARKDOWN_BUDGET,
) -> str:
    """GitHub-flavoured Markdown for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

    Every section is in view (none folded away); each table holds at most ``max_rows`` rows,
    fewer when that is what it takes to stay within ``budget`` characters.
    """
    rows = max(0, max_rows)
    while True:
        text = _markdown(result, rows, head_name)
        if len(text) <= budget or rows == 0:
            return text
        rows //= 2


def _markdown(result: Comparison, max_rows: int, head_name: str | None) -> str:
    head = head_name or result.head_path
    lines = [
        "### Peak memory per test",
        "",
        f"**{_md_text(verdict(result), limit=2000)}**",
        "",
        _md_text(summary(result, head), limit=2000),
        "",
        _md_text(_rules_line(result)),
        "",
    ]
    shift = _shift_line(result, head)
    if shift:
        lines += [_md_text(shift, limit=2000), ""]
    for section in _sections(result, head, _md, _md_text):
        lines += [f"#### {section.title}", ""]
        if section.changes is not None:
            if max_rows:
                lines += _md_table(section.changes[:max_rows])
            rest = len(section.changes) - max_rows
        else:
            assert section.lines is not None
            lines += [f"- {line}" for line in section.lines[:max_rows]]
            rest = len(section.lines) - max_rows
        if rest > 0:
            lines += ["", f"{_more(rest)}"]
        lines.append("")
    if result.compared and not result.grew and not result.improved:
        lines += ["No peak changed by more than the noise floor.", ""]
    return "\n".join(lines)


# -- JSON --------------------------------------------------------------------------------------


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "nodeid": entry.nodeid,
        "peak_bytes": entry.peak_bytes,
        "not_measured": entry.not_measured,
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "nodeid": change.nodeid,
        "base_nodeid": change.base_nodeid or change.nodeid,
        "old_bytes": change.old,
        "new_bytes": change.new,
        "change_bytes": change.delta,
        "change_percent": change.percent,
        "new_allocation": change.old == 0,
        "over_allowance": change.over_allowance,
    }


def render_json(result: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-ready object (no row is left out)."""
    shift = result.matching.shift
    return {
        "base": result.base_path,
        "head": result.head_path,
        "backend": result.backend,
        "status": result.status,
        "problems": list(result.problems),
        "allowance": str(result.allowance),
        "noise_floor": str(result.rules.noise_floor),
        "min_compared": str(result.rules.min_compared),
        "base_tests": result.base_tests,
        "head_measured": result.head_measured,
        "compared": result.compared,
        "grew_past_allowance": len(result.regressions),
        "id_prefix": None
        if shift is None or not result.matching.shifted
        else {"prefix": shift.prefix, "on": "base" if shift.added else "head"},
        "grew": [_change_json(c) for c in result.grew],
        "improved": [_change_json(c) for c in result.improved],
        "within_noise": result.within_noise,
        "unchanged": result.unchanged,
        "new": [_entry_json(e) for e in result.new],
        "gone": [_entry_json(e) for e in result.gone],
        "not_compared": [
            {"nodeid": u.nodeid, "base": u.base, "head": u.head} for u in result.not_compared
        ],
    }
