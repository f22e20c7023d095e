"""Entry points: ``python -m benchmarks.run`` (the suite), ``benchmarks.extract`` and ``benchmarks.speed``."""
