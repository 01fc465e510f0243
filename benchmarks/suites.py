"""The generated test suites of ``benchmarks/run.py``: their sources, and writing them out.

Each suite gets its own folder with its own ``pytest.ini``, so that the repository's pytest
settings do not apply. See ``benchmarks/README.md`` for what each suite holds and why.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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


def _unittest_class(file_index: int, methods: int) -> str:
    lines = [
        f"class TestCase{file_index:02d}(unittest.TestCase):",
        "    def setUp(self):",
        "        self.base = list(range(50))",
        "",
    ]
    for index in range(methods):
        if index % 2:
            body = [
                f"        values = [n * {index % 5 + 1} for n in range(2000)]",
                "        self.assertEqual(len(values), 2000)",
            ]
        else:
            body = [f"        self.assertEqual(self.base[{index % 50}], {index % 50})"]
        lines.extend([f"    def test_method_{index:03d}(self):", *body, ""])
    return "\n".join(lines)


def _suite_mixed(files: int, unittest_methods: int, functions: int) -> dict[str, str]:
    """Per file: one ``unittest.TestCase`` with ``unittest_methods`` methods (half allocate a
    little) and ``functions`` test functions (one in five allocates a little)."""
    out: dict[str, str] = {}
    index = 0
    for file_index in range(files):
        parts = ['"""Generated: unittest methods and test functions."""\n\nimport unittest\n']
        parts.append(_unittest_class(file_index, unittest_methods))
        for _ in range(functions):
            make = _light_alloc_test if index % 5 == 4 else _trivial_test
            parts.append(make(index))
            index += 1
        out[f"test_u_{file_index:02d}.py"] = "\n\n".join(parts)
    return out


def _suite_calls(files: int, per_file: int, calls: int) -> dict[str, str]:
    """Call-heavy tests: each calls small Python helpers ``calls`` times (a third allocate)."""
    header = textwrap.dedent(
        """\
        \"\"\"Generated: call-heavy tests.\"\"\"


        def add(a, b):
            return a + b


        def pair(n):
            return (n, n + 1)


        class Counter:
            def __init__(self):
                self.count = 0

            def bump(self, by):
                self.count = add(self.count, by)
                return self
        """
    )
    out: dict[str, str] = {}
    index = 0
    for file_index in range(files):
        parts = [header]
        for _ in range(per_file):
            parts.append(
                textwrap.dedent(
                    f"""\
                    def test_calls_{index:03d}():
                        counter = Counter()
                        pairs = 0
                        for n in range({calls // 3}):
                            counter.bump(1)
                            pairs += len(pair(n))
                        assert counter.count == {calls // 3} and pairs == {2 * (calls // 3)}
                    """
                )
            )
            index += 1
        out[f"test_k_{file_index:02d}.py"] = "\n\n".join(parts)
    return out


def trivial_suite(tests: int, per_file: int = 100) -> dict[str, str]:
    """``tests`` small tests (each builds a short list), ``per_file`` to a file."""
    out: dict[str, str] = {}
    for number in range(tests // per_file):
        out[f"test_m_{number:03d}.py"] = "".join(
            f"def test_{i}():\n    values = [{i}] * 10\n    assert values\n\n"
            for i in range(per_file)
        )
    return out


HEAVY_ALLOCATIONS = 1_000_000

CHURN_SOURCE = (
    "def test_churn():\n"
    f"    for _ in range({HEAVY_ALLOCATIONS}):\n"
    "        data = bytes(1000)\n"
    "    assert len(data) == 1000\n"
)

OFF_SOURCE = (
    "def test_one():\n    assert 1\n\n\ndef test_two():\n    assert 2\n\n\n"
    "def test_three():\n    assert 3\n"
)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tests: int
    files: dict[str, str] = field(repr=False)
    #: Imports numpy (the "ours" venv then needs it).
    numpy: bool = False


def all_suites() -> dict[str, Suite]:
    return {
        "a": Suite("a", "600 tests: 500 trivial, 100 allocating a little", 600, _suite_a()),
        "b": Suite(
            "b",
            "200 allocation-heavy tests: small objects, large buffers, numpy",
            200,
            _suite_b(),
            numpy=True,
        ),
        "c": Suite(
            "c",
            "300 light tests, numpy and 12 stdlib extension modules imported",
            300,
            _suite_c(),
            numpy=True,
        ),
        "u": Suite(
            "u",
            "300 tests: 150 unittest.TestCase methods (with setUp), 150 test functions",
            300,
            _suite_mixed(files=5, unittest_methods=30, functions=30),
        ),
        "k": Suite(
            "k",
            "100 call-heavy tests: 20,000 calls of small Python helpers each",
            100,
            _suite_calls(files=5, per_file=20, calls=20_000),
        ),
        # The small suites of --quick.
        "u-small": Suite(
            "u-small",
            "200 tests: 80 unittest.TestCase methods (with setUp), 120 test functions",
            200,
            _suite_mixed(files=4, unittest_methods=20, functions=30),
        ),
        "k-small": Suite(
            "k-small",
            "40 call-heavy tests: 20,000 calls of small Python helpers each",
            40,
            _suite_calls(files=2, per_file=20, calls=20_000),
        ),
    }


FULL_SUITES = ("a", "b", "c", "u", "k")
QUICK_SUITES = ("u-small", "k-small")


def write_files(folder: Path, name: str, files: Mapping[str, str]) -> Path:
    """Write a suite's files into ``folder/name``, touching only those that changed (keeps
    pytest's cached rewritten modules valid); test files not in ``files`` are removed."""
    root = folder / name
    root.mkdir(parents=True, exist_ok=True)
    wanted = dict(files)
    wanted["pytest.ini"] = _SUITE_INI
    for file_name, text in wanted.items():
        path = root / file_name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for path in root.glob("test_*.py"):
        if path.name not in wanted:
            path.unlink()
    return root
