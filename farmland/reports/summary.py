"""The city summary of one check: ranking with outcomes and triggers, a choropleth of totals, the
city's areas against its targets (844.64 / 724.05 万亩 for Liaocheng 2020) with each county's share
of the margin, the opinion's land-use indicators with their basis, the 34号 triggers, and where the
check sits in the period's calendar.

Figures come from the scores table and the results table (the city row); the ``[city]`` targets
come from the workspace. A county's share of the margin is its margin ÷ the city's margin: the one
division this page makes, on two figures of the results table.
"""

from __future__ import annotations

import math

from ..labels import label
from ..scoring.explain import trigger_text
from .common import (PHASE_TITLES, ReportData, basis_word, fmt_value, missing, render, span_text, status_text,
                     stylesheet)
from .scorecard import _evidence, rules_header

#: The opinion's land-use indicators (聊政发〔2018〕34号 三), reported with their basis, not scored.
OPINION_INDICATORS = (
    ("供地率", "land_supply_rate", "≥"),
    ("国土开发强度", "development_intensity", "≤"),
    ("城镇工矿用地规模", "urban_industrial_space_mu", "≤"),
    ("单位GDP建设用地较基期变化", "construction_land_per_gdp_change", "≤"),
)

CITY_TARGETS = (
    ("耕地保有量", "arable_mu", "arable_target_mu", "arable_margin_mu"),
    ("永久基本农田", "basic_farmland_mu", "basic_farmland_target_mu", "basic_farmland_margin_mu"),
)


def city_target_rows(data: ReportData, city_code: str, city_targets: dict, phase: str, year: int,
                     counties: list[tuple[str, str]]) -> list[dict]:
    """City area against the ``[city]`` target (or the sum of the county targets), with shares."""
    rows = []
    for name, area, target, margin in CITY_TARGETS:
        actual = data.value(city_code, area, phase, year)
        summed = data.value(city_code, target, phase, year)
        goal = city_targets.get(target)
        source = "[city] 目标（聊政发〔2018〕34号 二）" if goal is not None else "各县目标之和"
        city_margin = data.value(city_code, margin, phase, year)
        if goal is not None and not missing(summed) and not math.isclose(goal, summed, rel_tol=0, abs_tol=1e-6):
            city_margin = actual - goal  # the table's margin is against the counties' sum
        shares = []
        for code, county in counties:
            m = data.value(code, margin, phase, year)
            share = m / city_margin if city_margin and not missing(m) and not missing(city_margin) else math.nan
            shares.append({"code": code, "name": county, "margin": m, "share": share})
        rows.append({"metrics": {"actual": area, "target_sum": target, "margin": margin},
                     "label": name, "actual": actual, "target": goal if goal is not None else summed,
                     "summed": summed, "source": source, "margin": city_margin,
                     "basis_area": basis_word(data.basis(city_code, area, phase, year)),
                     "basis_target": basis_word(data.basis(city_code, target, phase, year)),
                     "met": (not missing(city_margin)) and city_margin >= 0, "shares": shares})
    return rows


def opinion_rows(data: ReportData, city_code: str, phase: str, year: int) -> list[dict]:
    rows = []
    for name, metric, op in OPINION_INDICATORS:
        unit = data.unit(city_code, metric, phase, year) or "ratio"
        value = data.value(city_code, metric, phase, year)
        limit = data.value(city_code, f"{metric}_limit", phase, year)
        ok = data.value(city_code, f"{metric}_ok", phase, year)
        rows.append({"metric": metric, "label": name, "metric_label": label(metric), "value": fmt_value(value, unit),
                     "limit": f"{op} {fmt_value(limit, unit)}", "ok": "" if missing(ok) else ("达标" if ok >= 1 else "未达标"),
                     "basis": basis_word(data.basis(city_code, metric, phase, year)) or "—"})
    return rows


def calendar_rows(period_start: int, phase: str, year: int) -> list[dict]:
    from ..scoring.schedule import calendar

    frame = calendar(period_start)
    rows = []
    for r in frame.itertuples(index=False):
        rows.append({"check": r.check, "covers": f"{r.covers_from}–{r.covers_to}" if r.covers_from != r.covers_to
                     else f"{r.covers_from}", "step": r.step, "deadline": r.deadline_text, "clause": r.clause,
                     "now": r.phase == phase and int(r.data_year) == int(year)})
    return rows


def calendar_line(period_start: int, phase: str, year: int) -> str:
    """When this check is held and its first deadline, from the calendar (第四、九、十二、十六条)."""
    now = [r for r in calendar_rows(period_start, phase, year) if r["now"]]
    if not now:
        return "—"
    first = now[0]
    return f"{first['check']}（{first['covers']}年数据）：{first['step']} {first['deadline']}".strip()


def summary_context(result, *, data: ReportData, city_code: str, city_name: str, city_targets: dict,
                    period_start: int, choropleth: str | None, provenance: dict, date: str,
                    assessment_name: str) -> dict:
    table = result.table.sort_values(["rank", "xzqdm"])
    phase, year = result.phase, int(result.year)
    words = {}
    fired = result.triggers[result.triggers["kind"] == "trigger"]
    triggers = []
    names = dict(zip(result.table["xzqdm"], result.table["xzqmc"], strict=True))
    for r in fired.itertuples(index=False):
        text = trigger_text(r.code, int(r.year), r.details)
        words.setdefault(r.xzqdm, []).append(f"{r.label}（{int(r.year)}）" if r.label else text)
        triggers.append({"code": r.xzqdm, "name": names.get(r.xzqdm, r.xzqdm), "text": text,
                         "evidence": _evidence(r.evidence)})
    ranking = [{"rank": int(r.rank), "code": r.xzqdm, "name": r.xzqmc, "total": float(r.total),
                "outcome": r.outcome or "", "grade": getattr(r, "grade", ""), "triggers": words.get(r.xzqdm, []),
                "file": r.xzqdm} for r in table.itertuples(index=False)]
    counties = [(r["code"], r["name"]) for r in ranking]
    return {
        "css": stylesheet(),
        "city_name": city_name,
        "phase": phase,
        "city_src": f"{city_code}:{phase}:{year}",
        "phase_title": PHASE_TITLES.get(phase, phase),
        "span": span_text(phase, period_start, year),
        "year": year,
        "rules": rules_header(result.rules),
        "status": status_text(result.rules.points_label),
        "date": date,
        "has_grade": "grade" in result.table.columns,
        "ranking": ranking,
        "choropleth": choropleth,
        "city_targets": city_target_rows(data, city_code, city_targets, phase, year, counties),
        "opinion": opinion_rows(data, city_code, phase, year),
        "triggers": triggers,
        "calendar": calendar_rows(period_start, phase, year),
        "provenance": provenance,
        "assessment_name": assessment_name,
    }


def render_summary(context: dict) -> str:
    return render("summary.html.j2", **context)

