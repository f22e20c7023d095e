"""Which hidden layers of a multi-layer store a prober reads: one layer, the mean of several, or all of them weighted.

Audio models return one ``[T, D]`` tensor per hidden layer (MuQ: 13, the input embedding and 12 transformer
layers); probing studies read one layer, average a range (CrescendAI: MuQ layers 9-12) or learn a softmax-weighted
sum of all of them (SUPERB / s3prl). A selection is written as a short string, on the command line
(``--layers``) and in every protocol line:

``"5"``, ``"note"``
    One layer, by name (store layers are named ``"0"``, ``"1"``, ... unless the extractor names them).
``"9-12"``
    The frame-wise mean of the layers from ``9`` to ``12`` inclusive, in store order (names at both ends).
``"9,10,12"``
    The frame-wise mean of the listed layers.
``"weighted"``
    Every layer, served side by side (``[T, L * D]``, layer-major); a prober that learns layer weights
    (:mod:`probes.layer_weights`) reshapes it to ``[T, L, D]`` and takes a softmax-weighted sum; a prober that does
    not is fitted on the concatenation, and its protocol says so.
``"default"``
    The store's declared default (the extractor's choice; the last layer of a converted ``[L, T, D]`` file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["single", "mean", "weighted"]


class LayerSelectionError(ValueError):
    """A layer selection the store cannot serve (unknown layer, backwards range, layers of different widths)."""
WEIGHTED = "weighted"
DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class LayerSelection:
    """A resolved selection of a store's layers.

    Attributes
    ----------
    spec : str
        The selection as written (``"9-12"``), after resolving ``"default"``.
    kind : {"single", "mean", "weighted"}
    layers : tuple of str
        The selected layer names, in store order (one for ``single``).
    """

    spec: str
    kind: Kind
    layers: tuple[str, ...]

    def describe(self) -> str:
        """Words for a protocol line, e.g. ``"layers 9-12 (frame-wise mean of 4)"``."""
        if self.kind == "single":
            return f"layer {self.layers[0]}"
        if self.kind == "mean":
            return f"layers {self.spec} (frame-wise mean of {len(self.layers)})"
        return (f"all {len(self.layers)} layers (softmax-weighted by probers that learn layer weights, "
                "else concatenated)")


def parse_layers(spec: str, layer_names: Sequence[str], default: str, origin: object = "store") -> LayerSelection:
    """Resolve ``spec`` (module docstring grammar) against a store's ``layer_names``.

    Parameters
    ----------
    spec : str
    layer_names : sequence of str
        The store's layers in store order.
    default : str
        The store's default selection (itself a spec other than ``"default"``).
    origin : object
        Named in error messages (the store directory).

    Raises
    ------
    LayerSelectionError
        For an unknown layer name, an empty or reversed range, or a repeated layer (naming ``origin`` and the
        layers that exist).
    """
    names = tuple(layer_names)
    text = str(spec).strip()
    if text == DEFAULT:
        text = default
    if text == WEIGHTED:
        return LayerSelection(WEIGHTED, "weighted", names)

    def position(name: str) -> int:
        if name not in names:
            raise LayerSelectionError(f"{origin}: no layer {name!r} in --layers {spec!r}; "
                                      f"the store has layers {list(names)}")
        return names.index(name)

    if text in names:
        return LayerSelection(text, "single", (text,))
    if "," in text:
        chosen = [name.strip() for name in text.split(",")]
        positions = [position(name) for name in chosen]
        if len(set(positions)) != len(positions):
            raise LayerSelectionError(f"{origin}: --layers {spec!r} repeats a layer")
        return LayerSelection(text, "mean", tuple(names[index] for index in sorted(positions)))
    if "-" in text:
        first, _, last = text.partition("-")
        start, stop = position(first.strip()), position(last.strip())
        if stop < start:
            raise LayerSelectionError(f"{origin}: --layers {spec!r} runs backwards (store order {list(names)})")
        chosen = names[start : stop + 1]
        return LayerSelection(text, "single" if len(chosen) == 1 else "mean", chosen)
    raise LayerSelectionError(f"{origin}: no layer {text!r} in --layers {spec!r}; the store has layers {list(names)}")
