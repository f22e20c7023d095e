"""Cross-SoundFont check: probers fitted on one rendering of the training folds predict another rendering of the
validation folds (``python -m benchmarks.cross_soundfont``).

Example (basic-pitch note frames of FluidR3 and MuseScore renders of the same 1,202 MIDI files)::

    python -m benchmarks.cross_soundfont --cache runs/basic-pitch --other runs/basic-pitch-musescore \\
        --probes ridge_tuned,mlp_es,attention_es --prober-seeds 3 --layers note --out runs/cross-soundfont

For every prober, each fold model predicts its validation segments from both renderings (one fit, two inputs;
:mod:`benchmarks.orchestration.cross_store`), predictions are averaged over seeds, and the drop (same-SoundFont pooled
R2 minus cross-SoundFont pooled R2) gets a paired excerpt-bootstrap interval per dimension and for the mean over
dimensions. Writes ``OUT/cross_soundfont.json``; resumable per (prober, seed, fold).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analyses.uncertainty import paired_group_bootstrap
from benchmarks.config import RunConfig
from benchmarks.orchestration.cross_store import cross_store_predictions
from benchmarks.orchestration.cross_validation import build_prober
from benchmarks.orchestration.probing import prober_kwargs
from datamodules.cache import PercepianoCache, open_cache
from datamodules.embeddings import open_embeddings
from datamodules.jsonio import write_json_atomic
from datamodules.store import EmbeddingStore


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cross_soundfont", description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="cache whose store trains the probers")
    parser.add_argument("--other", type=Path, required=True, help="store (or cache directory) of the other rendering")
    parser.add_argument("--probes", default="ridge_tuned", help="comma-separated probers (default: %(default)s)")
    parser.add_argument("--prober-seeds", type=int, default=1, help="seeds per prober that takes one")
    parser.add_argument("--layers", default="default", help="layer selection of both stores")
    parser.add_argument("--bootstrap", type=int, default=1000, help="excerpt bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)


def cross_soundfont(args: argparse.Namespace) -> dict:
    """The check's JSON payload (module docstring)."""
    cache = open_cache(args.cache, layers=args.layers)
    other = open_embeddings(args.other, args.out / "other_store", cache.store.selection)
    config = RunConfig(cache=args.cache, out=args.out, seed=args.seed, accelerator=args.accelerator)
    groups = np.asarray(cache.excerpts)
    probers = {}
    for name in [item.strip() for item in args.probes.split(",") if item.strip()]:
        started = time.perf_counter()
        kwargs = prober_kwargs(name, config)
        takes_seed = "seed" in build_prober(name, 0).get_params()
        seeds = [args.seed + offset for offset in range(args.prober_seeds if takes_seed else 1)]
        runs = [cross_store_predictions(name, cache, other, args.out / "folds", seed=seed,
                                        trainer_kwargs={"enable_progress_bar": False},
                                        datamodule_kwargs=config.datamodule_kwargs(), **kwargs) for seed in seeds]
        first = runs[0]
        same = np.mean([run.same for run in runs], axis=0)
        cross = np.mean([run.cross for run in runs], axis=0)
        restandardized = np.mean([run.cross_restandardized for run in runs], axis=0)
        labels = cache.labels[first.rows]
        paired = paired_group_bootstrap(labels, same, cross, groups[first.rows], n_resamples=args.bootstrap,
                                        seed=args.seed)
        adapted = paired_group_bootstrap(labels, same, restandardized, groups[first.rows], n_resamples=args.bootstrap,
                                         seed=args.seed)
        adapted_mean = adapted.bootstrap_distribution.mean(axis=1)
        mean_drop = paired.bootstrap_distribution.mean(axis=1)
        low, high = np.nanquantile(mean_drop, [0.025, 0.975])
        probers[name] = {
            "seeds": seeds, "n_rows": int(first.rows.size), "missing_keys": list(first.missing_keys),
            "same_r2": paired.statistic_a.tolist(), "cross_r2": paired.statistic_b.tolist(),
            "drop": paired.statistic.tolist(), "drop_ci_low": paired.ci_low.tolist(),
            "drop_ci_high": paired.ci_high.tolist(), "drop_pvalue": paired.pvalue.tolist(),
            "mean_same_r2": float(paired.statistic_a.mean()), "mean_cross_r2": float(paired.statistic_b.mean()),
            "mean_drop": float(paired.statistic.mean()), "mean_drop_ci": [float(low), float(high)],
            "cross_restandardized_r2": adapted.statistic_b.tolist(),
            "mean_cross_restandardized_r2": float(adapted.statistic_b.mean()),
            "mean_drop_restandardized": float(adapted.statistic.mean()),
            "mean_drop_restandardized_ci": [float(value) for value in np.nanquantile(adapted_mean, [0.025, 0.975])],
            "protocol": (f"{len(cache.folds)} folds of {args.cache}; each fold model predicts its validation rows "
                         "from both stores (the other through the training store's standardisation, and, "
                         "'restandardized', through its own training rows' statistics); predictions averaged over "
                         f"{len(seeds)} seed(s); {paired.protocol}"),
            "seconds": time.perf_counter() - started,
        }
        write_json_atomic(args.out / "cross_soundfont.json", _payload(args, cache, other, probers))  # after each prober
        print(f"{name}: same {probers[name]['mean_same_r2']:.3f}, cross {probers[name]['mean_cross_r2']:.3f}, drop "
              f"{probers[name]['mean_drop']:.3f} [{low:.3f}, {high:.3f}]; cross restandardised "
              f"{probers[name]['mean_cross_restandardized_r2']:.3f} ({probers[name]['seconds']:.0f} s)", flush=True)
    return _payload(args, cache, other, probers)


def _payload(args: argparse.Namespace, cache: PercepianoCache, other: EmbeddingStore, probers: dict) -> dict:
    return {"cache": str(args.cache), "train_store": cache.store.identity(), "other_store": str(other.store_dir),
            "other_source": other.manifest.get("source"), "layers": cache.store.selection.spec, "probers": probers}


def main(argv: Sequence[str] | None = None) -> int:
    cross_soundfont(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
