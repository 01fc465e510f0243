"""The command line of the gates (``python -m pytest_memray``): ``compare`` and ``merge``.

Exit status: 0 when all is well, 1 when ``compare`` finds a test that grew past the allowance,
2 on bad input (a bad file, mixed backends or versions, a bad allowance, a duplicate test), with
one line on standard error saying what is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_memray.files import write_text
from pytest_memray.gates import DEFAULT_MAX_INCREASE
from pytest_memray.gates.allowance import parse_allowance
from pytest_memray.gates.commands import add_commands
from pytest_memray.gates.compare import compare_documents, render_json, render_markdown, render_text
from pytest_memray.gates.documents import load_document
from pytest_memray.gates.format import document_text
from pytest_memray.gates.merge import merge_documents

PROG = "python -m pytest_memray"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Compare, merge, export and chart pytest-memray JSON reports (--memray-json).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser(
        "compare",
        help="compare the peaks of two reports",
        description="List the tests whose peak changed between two reports, largest growth "
        "first, and the new, removed and not measured ones. Exit status 1 when a test grew "
        "past the allowed increase.",
    )
    compare.add_argument("base", metavar="BASE.json", help="the report to compare against")
    compare.add_argument("head", metavar="HEAD.json", help="the report of the change")
    compare.add_argument(
        "--max-increase",
        metavar="VALUE",
        default=DEFAULT_MAX_INCREASE,
        help="allowed growth per test: '10%%', '512 KB' or '10%% + 64 KB' "
        f"(default: '{DEFAULT_MAX_INCREASE.replace('%', '%%')}')",
    )
    compare.add_argument(
        "--format", choices=["text", "markdown", "json"], default="text", help="output format"
    )
    merge = commands.add_parser(
        "merge",
        help="merge the reports of several shards into one",
        description="Write one report holding the tests of every input. The inputs must "
        "share the backend and the schema version.",
    )
    merge.add_argument("output", metavar="OUT.json", help="the merged report to write")
    merge.add_argument("inputs", metavar="IN.json", nargs="+", help="the shards' reports")
    merge.add_argument(
        "--prefer-last",
        action="store_true",
        help="when a test is in several inputs, keep the entry of the last one",
    )
    parser.set_defaults(handlers=add_commands(commands))
    return parser


def _compare(args: argparse.Namespace) -> int:
    allowance = parse_allowance(args.max_increase)
    base = load_document(args.base)
    head = load_document(args.head)
    result = compare_documents(base, head, allowance)
    if args.format == "json":
        sys.stdout.write(json.dumps(render_json(result), indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(result))
    else:
        sys.stdout.write(render_text(result))
    return 1 if result.regressions else 0


def _merge(args: argparse.Namespace) -> int:
    documents = [load_document(path) for path in args.inputs]
    merged = merge_documents(documents, prefer_last=args.prefer_last)
    for note in merged.notes:
        print(f"{PROG} merge: {note}", file=sys.stderr)
    output = Path(args.output)
    try:
        write_text(output, document_text(merged.document))
    except OSError as exc:
        raise ValueError(f"{output}: cannot be written: {exc.strerror or exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in args.handlers:
            return int(args.handlers[args.command](args))
        return _compare(args) if args.command == "compare" else _merge(args)
    except ValueError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
