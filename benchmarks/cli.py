"""``percepiano-bench COMMAND [ARGS]``: every entry point as one console script (``python -m benchmarks.<module>``
works the same).

Each command's module is imported only when it is called, so ``percepiano-bench --help`` and ``percepiano-bench
run --help`` load neither torch nor Lightning.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: Command -> (module whose ``main(argv)`` runs it, one line of help).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("benchmarks.run", "the whole audit (python -m benchmarks.run)"),
    "extract": ("benchmarks.extract", "embedding stores from MIDI or audio files, and 'extract render'"),
    "speed": ("benchmarks.speed.run", "the original notebook's approach timed against the suite"),
    "cross-soundfont": ("benchmarks.cross_soundfont", "fit on one rendering, predict another"),
    "ablation": ("benchmarks.ablation", "which change moved the real-data R2, per dimension"),
    "learning-curve": ("benchmarks.learning_curve", "out-of-fold R2 against the share of training excerpts"),
    "audit-table": ("benchmarks.audit_table", "a run's probing comparison as one Markdown table"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "usage: percepiano-bench COMMAND [ARGS ...]\n\ncommands:\n" + "\n".join(lines) + \
        "\n\n'percepiano-bench COMMAND --help' describes a command's arguments."


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] in ("-h", "--help"):
        print(usage())
        return 0 if arguments else 2
    command, rest = arguments[0], arguments[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; expected one of {list(COMMANDS)}\n\n{usage()}", file=sys.stderr)
        return 2
    return int(importlib.import_module(COMMANDS[command][0]).main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
