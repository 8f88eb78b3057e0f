"""Information geometry of vision transformers (Joseph et al., paper 002).

Per (layer, token): the covariance eigenspectrum decay α of the token's representation over N
images (α-ReQ convention); per layer: Pearson correlation between the flattened (N × D) matrices
of every token pair. Everything is streamed in float64 with memory independent of N, planned in
chunks under a memory budget. Figures live in :mod:`infovit.geometry.plot` (imported on demand);
:func:`run` is what ``infovit geometry`` does, as a library call.
"""

from __future__ import annotations

from infovit.geometry.budget import Plan, format_bytes, parse_bytes, plan_passes
from infovit.geometry.correlation import flat_pearson, mean_lower_triangle
from infovit.geometry.extract import (
    LayerSpec,
    TokenLabels,
    describe_layers,
    prepare_model,
    run_layers,
    token_labels,
)
from infovit.geometry.moments import LayerMoments, pooled_covariance
from infovit.geometry.pipeline import GeometryResult, compute_geometry
from infovit.geometry.powerlaw import FitConfig, PowerLawFit, alpha_from_samples, fit_powerlaw
from infovit.geometry.run import GeometryOptions, draw_figures, replot, run
from infovit.geometry.tables import GeometryRun, SplitTables, load_run, save_run
from infovit.geometry.trajectories import (
    ClusterResult,
    cluster_trajectories,
    compare_splits,
    kmeans,
)

__all__ = [
    "ClusterResult",
    "FitConfig",
    "GeometryOptions",
    "GeometryResult",
    "GeometryRun",
    "LayerMoments",
    "LayerSpec",
    "Plan",
    "PowerLawFit",
    "SplitTables",
    "TokenLabels",
    "alpha_from_samples",
    "cluster_trajectories",
    "compare_splits",
    "compute_geometry",
    "describe_layers",
    "draw_figures",
    "fit_powerlaw",
    "flat_pearson",
    "format_bytes",
    "kmeans",
    "load_run",
    "mean_lower_triangle",
    "parse_bytes",
    "plan_passes",
    "pooled_covariance",
    "prepare_model",
    "replot",
    "run",
    "run_layers",
    "save_run",
    "token_labels",
]
