"""The findings table: one row per thing an inspector should act on, and the checks' catalogue.

A finding names the unit and year, the check (a stable id such as ``bf.construction``), its
severity, the ids of the features behind it (``DLTB:…``, ``JBNTTB:…``, ``WPZF:…`` as the metrics'
evidence names them), what was measured against what (``value``, ``reference``, ``difference``
in ``measure_unit``), a plain Chinese explanation and the clause it rests on; the GeoPackage
carries the same rows with their geometry.

Severities: ``error`` — a rule of the data or of the method is broken on the evidence itself
(an area identity, basic farmland under construction, a 15 % year not reported); ``warning`` — a
suspect (疑似) to verify in the field or with the county; ``info`` — a note (a check skipped, a
figure confirmed by another source).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}
SEVERITY_LABELS = {ERROR: "问题", WARNING: "疑似", INFO: "说明"}

COLUMNS = ["finding_id", "xzqdm", "xzqmc", "year", "category", "check", "severity", "title", "ids",
           "related_ids", "value", "reference", "difference", "measure_unit", "explanation", "clause"]
"""Columns of :attr:`AuditResult.findings` (the GeoPackage adds ``geometry``)."""

COLUMN_LABELS = {
    "finding_id": "问题编号", "xzqdm": "行政区代码", "xzqmc": "行政区名称", "year": "数据年份",
    "category": "类别", "check": "核查项代码", "severity": "性质", "title": "核查项", "ids": "图斑/记录编号",
    "related_ids": "关联编号", "value": "核查值", "reference": "对照值", "difference": "差值",
    "measure_unit": "单位", "explanation": "说明", "clause": "依据",
}


@dataclass(frozen=True)
class Check:
    """One check of the catalogue: where it belongs, how serious, what it is called, its basis."""

    category: str
    severity: str
    title: str
    clause: str
    measure_unit: str


CHECKS: dict[str, Check] = {
    # -- areas (docs/background.md §3) --------------------------------------------------------------------
    "area.tbmj": Check("areas", ERROR, "图斑面积与椭球面积不符", "国土调查办发〔2008〕32号", "m²"),
    "area.net": Check("areas", ERROR, "图斑地类面积≠图斑面积−扣除面积", "TD/T 1057 TBDLMJ = TBMJ − KCMJ", "m²"),
    "area.kcmj": Check("areas", ERROR, "扣除面积≠图斑面积×扣除系数", "TD/T 1057 KCMJ = round(TBMJ × KCXS, 2)", "m²"),
    "area.kcxs": Check("areas", WARNING, "扣除系数不合理", "田坎系数只用于耕地，取值 0–1", "系数"),
    "area.control": Check("areas", WARNING, "图斑面积之和与控制面积不符", "土地面积量算“逐级控制”", "m²"),
    # -- basic farmland (聊政发〔2018〕34号 二(一)) --------------------------------------------------
    "bf.construction": Check("basic_farmland", ERROR, "永久基本农田非农化（建设占用）",
                             "聊政发〔2018〕34号 二(一)；土地管理法第三十五条", "m²"),
    "bf.non_arable": Check("basic_farmland", WARNING, "永久基本农田上为园地/林地/坑塘/设施农用地",
                           "聊政发〔2018〕34号 二(一)", "m²"),
    "bf.non_grain": Check("basic_farmland", WARNING, "永久基本农田非粮化", "国办发〔2020〕44号；ZZSXDM", "m²"),
    "bf.abandoned": Check("basic_farmland", WARNING, "永久基本农田撂荒（未耕种）", "聊政发〔2018〕34号 二(一)", "m²"),
    "bf.lost": Check("basic_farmland", ERROR, "永久基本农田减少且未补划", "土地管理法第三十五条（占用须补划）", "m²"),
    # -- illegal occupation (监察部等令第15号 第三条; 聊政发〔2018〕34号 四(三)) ---------------------
    "occupation.unapproved": Check("occupation", WARNING, "耕地转为建设用地无批准文件覆盖",
                                   "土地管理法第四十四条", "m²"),
    "occupation.underreported": Check("occupation", ERROR, "卫片执法上报违法占用耕地面积明显偏低",
                                      "监察部等令第15号 第三条(一)；聊政发〔2018〕34号 四(三)", "亩"),
    "occupation.before_approval": Check("occupation", WARNING, "先用地后批准（批准日期晚于变更日期）",
                                        "土地管理法第四十四条", "m²"),
    "occupation.beyond_approval": Check("occupation", WARNING, "用地超出批准面积", "土地管理法第四十四条", "m²"),
    # -- remote sensing --------------------------------------------------------------------------
    "landcover.arable_built": Check("landcover", WARNING, "疑似图斑：登记为耕地、影像多为建设用地",
                                    "聊政办发〔2018〕17号 第六条（遥感监测核查）", "占比"),
    "landcover.built_cropland": Check("landcover", WARNING, "疑似图斑：登记为建设用地、影像多为耕地",
                                      "聊政办发〔2018〕17号 第六条（遥感监测核查）", "占比"),
    "landcover.unit": Check("landcover", WARNING, "遥感耕地面积与调查耕地面积差异大",
                            "聊政办发〔2018〕17号 第六条", "亩"),
    "landcover.skipped": Check("landcover", INFO, "无遥感影像，未做遥感核查", "数据契约 Revision 2", ""),
    # -- ledger and high-standard farmland ------------------------------------------------------------
    "ledger.supplement": Check("ledger", WARNING, "补充耕地在变更调查中无对应新增耕地",
                               "土地管理法第三十条（占补平衡）", "亩"),
    "ledger.residual": Check("ledger", WARNING, "耕地台账不平", "耕地增减台账", "亩"),
    "hsf.occupied": Check("hsf", WARNING, "高标准农田建成后被建设占用", "国办发〔2019〕50号", "m²"),
    "hsf.overlap": Check("hsf", WARNING, "高标准农田项目范围重叠（重复上图）", "高标准农田上图入库", "m²"),
    # -- declared vs checked, field results -----------------------------------------------------------
    "declared.mismatch": Check("declared", WARNING, "自查上报数与核查数不符", "聊政办发〔2018〕17号 第十四条",
                               ""),
    "field.nonconforming": Check("field", ERROR, "实地抽查不合格", "聊政办发〔2018〕17号 第十一、十五条", ""),
    "field.lot_rejected": Check("field", ERROR, "实地抽查批不合格（不合格数超过接收数）",
                                "ISO 2859-1 单次抽样", "个"),
}


def finding_rows(check: str, year: int, units, ids, *, value=np.nan, reference=np.nan, difference=None,
                 explanation, related_ids="", geometry=None, severity=None,
                 measure_unit: str | None = None) -> pd.DataFrame:
    """Findings of one check as a frame (one row per element of ``units``).

    Parameters
    ----------
    units : array-like of str
        xzqdm of each finding.
    ids, related_ids : array-like of str or str
        ``;``-joined ids (the features the finding is about, and others that bear on it).
    value, reference : array-like of float or scalar
        What was measured and what it was compared with (``difference`` defaults to
        ``value − reference``), in ``measure_unit`` (default: the check's).
    explanation : array-like of str
        A plain Chinese sentence per finding.
    geometry : array-like of shapely geometries, optional
    severity : array-like of str, optional
        Overrides the check's severity per row.
    """
    meta = CHECKS[check]
    units = np.asarray(units, dtype=object)
    n = len(units)

    def column(values, dtype=object):
        if np.ndim(values) == 0:
            return np.full(n, values, dtype=dtype)
        return np.asarray(values, dtype=dtype)

    value = column(value, "float64")
    reference = column(reference, "float64")
    frame = pd.DataFrame({
        "xzqdm": units,
        "year": np.full(n, int(year), dtype="int64"),
        "category": meta.category,
        "check": check,
        "severity": column(severity if severity is not None else meta.severity),
        "title": meta.title,
        "ids": column(ids),
        "related_ids": column(related_ids),
        "value": value,
        "reference": reference,
        "difference": value - reference if difference is None else column(difference, "float64"),
        "measure_unit": meta.measure_unit if measure_unit is None else measure_unit,
        "explanation": column(explanation),
        "clause": meta.clause,
    })
    frame["geometry"] = column(geometry) if geometry is not None else None
    return frame


def join_ids(groups, ids) -> pd.Series:
    """``;``-joined ids per group key (sorted, unique): the ids behind each unit's figure."""
    frame = pd.DataFrame({"key": np.asarray(groups, dtype=object), "id": np.asarray(ids, dtype=object)})
    frame = frame.dropna().drop_duplicates().sort_values(["key", "id"], kind="stable")
    return frame.groupby("key", sort=True)["id"].agg(";".join)


def fmt(values, decimals: int = 2) -> np.ndarray:
    """Numbers as text with thousands separators for the explanations ("12,345.67")."""
    values = np.asarray(values, dtype="float64")
    return np.array([f"{v:,.{decimals}f}" if np.isfinite(v) else "—" for v in values], dtype=object)


def pct(values, decimals: int = 1) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    return np.array([f"{v * 100:.{decimals}f}%" if np.isfinite(v) else "—" for v in values], dtype=object)


def assemble(parts: list[pd.DataFrame], names: dict[str, str]) -> pd.DataFrame:
    """All findings in a stable order (unit, category, check, severity, ids) with ids numbered."""
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        frame["geometry"] = pd.Series(dtype=object)
        return frame
    frame = pd.concat(parts, ignore_index=True)
    frame["xzqdm"] = frame["xzqdm"].astype(object)
    frame["xzqmc"] = frame["xzqdm"].map(names).fillna("").astype(object)
    frame["_severity"] = frame["severity"].map(SEVERITY_ORDER)
    frame = frame.sort_values(["xzqdm", "category", "check", "_severity", "ids"], kind="stable",
                              na_position="first").reset_index(drop=True)
    # Measured values at the precision they mean (0.01 m², 0.0001 亩, 1e-6 of a share): the
    # digits below it are floating-point noise of the overlay frame, and would make a run on the
    # same data in another CRS publish other bytes.
    unit = frame["measure_unit"].astype(str)
    decimals = np.where(unit.str.startswith("m²"), 2, np.where(unit == "亩", 4, 6))
    for column in ("value", "reference", "difference"):
        values = frame[column].to_numpy(dtype="float64")
        frame[column] = np.round(values * 10.0 ** decimals) / 10.0 ** decimals + 0.0  # no "-0.0"
    year = frame["year"].astype("int64")
    frame["finding_id"] = ["F{}-{:05d}".format(y, i + 1) for i, y in enumerate(year)]
    return frame[[*COLUMNS, "geometry"]]
