"""Open run folders for analysis: model, validation data and a cache fingerprint per run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infovit.analysis.context import LoadedRun
from infovit.analysis.run import describe_label
from infovit.data import parse_data_spec
from infovit.data.facts import dataset_facts
from infovit.naming import run_names
from infovit.training.run import RunFolder, load_model, validation_set

__all__ = ["load_runs"]


def load_runs(
    paths: Sequence[str | Path],
    data: str | None = None,
    tag: str = "auto",
    device: str = "cpu",
) -> list[LoadedRun]:
    """Each run's model and validation set (``data``, else the first run's own data spec).

    Names follow :func:`infovit.naming.run_names` (folder names, made unique); the fingerprint
    identifies the checkpoint and data so cached extractions are reused only while both are
    unchanged: the checkpoint by its resolved tag, step and the SHA-256 of its weights.
    """
    loaded: list[LoadedRun] = []
    spec = data
    for path, name in zip(paths, run_names([Path(p).resolve() for p in paths]), strict=True):
        folder = RunFolder.open(path)
        model, config = load_model(path, tag=tag, device=device)
        spec = spec or config.data.spec
        parsed = parse_data_spec(spec)
        dataset = validation_set(config, spec)
        checkpoint = folder.checkpoint(tag)  # the one load_model loaded: auto → best or last
        loaded.append(
            LoadedRun(
                name=name,
                model=model,
                dataset=dataset,
                label=describe_label(config),
                seed=config.optim.seed,
                fingerprint={
                    "run": str(Path(path).resolve()),
                    **checkpoint.fingerprint(),  # tag, step and SHA-256 of the weights
                    "data": str(parsed),
                },
                imagenet=dataset_facts(parsed).imagenet_normalised,
            )
        )
    return loaded
