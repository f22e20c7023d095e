"""Loading a user's own quality predictions (from their checkpoint) for the downstream validations.

File format (JSON)::

    {"dimensions": [19 names], "predictions": {"<segment or recording id>": [19 floats], ...}}

``dimensions`` may be PercePiano's names or the widely copied shifted list (see
:mod:`datamodules.dimensions`); either way the i-th value means PercePiano index i.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from datamodules.dimensions import N_DIMENSIONS, canonical_names
from datamodules.errors import contract_error
from datamodules.jsonio import read_json


def load_quality_predictions(path: Path) -> dict[str, np.ndarray]:
    """Read predictions keyed by segment or recording id.

    Returns
    -------
    dict of str to ndarray of shape (19,)

    Raises
    ------
    FileNotFoundError, DataContractError
        On a missing file, unreadable JSON, missing fields, unknown dimension names, or a value list that is not
        19 finite numbers (the message names the file and id).
    """
    path = Path(path)
    payload = read_json(path)
    if not isinstance(payload, dict) or "dimensions" not in payload or "predictions" not in payload:
        raise contract_error(path, "expected an object with 'dimensions' (19 names) and 'predictions' ({id: [19]})")
    try:
        canonical_names(payload["dimensions"], source=f"{path}: 'dimensions'")
    except (ValueError, TypeError) as error:
        raise contract_error(path, str(error)) from None
    predictions = payload["predictions"]
    if not isinstance(predictions, dict) or not predictions:
        raise contract_error(path, "'predictions' must be a non-empty object {id: [19 floats]}")
    loaded = {}
    for key, values in predictions.items():
        if not isinstance(values, list) or len(values) != N_DIMENSIONS:
            raise contract_error(path, f"expected a list of {N_DIMENSIONS} numbers, got {values!r:.60}", key)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise contract_error(path, "has a non-numeric or non-finite value", key)
        loaded[key] = np.asarray(values, dtype=np.float64)
    return loaded
