"""``python -m benchmarks.run``: the whole audit in one command.

With no arguments it builds (or reuses) the synthetic default cache under ``--out`` and runs every section.
``--cache DIR`` points at a real cache (``labels.json``, ``folds.json``, optionally ``muq_embeddings.pt`` or a
``store/`` directory, ``total_2rounds.csv``, ``all_moments.jsonl``, ``recordings.jsonl``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.config import DEFAULT_PROBES, EXECUTORS, SECTIONS, RunConfig
from benchmarks.orchestration.output_guard import ConfigurationChangedError
from datamodules.errors import DataContractError
from datamodules.layers import LayerSelectionError


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


_DEFAULTS = RunConfig()


def build_parser() -> argparse.ArgumentParser:
    """The command line; a flag left out is absent from the parsed namespace (so a ``--config`` file can set it)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help="YAML run configuration (see --print-config); flags override it")
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective configuration as YAML (feed it back with --config) and exit")
    parser.add_argument("--cache", type=Path, help="cache directory (default: the synthetic default cache)")
    parser.add_argument("--out", type=Path, help=f"output directory (default: {_DEFAULTS.out})")
    parser.add_argument("--sections", type=_names,
                        help=f"comma-separated sections from {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--probes", type=_names,
                        help=f"comma-separated prober plugin names (default: {','.join(DEFAULT_PROBES)})")
    parser.add_argument("--seed", type=int, help=f"default: {_DEFAULTS.seed}")
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
    parser.add_argument("--layers",
                        help="layers of a multi-layer store the probers read: one ('5', 'note'), the mean of a range "
                             "('9-12') or list ('9,11'), or 'weighted' (learned softmax weights; default: the "
                             "store's default)")
    parser.add_argument("--layer-sweep", nargs="*", metavar="SELECTION",
                        help="also probe every layer of a multi-layer store, and these extra selections (e.g. "
                             "9-12 weighted); results in audit.json layer_sweep, a heatmap per prober")
    parser.add_argument("--quality-predictions", type=Path,
                        help="your own predicted qualities for the downstream sections (JSON; see README)")
    parser.add_argument("--quality-prober",
                        help="prober whose fold ensemble predicts downstream qualities "
                             f"(default: {_DEFAULTS.quality_prober})")
    parser.add_argument("--scale", dest="synthetic_scale", choices=("default", "real"),
                        help="size of the synthetic cache when --cache is not given (default: default)")
    parser.add_argument("--permutations", dest="n_permutations", type=int,
                        help="label permutations per prober for the audibility test (min p = 1/(N+1); BH runs over "
                             f"every prober x dimension, so N must be large; default: {_DEFAULTS.n_permutations})")
    parser.add_argument("--bootstrap", dest="n_bootstrap", type=int, help=f"default: {_DEFAULTS.n_bootstrap}")
    parser.add_argument("--parallel-simulations", dest="n_parallel", type=int, help=f"default: {_DEFAULTS.n_parallel}")
    parser.add_argument("--stability-resamples", dest="n_stability", type=int,
                        help="cluster-bootstrap resamples of the factor count "
                             f"(per grouping; default: {_DEFAULTS.n_stability})")
    parser.add_argument("--epochs-scale", type=float,
                        help="multiply every trained prober's epochs (default: 1.0 = the original recipe)")
    parser.add_argument("--prober-seeds", dest="prober_seeds", type=int,
                        help="seeds per trained prober: statistics on the seed ensemble, each seed's R2 reported "
                             "(default: 1)")
    parser.add_argument("--clip", type=_clip, metavar="Z",
                        help="clip standardised features to +-Z training standard deviations in every fold and view "
                             f"(default: {_DEFAULTS.clip}; 'off' for none)")
    parser.add_argument("--accelerator", help="Lightning accelerator: auto (cuda, mps, else cpu), cpu, ...")
    parser.add_argument("--workers", type=int,
                        help="worker processes for the trained probers' fold fits (default: CPUs / --threads)")
    parser.add_argument("--threads", type=int,
                        help="intra-op threads per fold fit (default: OMP_NUM_THREADS, else 1); Ridge solves and "
                             "statistics use every CPU")
    parser.add_argument("--executor", choices=EXECUTORS,
                        help="where the trained probers' fold fits run: local worker processes (default) or Ray tasks "
                             "(pip install -e '.[ray]'; a local Ray unless --ray-address)")
    parser.add_argument("--ray-address", dest="ray_address", metavar="ADDR",
                        help="join this Ray cluster (e.g. auto, ray://head:10001) under --executor ray; the cache "
                             "and --out must be on storage every node mounts at the same path")
    parser.add_argument("--resident-mb", dest="resident_mb", type=int, metavar="MB",
                        help="keep a fold's standardised frames in memory when they fit in MB MiB, else read them "
                             f"batch by batch (default: {_DEFAULTS.resident_mb}; 0: always batch by batch)")
    parser.add_argument("--verbose", action="store_true", help="show Lightning's own messages and every step")
    parser.add_argument("--force", action="store_true", help="discard results of another configuration in --out")
    return parser


def resolve_config(arguments: argparse.Namespace) -> RunConfig:
    """Defaults, then the ``--config`` file, then the flags given on the command line.

    A ``--probes`` flag replaces the file's prober list; hyper-parameters the file gives for probers it drops are
    dropped with it.

    Raises
    ------
    FileNotFoundError, ConfigFileError
        For a missing or malformed configuration file.
    ValueError
        For settings :class:`RunConfig` refuses.
    """
    given = {key: value for key, value in vars(arguments).items()
             if key not in ("config", "print_config", "verbose", "force")}
    settings: dict = {}
    if getattr(arguments, "config", None) is not None:
        from benchmarks.config_file import load_config_file

        settings.update(load_config_file(arguments.config))
    if given.get("layer_sweep") is not None:
        given["layer_sweep"] = tuple(given["layer_sweep"])
    settings.update(given)
    if "probes" in given:
        for name in ("prober_params", "prober_plugins"):
            settings[name] = {key: value for key, value in settings.get(name, {}).items() if key in given["probes"]}
    return RunConfig(**settings)


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    command = [Path(sys.executable).name, "-m", "benchmarks.run", *(sys.argv[1:] if argv is None else argv)]
    try:
        config = resolve_config(arguments)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if getattr(arguments, "print_config", False):
        from benchmarks.config_file import config_to_yaml

        sys.stdout.write(config_to_yaml(config))
        return 0
    from benchmarks.console import quiet_console  # torch and Lightning load only once the arguments parse
    from benchmarks.orchestration.suite import run_suite
    from benchmarks.summary import print_summary
    from probes.registry import ProberConfigurationError, UnknownProberError

    try:
        with quiet_console(verbose=getattr(arguments, "verbose", False)):
            audit = run_suite(config, force=getattr(arguments, "force", False), command=command)
    except (DataContractError, ConfigurationChangedError, FileNotFoundError, UnknownProberError, LayerSelectionError,
            ProberConfigurationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_summary(audit, config.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
