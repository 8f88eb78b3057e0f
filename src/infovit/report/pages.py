"""The data of the model pages and head pages, from the analysis' per-head and per-image tables.

A model page shows one model's rows of tables that hold every model (the head grid, KL-map and
rank grids, voting, JSD); a head page one head's rows (survival, extreme patches, repetition,
NMI). The analysis figures that draw every model in one panel are linked from both.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from infovit.report.assets import safe_name
from infovit.report.graphics import category_colour, scale_colour, survival_plot, text_colour
from infovit.report.reader import KL_SELECTIONS, Reader, as_int, generic_rows, num, rows_of
from infovit.report.sources import Row

__all__ = ["head_pages", "model_page"]


def head_pages(
    c: Reader, runs: list[dict[str, Any]], nmi_pairs: list[Row]
) -> dict[tuple[str, int, int], dict[str, Any]]:
    """One page per head of the heads table, keyed (model, block, head)."""
    table = c.table("heads") or []
    survival = c.table("head_survival")
    slugs = {r["name"]: r["slug"] for r in runs}
    by_head: dict[tuple[str, int, int], list[Row]] = defaultdict(list)
    for r in survival or []:
        b, h = as_int(r.get("block")), as_int(r.get("head"))
        if b is not None and h is not None:
            by_head[(str(r.get("model")), b, h)].append(r)
    pages: dict[tuple[str, int, int], dict[str, Any]] = {}
    channel = {}
    for row in table:
        model, b, h = str(row.get("model")), as_int(row.get("block")), as_int(row.get("head"))
        if b is None or h is None or model not in slugs:
            continue
        key = (model, b, h)
        channel[f"{model}:{b}.{h}"] = key
        pages[key] = {
            "model": model,
            "model_slug": slugs[model],
            "block": b,
            "head": h,
            "href": f"head-{slugs[model]}-{b}.{h}.html",
            "stats": row,
            "survival": survival_plot(
                [(num(r.get("kl")), num(r.get("survival"))) for r in by_head.get(key, [])]
            )
            if survival is not None
            else None,
            "survival_computed": survival is not None,
        }
    figure = c.figure("head_survival", "survival functions of every head's KL")
    for (model, b, h), page in pages.items():
        stem = f"extreme_{safe_name(model)}_{b}.{h}"
        page["survival_figure"] = figure
        page["extreme"] = c.figure(stem, f"patches of highest KL for head {b}.{h} of {model}")
        page["extreme_rows"] = (c.table(stem) or [])[:12]
        page["extreme_href"] = c.table_href(stem)
        page["repetition"] = rows_of(c.table("repetition"), model=model, block=b, head=h)
        page["repetition_computed"] = c.table("repetition") is not None
        page["nmi"] = _nmi_rows(f"{model}:{b}.{h}", nmi_pairs, channel, pages)
        page["nmi_computed"] = bool(nmi_pairs)  # rows empty: this head was not compared
        page["others"] = generic_rows(c, "head", model=model, block=b, head=h)
    return pages


def _nmi_rows(
    name: str, pairs: list[Row], channel: dict[str, Any], pages: dict[Any, dict[str, Any]]
) -> dict[str, Any]:
    """NMI of head ``name`` with every other head compared with it: one row per other head,
    one column per estimation method (the matrix lists each pair twice; shown once)."""
    methods: list[str] = []
    others: dict[str, dict[str, Any]] = {}
    for p in pairs:
        if name not in (p.get("row"), p.get("col")) or p.get("row") == p.get("col"):
            continue
        other = str(p["col"] if p.get("row") == name else p["row"])
        method = str(p.get("method"))
        if method not in methods:
            methods.append(method)
        key = channel.get(other)
        row = others.setdefault(
            other, {"other": other, "values": {}, "href": pages[key]["href"] if key else None}
        )
        row["values"][method] = (num(p.get("nmi")), num(p.get("nmi_se")))
    return {"methods": methods, "rows": list(others.values())}


def model_page(
    c: Reader,
    run: dict[str, Any],
    heads: dict[tuple[str, int, int], dict[str, Any]],
    classes: list[str] | None,
) -> dict[str, Any]:
    name = run["name"]
    mine = {(b, h): p for (m, b, h), p in heads.items() if m == name}
    grid = _head_grid(mine)
    voting = c.table("voting")
    shares = c.table("rank_shares")
    categories = list(dict.fromkeys(str(r.get("category")) for r in shares or []))
    return {
        "name": name,
        "slug": run["slug"],
        "label": run["label"],
        "href": f"model-{run['slug']}.html",
        "grid": grid,
        "heads_computed": c.table("heads") is not None,
        "heads_figure": c.figure("active_heads", "KL per head, every model"),
        "klmaps": [_klmaps(c, name, s, classes) for s in KL_SELECTIONS],
        "voting": next(iter(rows_of(voting, model=name)), None),
        "voting_computed": voting is not None,
        "voting_figure": c.figure("voting", "Simpson index against logit range per model"),
        "rank_shares": [
            dict(r, colour=category_colour(categories.index(str(r.get("category")))))
            for r in rows_of(shares, model=name)
        ],
        "rank_maps": _grids(c.table("rank_maps"), name, classes, categories=categories),
        "rank_figure": c.figure("rank_maps", "patches coloured by the rank of their vote"),
        "jsd": _jsd(
            rows_of(c.table("jsd_bins"), reference=name) + rows_of(c.table("jsd_bins"), model=name)
        ),
        "jsd_computed": c.table("jsd_bins") is not None,
        "jsd_figure": c.figure("jsd_bins", "share of images per Jensen-Shannon divergence bin"),
        "others": generic_rows(c, "model", model=name),
    }


def _head_grid(mine: dict[tuple[int, int], dict[str, Any]]) -> dict[str, Any] | None:
    """Blocks × heads of one model, each cell its mean KL per patch (log colour scale), linked
    to the head's page; None for a model without heads."""
    if not mine:
        return None
    peak = max((num(p["stats"].get("kl_mean")) for p in mine.values()), default=0.0)
    cols = sorted({h for _, h in mine})
    rows = []
    for b in sorted({b for b, _ in mine}):
        cells = []
        for h in cols:
            p = mine.get((b, h))
            v = num(p["stats"].get("kl_mean")) if p else float("nan")
            colour = scale_colour(v, peak, log=True)
            cells.append(
                {
                    "page": p,
                    "value": v,
                    "colour": colour,
                    "text": text_colour(colour),
                    "active": p is not None and p["stats"].get("active") == "True",
                }
            )
        rows.append({"block": b, "cells": cells})
    return {"heads": cols, "rows": rows}


def _jsd(rows: list[Row]) -> dict[str, Any] | None:
    """JSD bins as one row per (reference, model) pair and one column per bin."""
    if not rows:
        return None
    bins: dict[str, tuple[str, str]] = {}
    pairs: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for r in rows:
        key = f"{r.get('jsd_lo')}|{r.get('jsd_hi')}"
        bins.setdefault(key, (str(r.get("jsd_lo")), str(r.get("jsd_hi"))))
        pairs[(str(r.get("reference")), str(r.get("model")))][key] = str(r.get("share"))
    return {
        "bins": list(bins.values()),
        "rows": [
            {"reference": ref, "model": model, "shares": [v.get(k) for k in bins]}
            for (ref, model), v in pairs.items()
        ],
    }


def _klmaps(c: Reader, model: str, selection: str, classes: list[str] | None) -> dict:
    rows = c.table(f"klmaps_{selection}")
    return {
        "selection": selection,
        "computed": rows is not None,
        "figure": c.figure(f"klmaps_{selection}", f"per-patch KL maps of the {selection} images"),
        "href": c.table_href(f"klmaps_{selection}"),
        "images": _grids(rows, model, classes),
    }


def _grids(
    rows: list[Row] | None,
    model: str,
    classes: list[str] | None,
    categories: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Per image of ``model``: a patch grid of its KL (viridis) or vote category (palette)."""
    by_image: dict[str, list[Row]] = defaultdict(list)
    for r in rows_of(rows, model=model):
        by_image[str(r.get("image"))].append(r)
    peak = max((num(r.get("kl")) for r in rows_of(rows, model=model)), default=0.0)
    images = []
    for image, cells in by_image.items():
        n_rows = 1 + max(as_int(r.get("row")) or 0 for r in cells)
        n_cols = 1 + max(as_int(r.get("col")) or 0 for r in cells)
        grid: list[list[dict[str, Any]]] = [[{}] * n_cols for _ in range(n_rows)]
        for r in cells:
            if categories is not None:
                cat = str(r.get("category"))
                colour = category_colour(categories.index(cat)) if cat in categories else "#ccc"
                title = f"{cat} (top class {_class(r.get('top_class'), classes)})"
            else:
                colour = scale_colour(num(r.get("kl")), peak)
                title = f"{num(r.get('kl')):.3g} nats"
            grid[as_int(r.get("row")) or 0][as_int(r.get("col")) or 0] = {
                "colour": colour,
                "title": title,
            }
        first = cells[0]
        images.append(
            {
                "image": image,
                "label": _class(first.get("label"), classes),
                "pred": _class(first.get("pred"), classes),
                "correct": first.get("label") == first.get("pred"),
                "total": sum(num(r.get("kl")) for r in cells) if categories is None else None,
                "grid": grid,
            }
        )
    return images


def _class(value: Any, classes: list[str] | None) -> str:
    """A class index as its name (from the run's data; names are folder names: any text)."""
    i = as_int(value)
    if classes and i is not None and 0 <= i < len(classes):
        return f"{classes[i]} ({i})"
    return str(value)
