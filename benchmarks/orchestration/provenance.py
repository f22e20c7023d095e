"""The ``run`` block of ``audit.json``: versions, seed, git revision, input hashes, the exact command."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES: tuple[str, ...] = (
    "percepiano-bench", "torch", "lightning", "torchmetrics", "numpy", "scipy", "scikit-learn", "statsmodels",
    "tensorboard", "matplotlib", "krippendorff", "pretty_midi",
)


def package_versions() -> dict[str, str | None]:
    """Installed version of each dependency (None where not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(directory: Path) -> str | None:
    """``git describe --always --dirty`` of ``directory``, or None outside a repository."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(directory), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_hashes(paths: dict[str, Path | None]) -> dict[str, dict[str, object] | None]:
    """``{name: {path, sha256, size}}`` for each existing input file (None for absent inputs)."""
    hashes: dict[str, dict[str, object] | None] = {}
    for name, path in paths.items():
        if path is None or not Path(path).is_file():
            hashes[name] = None
            continue
        hashes[name] = {"path": str(path), "sha256": sha256_of(Path(path)), "size": Path(path).stat().st_size}
    return hashes


def provenance(seed: int, inputs: dict[str, Path | None], timings_s: dict[str, float]) -> dict[str, object]:
    """Assemble the ``run`` block."""
    return {
        "command": [Path(sys.executable).name, *sys.argv] if sys.argv and sys.argv[0] else None,
        "seed": seed,
        "versions": package_versions(),
        "git_revision": git_revision(Path(__file__).resolve().parent),
        "platform": {"machine": platform.machine(), "system": platform.system(), "processor": platform.processor()},
        "inputs": input_hashes(inputs),
        "timings_s": timings_s,
    }
