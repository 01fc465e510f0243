"""Run the demo suite and keep its output for the documentation pages.

Every console listing, JSON document and XML file shown in the docs comes from here: nothing is
typed by hand. Each run goes through ``sys.executable -m pytest`` from the repository root, and
its output is written under ``docs/_generated/`` with machine-specific absolute paths (the
repository, site-packages, the standard library, temporary folders) replaced by short
placeholders such as ``<repo>``, and run times by ``<duration>``, so the pages read the same
wherever they are built.

The script also copies ``benchmarks/RESULTS.md`` for the "Measured costs" section (or writes a
placeholder when the benchmark has not been run), and checks that ``configuration.rst``
mentions every command-line option and ini key the plugin registers.

    python docs/make_examples.py
"""

from __future__ import annotations

import ast
import json
import os
import re
import site
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_memray.backends.builtin import memray_unavailable_reason
from pytest_memray.options import OPTIONS

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
OUT = DOCS / "_generated"
BENCHMARK_RESULTS = REPO / "benchmarks" / "RESULTS.md"
BACKENDS = REPO / "pytest_memray" / "backends"
#: The backend modules whose ``CAPABILITIES`` go into the table, in the table's column order.
BACKEND_MODULES = (("memray", "memray/backend.py"), ("tracemalloc", "tracemalloc/backend.py"))
#: Every run uses the same terminal width and no colours, so the listings are stable.
COLUMNS = "80"
RUN_TIMEOUT = 600

BAD_MARKER_SOURCE = """\
import pytest


@pytest.mark.limit_memory("24 XB")
def test_bad_size():
    pass


def test_neighbour():
    pass
"""


class Scrubber:
    """Replaces machine-specific paths and timings with placeholders."""

    def __init__(self, temp_dir: Path) -> None:
        candidates: list[tuple[str, str]] = [(str(temp_dir), "<tmp>")]
        for folder in _site_packages():
            candidates.append((folder, "<site-packages>"))
        paths = sysconfig.get_paths()
        for key in ("stdlib", "platstdlib"):
            if key in paths:
                candidates.append((paths[key], "<stdlib>"))
        candidates.append((str(REPO), "<repo>"))
        candidates.append((tempfile.gettempdir(), "<tmp>"))
        pairs: dict[str, str] = {}
        for path, placeholder in candidates:
            for variant in (path, os.path.realpath(path)):
                if len(variant) > 1:
                    pairs.setdefault(variant.rstrip(os.sep), placeholder)
        # Longest first: site-packages may live inside the repository (a .venv there).
        self._pairs = sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)

    def __call__(self, text: str) -> str:
        for path, placeholder in self._pairs:
            text = text.replace(path, placeholder)
        text = re.sub(r"\bin \d+\.\d+s\b( \(\d+:\d\d:\d\d\))?", "in <duration>", text)
        return text


def _site_packages() -> list[str]:
    folders = list(getattr(site, "getsitepackages", list)())
    user = getattr(site, "getusersitepackages", None)
    if user is not None:
        folders.append(user())
    paths = sysconfig.get_paths()
    folders += [paths[key] for key in ("purelib", "platlib") if key in paths]
    return folders


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTEST_ADDOPTS", "CI", "BUILD_NUMBER", "FORCE_COLOR"):
        env.pop(name, None)
    env.update(
        COLUMNS=COLUMNS,
        PY_COLORS="0",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONIOENCODING="utf-8",
        PYTHONUTF8="1",
    )
    return env


class Examples:
    """Runs pytest on the demo and writes what it printed under ``docs/_generated``."""

    def __init__(self, temp_dir: Path) -> None:
        self.temp_dir = temp_dir
        self.scrub = Scrubber(temp_dir)
        self.env = _environment()

    def pytest(self, args: Sequence[str], expect: int, cwd: Path = REPO) -> str:
        """Run pytest; return the command and its output, scrubbed. Stop on a surprise."""
        command = [sys.executable, "-m", "pytest", *args]
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=RUN_TIMEOUT,
            check=False,
        )
        if completed.returncode != expect:
            raise SystemExit(
                f"make_examples: `pytest {' '.join(args)}` exited {completed.returncode}, "
                f"expected {expect}; its output:\n{completed.stdout}"
            )
        shown = " ".join(_quote(arg) for arg in args)
        return self.scrub(f"$ python -m pytest {shown}\n{completed.stdout}")

    def write(self, name: str, text: str) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / name).write_text(text.rstrip("\n") + "\n", encoding="utf-8")
        print(f"make_examples: wrote docs/_generated/{name}")

    # -- the examples ------------------------------------------------------------------------

    def report(self) -> None:
        common = ["demo", "--memray", "-p", "no:cacheprovider"]
        self.write(
            "report-tracemalloc.txt",
            self.pytest([*common, "--memray-backend=tracemalloc"], expect=0),
        )
        reason = memray_unavailable_reason()
        if reason is None:
            text = self.pytest([*common, "--memray-backend=memray"], expect=0)
        else:
            text = f"(Not run: where these pages were built, {reason}.)"
        self.write("report-memray.txt", text)

    def failures(self) -> None:
        args = ["demo/over_limit.py", "-p", "no:cacheprovider"]
        self.write(
            "over-limit-tracemalloc.txt",
            self.pytest([*args, "--memray-backend=tracemalloc"], expect=1),
        )
        reason = memray_unavailable_reason()
        if reason is None:
            text = self.pytest([*args, "--memray-backend=memray"], expect=1)
        else:
            text = f"(Not run: where these pages were built, {reason}.)"
        self.write("over-limit-memray.txt", text)

    def json_outputs(self) -> None:
        report = self.temp_dir / "memray.json"
        benchmark = self.temp_dir / "benchmark.json"
        self.pytest(
            [
                "demo/test_demo.py::test_holds_ten_mebibytes",
                "demo/over_limit.py::test_goes_over_its_limit",
                "--memray",
                "--memray-backend=tracemalloc",
                "-p",
                "no:cacheprovider",
                f"--memray-json={report}",
                f"--memray-benchmark-json={benchmark}",
            ],
            expect=1,
        )
        for source, name in ((report, "report.json"), (benchmark, "benchmark.json")):
            document: Any = json.loads(source.read_text(encoding="utf-8"))
            self.write(name, self.scrub(json.dumps(document, indent=2, ensure_ascii=False)))

    def junit(self) -> None:
        target = self.temp_dir / "junit.xml"
        self.pytest(
            [
                "demo/over_limit.py",
                "demo/test_demo.py::test_trivial",
                "--memray",
                "--memray-backend=tracemalloc",
                "--hide-memray-summary",
                "-p",
                "no:cacheprovider",
                f"--junitxml={target}",
            ],
            expect=1,
        )
        tree = ET.parse(target)
        for element in tree.iter():
            for attribute, placeholder in (
                ("time", "<duration>"),
                ("timestamp", "<timestamp>"),
                ("hostname", "<hostname>"),
            ):
                if attribute in element.attrib:
                    element.set(attribute, placeholder)
        ET.indent(tree)
        self.write("junit.xml", self.scrub(ET.tostring(tree.getroot(), encoding="unicode")))

    def capture_files(self) -> None:
        folder = self.temp_dir / "captures"
        text = self.pytest(
            [
                "demo",
                "--memray",
                "--memray-backend=tracemalloc",
                "-p",
                "no:cacheprovider",
                "--most-allocations=1",
                f"--memray-bin-path={folder}",
                "--memray-bin-prefix=demo",
            ],
            expect=0,
        )
        listing = "\n".join(sorted(path.name for path in folder.iterdir()))
        self.write("capture-files.txt", text)
        self.write("capture-files-listing.txt", f"$ ls <tmp>/captures\n{listing}")

    def warnings_and_errors(self) -> None:
        self.write(
            "native-on-tracemalloc.txt",
            self.pytest(
                [
                    "demo/test_demo.py::test_trivial",
                    "--memray",
                    "--memray-backend=tracemalloc",
                    "--native",
                    "--hide-memray-summary",
                    "-p",
                    "no:cacheprovider",
                ],
                expect=0,
            ),
        )
        self.write(
            "bad-option.txt",
            self.pytest(["demo", "--memray", "--stacks=0", "-p", "no:cacheprovider"], expect=4),
        )
        folder = self.temp_dir / "bad-marker"
        folder.mkdir()
        (folder / "test_bad_marker.py").write_text(BAD_MARKER_SOURCE, encoding="utf-8")
        self.write("bad-marker-source.py", BAD_MARKER_SOURCE)
        self.write(
            "bad-marker.txt",
            self.pytest(
                ["test_bad_marker.py", "-p", "no:cacheprovider"],
                expect=1,
                cwd=folder,
            ),
        )

    def help_text(self) -> None:
        """The ``memray`` group of ``pytest --help``, and the plugin's ini keys."""
        text = self.pytest(["--help", "-p", "no:cacheprovider"], expect=0)
        lines = text.splitlines()
        start = lines.index("memray:")
        end = lines.index("", start)
        options = lines[start:end]
        ini_names = set(registered_names()[1])
        ini_lines: list[str] = []
        keep = False
        for line in lines:
            if line.startswith("  ") and not line.startswith("   "):
                keep = line.split()[0] in ini_names
            elif not line.startswith("  "):
                keep = False
            if keep:
                ini_lines.append(line)
        ini_header = next(line for line in lines if line.startswith("[pytest]"))
        self.write(
            "help.txt",
            "\n".join([lines[0], "...", *options, "...", ini_header, "...", *ini_lines, "..."]),
        )


def _quote(arg: str) -> str:
    return f'"{arg}"' if re.search(r"[\s\"'*?]", arg) else arg


def registered_names() -> tuple[list[str], list[str]]:
    """The plugin's command-line options and ini keys, from its table of options."""
    options = [option.flag for option in OPTIONS if option.flag is not None]
    ini = [option.ini for option in OPTIONS if option.ini is not None]
    return options, ini


def check_configuration_page() -> None:
    """Fail when configuration.rst forgets an option or an ini key the plugin has."""
    page = (DOCS / "configuration.rst").read_text(encoding="utf-8")
    options, ini = registered_names()
    missing = [name for name in options if f"``{name}" not in page]
    missing += [name for name in ini if f"``{name}``" not in page]
    if missing:
        raise SystemExit(
            "make_examples: docs/configuration.rst does not document " + ", ".join(missing)
        )


def benchmark_results(scrub: Scrubber) -> str:
    if BENCHMARK_RESULTS.is_file():
        return scrub(BENCHMARK_RESULTS.read_text(encoding="utf-8"))
    return textwrap.dedent(
        """\
        The benchmark has not been run where these pages were built:
        benchmarks/RESULTS.md does not exist yet. Run the benchmark script
        (python benchmarks/run.py, see benchmarks/) to produce it, then
        rebuild the documentation.
        """
    )


def _field_comments(source: str, class_name: str) -> dict[str, str]:
    """The ``#:`` comments above each field of ``class_name``, by field name."""
    comments: dict[str, str] = {}
    pending: list[str] = []
    inside = False
    for line in source.splitlines():
        if line.startswith(f"class {class_name}"):
            inside = True
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):
            break
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
        elif re.match(r"^\w+\s*:", stripped):
            comments[stripped.split(":")[0].strip()] = " ".join(pending)
            pending = []
        else:
            pending = []
    return comments


def _capabilities_of(path: Path) -> dict[str, object]:
    """The keyword arguments of ``CAPABILITIES = Capabilities(...)`` in a backend module.

    Read from the source, so the table can be built where memray is not installed.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "CAPABILITIES" for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            return {
                keyword.arg: ast.literal_eval(keyword.value)
                for keyword in node.value.keywords
                if keyword.arg is not None
            }
    raise SystemExit(f"make_examples: no CAPABILITIES = Capabilities(...) in {path}")


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"``{value}``"


def capabilities_table() -> str:
    """A list-table of every backend's Capabilities, with the field comments of the interface."""
    source = (BACKENDS / "interface.py").read_text(encoding="utf-8")
    comments = _field_comments(source, "Capabilities")
    columns = [(name, _capabilities_of(BACKENDS / module)) for name, module in BACKEND_MODULES]
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 50 25 25",
        "",
        "   * - Capability",
        *[f"     - {name}" for name, _ in columns],
    ]
    for field_name, comment in comments.items():
        defaults = re.search(rf"^    {field_name}: [^=\n]+= (.+)$", source, re.MULTILINE)
        default = ast.literal_eval(defaults.group(1)) if defaults else None
        lines.append(f"   * - ``{field_name}``: {comment or field_name}")
        for _, values in columns:
            lines.append(f"     - {_cell(values.get(field_name, default))}")
    return "\n".join(lines)


def main() -> None:
    check_configuration_page()
    with tempfile.TemporaryDirectory(prefix="pytest-memray-docs-") as raw:
        examples = Examples(Path(raw))
        examples.report()
        examples.failures()
        examples.json_outputs()
        examples.junit()
        examples.capture_files()
        examples.warnings_and_errors()
        examples.help_text()
        examples.write("benchmark-results.md", benchmark_results(examples.scrub))
        examples.write("capabilities.rst", capabilities_table())


if __name__ == "__main__":
    main()
