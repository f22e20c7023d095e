"""A synthetic PercePiano-like cache with planted, known structure (labels, ratings, frames, downstream files).

Use :func:`generate_synthetic_cache` to write one; ``ground_truth.json`` beside the cache files records what was
planted. :func:`render_frames` turns a 19-dimensional quality vector into frames with the same encoder.
"""

from datamodules.synthetic.frames import (
    FrameEncoder,
    RenderedSegment,
    make_frame_encoder,
    render_frames,
    render_segment,
)
from datamodules.synthetic.spec import SyntheticSpec
from datamodules.synthetic.writer import GROUND_TRUTH_FILE, generate_synthetic_cache, is_current

__all__ = [
    "GROUND_TRUTH_FILE",
    "FrameEncoder",
    "RenderedSegment",
    "SyntheticSpec",
    "generate_synthetic_cache",
    "is_current",
    "make_frame_encoder",
    "render_frames",
    "render_segment",
]
