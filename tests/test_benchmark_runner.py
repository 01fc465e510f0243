"""The benchmarks' pure parts, and the small plugins they load into the runs they measure.

benchmarks/real_suites.py (junit parsing, outcome diffs, tables, arguments) and
benchmarks/figures.py (ratios of runs of the same round, intervals, goals, memory slopes) are
tested with samples made by hand: no network and no timing. The floors and the probe
(benchmarks/plugins.py) are run once each in a pytest subprocess, to check that a floor
measures every kind of test (unittest methods too) and that the probe counts what was
measured.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pytest

from benchmarks import figures, plugins, run, suites
from benchmarks import real_suites as rs

from .helpers import requires_memray, requires_subprocess

JUNIT = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="2"
 tests="7" time="0.1">
<testcase classname="tests.test_a" name="test_ok" time="0.001" />
<testcase classname="tests.test_a" name="test_bad" time="0.001">
  <failure message="assert 1 == 2">trace</failure></testcase>
<testcase classname="tests.test_a" name="test_setup_error" time="0.001">
  <error message="failed on setup">trace</error></testcase>
<testcase classname="tests.test_a" name="test_skip" time="0.0">
  <skipped type="pytest.skip" message="no">why</skipped></testcase>
<testcase classname="tests.test_a" name="test_xfail" time="0.0">
  <skipped type="pytest.xfail" message="expected" /></testcase>
<testcase classname="tests.test_a.TestB" name="test_both[1]" time="0.0">
  <failure message="call">x</failure><error message="teardown">y</error></testcase>
<testcase classname="tests.test_a" name="test_ok" time="0.001" />
</testsuite></testsuites>
"""


def test_parse_junit_reads_every_outcome() -> None:
    outcomes = rs.parse_junit(JUNIT)
    assert outcomes == {
        "tests.test_a::test_ok": "passed",
        "tests.test_a::test_bad": "failed",
        "tests.test_a::test_setup_error": "error",
        "tests.test_a::test_skip": "skipped",
        "tests.test_a::test_xfail": "xfailed",
        "tests.test_a.TestB::test_both[1]": "failed+error",
        "tests.test_a::test_ok#2": "passed",
    }


def test_diff_outcomes_lists_changed_and_absent_tests_only() -> None:
    plain = {"a": "passed", "b": "failed", "c": "passed"}
    other = {"a": "passed", "b": "passed", "d": "skipped"}
    assert rs.diff_outcomes(plain, other) == [
        rs.OutcomeDiff("b", "failed", "passed"),
        rs.OutcomeDiff("c", "passed", "absent"),
        rs.OutcomeDiff("d", "absent", "skipped"),
    ]
    assert rs.diff_outcomes(plain, dict(plain)) == []


def _sample(
    config: str, repeat: int, wall: float, rss_mib: int, cpu: float | None = None, **outcomes: str
) -> rs.Sample:
    return rs.Sample(
        target="proj",
        config=config,
        repeat=repeat,
        wall=wall,
        cpu=wall / 2 if cpu is None else cpu,
        max_rss=rss_mib * rs.MIB,
        returncode=0,
        timed_out=False,
        outcomes=dict(outcomes),
        log="log",
        measured=f"{len(outcomes)} of {len(outcomes)}",
        load=1.5,
    )


def test_collect_diffs_compares_with_plain_of_the_same_repeat() -> None:
    samples = [
        _sample("plain", 0, 1.0, 40, t1="passed", t2="passed"),
        _sample("ours-memray", 0, 2.0, 50, t1="failed", t2="passed"),
        _sample("plain", 1, 1.0, 40, t1="failed", t2="passed"),
        # Same outcomes as repeat 1's plain run: no difference there.
        _sample("ours-memray", 1, 2.0, 50, t1="failed", t2="passed"),
        _sample("published", 1, 2.0, 50, t1="failed", t2="error"),
    ]
    diffs = rs.collect_diffs(samples)
    assert diffs[("proj", "ours-memray")] == {rs.OutcomeDiff("t1", "passed", "failed"): 1}
    assert diffs[("proj", "published")] == {rs.OutcomeDiff("t2", "passed", "error"): 1}
    lines = rs.diff_lines("proj", diffs, ["plain", "ours-memray", "published"], repeats=2)
    assert lines == [
        "- `ours-memray`: `t1`: plain passed, ours-memray failed (in 1 of 2 repeats)",
        "- `published`: `t2`: plain passed, published error (in 1 of 2 repeats)",
    ]


def test_table_rows_give_medians_and_ratios_of_runs_of_the_same_repeat() -> None:
    samples = [
        _sample("plain", 0, 1.0, 40, t="passed"),
        _sample("plain", 1, 3.0, 40, t="passed"),
        _sample("plain", 2, 2.0, 44, t="passed"),
        _sample("bare-tracemalloc", 0, 4.0, 40, t="passed"),
        _sample("ours-tracemalloc", 0, 5.0, 42, cpu=3.0, t="passed"),
        _sample("published", 0, 8.0, 80, t="passed"),
        # Repeat 1's published run is twice repeat 1's plain: a ratio of the same repeat.
        _sample("published", 1, 6.0, 80, t="passed"),
    ]
    configs = ["plain", "bare-tracemalloc", "ours-tracemalloc", "published", "ours-memray"]
    rows = rs.table_rows("proj", samples, {"published": 3}, configs)
    by_config = {row[0]: dict(zip(rs.TABLE_HEADERS, row, strict=True)) for row in rows}
    assert set(by_config) == {"plain", "bare-tracemalloc", "ours-tracemalloc", "published"}
    plain = by_config["plain"]
    assert plain["wall (median)"] == "2.00 s"
    assert plain["wall range"] == "1.00–3.00"
    assert plain["x plain, wall / CPU"] == "1.00x"
    assert plain["x published, wall / CPU"] == "0.31x / 0.31x"  # median of 1/8 and 3/6
    assert plain["peak RSS MiB"] == "40"
    assert plain["outcome diffs"] == "—"
    assert plain["tests measured"] == "1 of 1"
    published = by_config["published"]
    assert published["x plain, wall / CPU"] == "5.00x / 5.00x"  # median of 8/1 and 6/3
    assert published["RSS x plain"] == "2.00x"
    assert published["outcome diffs"] == "3"
    assert published["x its floor, wall / CPU"] == "–"  # no bare-memray-call run
    ours = by_config["ours-tracemalloc"]
    assert ours["x its floor, wall / CPU"] == "1.25x / 1.50x (bare-tracemalloc)"


def test_timed_out_runs_are_flagged_not_averaged() -> None:
    late = _sample("plain", 0, 99.0, 40)
    late.timed_out, late.outcomes, late.returncode = True, None, -9
    (row,) = rs.table_rows("proj", [late], {}, ["plain"])
    assert row[2] == "timed out"
    assert row[10] == "-9 (1 timed out)"


def test_markdown_table_aligns_numbers_and_escapes_pipes() -> None:
    table = rs.markdown_table(("name", "value"), [("a|b", "1")])
    assert table.splitlines() == ["| name | value |", "| --- | ---: |", "| a\\|b | 1 |"]
    with pytest.raises(ValueError, match="2 columns"):
        rs.markdown_table(("name", "value"), [("only one",)])


def test_ratio_and_rotation() -> None:
    assert rs.ratio(3.0, 2.0) == "1.50x"
    assert rs.ratio(3.0, None) == "n/a"
    assert rs.ratio(3.0, 0.0) == "n/a"
    assert rs.rotated(["a", "b", "c"], 4) == ["b", "c", "a"]
    assert rs.rotated([], 1) == []


def test_project_arguments_name_the_unknown_part() -> None:
    chosen = rs._parse_projects("jinja2, attrs:fast")
    assert [(project.name, subset) for project, subset in chosen] == [
        ("jinja2", "all"),
        ("attrs", "fast"),
    ]
    with pytest.raises(SystemExit, match="unknown project 'nope'"):
        rs._parse_projects("nope")
    with pytest.raises(SystemExit, match="no subset 'tiny'"):
        rs._parse_projects("attrs:tiny")
    assert rs._parse_names("none", ["x"], "case") == []
    with pytest.raises(SystemExit, match="unknown case 'y'"):
        rs._parse_names("y", ["x"], "case")


# -- benchmarks/figures.py: ratios of runs of the same round ---------------------------------


def _run(config: str, repeat: int, wall: float, cpu: float, rss_mib: float = 40) -> figures.Sample:
    return figures.Sample(
        suite="s",
        config=config,
        repeat=repeat,
        wall=wall,
        cpu_user=cpu,
        cpu_sys=0.0,
        max_rss=int(rss_mib * figures.MIB),
        tmp_peak=0,
        tmp_left=0,
        exit_code=0,
        calls=10,
        measured=10,
        measured_text="10 of 10",
        load=1.0,
    )


def test_paired_ratios_divide_runs_of_the_same_round_only() -> None:
    samples = [
        _run("ours", 0, 2.0, 1.0),
        _run("floor", 0, 1.0, 1.0),
        _run("ours", 1, 6.0, 3.0),
        _run("floor", 1, 4.0, 2.0),
        _run("ours", 2, 9.0, 9.0),  # no floor run in round 2: left out
    ]
    wall = figures.paired_ratio(samples, "ours", "floor", figures.wall_of)
    assert wall == figures.Paired(median=1.75, low=1.5, high=2.0, rounds=2)
    cpu = figures.paired_difference(samples, "ours", "floor", figures.cpu_of)
    assert cpu == figures.Paired(median=0.5, low=0.0, high=1.0, rounds=2)
    assert figures.ratio_text(wall) == "1.75x (1.50–2.00)"
    assert figures.paired_ratio(samples, "ours", "missing", figures.wall_of) is None
    failed = _run("floor", 1, 4.0, 2.0)
    failed.exit_code = 1  # a failed run is no reference
    assert (
        figures.paired_values(
            [samples[2], failed], "ours", "floor", figures.wall_of, lambda a, b: a / b
        )
        == []
    )


def test_median_interval_is_seeded_and_holds_the_median() -> None:
    values = [0.001 * n for n in range(-5, 30)]
    low, high = figures.median_interval(values)
    assert low <= sorted(values)[len(values) // 2] <= high
    assert figures.median_interval(values) == (low, high)
    assert figures.median_interval([0.004] * 5) == (0.004, 0.004)
    assert all(math.isnan(x) for x in figures.median_interval([]))


def test_time_goals_read_cpu_when_the_load_reached_the_cores() -> None:
    quiet = [_run("a", 0, 1.0, 1.0)]
    busy = [_run("a", 0, 1.0, 1.0)]
    busy[0].load = 2.5
    assert not figures.judged_on_cpu(quiet, cores=2)
    assert figures.judged_on_cpu(busy, cores=2)
    wall = figures.Paired(1.2, 1.1, 1.3, 3)
    cpu = figures.Paired(1.05, 1.0, 1.1, 3)
    on_cpu = figures.time_goal("g", wall, cpu, 1.10, on_cpu=True)
    on_wall = figures.time_goal("g", wall, cpu, 1.10, on_cpu=False)
    assert on_cpu is not None
    assert on_cpu.within
    assert "verdict on CPU" in on_cpu.figure
    assert on_wall is not None
    assert not on_wall.within
    assert on_wall.verdict == "over the goal"
    assert figures.time_goal("g", None, cpu, 1.10, on_cpu=True) is None


def test_suite_and_layer_rows_say_how_many_tests_each_measured() -> None:
    samples = [
        _run("plain", 0, 1.0, 1.0),
        _run("bare-tracemalloc", 0, 2.0, 2.0),
        _run("ours-tracemalloc", 0, 2.2, 2.1),
        _run("published", 0, 3.0, 3.0),
    ]
    samples[0].measured, samples[0].measured_text = None, "none of 10"
    samples[3].measured, samples[3].measured_text = 6, "6 of 10 (4 unittest)"
    rows = figures.suite_rows(samples, ["plain", "ours-tracemalloc", "published"], tests=10)
    assert [row[:2] for row in rows] == [
        ["plain", "none of 10"],
        ["ours-tracemalloc", "10 of 10"],
        ["published", "6 of 10 (4 unittest)"],
    ]
    assert rows[1][7] == "110.00"  # ms per test over plain, CPU: (2.1 - 1.0) / 10
    (layer,) = figures.layer_rows(samples)
    assert layer[0] == "ours-tracemalloc / bare-tracemalloc"
    assert layer[1:4] == ["1.10x", "1.05x", "<= 1.10x"]


def test_memory_slopes_skip_the_first_quarter() -> None:
    checkpoints = tuple(
        plugins.Checkpoint(
            tests=n,
            # The first quarter grows fast (imports); then 2 MiB per 1,000 tests.
            resident=(50 if n < 250 else 10) * figures.MIB + n * 2 * figures.MIB // 1000,
            blocks=1000 + n * 3,
            gc_objects=n,
            heap=(n * 100, 5, 0),
        )
        for n in range(50, 1001, 50)
    )
    probe = plugins.Probe(
        calls=1000, unittest=0, measured=1000, measured_by="x", checkpoints=checkpoints
    )
    slopes = figures.memory_slopes(probe)
    assert slopes["resident"] == pytest.approx(2 * figures.MIB)
    assert slopes["blocks"] == pytest.approx(3000)
    assert slopes["heap_used"] == pytest.approx(100_000)
    assert slopes["heap_free"] == pytest.approx(0)
    assert figures.memory_slopes(None)["resident"] is None


# -- benchmarks/plugins.py: the probe's document, read back ---------------------------------


def test_probe_documents_parse_and_say_what_was_measured() -> None:
    document = {
        "calls": 30,
        "unittest": 10,
        "measured": 20,
        "measured_by": "published plugin",
        "checkpoints": [[100, 4096, 7, 3, [1, 2, 3]], [200, None, 8, 4, None]],
        "census": [[100, {"builtins.dict": [5, 500]}], [300, {"builtins.dict": [9, 900]}]],
    }
    probe = plugins.parse_probe(document)
    assert probe.checkpoints[0] == plugins.Checkpoint(100, 4096, 7, 3, (1, 2, 3))
    assert probe.checkpoints[1].resident is None
    assert probe.checkpoints[1].heap is None
    assert plugins.measured_text(probe) == "20 of 30 (10 unittest)"
    assert plugins.census_growth(probe.census) == [("builtins.dict", 20.0, 2000.0)]
    session = plugins.parse_probe(
        {"calls": 5, "measured": None, "measured_by": "one tracker for the session"}
    )
    assert plugins.measured_text(session) == "all 5 (one tracker for the session)"
    assert plugins.measured_text(plugins.parse_probe({"calls": 5})) == "none of 5"
    assert plugins.measured_text(None) == "n/a"
    assert plugins.slope_per_thousand([(0, 0.0), (500, 1.0), (1000, 2.0)]) == pytest.approx(2.0)
    assert plugins.slope_per_thousand([(5, 1.0)]) is None


_EVERY_KIND = """\
import unittest


def test_function():
    assert [1] * 10


class TestMethods(unittest.TestCase):
    def test_method(self):
        self.assertTrue([2] * 10)


def double(n):
    '''
    >>> double(2)
    4
    '''
    return 2 * n
"""


@requires_subprocess
@pytest.mark.skipif(
    sys.platform == "win32",
    reason="under Wine the floor's subprocess run printed no summary (seen once, not examined)",
)
@pytest.mark.parametrize(
    "floor",
    [plugins.BARE_TRACEMALLOC, pytest.param(plugins.BARE_MEMRAY_CALL, marks=requires_memray)],
)
def test_floors_measure_every_kind_of_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, floor: str
) -> None:
    folder = pytester.path / "plugins"
    plugins.write_plugins(folder)
    pytester.makepyfile(test_kinds=_EVERY_KIND)
    out = pytester.path / "probe.json"
    monkeypatch.setenv("PYTHONPATH", str(folder))
    monkeypatch.setenv(plugins.PROBE_FILE_VARIABLE, str(out))
    result = pytester.runpytest_subprocess(
        "-p",
        "no:memray",
        "-p",
        floor,
        "-p",
        plugins.PROBE_NAME,
        "--doctest-modules",
        "test_kinds.py",  # not the plugins' folder: the memray floors import memray
    )
    result.assert_outcomes(passed=3)
    probe = plugins.read_probe(out)
    assert probe is not None
    assert (probe.calls, probe.unittest, probe.measured) == (3, 1, 3)
    assert probe.measured_by == floor


# -- benchmarks/suites.py and run.py's plan ----------------------------------------------------


def test_every_suite_holds_the_tests_it_says() -> None:
    for suite in suites.all_suites().values():
        defined = sum(
            text.count("\ndef test_") + text.startswith("def test_")
            for text in suite.files.values()
        )
        methods = sum(text.count("    def test_") for text in suite.files.values())
        assert defined + methods == suite.tests, suite.name
        assert suite.numpy == any("import numpy" in text for text in suite.files.values())
    assert len(suites.trivial_suite(300, per_file=100)) == 3


def test_write_files_keeps_unchanged_files_and_drops_stale_ones(tmp_path: Path) -> None:
    folder = suites.write_files(tmp_path, "x", {"test_a.py": "A", "test_b.py": "B"})
    before = (folder / "test_a.py").stat().st_mtime_ns
    suites.write_files(tmp_path, "x", {"test_a.py": "A"})
    assert (folder / "test_a.py").stat().st_mtime_ns == before
    assert not (folder / "test_b.py").exists()
    assert (folder / "pytest.ini").read_text().startswith("[pytest]")


def test_quick_plan_is_small_and_options_override_it() -> None:
    quick = run.plan_of(run.parse_args(["--quick"]))
    assert quick.suites == suites.QUICK_SUITES
    assert quick.sections == run.SECTIONS
    assert quick.memory_tests < 20_000
    assert quick.repeats <= 3
    full = run.plan_of(run.parse_args([]))
    assert full.memory_tests == 20_000
    assert full.suites == suites.FULL_SUITES
    chosen = run.plan_of(run.parse_args(["--quick", "--sections", "off", "--off-pairs", "3"]))
    assert (chosen.sections, chosen.off_pairs) == (("off",), 3)
    with pytest.raises(SystemExit, match="unknown section"):
        run.plan_of(run.parse_args(["--sections", "nope"]))
    assert isinstance(run.parse_args([]), argparse.Namespace)
    assert json.loads(json.dumps(run.CONFIGS["published"].args)) == ["--memray"]
