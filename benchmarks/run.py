"""``python -m benchmarks.run``: the whole audit in one command.

With no arguments it builds (or reuses) the synthetic default cache under ``--out`` and runs every section.
``--cache DIR`` points at a real cache (``labels.json``, ``folds.json``, optionally ``muq_embeddings.pt`` or a
``store/`` directory, ``total_2rounds.csv``, ``all_moments.jsonl``, ``recordings.jsonl``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.config import DEFAULT_PROBES, SECTIONS, RunConfig
from benchmarks.output_guard import ConfigurationChangedError
from datamodules.errors import DataContractError
from datamodules.layers import LayerSelectionError
from datamodules.clip import DEFAULT_CLIP


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _clip(text: str) -> float | None:
    """``--clip``: a positive number of training standard deviations, or ``off``/``none``."""
    if text.strip().lower() in ("off", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number or 'off'") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive finite number or 'off'")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, help="cache directory (default: the synthetic default cache)")
    parser.add_argument("--out", type=Path, default=Path("runs/default"), help="output directory (default: %(default)s)")
    parser.add_argument("--sections", type=_names, default=SECTIONS,
                        help=f"comma-separated sections from {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--probes", type=_names, default=DEFAULT_PROBES,
                        help=f"comma-separated prober plugin names (default: {','.join(DEFAULT_PROBES)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", dest="folds_file", type=Path, help="fold file to use instead of CACHE/folds.json")
    parser.add_argument("--ratings", type=Path, help="raw ratings CSV (total_2rounds.csv format)")
    parser.add_argument("--moments", type=Path, help="masterclass moments JSONL (all_moments.jsonl format)")
    parser.add_argument("--competition", type=Path, help="competition recordings JSONL (recordings.jsonl format)")
    parser.add_argument("--masterclass-embeddings", type=Path,
                        help="masterclass segment embeddings: a .pt file or a store directory from benchmarks.extract "
                             "(default: CACHE/masterclass_embeddings.pt)")
    parser.add_argument("--competition-embeddings", type=Path,
                        help="competition recording embeddings: a .pt file or a store directory "
                             "(default: CACHE/competition_embeddings.pt)")
    parser.add_argument("--layers", default="default",
                        help="layers of a multi-layer store the probers read: one ('5', 'note'), the mean of a range "
                             "('9-12') or list ('9,11'), or 'weighted' (learned softmax weights; default: the "
                             "store's default)")
    parser.add_argument("--layer-sweep", nargs="*", default=None, metavar="SELECTION",
                        help="also probe every layer of a multi-layer store, and these extra selections (e.g. "
                             "9-12 weighted); results in audit.json layer_sweep, a heatmap per prober")
    parser.add_argument("--quality-predictions", type=Path,
                        help="your own predicted qualities for the downstream sections (JSON; see README)")
    parser.add_argument("--quality-prober", default="ridge_tuned",
                        help="prober whose fold ensemble predicts downstream qualities (default: %(default)s)")
    parser.add_argument("--scale", dest="synthetic_scale", choices=("default", "real"), default="default",
                        help="size of the synthetic cache when --cache is not given")
    parser.add_argument("--permutations", dest="n_permutations", type=int, default=1000,
                        help="label permutations per prober for the audibility test (min p = 1/(N+1); BH runs over "
                             "every prober x dimension, so N must be large)")
    parser.add_argument("--bootstrap", dest="n_bootstrap", type=int, default=1000)
    parser.add_argument("--parallel-simulations", dest="n_parallel", type=int, default=1000)
    parser.add_argument("--stability-resamples", dest="n_stability", type=int, default=100,
                        help="cluster-bootstrap resamples of the factor count (per grouping)")
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="multiply every trained prober's epochs (1.0 = the original recipe)")
    parser.add_argument("--prober-seeds", dest="prober_seeds", type=int, default=1,
                        help="seeds per trained prober: statistics on the seed ensemble, each seed's R2 reported")
    parser.add_argument("--clip", type=_clip, default=DEFAULT_CLIP, metavar="Z",
                        help="clip standardised features to +-Z training standard deviations in every fold and view "
                             "(default: %(default)s; 'off' for none)")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto (cuda, mps, else cpu), cpu, ...")
    parser.add_argument("--force", action="store_true", help="discard results of another configuration in --out")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    force = arguments.force
    settings = {key: value for key, value in vars(arguments).items() if key != "force"}
    if settings["layer_sweep"] is not None:
        settings["layer_sweep"] = tuple(settings["layer_sweep"])
    command = [Path(sys.executable).name, "-m", "benchmarks.run", *(sys.argv[1:] if argv is None else argv)]
    try:
        config = RunConfig(**settings)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from benchmarks.summary import print_summary  # torch and Lightning load only once the arguments parse
    from benchmarks.suite import run_suite
    from probes.registry import UnknownProberError

    try:
        audit = run_suite(config, force=force, command=command)
    except (DataContractError, ConfigurationChangedError, FileNotFoundError, UnknownProberError, LayerSelectionError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_summary(audit, config.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
