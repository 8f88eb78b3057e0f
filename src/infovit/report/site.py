"""Render the collected page data into HTML files with the package's Jinja2 templates.

Autoescaping is on for every template: class names are folder names, run names are folder
names, config values are whatever a user typed, so any of them may hold markup; none of it is
ever marked safe. The pages need no JavaScript and load nothing from the network.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, PackageLoader, Undefined

from infovit.report.assets import Assets

__all__ = ["environment", "render_site"]


def _fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; "—" for missing values; text as is."""
    if value is None or value == "" or isinstance(value, Undefined):
        return "—"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "—"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e5 or a < 1e-3:
        return f"{v:.{digits - 1}e}"
    if a >= 10**digits:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def _pm(value: Any, std: Any, digits: int = 3) -> str:
    """``value ± std``; the ± part only where a spread was measured."""
    text = _fmt(value, digits)
    s = _fmt(std, 2)
    return text if s in ("—", "0") or text == "—" else f"{text} ± {s}"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("infovit.report", "templates"),
        autoescape=True,  # every page is HTML; see the module docstring
        undefined=ChainableUndefined,  # a column a table lacks prints as missing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["pm"] = _pm
    return env


def render_site(site: dict[str, Any], assets: Assets, out: Path) -> list[Path]:
    """Write every page and copy every asset into the folder ``out``; returns the pages."""
    env = environment()
    nav = {
        "models": [{"name": m["name"], "href": m["href"]} for m in site["models"]],
        "geometry": any(site["geometry"][k] for k in ("outputs", "comparisons", "tables")),
        "nmi": bool(site["nmi"]),
    }
    pages: list[tuple[str, str, dict[str, Any]]] = [
        ("index.html", "overview.html.j2", {"page": site["overview"], "title": "Overview"}),
        ("geometry.html", "geometry.html.j2", {"page": site["geometry"], "title": "Geometry"}),
        ("nmi.html", "nmi.html.j2", {"page": site["nmi"], "title": "NMI between heads"}),
        ("provenance.html", "provenance.html.j2",
         {"page": site["provenance"], "title": "Provenance"}),
    ]  # fmt: skip
    for model in site["models"]:
        pages.append((model["href"], "model.html.j2", {"page": model, "title": model["name"]}))
    for head in site["heads"].values():
        title = f"{head['model']} head {head['block']}.{head['head']}"
        pages.append((head["href"], "head.html.j2", {"page": head, "title": title}))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, template, context in pages:
        html = env.get_template(template).render(nav=nav, current=name, **context)
        (out / name).write_text(html, encoding="utf-8")
        written.append(out / name)
    assets.copy_into(out)
    return written
