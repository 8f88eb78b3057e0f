"""The demo's claim checks decide on the numbers they are given, both ways."""

from __future__ import annotations

import csv
from itertools import pairwise

from infovit.demo import SpectrumRow
from infovit.demo.claims import check_claims, format_claims
from infovit.demo.findings import RoutingFinding


def _row(name, variant, beta, top1, kl):
    return SpectrumRow(name, variant, beta, "mean", top1, 0.5, kl, None, 5, name)


def _finding(model, active, key_share, shifts):
    return RoutingFinding(
        model=model,
        active_heads=[f"0.{i}" for i in range(active)],
        key_kl_share=key_share,
        key_patch_share=2 / 36,
        probe_head="0.0",
        probe_head_nats_share=0.5,
        probe_head_key_share=0.5,
        probe_copies=[4, 16, 35],
        probe_abs_shift=shifts,
        monotone=all(a < b for a, b in pairwise(shifts)),
    )


def _voting(tmp_path, simpson, spread):
    (tmp_path / "tables").mkdir(exist_ok=True)
    with open(tmp_path / "tables" / "voting.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "simpson_median", "logit_range_median"])
        w.writerows([m, simpson[m], spread[m]] for m in simpson)


ROWS = [
    _row("no_attn", "no_attn", None, 55.0, 0.0),
    _row("ib_beta10", "ib", 10.0, 72.0, 2.0),
    _row("ib_beta3", "ib", 3.0, 88.0, 11.0),
    _row("ib_beta0.03", "ib", 0.03, 99.5, 500.0),
    _row("vit", "vit", None, 100.0, None),
]
FINDINGS = [
    _finding("ib_beta10", 2, 0.30, [0.01, 0.02, 0.05]),
    _finding("ib_beta3", 4, 0.35, [0.02, 0.1, 0.3]),
    _finding("ib_beta0.03", 8, 0.10, [0.1, 0.4, 1.6]),
]
MODELS = ["no_attn", "ib_beta10", "ib_beta3", "ib_beta0.03", "vit"]


def _claims(tmp_path, rows=ROWS, findings=FINDINGS, simpson=None, spread=None):
    simpson = simpson or dict(zip(MODELS, [3.0, 2.0, 1.8, 1.2, 1.0], strict=True))
    spread = spread or dict(zip(MODELS, [20.0, 15.0, 14.0, 12.0, 10.0], strict=True))
    _voting(tmp_path, simpson, spread)
    return {c.name: c for c in check_claims(rows, findings, tmp_path, 8, 2 / 3)}


def test_every_claim_holds_on_numbers_that_show_it(tmp_path):
    claims = _claims(tmp_path)
    assert all(c.holds for c in claims.values()), claims
    assert "β=10: 2/8" in claims["few active heads at strong β"].evidence
    text = format_claims(list(claims.values()))
    assert text.count("| yes |") == 6 and "**no**" not in text


def test_each_claim_fails_when_its_numbers_contradict_it(tmp_path):
    dip = [*ROWS[:2], _row("ib_beta3", "ib", 3.0, 60.0, 11.0), *ROWS[3:]]
    assert not _claims(tmp_path, rows=dip)["spectrum"].holds
    many = [_finding("ib_beta10", 3, 0.3, [0.01, 0.02, 0.05]), *FINDINGS[1:]]
    assert not _claims(tmp_path, findings=many)["few active heads at strong β"].holds
    fewer_later = [FINDINGS[0], _finding("ib_beta3", 1, 0.35, [0.02, 0.1, 0.3]), FINDINGS[2]]
    claims = _claims(tmp_path, findings=fewer_later)
    assert claims["few active heads at strong β"].holds
    assert not claims["more active heads as β weakens"].holds
    spread_out = [_finding("ib_beta10", 2, 0.01, [0.01, 0.02, 0.05]), *FINDINGS[1:]]
    assert not _claims(tmp_path, findings=spread_out)["nats into the keys"].holds
    flat = [*FINDINGS[:2], _finding("ib_beta0.03", 8, 0.1, [0.4, 0.3, 0.5])]
    assert not _claims(tmp_path, findings=flat)["repetition probe"].holds
    unanimous = dict(zip(MODELS, [1.1, 2.0, 1.8, 1.2, 1.0], strict=True))
    assert not _claims(tmp_path, simpson=unanimous)["patch voting"].holds


def test_a_model_below_one_nat_is_not_asked_to_concentrate(tmp_path):
    """The key-share and probe rules apply to models that route at least one nat per image."""
    rows = [*ROWS[:1], _row("ib_beta10", "ib", 10.0, 60.0, 0.2), *ROWS[2:]]
    spread_out = [_finding("ib_beta10", 0, 0.01, [0.3, 0.2, 0.1]), *FINDINGS[1:]]
    claims = _claims(tmp_path, rows=rows, findings=spread_out)
    assert claims["nats into the keys"].holds and claims["repetition probe"].holds
