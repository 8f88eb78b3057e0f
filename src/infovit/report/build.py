"""``build_report``: from run, sweep, analysis, geometry or compare-heads folders to a site.

Every input is checked before anything is written. The site is built in a temporary sibling
of ``out`` and renamed into place only when complete, so a failure leaves nothing behind and a
rebuild replaces the previous report whole (never a mix of two). Runs without an analysis that
covers them are analysed first, with the library's :func:`infovit.analysis.analyze`, into
``out/analysis``; a later rebuild reuses that analysis (and its extraction cache).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from infovit import __version__
from infovit.atomic import fsync_dir, write_json
from infovit.errors import InfovitError
from infovit.report.assets import Assets
from infovit.report.collect import collect_site
from infovit.report.site import render_site
from infovit.report.sources import (
    AnalysisFolder,
    GeometryOutput,
    NmiOutput,
    find_geometry,
    find_nmi,
    is_analysis,
    is_nmi,
)

__all__ = ["MARKER", "build_report"]

MARKER = "report.json"  # marks a folder as a report that a rebuild may replace


@dataclass
class _Inputs:
    analyses: list[Path] = field(default_factory=list)
    runs: list[Path] = field(default_factory=list)
    candidates: list[Path] = field(default_factory=list)  # analyses that may cover the runs
    geometry: list[tuple[list[GeometryOutput], list[Path]]] = field(default_factory=list)
    nmi: list[NmiOutput] = field(default_factory=list)


def build_report(
    paths: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    analyze_missing: bool = True,
    analysis_options: Mapping[str, Any] | None = None,
    command: Sequence[str] | None = None,
) -> Path:
    """Write the HTML report of ``paths`` into the folder ``out``; returns ``out/index.html``.

    ``paths``: run folders, sweep folders, one analysis folder, geometry outputs, compare-heads
    outputs, in any mix. Runs with no analysis covering them are analysed into
    ``out/analysis`` with ``analysis_options`` (fields of ``AnalysisOptions``), unless
    ``analyze_missing`` is false: then that is a one-line :class:`InfovitError`.
    ``command`` is recorded on the provenance page (default: this process' command line).
    """
    items = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not items:
        raise InfovitError("give at least one run, sweep or analysis folder to report on")
    out = Path(out)
    _check_out(out)
    inputs = _classify(items)
    if len(inputs.analyses) > 1:
        raise InfovitError(
            f"give at most one analysis folder, got {len(inputs.analyses)}; analyse the runs "
            "together with 'infovit analyze RUN RUN ... --out DIR' and report DIR"
        )
    covering = _covering(inputs, out)
    if inputs.runs and covering is None and not analyze_missing:
        names = ", ".join(p.name for p in inputs.runs)
        raise InfovitError(
            f"no analysis of {names} found (looked in {_looked(inputs, out)}); run 'infovit "
            "analyze RUN ... --out DIR' and report DIR, or drop --no-analyze"
        )
    if covering is None and not inputs.runs:
        covering = inputs.analyses[0] if inputs.analyses else None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        analysis_dir = _analysis(inputs, covering, out, tmp, analysis_options or {})
        analysis = AnalysisFolder.open(analysis_dir) if analysis_dir else None
        if analysis is not None:
            inputs.geometry += [g for g in _nested_geometry(analysis.root) if g[0]]
            inputs.nmi += find_nmi(analysis.root)
        recorded = list(command) if command is not None else _this_command()
        assets = Assets()
        site = collect_site(analysis, inputs.geometry, inputs.nmi, assets, recorded, _versions())
        pages = render_site(site, assets, tmp)
        write_json(
            tmp / MARKER,
            {
                "infovit": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": recorded,
                "inputs": [str(p) for p in items],
                "analysis": str(analysis_dir) if analysis_dir else None,
                "pages": [p.name for p in pages],
            },
        )
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InfovitError(f"--out {str(out)!r} is a file; give a folder path")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InfovitError(
            f"--out {str(out)!r} exists and is not an infovit report; choose a new folder "
            "(an earlier report there is replaced whole)"
        )
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise InfovitError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder")


def _classify(items: list[Path]) -> _Inputs:
    from infovit.sweep.folder import SweepFolder, expand_runs

    inputs = _Inputs()
    for path in items:
        if not path.exists():
            raise InfovitError(
                f"{str(path)!r} does not exist; give a run, sweep or analysis folder"
            )
        if not path.is_dir():
            raise InfovitError(
                f"{str(path)!r} is a file; give a run, sweep, analysis, geometry or "
                "compare-heads folder"
            )
        geometry = find_geometry(path)
        if is_analysis(path):
            inputs.analyses.append(path)
        elif geometry[0]:
            inputs.geometry.append(geometry)
        elif is_nmi(path):
            inputs.nmi.append(NmiOutput(path))
        elif SweepFolder.is_sweep(path):
            inputs.runs += expand_runs([path])
            inputs.candidates.append(path / "analysis")
        elif (path / "config.yaml").is_file():
            inputs.runs.append(path)
            inputs.candidates.append(path / "analysis")
        else:
            raise InfovitError(
                f"{str(path)!r} is not a run, sweep, analysis, geometry or compare-heads folder "
                "(it has no config.yaml, sweep.yaml or index.json)"
            )
    return inputs


def _covering(inputs: _Inputs, out: Path) -> Path | None:
    """The first analysis folder that analysed every requested run (its index names them)."""
    if not inputs.runs:
        return None
    wanted = {str(p.resolve()) for p in inputs.runs}
    for folder in [*inputs.analyses, *inputs.candidates, out / "analysis"]:
        if not is_analysis(folder):
            continue
        done = {str(Path(str(r.get("run"))).resolve()) for r in AnalysisFolder.open(folder).runs}
        if wanted <= done:
            return folder
    return None


def _looked(inputs: _Inputs, out: Path) -> str:
    places = [*inputs.analyses, *inputs.candidates, out / "analysis"]
    return ", ".join(str(p) for p in dict.fromkeys(places))


def _analysis(
    inputs: _Inputs, covering: Path | None, out: Path, tmp: Path, options: Mapping[str, Any]
) -> Path | None:
    """The analysis folder to read: an existing one, a copy of the previous report's (which the
    swap replaces), or a fresh analysis of the runs in ``tmp/analysis``."""
    target = tmp / "analysis"
    if covering is not None:
        if covering.resolve().is_relative_to(out.resolve()):
            shutil.copytree(covering, target)
            return target
        return covering
    if not inputs.runs:
        return None
    from infovit.analysis import AnalysisOptions, analyze
    from infovit.analysis.loading import load_runs

    if (out / "analysis" / "cache").is_dir():  # reuse the earlier report's extractions
        shutil.copytree(out / "analysis" / "cache", target / "cache")
    opts = AnalysisOptions(**{"progress": False, **options})
    analyze(load_runs(inputs.runs, device=opts.device), target, opts)
    return target


def _nested_geometry(root: Path) -> list[tuple[list[GeometryOutput], list[Path]]]:
    """Geometry outputs inside an analysis folder: its sub-folders, or those of ``geometry/``."""
    found = [find_geometry(root)]
    if (root / "geometry").is_dir():
        found.append(find_geometry(root / "geometry"))
    return found


def _swap(tmp: Path, out: Path) -> None:
    """Put the finished site in place of ``out`` (a previous report is removed whole)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old.{os.getpid()}.tmp"
        os.rename(out, old)
    os.rename(tmp, out)
    fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _this_command() -> list[str]:
    return [Path(sys.argv[0]).name or "python", *sys.argv[1:]]


def _versions() -> dict[str, str]:
    versions = {"infovit": __version__, "python": platform.python_version()}
    for package in ("torch", "timm", "jinja2"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
