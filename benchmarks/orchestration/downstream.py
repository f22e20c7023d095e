"""The downstream fits: predicted qualities of the masterclass segments and competition recordings.

Run after the probing fit and before the post-fit callbacks, which only read what this module leaves in
``context.inputs["quality"]`` (:class:`~analyses.callbacks.downstream_inputs.QualityScores` per embeddings input)
and ``context.inputs["quality_prober_r2"]``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from analyses.callbacks.downstream_inputs import QualityScores, downstream_store
from analyses.context import AuditContext
from analyses.probe_metrics import probe_scores
from benchmarks.config import RunConfig
from benchmarks.console import detail
from benchmarks.orchestration.cross_validation import cross_validate
from benchmarks.orchestration.ensemble import predict_keys
from benchmarks.orchestration.probing import prober_kwargs, seed_runs
from datamodules.inputs.competition import load_recordings
from datamodules.inputs.masterclass import load_moments, segment_moments
from datamodules.inputs.quality_predictions import load_quality_predictions


def run_downstream_fits(context: AuditContext, config: RunConfig) -> None:
    """Predict the qualities of every downstream input present, and the quality prober's probing R2."""
    scores: dict[str, QualityScores] = {}
    if context.inputs.get("moments") is not None:
        keys = segment_moments(load_moments(Path(context.inputs["moments"]))).keys
        scores["masterclass_embeddings"] = quality_scores(context, config, keys, "masterclass_embeddings")
    if context.inputs.get("competition") is not None:
        keys = load_recordings(Path(context.inputs["competition"])).recording_ids
        scores["competition_embeddings"] = quality_scores(context, config, keys, "competition_embeddings")
    context.inputs["quality"] = scores
    if "masterclass_embeddings" in scores and context.cache.store is not None:
        context.inputs["quality_prober_r2"] = quality_prober_r2(context, config)
    detail(f"downstream qualities: {', '.join(f'{name}: {score.source}' for name, score in scores.items()) or 'none'}")


def quality_scores(context: AuditContext, config: RunConfig, keys: list[str] | tuple[str, ...],
                   embeddings_input: str) -> QualityScores:
    """Predicted 19-dimensional quality of ``keys`` (segment or recording ids).

    From the user's ``--quality-predictions`` file when given, else from the quality prober fitted on each
    PercePiano fold (with the run's hyper-parameters, epochs scale, accelerator and seeds; predictions averaged),
    reading the embeddings input ``embeddings_input`` of ``context.inputs``.
    """
    keys = tuple(keys)
    if config.quality_predictions is not None:
        loaded = load_quality_predictions(Path(config.quality_predictions))
        found = np.array([key in loaded for key in keys], dtype=bool)
        quality = np.array([loaded[key] for key in keys if key in loaded]).reshape(-1, 19)
        n_other = len(set(loaded) - set(keys))
        return QualityScores(keys, quality, found, f"user predictions file {config.quality_predictions} "
                             f"({int(found.sum())} of {len(keys)} ids found; {n_other} of its {len(loaded)} entries "
                             "are not ids of this section)")
    path = context.inputs.get(embeddings_input)
    if path is None or context.cache.store is None:
        reason = f"no {embeddings_input.replace('_', ' ')} file" if path is None else "the cache has no embeddings"
        return QualityScores(keys, None, np.zeros(len(keys), dtype=bool), reason)
    store = downstream_store(context, embeddings_input)
    prober = config.quality_prober
    seeds = [seed for seed, _ in seed_runs(prober, config)]
    runs = [predict_keys(prober, context.cache, store, keys, seed=seed, datamodule_kwargs=config.datamodule_kwargs(),
                         **prober_kwargs(prober, config)) for seed in seeds]
    quality, found = np.mean([predictions for predictions, _ in runs], axis=0), runs[0][1]
    return QualityScores(keys, quality, found, f"{prober} prober fitted on each of the {len(context.cache.folds)} "
                         "PercePiano folds" + (f" with each of {len(seeds)} seeds" if len(seeds) > 1 else "")
                         + f", predictions averaged (ensemble), from {Path(path).name}")


def quality_prober_r2(context: AuditContext, config: RunConfig) -> np.ndarray:
    """Pooled out-of-fold R2 per dimension, shape ``(19,)``, of the quality prober: from the probing fit when it
    ran that prober, else from the prober's own (resumable) cross-validation."""
    prober = config.quality_prober
    ensemble = context.predictions.get(prober)
    if ensemble is None:
        runs = [cross_validate(prober, context.cache, directory, seed=seed,
                               datamodule_kwargs=config.datamodule_kwargs(),
                               trainer_kwargs={"enable_progress_bar": False}, **prober_kwargs(prober, config))
                for seed, directory in seed_runs(prober, config)]
        ensemble = dataclasses.replace(runs[0], predictions=np.mean([run.predictions for run in runs], axis=0))
    return probe_scores(*ensemble.scored(context.cache.labels)).r2_pooled
