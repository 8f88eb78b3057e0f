"""Information measures between stochastic attention-head channels (paper 001, eqs. 4–6).

Each head is a channel p(u|x) over patches x with diagonal-Gaussian posteriors ``(μ, log σ²)``
of shape ``[L, r]``. :func:`mutual_information` estimates I(X;U); :func:`information_matrix`
gives I(X;U), I(U;U′), I(U;V) and NMI for a set of channels, by Monte Carlo (``"mc"``) or
pairwise-distance bounds (``"bhattacharyya"`` lower, ``"kl"`` upper). Subsampling options and
their effect on the estimate are described in :mod:`infovit.information.nmi`.
"""

from infovit.information.channel import GaussianChannel, as_channel, concat_channels
from infovit.information.compare import CompareOptions, compare_heads
from infovit.information.gaussian import log_density_matrix
from infovit.information.heads import (
    HeadSelector,
    extract_head_posteriors,
    match_channel_names,
    parse_head_selector,
)
from infovit.information.io import load_posteriors, save_posteriors
from infovit.information.nmi import (
    METHODS,
    Estimate,
    InformationMatrix,
    information_matrix,
    mutual_information,
    normalized_mutual_information,
)

__all__ = [
    "METHODS",
    "CompareOptions",
    "Estimate",
    "GaussianChannel",
    "HeadSelector",
    "InformationMatrix",
    "as_channel",
    "compare_heads",
    "concat_channels",
    "extract_head_posteriors",
    "information_matrix",
    "load_posteriors",
    "log_density_matrix",
    "match_channel_names",
    "mutual_information",
    "normalized_mutual_information",
    "parse_head_selector",
    "save_posteriors",
]
