#!/usr/bin/env python3
"""How the plugin's own memory grows with the number of tests.

Runs a generated suite of 1,000 and of 5,000 small tests (each builds a short list) without
the plugin and with ``--memray`` on each backend, and prints the growth of peak RSS per 1,000
tests: (RSS at 5,000 - RSS at 1,000) / 4. The plugin's target is at most 1 MiB per 1,000 tests
over plain pytest. Runs are repeated and the median is kept.

    python benchmarks/rss_growth.py [--python PYTHON] [--repeats N]

``--python`` must have this project installed (``benchmarks/run.py`` makes such a venv in
``benchmarks/.work/venv-ours``). POSIX only: it reads peak RSS with ``os.wait4``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

try:
    from . import peak_rss  # imported as part of the benchmarks package
except ImportError:
    import peak_rss  # type: ignore[no-redef,import-not-found]  # run as a script

HERE = Path(__file__).resolve().parent
SUITE = HERE / ".work" / "suites" / "rss"
#: Holds the peak-RSS plugin (see :mod:`peak_rss`), on the children's PYTHONPATH.
PLUGIN_DIR = HERE / ".work" / "plugins"
FILES = 50
TESTS_PER_FILE = 100
CONFIGS = {
    "plain": ("-p", "no:memray"),
    "ours-memray": ("--memray", "--memray-backend=memray"),
    "ours-tracemalloc": ("--memray", "--memray-backend=tracemalloc"),
}


def write_suite() -> list[Path]:
    SUITE.mkdir(parents=True, exist_ok=True)
    (SUITE / "pytest.ini").write_text("[pytest]\n")
    files = []
    for number in range(FILES):
        path = SUITE / f"test_rss_{number:02d}.py"
        body = "".join(
            f"def test_{i}():\n    values = [{i}] * 10\n    assert values\n\n"
            for i in range(TESTS_PER_FILE)
        )
        if not path.exists() or path.read_text() != body:
            path.write_text(body)
        files.append(path)
    return files


def peak_rss_mib(python: str, args: Sequence[str], files: Sequence[Path]) -> float:
    """Peak RSS of one pytest run, in MiB."""
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", peak_rss.PLUGIN_NAME, *args, *(str(path) for path in files)]
    peak_file = SUITE / ".peak_rss"
    peak_file.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
    env[peak_rss.FILE_VARIABLE] = str(peak_file)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.chdir(SUITE)
        os.execve(python, command, env)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pytest failed: {' '.join(command[:8])} ...")
    peak = peak_rss.peak_rss_bytes(peak_file, usage.ru_maxrss)
    peak_file.unlink(missing_ok=True)
    return peak / (1024 * 1024)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to run pytest")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell (median kept)")
    options = parser.parse_args(argv)
    python = os.path.abspath(options.python)  # the runs change directory
    files = write_suite()
    peak_rss.write_plugin(PLUGIN_DIR)
    small = files[: FILES // 5]
    slopes = {}
    print(f"{'config':20s} {'1,000 tests':>12s} {'5,000 tests':>12s} {'per 1,000':>10s}")
    for name, args in CONFIGS.items():
        at_1000 = statistics.median(
            peak_rss_mib(python, args, small) for _ in range(options.repeats)
        )
        at_5000 = statistics.median(
            peak_rss_mib(python, args, files) for _ in range(options.repeats)
        )
        slopes[name] = (at_5000 - at_1000) / 4
        print(f"{name:20s} {at_1000:9.1f} MiB {at_5000:9.1f} MiB {slopes[name]:6.2f} MiB")
    for name in ("ours-memray", "ours-tracemalloc"):
        extra = slopes[name] - slopes["plain"]
        verdict = "within" if extra <= 1.0 else "OVER"
        print(f"{name}: {extra:+.2f} MiB per 1,000 tests over plain pytest ({verdict} 1 MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
