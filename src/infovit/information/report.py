"""Tables of information estimates: CSV files written atomically."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence

from infovit.atomic import write_text
from infovit.information.nmi import InformationMatrix

__all__ = ["channel_rows", "matrix_csv", "pair_rows", "write_rows"]


def _num(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.6g}"


def pair_rows(
    m: InformationMatrix, rows: Sequence[str], cols: Sequence[str]
) -> list[dict[str, str]]:
    """One record per (row, column) channel pair: NMI and I(U;V), each with its standard error."""
    out = []
    for r in rows:
        for c in cols:
            i, j = m.index(r), m.index(c)
            out.append(
                {
                    "row": r,
                    "col": c,
                    "method": m.method,
                    "nmi": _num(float(m.nmi[i, j])),
                    "nmi_se": _num(float(m.nmi_se[i, j])),
                    "mi_uv": _num(float(m.pair_mi[i, j])),
                    "mi_uv_se": _num(float(m.pair_mi_se[i, j])),
                }
            )
    return out


def channel_rows(m: InformationMatrix) -> list[dict[str, str]]:
    """One record per channel: I(X;U) and I(U;U′) with standard errors (nats)."""
    return [
        {
            "channel": name,
            "method": m.method,
            "mi_xu": _num(float(m.mi[i])),
            "mi_xu_se": _num(float(m.mi_se[i])),
            "mi_uu": _num(float(m.self_mi[i])),
            "mi_uu_se": _num(float(m.self_mi_se[i])),
        }
        for i, name in enumerate(m.names)
    ]


def matrix_csv(
    m: InformationMatrix, rows: Sequence[str], cols: Sequence[str], *, stderr: bool = False
) -> str:
    """The NMI (or its standard error) as a rows × columns table with names as headers."""
    values = m.nmi_se if stderr else m.nmi
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["channel", *cols])
    for r in rows:
        w.writerow([r, *(_num(float(values[m.index(r), m.index(c)])) for c in cols)])
    return buf.getvalue()


def write_rows(path: str | os.PathLike[str], records: Sequence[dict[str, str]]) -> None:
    """Records with the same keys → CSV file (atomic)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(records)
    write_text(path, buf.getvalue())
