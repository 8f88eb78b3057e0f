"""Training: config, objective (CE + β·KL), optimizer, loop, evaluation and run folders."""

from infovit.training.config import BetaConfig, Config, DataConfig, OptimConfig, load_config
from infovit.training.evaluate import EvalResult, evaluate
from infovit.training.objective import beta_at, information_loss
from infovit.training.run import RunFolder, load_model
from infovit.training.trainer import train

__all__ = [
    "BetaConfig",
    "Config",
    "DataConfig",
    "EvalResult",
    "OptimConfig",
    "RunFolder",
    "beta_at",
    "evaluate",
    "information_loss",
    "load_config",
    "load_model",
    "train",
]
