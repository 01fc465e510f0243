"""The HTML report: one self-contained file (``--memray-html``, ``pytest-memray report``).

:func:`report_data` gathers what the page shows from documents already read: every test of
the run (peak, limit and headroom, allocations, outcome, the reason it was not measured, its
top allocation sites, an optional link to a flamegraph), the comparison with a baseline
(:mod:`..compare`), and the trend over earlier runs (:mod:`..history`). :func:`render_html`
puts that data, the page's script and style, and the vendored charting library (uPlot, see
``vendor/README.md``) into one HTML file that loads nothing from anywhere: its
Content-Security-Policy allows only its own inline scripts (by hash) and styles.

Every text from a document reaches the page as JSON inside a ``<script
type="application/json">`` element, with ``<``, ``>`` and ``&`` escaped, and the page's
script only ever puts it into the document as text (``textContent``), never as HTML. A
flamegraph link is kept only when it is a relative path or an ``http``, ``https`` or
``file`` URL.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from pytest_memray.gates.allowance import DEFAULT_ALLOWANCE, Allowance
from pytest_memray.gates.compare import Rules, compare_documents
from pytest_memray.gates.documents import REFERENCE_OUTCOMES, Document
from pytest_memray.gates.history import History
from pytest_memray.gates.history import render_json as history_json
from pytest_memray.gates.render import render_json as comparison_json

#: The vendored uPlot's version (``vendor/README.md``).
UPLOT_VERSION = "1.6.32"
#: How many of the heaviest tests the bar chart shows.
CHART_TESTS = 15
#: How many tests the trend chart draws (the table lists all).
TREND_TESTS = 8

_ASSETS = files("pytest_memray.gates.html")
_LINK_SCHEMES = frozenset({"", "http", "https", "file"})


def _asset(name: str) -> str:
    return _ASSETS.joinpath(name).read_text(encoding="utf-8")


def safe_link(url: object) -> str | None:
    """``url`` when it is a string with no scheme or an http, https or file one; else None."""
    if not isinstance(url, str) or not url.strip():
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in _LINK_SCHEMES else None


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _notes(raw: Mapping[str, Any]) -> list[str]:
    notes = raw.get("notes")
    if isinstance(notes, str):
        return [notes]
    if isinstance(notes, list):
        return [note if isinstance(note, str) else json.dumps(note) for note in notes]
    return []


def _sites(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    sites = []
    for site in raw.get("top_locations") or []:
        if not isinstance(site, dict):
            continue
        sites.append(
            {
                "function": str(site.get("function", "")),
                "file": str(site.get("file", "")),
                "line": _int_or_none(site.get("line")),
                "bytes": _int_or_none(site.get("bytes")),
                "count": _int_or_none(site.get("count")),
                "stack": [str(frame) for frame in site.get("stack", []) if frame]
                if isinstance(site.get("stack"), list)
                else [],
            }
        )
    return sites


_UNKNOWN_KIND = (
    "the document does not say whether this limit is limit_memory's or --memray-limit's (on "
    "the peak) or limit_leaks' (on what one call stack leaves behind), so no headroom is shown"
)


def _limit(limit: int | None, peak: int | None, kind: object) -> dict[str, Any]:
    """The limit, its kind, and the headroom (limit - peak) where the limit is on the peak.

    A document that says which marker set the limit (``limit_kind``: ``memory`` or ``leaks``)
    gets a headroom for peak limits; one that does not gets none: a headroom against a leak
    limit would be a number that means nothing.
    """
    known = kind if kind in ("memory", "leaks") else None
    headroom = None
    note = None
    if limit is not None:
        if known == "memory":
            headroom = None if peak is None else limit - peak
            note = "limit on the peak (limit_memory or --memray-limit)"
        elif known == "leaks":
            note = "limit_leaks: what one call stack may leave behind, not a limit on the peak"
        else:
            note = _UNKNOWN_KIND
    return {
        "limit": limit,
        "limit_kind": known,
        "limit_note": note,
        "headroom": headroom,
        "headroom_note": note if headroom is None and limit is not None else None,
    }


def _test(
    document: Document,
    nodeid: str,
    baseline: Document | None,
    links: Mapping[str, str],
) -> dict[str, Any]:
    entry = document.entries[nodeid]
    raw = entry.raw
    limit = _int_or_none(raw.get("limit_bytes"))
    peak = entry.peak_bytes
    base_peak: int | None = None
    base_reason: str | None = None
    if baseline is not None:
        old = baseline.entries.get(nodeid)
        if old is None:
            base_reason = "not in the baseline"
        else:
            base_peak, base_reason = old.reference_peak, old.no_reference
    return {
        "nodeid": nodeid,
        "outcome": entry.outcome,
        "peak": peak,
        "not_measured": entry.not_measured,
        "allocations": _int_or_none(raw.get("allocations")),
        **_limit(limit, peak, raw.get("limit_kind")),
        "reference": entry.outcome in REFERENCE_OUTCOMES,
        "baseline": base_peak,
        "baseline_reason": base_reason,
        "change": None if base_peak is None or peak is None else peak - base_peak,
        "notes": _notes(raw),
        "sites": _sites(raw),
        "capture_file": capture if isinstance(capture := raw.get("capture_file"), str) else None,
        "flamegraph": safe_link(links.get(nodeid, raw.get("flamegraph"))),
    }


def report_data(
    document: Document,
    *,
    baseline: Document | None = None,
    allowance: Allowance | None = None,
    history: History | None = None,
    links: Mapping[str, str] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """What the page shows, as a JSON-ready object.

    ``baseline`` (with ``allowance``) adds the comparison; ``history`` the trend; ``links``
    maps node ids to a flamegraph's URL (a document's own ``flamegraph`` key is used where
    ``links`` has none).

    Raises:
        DocumentError: when ``baseline`` was measured by another backend.
    """
    raw = document.raw
    backend = _object(raw.get("backend"))
    python = _object(raw.get("python"))
    comparison = None
    if baseline is not None:
        rules = Rules(allowance=allowance or DEFAULT_ALLOWANCE)
        result = compare_documents(baseline, document, rules)
        comparison = comparison_json(result)
    links = links or {}
    return {
        "title": title or f"Peak memory per test: {document.path}",
        "path": document.path,
        "plugin_version": str(raw.get("plugin_version", "")),
        "backend": {
            "name": document.backend,
            "version": str(backend.get("version", "")),
            "native_allocations": backend.get("native_allocations") is True,
            "fallback_reason": backend.get("fallback_reason")
            if isinstance(backend.get("fallback_reason"), str)
            else None,
        },
        "python": " ".join(
            str(python.get(key, "")) for key in ("implementation", "version", "platform")
        ).strip(),
        "tests": [_test(document, nodeid, baseline, links) for nodeid in document.entries],
        "comparison": comparison,
        "history": None if history is None else history_json(history),
        "chart_tests": CHART_TESTS,
        "trend_tests": TREND_TESTS,
    }


def json_for_script(data: object) -> str:
    """``data`` as JSON that cannot end its ``<script>`` element or open a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _script_hash(code: str) -> str:
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _inline_script(code: str) -> str:
    if "</script" in code.lower() or "<!--" in code:
        raise ValueError("an inline script may not contain '</script' or '<!--'")
    return code


def _inline_style(css: str) -> str:
    if "</style" in css.lower():
        raise ValueError("an inline style may not contain '</style'")
    return css


def render_html(data: Mapping[str, Any]) -> str:
    """The whole page for ``data`` (from :func:`report_data`)."""
    library = _inline_script(_asset("vendor/uPlot.iife.min.js"))
    page_script = _inline_script(_asset("report.js"))
    policy = (
        "default-src 'none'; "
        f"script-src {_script_hash(library)} {_script_hash(page_script)}; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )
    styles = _asset("vendor/uPlot.min.css") + "\n" + _asset("report.css")
    template = _asset("template.html")
    replacements = {
        "@POLICY@": html.escape(policy, quote=True),
        "@TITLE@": html.escape(str(data.get("title", "")), quote=True),
        "@STYLE@": _inline_style(styles),
        "@DATA@": json_for_script(data),
        "@LIBRARY@": library,
        "@SCRIPT@": page_script,
    }
    # One pass in a fixed order; the values are inserted last so that a marker inside a
    # value (a test id, the library) is never replaced again.
    pieces = []
    rest = template
    while True:
        at = min(
            ((rest.find(marker), marker) for marker in replacements if marker in rest),
            default=None,
        )
        if at is None:
            pieces.append(rest)
            break
        index, marker = at
        pieces.append(rest[:index])
        pieces.append(replacements[marker])
        rest = rest[index + len(marker) :]
    return "".join(pieces)
