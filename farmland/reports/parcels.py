"""Problem-parcel lists (问题图斑): every parcel or record behind a lost point, a trigger or a finding.

For each check, one GeoPackage (layer ``problem_parcels``; ledger, checklist and event rows have
no geometry) and one Excel workbook with the same rows: evidence id (as on the scorecard and in
the trail), layer, record id, unit, year, rule or check, area (亩), and why — so an official opens
them in QGIS / ArcGIS or filters them in Excel.

Which evidence counts as a problem: the ids the trail records for a rule that did not earn its
full points (or deducted), for a 34号 trigger, and for a review finding. Enforcement parcels
(WPZF) are listed only where they hold illegal arable occupation (WFZYGDMJ > 0): a lawful
occupation is evidence of the ratio, not a problem.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..scoring.rules import WEIGHTED_KINDS
from ..units import M2_TO_MU
from ..workspace import ROW_TABLES
from .sources import LAYERS, LayerCache

COLUMNS = ["evidence_id", "layer", "record_id", "xzqdm", "xzqmc", "year", "rule", "check", "kind",
           "area_mu", "why", "rule_note"]
HEADERS = {"evidence_id": "证据编号", "layer": "图层", "record_id": "图斑/记录编号", "xzqdm": "行政区代码",
           "xzqmc": "行政区名称", "year": "年份", "rule": "规则/情形", "check": "考核内容", "kind": "类别",
           "area_mu": "面积(亩)", "why": "问题说明", "rule_note": "评分说明"}
KIND_WORDS = {"deduction": "失分", "trigger": "问责情形（34号 四（三））", "review": "待核实"}
_EPS = 1e-9


def problem_evidence(trail: pd.DataFrame) -> pd.DataFrame:
    """Trail rows behind a lost point, a deduction, a trigger or a review finding, one per evidence id.

    ``trail`` is :func:`farmland.scoring.explain.annotated_trail` of a score result.
    """
    weighted = trail["kind"].isin(WEIGHTED_KINDS)
    earned = pd.to_numeric(trail["points"], errors="coerce").fillna(0)
    possible = pd.to_numeric(trail["max_points"], errors="coerce").fillna(0)
    lost = weighted & (earned < possible - _EPS) & ~trail["not_applicable"].astype(bool)
    deducted = (trail["kind"] == "deduction") & (earned.abs() > _EPS)
    flagged = trail["kind"].isin(["trigger", "review"])
    rows = trail[lost | deducted | flagged].copy()
    rows["problem_kind"] = np.where(rows["kind"].isin(["trigger", "review"]), rows["kind"], "deduction")
    rows = rows.explode("evidence").dropna(subset=["evidence"])
    rows = rows[rows["evidence"].astype(str) != ""]
    return rows.reset_index(drop=True)


def check_years(ws, result) -> list[int]:
    """The years a check's evidence may come from: its year, or its span up to it."""
    if result.phase == "annual":
        return [int(result.year)]
    return [y for y in ws.period.covered_years(result.phase, result.year) if y <= int(result.year)]


def _text(record, field) -> str:
    value = record.get(field)
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _number(value) -> float:
    """A field's value as a float (NaN when missing or not a number), as ``pd.to_numeric(errors="coerce")``."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _m2(record, field) -> str:
    from ..scoring.explain import format_value

    value = _number(record.get(field))
    return format_value(None if math.isnan(value) else value * M2_TO_MU, "mu")


#: One line on a record of each layer (areas of geometric layers are m², shown in 亩).
_FACTS = {
    "WPZF": lambda r: (f"卫片执法 {int(r['JCNF'])} 年监测图斑：新增建设占用耕地 {_m2(r, 'ZYGDMJ')}，其中违法占用 "
                       f"{_m2(r, 'WFZYGDMJ')}" + (f"；整改状态 {_text(r, 'ZGZT')}" if _text(r, "ZGZT") else "")),
    "DLTBGXGC": lambda r: f"变更图斑：{_text(r, 'BGQDLBM')} → {_text(r, 'BGHDLBM')}，{_m2(r, 'TBBGMJ')}",
    "JBNTTB": lambda r: f"永久基本农田图斑 {_m2(r, 'YJJBNTMJ')}",
    "DLTB": lambda r: f"地类图斑 {_text(r, 'DLBM')}，地类面积 {_m2(r, 'TBDLMJ')}",
    "GBZNT": lambda r: f"高标准农田项目 {_text(r, 'XMMC') or _text(r, 'XMBH')}，{int(r['JSNF'])} 年建成 {_m2(r, 'JSMJ')}",
    "JSYDSP": lambda r: f"建设用地批准文号 {_text(r, 'PZWH')}，批准 {_m2(r, 'PZMJ')}",
    "ZBPH": lambda r: (f"占补平衡台账第 {r['row']} 行：{_text(r, 'kind')} {_text(r, 'project')} "
                       f"{float(r['area_mu']):,.2f} 亩" + (f"（{_text(r, 'source')}）" if _text(r, "source") else "")),
    "CHECKLIST": lambda r: f"检查表第 {r['row']} 行：{_text(r, 'item')} 完成程度 {float(r['fraction']) * 100:.0f}%",
    "EVENTS": lambda r: (f"问责事项表第 {r['row']} 行：" + (f"{_text(r, 'level')}级" if _text(r, "level") else "")
                         + f"{_text(r, 'kind')} {_text(r, 'note')}").strip(),
}


def _fact(layer: str, record: dict) -> str:
    """One line on the record itself."""
    return _FACTS[layer](record) if layer in _FACTS else ""


def _records(cache: LayerCache, layer: str, year, positions: np.ndarray) -> list[dict]:
    """Records at ``positions`` of a layer (geometry in the map's CRS) or a table."""
    if layer in ROW_TABLES:
        return cache.table(layer).iloc[positions].to_dict("records")
    frame = cache.layer(layer, year).iloc[positions]
    crs = cache.crs()
    if "geometry" in frame and crs is not None and frame.crs is not None and not frame.crs.equals(crs):
        frame = frame.to_crs(crs)
    return frame.to_dict("records")


def find_records(cache: LayerCache, requests, *, year_by_year: bool = False) -> list[list[tuple]]:
    """For each request ``(evidence ids, years)`` (a check's ``LAYER:ID`` and its span of years):
    (layer, record id, record or ``None`` when not found, year it was found in) of each id.

    A record present in several years is taken from the latest. Each layer and year is looked up
    once for every request (one index look-up for all ids, not one per id), the newest year
    first; ``year_by_year``: the cache lets go of each year's layers before the next year is
    read, so one year's are held at a time (``assess --by-county``).
    """
    checks = []
    for evidence_ids, years in requests:
        parts = pd.Series(evidence_ids, dtype=object).astype(str).str.partition(":")
        layers, record_ids = parts[0].to_numpy(dtype=object), parts[2].to_numpy(dtype=object)
        pending = {layer: np.flatnonzero(layers == layer) for layer in dict.fromkeys(layers)
                   if layer in ROW_TABLES or layer in LAYERS}
        checks.append((layers, record_ids, set(years), pending, [None] * len(layers), [None] * len(layers)))
    steps = [None, *sorted({y for _, years in requests for y in years}, reverse=True)]
    for step in steps:
        for _, record_ids, years, pending, found, found_years in checks:
            for layer, rows in pending.items():
                per_year = _per_year(cache, layer)
                if (step is None) == per_year or (per_year and step not in years) or not len(rows):
                    continue
                ids = cache.record_ids(layer, step)
                if ids is None:
                    continue
                positions = ids.index.get_indexer(record_ids[rows])
                hit = positions >= 0
                for row, record in zip(rows[hit], _records(cache, layer, step, ids.to_numpy()[positions[hit]]),
                                       strict=True):
                    found[row], found_years[row] = record, step
                pending[layer] = rows[~hit]
        if year_by_year and step is not None:
            cache.let_go(step)
    return [list(zip(layers, record_ids, found, found_years, strict=True))
            for layers, record_ids, _, _, found, found_years in checks]


def _per_year(cache: LayerCache, layer: str) -> bool:
    source = cache.ws.layers.get(layer)
    return layer not in ROW_TABLES and source is not None and source.per_year


_YEAR_FIELDS = {"WPZF": "JCNF", "GBZNT": "JSNF", "ZBPH": "year", "CHECKLIST": "year", "EVENTS": "year"}


def _record_year(layer: str, record, found_year, default: int) -> int:
    """The record's own year (monitoring, completion, ledger year), else the snapshot it was found in."""
    field = _YEAR_FIELDS.get(layer)
    if field and record is not None and field in record and not pd.isna(record[field]):
        return int(float(record[field]))
    if layer == "JSYDSP" and record is not None and "PZRQ" in record and not pd.isna(record["PZRQ"]):
        return int(pd.Timestamp(record["PZRQ"]).year)
    return int(found_year) if found_year is not None else default


def check_evidence(result) -> pd.DataFrame:
    """:func:`problem_evidence` of a score result (its trail annotated when it is not yet)."""
    from ..scoring.explain import annotated_trail

    return problem_evidence(result.trail if "note" in result.trail else annotated_trail(result))


def problem_parcels(result, cache: LayerCache, found: list | None = None):
    """The problem rows of one check (GeoDataFrame with :data:`COLUMNS`, geometry may be null).

    ``found``: the records of :func:`check_evidence`'s rows, looked up already (as
    :func:`find_records` gives them); by default they are looked up in ``cache``.
    """
    import geopandas as gpd

    evidence = check_evidence(result)
    if found is None:
        found = find_records(cache, [(evidence["evidence"], check_years(cache.ws, result))])[0]
    crs = cache.crs()
    rows, geometries = [], []
    # Columns as Python lists first: itertuples steps through Arrow-backed text one cell at a time.
    columns = ["evidence", "xzqdm", "xzqmc", "rule_id", "name", "problem_kind", "note"]
    items = zip(*(evidence[c].tolist() for c in columns), strict=True)
    for (evidence_id, xzqdm, xzqmc, rule, check, problem_kind, note), (layer, record_id, record, found_year) \
            in zip(items, found, strict=True):
        if layer == "WPZF" and record is not None and not _number(record.get("WFZYGDMJ")) > 0:
            continue
        area = math.nan
        geometry = None
        if record is not None:
            if layer in LAYERS:
                area = _number(record.get(LAYERS[layer][3])) * M2_TO_MU
                geometry = record.get("geometry")
            elif layer == "ZBPH":
                area = float(record["area_mu"])
        fact = _fact(layer, record) if record is not None else "（在图层中未找到该编号）"
        rows.append({
            "evidence_id": evidence_id, "layer": layer, "record_id": record_id, "xzqdm": xzqdm, "xzqmc": xzqmc,
            "year": _record_year(layer, record, found_year, int(result.year)), "rule": rule, "check": check,
            "kind": KIND_WORDS[problem_kind], "area_mu": area, "why": f"{check}：{fact}", "rule_note": note,
        })
        geometries.append(geometry)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["year"] = frame["year"].astype("int64")
    frame["area_mu"] = frame["area_mu"].astype("float64")
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometries, crs=crs), crs=crs)


def write_problem_parcels(frame, gpkg: Path, xlsx: Path) -> None:
    """The rows as a GeoPackage layer and an Excel sheet (Chinese headers, text cells as text)."""
    import pyogrio

    from ..output import write_excel

    # A fixed gpkg_contents.last_change keeps the file byte-identical from run to run.
    with _gdal_config(OGR_CURRENT_DATE="2000-01-01T00:00:00Z"):
        pyogrio.write_dataframe(frame, gpkg, layer="problem_parcels", driver="GPKG")
    sheet = pd.DataFrame(frame.drop(columns="geometry"))
    sheet.insert(len(sheet.columns) - 1, "has_geometry", np.where(frame.geometry.isna(), "否", "是"))
    write_excel({"问题图斑": sheet}, xlsx, headers={**HEADERS, "has_geometry": "有图形"})


class _gdal_config:
    def __init__(self, **options):
        self.options = options

    def __enter__(self):
        import pyogrio

        self.before = {k: pyogrio.get_gdal_config_option(k) for k in self.options}
        pyogrio.set_gdal_config_options(self.options)

    def __exit__(self, *exc):
        import pyogrio

        pyogrio.set_gdal_config_options(self.before)
