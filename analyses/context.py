"""What the post-fit audit callbacks read: the cache, the probers' out-of-fold predictions, inputs and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyses.defaults import RESAMPLE_DEFAULTS
from datamodules.cache import PercepianoCache


@dataclass
class AuditContext:
    """Shared state of one suite run, handed to every audit callback.

    Attributes
    ----------
    cache : PercepianoCache
        Labels, folds, embeddings and the alignment report.
    out_dir : Path
        The run's output directory; sections write to ``out_dir / "sections"``, figures to ``out_dir / "figures"``.
    seed : int
    settings : dict
        The run configuration (``RunConfig.to_dict()``): resample counts and input overrides.
    fingerprint : str
        Configuration fingerprint; a stored section with another fingerprint is recomputed.
    predictions : dict
        Prober name -> out-of-fold predictions (filled by the probing step before the callbacks run).
    inputs : dict of str to Path or None
        Optional inputs: ``ratings``, ``moments``, ``competition``, ``masterclass_embeddings``,
        ``competition_embeddings``, ``folds_files`` (list of fold files to audit).
    results : dict
        Section key -> JSON-able result, filled as sections finish (later sections may read earlier ones).
    stores : dict
        Input name -> opened embedding store (downstream inputs are converted once per run).
    """

    cache: PercepianoCache
    out_dir: Path
    seed: int
    settings: dict
    fingerprint: str
    predictions: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    stores: dict[str, Any] = field(default_factory=dict)

    def n_resamples(self, name: str) -> int:
        """The run's resample count ``name`` (a key of :data:`~analyses.defaults.RESAMPLE_DEFAULTS`), else its
        default."""
        return int(self.settings.get(name, RESAMPLE_DEFAULTS[name]))

    @property
    def sections_dir(self) -> Path:
        return self.out_dir / "sections"

    @property
    def figures_dir(self) -> Path:
        return self.out_dir / "figures"
