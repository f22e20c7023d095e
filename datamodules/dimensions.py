"""The 19 PercePiano perceptual dimensions, in the dataset's own order, and their categories.

This module is the single place where dimension names live. Labels are rater means on the 1-7 scale divided
by 7, so every value lies in [0, 1].

PercePiano's questionnaire order (Park et al. 2024, Sci. Rep. 14:23002, doi:10.1038/s41598-024-73810-0) puts
the dynamics question "Sophisticated/mellow - Raw/crude" at index 9, before "Little - Large dynamic range"
at index 10. A widely copied name list (:data:`SHIFTED_DIMENSION_NAMES`) drops "sophistication" from index 9
and appends it at 17, so it shifts the names of indices 9-17 by one (it calls index 13, which is
Disproportioned-Balanced, "drama"). We use the correct names; a name list equal to the shifted one is accepted
as a positional alias (its i-th name means our index i), never by name.
"""

from __future__ import annotations

from collections.abc import Sequence

DIMENSIONS: tuple[str, ...] = (
    "timing",  # 0 Timing: stable - unstable
    "articulation_length",  # 1 Articulation: short - long
    "articulation_touch",  # 2 Articulation: soft/cushioned - hard/solid
    "pedal_amount",  # 3 Pedal: sparse/dry - saturated/wet
    "pedal_clarity",  # 4 Pedal: clean - blurred
    "timbre_variety",  # 5 Timbre: even - colorful
    "timbre_depth",  # 6 Timbre: shallow - rich
    "timbre_brightness",  # 7 Timbre: bright - dark
    "timbre_loudness",  # 8 Timbre: soft - loud
    "sophistication",  # 9 Dynamics: sophisticated/mellow - raw/crude
    "dynamic_range",  # 10 Dynamics: little - large dynamic range
    "tempo",  # 11 Music making: fast-paced - slow-paced
    "space",  # 12 Music making: flat - spacious
    "balance",  # 13 Music making: disproportioned - balanced
    "drama",  # 14 Music making: pure - dramatic/expressive
    "mood_valence",  # 15 Emotion & mood: optimistic/pleasant - dark
    "mood_energy",  # 16 Emotion & mood: low energy - high energy
    "mood_imagination",  # 17 Emotion & mood: honest - imaginative
    "interpretation",  # 18 Interpretation: unsatisfactory/doubtful - convincing
)
N_DIMENSIONS: int = len(DIMENSIONS)

#: The shifted list found in many downstream notebooks (index 9 "dynamic_range" ... index 17 "sophistication").
SHIFTED_DIMENSION_NAMES: tuple[str, ...] = (
    *DIMENSIONS[:9],
    *DIMENSIONS[10:18],
    DIMENSIONS[9],
    DIMENSIONS[18],
)

#: The 8 categories of the questionnaire, each a tuple of dimension indices.
CATEGORIES: dict[str, tuple[int, ...]] = {
    "timing": (0,),
    "articulation": (1, 2),
    "pedal": (3, 4),
    "timbre": (5, 6, 7, 8),
    "dynamics": (9, 10),
    "music_making": (11, 12, 13, 14),
    "emotion": (15, 16, 17),
    "interpretation": (18,),
}


def dimension_index(name: str) -> int:
    """Return the PercePiano index (0-18) of a correctly named dimension.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`DIMENSIONS`.
    """
    try:
        return DIMENSIONS.index(name)
    except ValueError:
        raise ValueError(f"unknown dimension name {name!r}; expected one of {list(DIMENSIONS)}") from None


def canonical_names(names: Sequence[str], source: str = "dimension names") -> tuple[str, ...]:
    """Map a full 19-name list to the correct names, position by position.

    Parameters
    ----------
    names : sequence of str, length 19
        Either :data:`DIMENSIONS` or the shifted alias list :data:`SHIFTED_DIMENSION_NAMES`.
    source : str
        Where the names came from, for the error message.

    Returns
    -------
    tuple of str
        :data:`DIMENSIONS` (the i-th input name always means PercePiano index i).

    Raises
    ------
    ValueError
        If the list is neither of the two known orders.
    """
    names = tuple(names)
    if names in (DIMENSIONS, SHIFTED_DIMENSION_NAMES):
        return DIMENSIONS
    unknown = sorted(set(names) - set(DIMENSIONS))
    detail = f"unknown names {unknown}" if unknown else "names in an unknown order"
    raise ValueError(
        f"{source}: {detail}; expected the 19 PercePiano names in order {list(DIMENSIONS)} "
        f"or the shifted alias list {list(SHIFTED_DIMENSION_NAMES)}"
    )
