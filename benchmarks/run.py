#!/usr/bin/env python3
"""Benchmark: what measuring memory per test costs, vs plain pytest and published pytest-memray.

Runs generated test suites under several configurations, alternating between them within each
repeat, and reports medians of wall time, CPU time, peak RSS and temporary disk use, with
ratios against plain pytest and against the published pytest-memray (1.x from PyPI).

Our plugin and the published one never share a virtual environment: both register the
``memray`` pytest11 entry point. The script makes both environments itself under
``benchmarks/.work/`` (see ``benchmarks/README.md``). POSIX only (it reads each child's
resource usage with ``os.wait4``).

    python benchmarks/run.py [--suites a,b,c] [--repeats N] [--configs ...] [--markdown OUT.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    from . import peak_rss  # imported as part of the benchmarks package
except ImportError:
    import peak_rss  # type: ignore[no-redef,import-not-found]  # run as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
SUITES_DIR = WORK / "suites"
TMP_ROOT = WORK / "tmp"
#: Holds the peak-RSS plugin (see :mod:`peak_rss`), on the children's PYTHONPATH.
PLUGIN_DIR = WORK / "plugins"
LOGS = WORK / "logs"
VENV_OURS = WORK / "venv-ours"
VENV_PUBLISHED = WORK / "venv-published"
PUBLISHED_REQUIREMENT = "pytest-memray>=1,<2"
READY_MARKER = ".benchmark-ready"
INSTALLED_REVISION = ".installed-revision"
SAMPLE_INTERVAL = 0.05  # seconds between two looks at the size of a run's TMPDIR
MIB = 1024 * 1024

# --------------------------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    name: str
    #: Which environment runs it: "ours" or "published".
    venv: str
    args: tuple[str, ...]
    description: str


CONFIGS: dict[str, Config] = {
    config.name: config
    for config in (
        Config("plain", "ours", ("-p", "no:memray"), "pytest alone (plugin disabled)"),
        Config(
            "ours-memray",
            "ours",
            ("--memray", "--memray-backend=memray"),
            "our plugin, memray backend",
        ),
        Config(
            "ours-tracemalloc",
            "ours",
            ("--memray", "--memray-backend=tracemalloc"),
            "our plugin, tracemalloc backend",
        ),
        Config("published", "published", ("--memray",), "published pytest-memray 1.x"),
        Config(
            "plain-published",
            "published",
            ("-p", "no:memray"),
            "pytest alone in the published plugin's venv (sanity check)",
        ),
    )
}
DEFAULT_CONFIGS = ("plain", "ours-memray", "ours-tracemalloc", "published")
BASE_PYTEST_ARGS = ("-p", "no:cacheprovider", "-q", "-p", peak_rss.PLUGIN_NAME)

# --------------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------------

_SUITE_INI = "[pytest]\n# Own ini file, so that the repository's pytest settings do not apply.\n"


def _trivial_test(index: int) -> str:
    return f"def test_trivial_{index:03d}():\n    assert {index} + 1 == {index + 1}\n"


def _light_alloc_test(index: int) -> str:
    return textwrap.dedent(
        f"""\
        def test_alloc_{index:03d}():
            numbers = [n * {index % 7 + 1} for n in range(2000)]
            words = {{str(n): n for n in range(200)}}
            blob = bytes({16 + index % 5 * 16} * 1024)
            assert len(numbers) + len(words) + len(blob) > 0
        """
    )


def _suite_a() -> dict[str, str]:
    """600 tests: 500 trivial, 100 allocating a little; 10 files of 60."""
    files: dict[str, str] = {}
    trivial = 0
    alloc = 0
    for file_index in range(10):
        parts = ['"""Generated: mostly trivial tests."""\n']
        for _ in range(50):
            parts.append(_trivial_test(trivial))
            trivial += 1
        for _ in range(10):
            parts.append(_light_alloc_test(alloc))
            alloc += 1
        files[f"test_a_{file_index:02d}.py"] = "\n\n".join(parts)
    return files


def _small_objects_test(index: int) -> str:
    count = 20_000 + (index % 4) * 5_000
    return textwrap.dedent(
        f"""\
        class Point{index}:
            __slots__ = ("x", "y")

            def __init__(self, x, y):
                self.x = x
                self.y = y


        def test_small_objects_{index:03d}():
            records = [{{"id": n, "name": "item-" + str(n)}} for n in range({count})]
            points = [Point{index}(n, n + 1) for n in range({count // 2})]
            pairs = [(n, n * 2) for n in range({count // 2})]
            assert len(records) + len(points) + len(pairs) == {count * 2}
        """
    )


def _large_buffer_test(index: int) -> str:
    megabytes = 8 + (index % 4) * 8
    return textwrap.dedent(
        f"""\
        def test_large_buffer_{index:03d}():
            buffer = bytearray({megabytes} * 1024 * 1024)
            buffer[::4096] = b"x" * len(buffer[::4096])
            joined = b"".join([bytes(buffer[:1024 * 1024])] * 4)
            numbers = list(range(100_000))
            assert len(buffer) + len(joined) + len(numbers) > 0
        """
    )


def _numpy_test(index: int) -> str:
    size = 256 + (index % 4) * 128
    return textwrap.dedent(
        f"""\
        def test_numpy_{index:03d}():
            rng = np.random.default_rng({index})
            matrix = rng.random(({size}, {size}))
            product = matrix @ matrix.T
            ordered = np.sort(rng.random(200_000))
            total = np.cumsum(np.ones(1_000_000))
            assert product.shape == ({size}, {size})
            assert ordered[0] <= ordered[-1] and total[-1] == 1_000_000
        """
    )


def _suite_b() -> dict[str, str]:
    """200 allocation-heavy tests: 80 small-object, 60 large-buffer, 60 numpy."""
    header = '"""Generated: allocation-heavy tests."""\n\nimport numpy as np\n'
    kinds = (
        ("small_objects", _small_objects_test, 80),
        ("large_buffers", _large_buffer_test, 60),
        ("numpy", _numpy_test, 60),
    )
    files: dict[str, str] = {}
    for kind, make, count in kinds:
        per_file = 20
        for file_index in range(count // per_file):
            parts = [header]
            for offset in range(per_file):
                parts.append(make(file_index * per_file + offset))
            files[f"test_b_{kind}_{file_index:02d}.py"] = "\n\n".join(parts)
    return files


_EXTENSION_IMPORTS = textwrap.dedent(
    """\
    import bz2
    import ctypes
    import decimal
    import hashlib
    import json
    import lzma
    import sqlite3
    import ssl
    import unicodedata
    import xml.etree.ElementTree as ET
    import zlib

    import numpy as np
    import numpy.fft
    import numpy.linalg
    """
)

_LIGHT_BODIES = (
    "assert zlib.crc32(b'{i}') == zlib.crc32(b'{i}')",
    "assert hashlib.sha256(b'{i}').hexdigest() != ''",
    "assert decimal.Decimal('{i}.5') + 1 > {i}",
    "assert json.loads(json.dumps({{'n': {i}}}))['n'] == {i}",
    "assert ET.fromstring('<a n=\"{i}\"/>').get('n') == '{i}'",
    "assert ctypes.c_int({i}).value == {i}",
    "assert np.arange({i} % 10 + 1).sum() >= 0",
    "assert unicodedata.category('a') == 'Ll' and {i} >= 0",
    "assert ssl.PROTOCOL_TLS_CLIENT is not None and {i} >= 0",
    "assert sqlite3.sqlite_version and {i} >= 0",
)


def _suite_c() -> dict[str, str]:
    """300 light tests in modules that import many extension modules; 6 files of 50."""
    files: dict[str, str] = {}
    index = 0
    for file_index in range(6):
        parts = ['"""Generated: light tests with many extension modules loaded."""\n']
        parts.append(_EXTENSION_IMPORTS)
        for _ in range(50):
            body = _LIGHT_BODIES[index % len(_LIGHT_BODIES)].format(i=index)
            parts.append(f"def test_light_{index:03d}():\n    {body}\n")
            index += 1
        files[f"test_c_{file_index:02d}.py"] = "\n\n".join(parts)
    return files


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tests: int
    files: dict[str, str] = field(repr=False)


def _all_suites() -> dict[str, Suite]:
    return {
        "a": Suite("a", "600 tests: 500 trivial, 100 allocating a little", 600, _suite_a()),
        "b": Suite(
            "b",
            "200 allocation-heavy tests: small objects, large buffers, numpy",
            200,
            _suite_b(),
        ),
        "c": Suite(
            "c",
            "300 light tests, numpy and 12 stdlib extension modules imported",
            300,
            _suite_c(),
        ),
    }


def write_suite(suite: Suite) -> Path:
    """Write the suite's files, touching only those that changed (keeps pytest's pyc cache)."""
    root = SUITES_DIR / suite.name
    root.mkdir(parents=True, exist_ok=True)
    wanted = dict(suite.files)
    wanted["pytest.ini"] = _SUITE_INI
    for name, text in wanted.items():
        path = root / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for path in root.glob("test_*.py"):
        if path.name not in wanted:
            path.unlink()
    return root


# --------------------------------------------------------------------------------------------
# Environments
# --------------------------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run_checked(command: Sequence[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def _pip(venv: Path, *args: str) -> None:
    _run_checked([str(venv_python(venv)), "-m", "pip", "install", "--quiet", *args])


def _create_venv(venv: Path, base_python: str) -> None:
    if not venv_python(venv).exists():
        _run_checked([base_python, "-m", "venv", str(venv)])


def installed_versions(venv: Path) -> dict[str, str | None]:
    code = textwrap.dedent(
        """\
        import json, platform
        from importlib import metadata

        def version(name):
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                return None

        info = {name: version(name) for name in ("pytest", "memray", "numpy", "pytest-memray")}
        info["python"] = platform.python_version()
        info["implementation"] = platform.python_implementation()
        print(json.dumps(info))
        """
    )
    output = subprocess.run(
        [str(venv_python(venv)), "-c", code], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, str | None] = json.loads(output)
    return result


def prepare_ours(base_python: str, reinstall: bool) -> None:
    """Our plugin (a regular, non-editable install of this repository) with numpy."""
    fresh = not venv_python(VENV_OURS).exists()
    _create_venv(VENV_OURS, base_python)
    marker = VENV_OURS / READY_MARKER
    revision = _git_revision()
    if fresh or not marker.exists():
        _pip(VENV_OURS, str(REPO), "numpy")
        marker.write_text("ok\n")
    elif reinstall:
        # Pick up the repository as it is now; the dependencies stay as they were.
        _pip(VENV_OURS, "--force-reinstall", "--no-deps", str(REPO))
    else:
        return
    (VENV_OURS / INSTALLED_REVISION).write_text(revision + "\n")


def installed_revision() -> str:
    """The repository's revision when our plugin was last installed into its venv."""
    try:
        return (VENV_OURS / INSTALLED_REVISION).read_text().strip()
    except OSError:
        return "unknown"


def prepare_published(base_python: str, ours: dict[str, str | None]) -> None:
    """The published plugin, with the same pytest, memray and numpy as ours where possible."""
    _create_venv(VENV_PUBLISHED, base_python)
    pins = [f"{name}=={ours[name]}" for name in ("pytest", "memray", "numpy") if ours.get(name)]
    wanted = " ".join([PUBLISHED_REQUIREMENT, *pins])
    marker = VENV_PUBLISHED / READY_MARKER
    if marker.exists() and marker.read_text().strip() == wanted:
        return
    try:
        _pip(VENV_PUBLISHED, PUBLISHED_REQUIREMENT, *pins)
    except subprocess.CalledProcessError:
        print("warning: could not match our versions; installing the latest ones", flush=True)
        _pip(VENV_PUBLISHED, PUBLISHED_REQUIREMENT, "pytest", "numpy")
    marker.write_text(wanted + "\n")


# --------------------------------------------------------------------------------------------
# Measuring one run
# --------------------------------------------------------------------------------------------


def tree_size(root: Path) -> int:
    """Apparent size in bytes of all files under ``root``; files may vanish while we look."""
    total = 0
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


class DiskSampler(threading.Thread):
    """Keeps the largest size seen of a directory tree, looking every ``interval`` seconds."""

    def __init__(self, root: Path, interval: float = SAMPLE_INTERVAL) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.maximum = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.maximum = max(self.maximum, tree_size(self.root))
            self._stop_event.wait(self.interval)

    def finish(self) -> int:
        """Stop looking; returns the size now (what the run left behind)."""
        self._stop_event.set()
        self.join()
        left = tree_size(self.root)
        self.maximum = max(self.maximum, left)
        return left


@dataclass
class Sample:
    suite: str
    config: str
    repeat: int
    wall: float
    cpu_user: float
    cpu_sys: float
    max_rss: int
    tmp_peak: int
    tmp_left: int
    exit_code: int

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys


def child_environment(tmpdir: Path, peak_rss_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode caching on, as most users have it: pytest then caches its rewritten test modules.
    for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTEST_ADDOPTS", "PYTHONHOME"):
        env.pop(name, None)
    # VIRTUAL_ENV of the calling shell must not leak into the children.
    env.pop("VIRTUAL_ENV", None)
    env["TMPDIR"] = str(tmpdir)
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)  # both plugins load by entry point
    env["PYTHONPATH"] = str(PLUGIN_DIR)  # only the peak-RSS plugin is there
    env[peak_rss.FILE_VARIABLE] = str(peak_rss_file)
    return env


def run_once(suite: Suite, suite_dir: Path, config: Config, repeat: int) -> Sample:
    venv = VENV_OURS if config.venv == "ours" else VENV_PUBLISHED
    tmpdir = TMP_ROOT / f"{suite.name}-{config.name}"
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir(parents=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{suite.name}-{config.name}.log"
    command = [str(venv_python(venv)), "-m", "pytest", *BASE_PYTEST_ARGS, *config.args]
    peak_file = TMP_ROOT / f"{suite.name}-{config.name}.peak_rss"
    peak_file.unlink(missing_ok=True)
    sampler = DiskSampler(tmpdir)
    sampler.start()
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=suite_dir,
            env=child_environment(tmpdir, peak_file),
            stdout=out,
            stderr=out,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    exit_code = os.waitstatus_to_exitcode(status)
    process.returncode = exit_code  # already reaped: keep Popen from waiting again
    left = sampler.finish()
    shutil.rmtree(tmpdir, ignore_errors=True)
    max_rss = peak_rss.peak_rss_bytes(peak_file, usage.ru_maxrss)
    peak_file.unlink(missing_ok=True)
    return Sample(
        suite=suite.name,
        config=config.name,
        repeat=repeat,
        wall=wall,
        cpu_user=usage.ru_utime,
        cpu_sys=usage.ru_stime,
        max_rss=max_rss,
        tmp_peak=sampler.maximum,
        tmp_left=left,
        exit_code=exit_code,
    )


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


@dataclass
class Summary:
    suite: str
    config: str
    runs: int
    wall: float
    wall_min: float
    wall_max: float
    cpu: float
    max_rss: float
    tmp_peak: float
    tmp_left: float
    failed_runs: int


def summarise(samples: Sequence[Sample]) -> Summary:
    first = samples[0]
    walls = [s.wall for s in samples]
    return Summary(
        suite=first.suite,
        config=first.config,
        runs=len(samples),
        wall=statistics.median(walls),
        wall_min=min(walls),
        wall_max=max(walls),
        cpu=statistics.median(s.cpu for s in samples),
        max_rss=statistics.median(s.max_rss for s in samples),
        tmp_peak=statistics.median(s.tmp_peak for s in samples),
        tmp_left=statistics.median(s.tmp_left for s in samples),
        failed_runs=sum(1 for s in samples if s.exit_code != 0),
    )


def _ratio(value: float, reference: float | None) -> str:
    if reference is None or reference <= 0:
        return "–"
    return f"{value / reference:.2f}×"


def _size(value: float) -> str:
    if value == 0:
        return "0"
    if value < MIB:
        return f"{value / 1024:.0f} KiB"
    return f"{value / MIB:.1f} MiB"


TABLE_HEADER = (
    "config",
    "wall s (median)",
    "wall min–max",
    "× plain",
    "× published",
    "ms/test over plain",
    "CPU s",
    "CPU × plain",
    "peak RSS MiB",
    "TMPDIR peak",
    "TMPDIR left",
)


def table_rows(summaries: Sequence[Summary], tests: int) -> list[tuple[str, ...]]:
    by_config = {s.config: s for s in summaries}
    plain = by_config.get("plain")
    published = by_config.get("published")
    rows: list[tuple[str, ...]] = []
    for s in summaries:
        overhead = "–" if plain is None else f"{(s.wall - plain.wall) / tests * 1000:.2f}"
        name = s.config if s.failed_runs == 0 else f"{s.config} ({s.failed_runs} runs failed!)"
        rows.append(
            (
                name,
                f"{s.wall:.2f}",
                f"{s.wall_min:.2f}–{s.wall_max:.2f}",
                _ratio(s.wall, plain.wall if plain else None),
                _ratio(s.wall, published.wall if published else None),
                overhead,
                f"{s.cpu:.2f}",
                _ratio(s.cpu, plain.cpu if plain else None),
                f"{s.max_rss / MIB:.0f}",
                _size(s.tmp_peak),
                _size(s.tmp_left),
            )
        )
    return rows


def render_text(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))]
    lines = []
    for row in [TABLE_HEADER, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)))
        if row is TABLE_HEADER:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_markdown(rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |"]
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(TABLE_HEADER) - 1)) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine()


def _git_revision() -> str:
    try:
        revision = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # Only what goes into the installed package counts.
            [
                "git",
                "-C",
                str(REPO),
                "status",
                "--porcelain",
                "--",
                "pytest_memray",
                "pyproject.toml",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return revision + (" (with uncommitted changes to the package)" if dirty else "")


def machine_lines(
    ours: dict[str, str | None], published: dict[str, str | None] | None
) -> list[str]:
    lines = [
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores, "
        f"{platform.system()} {platform.release()} ({platform.machine()})",
        f"- Python: {ours.get('python')} ({ours.get('implementation')})",
        f"- pytest: {ours.get('pytest')}; memray: {ours.get('memray')}; numpy: {ours.get('numpy')}",
        f"- Our plugin: pytest-memray {ours.get('pytest-memray')} at {installed_revision()}",
    ]
    if published is not None:
        lines.append(
            f"- Published plugin: pytest-memray {published.get('pytest-memray')} "
            f"(its venv: pytest {published.get('pytest')}, memray {published.get('memray')}, "
            f"numpy {published.get('numpy')})"
        )
    return lines


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _names(raw: str, known: Sequence[str], what: str) -> list[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        shown = ", ".join(unknown) or repr(raw)
        raise SystemExit(f"unknown {what}: {shown}; known: {', '.join(known)}")
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--suites", default="a,b,c", help="comma-separated: a, b, c")
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per cell")
    parser.add_argument(
        "--configs",
        default=",".join(DEFAULT_CONFIGS),
        help=f"comma-separated, from: {', '.join(CONFIGS)}",
    )
    parser.add_argument(
        "--exclude",
        default="",
        help="comma-separated SUITE:CONFIG cells to skip, e.g. b:ours-tracemalloc",
    )
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs per cell first")
    parser.add_argument("--markdown", type=Path, help="also write the results as Markdown here")
    parser.add_argument("--json", type=Path, help="also write every sample as JSON here")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter the venvs are made from"
    )
    parser.add_argument(
        "--no-reinstall",
        action="store_true",
        help="do not reinstall our plugin from the repository into its venv",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not hasattr(os, "wait4"):
        raise SystemExit("this benchmark needs os.wait4 (Linux or macOS)")
    all_suites = _all_suites()
    suites = [all_suites[name] for name in _names(args.suites, list(all_suites), "suite")]
    configs = [CONFIGS[name] for name in _names(args.configs, list(CONFIGS), "config")]
    excluded = {cell.strip() for cell in args.exclude.split(",") if cell.strip()}
    began = time.perf_counter()

    prepare_ours(args.python, reinstall=not args.no_reinstall)
    ours_versions = installed_versions(VENV_OURS)
    published_versions: dict[str, str | None] | None = None
    if any(config.venv == "published" for config in configs):
        prepare_published(args.python, ours_versions)
        published_versions = installed_versions(VENV_PUBLISHED)
    suite_dirs = {suite.name: write_suite(suite) for suite in suites}
    peak_rss.write_plugin(PLUGIN_DIR)
    load_before = os.getloadavg()

    def rotated(suite: Suite, repeat: int) -> list[Config]:
        shift = repeat % len(configs)
        order = configs[shift:] + configs[:shift]
        return [config for config in order if f"{suite.name}:{config.name}" not in excluded]

    for warm in range(args.warmup):
        for suite in suites:
            for config in rotated(suite, warm):
                sample = run_once(suite, suite_dirs[suite.name], config, -1)
                print(f"warm-up {suite.name} {config.name}: {sample.wall:.2f} s", flush=True)

    samples: list[Sample] = []
    for repeat in range(args.repeats):
        for suite in suites:
            for config in rotated(suite, repeat):
                sample = run_once(suite, suite_dirs[suite.name], config, repeat)
                samples.append(sample)
                flag = "" if sample.exit_code == 0 else f"  EXIT {sample.exit_code}, see logs"
                print(
                    f"repeat {repeat + 1}/{args.repeats} suite {suite.name} {config.name:17s}"
                    f" wall {sample.wall:6.2f} s  cpu {sample.cpu:6.2f} s"
                    f"  rss {sample.max_rss / MIB:5.0f} MiB  tmp {_size(sample.tmp_peak)}{flag}",
                    flush=True,
                )
    load_after = os.getloadavg()
    elapsed = time.perf_counter() - began

    text_parts: list[str] = []
    markdown_parts = ["# Benchmark results", "", *machine_lines(ours_versions, published_versions)]
    markdown_parts.append(
        f"- Command: `python benchmarks/run.py --suites {args.suites} --repeats {args.repeats}"
        f" --configs {args.configs}"
        + (f" --exclude {args.exclude}" if excluded else "")
        + f"`; {args.warmup} warm-up run(s) per cell"
    )
    markdown_parts.append(
        f"- Load average (1 min) before: {load_before[0]:.2f}, after: {load_after[0]:.2f}; "
        f"whole benchmark took {elapsed / 60:.1f} min"
    )
    for suite in suites:
        cells = [
            [s for s in samples if s.suite == suite.name and s.config == config.name]
            for config in configs
        ]
        summaries = [summarise(cell) for cell in cells if cell]
        rows = table_rows(summaries, suite.tests)
        title = f"Suite {suite.name}: {suite.description}"
        text_parts.append(f"\n{title}\n{render_text(rows)}")
        markdown_parts.extend(["", f"## {title}", "", render_markdown(rows)])
    print("\n".join(machine_lines(ours_versions, published_versions)))
    print(f"- load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("\n".join(text_parts))
    print(f"\nwhole benchmark: {elapsed / 60:.1f} min ({args.repeats} repeats)")
    if args.markdown is not None:
        args.markdown.write_text("\n".join(markdown_parts) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(s) for s in samples], indent=1) + "\n")
    failed = [s for s in samples if s.exit_code != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
