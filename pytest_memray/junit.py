"""The peak of each tracked test as a ``<property>`` of its junit-xml test case.

Results known right after the call reach junit-xml through ``item.user_properties``. Results
that the backend deferred to the end of the session are added to the test case elements that
junit-xml has already built, just before it writes its file. That reaches into pytest's
``junitxml`` plugin, so anything unexpected there is skipped quietly rather than breaking the
run; a test in the suite checks that it keeps working.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

import pytest

from .results import TestRecord

PEAK_PROPERTY = "memray_peak_bytes"


def _case_keys(peaks: dict[str, int], prefix: Any) -> dict[tuple[str, str], int]:
    from _pytest.junitxml import bin_xml_escape, mangle_test_address

    keys = {}
    for nodeid, peak in peaks.items():
        names = mangle_test_address(nodeid)
        classnames = names[:-1]
        if prefix:
            classnames.insert(0, str(prefix))
        keys[(".".join(classnames), str(bin_xml_escape(names[-1])))] = peak
    return keys


def add_junit_properties(config: pytest.Config, records: Iterable[TestRecord]) -> None:
    """Give every recorded test case that lacks it the peak property (controller only)."""
    try:
        from _pytest.junitxml import xml_key

        xml = config.stash.get(xml_key, None)
        if xml is None:
            return
        keys = _case_keys({record.nodeid: record.peak_bytes for record in records}, xml.prefix)
        for reporter in xml.node_reporters_ordered:
            case = reporter.to_xml()
            peak = keys.get((case.get("classname", ""), case.get("name", "")))
            if peak is None:
                continue
            properties = case.find("properties")
            if properties is None:
                properties = ET.Element("properties")
                case.insert(0, properties)
            if all(prop.get("name") != PEAK_PROPERTY for prop in properties):
                properties.append(ET.Element("property", name=PEAK_PROPERTY, value=str(peak)))
    except Exception:  # pragma: no cover - pytest internals changed; the property is a bonus
        return
