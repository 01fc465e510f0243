"""Pairing test ids of runs started from different folders."""

from __future__ import annotations

from pytest_memray.gates.matching import Shift, likely_cause, match_ids, split_id


def test_split_id() -> None:
    assert split_id("a/b/test_x.py::T::test[p/q::r]") == (
        ("a", "b", "test_x.py"),
        "::T::test[p/q::r]",
    )
    assert split_id("README.txt") == (("README.txt",), "")


def test_the_same_ids_pair_as_they_are() -> None:
    matching = match_ids(["t.py::a", "t.py::b"], ["t.py::b", "t.py::c"])
    assert matching.pairs == {"t.py::b": "t.py::b"}
    assert matching.shift is None


def test_a_run_from_inside_the_folder_pairs_through_the_prefix() -> None:
    base = ["demo/test_demo.py::test_a", "demo/test_demo.py::test_b", "demo/sub/t.py::c"]
    run = ["test_demo.py::test_a", "test_demo.py::test_b", "sub/t.py::c", "test_new.py::x"]
    matching = match_ids(base, run)
    assert matching.shift == Shift("demo/", added=True)
    assert matching.shifted == 3
    assert matching.base_of("sub/t.py::c") == "demo/sub/t.py::c"
    assert matching.base_of("test_new.py::x") is None


def test_a_run_from_above_pairs_through_the_prefix() -> None:
    base = ["test_demo.py::test_a", "test_demo.py::test_b"]
    run = ["proj/demo/test_demo.py::test_a", "proj/demo/test_demo.py::test_b"]
    matching = match_ids(base, run)
    assert matching.shift == Shift("proj/demo/", added=False)
    assert matching.pairs == dict(zip(run, base, strict=True))


def test_one_prefix_for_the_whole_run_never_a_guess_per_test() -> None:
    """Two folders hold a test_a.py; the run (from inside ``unit``) pairs with ``unit``'s
    tests only, although ``integration/test_a.py::test_x`` has the same name."""
    base = [
        "unit/test_a.py::test_x",
        "unit/test_b.py::test_y",
        "unit/test_c.py::test_z",
        "integration/test_a.py::test_x",
    ]
    run = ["test_a.py::test_x", "test_b.py::test_y", "test_c.py::test_z"]
    matching = match_ids(base, run)
    assert matching.shift == Shift("unit/", added=True)
    assert matching.pairs == {f"test_{n}.py::test_{m}": f"unit/test_{n}.py::test_{m}"
                              for n, m in (("a", "x"), ("b", "y"), ("c", "z"))}  # fmt: skip


def test_each_baseline_test_pairs_once() -> None:
    base = ["demo/t.py::a"]
    run = ["demo/t.py::a", "t.py::a"]  # both in the run: the exact one wins
    matching = match_ids(base, run)
    assert matching.pairs == {"demo/t.py::a": "demo/t.py::a"}


def test_file_names_that_only_end_alike_do_not_pair() -> None:
    matching = match_ids(["tests/my_test_a.py::t"], ["test_a.py::t"])
    assert matching.pairs == {}


def test_paths_with_spaces_and_parameters() -> None:
    base = ["my project/tests/test a.py::test[1 2]", "my project/tests/test a.py::test[3/4]"]
    run = ["tests/test a.py::test[1 2]", "tests/test a.py::test[3/4]"]
    matching = match_ids(base, run)
    assert matching.shift == Shift("my project/", added=True)
    assert len(matching.pairs) == 2


def test_likely_cause() -> None:
    assert likely_cause(["a.py::x"], [], None, None) == "this run has no measured test"
    assert likely_cause([], ["a.py::x"], None, None) == "the baseline lists no test"
    assert likely_cause(["x/a.py::t"], ["y/a.py::t"], "/r1", "/r2").startswith(
        "1 of this run's test names are in the baseline under other paths: the ids are relative "
        "to another rootdir (the baseline's rootdir was /r1, this run's is /r2)"
    )
    assert likely_cause(["a.py::old"], ["a.py::new"], "/r", "/r") == (
        "no test name of this run is in the baseline: it is the baseline of another suite, or "
        "every test was renamed"
    )
