"""Area checks: stored TBMJ against the statutory area, the deduction identities, KCXS, control areas.

Official figures use the stored TBMJ/TBDLMJ; a fresh statutory ellipsoidal area
(:func:`farmland.area.ellipsoidal_area`, 国土调查办发〔2008〕32号, each file in its own zone) checks
them (docs/background.md §3.3: a change survey apportions areas of split parcels by planar share, so a
stored TBMJ may differ from a fresh computation by a little, never by much).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..units import M2_TO_MU, round_half_up
from .findings import finding_rows, fmt, pct

IDENTITY_TOLERANCE_M2 = 0.01
"""Areas are stored to 0.01 m²: identities hold to one unit in the last place."""


def statutory_breaches(dltb, options) -> tuple[np.ndarray, np.ndarray]:
    """Parcels whose TBMJ is off the statutory area beyond the tolerances, and that area for
    them (NaN elsewhere), each file measured in its own CRS.

    Only the flagged parcels and those near the tolerance are measured with the statutory
    formula (:func:`farmland.area.area_breaches`): the flags and areas are the statutory ones
    at a fraction of the cost of measuring every parcel.
    """
    from ..area import area_breaches
    from ..validate import _in_own_crs, _sources

    own = _in_own_crs(dltb, dltb.geometry.values)
    tbmj = dltb["TBMJ"].to_numpy(dtype="float64", na_value=np.nan)
    flagged = np.zeros(len(dltb), dtype=bool)
    statutory = np.full(len(dltb), np.nan)
    # The file of each parcel as a categorical: distinct texts sorted once, not per parcel.
    sources = _sources(dltb)
    for code, source in enumerate(sources.categories):  # one call per county file, not per parcel
        mask = sources.codes == code
        if not mask.any():
            continue
        crs = dltb.attrs.get("source_crs", {}).get(source, dltb.crs)
        flagged[mask], statutory[mask] = area_breaches(own[mask], crs, tbmj[mask], options.area_tolerance,
                                                       options.area_tolerance_m2)
    return flagged, statutory


def area_checks(data, options) -> list[pd.DataFrame]:
    dltb, year = data.dltb, data.year
    ids = ("DLTB:" + dltb["BSM"].astype(str)).to_numpy(dtype=object)
    unit = dltb["unit"].to_numpy(dtype=object)
    geoms = dltb.geometry.values
    tbmj = dltb["TBMJ"].to_numpy(dtype="float64", na_value=np.nan)
    parts = []

    off, recomputed = statutory_breaches(dltb, options)
    if off.any():
        gap = tbmj - recomputed
        allowed = np.maximum(options.area_tolerance * recomputed, options.area_tolerance_m2)
        parts.append(finding_rows(
            "area.tbmj", year, unit[off], ids[off], value=tbmj[off], reference=recomputed[off],
            explanation="图斑面积 TBMJ " + fmt(tbmj[off]) + " m²，按统一椭球面积公式重算为 "
            + fmt(recomputed[off]) + " m²，相差 " + fmt(gap[off]) + " m²（"
            + pct(gap[off] / recomputed[off], 2) + "），超过容差 " + fmt(allowed[off]) + " m²。请核对图形或面积。",
            geometry=geoms[off]))

    kcmj = _column(dltb, "KCMJ")
    deduction = np.nan_to_num(kcmj)
    for older in ("XZDWMJ", "LXDWMJ"):
        if older in dltb:
            deduction = deduction + np.nan_to_num(_column(dltb, older))
    if "TBDLMJ" in dltb:
        tbdlmj = _column(dltb, "TBDLMJ")
        expected = tbmj - deduction
        off = np.abs(tbdlmj - expected) > IDENTITY_TOLERANCE_M2 + 1e-9
        if off.any():
            parts.append(finding_rows(
                "area.net", year, unit[off], ids[off], value=tbdlmj[off], reference=expected[off],
                explanation="图斑地类面积 TBDLMJ " + fmt(tbdlmj[off]) + " m²，应为 TBMJ − KCMJ = "
                + fmt(expected[off]) + " m²（二调数据另减线状、零星地物面积）。耕地面积按 TBDLMJ 汇总，差额直接进入耕地保有量。",
                geometry=geoms[off]))

    if "KCXS" in dltb:
        kcxs = _column(dltb, "KCXS")
        if "KCMJ" in dltb:
            expected = round_half_up(tbmj * np.nan_to_num(kcxs), 2)
            off = np.isfinite(kcmj) & (np.abs(kcmj - expected) > IDENTITY_TOLERANCE_M2 + 1e-9)
            if off.any():
                parts.append(finding_rows(
                    "area.kcmj", year, unit[off], ids[off], value=kcmj[off], reference=expected[off],
                    explanation="扣除面积 KCMJ " + fmt(kcmj[off]) + " m²，按 TBMJ × KCXS（"
                    + fmt(kcxs[off], 4) + "）应为 " + fmt(expected[off]) + " m²。",
                    geometry=geoms[off]))
        arable = data.ws.land_classes.is_arable(dltb["DLBM"])
        out_of_range = (kcxs < 0) | (kcxs >= 1)
        on_other = ~arable & (kcxs > 0) & ~out_of_range
        too_high = arable & (kcxs > options.max_kcxs) & ~out_of_range
        for mask, text, reference in (
            (out_of_range, "扣除系数 KCXS 应在 0 到 1 之间。", np.nan),
            (on_other, "非耕地图斑带有扣除（田坎）系数；田坎系数只用于耕地图斑。", 0.0),
            (too_high, f"耕地图斑扣除系数高于 {options.max_kcxs:g}；聊城为平原，多数耕地系数为 0，请核对是否误填。",
             options.max_kcxs),
        ):
            if mask.any():
                parts.append(finding_rows(
                    "area.kcxs", year, unit[mask], ids[mask], value=kcxs[mask], reference=reference,
                    explanation="地类 " + dltb["DLBM"].astype(str).to_numpy(dtype=object)[mask] + "，KCXS = "
                    + fmt(kcxs[mask], 4) + "。" + text, geometry=geoms[mask]))

    parts.append(_control_check(data, options, tbmj))
    return parts


def _control_check(data, options, tbmj) -> pd.DataFrame | None:
    """Σ TBMJ per unit against XZQ's KZMJ.

    Counties are checked on the parcels their code names (a county's control area includes the
    development zones inside it); a zone on the parcels whose position lies in it.
    """
    xzq = data.xzq
    if "KZMJ" not in xzq:
        return None
    control = pd.Series(xzq["KZMJ"].to_numpy(dtype="float64", na_value=np.nan), index=xzq["XZQDM"].astype(str))
    control = control.dropna()
    by_code = pd.Series(tbmj).groupby(data.dltb["code_unit"].to_numpy(dtype=object)).sum()
    by_place = pd.Series(tbmj).groupby(data.dltb["unit"].to_numpy(dtype=object)).sum()
    zones = set(data.units.zones)
    summed = pd.Series({code: (by_place if code in zones else by_code).get(code, 0.0) for code in control.index},
                       dtype="float64")
    gap = summed - control
    allowed = np.maximum(options.control_tolerance * control, options.area_tolerance_m2)
    off = gap.abs() > allowed
    if not off.any():
        return None
    codes = control.index[off].to_numpy(dtype=object)
    s, c, g = summed[off].to_numpy(), control[off].to_numpy(), gap[off].to_numpy()
    return finding_rows(
        "area.control", data.year, codes, "XZQ:" + codes, value=s, reference=c,
        explanation="辖区图斑面积之和 " + fmt(s * M2_TO_MU) + " 亩，控制面积 KZMJ " + fmt(c * M2_TO_MU)
        + " 亩，相差 " + fmt(g * M2_TO_MU) + " 亩（" + pct(g / c, 3) + "）。图斑可能缺失、重复或未平差。")


def _column(frame, name) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return frame[name].to_numpy(dtype="float64", na_value=np.nan)
