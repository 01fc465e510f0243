"""The names under which the plugin's data travels between processes.

Results and verdicts travel on the test reports themselves, which xdist carries from a worker
to the controller, and through xdist's ``workerinput`` and ``workeroutput``. Every attribute
and key the plugin uses for that is named here, once; the plain-dict form of a result is
:meth:`~pytest_memray.reporting.results.MemoryResult.to_dict`.

Constants only: the plugin's always-loaded wiring reads :data:`MEMORY_PROBLEM_ATTR`.
"""

from __future__ import annotations

#: A call report's results that became ready (plain dicts from a worker).
RESULTS_ATTR = "memray_results"
#: A setup report whose test's call will be tracked (so that a test whose worker dies in
#: its call is listed, not lost).
TRACKED_ATTR = "memray_tracked"
#: A call report whose test was tracked: the backend's handle of its tracking.
HANDLE_ATTR = "memray_handle"
#: The limit a marker set on a tracked test: [bytes, "memory" or "leaks"].
LIMIT_ATTR = "memray_limit"
#: The capture file a measured call was kept in, where one was asked for.
CAPTURE_ATTR = "memray_capture_file"
#: The page drawing where a call's memory went (--memray-flamegraphs).
FLAMEGRAPH_ATTR = "memray_flamegraph"
#: The peak of a measured call, for pytest-html and other readers of reports.
PEAK_ATTR = "memray_peak_bytes"
#: Why a tracked call has no figures, on its call report.
NOT_MEASURED_ATTR = "memray_not_measured"
#: Set on a call report that failed on its memory (a limit, the baseline), whatever shows.
MEMORY_FAILURE_ATTR = "memray_failed"
#: Set on a call report that failed a memory limit and shows its section (the letter M);
#: its value is the section's title.
MEMORY_PROBLEM_ATTR = "memray_problem"
#: junit-xml's ``<property>`` holding a measured test's peak.
PEAK_PROPERTY = "memray_peak_bytes"

#: ``workeroutput`` key: a worker's results that became ready at its session's end.
OUTPUT_KEY = "pytest_memray_results"
#: ``workerinput`` keys: the capture file prefix and the session id the controller gives.
PREFIX_KEY = "memray_bin_prefix"
SESSION_KEY = "memray_session_id"
