"""From per-unit components (m², 亩, counts) to the metrics of the interface, with their basis.

The same function serves every level and span: the components of a city row are the sums of
its counties', those of a mid-term or final span the yearly components combined by
:mod:`.parts` (flows summed, stocks at the last year end, the opening balance at the first), so
every ratio is recomputed from sums. Areas convert m² → 亩 by × 0.0015 exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..units import M2_TO_MU
from .catalogue import EVENT_METRICS, LANDCOVER_CLASS_PREFIX, METRICS, PROVINCIAL_EVENT_METRICS
from .occupation import illegal_ratio_disagreement, illegal_ratio_flag, ratio
from .opinion import gdp_basis, opinion_metrics, supply_basis
from .parts import CHECKLIST_N, CHECKLIST_SUM

_KINDS = ("construction", "ecological", "restructuring", "other")
def derive_metrics(v: pd.DataFrame, level: str) -> pd.DataFrame:
    """Metrics (columns) per unit (index) from components ``v``.

    Parameters
    ----------
    v : DataFrame
        Components per unit; a missing component column counts as NaN.
    level : {"county", "township", "city"}

    Returns
    -------
    DataFrame
        One column per metric in catalogue order, then ``checklist.<item>`` columns.
    """
    n = len(v)

    def col(name):
        return v[name].to_numpy(dtype="float64", na_value=np.nan) if name in v else np.full(n, np.nan)

    def mu(name):
        return col(name) * M2_TO_MU

    m: dict[str, np.ndarray] = {}
    for metric, component in (("arable", "arable"), ("basic_farmland", "bf")):
        base = col(f"{component}_target_mu")
        adjustment = col(f"{component}_target_adjustment_mu")
        crossed = col(f"{component}_target_mismatch_n")  # units held to a target of the other basis
        m[f"{metric}_target_base_mu"] = base
        m[f"{metric}_target_adjustment_mu"] = adjustment
        m[f"{metric}_target_mu"] = base + adjustment
        m[f"{metric}_basis_mismatch"] = np.where(np.isnan(crossed), np.nan, (crossed > 0).astype("float64"))
    m["arable_mu"] = mu("arable_m2")
    m["arable_attainment"] = ratio(m["arable_mu"], m["arable_target_mu"])
    m["basic_farmland_mu"] = mu("bf_m2")
    m["basic_farmland_attainment"] = ratio(m["basic_farmland_mu"], m["basic_farmland_target_mu"])
    # Opening balance is the first year's Y−1 snapshot, so over a span this is the whole change.
    m["arable_change_mu"] = (col("arable_m2") - col("arable_prev_m2")) * M2_TO_MU
    m["construction_on_arable_mu"] = mu("wpzf_occupied_m2")
    m["illegal_arable_mu"] = mu("wpzf_illegal_m2")
    m["illegal_ratio"] = ratio(col("wpzf_illegal_m2"), col("wpzf_occupied_m2"))
    m["illegal_ratio_flag"] = illegal_ratio_flag(col("wpzf_illegal_m2"), col("wpzf_occupied_m2"))
    m["illegal_rectified_mu"] = mu("wpzf_rectified_m2")
    m["illegal_ratio_rectified"] = ratio(col("wpzf_illegal_m2") - col("wpzf_rectified_m2"),
                                         col("wpzf_occupied_m2"))
    m["derived_construction_on_arable_mu"] = mu("derived_occupied_m2")
    m["derived_illegal_arable_mu"] = mu("derived_illegal_m2")
    m["derived_illegal_ratio"] = ratio(col("derived_illegal_m2"), col("derived_occupied_m2"))
    m["derived_illegal_ratio_flag"] = illegal_ratio_flag(col("derived_illegal_m2"),
                                                         col("derived_occupied_m2"))
    m["illegal_ratio_disagreement"] = illegal_ratio_disagreement(
        m["illegal_ratio"], m["derived_illegal_ratio"], m["illegal_ratio_flag"],
        m["derived_illegal_ratio_flag"])
    m["hsf_built_mu"] = mu("hsf_built_m2")
    m["hsf_task_mu"] = col("hsf_task_mu")
    m["hsf_completion"] = ratio(m["hsf_built_mu"], m["hsf_task_mu"])
    m["occupied_mu"] = col("zbph_occupied_mu")
    m["supplemented_mu"] = col("zbph_supplemented_mu")
    m["balance_mu"] = m["supplemented_mu"] - m["occupied_mu"]
    m["mean_quality_grade"] = ratio(col("grade_weighted_m2"), col("graded_m2"))

    m["arable_margin_mu"] = m["arable_mu"] - m["arable_target_mu"]
    m["basic_farmland_margin_mu"] = m["basic_farmland_mu"] - m["basic_farmland_target_mu"]
    m["basic_farmland_change_mu"] = (col("bf_m2") - col("bf_prev_m2")) * M2_TO_MU
    m["series_break"] = col("series_break")
    m["paddy_occupied_mu"] = col("paddy_occupied_mu")
    m["paddy_supplemented_mu"] = col("paddy_supplemented_mu")
    m["paddy_balance_mu"] = m["paddy_supplemented_mu"] - m["paddy_occupied_mu"]
    m["grain_capacity_occupied_t"] = col("grain_occupied_t")
    m["grain_capacity_supplemented_t"] = col("grain_supplemented_t")
    m["grain_capacity_balance_t"] = m["grain_capacity_supplemented_t"] - m["grain_capacity_occupied_t"]
    m["supplemented_upper_level_mu"] = col("supplemented_upper_mu")
    # 17号 第八、十三条: ledger rows sourced above the county, or an adjustment of such a kind
    zbph_upper = col("zbph_upper_n")
    involved = np.nan_to_num(zbph_upper) + np.nan_to_num(col("adjustment_upper_n")) > 0
    m["upper_level_involved"] = np.where(involved, 1.0, np.where(np.isnan(zbph_upper), np.nan, 0.0))
    m["bf_occupied_mu"] = mu("bf_occupied_m2")
    m["bf_redesignated_mu"] = mu("bf_redesignated_m2")
    m["bf_balance_mu"] = m["bf_redesignated_mu"] - m["bf_occupied_mu"]

    m["arable_opening_mu"] = mu("arable_prev_m2")
    m["arable_loss_construction_legal_mu"] = mu("loss_construction_legal_m2")
    m["arable_loss_construction_illegal_mu"] = mu("loss_construction_illegal_m2")
    for kind in _KINDS[1:]:
        m[f"arable_loss_{kind}_mu"] = mu(f"loss_{kind}_m2")
    gains = [mu(f"gain_{kind}_m2") for kind in _KINDS]
    m["arable_gain_mu"] = sum(gains)
    for kind, gain in zip(_KINDS, gains, strict=True):
        m[f"arable_gain_{kind}_mu"] = gain
    m["arable_internal_change_mu"] = mu("internal_m2")
    # Construction losses in all (legal + illegal): the split is unknown without approvals.
    losses = mu("loss_construction_m2") + sum(m[f"arable_loss_{k}_mu"] for k in _KINDS[1:])
    m["ledger_residual_mu"] = m["arable_mu"] - (m["arable_opening_mu"] + m["arable_gain_mu"] - losses
                                                 + m["arable_internal_change_mu"])

    m["total_area_mu"] = mu("total_m2")
    for group in ("arable", "agricultural", "construction", "unused", "unknown"):
        m[f"group_{group}_mu"] = mu(f"group_{group}_m2")
    m["construction_land_mu"] = m["group_construction_mu"]
    m["urban_industrial_space_mu"] = mu("urban_industrial_m2")
    m["landcover_cropland_mu"] = mu("landcover_cropland_m2")
    m["landcover_built_mu"] = mu("landcover_built_m2")
    m["events_count"] = col("events_n")
    m["events_provincial_count"] = col("events_provincial_n")
    for metric in (*EVENT_METRICS.values(), *PROVINCIAL_EVENT_METRICS.values()):
        m[metric] = col(f"{metric}_n")
    m.update(opinion_metrics(v, m, level))

    ordered = {name: m[name] for name in METRICS if name in m}
    for column in v.columns:
        name = column[len("landcover_"):-len("_m2")] if column.startswith("landcover_") else ""
        if column.endswith("_m2") and name and name not in ("cropland", "built"):
            ordered[f"{LANDCOVER_CLASS_PREFIX}{name}"] = mu(column)
    for name in sorted(c[len(CHECKLIST_SUM):] for c in v.columns if c.startswith(CHECKLIST_SUM)):
        ordered[f"checklist.{name}"] = ratio(col(CHECKLIST_SUM + name), col(CHECKLIST_N + name))
    return pd.DataFrame(ordered, index=v.index)


def basis_of(v: pd.DataFrame, fallback: str) -> dict[str, np.ndarray]:
    """Survey basis per unit for each basis source of the catalogue (see :mod:`.catalogue`).

    The majority scheme among the codes found decides; a unit with no codes of a source (no
    basic-farmland codes, no change records) falls back on its DLTB basis, then on ``fallback``
    (the scheme expected for the year: 三调 from 2019-12-31).
    """
    n = len(v)

    def from_counts(prefix, default):
        erdiao = v[f"{prefix}_erdiao_n"].to_numpy(dtype="float64", na_value=0.0) \
            if f"{prefix}_erdiao_n" in v else np.zeros(n)
        sandiao = v[f"{prefix}_sandiao_n"].to_numpy(dtype="float64", na_value=0.0) \
            if f"{prefix}_sandiao_n" in v else np.zeros(n)
        return np.where(sandiao > erdiao, "sandiao", np.where(erdiao > 0, "erdiao", default))

    dltb = from_counts("dltb", np.full(n, fallback, dtype=object))
    bf = from_counts("bf", dltb)
    return {
        "dltb": dltb,
        "bf": bf,
        "target_arable": from_counts("arable_target", np.full(n, "", dtype=object)),
        "target_bf": from_counts("bf_target", np.full(n, "", dtype=object)),
        "gxgc": from_counts("gxgc", dltb),
        "supply": supply_basis(v),
        "gdp": gdp_basis(v),
        "erdiao": np.full(n, "erdiao", dtype=object),
        "": np.full(n, "", dtype=object),
    }


def target_choice(v: pd.DataFrame, stock_basis: np.ndarray, name: str):
    """The base target per unit on the stock's survey basis, else on the other one.

    Parameters
    ----------
    v : DataFrame
        Components with ``<name>_erdiao_mu`` and ``<name>_sandiao_mu`` (targets.csv rows of
        each ``basis``).
    stock_basis : array of {"erdiao", "sandiao"}
        The basis of the area compared with the target (the DLTB or JBNTTB basis of the year).

    Returns
    -------
    value : ndarray
        The target (亩), NaN where the unit has none on either basis.
    basis : ndarray of str
        The target's own basis (``erdiao``/``sandiao``; ``""`` without a target).
    mismatch : ndarray
        1.0 where the target is on the other basis than the stock, 0.0 where on the same,
        NaN without a target.
    """
    n = len(v)

    def col(scheme):
        column = f"{name}_{scheme}_mu"
        return v[column].to_numpy(dtype="float64", na_value=np.nan) if column in v else np.full(n, np.nan)

    sandiao = np.asarray(stock_basis, dtype=object) == "sandiao"
    same = np.where(sandiao, col("sandiao"), col("erdiao"))
    other = np.where(sandiao, col("erdiao"), col("sandiao"))
    use_same = ~np.isnan(same)
    value = np.where(use_same, same, other)
    basis = np.where(use_same, np.where(sandiao, "sandiao", "erdiao"),
                     np.where(np.isnan(other), "", np.where(sandiao, "erdiao", "sandiao"))).astype(object)
    mismatch = np.where(np.isnan(value), np.nan, (~use_same).astype("float64"))
    return value, basis, mismatch
