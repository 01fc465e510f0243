"""Gates: judging memory across runs from the plugin's JSON documents.

Plain JSON in, verdicts out: reading files safely (:mod:`.json_file`), checking documents
(:mod:`.documents`, in the layout :mod:`.format` defines), the allowance a peak may grow by
and the noise floor under which a change is no change (:mod:`.allowance`), matching test ids
across runs started from different folders (:mod:`.matching`), the baseline gate
(:mod:`.baseline`), ``compare`` and ``merge``, and their command line (:mod:`.cli`,
``python -m pytest_memray``).

May import: the standard library and :mod:`pytest_memray`'s core modules (``sizes``,
``stack``, ``files``). Never pytest, memray, or any other room of the plugin: the gates run
where neither pytest nor a backend is installed, and a CI step that compares two documents
loads nothing else.
"""

from __future__ import annotations

#: The growth a peak may have over its baseline unless told otherwise.
DEFAULT_MAX_INCREASE = "10% + 1 MB"
#: How far a peak may move either way and still count as unchanged in the tables (and the
#: smallest value the benchmark feed writes); see docs/gates.rst for the measurements.
DEFAULT_NOISE_FLOOR = "1 MB + 2%"
#: The fewest tests a gate must compare against its baseline to judge at all.
DEFAULT_MIN_COMPARED = "1"
