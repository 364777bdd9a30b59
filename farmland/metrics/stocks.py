"""Stocks at a year end: retained arable land, basic farmland, quality grade, land by group.

Retained arable land (耕地保有量) is Σ TBDLMJ over arable parcels (011/012/013, 0101/0102/0103):
TBDLMJ already excludes the 田坎 deduction (三调: KCMJ = round(TBMJ × KCXS, 2); 二调 also 线状/零星
地物), docs/background.md §3.4. Basic farmland is Σ YJJBNTMJ (older layers: JBNTMJ). The quality grade
(耕地等别, 1 best … 15) is averaged over arable parcels that carry one, weighted by TBDLMJ.

Everything here is computed per parcel with numpy and summed per unit with ``np.bincount``; no
parcel ids are kept for stocks except the arable parcels' BSM, which the area ledger needs to
explain a ledger that does not close.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import shapely

from ..landclass import LandClassTable, describe_unknown, distinct_values, normalize_codes
from ..report import Report
from .parts import group_sums, prefixed

DLTB_COLUMNS = ["BSM", "DLBM", "ZLDWDM", "TBMJ", "KCXS", "KCMJ", "XZDWMJ", "LXDWMJ", "TBDLMJ",
                "GDDB", "CZCSXM"]
JBNTTB_COLUMNS = ["BSM", "ZLDWDM", "DLBM", "TBMJ", "KCMJ", "YJJBNTMJ"]

URBAN_INDUSTRIAL_CZCSXM = ("201", "201A", "202", "202A", "204")
"""三调 城镇村属性码 counted as 城镇工矿 (urban and industrial-mining space, the 75.75 万亩 cap of
聊政发〔2018〕34号 三): 201 城市 and 202 建制镇 with their ``A`` 独立工业用地 variants, and 204 采矿用地
(docs/data.md, Revision 2, "Land classes used by the opinion's indicators"). 203/203A 村庄 are
rural settlements, not 城镇工矿; 205 风景名胜及特殊用地 is not either. Edit this tuple to change the set;
the output states the basis (catalogue label of ``urban_industrial_space_mu``)."""
URBAN_INDUSTRIAL_ERDIAO = ("201", "202", "204")
"""二调 codes of the same space: 201 城市, 202 建制镇, 204 采矿用地 (203 村庄 and 205 风景名胜及特殊
用地 left out, as above)."""

GRADE_MIN, GRADE_MAX = 1, 15


@dataclass
class ParcelSnapshot:
    """One DLTB year end, reduced to per-unit sums and the arable parcels' areas.

    Attributes
    ----------
    values : dict
        Level → DataFrame of the ``dltb`` components (m², parcel counts by scheme) per unit.
    arable : DataFrame
        Arable parcels only: ``BSM``, one key column per level, ``arable_m2`` (TBDLMJ, m²) and
        ``kcxs`` (deduction coefficient), for the ledger.
    """

    year: int
    values: dict[str, pd.DataFrame]
    arable: pd.DataFrame


@dataclass
class BasicFarmlandSnapshot:
    """One JBNTTB year end: per-unit sums plus what the year-on-year overlays need.

    A year end is overlaid twice (with the year before, then with the year after): its evidence
    ids and the tree of its parcels are made once, when first asked for.
    """

    year: int
    values: dict[str, pd.DataFrame]
    bsm: np.ndarray
    keys: dict[str, np.ndarray]
    area_m2: np.ndarray
    geometry: np.ndarray | None
    crs: object

    @cached_property
    def ids(self) -> np.ndarray:
        """Evidence ids ``JBNTTB:<BSM>``."""
        return prefixed("JBNTTB", self.bsm)

    @cached_property
    def tree(self) -> shapely.STRtree:
        """The parcels' ``shapely.STRtree`` (in ``crs``)."""
        return shapely.STRtree(self.geometry)


def _number(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name in frame:
        return frame[name].to_numpy(dtype="float64", na_value=np.nan)
    return np.full(len(frame), np.nan)


def parcel_snapshot(frame: pd.DataFrame, year: int, keys: dict[str, np.ndarray],
                    land_classes: LandClassTable, report: Report) -> ParcelSnapshot:
    """Per-unit stock components of a DLTB snapshot.

    Parameters
    ----------
    frame : DataFrame
        DLTB as read by :func:`farmland.layers.read_layer` (standard names, areas in m²).
    keys : dict
        Level → unit code per parcel (from :mod:`.attribution`).

    Notes
    -----
    A parcel without TBDLMJ falls back to TBMJ − KCMJ (− XZDWMJ − LXDWMJ in 二调 data), with a
    warning naming it; one without TBMJ counts 0 in the total area, also with a warning.
    """
    n = len(frame)
    dlbm = frame["DLBM"]
    # Every class lookup and test is made once per distinct code and spread to the parcels.
    position, distinct = distinct_values(dlbm)
    group_of_code = land_classes.group_of(distinct)
    scheme_of_code = land_classes.scheme_of(distinct)
    ids = frame["BSM"].to_numpy(dtype=object)

    def of_group(name: str) -> np.ndarray:
        return (group_of_code == name)[position]

    def of_scheme(name: str) -> np.ndarray:
        return (scheme_of_code == name)[position]

    # unknown_codes counts the codes the table does not know: only worth it when there are some.
    unknown_group = of_group("unknown")
    if unknown_group.any():
        unknown = land_classes.unknown_codes(dlbm)
        report.warning("DLTB", "unknown-code", f"land-class codes not in the land-class table: "
                       f"{describe_unknown(unknown)}. Their parcels count in no group's metrics "
                       "(group_unknown_mu); fix the codes or report the table gap.", year=year,
                       field="DLBM", ids=ids[unknown_group])

    tbmj = _number(frame, "TBMJ")
    if np.isnan(tbmj).any():
        report.warning("DLTB", "missing-area", "parcels without TBMJ count 0 in the total area; "
                       "fill TBMJ (statutory ellipsoidal area, m²).", year=year, field="TBMJ",
                       ids=ids[np.isnan(tbmj)])
        tbmj = np.nan_to_num(tbmj)
    arable = of_group("arable")
    tbdlmj = _number(frame, "TBDLMJ")
    missing = np.isnan(tbdlmj)
    if missing.any():
        fallback = tbmj - np.nan_to_num(_number(frame, "KCMJ"))
        for older in ("XZDWMJ", "LXDWMJ"):
            fallback -= np.nan_to_num(_number(frame, older))
        tbdlmj = np.where(missing, fallback, tbdlmj)
        if (missing & arable).any():
            report.warning("DLTB", "missing-tbdlmj", "arable parcels without TBDLMJ were counted as "
                           "TBMJ − KCMJ; fill TBDLMJ at the source.", year=year, field="TBDLMJ",
                           ids=ids[missing & arable])

    arable_m2 = np.where(arable, tbdlmj, 0.0)
    gddb = _number(frame, "GDDB")
    graded = arable & (gddb >= GRADE_MIN) & (gddb <= GRADE_MAX)
    construction = of_group("construction")
    # Codes cleaned and looked for once per distinct value, not once per parcel; upper-casing
    # the 二调 codes as well changes nothing, since the codes looked for are digits only.
    urban = np.zeros(n, dtype=bool)
    if "CZCSXM" in frame:
        urban |= of_scheme("sandiao") & _code_in(frame["CZCSXM"], URBAN_INDUSTRIAL_CZCSXM)
    urban |= of_scheme("erdiao") & _code_in(dlbm, URBAN_INDUSTRIAL_ERDIAO, position, distinct)
    urban &= construction

    columns = {
        "arable_m2": arable_m2,
        "grade_weighted_m2": np.where(graded, gddb * tbdlmj, 0.0),
        "graded_m2": np.where(graded, tbdlmj, 0.0),
        "total_m2": tbmj,
        **{f"group_{g}_m2": np.where(of_group(g), tbmj, 0.0)
           for g in ("arable", "agricultural", "construction", "unused", "unknown")},
        "urban_industrial_m2": np.where(urban, tbdlmj, 0.0),
        "dltb_erdiao_n": of_scheme("erdiao").astype("float64"),
        "dltb_sandiao_n": of_scheme("sandiao").astype("float64"),
    }
    values = {level: group_sums(key, columns) for level, key in keys.items()}
    for level, table in values.items():
        _warn_mixed_scheme("DLTB", year, table, "dltb", report, level)

    kcxs = _number(frame, "KCXS")
    kcmj = _number(frame, "KCMJ")
    with np.errstate(invalid="ignore", divide="ignore"):
        kcxs = np.where(np.isnan(kcxs), np.where(tbmj > 0, kcmj / tbmj, np.nan), kcxs)
    arable_frame = pd.DataFrame({"BSM": ids[arable], "arable_m2": arable_m2[arable],
                                 "kcxs": np.nan_to_num(kcxs[arable])})
    for level, key in keys.items():
        arable_frame[level] = key[arable]
    return ParcelSnapshot(year=year, values=values, arable=arable_frame)


def _code_in(codes, wanted, position=None, distinct=None) -> np.ndarray:
    """True where the cleaned code (:func:`normalize_codes`) is one of ``wanted``; tested on the
    distinct codes (``position``, ``distinct`` from :func:`~farmland.landclass.distinct_values`
    when already made)."""
    if position is None:
        position, distinct = distinct_values(codes)
    return normalize_codes(distinct).isin(wanted).to_numpy()[position]


def _warn_mixed_scheme(layer: str, year, table: pd.DataFrame, prefix: str, report: Report,
                       level: str) -> None:
    erdiao, sandiao = table[f"{prefix}_erdiao_n"], table[f"{prefix}_sandiao_n"]
    mixed = table.index[(erdiao > 0) & (sandiao > 0)]
    if len(mixed):
        detail = ", ".join(f"{u} ({int(erdiao[u])} 二调 / {int(sandiao[u])} 三调)" for u in mixed[:5])
        report.warning(layer, "mixed-scheme", f"{level} units mix 二调 3-digit and 三调 4-digit codes "
                       f"in one snapshot: {detail}. Their basis (口径) follows the majority; convert "
                       "the minority codes at the source.", year=year)


def bf_snapshot(frame: pd.DataFrame, year: int, keys: dict[str, np.ndarray],
                land_classes: LandClassTable, report: Report) -> BasicFarmlandSnapshot:
    """Per-unit basic-farmland area (Σ YJJBNTMJ, m²) and the parcels for year-on-year overlays."""
    ids = frame["BSM"].to_numpy(dtype=object)
    area = _number(frame, "YJJBNTMJ")
    missing = np.isnan(area)
    if missing.any():
        fallback = np.nan_to_num(_number(frame, "TBMJ")) - np.nan_to_num(_number(frame, "KCMJ"))
        area = np.where(missing, fallback, area)
        report.warning("JBNTTB", "missing-area", "basic-farmland parcels without YJJBNTMJ were "
                       "counted as TBMJ − KCMJ; fill YJJBNTMJ at the source.", year=year,
                       field="YJJBNTMJ", ids=ids[missing])
    if "DLBM" in frame:
        position, distinct = distinct_values(frame["DLBM"])  # looked up per distinct code
        scheme_of_code = land_classes.scheme_of(distinct)
    else:
        position = np.zeros(len(frame), dtype=np.intp)
        scheme_of_code = np.array(["unknown"], dtype=object)
    columns = {"bf_m2": area,
               "bf_erdiao_n": (scheme_of_code == "erdiao")[position].astype("float64"),
               "bf_sandiao_n": (scheme_of_code == "sandiao")[position].astype("float64")}
    values = {level: group_sums(key, columns) for level, key in keys.items()}
    geometry = None
    crs = None
    if "geometry" in frame:
        geometry = np.asarray(frame.geometry.values, dtype=object)
        crs = frame.crs
    return BasicFarmlandSnapshot(year=year, values=values, bsm=ids, keys=keys, area_m2=area,
                                 geometry=geometry, crs=crs)
