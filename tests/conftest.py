"""Shared fixtures. Tests that need the real data in ``../shared/data`` take ``real_data_dir``.

``.ci/run`` sets ``PERCEPIANO_BENCH_DATA`` to that directory; elsewhere these tests skip with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_ENV = "PERCEPIANO_BENCH_DATA"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Root of the shared real data (holds ``crescendai/`` and ``percepiano/``), or skip."""
    value = os.environ.get(DATA_ENV)
    if not value:
        pytest.skip(f"real data not available: set {DATA_ENV} to the shared data directory (../shared/data)")
    root = Path(value)
    if not (root / "crescendai" / "percepiano" / "labels.json").is_file():
        pytest.skip(f"real data not available: {DATA_ENV}={value} has no crescendai/percepiano/labels.json")
    return root
