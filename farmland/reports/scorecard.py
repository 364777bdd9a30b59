"""The county scorecard: one unit, one check, on one or two A4 pages (HTML, then PDF).

Header (unit, check, span, total, rank, outcome, 34号 triggers in words, 口径, rule set with its
建议值 label, draft status and date), the indicator table with points and the reason of each,
targets against the year-end areas with margins and adjustments, distances to every line, trend
charts 2015–2020, a map of the unit, findings and a provenance footer.

Every number comes from the score result (table, trail) or the results table; nothing here
computes a figure.
"""

from __future__ import annotations

import pandas as pd

from ..labels import label
from ..scoring.explain import annotated_trail, format_evidence, trigger_text
from ..scoring.rules import WEIGHTED_KINDS
from .common import PHASE_TITLES, ReportData, basis_word, missing, render, span_text, status_text, stylesheet

#: Indicator rows of the card: weighted items, then bonuses and deductions, then adjustments.
CARD_KINDS = (*WEIGHTED_KINDS, "bonus", "deduction", "veto", "cap", "clip", "fold")

TARGET_ROWS = (
    ("耕地保有量", "arable_mu", "arable_target_base_mu", "arable_target_adjustment_mu", "arable_target_mu",
     "arable_margin_mu", "arable_attainment", "arable_basis_mismatch"),
    ("永久基本农田", "basic_farmland_mu", "basic_farmland_target_base_mu", "basic_farmland_target_adjustment_mu",
     "basic_farmland_target_mu", "basic_farmland_margin_mu", "basic_farmland_attainment",
     "basic_farmland_basis_mismatch"),
)

#: Further figures of the unit shown on the card (in this order).
OTHER_METRICS = (
    "construction_on_arable_mu", "illegal_arable_mu", "illegal_ratio", "illegal_ratio_rectified",
    "derived_illegal_ratio", "arable_change_mu", "occupied_mu", "supplemented_mu", "balance_mu",
    "bf_occupied_mu", "bf_redesignated_mu", "hsf_built_mu", "hsf_task_mu", "hsf_completion",
    "mean_quality_grade", "supplemented_upper_level_mu",
)

BASIS_METRICS = ("arable_mu", "basic_farmland_mu", "arable_target_mu", "basic_farmland_target_mu")


def _evidence(ids, shown: int = 6) -> str:
    text = format_evidence(tuple(ids or ()), shown)
    return text.removeprefix("证据：")


def unit_row(result, code: str) -> pd.Series:
    rows = result.table[result.table["xzqdm"] == str(code)]
    if rows.empty:
        raise KeyError(f"no score for unit {code}; units: {', '.join(result.table['xzqdm'])}")
    return rows.iloc[0]


def score_header(result, code: str) -> dict:
    """The header figures of a unit's card, straight from the scores table."""
    row = unit_row(result, code)
    fold = ""
    if "fold_adjustment" in row.index:
        trail = result.trail
        folded = trail[(trail["xzqdm"] == str(code)) & (trail["kind"] == "fold")]
        if len(folded):
            from ..scoring.explain import row_note

            fold = row_note(folded.iloc[0], result.rules)
    return {
        "total": float(row["total"]),
        "rank": int(row["rank"]),
        "units": len(result.table),
        "outcome": row["outcome"] or "",
        "outcome_text": row["outcome_text"] or "",
        "grade": row["grade"] if "grade" in row.index else "",
        "vetoes": (row["vetoes"] or "").replace(";", "、") if "vetoes" in row.index else "",
        "basis_mismatch": (row["basis_mismatch"] or "").replace(";", "、"),
        "fold": fold,
    }


def rules_header(rules) -> dict:
    return {"title": rules.title, "points_label": rules.points_label, "full_marks": f"{rules.full_marks:g}",
            "criteria": list(rules.outcomes.criteria_lines(rules.points_label)), "example": rules.example,
            "basis_policy": rules.basis.policy}


def trigger_items(result, code: str, kind: str = "trigger") -> list[dict]:
    t = result.triggers
    t = t[(t["xzqdm"] == str(code)) & (t["kind"] == kind)]
    return [{"text": trigger_text(r.code, int(r.year), r.details), "evidence": _evidence(r.evidence)}
            for r in t.itertuples(index=False)]


def indicator_rows(trail: pd.DataFrame) -> list[dict]:
    rows = []
    for r in trail[trail["kind"].isin(CARD_KINDS)].itertuples(index=False):
        rows.append({"rule_id": r.rule_id, "name": r.name, "clause": r.clause, "points": r.points,
                     "max_points": r.max_points, "status": r.status, "note": r.note,
                     "mismatch": bool(r.basis_mismatch), "evidence": _evidence(r.evidence, 3)})
    return rows


def target_rows(data: ReportData, code: str, phase: str, year: int) -> list[dict]:
    rows = []
    for name, area, base, adjustment, target, margin, attainment, flag in TARGET_ROWS:
        rows.append({
            "metrics": {"actual": area, "base": base, "adjustment": adjustment, "target": target, "margin": margin,
                        "attainment": attainment},
            "label": name, "actual": data.value(code, area, phase, year), "base": data.value(code, base, phase, year),
            "adjustment": data.value(code, adjustment, phase, year), "target": data.value(code, target, phase, year),
            "margin": data.value(code, margin, phase, year), "attainment": data.value(code, attainment, phase, year),
            "basis_area": basis_word(data.basis(code, area, phase, year)),
            "basis_target": basis_word(data.basis(code, target, phase, year)),
            "mismatch": data.value(code, flag, phase, year) == 1,
        })
    return rows


def card_context(result, code: str, *, data: ReportData, city_name: str, period_start: int, trend: str,
                 map_uri: str | None, map_year: int, distances: list[str], adjustments: list[dict],
                 calendar: str, provenance: dict, date: str, assessment_name: str, file_name: str) -> dict:
    """Everything the scorecard template shows, from the score result and the results table."""
    code = str(code)
    row = unit_row(result, code)
    trail = annotated_trail(result) if "note" not in result.trail else result.trail
    trail = trail[trail["xzqdm"] == code]
    phase, year = result.phase, int(result.year)
    findings = trigger_items(result, code, "review")
    if row["basis_mismatch"]:
        findings.append({"text": f"{row['basis_mismatch'].replace(';', '、')} 以不同调查口径的目标比较面积，"
                                 f"已按规则集口径规定（{result.rules.basis.policy}）处理并标注。", "evidence": ""})
    for r in trail[trail["status"] == "数据缺失"].itertuples(index=False):
        findings.append({"text": f"{r.name}（{r.rule_id}）数据缺失：{r.note}", "evidence": ""})
    others = [data.row(code, m, phase, year) for m in OTHER_METRICS]
    return {
        "css": stylesheet(),
        "city_name": city_name,
        "phase": phase,
        "year": year,
        "src": f"{code}:{phase}:{year}",
        "phase_title": PHASE_TITLES.get(phase, phase),
        "span": span_text(phase, period_start, year),
        "unit": {"code": code, "name": row["xzqmc"], "file": file_name},
        "score": score_header(result, code),
        "rules": rules_header(result.rules),
        "status": status_text(result.rules.points_label),
        "date": date,
        "calendar": calendar,
        "triggers": trigger_items(result, code),
        "basis": [{"label": label(m), "basis": basis_word(data.basis(code, m, phase, year))} for m in BASIS_METRICS],
        "indicators": indicator_rows(trail),
        "targets_year": year,
        "targets": target_rows(data, code, phase, year),
        "adjustments": adjustments,
        "others": [o for o in others if not missing(o["value"])],
        "distances": distances,
        "trend": trend,
        "last_year": max(data.annual_years) if data.annual_years else year,
        "map": map_uri,
        "map_year": map_year,
        "findings": findings,
        "provenance": provenance,
        "assessment_name": assessment_name,
    }


def render_scorecard(context: dict) -> str:
    """The card's HTML (the font rule is added by the writer, from the page's own characters)."""
    return render("scorecard.html.j2", **context)
