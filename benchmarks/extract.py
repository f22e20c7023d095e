"""Build a cache directory of extracted frame features: ``python -m benchmarks.extract``.

Example (the 1,202 PercePiano performance MIDI files)::

    python -m benchmarks.extract midi --midi-dir ../shared/data/percepiano/midi \\
        --labels-dir ../shared/data/crescendai/percepiano --out /tmp/midi_cache

writes ``/tmp/midi_cache/{labels.json, folds.json, store/, extraction_report.json}``, which
``python -m benchmarks.run --cache /tmp/midi_cache`` opens like a MuQ cache (:func:`datamodules.cache.open_cache`).
Re-running with unchanged inputs and settings reuses the store. ``python -m benchmarks.extract render ...`` renders
MIDI files to audio instead (:mod:`benchmarks.render`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import render
from datamodules.cache import FOLDS_FILE, LABELS_FILE, STORE_DIR, open_cache
from datamodules.errors import DataContractError
from datamodules.extractors import available_extractors, extract_to_store, get_extractor, input_files
from datamodules.extractors.base import FrameExtractor
from datamodules.inputs.folds import load_folds
from datamodules.inputs.labels import load_labels
from datamodules.jsonio import write_json_atomic, write_text_atomic

REPORT_FILE = "extraction_report.json"
PROGRESS_EVERY = 100
N_KEYS_PRINTED = 10


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extract", description=__doc__.splitlines()[0])
    parser.add_argument("extractor", help=f"extractor name (built-in: {', '.join(sorted(available_extractors()))}), or "
                                          "'render' to render MIDI files to audio (see render --help)")
    parser.add_argument("--midi-dir", "--audio-dir", "--input-dir", dest="input_dir", type=Path, required=True,
                        metavar="DIR",
                        help="directory of input files (keys are file stems with surrounding spaces removed)")
    parser.add_argument("--labels-dir", type=Path, default=None,
                        help="directory holding labels.json and folds.json, copied beside the store; omit for an "
                             "unlabelled folder (e.g. masterclass segments for --masterclass-embeddings)")
    parser.add_argument("--folds", type=Path, default=None, help="fold file to copy instead of LABELS_DIR/folds.json")
    parser.add_argument("--out", type=Path, required=True, help="cache directory to build")
    parser.add_argument("--limit", type=int, default=None, help="extract only the first N keys (sorted)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="muq: a folder saved by MuQ.save_pretrained (config.json, model.safetensors)")
    parser.add_argument("--random-init", action="store_true",
                        help="muq: the published architecture with random weights (a representation control)")
    parser.add_argument("--set", dest="extractor_kwargs", action="append", default=[], metavar="NAME=VALUE",
                        help="extractor keyword argument, VALUE read as JSON where it parses (e.g. --set "
                             "key_columns=false); repeatable")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit {args.limit}: expected a positive number of files")
    kwargs = {}
    for item in args.extractor_kwargs:
        name, separator, value = item.partition("=")
        if not separator or not name.strip():
            parser.error(f"--set {item!r}: expected NAME=VALUE")
        try:
            kwargs[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[name.strip()] = value
    if args.checkpoint is not None:
        kwargs["checkpoint"] = str(args.checkpoint)
    if args.random_init:
        kwargs["random_init"] = True
    args.extractor_kwargs = kwargs
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["render"]:
        return render.main(argv[1:])
    args = parse_args(argv)
    try:
        extractor = get_extractor(args.extractor, **args.extractor_kwargs)
        files = input_files(args.input_dir, extractor.input_suffixes)
    except (FileNotFoundError, ValueError) as error:  # unknown extractor, no or clashing input files
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return _extract(args, extractor, files)
    except (DataContractError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _extract(args: argparse.Namespace, extractor: FrameExtractor, files: dict[str, Path]) -> int:
    if args.limit is not None:
        files = dict(list(files.items())[: args.limit])
    if args.labels_dir is not None:
        labels_file, folds_file = args.labels_dir / LABELS_FILE, args.folds or args.labels_dir / FOLDS_FILE
        load_folds(folds_file, load_labels(labels_file).keys)  # refuse bad labels or folds before extracting
        copy_text(labels_file, args.out / LABELS_FILE)
        copy_text(folds_file, args.out / FOLDS_FILE)
    print(f"extracting {len(files)} files from {args.input_dir} with {extractor.settings()}", flush=True)
    started = time.perf_counter()
    report = extract_to_store(extractor, files, args.out / STORE_DIR, progress=print_progress)
    elapsed_s = time.perf_counter() - started
    payload = {"extraction": report.to_dict(), "elapsed_s": elapsed_s, "input_dir": str(args.input_dir),
               "limit": args.limit}
    if args.labels_dir is not None:
        label_keys = set(load_labels(args.out / LABELS_FILE).keys)
        payload.update(labelled_without_input=sorted(label_keys - set(files)),
                       inputs_without_labels=sorted(set(files) - label_keys),
                       alignment=open_cache(args.out).alignment.to_dict())
    write_json_atomic(args.out / REPORT_FILE, payload)
    print_summary(payload)
    print(f"wrote {args.out / REPORT_FILE}")
    return 0


def copy_text(source: Path, target: Path) -> None:
    """Copy a text file atomically (the cache never holds a half-copied file)."""
    if not source.is_file():
        raise FileNotFoundError(f"{source}: file not found")
    write_text_atomic(target, source.read_text(encoding="utf-8"))


def print_progress(index: int, n_files: int, key: str) -> None:
    if index % PROGRESS_EVERY == 0 or index == n_files:
        print(f"  [{index}/{n_files}] {key}", flush=True)


def print_summary(payload: dict) -> None:
    extraction = payload["extraction"]
    state = "reused the current store" if extraction["reused"] else f"in {payload['elapsed_s']:.1f} s"
    print(f"extracted {extraction['n_extracted']} of {extraction['n_files']} files: {extraction['n_frames']} frames "
          f"of D = {extraction['n_features']} into {extraction['store_dir']} ({state})")
    print(f"skipped {extraction['n_skipped']} files")
    for item in extraction["skipped"]:
        print(f"  {item['key']} ({item['file']}): {item['reason']}")
    for name, value in extraction["counts"].items():
        n_files = sum(name in counts for counts in extraction["adjusted_files"].values())
        if value:
            print(f"adjusted: {name} = {value} in {n_files} files")
    for name in ("labelled_without_input", "inputs_without_labels"):
        if name not in payload:
            continue
        keys = payload[name]
        shown = ", ".join(keys[:N_KEYS_PRINTED]) + (" ..." if len(keys) > N_KEYS_PRINTED else "")
        print(f"{name.replace('_', ' ')}: {len(keys)}" + (f" ({shown})" if keys else ""))


if __name__ == "__main__":
    sys.exit(main())
