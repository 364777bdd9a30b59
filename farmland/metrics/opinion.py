"""Indicators of the city's opinion on farmland protection (聊政发〔2018〕34号).

City-level control figures for 2020:

* 国土开发强度 (development intensity) = construction land ÷ total land area ≤ 18.31 %, with
  construction land = Σ TBMJ of construction-group parcels and total = Σ TBMJ of all parcels;
* 城镇工矿用地 (urban and industrial-mining space) ≤ 75.75 万亩: Σ TBDLMJ of construction
  parcels with 城镇村属性码 201, 201A, 202, 202A or 204 (三调), or in 二调 data the classes 201 城市,
  202 建制镇 and 204 采矿用地; 村庄 (203/203A) and 205 are not 城镇工矿 (data contract, Revision 2;
  the sets are :data:`.stocks.URBAN_INDUSTRIAL_CZCSXM` and :data:`.stocks.URBAN_INDUSTRIAL_ERDIAO`);
* 土地供应率 (land-supply rate) = supplied ÷ approved ≥ 80 % (CITYSTATS): on the ministry's basis
  (``five_year``: construction land approved in the last five years and the part of it supplied,
  ``approved_5y_mu``/``supplied_5y_mu``) where both are given, else the same year's figures
  (``same_year``: ``approved_mu``/``supplied_mu``; over a span their sums);
* 单位GDP建设用地 (construction land per unit GDP): change against the period's base year,
  target −23 % (construction land from the DLTB snapshots). GDP at the base year's prices
  (``comparable``: ``gdp_comparable_100m_yuan``; for the base year itself that is its nominal GDP
  when the column is blank there) where the year has it, else nominal GDP (``nominal``).

The basis used is the ``basis`` of the figure in the results table (:func:`supply_basis`,
:func:`gdp_basis`).

And the opinion's deduction triggers per unit, as 0/1 flags (四(三)): a protection target missed;
a 挂牌督办, 警示约谈 or 公开通报 imposed at 省 level or above (``opinion_trigger_supervision``); a
重大违法案件 at any level (``opinion_trigger_major_case``); either of those two
(``opinion_trigger_events``); the 15 % illegal ratio reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .catalogue import OPINION_LIMITS, PROVINCIAL_EVENT_METRICS, SUPERVISION_KINDS
from .occupation import ratio

def citystats_parts(stats: pd.DataFrame | None, year: int, base_year: int,
                    base_construction_m2: float) -> dict[str, float]:
    """City-only components of one year: approved and supplied 亩, GDP and the base year's figures.

    Missing rows or columns give NaN (the indicator, or its preferred basis, is then empty).
    """
    out = {"citystats_approved_mu": np.nan, "citystats_supplied_mu": np.nan,
           "citystats_approved_5y_mu": np.nan, "citystats_supplied_5y_mu": np.nan,
           "gdp_100m_yuan": np.nan, "gdp_comparable_100m_yuan": np.nan,
           "base_construction_m2": base_construction_m2, "base_gdp_100m_yuan": np.nan,
           "base_gdp_comparable_100m_yuan": np.nan}
    if stats is None:
        return out
    years = stats["year"].to_numpy(dtype="float64", na_value=np.nan)

    def value(column, when):
        if column not in stats:
            return np.nan
        rows = stats.loc[years == when, column].to_numpy(dtype="float64", na_value=np.nan)
        return float(rows.sum()) if len(rows) and not np.isnan(rows).all() else np.nan

    for name, column in (("citystats_approved_mu", "approved_mu"),
                         ("citystats_supplied_mu", "supplied_mu"),
                         ("citystats_approved_5y_mu", "approved_5y_mu"),
                         ("citystats_supplied_5y_mu", "supplied_5y_mu"),
                         ("gdp_100m_yuan", "gdp_100m_yuan"),
                         ("gdp_comparable_100m_yuan", "gdp_comparable_100m_yuan")):
        out[name] = value(column, year)
    out["base_gdp_100m_yuan"] = value("gdp_100m_yuan", base_year)
    # At the base year's prices the base year's GDP is its nominal GDP.
    comparable = value("gdp_comparable_100m_yuan", base_year)
    out["base_gdp_comparable_100m_yuan"] = (comparable if not np.isnan(comparable)
                                            else out["base_gdp_100m_yuan"])
    return out


def _known(v: pd.DataFrame, *names) -> np.ndarray:
    known = np.ones(len(v), dtype=bool)
    for name in names:
        known &= v[name].notna().to_numpy() if name in v else False
    return known


def supply_basis(v: pd.DataFrame) -> np.ndarray:
    """Per unit ``"five_year"`` (five-year approved/supplied given), ``"same_year"`` or ``""``."""
    five = _known(v, "citystats_approved_5y_mu", "citystats_supplied_5y_mu")
    same = _known(v, "citystats_approved_mu", "citystats_supplied_mu")
    return np.where(five, "five_year", np.where(same, "same_year", "")).astype(object)


def gdp_basis(v: pd.DataFrame) -> np.ndarray:
    """Per unit ``"comparable"`` (GDP at base-year prices given), ``"nominal"`` or ``""``."""
    comparable = _known(v, "gdp_comparable_100m_yuan", "base_gdp_comparable_100m_yuan")
    nominal = _known(v, "gdp_100m_yuan", "base_gdp_100m_yuan")
    return np.where(comparable, "comparable", np.where(nominal, "nominal", "")).astype(object)


def opinion_metrics(v: pd.DataFrame, m: dict[str, np.ndarray], level: str) -> dict[str, np.ndarray]:
    """Opinion indicators from components ``v`` and already derived metrics ``m``.

    Limits and ``*_ok`` checks are given on the city row only: the control figures are the
    city's; a county's development intensity is shown for information.
    """
    def col(name):
        return v[name].to_numpy(dtype="float64") if name in v else np.full(len(v), np.nan)

    out = {}
    out["development_intensity"] = ratio(col("group_construction_m2"), col("total_m2"))
    out["urban_industrial_space_mu"] = m["urban_industrial_space_mu"]
    if level == "city":
        five = supply_basis(v) == "five_year"
        out["land_supply_rate"] = np.where(
            five, ratio(col("citystats_supplied_5y_mu"), col("citystats_approved_5y_mu")),
            ratio(col("citystats_supplied_mu"), col("citystats_approved_mu")))
        comparable = gdp_basis(v) == "comparable"
        gdp = np.where(comparable, col("gdp_comparable_100m_yuan"), col("gdp_100m_yuan"))
        base_gdp = np.where(comparable, col("base_gdp_comparable_100m_yuan"), col("base_gdp_100m_yuan"))
        per_gdp = ratio(col("group_construction_m2"), gdp)
        base_per_gdp = ratio(col("base_construction_m2"), base_gdp)
        out["construction_land_per_gdp_change"] = ratio(per_gdp, base_per_gdp) - 1.0
        for name, (limit, kind) in OPINION_LIMITS.items():
            value = out[name]
            out[f"{name}_limit"] = np.full(len(v), limit)
            with np.errstate(invalid="ignore"):
                ok = value <= limit if kind == "max" else value >= limit
            out[f"{name}_ok"] = np.where(np.isnan(value), np.nan, ok.astype("float64"))

    missed_arable = _below(m["arable_mu"], m["arable_target_mu"])
    missed_bf = _below(m["basic_farmland_mu"], m["basic_farmland_target_mu"])
    either = np.where((missed_arable == 1) | (missed_bf == 1), 1.0,
                      np.where(np.isnan(missed_arable) | np.isnan(missed_bf), np.nan, 0.0))
    out["opinion_trigger_target_missed"] = either
    supervision = sum(m[PROVINCIAL_EVENT_METRICS[kind]] for kind in SUPERVISION_KINDS)
    out["opinion_trigger_supervision"] = _positive(supervision)
    out["opinion_trigger_major_case"] = _positive(m["events_major_case_count"])
    out["opinion_trigger_events"] = _positive(supervision + m["events_major_case_count"])
    out["opinion_trigger_illegal_ratio"] = m["illegal_ratio_flag"]
    return out


def _positive(count) -> np.ndarray:
    """1.0 where a count is above 0, 0.0 where it is 0, NaN where unknown."""
    count = np.asarray(count, dtype="float64")
    return np.where(np.isnan(count), np.nan, (count > 0).astype("float64"))


def _below(value, target) -> np.ndarray:
    """1.0 where value < target, 0.0 where not, NaN where either is missing."""
    value = np.asarray(value, dtype="float64")
    target = np.asarray(target, dtype="float64")
    with np.errstate(invalid="ignore"):
        below = (value < target).astype("float64")
    return np.where(np.isnan(value) | np.isnan(target), np.nan, below)
