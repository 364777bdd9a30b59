"""The arable-land ledger (耕地台账) of a unit and year, from the change records.

    opening arable (Y−1 year end)
  + gains by source class (construction 复垦, ecological, restructuring, other)
  − losses by destination (construction legal / illegal, ecological 生态退耕, restructuring
    农业结构调整, other)                                     [landclass ``flow_kind``]
  + internal change (arable → arable pieces: a new 田坎 coefficient, or land moving between units)
  = closing arable (Y year end)

A change piece (DLTBGXGC row) carries the area of the piece (TBBGMJ, m²). Its arable part before
the change is TBBGMJ × (1 − BGQKCXS); after the change, a piece that is arable counts net of the
coefficient of the parcel it became (KCXS of the Y snapshot parcel named by BGHTBBSM), since the
update re-applies the deduction with the new coefficient (docs/background.md §1.4). Losses go to the unit
of the piece before the change (BGQZLDWDM), gains to the unit after (BGHZLDWDM).

The residual (closing − everything above) is a figure of its own; beyond 0.01 亩 it is a warning
naming the parcels that explain it where they can be found: parcels whose arable area changed
between the snapshots without any change record, and change records whose parcels are not in the
snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..landclass import LandClassTable, describe_unknown
from ..report import Report
from ..units import M2_TO_MU
from .parts import evidence_rows, group_sums, prefixed

DLTBGXGC_COLUMNS = ["BGQDLBM", "BGHDLBM", "BGQZLDWDM", "BGHZLDWDM", "BGQTBBSM", "BGHTBBSM",
                    "TBBGMJ", "BGQKCXS", "GXSJ"]
LEDGER_TOLERANCE_MU = 0.01
"""A ledger that misses by more than this (亩) is reported."""

_KINDS = ("construction", "ecological", "restructuring", "other")


@dataclass
class ChangePieces:
    """Change records of one year with their arable parts and classification (one row per piece)."""

    ids: np.ndarray
    before_m2: np.ndarray
    after_m2: np.ndarray
    loss: np.ndarray
    gain: np.ndarray
    to_construction: np.ndarray
    new_construction: np.ndarray
    after_kind: np.ndarray
    before_kind: np.ndarray
    bgq_bsm: np.ndarray
    bgh_bsm: np.ndarray
    scheme_after: np.ndarray


def classify_pieces(pieces: pd.DataFrame, year: int, land_classes: LandClassTable,
                    arable_now: pd.DataFrame | None, report: Report) -> ChangePieces:
    """Arable part before and after of every piece, and what kind of flow it is.

    Parameters
    ----------
    pieces : DataFrame
        DLTBGXGC of the year (standard names; TBBGMJ in m²).
    arable_now : DataFrame or None
        ``ParcelSnapshot.arable`` of the Y snapshot (BSM, kcxs), for the coefficient after.
    """
    n = len(pieces)
    ids = prefixed("DLTBGXGC", pieces["BGQTBBSM"] if "BGQTBBSM" in pieces else np.full(n, None),
                   fallback=np.arange(n))
    area = pieces["TBBGMJ"].to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(area).any():
        report.warning("DLTBGXGC", "missing-area", "change pieces without TBBGMJ count 0 in every "
                       "flow; fill TBBGMJ (m²).", year=year, field="TBBGMJ", ids=ids[np.isnan(area)])
        area = np.nan_to_num(area)
    before_arable = land_classes.is_arable(pieces["BGQDLBM"])
    after_arable = land_classes.is_arable(pieces["BGHDLBM"])
    before_kind = land_classes.flow_kind_of(pieces["BGQDLBM"])
    after_kind = land_classes.flow_kind_of(pieces["BGHDLBM"])
    for side in ("BGQDLBM", "BGHDLBM"):
        unknown = land_classes.unknown_codes(pieces[side])
        if len(unknown):
            report.warning("DLTBGXGC", "unknown-code", f"{side} codes not in the land-class table: "
                           f"{describe_unknown(unknown)}; flows to or from them count as 'other'.",
                           year=year, field=side)
    after_kind = np.where(after_kind == "unknown", "other", after_kind)
    before_kind = np.where(before_kind == "unknown", "other", before_kind)

    bgq_kcxs = np.nan_to_num(pieces["BGQKCXS"].to_numpy(dtype="float64", na_value=np.nan)) \
        if "BGQKCXS" in pieces else np.zeros(n)
    before_m2 = np.where(before_arable, area * (1.0 - bgq_kcxs), 0.0)

    bgq_bsm = _text(pieces, "BGQTBBSM")
    bgh_bsm = _text(pieces, "BGHTBBSM")
    after_kcxs = np.full(n, np.nan)
    if arable_now is not None and len(arable_now):
        lookup = arable_now.drop_duplicates("BSM")
        position = pd.Index(lookup["BSM"]).get_indexer(bgh_bsm)
        found = position >= 0
        after_kcxs[found] = lookup["kcxs"].to_numpy()[position[found]]
    unresolved = after_arable & np.isnan(after_kcxs)
    if unresolved.any():
        # Keep the old coefficient when arable stays arable; a piece that newly becomes arable
        # without a parcel to read from counts in full (no deduction known).
        after_kcxs = np.where(unresolved & before_arable, bgq_kcxs, after_kcxs)
        report.warning("DLTBGXGC", "unresolved-after-parcel", "pieces that are arable after the "
                       "change name a BGHTBBSM that is not an arable parcel of the year-end "
                       "snapshot; the deduction coefficient after the change was taken from BGQKCXS "
                       "(arable before) or as 0.", year=year, field="BGHTBBSM", ids=ids[unresolved])
    after_m2 = np.where(after_arable, area * (1.0 - np.nan_to_num(after_kcxs)), 0.0)

    before_construction = land_classes.is_construction(pieces["BGQDLBM"])
    after_construction = land_classes.is_construction(pieces["BGHDLBM"])
    return ChangePieces(
        ids=ids,
        before_m2=before_m2,
        after_m2=after_m2,
        loss=before_arable & ~after_arable,
        gain=~before_arable & after_arable,
        to_construction=before_arable & after_construction,
        new_construction=after_construction & ~before_construction,
        after_kind=after_kind,
        before_kind=before_kind,
        bgq_bsm=bgq_bsm,
        bgh_bsm=bgh_bsm,
        scheme_after=land_classes.scheme_of(pieces["BGHDLBM"]),
    )


def _text(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), None, dtype=object)
    return frame[name].to_numpy(dtype=object)


def change_parts(pieces: ChangePieces, legal_share: np.ndarray, keys_before: dict[str, np.ndarray],
                 keys_after: dict[str, np.ndarray], approval_ids: dict[str, pd.DataFrame] | None = None):
    """Per-unit ledger and derived-occupation components (m²) with their evidence.

    Parameters
    ----------
    legal_share : ndarray
        Share of each piece covered by approvals in force (only read for arable → construction).
    keys_before, keys_after : dict
        Level → unit per piece, by BGQZLDWDM and by BGHZLDWDM.
    approval_ids : dict, optional
        Level → evidence rows of the approvals used (added to the derived figures).
    """
    p = pieces
    loss = p.before_m2 * p.loss
    legal = np.where(p.to_construction, p.before_m2 * legal_share, 0.0)
    illegal = np.where(p.to_construction, p.before_m2 - legal, 0.0)
    internal_both = ~p.loss & ~p.gain
    before_columns = {
        # The ledger's loss stays with the unit the arable land left ...
        "loss_construction_m2": np.where(p.to_construction, p.before_m2, 0.0),
        "loss_construction_legal_m2": legal,
        "loss_construction_illegal_m2": illegal,
        **{f"loss_{k}_m2": np.where(p.after_kind == k, loss, 0.0) for k in _KINDS[1:]},
        # arable → arable: the old arable part leaves the unit before the change ...
        "internal_m2": np.where(internal_both, -p.before_m2, 0.0),
        "gxgc_erdiao_n": (p.scheme_after == "erdiao").astype("float64"),
        "gxgc_sandiao_n": (p.scheme_after == "sandiao").astype("float64"),
    }
    gain = p.after_m2 * p.gain
    after_columns = {
        # ... while occupation by construction is counted where the construction now stands
        # (BGHZLDWDM, docs/background.md §1.4), as WPZF's XZQDM, which these figures cross-check.
        "derived_occupied_m2": np.where(p.to_construction, p.before_m2, 0.0),
        "derived_illegal_m2": illegal,
        **{f"gain_{k}_m2": np.where(p.before_kind == k, gain, 0.0) for k in _KINDS},
        # ... and the new arable part arrives in the unit after it (usually the same unit).
        "internal_m2": np.where(internal_both, p.after_m2, 0.0),
    }
    values, evidence = {}, {}
    for level in keys_before:
        before = group_sums(keys_before[level], before_columns)
        after = group_sums(keys_after[level], after_columns)
        values[level] = before.add(after, fill_value=0.0)
        kb, ka = keys_before[level], keys_after[level]
        rows = [
            evidence_rows(ka, p.ids, ["derived_construction_on_arable_mu", "derived_illegal_ratio"],
                          p.to_construction & (p.before_m2 > 0)),
            evidence_rows(ka, p.ids, "derived_illegal_arable_mu", illegal > 0),
            evidence_rows(kb, p.ids, "arable_loss_construction_legal_mu", legal > 0),
            evidence_rows(kb, p.ids, "arable_loss_construction_illegal_mu", illegal > 0),
            *(evidence_rows(kb, p.ids, f"arable_loss_{k}_mu", (p.after_kind == k) & (loss > 0))
              for k in _KINDS[1:]),
            *(evidence_rows(ka, p.ids, f"arable_gain_{k}_mu", (p.before_kind == k) & (gain > 0))
              for k in _KINDS),
            evidence_rows(ka, p.ids, "arable_gain_mu", gain > 0),
            evidence_rows(kb, p.ids, "arable_internal_change_mu",
                          internal_both & (p.before_m2 != p.after_m2)),
            evidence_rows(kb, p.ids, "arable_change_mu", (p.before_m2 > 0) & ~internal_both),
            evidence_rows(ka, p.ids, "arable_change_mu", gain > 0),
        ]
        if approval_ids is not None and level in approval_ids:
            rows.append(approval_ids[level])
        evidence[level] = pd.concat(rows, ignore_index=True)
    return values, evidence


def explain_residual(arable_prev: pd.DataFrame | None, arable_now: pd.DataFrame | None,
                     pieces: ChangePieces | None, piece_keys_before, piece_keys_after, level: str,
                     units) -> pd.DataFrame:
    """Ids behind a ledger that does not close, for the given units.

    Returns evidence rows (unit, metric ``ledger_residual_mu``, id): DLTB parcels whose arable
    area (m²) or unit differs between the two snapshots but which no change record names (neither
    as BGQTBBSM nor as BGHTBBSM), and change pieces touching arable land whose parcel is missing
    from the snapshot it should be in (BGQTBBSM from Y−1, BGHTBBSM from Y).
    """
    units = pd.Index(list(units), dtype=object)
    rows = []
    if arable_prev is not None and arable_now is not None:
        prev = arable_prev[["BSM", level, "arable_m2"]].rename(
            columns={level: "unit_prev", "arable_m2": "prev_m2"})
        now = arable_now[["BSM", level, "arable_m2"]].rename(
            columns={level: "unit_now", "arable_m2": "now_m2"})
        merged = prev.merge(now, on="BSM", how="outer")
        diff = merged["now_m2"].fillna(0.0) - merged["prev_m2"].fillna(0.0)
        moved = merged["unit_prev"].fillna("") != merged["unit_now"].fillna("")
        changed = (diff.abs() > 0.005) | moved
        if pieces is not None:
            named = pd.unique(np.concatenate([pieces.bgq_bsm, pieces.bgh_bsm]))
            changed &= ~merged["BSM"].isin(named)
        hits = merged[changed]
        for unit_col in ("unit_now", "unit_prev"):
            part = hits[hits[unit_col].isin(units)]
            rows.append(pd.DataFrame({"unit": part[unit_col].to_numpy(dtype=object),
                                      "id": ("DLTB:" + part["BSM"].astype(str)).to_numpy(dtype=object)}))
    if pieces is not None:
        if arable_prev is not None:
            known = pd.Series(pieces.bgq_bsm, dtype=object).isin(arable_prev["BSM"]).to_numpy()
            missing = (pieces.before_m2 > 0) & ~known
            rows.append(pd.DataFrame({"unit": piece_keys_before[missing], "id": pieces.ids[missing]}))
        if arable_now is not None:
            known = pd.Series(pieces.bgh_bsm, dtype=object).isin(arable_now["BSM"]).to_numpy()
            missing = (pieces.after_m2 > 0) & ~known
            rows.append(pd.DataFrame({"unit": piece_keys_after[missing], "id": pieces.ids[missing]}))
    if not rows:
        return pd.DataFrame({"unit": [], "metric": [], "id": []}, dtype=object)
    out = pd.concat(rows, ignore_index=True)
    out = out[out["unit"].isin(units)]
    out["metric"] = "ledger_residual_mu"
    return out[["unit", "metric", "id"]].drop_duplicates()


def residual_m2(values: pd.DataFrame) -> pd.Series:
    """closing − (opening + gains − losses + internal), m², per unit (NaN where a part is NaN)."""
    gains = sum(values[f"gain_{k}_m2"] for k in _KINDS)
    # All arable → construction, legal or not: the split can be unknown without approvals.
    losses = values["loss_construction_m2"] + sum(values[f"loss_{k}_m2"] for k in _KINDS[1:])
    return values["arable_m2"] - (values["arable_prev_m2"] + gains - losses + values["internal_m2"])


def not_closing(residual: pd.Series) -> pd.Index:
    return residual.index[(residual * M2_TO_MU).abs() > LEDGER_TOLERANCE_MU]
