"""Declared vs checked (上报数 vs 核查数): the figures a county declared in its self-check report.

聊政办发〔2018〕17号 第十四条 makes each county answer for the truth of its self-check data. The
optional declared table lists, per unit and year, any metric of the results table (the contract's
output columns such as ``arable_mu`` or ``illegal_arable_mu``, target columns, or any other
metric name); each declared figure is compared with the computed one and a difference beyond the
tolerance is a finding. Two layouts are read:

* long: ``xzqdm, year, metric, value`` (one row per figure);
* wide: ``xzqdm, year`` and one column per metric (as ``farmland metrics`` writes them).

Areas are in 亩, ratios as fractions, like the metrics.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import WorkspaceError, closest_match
from .findings import finding_rows, fmt

KEYS = ("xzqdm", "year")
IGNORED = {"xzqmc", "level", "phase", "start_year", "note", "备注"}


def read_declared(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The declared figures, long: xzqdm (str), year (int), metric, value (float), row."""
    if isinstance(source, pd.DataFrame):
        frame, name = source.copy(), "the declared table"
    else:
        name = str(source)
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise WorkspaceError(f"cannot read the declared figures {name}: {exc}. Save it as a UTF-8 CSV "
                                 "with columns xzqdm, year and one column per metric.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [k for k in KEYS if k not in frame]
    if missing:
        raise WorkspaceError(f"{name} has no column {', '.join(missing)} (found: {', '.join(frame.columns)}); "
                             "the declared table needs xzqdm, year and the figures (wide) or metric, value (long).")
    frame["row"] = np.arange(len(frame)) + 2
    if "metric" in frame and "value" in frame:
        long = frame[["xzqdm", "year", "metric", "value", "row"]].copy()
    else:
        metrics = [c for c in frame.columns if c not in (*KEYS, "row") and c not in IGNORED]
        long = frame.melt(id_vars=["xzqdm", "year", "row"], value_vars=metrics, var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"].replace("", np.nan), errors="coerce")
    long["year"] = pd.to_numeric(long["year"], errors="coerce")
    long["xzqdm"] = long["xzqdm"].astype(str).str.strip()
    long = long.dropna(subset=["value", "year"])
    long["year"] = long["year"].astype("int64")
    return long.reset_index(drop=True)


def declared_checks(declared: pd.DataFrame, metrics, year: int, options) -> list[pd.DataFrame]:
    """Findings for declared figures of ``year`` differing from the computed ones."""
    rows = declared[declared["year"] == year]
    if not len(rows):
        return []
    table = metrics.table
    computed = table[(table["phase"] == "annual") & (table["year"] == year)
                     & table["level"].isin(["county", "city"])]
    known = set(table["metric"])
    unknown = sorted(set(rows["metric"]) - known)
    if unknown:
        hint = closest_match(unknown[0], known)
        raise WorkspaceError(f"the declared table names metrics that are not computed: {', '.join(unknown)}"
                             + (f" (did you mean {hint!r}?)" if hint else "") + ". Use the column names of "
                             "`farmland metrics` output (data contract), e.g. arable_mu, illegal_arable_mu.")
    merged = rows.merge(computed[["xzqdm", "metric", "value", "unit", "evidence"]], on=["xzqdm", "metric"],
                        how="left", suffixes=("_declared", "_computed"))
    declared_value = merged["value_declared"].to_numpy(dtype="float64")
    computed_value = merged["value_computed"].to_numpy(dtype="float64", na_value=np.nan)
    is_area = merged["unit"].fillna("").eq("mu").to_numpy()
    allowed = np.where(is_area, np.maximum(options.declared_tolerance_mu,
                                           options.declared_tolerance_share * np.abs(computed_value)),
                       np.maximum(options.declared_tolerance_ratio,
                                  options.declared_tolerance_share * np.abs(computed_value)))
    with np.errstate(invalid="ignore"):
        off = np.isnan(computed_value) | (np.abs(declared_value - computed_value) > allowed)
    if not off.any():
        return []
    m = merged[off]
    evidence = m["evidence"].map(lambda e: ";".join(e) if isinstance(e, tuple) else "").to_numpy(dtype=object)
    unit = np.where(is_area[off], "亩", m["unit"].fillna("").to_numpy(dtype=object))
    decimals = 2
    text = ("自查上报 " + m["metric"].to_numpy(dtype=object) + " = " + fmt(declared_value[off], 4) + "，核查数为 "
            + fmt(computed_value[off], 4) + "，相差 " + fmt(declared_value[off] - computed_value[off], 4)
            + "（容差 " + fmt(allowed[off], decimals) + "）。")
    text = np.where(np.isnan(computed_value[off]), "自查上报 " + m["metric"].to_numpy(dtype=object)
                    + " = " + fmt(declared_value[off], 4) + "，核查无此单位或此数值（为空）。", text)
    return [finding_rows("declared.mismatch", year, m["xzqdm"].to_numpy(dtype=object),
                         "DECLARED:row " + m["row"].astype(str).to_numpy(dtype=object), related_ids=evidence,
                         value=declared_value[off], reference=computed_value[off], measure_unit=unit,
                         explanation=text)]
