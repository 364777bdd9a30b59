"""Flows in a calendar year from project layers and people's tables, and basic-farmland changes.

* High-standard farmland (高标准农田) completed: GBZNT with JSNF = year, Σ JSMJ (m²), against the
  year's task (targets.csv ``hsf_task_mu_YYYY``, 亩).
* 占补平衡 ledger (ZBPH): Σ area_mu of kind 占用 and of kind 补充, and the same for paddy (水田)
  and grain capacity (粮食产能, t); 补充 rows sourced above the county (省统筹, 国家统筹, 跨县易地)
  are also summed apart.
* Accountability events (EVENTS) and qualitative checklist items (CHECKLIST).
* Basic farmland occupied and re-designated (补划), from two JBNTTB year ends and the change
  records: see :func:`bf_flows`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..report import Report
from ..schema import PROVINCIAL_LEVELS, UPPER_LEVEL_KINDS, ZBPH_KINDS
from .catalogue import EVENT_METRICS, PROVINCIAL_EVENT_METRICS, SUPERVISION_KINDS
from .occupation import covered_share, overlaps
from .parts import CHECKLIST_N, CHECKLIST_SUM, evidence_rows, group_sums, prefixed

GBZNT_COLUMNS = ["XMBH", "XMMC", "XZQDM", "JSNF", "JSMJ"]


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.zeros(len(frame))
    return np.nan_to_num(frame[name].to_numpy(dtype="float64", na_value=np.nan))


def hsf_parts(gbznt: pd.DataFrame, keys: dict[str, np.ndarray]):
    """Σ JSMJ (m²) of projects completed in the year (``gbznt`` already filtered to JSNF = year)."""
    built = _num(gbznt, "JSMJ")
    ids = prefixed("GBZNT", gbznt["XMBH"], fallback=np.arange(len(gbznt)))
    values = {level: group_sums(key, {"hsf_built_m2": built}) for level, key in keys.items()}
    evidence = {level: evidence_rows(key, ids, ["hsf_built_mu", "hsf_completion"], built > 0)
                for level, key in keys.items()}
    return values, evidence


def zbph_parts(zbph: pd.DataFrame, keys: dict[str, np.ndarray], year: int, report: Report):
    """占补平衡 components (亩, t) of one year's ZBPH rows (already filtered to the year)."""
    kind = zbph["kind"].astype("string").str.strip()
    odd = ~kind.isin(ZBPH_KINDS).to_numpy(dtype=bool, na_value=False)
    ids = prefixed("ZBPH", zbph["row"])
    if odd.any():
        report.warning("ZBPH", "unknown-kind", f"rows whose kind is neither {' nor '.join(ZBPH_KINDS)} "
                       "are left out of the 占补平衡 figures.", year=year, field="kind", ids=ids[odd])
    occupied = (kind == "占用").to_numpy(dtype=bool, na_value=False)
    supplemented = (kind == "补充").to_numpy(dtype=bool, na_value=False)
    area, paddy, grain = _num(zbph, "area_mu"), _num(zbph, "paddy_mu"), _num(zbph, "grain_capacity_t")
    # 补充耕地上级统筹 and 跨县易地占补 (17号 第八条): any row sourced above the county
    above = (zbph["source"].astype("string").str.strip().isin(UPPER_LEVEL_KINDS)
             .to_numpy(dtype=bool, na_value=False) if "source" in zbph else np.zeros(len(zbph), bool))
    upper = supplemented & above
    columns = {
        "zbph_occupied_mu": np.where(occupied, area, 0.0),
        "zbph_supplemented_mu": np.where(supplemented, area, 0.0),
        "paddy_occupied_mu": np.where(occupied, paddy, 0.0),
        "paddy_supplemented_mu": np.where(supplemented, paddy, 0.0),
        "grain_occupied_t": np.where(occupied, grain, 0.0),
        "grain_supplemented_t": np.where(supplemented, grain, 0.0),
        "supplemented_upper_mu": np.where(upper, area, 0.0),
        "zbph_upper_n": above.astype("float64"),
    }
    values = {level: group_sums(key, columns) for level, key in keys.items() if key is not None}
    evidence = {}
    for level, key in keys.items():
        if key is None:
            continue
        evidence[level] = pd.concat([
            evidence_rows(key, ids, ["occupied_mu", "paddy_occupied_mu", "grain_capacity_occupied_t"],
                          occupied),
            evidence_rows(key, ids, ["supplemented_mu", "paddy_supplemented_mu",
                                     "grain_capacity_supplemented_t"], supplemented),
            evidence_rows(key, ids, ["balance_mu", "paddy_balance_mu", "grain_capacity_balance_t"],
                          occupied | supplemented),
            evidence_rows(key, ids, "supplemented_upper_level_mu", upper),
            evidence_rows(key, ids, "upper_level_involved", above),
        ], ignore_index=True)
    return values, evidence


def adjustment_parts(register: pd.DataFrame, keys: np.ndarray):
    """Target adjustments in force (``register`` already cut to year ≤ the data year), per unit.

    Components: Σ arable_mu and Σ basic_farmland_mu (signed 亩), and the count of adjustments of
    an upper-level kind (跨县易地, 省统筹, 国家统筹). Evidence: ``ADJUSTMENT:<文号>``.
    """
    arable = _num(register, "arable_mu")
    bf = _num(register, "basic_farmland_mu")
    upper = register["kind"].isin(UPPER_LEVEL_KINDS).to_numpy(dtype=bool, na_value=False)
    values = group_sums(keys, {"arable_target_adjustment_mu": arable,
                               "bf_target_adjustment_mu": bf,
                               "adjustment_upper_n": upper.astype("float64")})
    ids = prefixed("ADJUSTMENT", register["document"], fallback=register["row"])
    evidence = pd.concat([
        evidence_rows(keys, ids, ["arable_target_adjustment_mu", "arable_target_mu"], arable != 0),
        evidence_rows(keys, ids, ["basic_farmland_target_adjustment_mu", "basic_farmland_target_mu"],
                      bf != 0),
        evidence_rows(keys, ids, "upper_level_involved", upper),
    ], ignore_index=True)
    return values, evidence


def event_parts(events: pd.DataFrame, keys: dict[str, np.ndarray], year: int, report: Report):
    """Counts of accountability events of the year, in all, per kind and at 省/国家 level.

    ``events`` carries a normalised ``level`` (:func:`farmland.load.normalise.event_levels`).
    """
    kind = events["kind"].astype("string").str.strip()
    ids = prefixed("EVENTS", events["row"])
    known = kind.isin(list(EVENT_METRICS)).to_numpy(dtype=bool, na_value=False)
    if not known.all():
        report.warning("EVENTS", "unknown-kind", "events of a kind other than "
                       f"{', '.join(EVENT_METRICS)} count in events_count only.", year=year,
                       field="kind", ids=ids[~known])
    provincial = events["level"].isin(PROVINCIAL_LEVELS).to_numpy(dtype=bool)
    of_kind = {k: (kind == k).to_numpy(dtype=bool, na_value=False) for k in EVENT_METRICS}
    supervision = provincial & np.logical_or.reduce([of_kind[k] for k in SUPERVISION_KINDS])
    trigger = supervision | of_kind["重大违法案件"]
    columns = {"events_n": np.ones(len(events)), "events_provincial_n": provincial.astype("float64")}
    for kind_name, metric in EVENT_METRICS.items():
        columns[f"{metric}_n"] = of_kind[kind_name].astype("float64")
        columns[f"{PROVINCIAL_EVENT_METRICS[kind_name]}_n"] = (of_kind[kind_name] & provincial) \
            .astype("float64")
    values = {level: group_sums(key, columns) for level, key in keys.items() if key is not None}
    evidence = {}
    for level, key in keys.items():
        if key is None:
            continue
        rows = [evidence_rows(key, ids, "events_count"),
                evidence_rows(key, ids, "events_provincial_count", provincial),
                evidence_rows(key, ids, "opinion_trigger_events", trigger),
                evidence_rows(key, ids, "opinion_trigger_supervision", supervision),
                evidence_rows(key, ids, "opinion_trigger_major_case", of_kind["重大违法案件"])]
        for kind_name, metric in EVENT_METRICS.items():
            rows.append(evidence_rows(key, ids, metric, of_kind[kind_name]))
            rows.append(evidence_rows(key, ids, PROVINCIAL_EVENT_METRICS[kind_name],
                                      of_kind[kind_name] & provincial))
        evidence[level] = pd.concat(rows, ignore_index=True)
    return values, evidence


def checklist_parts(checklist: pd.DataFrame, keys: dict[str, np.ndarray], year: int, report: Report):
    """Σ fraction and row count per item; the metric ``checklist.<item>`` is their ratio."""
    item = checklist["item"].astype("string").str.strip()
    fraction = checklist["fraction"].to_numpy(dtype="float64", na_value=np.nan)
    ids = prefixed("CHECKLIST", checklist["row"])
    bad = np.isnan(fraction) | (fraction < 0) | (fraction > 1)
    if bad.any():
        report.warning("CHECKLIST", "bad-fraction", "rows whose fraction is missing or outside 0–1 "
                       "are left out.", year=year, field="fraction", ids=ids[bad])
    items = sorted(set(item[~bad & item.notna().to_numpy()].dropna()))
    columns = {}
    for name in items:
        select = (item == name).to_numpy(dtype=bool, na_value=False) & ~bad
        columns[CHECKLIST_SUM + name] = np.where(select, fraction, 0.0)
        columns[CHECKLIST_N + name] = select.astype("float64")
    values, evidence = {}, {}
    for level, key in keys.items():
        if key is None:
            continue
        values[level] = group_sums(key, columns)
        evidence[level] = pd.concat(
            [evidence_rows(key, ids, f"checklist.{name}",
                           (item == name).to_numpy(dtype=bool, na_value=False) & ~bad)
             for name in items] or [evidence_rows(key, ids, [], None)], ignore_index=True)
    return values, evidence


def bf_flows(prev, now, piece_geometry, piece_crs, piece_ids, new_construction: np.ndarray):
    """Basic farmland occupied by construction and re-designated (补划) during the year, m².

    Parameters
    ----------
    prev, now : BasicFarmlandSnapshot
        JBNTTB at the end of Y−1 and Y (with geometry).
    piece_geometry, piece_crs, piece_ids :
        The year's change pieces; ``new_construction`` selects those that became construction
        land from a non-construction class.

    Returns
    -------
    values : dict level → DataFrame (``bf_occupied_m2``, ``bf_redesignated_m2``)
    evidence : dict level → evidence rows (the JBNTTB parcels and the pieces that hit them)

    Notes
    -----
    * **Occupied**: a Y−1 basic-farmland parcel loses to construction the share of its planar
      area covered by new-construction pieces, applied to its net area YJJBNTMJ. Pieces of one
      update partition the changed land, so their overlaps with a parcel add up without a union.
      Attribution: the parcel's unit in Y−1.
    * **Re-designated**: parcels of Y whose BSM did not exist in Y−1, counted for the share of
      their area not already basic farmland in Y−1. Comparing by BSM alone would count a parcel
      that was merely re-numbered (split, merged) as new; the overlay removes that.
    """
    import geopandas as gpd

    pieces = np.asarray(piece_geometry, dtype=object)
    prev_geoms = prev.geometry
    if piece_crs is not None and prev.crs is not None and not piece_crs.equals(prev.crs):
        pieces = np.asarray(gpd.GeoSeries(pieces, crs=piece_crs).to_crs(prev.crs).values, dtype=object)
    now_geoms = now.geometry
    if now.crs is not None and prev.crs is not None and not now.crs.equals(prev.crs):
        now_geoms = np.asarray(gpd.GeoSeries(now_geoms, crs=now.crs).to_crs(prev.crs).values,
                               dtype=object)

    selected = np.flatnonzero(new_construction)
    occupied = np.zeros(len(prev.bsm))
    pair_piece = pair_bf = np.empty(0, dtype=np.intp)
    if len(selected) and len(prev_geoms):
        piece_idx, bf_idx = prev.tree.query(pieces[selected], predicate="intersects")
        if len(piece_idx):
            overlap = shapely.area(overlaps(pieces[selected][piece_idx], prev_geoms[bf_idx]))
            parcel_area = shapely.area(prev_geoms[bf_idx])
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.where(parcel_area > 0, overlap / parcel_area, 0.0)
            occupied_share = np.minimum(np.bincount(bf_idx, weights=share, minlength=len(prev.bsm)), 1.0)
            occupied = occupied_share * prev.area_m2
            pair_piece, pair_bf = selected[piece_idx[overlap > 0]], bf_idx[overlap > 0]

    known = pd.Series(now.bsm, dtype=object).isin(pd.Series(prev.bsm, dtype=object)).to_numpy()
    new = np.flatnonzero(~known)
    redesignated = np.zeros(len(now.bsm))
    if len(new):
        covered, _, _ = covered_share(now_geoms[new], prev_geoms, tree=prev.tree)
        redesignated[new] = (1.0 - covered) * now.area_m2[new]

    prev_ids, now_ids = prev.ids, now.ids
    values, evidence = {}, {}
    for level in prev.keys:
        if level not in now.keys:
            continue
        occ = group_sums(prev.keys[level], {"bf_occupied_m2": occupied})
        red = group_sums(now.keys[level], {"bf_redesignated_m2": redesignated})
        values[level] = occ.join(red, how="outer").fillna(0.0)
        evidence[level] = pd.concat([
            evidence_rows(prev.keys[level], prev_ids, ["bf_occupied_mu", "bf_balance_mu"], occupied > 0),
            evidence_rows(prev.keys[level][pair_bf], np.asarray(piece_ids, dtype=object)[pair_piece],
                          "bf_occupied_mu"),
            evidence_rows(now.keys[level], now_ids, ["bf_redesignated_mu", "bf_balance_mu"],
                          redesignated > 0.005),
        ], ignore_index=True)
    return values, evidence
