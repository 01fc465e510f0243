"""``compare``: two ``--memray-json`` documents side by side, as text, Markdown or JSON.

``compare_documents`` pairs the tests of a base and a head document: the ones whose peak
changed (largest growth first, each marked when it grew past the allowance), the new ones, the
removed ones, and the ones that cannot be compared because one side has no figure, or the
base's test did not pass (listed with the reason, never read as 0 B). The ``render_*``
functions print the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_memray.gates.allowance import Allowance
from pytest_memray.gates.documents import Document, Entry, check_same_backend
from pytest_memray.sizes import format_size


@dataclass(frozen=True)
class Change:
    """A test measured on both sides whose peak moved."""

    nodeid: str
    old: int
    new: int
    over_allowance: bool

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def percent(self) -> float | None:
        """The change in percent of the old peak; None when the old peak was 0."""
        return self.delta * 100 / self.old if self.old else None


@dataclass(frozen=True)
class Unmeasured:
    """A test on both sides that one of them has no figure for."""

    nodeid: str
    base: str | None
    head: str | None

    def reason(self) -> str:
        parts = []
        if self.base is not None:
            parts.append(f"base: {self.base}")
        if self.head is not None:
            parts.append(f"head: {self.head}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a base document with a head document."""

    base_path: str
    head_path: str
    backend: str
    allowance: Allowance
    changed: list[Change] = field(default_factory=list)
    unchanged: int = 0
    new: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    not_measured: list[Unmeasured] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        """The changes that grew past the allowance."""
        return [change for change in self.changed if change.over_allowance]


def compare_documents(base: Document, head: Document, allowance: Allowance) -> Comparison:
    """Pair the tests of ``base`` and ``head``; refuses documents of different backends."""
    check_same_backend(base, head)
    changed: list[Change] = []
    new_tests: list[Entry] = []
    not_measured: list[Unmeasured] = []
    unchanged = 0
    for nodeid, entry in head.entries.items():
        old = base.entries.get(nodeid)
        if old is None:
            new_tests.append(entry)
        elif old.reference_peak is None or entry.peak_bytes is None:
            not_measured.append(Unmeasured(nodeid, old.no_reference, entry.not_measured))
        elif old.reference_peak == entry.peak_bytes:
            unchanged += 1
        else:
            over = not allowance.permits(old.reference_peak, entry.peak_bytes)
            changed.append(Change(nodeid, old.reference_peak, entry.peak_bytes, over))
    changed.sort(key=lambda change: (-change.delta, change.nodeid))
    removed = [entry for nodeid, entry in base.entries.items() if nodeid not in head.entries]
    return Comparison(
        base.path,
        head.path,
        base.backend,
        allowance,
        changed=changed,
        unchanged=unchanged,
        new=new_tests,
        removed=removed,
        not_measured=not_measured,
    )


# -- rendering -------------------------------------------------------------------------------


def _signed_size(delta: int) -> str:
    return ("+" if delta > 0 else "-") + format_size(abs(delta))


def _percent(change: Change) -> str:
    percent = change.percent
    if percent is None:
        return "from 0 B"
    if abs(percent) < 0.05:  # would print as 0.0% although the peak moved
        return f"{'+' if percent > 0 else '-'}<0.1%"
    return f"{percent:+.1f}%"


def _peak_or_reason(entry: Entry) -> str:
    if entry.peak_bytes is None:
        return f"not measured ({entry.not_measured})"
    return format_size(entry.peak_bytes)


def _verdict(result: Comparison) -> str:
    count = len(result.regressions)
    if count:
        tests = "test" if count == 1 else "tests"
        return f"{count} {tests} grew past the allowed increase of {result.allowance}."
    return f"No test grew past the allowed increase of {result.allowance}."


def render_text(result: Comparison) -> str:
    """A plain-text report for a terminal or a CI log."""
    lines = [
        f"Peak memory per test: {result.base_path} -> {result.head_path} "
        f"({result.backend} backend)",
        "",
    ]
    if result.changed:
        rows = [("test", "old", "new", "change", "%", "")]
        rows += [
            (
                c.nodeid,
                format_size(c.old),
                format_size(c.new),
                _signed_size(c.delta),
                _percent(c),
                "over the allowance" if c.over_allowance else "",
            )
            for c in result.changed
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines.append(f"Changed peaks ({len(result.changed)}), largest growth first:")
        for row in rows:
            cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)]
            lines.append(("  " + "  ".join(cells) + "  " + row[5]).rstrip())
    else:
        lines.append("No peak changed.")
    if result.unchanged:
        lines.append(f"Unchanged peaks: {result.unchanged}")
    for title, entries in (("New tests", result.new), ("Removed tests", result.removed)):
        if entries:
            lines.append(f"{title} ({len(entries)}):")
            lines += [f"  {e.nodeid}  {_peak_or_reason(e)}" for e in entries]
    if result.not_measured:
        lines.append(f"Not measured, not compared ({len(result.not_measured)}):")
        lines += [f"  {u.nodeid}: {u.reason()}" for u in result.not_measured]
    lines += ["", _verdict(result)]
    return "\n".join(lines) + "\n"


def _md(text: str, in_table: bool = False) -> str:
    """``text`` as a Markdown code span; pipes escaped for a table cell."""
    if in_table:
        text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _md_text(text: str) -> str:
    """Plain ``text`` that is safe inside a Markdown table cell."""
    for char in "\\`*_[]<>|":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def _md_table(changes: list[Change]) -> list[str]:
    lines = ["| Test | Base | Head | Change | % |", "| --- | ---: | ---: | ---: | ---: |"]
    for c in changes:
        flag = " **over**" if c.over_allowance else ""
        lines.append(
            f"| {_md(c.nodeid, in_table=True)} | {format_size(c.old)} | {format_size(c.new)} "
            f"| {_signed_size(c.delta)}{flag} | {_percent(c)} |"
        )
    return lines


def render_markdown(result: Comparison) -> str:
    """GitHub-flavoured Markdown for a pull-request comment or ``$GITHUB_STEP_SUMMARY``."""
    lines = [
        "### Peak memory per test",
        "",
        f"{_md(result.base_path)} → {_md(result.head_path)}, {result.backend} backend, "
        f"allowed increase {result.allowance}.",
        "",
        f"**{_verdict(result)}**",
        "",
    ]
    regressions = result.regressions
    others = [c for c in result.changed if not c.over_allowance]
    if regressions:
        lines += [*_md_table(regressions), ""]
    if others:
        lines += [
            "<details>",
            f"<summary>{len(others)} {'other ' if regressions else ''}changed peaks, "
            "within the allowance</summary>",
            "",
            *_md_table(others),
            "",
            "</details>",
            "",
        ]
    if not result.changed:
        lines += ["No peak changed.", ""]
    for title, entries in (("New tests", result.new), ("Removed tests", result.removed)):
        if entries:
            lines += [f"{title} ({len(entries)}):", ""]
            lines += [f"- {_md(e.nodeid)}: {_md_text(_peak_or_reason(e))}" for e in entries]
            lines.append("")
    if result.not_measured:
        lines += [f"Not measured, not compared ({len(result.not_measured)}):", ""]
        lines += [f"- {_md(u.nodeid)}: {_md_text(u.reason())}" for u in result.not_measured]
        lines.append("")
    return "\n".join(lines)


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "nodeid": entry.nodeid,
        "peak_bytes": entry.peak_bytes,
        "not_measured": entry.not_measured,
    }


def render_json(result: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-ready object."""
    return {
        "base": result.base_path,
        "head": result.head_path,
        "backend": result.backend,
        "allowance": str(result.allowance),
        "grew_past_allowance": len(result.regressions),
        "changed": [
            {
                "nodeid": c.nodeid,
                "old_bytes": c.old,
                "new_bytes": c.new,
                "change_bytes": c.delta,
                "change_percent": c.percent,
                "over_allowance": c.over_allowance,
            }
            for c in result.changed
        ],
        "unchanged": result.unchanged,
        "new": [_entry_json(e) for e in result.new],
        "removed": [_entry_json(e) for e in result.removed],
        "not_measured": [
            {"nodeid": u.nodeid, "base": u.base, "head": u.head} for u in result.not_measured
        ],
    }
