"""The tracemalloc backend: standard library only, so it runs on every platform.

What it owns: measuring one test call with tracemalloc, behind the seam of
:mod:`pytest_memray.backends.interface`. Its modules, one job each:

* ``backend`` -- :class:`~.backend.TracemallocBackend`, what the registry builds;
* ``tracking`` -- one call's tracking: start, open, close, stop, the measurement;
* ``counters`` -- reading tracemalloc's counters: the baseline, the exact peak, the overhead;
* ``pictures`` -- what was alive near the peak: raw traces kept, gaps charged to frames;
* ``watch`` -- the profile hook on the test's thread;
* ``sampler`` -- the sampler thread;
* ``traces`` -- raw trace helpers: reading, grouping, turning into allocation sites;
* ``source_names`` -- the function around a file's line, for frames that carry no name.

What it may import: :mod:`pytest_memray.backends.interface`, :mod:`pytest_memray.stack`,
:mod:`pytest_memray.files` and the standard library; never ``per_test``, ``reporting``,
``gates``, ``settings`` or ``plugin`` (the layers above the seam), nor memray.

It sees what goes through Python's allocators (objects, buffers, and what extensions such as
numpy report to tracemalloc), not plain ``malloc`` calls from native code.

How a test call is measured:

* tracemalloc traces only during the call. If the user was already tracing, their tracing is
  left running (its peak counter is reset); otherwise tracing is stopped again afterwards.
* The peak is tracemalloc's own exact high-water mark, read as soon as the test function
  returns (``close``, before the plugin's own work after the call), less what was traced
  when the test function was entered and less what the backend itself holds. Every reading
  of the counters is followed by a reset of the peak counter once the reading's own small
  objects are freed, so the watchers never add to the peak. What a picture keeps is measured
  from the traced total; the interpreter's caches of floats and short tuples make that good to
  a few dozen bytes, so a test pictured while running can be off by that much.
* To say *what* was alive at the peak, the backend keeps a picture (tracemalloc's raw traces)
  whenever the traced total has grown past the last picture by 10% of what the call added (and
  at least 64 KiB); pictures are grouped by location once the call is over. Two watchers read
  the total:

  - a profile hook on the test's thread, for the first :data:`.watch.HOOK_EVENTS` events of the
    test function (calls and returns of Python functions, returns of C functions: what was
    allocated before a C function's call is still there at its return), a picture at the
    very moment of growth; a peak reached and freed between two events is charged to the
    frame that was running;
  - then a sampler thread, one per process, which reads the total every
    :data:`.sampler.SAMPLE_INTERVAL` seconds while a test runs and waits otherwise. Its pictures
    are taken near the peak rather than at it; a peak reached and freed between two readings is
    charged to the frame the test was running at the next reading, and the measurement's
    notes say so.

  A hook on every event costs several times a call-heavy test's own time; the sampler costs
  almost nothing. Where threads cannot start (WebAssembly), and on free-threaded builds before
  Python 3.15 (where cProfile is not safe beside another thread), the hook watches the whole
  call; it does too while a profiler on :mod:`sys.monitoring` (cProfile, from 3.12) runs,
  which would see the sampler's readings.
  After a picture that took t seconds, none is taken for 39t seconds
  (:data:`.counters.TIME_BUDGET`).
  A Python profile function that was already installed is called from the hook, so both work;
  where a C-level profiler holds the hook, the sampler alone watches.
* Allocations whose newest frame is in this package, or that were traced before the test
  function was entered, are left out of the locations.

Each tracking's :attr:`.tracking.TracemallocTracking.stats` counts what the watchers did
(hook events, readings, pictures); the project's tests bound the hook's events per call with it.
"""
