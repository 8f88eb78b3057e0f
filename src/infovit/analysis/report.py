"""Former home of :func:`analyze`; it lives in :mod:`infovit.analysis.run` (this name now
belongs to the HTML report, :mod:`infovit.report`). Kept so existing imports keep working."""

from infovit.analysis.run import AnalysisOptions, LoadedRun, analyze, describe_label

__all__ = ["AnalysisOptions", "LoadedRun", "analyze", "describe_label"]
