"""The command line of the gates (``python -m pytest_memray``): ``compare`` and ``merge``.

Exit status, for both commands:

* 0: ``compare`` compared every test it had to and none grew past the allowance; ``merge``
  wrote a complete document;
* 1: ``compare`` found a test that grew past the allowance. Nothing else gives 1;
* 2: could not judge, or bad input: a missing, malformed or too large file, documents of
  different backends, a document that lacks a shard, too few tests compared, gone tests with
  ``--fail-gone``, a bad option, an output that is one of the inputs. One line on standard
  error says why (``compare`` still prints its tables first).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pytest_memray.files import same_file, stream_fd, write_text
from pytest_memray.gates import DEFAULT_MAX_INCREASE, DEFAULT_MIN_COMPARED, DEFAULT_NOISE_FLOOR
from pytest_memray.gates.allowance import allowance_or_default
from pytest_memray.gates.commands import add_commands
from pytest_memray.gates.compare import (
    DEFAULT_MAX_ROWS,
    Rules,
    compare_documents,
    parse_min_compared,
)
from pytest_memray.gates.documents import DocumentError, load_document
from pytest_memray.gates.format import document_text
from pytest_memray.gates.merge import merge_documents
from pytest_memray.gates.render import render_json, render_markdown, render_text

PROG = "python -m pytest_memray"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _escaped(text: str) -> str:
    return text.replace("%", "%%")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Compare, merge, export and chart pytest-memray JSON reports (--memray-json).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    compare = commands.add_parser(
        "compare",
        help="compare the peaks of two reports",
        description="List the tests whose peak grew or shrank by more than the noise floor "
        "between two reports, largest change first, and the new, gone and not compared ones. "
        "Exit status 1 when a test grew past the allowed increase; 2 when the comparison "
        "could not judge (too few tests compared, a document lacking a shard, gone tests "
        "with --fail-gone) or on bad input.",
    )
    compare.add_argument("base", metavar="BASE.json", help="the report to compare against")
    compare.add_argument("head", metavar="HEAD.json", help="the report of the change")
    compare.add_argument(
        "--max-increase",
        metavar="VALUE",
        default=None,
        help="allowed growth per test: '10%%', '512 KB' or '10%% + 64 KB' "
        f"(default, and when empty: '{_escaped(DEFAULT_MAX_INCREASE)}')",
    )
    compare.add_argument(
        "--noise-floor",
        metavar="VALUE",
        default=None,
        help="changes up to this much either way count as unchanged and are not listed: "
        f"'1 MB', '5%%' or '1 MB + 5%%' (default: '{_escaped(DEFAULT_NOISE_FLOOR)}'; '0%%' "
        "lists every change)",
    )
    compare.add_argument(
        "--min-compared",
        metavar="N",
        default=None,
        help="exit 2 unless at least N tests (or N%% of the head's measured tests) were "
        f"compared (default: {DEFAULT_MIN_COMPARED}: a comparison of nothing never passes)",
    )
    compare.add_argument(
        "--fail-gone",
        action="store_true",
        help="exit 2 when tests of the base are missing from the head",
    )
    compare.add_argument(
        "--format", choices=["text", "markdown", "json"], default="text", help="output format"
    )
    compare.add_argument(
        "--max-rows",
        metavar="N",
        type=_count,
        default=DEFAULT_MAX_ROWS,
        help=f"rows per table in text and Markdown, the rest counted (default {DEFAULT_MAX_ROWS})",
    )
    merge = commands.add_parser(
        "merge",
        help="merge the reports of several shards into one",
        description="Write one report holding the tests of every input, to OUT.json or to "
        "standard output. The inputs must share the backend. The output records the shards it "
        "was merged from; with --expect, compare and --memray-baseline refuse it unless "
        "every shard is there.",
    )
    merge.add_argument("inputs", metavar="IN.json", nargs="+", help="the shards' reports")
    merge.add_argument(
        "-o",
        "--output",
        metavar="OUT.json",
        default=None,
        help="the merged report to write (never one of the inputs); default: standard output",
    )
    merge.add_argument(
        "--expect",
        metavar="N",
        type=_count,
        default=None,
        help="the suite is split into N shards: a merge of fewer (or more) is marked "
        "incomplete, and exits 2",
    )
    merge.add_argument(
        "--prefer-last",
        action="store_true",
        help="when a test is in several inputs, keep the entry of the last one",
    )
    parser.set_defaults(handlers=add_commands(commands))
    return parser


def _rules(args: argparse.Namespace) -> Rules:
    return Rules(
        allowance=allowance_or_default(args.max_increase, DEFAULT_MAX_INCREASE),
        noise_floor=allowance_or_default(args.noise_floor, DEFAULT_NOISE_FLOOR, "noise floor"),
        min_compared=parse_min_compared(args.min_compared),
        fail_gone=args.fail_gone,
    )


def _compare(args: argparse.Namespace) -> int:
    rules = _rules(args)
    base = load_document(args.base)
    head = load_document(args.head)
    result = compare_documents(base, head, rules)
    if args.format == "json":
        sys.stdout.write(json.dumps(render_json(result), indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(result, args.max_rows))
    else:
        sys.stdout.write(render_text(result, args.max_rows))
    sys.stdout.flush()
    if result.problems:
        _error(args.command, f"could not judge: {result.problem_line()}")
    return result.status


def _merge(args: argparse.Namespace) -> int:
    output: str | None = None if args.output in (None, "-") else args.output
    if output is not None and stream_fd(output) is None:
        for name in args.inputs:
            if same_file(output, name):
                raise ValueError(
                    f"the output {output} is the input {name}: merge never overwrites its "
                    "input; name another file with -o, or leave -o out for standard output"
                )
    documents = [load_document(path) for path in args.inputs]
    merged = merge_documents(documents, prefer_last=args.prefer_last, expected=args.expect)
    for note in merged.notes:
        print(f"{PROG} merge: {note}", file=sys.stderr)
    text = document_text(merged.document)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            write_text(Path(output), text)
        except OSError as exc:
            raise ValueError(f"{output}: cannot be written: {exc.strerror or exc}") from None
    if merged.incomplete is not None:
        _error(
            args.command,
            f"the merged document is {merged.incomplete} (written, marked so: compare and "
            "--memray-baseline refuse it)",
        )
        return 2
    return 0


def _error(command: str, message: str) -> None:
    print(f"{PROG} {command}: error: {' '.join(message.splitlines())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in args.handlers:
            return int(args.handlers[args.command](args))
        return _compare(args) if args.command == "compare" else _merge(args)
    except (ValueError, DocumentError) as exc:
        _error(args.command, str(exc))
    except (RecursionError, MemoryError) as exc:
        _error(args.command, f"the input is too large or too deeply nested ({type(exc).__name__})")
    except OSError as exc:  # standard output closed or full, say
        _error(args.command, f"{exc.strerror or exc}")
    except Exception as exc:  # a bug: still exit 2, since 1 means that a test grew
        _error(args.command, f"internal error, please report it: {type(exc).__name__}: {exc}")
    return 2
