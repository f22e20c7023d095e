"""The run's console: one progress line per prober (folds done, time left) and per section group, then the summary.

Lightning's own messages (accelerator banners, logger tips, "``Trainer.fit`` stopped", data-loader advice) and
every per-section line are shown only with ``--verbose``. Progress goes to stderr; on a terminal a prober's line
is rewritten in place as its folds finish, elsewhere (logs, CI) it is printed once when the prober is done.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Loggers whose INFO messages are Lightning's banners and tips.
LIGHTNING_LOGGERS: tuple[str, ...] = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning",
                                      "lightning_fabric")
#: Warnings Lightning raises about the probers' deliberate settings (small in-memory data, no workers).
_QUIET_WARNINGS: tuple[str, ...] = (
    r".*does not have many workers.*",
    r".*Total length of .* across ranks is zero.*",
    r".*The number of training batches .* is smaller than the logging interval.*",
    r".*`max_epochs=0`.*",
    r".*configure_optimizers.*",
    r".*GPU available but not used.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)
#: The suite's own logger: per-step lines at INFO (``analyses.callbacks.base`` logs each section there).
SUITE_LOGGER = "percepiano_bench"


@contextmanager
def quiet_console(verbose: bool = False) -> Iterator[None]:
    """Within the block, show the suite's per-step lines and Lightning's messages only if ``verbose``."""
    suite = logging.getLogger(SUITE_LOGGER)
    previous_levels = {name: logging.getLogger(name).level for name in (*LIGHTNING_LOGGERS, SUITE_LOGGER)}
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[percepiano-bench] %(message)s"))
    suite.addHandler(handler)
    suite.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        with warnings.catch_warnings():  # the filters silence_lightning adds end with the block
            if not verbose:
                silence_lightning()
            yield
    finally:
        suite.removeHandler(handler)
        for name, level in previous_levels.items():
            logging.getLogger(name).setLevel(level)


def is_quiet() -> bool:
    """Whether Lightning's messages are hidden in this process (inside a non-verbose :func:`quiet_console`)."""
    return logging.getLogger("lightning.pytorch").level >= logging.WARNING


def silence_lightning() -> None:
    """Hide Lightning's messages and warnings for the rest of this process (a worker of a quiet run)."""
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def say(message: str) -> None:
    """One line on stderr, always shown."""
    print(f"[percepiano-bench] {message}", file=sys.stderr, flush=True)


def detail(message: str) -> None:
    """One line for ``--verbose`` (the suite logger at INFO)."""
    logging.getLogger(SUITE_LOGGER).info(message)


class ProgressLine:
    """Progress of ``n_units`` units of work (folds x seeds of one prober): done, resumed, time left.

    Parameters
    ----------
    label : str
        What is being done (``"attention"``).
    n_units : int
        Units expected.
    unit : str, default="folds"
        What a unit is, for the line.
    """

    def __init__(self, label: str, n_units: int, unit: str = "folds") -> None:
        self.label, self.n_units, self.unit = label, max(int(n_units), 1), unit
        self.n_fitted = self.n_resumed = 0
        self.started = time.perf_counter()
        self._fit_seconds = 0.0
        self._tick = self.started
        self._live = sys.stderr.isatty()

    def advance(self, resumed: bool) -> None:
        """One unit finished (``resumed``: read back from an earlier run, which costs no fit time)."""
        now = time.perf_counter()
        if resumed:
            self.n_resumed += 1
        else:
            self.n_fitted += 1
            self._fit_seconds += now - self._tick
        self._tick = now
        if self._live:
            print(f"\r[percepiano-bench] {self._text()}\033[K", end="", file=sys.stderr, flush=True)

    def on_fold(self, fold: int, resumed: bool) -> None:
        """:func:`~benchmarks.orchestration.cross_validation.cross_validate`'s ``on_fold``: one fold finished."""
        self.advance(resumed)

    def close(self, suffix: str = "", summary: str | None = None) -> None:
        """Finish the line (printed once here when stderr is not a terminal): the counts fitted and resumed, or
        ``summary`` in their place, then ``suffix`` and the time taken."""
        elapsed = time.perf_counter() - self.started
        counts = f"{self.n_fitted} {self.unit} fitted, {self.n_resumed} resumed" if summary is None else summary
        text = f"{self.label}: {counts}{suffix} in {elapsed:.1f} s"
        prefix = "\r" if self._live else ""
        print(f"{prefix}[percepiano-bench] {text}\033[K" if self._live else f"[percepiano-bench] {text}",
              file=sys.stderr, flush=True)

    def _text(self) -> str:
        done = self.n_fitted + self.n_resumed
        left = self.n_units - done
        eta = "" if not self.n_fitted or not left else f", ~{self._fit_seconds / self.n_fitted * left:.0f} s left"
        return f"{self.label}: {done}/{self.n_units} {self.unit}{eta}"
