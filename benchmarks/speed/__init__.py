"""``python -m benchmarks.speed``: the original notebook's approach (:mod:`benchmarks.speed.original`) timed against
the suite on one synthetic cache at the real scale; each job runs in its own process (:mod:`~benchmarks.speed.run`
schedules them, :mod:`~benchmarks.speed.suite_jobs` and :mod:`~benchmarks.speed.profile` are the suite's jobs,
:mod:`~benchmarks.speed.report` compares, :mod:`~benchmarks.speed.markdown` writes ``BENCHMARKS.md``)."""
