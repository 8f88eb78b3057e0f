"""Open run folders for analysis: model, validation data and a cache fingerprint per run."""

from __future__ import annotations

from pathlib import Path

from infovit.analysis.report import LoadedRun, describe_label
from infovit.data import parse_data_spec
from infovit.training.run import RunFolder, load_model, validation_set

__all__ = ["load_runs"]


def load_runs(
    paths: list[str | Path],
    data: str | None = None,
    tag: str = "auto",
    device: str = "cpu",
) -> list[LoadedRun]:
    """Each run's model and validation set (``data``, else the first run's own data spec).

    Names are the folder names, made unique; the fingerprint identifies the checkpoint and data
    so cached extractions are reused only while both are unchanged.
    """
    loaded: list[LoadedRun] = []
    names: set[str] = set()
    spec = data
    for path in paths:
        folder = RunFolder.open(path)
        model, config = load_model(path, tag=tag, device=device)
        spec = spec or config.data.spec
        parsed = parse_data_spec(spec)
        dataset = validation_set(config, spec)
        name = Path(path).resolve().name
        while name in names:
            name += "_"
        names.add(name)
        ckpt = folder.checkpoint_path("best" if folder.has_checkpoint("best") else "last")
        stat = ckpt.stat() if ckpt.is_file() else None
        loaded.append(
            LoadedRun(
                name=name,
                model=model,
                dataset=dataset,
                label=describe_label(config),
                seed=config.optim.seed,
                fingerprint={
                    "run": str(Path(path).resolve()),
                    "tag": tag,
                    "checkpoint_mtime": stat.st_mtime if stat else None,
                    "checkpoint_size": stat.st_size if stat else None,
                    "data": str(parsed),
                },
                imagenet=parsed.name != "synthetic",
            )
        )
    return loaded
