"""Each measured test's peak in the junit-xml report, added once every figure is known.

junit-xml writes a test's ``<testcase>`` as soon as the test is reported, with the user
properties the report carries. A test measured on its own (a limit marker, ``--memray-limit``)
has its figure by then and gets its ``memray_peak_bytes`` property that way (see
:mod:`.tracking`). A batched test's figures come later, when its batch is replayed; rather
than give up batching whenever ``--junitxml`` is given (a Tracker per test costs the memray
backend about 13 ms), the reporting process adds the missing properties to the file once
junit-xml has written it, at the end of the session.

A ``<testcase>`` is matched to its test the way junit-xml names it: the file path as a dotted
module name, the classes, a ``--junitprefix`` if any (``classname``), and the test's name
with its parameters (``name``). A name two tests share is left alone: a figure is never put
on a test it may not belong to. A test that was not measured gets no property, never a 0.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path

from pytest_memray.files import write_file
from pytest_memray.reporting.wire import PEAK_PROPERTY

#: Characters junit-xml does not write as they are (those XML 1.0 cannot hold, and DEL);
#: it writes each as ``#xHH`` or ``#xHHHH``.
_NOT_WRITTEN = re.compile("[^\x09\x0a\x0d\x20-\x7e\x80-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escaped(text: str) -> str:
    def code(found: re.Match[str]) -> str:
        point = ord(found.group())
        return f"#x{point:02X}" if point <= 0xFF else f"#x{point:04X}"

    return _NOT_WRITTEN.sub(code, text)


def junit_names(nodeid: str, prefix: str | None = None) -> set[tuple[str, str]]:
    """The ``classname`` and ``name`` junit-xml gives the test ``nodeid``.

    pytest 9 takes the path up to the first ``::`` and the parameters from the rest; older
    versions took the parameters from the first ``[``. The two differ only for a path that
    holds a ``[``; then both pairs are given.
    """
    head, separator, tail = nodeid.partition("::")
    if separator:
        inner, bracket, parameters = tail.partition("[")
        today = [head, *inner.split("::")]
        today[-1] += bracket + parameters
    else:
        today = [head]
    before, bracket, parameters = nodeid.partition("[")
    earlier = before.split("::")
    earlier[-1] += bracket + parameters
    pairs = set()
    for parts in (today, earlier):
        module = parts[0].replace("/", ".")
        if module.endswith(".py"):
            module = module[: -len(".py")]
        owners = [prefix] if prefix else []
        owners += [module, *parts[1:-1]] if len(parts) > 1 else []
        name = parts[-1] if len(parts) > 1 else module
        pairs.add((".".join(owners), _escaped(name)))
    return pairs


def add_peaks(path: Path, peaks: Mapping[str, int], prefix: str | None = None) -> int:
    """Give the ``<testcase>`` of each test in ``peaks`` (nodeid -> bytes) in the junit-xml
    file at ``path`` its peak, unless it has one; returns how many were added.

    Raises OSError if the file cannot be read or replaced, ET.ParseError if it is not XML.
    """
    by_name: dict[tuple[str, str], int | None] = {}
    for nodeid, bytes_ in peaks.items():
        for key in junit_names(nodeid, prefix):
            by_name[key] = None if key in by_name else bytes_  # shared by two tests: left alone
    tree = ET.parse(path)
    # A test run more than once (reruns) may have a <testcase> per run: the figure is the
    # last run's, so it goes on the last one.
    last: dict[tuple[str, str], ET.Element] = {}
    for case in tree.iter("testcase"):
        last[(case.get("classname", ""), case.get("name", ""))] = case
    added = 0
    for key, case in last.items():
        peak = by_name.get(key)
        if peak is None or _has_peak(case):
            continue
        properties = case.find("properties")
        if properties is None:
            properties = ET.Element("properties")
            case.insert(0, properties)  # junit-xml puts them first
        ET.SubElement(properties, "property", name=PEAK_PROPERTY, value=str(peak))
        added += 1
    if added:
        write_file(path, ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True))
    return added


def _has_peak(case: ET.Element) -> bool:
    found: Iterable[ET.Element] = case.iterfind(f"properties/property[@name='{PEAK_PROPERTY}']")
    return any(True for _ in found)
