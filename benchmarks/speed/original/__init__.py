"""The original notebook's approach, rewritten faithfully for ``python -m benchmarks.speed`` to time against the suite.

One module per job, as the notebook ran them: :mod:`~benchmarks.speed.original.loading` (``torch.load`` of the whole
embedding dict, stats pooling), :mod:`~benchmarks.speed.original.ridge` (19 separate ``Ridge(alpha=1)`` fits per fold),
:mod:`~benchmarks.speed.original.attention` (attention pooling trained one segment per optimiser step, then 19 Ridge
readouts), :mod:`~benchmarks.speed.original.mlp` (19 separately trained MLPs per fold) and
:mod:`~benchmarks.speed.original.audit` (label correlations and PCA, in-sample residuals and CCA).
:mod:`~benchmarks.speed.original.run` runs them in one process and writes timings, peak memory and out-of-fold
predictions. Nothing here is used by the suite.
"""
