"""The configuration of one suite run, and its fingerprint for resume and refusal."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from analyses.defaults import RESAMPLE_DEFAULTS
from datamodules.clip import DEFAULT_CLIP
from datamodules.resident import RESIDENT_BYTES

SECTIONS: tuple[str, ...] = ("labels", "probing", "embedding", "downstream")
#: Settings that choose which units run, where and how fast, not what a unit computes (outside the fingerprint).
#: Where the trained probers' units run (``--executor``).
EXECUTORS: tuple[str, ...] = ("local", "ray")
UNFINGERPRINTED: tuple[str, ...] = ("out", "accelerator", "sections", "probes", "layer_sweep", "workers", "threads",
                                    "executor", "ray_address", "resident_mb")
#: The downstream quality prober: alpha chosen inside each training fold (the faithful alpha = 1 overfits 2 x D).
DEFAULT_QUALITY_PROBER = "ridge_tuned"
DEFAULT_PROBES: tuple[str, ...] = ("ridge", "ridge_tuned", "attention", "attention_es", "mlp", "mlp_es", "factor",
                                   "factor_leaky")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's results.

    Attributes
    ----------
    cache : Path or None
        Cache directory (``labels.json``, ``folds.json``, embeddings); None builds the synthetic default.
    out : Path
        Output directory (``audit.json``, ``report.md``, ``figures/``, ``tensorboard/``, ``sections/``).
    sections : tuple of str
        Subset of :data:`SECTIONS`, run in that order.
    probes : tuple of str
        Prober plugin names.
    seed : int
    folds_file, ratings, moments, competition : Path or None
        Overrides for inputs found in (or beside) the cache.
    masterclass_embeddings, competition_embeddings : Path or None
        Embeddings of the masterclass segments / competition recordings for the downstream sections: a ``.pt`` file
        or a store directory (``benchmarks.extract --audio-dir ... --out DIR``); default
        ``CACHE/masterclass_embeddings.pt`` and ``CACHE/competition_embeddings.pt``.
    layers : str
        Which layers of a multi-layer store every prober reads (:mod:`datamodules.layers`: ``"5"``, ``"9-12"``,
        ``"weighted"``, ``"default"``), for the downstream stores too.
    layer_sweep : tuple of str or None
        None: no sweep. Otherwise the probing section is also run for every layer of the store and for these extra
        selections (e.g. ``("9-12", "weighted")``), results in ``audit.json["layer_sweep"]``.
    quality_predictions : Path or None
        A user's predicted qualities (``{"dimensions": [...], "predictions": {id: [19]}}``) for the downstream
        validations, instead of the suite's own fold ensemble.
    quality_prober : str
        The prober whose fold ensemble predicts downstream qualities (default ``ridge_tuned``: alpha chosen inside
        each training fold; the faithful alpha = 1 overfits 2 x D features).
    synthetic_scale : str
        ``"default"`` or ``"real"`` (synthetic cache at the real dataset's scale).
    n_permutations, n_bootstrap, n_parallel, n_stability : int
        Resamples for the permutation test, bootstrap CIs, parallel analysis and the cluster bootstrap of the
        factor count.
    epochs_scale : float
        Multiplies every Lightning prober's epoch count (1.0 = the original recipe).
    prober_seeds : int
        Seeds per prober that takes one (``seed``, ``seed + 1``, ...): its statistics use the seed ensemble (the
        out-of-fold predictions averaged over seeds) and the report gives each seed's R2 beside it.
    accelerator : str
        Lightning accelerator (``"auto"``: cuda, mps, else cpu).
    clip : float or None
        Standardised features are clipped to ``[-clip, clip]`` training standard deviations in every fold and view
        (:class:`~datamodules.fold_datamodule.FoldDataModule`); None turns clipping off.
    prober_params : dict of str to dict
        Hyper-parameters per prober name (its ``__init__`` keywords, e.g. ``{"attention": {"lr": 5e-4}}``), used
        by every fit of that prober in the run; ``--epochs-scale`` then scales the ``max_epochs`` given here.
    workers, threads : int or None
        Worker processes for the trained probers' (prober, seed, fold) units and intra-op threads per unit
        (:func:`~benchmarks.orchestration.executor.thread_plan`: default one thread per unit, or ``OMP_NUM_THREADS``,
        and as many workers as the CPUs hold). They choose how units run, not what they compute.
    executor : {"local", "ray"}
        Where those units run: local worker processes (:mod:`~benchmarks.orchestration.executor`, the default, no
        Ray needed) or Ray tasks (:mod:`~benchmarks.orchestration.ray_executor`, the ``[ray]`` extra).
    ray_address : str or None
        A Ray cluster to join under ``executor="ray"``; None starts a local Ray on this machine for the run.
    resident_mb : int
        Frames view: a fold's dataset whose standardised float32 frames fit in this many MiB is read once and kept
        in memory, a larger one read from the store batch by batch (``FoldDataModule``'s ``resident_bytes``; 0:
        always batch by batch). Memory against speed; the batches, and so the results, are the same.
    prober_plugins : dict of str to str
        Prober classes that are not installed as entry points, by name: ``{"my_probe": "my_package.probes:MyProber"}``
        (a configuration file's ``class_path`` entries).
    """

    cache: Path | None = None
    out: Path = Path("runs/default")
    sections: tuple[str, ...] = SECTIONS
    probes: tuple[str, ...] = DEFAULT_PROBES
    seed: int = 0
    folds_file: Path | None = None
    ratings: Path | None = None
    moments: Path | None = None
    competition: Path | None = None
    masterclass_embeddings: Path | None = None
    competition_embeddings: Path | None = None
    layers: str = "default"
    layer_sweep: tuple[str, ...] | None = None
    quality_predictions: Path | None = None
    quality_prober: str = DEFAULT_QUALITY_PROBER
    synthetic_scale: str = "default"
    n_permutations: int = RESAMPLE_DEFAULTS["n_permutations"]
    n_bootstrap: int = RESAMPLE_DEFAULTS["n_bootstrap"]
    n_parallel: int = RESAMPLE_DEFAULTS["n_parallel"]
    n_stability: int = RESAMPLE_DEFAULTS["n_stability"]
    epochs_scale: float = 1.0
    prober_seeds: int = 1
    accelerator: str = "auto"
    clip: float | None = DEFAULT_CLIP
    prober_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    prober_plugins: dict[str, str] = field(default_factory=dict)
    workers: int | None = None
    threads: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    resident_mb: int = RESIDENT_BYTES // 2**20

    def __post_init__(self) -> None:
        unknown = [name for name in self.sections if name not in SECTIONS]
        if unknown:
            raise ValueError(f"unknown sections {unknown}; expected names from {list(SECTIONS)}")
        if self.synthetic_scale not in ("default", "real"):
            raise ValueError(f"synthetic_scale must be 'default' or 'real', got {self.synthetic_scale!r}")
        for name in ("n_permutations", "n_bootstrap", "n_parallel", "n_stability"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.prober_seeds < 1:
            raise ValueError(f"prober_seeds must be >= 1, got {self.prober_seeds}")
        if self.epochs_scale <= 0:
            raise ValueError(f"epochs_scale must be > 0, got {self.epochs_scale}")
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if isinstance(self.resident_mb, bool) or not isinstance(self.resident_mb, int) or self.resident_mb < 0:
            raise ValueError(f"resident_mb must be a non-negative integer (MiB), got {self.resident_mb!r}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {self.executor!r}")
        if self.ray_address is not None and self.executor != "ray":
            raise ValueError(f"ray_address={self.ray_address!r} is given, but executor={self.executor!r}: a cluster "
                             "address needs executor 'ray'")
        if self.clip is not None and not self.clip > 0:
            raise ValueError("clip must be > 0 (training standard deviations) or None for no clipping, "
                             f"got {self.clip}")
        for name in {**self.prober_params, **self.prober_plugins}:
            if name not in self.probes:
                raise ValueError(f"hyper-parameters or a class path are given for prober {name!r}, which is not among "
                                 f"the run's probers {list(self.probes)}")
        for name, params in self.prober_params.items():
            if not isinstance(params, dict) or not all(isinstance(key, str) for key in params):
                raise ValueError(f"prober_params[{name!r}] must map hyper-parameter names to values, got {params!r}")
            if "seed" in params:
                raise ValueError(f"prober_params[{name!r}] sets 'seed'; the run's seed and prober_seeds choose seeds")
        for name, class_path in self.prober_plugins.items():
            if not isinstance(class_path, str) or not class_path:
                raise ValueError(f"prober_plugins[{name!r}] must be a class path 'module:Class', got {class_path!r}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Every setting's name, in declaration order."""
        return tuple(item.name for item in fields(cls))

    def datamodule_kwargs(self) -> dict:
        """The :class:`~datamodules.fold_datamodule.FoldDataModule` settings every fit of the run uses."""
        return {"clip": self.clip, "resident_bytes": self.resident_mb * 2**20}

    def to_dict(self) -> dict:
        """JSON form (paths as strings)."""
        return {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(self).items()}

    def fingerprint(self) -> str:
        """SHA-256 over the settings that change any unit's result.

        Excluded (:data:`UNFINGERPRINTED`): the output directory, the accelerator, workers and threads, and which
        sections, probers and layer-sweep selections run (they choose units of work and where they run, not how a
        unit computes), so a later run may add sections or probers to an output directory.
        """
        excluded = UNFINGERPRINTED
        payload = {key: value for key, value in self.to_dict().items() if key not in excluded}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()
