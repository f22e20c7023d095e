"""Run the suite: resolve the cache, fit the probers fold by fold, fire the post-fit audit callbacks, write results."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import lightning as L

from analyses.context import AuditContext
from benchmarks.config import RunConfig
from benchmarks.console import ProgressLine, detail, say
from benchmarks.orchestration.audit_trainer import run_audit_callbacks
from benchmarks.orchestration.downstream import run_downstream_fits
from benchmarks.orchestration.executor import compute_threads, phase_threads
from benchmarks.orchestration.layer_sweep import run_layer_sweep
from benchmarks.orchestration.output_guard import claim_output_directory
from benchmarks.orchestration.probing import check_prober_settings, describe_executor, run_probing, run_thread_plan
from benchmarks.orchestration.provenance import input_hashes, provenance
from benchmarks.orchestration.sections import callbacks_for
from benchmarks.report import write_report
from datamodules.cache import (
    COMPETITION_EMBEDDINGS_FILE,
    EMBEDDINGS_FILE,
    FOLDS_FILE,
    LABELS_FILE,
    MASTERCLASS_EMBEDDINGS_FILE,
    MOMENTS_FILE,
    RATINGS_FILE,
    RECORDINGS_FILE,
    STORE_DIR,
    PercepianoCache,
    open_cache,
)
from datamodules.embeddings import open_embeddings, store_manifest_path
from datamodules.errors import contract_error
from datamodules.fold_datamodule import standardization_counts
from datamodules.inputs.competition import load_recordings
from datamodules.inputs.masterclass import load_moments
from datamodules.inputs.quality_predictions import load_quality_predictions
from datamodules.inputs.ratings import load_ratings
from datamodules.jsonio import write_json_atomic

#: Optional inputs looked for inside the cache directory when no override is given.
CACHE_INPUTS: dict[str, str] = {
    "ratings": RATINGS_FILE,
    "moments": MOMENTS_FILE,
    "competition": RECORDINGS_FILE,
    "masterclass_embeddings": MASTERCLASS_EMBEDDINGS_FILE,
    "competition_embeddings": COMPETITION_EMBEDDINGS_FILE,
}
#: ``audit.json`` keys in the original notebook's order, then the suite's own.
ORIGINAL_KEYS: tuple[str, ...] = (
    "correlation", "pca", "distributions", "ridge_probing", "attention_probing", "mlp_probing", "factor_probing",
    "residuals", "cca", "stop_prediction", "competition_validation",
)


def run_suite(config: RunConfig, force: bool = False, command: list[str] | None = None) -> dict:
    """Run every requested section and write ``audit.json``, ``report.md``, figures and TensorBoard logs.

    Returns
    -------
    dict
        The ``audit.json`` payload.
    """
    started = time.perf_counter()
    check_prober_settings(config)
    claim_output_directory(config, force)
    L.seed_everything(config.seed, workers=True, verbose=False)  # global RNGs; every component also takes the seed
    timings: dict[str, float] = {}
    cache_dir = _resolve_cache_dir(config, timings)
    needs_embeddings = any(section in config.sections for section in ("probing", "embedding", "downstream"))
    tick = time.perf_counter()
    cache = open_cache(cache_dir, config.folds_file, embeddings=needs_embeddings,
                       store_dir=_store_dir(cache_dir, config), layers=config.layers)
    timings["open_cache"] = time.perf_counter() - tick
    if {"probing", "embedding"} & set(config.sections):
        check_probeable(cache)
    say(f"cache {cache_dir}: {cache.n_segments} segments, {len(cache.folds)} folds")
    detail("; ".join(cache.alignment.summary_lines()))
    context = AuditContext(
        cache=cache, out_dir=Path(config.out), seed=config.seed, settings=config.to_dict(),
        fingerprint=config.fingerprint(), inputs=_inputs(config, cache_dir),
    )
    context.fingerprint = _data_fingerprint(context, config, cache)
    check_inputs(context.inputs, config, cache)
    if "probing" in config.sections:
        tick = time.perf_counter()
        run_probing(context, config)
        timings["probing_fit"] = time.perf_counter() - tick
        if config.layer_sweep is not None:
            tick = time.perf_counter()
            run_layer_sweep(context, config)
            timings["layer_sweep_fit"] = time.perf_counter() - tick
    plan, main_threads = run_thread_plan(config), context.inputs.setdefault("main_threads", {})
    if "downstream" in config.sections:
        tick = time.perf_counter()
        with compute_threads(phase_threads(plan, "downstream", main_threads)):
            run_downstream_fits(context, config)
        timings["downstream_fit"] = time.perf_counter() - tick
    tick = time.perf_counter()
    with compute_threads(phase_threads(plan, "post-fit analyses", main_threads)):
        _run_post_fit_analyses(context, config)
    timings["post_fit_callbacks"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    audit = _assemble(context, config, cache, timings, command)
    write_json_atomic(Path(config.out) / "audit.json", audit)
    write_report(audit, Path(config.out))
    return audit


def _run_post_fit_analyses(context: AuditContext, config: RunConfig) -> None:
    """Fire each section's callbacks in turn; one progress line over the sections."""
    line = ProgressLine("post-fit analyses", len(config.sections), unit="sections")
    seconds: list[str] = []
    n_computed = n_resumed = 0
    for section in config.sections:
        started = time.perf_counter()
        callbacks = callbacks_for(section, config)
        run_audit_callbacks(context, callbacks, Path(config.out) / "tensorboard")
        n_computed += sum(len(callback.completed) for callback in callbacks)
        n_resumed += sum(len(callback.resumed) for callback in callbacks)
        line.advance(resumed=False)
        seconds.append(f"{section} {time.perf_counter() - started:.1f} s")
    line.close(f" ({', '.join(seconds)})", summary=f"{n_computed} results computed, {n_resumed} resumed")


def _resolve_cache_dir(config: RunConfig, timings: dict[str, float]) -> Path:
    if config.cache is not None:
        return Path(config.cache)
    from datamodules.synthetic import SyntheticSpec, generate_synthetic_cache

    spec = SyntheticSpec.real_scale() if config.synthetic_scale == "real" else SyntheticSpec()
    tick = time.perf_counter()
    detail(f"building (or reusing) the synthetic {config.synthetic_scale} cache")
    directory = generate_synthetic_cache(Path(config.out) / f"synthetic_cache_{config.synthetic_scale}", spec,
                                         config.seed)
    timings["synthetic_cache"] = time.perf_counter() - tick
    return Path(directory)


def _store_dir(cache_dir: Path, config: RunConfig) -> Path:
    """The store goes beside the embeddings when that directory is writable, else into the output directory."""
    return cache_dir / STORE_DIR if os.access(cache_dir, os.W_OK) else Path(config.out) / STORE_DIR


def _inputs(config: RunConfig, cache_dir: Path) -> dict[str, object]:
    inputs: dict[str, object] = {}
    for name, filename in CACHE_INPUTS.items():
        override = getattr(config, name, None)
        candidate = Path(override) if override is not None else cache_dir / filename
        exists = candidate.is_file() or (name.endswith("_embeddings") and candidate.is_dir())
        if override is not None and not exists:
            raise FileNotFoundError(f"--{name.replace('_', '-')} {candidate}: file not found")
        inputs[name] = candidate if exists else None
    folds_files = sorted(cache_dir.glob("*folds*.json"))
    if config.folds_file is not None and Path(config.folds_file) not in folds_files:
        folds_files.insert(0, Path(config.folds_file))
    inputs["folds_files"] = folds_files
    inputs["cache_dir"] = cache_dir
    return inputs


def _data_fingerprint(context: AuditContext, config: RunConfig, cache: PercepianoCache) -> str:
    """The configuration fingerprint extended by the content of every input file.

    Stored sections and permutation nulls are reused only under this fingerprint, so editing an input in place
    (same path, other content) recomputes them instead of resuming results of the old content.
    """
    hashes = {name: None if value is None else value["sha256"]
              for name, value in input_hashes(_hashed_inputs(context, config)).items()}
    source = None if cache.store is None else cache.store.identity()
    payload = json.dumps({"config": config.fingerprint(), "inputs": hashes, "embeddings": source},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _hashed_inputs(context: AuditContext, config: RunConfig) -> dict[str, Path | None]:
    cache_dir = Path(context.inputs["cache_dir"])
    return {
        "labels": cache_dir / LABELS_FILE,
        "folds": Path(config.folds_file) if config.folds_file else cache_dir / FOLDS_FILE,
        **{name: None if context.inputs.get(name) is None else store_manifest_path(Path(context.inputs[name]))
           for name in CACHE_INPUTS},
        "quality_predictions": config.quality_predictions,
    }


def check_probeable(cache: PercepianoCache) -> None:
    """Refuse a cache the probing and embedding sections cannot use: no embeddings, or a fold left empty.

    Raises
    ------
    DataContractError
        If the cache has no embeddings, or a fold keeps no train or no val key with embeddings (naming the fold,
        the part and a key).
    """
    if cache.store is None:
        raise contract_error(cache.directory, f"no embeddings ({EMBEDDINGS_FILE} or {STORE_DIR}/), which the probing "
                             "and embedding sections need; add them, or run --sections labels")
    for index, (split, (train, val)) in enumerate(zip(cache.fold_splits, cache.folds, strict=True)):
        if len(train) == 0 or len(val) == 0:
            part, keys = ("train", split.train) if len(train) == 0 else ("val", split.val)
            source = cache.store.manifest.get("source", {}).get("path", cache.store.store_dir)
            raise contract_error(source, f"none of the {len(keys)} '{part}' keys of fold {index} has embeddings "
                                 f"(e.g. {keys[0]!r}); the fold cannot be fitted or scored")


def check_inputs(inputs: dict[str, object], config: RunConfig, cache: PercepianoCache) -> None:
    """Parse every optional input the requested sections read, so that a bad file stops the run at once.

    The sections parse them again when they run (after the probing fit, which may take hours); a broken file
    found only then would waste the fit. Embedding files are converted into the stores the sections reuse.

    Raises
    ------
    FileNotFoundError
        If ``--quality-predictions`` names a missing file.
    DataContractError
        From the loaders, naming the file, line or key and the problem; also for a ratings file none of whose
        keys is labelled, and for downstream embeddings whose D differs from the cache's.
    """
    if "labels" in config.sections and inputs.get("ratings") is not None:
        ratings = load_ratings(Path(inputs["ratings"]))
        if not set(ratings.keys) & set(cache.label_table.keys):
            raise contract_error(inputs["ratings"], f"none of its {len(ratings.keys)} rated keys (e.g. "
                                 f"{ratings.keys[0]!r}) is in {cache.label_table.source}; expected the same segments")
    if "downstream" not in config.sections:
        return
    if inputs.get("moments") is not None:
        load_moments(Path(inputs["moments"]))
    if inputs.get("competition") is not None:
        load_recordings(Path(inputs["competition"]))
    if config.quality_predictions is not None:
        if not Path(config.quality_predictions).is_file():
            raise FileNotFoundError(f"--quality-predictions {config.quality_predictions}: file not found")
        load_quality_predictions(Path(config.quality_predictions))
    for name in ("masterclass_embeddings", "competition_embeddings"):
        if inputs.get(name) is not None:
            store = open_embeddings(Path(inputs[name]), Path(config.out) / "stores" / name,
                                    "default" if cache.store is None else cache.store.selection)
            if cache.store is not None and store.dim != cache.store.dim:
                raise contract_error(inputs[name], f"has D = {store.dim}, but the cache's embeddings have "
                                     f"D = {cache.store.dim}; expected embeddings of the same model")


def _assemble(context: AuditContext, config: RunConfig, cache: PercepianoCache, timings: dict,
              command: list[str] | None) -> dict:
    run_block = provenance(config.seed, _hashed_inputs(context, config), timings)
    run_block["command"] = command
    run_block["config"] = config.to_dict()
    run_block["fingerprint"] = config.fingerprint()
    run_block["executor"] = describe_executor(config)
    run_block["main_threads"] = context.inputs.get("main_threads", {})
    run_block["failed_trials"] = [failure.to_dict() for failure in context.inputs.get("failed_trials", [])]
    if context.inputs.get("executor_runs"):
        run_block["executor_runs"] = context.inputs["executor_runs"]
    if context.inputs.get("unit_times"):
        run_block["unit_times"] = context.inputs["unit_times"]
    if cache.store is not None:
        run_block["embeddings"] = {"store": str(cache.store.store_dir), "source": cache.store.manifest.get("source"),
                                   "dim": cache.store.dim, "n_frames": int(cache.store.offsets[-1]),
                                   "layers": {"available": list(cache.store.layer_names),
                                              "selection": cache.store.selection.spec,
                                              "kind": cache.store.selection.kind,
                                              "served": cache.store.selection.describe()}}
    run_block["alignment"] = cache.alignment.to_dict()
    if cache.store is not None:
        run_block["standardization"] = {
            **standardization_counts(cache, config.clip), "clip": config.clip,
            "rule": ("per fold, features are standardised with the training rows' mean and standard deviation; "
                     "features with no variance there keep scale 1 (as StandardScaler, 'constant'); "
                     + (f"standardised values are clipped to +-{config.clip:g} ('clipped': features with some value "
                        "of the fold's rows beyond it)" if config.clip is not None else "no clipping"))}
    ordered = {key: context.results[key] for key in ORIGINAL_KEYS if key in context.results}
    ordered.update({key: value for key, value in context.results.items() if key not in ordered})
    return {**ordered, "run": run_block}
