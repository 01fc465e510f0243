"""The pure parts of benchmarks/real_suites.py: junit parsing, outcome diffs, tables, arguments.

No network, no subprocess, no timing: the samples here are made by hand.
"""

from __future__ import annotations

import pytest

from benchmarks import real_suites as rs

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


def _sample(config: str, repeat: int, wall: float, rss_mib: int, **outcomes: str) -> rs.Sample:
    return rs.Sample(
        target="proj",
        config=config,
        repeat=repeat,
        wall=wall,
        cpu=wall / 2,
        max_rss=rss_mib * rs.MIB,
        returncode=0,
        timed_out=False,
        outcomes=dict(outcomes),
        log="log",
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


def test_table_rows_give_medians_and_ratios_to_each_reference() -> None:
    samples = [
        _sample("plain", 0, 1.0, 40, t="passed"),
        _sample("plain", 1, 3.0, 40, t="passed"),
        _sample("plain", 2, 2.0, 44, t="passed"),
        _sample("bare-tracemalloc", 0, 4.0, 40, t="passed"),
        _sample("published", 0, 8.0, 80, t="passed"),
    ]
    summaries = rs.summarise(samples)
    configs = ["plain", "bare-tracemalloc", "published", "ours-memray"]
    rows = rs.table_rows("proj", summaries, {"published": 3}, configs)
    by_config = {row[0]: row for row in rows}
    assert set(by_config) == {"plain", "bare-tracemalloc", "published"}  # no ours-memray samples
    header = rs.TABLE_HEADERS
    plain = dict(zip(header, by_config["plain"], strict=False))
    assert plain["wall (median)"] == "2.00 s"
    assert plain["wall range"] == "1.00–3.00"
    assert plain["x published"] == "0.25x"
    assert plain["peak RSS MiB"] == "40"
    assert plain["outcome diffs"] == "—"
    published = dict(zip(header, by_config["published"], strict=False))
    assert published["x plain"] == "4.00x"
    assert published["x bare tracemalloc"] == "2.00x"
    assert published["RSS x plain"] == "2.00x"
    assert published["outcome diffs"] == "3"
    assert published["tests"] == "1"


def test_timed_out_runs_are_flagged_not_averaged() -> None:
    late = _sample("plain", 0, 99.0, 40)
    late.timed_out, late.outcomes, late.returncode = True, None, -9
    summaries = rs.summarise([late])
    (row,) = rs.table_rows("proj", summaries, {}, ["plain"])
    assert row[1] == "timed out"
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
