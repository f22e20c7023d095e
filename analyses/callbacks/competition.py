"""Callback: predicted quality against competition placement (section 10 of the original audit)."""

from __future__ import annotations

from typing import Any, ClassVar

from matplotlib.figure import Figure

from analyses.callbacks.base import AuditSectionCallback
from analyses.callbacks.downstream_inputs import quality_scores
from analyses.competition_validation import competition_validation
from analyses.context import AuditContext
from datamodules.inputs.competition import load_recordings


class CompetitionCallback(AuditSectionCallback):
    """Fill ``competition_validation``; without embeddings it reports the recording counts and why."""

    sections: ClassVar[tuple[str, ...]] = ("competition_validation",)

    def compute(self, context: AuditContext) -> tuple[dict[str, Any], dict[str, Figure]]:
        path = context.inputs.get("competition")
        if path is None:
            return {"competition_validation": {"status": "not run: no competition recordings file (give "
                                                         "--competition or put recordings.jsonl in the cache)",
                                               "n_recordings": 0}}, {}
        recordings = load_recordings(path)
        quality, found, source = quality_scores(context, recordings.recording_ids, "competition_embeddings")
        base = {"n_recordings": recordings.n_recordings, "dedup": recordings.dedup_report(),
                "recordings_file": str(path)}
        if quality is None or found.sum() < 3:
            reason = source if quality is None else f"only {int(found.sum())} recordings have embeddings"
            return {"competition_validation": {**base, "status": f"not run: {reason}", "overall_rho": None,
                                               "overall_pval": None, "per_dimension": {}}}, {}
        kept = [rid for rid, ok in zip(recordings.recording_ids, found, strict=True) if ok]
        result = competition_validation(quality, recordings.placements_for(kept), dedup=recordings.dedup_report())
        missing = [rid for rid, ok in zip(recordings.recording_ids, found, strict=True) if not ok]
        return {"competition_validation": {**result.to_dict(), "quality_source": source,
                                           "recordings_without_features": missing,
                                           "n_recordings_without_features": len(missing),
                                           "recordings_file": str(path)}}, {}
