"""One test's window: which limit applies, measuring the test's own code, and the verdict.

Runs in every process that runs tests (a single process, or each xdist worker), one test at a
time. :mod:`.markers` reads the memory marker into a :class:`~.limits.Limit`; :mod:`.window`
wraps the test's own code so that the backend tracks exactly that (and the object census of
:mod:`.leaked_objects` runs around it); :mod:`.tracking` asks the backend for the
measurement and lets the limit judge it once, on the report made after the call;
:mod:`.failures` writes the failure text; :mod:`.baseline_gate` judges the peak against a
baseline; :mod:`.increase_history` keeps ``--fail-on-increase``'s peaks in pytest's cache.

May import: pytest, :mod:`pytest_memray.reporting` (the names results travel under, and the
results themselves), the backend seam (:mod:`pytest_memray.backends.interface`; never a
backend or its library), :mod:`pytest_memray.gates` (the baseline's verdict), the settings
and the core modules.
"""
