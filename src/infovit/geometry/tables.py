"""Geometry results on disk: one ``.npz`` of arrays per split, CSV views, and a JSON index.

Layout of an output directory::

    index.json                 what was measured and how (model, data, fit convention, plans)
    geometry_<split>.npz       all arrays (α, R², spectra, correlations, clusters, token labels)
    alpha_<split>.csv          one row per (layer, token): α, R², fitted ranks, total variance
    layers_<split>.csv         one row per layer: mean correlations, pooled α, mean α

Figures are drawn from these files only (:mod:`infovit.geometry.plot`), never recomputed.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infovit.atomic import atomic_path, write_json, write_text
from infovit.errors import InfovitError
from infovit.geometry.pipeline import GeometryResult
from infovit.geometry.trajectories import ClusterResult

__all__ = ["FORMAT", "GeometryRun", "SplitTables", "load_run", "save_run"]

FORMAT = "infovit-geometry/1"


@dataclass
class SplitTables:
    """The arrays of one split, indexed [layer row, token, ...] like :class:`GeometryResult`."""

    layer_index: np.ndarray  # [L] int: −1 pixels, 0 embedding, ℓ block ℓ
    layer_name: list[str]
    layer_dim: np.ndarray  # [L]
    token_kind: list[str]  # [T] "cls" / "reg" / "patch"
    token_row: np.ndarray  # [T] −1 for prefix tokens
    token_col: np.ndarray
    grid: tuple[int, int]
    count: int
    alpha: np.ndarray  # [L, T]
    r2: np.ndarray
    intercept: np.ndarray
    n_fit: np.ndarray
    total_variance: np.ndarray
    spectra: np.ndarray  # [L, T, K] float32
    pooled_alpha: np.ndarray  # [L]
    pooled_r2: np.ndarray
    pooled_spectra: np.ndarray  # [L, K]
    corr: np.ndarray | None = None  # [L, T, T]
    corr_mean: np.ndarray | None = None  # [L]
    corr_mean_spatial: np.ndarray | None = None
    cluster_labels: np.ndarray | None = None  # [T]
    cluster_embedding: np.ndarray | None = None  # [T, 2]
    cluster_method: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def spatial(self) -> np.ndarray:
        return np.array([k == "patch" for k in self.token_kind])

    @property
    def cls_index(self) -> int | None:
        return self.token_kind.index("cls") if "cls" in self.token_kind else None

    @classmethod
    def from_result(
        cls, result: GeometryResult, clusters: ClusterResult | None = None
    ) -> SplitTables:
        info: dict[str, Any] = {"plan": result.plan.as_dict(), **result.info}
        if clusters is not None:
            info["clusters"] = {
                "k": clusters.k,
                "seed": clusters.seed,
                "method": clusters.method,
                "layers_used": [int(x) for x in np.flatnonzero(clusters.layers_used)],
            }
        return cls(
            layer_index=np.array([s.index for s in result.layers]),
            layer_name=[s.name for s in result.layers],
            layer_dim=np.array([s.dim for s in result.layers]),
            token_kind=list(result.labels.kind),
            token_row=np.asarray(result.labels.row),
            token_col=np.asarray(result.labels.col),
            grid=result.labels.grid,
            count=result.count,
            alpha=result.alpha,
            r2=result.r2,
            intercept=result.intercept,
            n_fit=result.n_fit,
            total_variance=result.total_variance,
            spectra=result.spectra,
            pooled_alpha=result.pooled_alpha,
            pooled_r2=result.pooled_r2,
            pooled_spectra=result.pooled_spectra,
            corr=result.corr,
            corr_mean=result.corr_mean,
            corr_mean_spatial=result.corr_mean_spatial,
            cluster_labels=None if clusters is None else clusters.labels,
            cluster_embedding=None if clusters is None else clusters.embedding,
            cluster_method=None if clusters is None else clusters.method,
            info=info,
        )


@dataclass
class GeometryRun:
    """One output directory: metadata plus the tables of each split."""

    path: Path
    meta: dict[str, Any]
    splits: dict[str, SplitTables]

    @property
    def label(self) -> str:
        return str(self.meta.get("label") or self.path.name)

    @property
    def beta(self) -> float | None:
        beta = self.meta.get("model", {}).get("beta")
        return None if beta is None else float(beta)


_ARRAYS = (
    "layer_index",
    "layer_dim",
    "token_row",
    "token_col",
    "alpha",
    "r2",
    "intercept",
    "n_fit",
    "total_variance",
    "spectra",
    "pooled_alpha",
    "pooled_r2",
    "pooled_spectra",
)
_OPTIONAL = ("corr", "corr_mean", "corr_mean_spatial", "cluster_labels", "cluster_embedding")


def _alpha_csv(t: SplitTables) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["layer", "layer_name", "token", "kind", "row", "col", "alpha", "r2", "n_fit", "variance"]
    )
    for li, name in enumerate(t.layer_name):
        for tok, kind in enumerate(t.token_kind):
            a = t.alpha[li, tok]
            if not np.isfinite(a) and not np.isfinite(t.total_variance[li, tok]):
                continue  # no representation here (pixels of a prefix token)
            w.writerow(
                [
                    int(t.layer_index[li]),
                    name,
                    tok,
                    kind,
                    int(t.token_row[tok]),
                    int(t.token_col[tok]),
                    f"{a:.6g}",
                    f"{t.r2[li, tok]:.6g}",
                    int(t.n_fit[li, tok]),
                    f"{t.total_variance[li, tok]:.6g}",
                ]
            )
    return buf.getvalue()


def _layers_csv(t: SplitTables) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "layer",
            "layer_name",
            "mean_alpha_spatial",
            "alpha_cls",
            "pooled_alpha",
            "pooled_r2",
            "mean_corr",
            "mean_corr_spatial",
        ]
    )
    spatial = t.spatial
    cls_i = t.cls_index
    for li, name in enumerate(t.layer_name):
        sp = t.alpha[li, spatial]
        sp = sp[np.isfinite(sp)]
        w.writerow(
            [
                int(t.layer_index[li]),
                name,
                f"{sp.mean():.6g}" if sp.size else "nan",
                f"{t.alpha[li, cls_i]:.6g}" if cls_i is not None else "",
                f"{t.pooled_alpha[li]:.6g}",
                f"{t.pooled_r2[li]:.6g}",
                f"{t.corr_mean[li]:.6g}" if t.corr_mean is not None else "",
                f"{t.corr_mean_spatial[li]:.6g}" if t.corr_mean_spatial is not None else "",
            ]
        )
    return buf.getvalue()


def save_run(out_dir: str | Path, meta: dict[str, Any], splits: dict[str, SplitTables]) -> Path:
    """Write every split's arrays and CSVs, then the index (last, so it only names whole files)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index: dict[str, Any] = {"format": FORMAT, **meta, "splits": {}}
    for split, t in splits.items():
        arrays = {name: getattr(t, name) for name in _ARRAYS}
        arrays.update({n: getattr(t, n) for n in _OPTIONAL if getattr(t, n) is not None})
        arrays["token_kind"] = np.array(t.token_kind)
        arrays["layer_name"] = np.array(t.layer_name)
        arrays["grid"] = np.array(t.grid)
        arrays["count"] = np.array(t.count)
        npz = f"geometry_{split}.npz"
        with atomic_path(out / npz) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        write_text(out / f"alpha_{split}.csv", _alpha_csv(t))
        write_text(out / f"layers_{split}.csv", _layers_csv(t))
        index["splits"][split] = {
            "arrays": npz,
            "alpha_csv": f"alpha_{split}.csv",
            "layers_csv": f"layers_{split}.csv",
            "count": t.count,
            "cluster_method": t.cluster_method,
            **t.info,
        }
    write_json(out / "index.json", index)
    return out / "index.json"


def load_run(path: str | Path) -> GeometryRun:
    """Read an output directory written by :func:`save_run`."""
    root = Path(path)
    index_path = root / "index.json" if root.is_dir() else root
    if not index_path.is_file():
        raise InfovitError(f"{root} has no index.json: not a geometry output directory")
    index = json.loads(index_path.read_text(encoding="utf-8"))
    if index.get("format") != FORMAT:
        raise InfovitError(f"{index_path} is not in format {FORMAT} (got {index.get('format')})")
    root = index_path.parent
    splits: dict[str, SplitTables] = {}
    for split, entry in index["splits"].items():
        with np.load(root / entry["arrays"], allow_pickle=False) as z:
            opt = {n: z[n] for n in _OPTIONAL if n in z.files}
            info = {k: v for k, v in entry.items() if k not in ("arrays", "cluster_method")}
            splits[split] = SplitTables(
                **{n: z[n] for n in _ARRAYS},
                layer_name=[str(x) for x in z["layer_name"]],
                token_kind=[str(x) for x in z["token_kind"]],
                grid=(int(z["grid"][0]), int(z["grid"][1])),
                count=int(z["count"]),
                cluster_method=entry.get("cluster_method"),
                info=info,
                **opt,
            )
    meta = {k: v for k, v in index.items() if k not in ("format", "splits")}
    return GeometryRun(root, meta, splits)
