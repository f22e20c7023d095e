"""Does a teacher stop here? Leave-one-video-out logistic regression on masterclass STOP/CONTINUE segments.

Each named feature set (predicted PercePiano dimensions, their components, category means, best/worst probed
dimensions, pooled embeddings) is scored by the AUC of pooled out-of-video predictions, with a 95% CI from a
bootstrap over videos. The leak-free label-component set fits its PCA inside each split on the training videos
only; the original audit's variant, which fitted it once on all segments, is kept and labelled as leaking.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analyses.cluster_auc import auc_score, video_bootstrap_ci
from analyses.row_folds import check_matrix
from datamodules.dimensions import CATEGORIES, N_DIMENSIONS

PROTOCOL_LOVO = "leave-one-video-out; StandardScaler and LogisticRegression(C, lbfgs) fitted on training videos"
CHANCE_AUC = 0.5


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """Features of one configuration, rows aligned with the segments.

    Attributes
    ----------
    features : ndarray of shape (n_segments, n_features)
    protocol : str
        How the features were made, including any leak.
    pca_components : int or None, default=None
        When set, a PCA to this many components is fitted on the training videos inside each split (before
        scaling), so the held-out video never shapes the components.
    """

    features: np.ndarray
    protocol: str
    pca_components: int | None = None

    @property
    def n_features(self) -> int:
        return self.pca_components if self.pca_components is not None else int(self.features.shape[1])


@dataclass(frozen=True, slots=True)
class StopScore:
    """Pooled out-of-video AUC of one configuration with its video-bootstrap percentile 95% CI."""

    auc: float
    ci_low: float
    ci_high: float
    n_features: int
    protocol: str
    n_resamples_used: int

    def to_dict(self) -> dict:
        """JSON form; NaN bounds (too few usable resamples) become None."""
        return {name: _json_float(getattr(self, name)) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class StopPredictionResult:
    """STOP-vs-CONTINUE prediction scores (``to_dict()`` is the audit's ``stop_prediction`` entry).

    Attributes
    ----------
    results : dict of str to StopScore
    baseline_auc : float
        LOVO AUC of log segment duration alone when durations were given, else chance (0.5).
    baseline : StopScore or None
        The duration baseline in full.
    chance_auc : float
    n_segments, n_stop, n_continue, n_videos : int
    n_resamples, seed : int
    C : float or None
        None when nothing was fitted.
    status : str
        ``"ok"``, or why no configuration was scored.
    exclusions : dict
        The segmentation report (skipped moments with reasons), passed through.
    """

    results: dict[str, StopScore]
    baseline_auc: float
    baseline: StopScore | None
    chance_auc: float
    n_segments: int
    n_stop: int
    n_continue: int
    n_videos: int
    n_resamples: int
    seed: int
    C: float | None
    status: str
    exclusions: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        payload = {name: getattr(self, name) for name in self.__slots__}
        payload["results"] = {name: score.to_dict() for name, score in self.results.items()}
        payload["baseline"] = None if self.baseline is None else self.baseline.to_dict()
        payload["protocol"] = PROTOCOL_LOVO
        return payload


def build_feature_sets(
    predicted: np.ndarray,
    probe_r2: np.ndarray,
    n_label_components: int,
    embeddings: np.ndarray | None = None,
    embedding_name: str = "stats_pooled_embeddings",
    n_extreme: int = 5,
) -> dict[str, FeatureSet]:
    """The audit's named feature sets from predicted dimensions (and optionally embeddings).

    Parameters
    ----------
    predicted : ndarray of shape (n_segments, 19)
        Probe predictions on the segments, on the label scale [0, 1].
    probe_r2 : ndarray of shape (19,)
        Cross-validated probe R2 per dimension; picks ``top5_r2_dims`` / ``bottom5_r2_dims`` (ties: lower index).
    n_label_components : int
        Retained components (e.g. from parallel analysis on the labels).
    embeddings : ndarray of shape (n_segments, d), optional
    embedding_name : str, default="stats_pooled_embeddings"
    n_extreme : int, default=5

    Returns
    -------
    dict
        ``all_19_dims``, ``label_components`` (leak-free PCA), ``label_components_leaky`` (PCA on all segments),
        ``category_means`` (8), ``top5_r2_dims``, ``bottom5_r2_dims`` and, with embeddings, ``embedding_name``.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite values, or ``n_label_components`` outside 1..min(19, n_segments - 1).
    """
    predicted = check_matrix("predicted", predicted)
    probe_r2 = np.asarray(probe_r2, dtype=np.float64)
    if predicted.shape[1] != N_DIMENSIONS or probe_r2.shape != (N_DIMENSIONS,):
        raise ValueError(f"predicted {predicted.shape} and probe_r2 {probe_r2.shape}: expected (n, 19) and (19,)")
    largest = min(N_DIMENSIONS, predicted.shape[0] - 1)
    if not 1 <= n_label_components <= largest:
        raise ValueError(f"n_label_components={n_label_components}, expected 1..{largest}")
    order = np.argsort(-probe_r2, kind="stable")
    top, bottom = order[:n_extreme], order[-n_extreme:]
    leaky = PCA(n_components=n_label_components).fit_transform(predicted)
    sets = {
        "all_19_dims": FeatureSet(predicted, "19 predicted dimensions"),
        "label_components": FeatureSet(
            predicted, f"{n_label_components} PCA components of predictions, fitted on training videos only",
            n_label_components),
        "label_components_leaky": FeatureSet(
            leaky, f"{n_label_components} PCA components fitted on ALL segments incl. the held-out video (leaks)"),
        "category_means": FeatureSet(
            np.column_stack([predicted[:, list(index)].mean(axis=1) for index in CATEGORIES.values()]),
            f"means of predictions over the {len(CATEGORIES)} categories {list(CATEGORIES)}"),
        f"top{n_extreme}_r2_dims": FeatureSet(predicted[:, top], f"dims {top.tolist()} (highest probe R2)"),
        f"bottom{n_extreme}_r2_dims": FeatureSet(predicted[:, bottom], f"dims {bottom.tolist()} (lowest probe R2)"),
    }
    if embeddings is not None:
        embeddings = check_matrix(embedding_name, embeddings, predicted.shape[0])
        sets[embedding_name] = FeatureSet(embeddings, f"{embedding_name} ({embeddings.shape[1]} features)")
    return sets


def lovo_predictions(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, C: float = 1.0,
    pca_components: int | None = None, max_iter: int = 10_000,
) -> np.ndarray:
    """Out-of-video STOP probabilities: one model per held-out video.

    Returns
    -------
    ndarray of shape (n_segments,)
        P(STOP) from the model that did not see the segment's video. Where a training split holds one class only,
        the training STOP rate is predicted (UserWarning).
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    scores = np.empty(labels.shape[0], dtype=np.float64)
    for video in np.unique(groups):
        test = groups == video
        train = ~test
        if np.unique(labels[train]).size < 2:
            warnings.warn(f"training videos without video {video!r} hold one class; predicting its rate",
                          UserWarning, stacklevel=2)
            scores[test] = labels[train].mean()
            continue
        steps = [] if pca_components is None else [PCA(n_components=pca_components)]
        model = make_pipeline(*steps, StandardScaler(), LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter))
        model.fit(features[train], labels[train])
        scores[test] = model.predict_proba(features[test])[:, 1]
    return scores


def stop_prediction(
    feature_sets: Mapping[str, FeatureSet], labels: np.ndarray, groups: np.ndarray, *,
    durations_s: np.ndarray | None = None, C: float = 1.0, n_resamples: int = 1000, seed: int = 0,
    exclusions: dict | None = None,
) -> StopPredictionResult:
    """Score every feature set by LOVO logistic regression.

    Parameters
    ----------
    feature_sets : mapping of str to FeatureSet
        Rows aligned with ``labels``.
    labels : ndarray of shape (n_segments,)
        1 = STOP, 0 = CONTINUE.
    groups : ndarray of shape (n_segments,)
        Video id per segment.
    durations_s : ndarray of shape (n_segments,), optional
        Segment lengths in seconds for the trivial baseline (LOVO logistic on log duration).
    C : float, default=1.0
    n_resamples : int, default=1000
    seed : int, default=0
        Seeds the video bootstrap; every configuration sees the same resampled videos (paired CIs).
    exclusions : dict, optional
        Segmentation report to carry into the result (``MasterclassSegments.to_dict()``).

    Notes
    -----
    The AUC is computed once on the pooled out-of-video predictions. The CI resamples videos (clusters) and
    recomputes the AUC of the fixed predictions; models are not refitted, so it covers evaluation-set variation
    only. With few videos (5 in the real data) the CI is coarse.

    Raises
    ------
    ValueError
        If labels are not 0/1 with both classes, fewer than 2 videos, shapes disagree or features are not finite.
    """
    labels, groups = _check_targets(labels, groups)

    def score(features: np.ndarray, protocol: str, n_features: int, pca_components: int | None) -> StopScore:
        predictions = lovo_predictions(features, labels, groups, C=C, pca_components=pca_components)
        low, high, used = video_bootstrap_ci(labels, predictions, groups, n_resamples=n_resamples,
                                             rng=np.random.default_rng(seed))
        return StopScore(auc_score(labels, predictions), low, high, n_features, protocol, used)

    results = {}
    for name, feature_set in feature_sets.items():
        features = check_matrix(f"feature set {name!r}", feature_set.features, labels.size)
        results[name] = score(features, feature_set.protocol, feature_set.n_features, feature_set.pca_components)
    baseline = None
    if durations_s is not None:
        durations = check_matrix("durations_s", np.reshape(durations_s, (-1, 1)), labels.size)
        if np.any(durations <= 0):
            raise ValueError("durations_s holds a value <= 0, expected positive segment lengths in seconds")
        baseline = score(np.log(durations), "log segment duration alone (trivial baseline)", 1, None)
    return _result(labels, groups, results, baseline, n_resamples, seed, C, "ok", exclusions)


def stop_prediction_unavailable(
    labels: np.ndarray, groups: np.ndarray, reason: str, *, exclusions: dict | None = None,
) -> StopPredictionResult:
    """The counts alone, with ``status`` saying why no feature set was scored (e.g. no embeddings)."""
    labels, groups = np.asarray(labels), np.asarray(groups)
    return _result(labels, groups, {}, None, 0, 0, None, f"not run: {reason}", exclusions)


def _result(labels, groups, results, baseline, n_resamples, seed, C, status, exclusions) -> StopPredictionResult:
    return StopPredictionResult(
        results=results, baseline_auc=CHANCE_AUC if baseline is None else baseline.auc, baseline=baseline,
        chance_auc=CHANCE_AUC, n_segments=int(labels.size), n_stop=int(np.sum(labels == 1)),
        n_continue=int(np.sum(labels == 0)), n_videos=int(np.unique(groups).size), n_resamples=n_resamples,
        seed=seed, C=C, status=status, exclusions=dict(exclusions or {}),
    )


def _json_float(value):
    return None if isinstance(value, float) and np.isnan(value) else value


def _check_targets(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.ndim != 1 or groups.shape != labels.shape:
        raise ValueError(f"labels {labels.shape} and groups {groups.shape}: expected equal 1-d shapes")
    values = sorted(set(np.unique(labels).tolist()))
    if values != [0, 1]:
        raise ValueError(f"labels hold {values}, expected both 1 (STOP) and 0 (CONTINUE)")
    if np.unique(groups).size < 2:
        raise ValueError(f"groups hold {np.unique(groups).size} video(s), expected at least 2 for leave-one-video-out")
    return labels.astype(np.int64), groups
