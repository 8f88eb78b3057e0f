"""Analyses of trained InfoViT runs (arXiv 2602.04784 §4, App. B–D), each returning tables.

One streamed extraction per model (:mod:`.extract`) feeds every section of the registry
(:mod:`.sections`): spectrum, head firing, patch voting, KL maps, JSD, the probes that re-run
the model on chosen images (extreme patches, repetition, head ablation), NMI between heads and
the information geometry. Sections write tables; figures (:mod:`infovit.plotting`) are drawn
from the saved tables only, and nothing here imports plotting at module level.
"""

from infovit.analysis.ablation import AblationResult, ablation_tables, head_ablation
from infovit.analysis.context import AnalysisOptions, Context, LoadedRun
from infovit.analysis.extract import Extraction, extract, extract_cached, subset_indices
from infovit.analysis.extreme import ExtremePatches, extreme_patches, extreme_table
from infovit.analysis.heads import active_heads, head_table, kl_grid, survival_table
from infovit.analysis.jsd import JSD_BINS, jsd, jsd_bin_table, top_fraction
from infovit.analysis.klmaps import SELECTIONS, kl_map, kl_map_table, select_images
from infovit.analysis.rank_maps import (
    RANK_CATEGORIES,
    patch_ranks,
    rank_categories,
    rank_map_table,
    rank_maps,
    rank_share_table,
)
from infovit.analysis.repetition import RepetitionResult, repetition_probe, repetition_table
from infovit.analysis.run import analyze, draw_figures
from infovit.analysis.sections import REGISTRY, Section, register
from infovit.analysis.spectrum import aggregate_spectrum, config_label, pareto_front, spectrum_row
from infovit.analysis.store import Store
from infovit.analysis.tables import read_csv, write_csv
from infovit.analysis.voting import inverse_simpson, logit_range, patch_top_classes, voting_table

__all__ = [
    "JSD_BINS",
    "RANK_CATEGORIES",
    "REGISTRY",
    "SELECTIONS",
    "AblationResult",
    "AnalysisOptions",
    "Context",
    "Extraction",
    "ExtremePatches",
    "LoadedRun",
    "RepetitionResult",
    "Section",
    "Store",
    "ablation_tables",
    "active_heads",
    "aggregate_spectrum",
    "analyze",
    "config_label",
    "draw_figures",
    "extract",
    "extract_cached",
    "extreme_patches",
    "extreme_table",
    "head_ablation",
    "head_table",
    "inverse_simpson",
    "jsd",
    "jsd_bin_table",
    "kl_grid",
    "kl_map",
    "kl_map_table",
    "logit_range",
    "pareto_front",
    "patch_ranks",
    "patch_top_classes",
    "rank_categories",
    "rank_map_table",
    "rank_maps",
    "rank_share_table",
    "read_csv",
    "register",
    "repetition_probe",
    "repetition_table",
    "select_images",
    "spectrum_row",
    "subset_indices",
    "survival_table",
    "top_fraction",
    "voting_table",
    "write_csv",
]
