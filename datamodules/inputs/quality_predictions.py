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
    if not isinstance(payload["dimensions"], list) or len(payload["dimensions"]) != N_DIMENSIONS:
        names = payload["dimensions"]
        got = f"{len(names)} names" if isinstance(names, list) else type(names).__name__
        raise contract_error(path, f"'dimensions' must be a list of {N_DIMENSIONS} names, got {got}")
    try:
        canonical_names(payload["dimensions"], source="'dimensions'")
    except (ValueError, TypeError) as error:
        raise contract_error(path, str(error)) from None
    predictions = payload["predictions"]
    if not isinstance(predictions, dict) or not predictions:
        raise contract_error(path, "'predictions' must be a non-empty object {id: [19 floats]}")
    loaded = {}
    for key, values in predictions.items():
        if not isinstance(values, list) or len(values) != N_DIMENSIONS:
            raise contract_error(path, f"expected a list of {N_DIMENSIONS} numbers, got {values!r:.60}", key)
        for position, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise contract_error(path, f"value {position} is {value!r}, expected a finite number", key)
        loaded[key] = np.asarray(values, dtype=np.float64)
    return loaded
