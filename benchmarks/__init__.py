"""The application: entry points (`percepiano-bench COMMAND`, or `python -m benchmarks.run | extract | speed | ...`),
the orchestration of a run (:mod:`benchmarks.orchestration`), the report and the speed benchmark."""
