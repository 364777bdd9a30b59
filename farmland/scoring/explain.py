"""Chinese text for scores: one sentence per trail row, and a unit's full trail.

The engine's trail is structured data; this module alone turns it into the sentences a county
official reads in ``farmland explain`` and on a scorecard: the figure, the rule's arithmetic and
the evidence ids, e.g. "得分 R-ILLEGAL-RATIO（第八条…）：违法占用耕地 12.30 亩 ÷ 新增建设用地占用耕地
120.00 亩，比例 10.25%；…，得 6.33/20 分。证据：WPZF:…".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING


import pandas as pd

from farmland.scoring.rules import KIND_LABELS, PHASE_LABELS, TRIGGER_LABELS, RuleSet, metric_info

if TYPE_CHECKING:  # pragma: no cover
    from farmland.scoring.engine import ScoreResult

__all__ = ["explain_unit", "annotated_trail", "unit_rows", "row_note", "trigger_text", "format_value", "format_evidence"]

_OP_TEXT = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "=", "!=": "≠"}
EVIDENCE_SHOWN = 5


def format_value(value: float | None, unit: str) -> str:
    """A figure with its unit as people read it: 亩 with 2 decimals, ratios in %, flags 是/否."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "缺失"
    v = float(value)
    if math.isinf(v):
        return "无穷大" if v > 0 else "负无穷"
    if unit == "mu":
        return f"{v:,.2f} 亩"
    if unit == "ratio":
        return f"{v * 100:.2f}%"
    if unit == "fraction":
        return f"{v * 100:.0f}%"
    if unit == "flag":
        return "是" if v >= 1 else "否"
    if unit == "count":
        return f"{v:g} 起"
    if unit == "t":
        return f"{v:,.1f} 吨"
    if unit == "grade":
        return f"{v:.2f} 等"
    return f"{v:g}"


def _unit_word(unit: str) -> str:
    return {"mu": "亩", "t": "吨", "count": "起", "flag": "", "ratio": "", "fraction": ""}.get(unit, "")


def format_evidence(ids: tuple[str, ...] | list[str], shown: int = EVIDENCE_SHOWN) -> str:
    """First ids and the count: "证据：WPZF:A、WPZF:B 等 12 条" (empty string when none)."""
    ids = list(ids)
    if not ids:
        return ""
    head = "、".join(ids[:shown])
    return f"证据：{head}" + (f" 等 {len(ids)} 条" if len(ids) > shown else "")


def _labelled(metric: str, value: float | None) -> str:
    info = metric_info(metric)
    if info.unit == "flag":
        return f"{info.label}：{format_value(value, info.unit)}"
    return f"{info.label} {format_value(value, info.unit)}"


def _ref_text(ref: float | str | None, ref_value: float, unit: str) -> str:
    if isinstance(ref, str):
        return _labelled(ref, ref_value)
    return format_value(ref_value, unit)


def _difference(x: float, ref: float, ref_label: str, unit: str) -> str:
    """'高于耕地保有量目标 67.80 亩' style wording for area comparisons."""
    if unit not in ("mu", "t") or math.isnan(x) or math.isnan(ref):
        return ""
    diff = x - ref
    word = "高于" if diff >= 0 else "低于"
    return f"，{word}{ref_label} {abs(diff):,.2f} {_unit_word(unit)}"


def _f(value) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def _rule_note(r, row) -> str:
    """The Chinese sentence for rule ``r`` at one trail row (value, reference, inputs, points …)."""
    info = metric_info(r.metric)
    x = _f(row.value)
    points = _f(row.points)
    inputs = {m: _f(v) for m, v in row.inputs.items()}
    if not r.enabled:
        return "本规则已停用（enabled = false），不计分"
    if row.not_applicable:
        return f"{_labelled(r.applies_when, inputs.get(r.applies_when))}：本项不涉及，按满分计 {points:.2f} 分"
    if row.basis_mismatch and row.missing:
        return f"目标与面积的调查口径（二调/三调）不一致，规则集规定不予评价，按 {points:.2f} 分计"
    if row.missing:
        used = "，".join(_labelled(m, v) for m, v in inputs.items())
        if r.missing == "full":
            return f"{used}：无数据，视为不涉及，按满分计 {points:.2f} 分"
        consequence = "不触发" if r.kind in ("veto", "cap") else "按 0 分计"
        return f"数据缺失（{used}），{consequence}"
    fired = bool(row.fired)

    if r.kind in ("threshold", "veto", "cap"):
        ref_value = _f(row.reference)
        ref_label = metric_info(r.value).label if isinstance(r.value, str) else "阈值"
        if info.unit == "flag" and not isinstance(r.value, str):
            cond = _labelled(r.metric, x)  # "…达到15%：是" reads better than "是 ≥ 是"
        else:
            cond = f"{_labelled(r.metric, x)} {_OP_TEXT[r.op]} {_ref_text(r.value, ref_value, info.unit)}"
        diff = _difference(x, ref_value, ref_label, info.unit)
        if r.kind == "threshold":
            verdict = "达到" if fired else "未达到"
            return f"条件“{cond}”{verdict}{diff}，得 {points:.2f}/{r.points:g} 分"
        if r.kind == "veto":
            verdict = "成立，一票否决，等次定为最低等" if fired else "不成立，未触发否决"
            return f"否决条件“{cond}”{verdict}{diff}"
        verdict = f"成立，等次最高为{r.max_grade}" if fired else "不成立，不限制等次"
        return f"限制条件“{cond}”{verdict}{diff}"

    if r.kind == "proportional":
        if r.denominator is not None:
            num = inputs[r.metric]
            den = _f(row.reference)
            figures = f"{_labelled(r.metric, num)} ÷ {_labelled(r.denominator, den)}"
            if den == 0 and num == 0:
                ratio_text = "无发生（0 ÷ 0）"
                rule_text = {"full": "按满分计", "zero": "按 0 分计"}.get(r.zero_denominator, "")
                return f"{figures}，{ratio_text}，{rule_text}，得 {points:.2f}/{r.points:g} 分"
            ratio_text = "比例无穷大（分母为 0）" if math.isinf(x) else f"比例 {x * 100:.2f}%"
        else:
            figures = _labelled(r.metric, x)
            ratio_text = ""
        scale = (
            f"比例 {r.full_at * 100:g}% 得满分、{r.zero_at * 100:g}% 得 0 分、其间线性"
            if info.unit == "ratio" or r.denominator
            else f"{r.full_at:g} 得满分、{r.zero_at:g} 得 0 分、其间线性"
        )
        sep = "，" if ratio_text else ""
        return f"{figures}{sep}{ratio_text}；{scale}，得 {points:.2f}/{r.points:g} 分"

    if r.kind == "banded":
        word = "≥" if r.band_side == "min" else "≤"
        bands = "、".join(f"{word}{format_value(b.bound, info.unit)} 得 {b.points:g} 分" for b in r.bands)
        return f"{_labelled(r.metric, x)}；分档：{bands}，其余 0 分；得 {points:.2f}/{r.points:g} 分"

    if r.kind == "checklist":
        return f"{_labelled(r.metric, x)}，{r.points:g} 分 × {_f(row.fraction) * 100:.0f}% = {points:.2f} 分"

    # bonus / deduction
    unit = info.unit
    per = f"{r.per:g} {_unit_word(unit)}".strip() if unit not in ("flag",) else "触发 1 次"
    verb = "加" if r.kind == "bonus" else "扣"
    rounding = {
        "floor": "",
        "ceil": f"（不足 {per}按 {per}计）",
        "none": "（按比例计）",
    }[r.rounding]
    if r.below is not None:
        ref_label = metric_info(r.below).label if isinstance(r.below, str) else format_value(float(r.below), unit)
        counted = f"低于{ref_label}的部分 {format_value(_f(row.amount), unit)}"
    elif isinstance(r.above, str):
        counted = f"超出{metric_info(r.above).label}的部分 {format_value(_f(row.amount), unit)}"
    elif r.above:
        counted = f"超出 {format_value(float(r.above), unit)} 的部分 {format_value(_f(row.amount), unit)}"
    else:
        counted = ""
    used = "，".join(_labelled(m, v) for m, v in inputs.items())
    if counted:
        used += f"，{counted}"
    each = f"每 {per}" if unit != "flag" else "触发"
    amount = abs(points)
    capped = "（已达上限）" if amount >= r.cap - 1e-9 and amount > 0 else ""
    return f"{used}；{each}{verb} {r.points_per:g} 分{rounding}，最多{verb} {r.cap:g} 分；{verb} {amount:.2f} 分{capped}"


def _fold_note(inputs: dict) -> str:
    """How the final total folds in the annual and mid-term results (第九、十二条)."""
    parts = [("期末考核得分", "phase_total", "weight_final"), ("年度自查平均分", "annual_mean", "weight_annual_mean"),
             ("期中检查得分", "midterm_total", "weight_midterm")]
    terms, absent, total = [], [], 0.0
    for label, key, weight in parts:
        v, w = _f(inputs.get(key)), _f(inputs.get(weight))
        if math.isnan(v):
            absent.append(label)
        else:
            terms.append(f"{label} {v:.2f} × {w:.3g}")
            total += v * w
    text = " + ".join(terms) + f" = {total:.2f}"
    if absent:
        text += f"；缺少{'、'.join(absent)}，其权重按比例分配给其余部分"
    return text


def trigger_text(code: str, year: int, details: dict) -> str:
    """A 34号 trigger or review finding in words, with its figures (for cards and the trail)."""
    d = {k: _f(v) for k, v in (details or {}).items()}
    label = TRIGGER_LABELS.get(code, "")
    if code in ("illegal_ratio_15", "illegal_ratio_disagreement"):
        reported = (f"卫片执法上报：违法占用耕地 {format_value(d.get('illegal_arable_mu'), 'mu')} ÷ "
                    f"新增建设用地占用耕地 {format_value(d.get('construction_on_arable_mu'), 'mu')}，"
                    f"比例 {format_value(d.get('illegal_ratio'), 'ratio')}")
        text = reported
        if not math.isnan(d.get("illegal_ratio_rectified", math.nan)):
            text += (f"；扣除已整改 {format_value(d.get('illegal_rectified_mu'), 'mu')} 后比例 "
                     f"{format_value(d.get('illegal_ratio_rectified'), 'ratio')}")
        if not math.isnan(d.get("derived_illegal_ratio", math.nan)):
            text += (f"；变更调查与用地审批推算：未经批准占用耕地 {format_value(d.get('derived_illegal_arable_mu'), 'mu')}"
                     f"，比例 {format_value(d.get('derived_illegal_ratio'), 'ratio')}")
        if d.get("illegal_ratio_disagreement") == 1:
            text += "；两者不一致，须核实"
        head = (f"{year} 年违法占用耕地面积占新增建设用地占用耕地总面积的比例达到15%" if code == "illegal_ratio_15"
                else f"{year} 年上报比例与推算比例不一致，须核实")
        return f"{head}（{text}）"
    if code in ("arable_below_target", "bf_below_target"):
        area, target, flag = (("arable_mu", "arable_target_mu", "arable_basis_mismatch") if code == "arable_below_target"
                              else ("basic_farmland_mu", "basic_farmland_target_mu", "basic_farmland_basis_mismatch"))
        goal = d.get("assessed_target", d.get(target))
        text = (f"{year} 年末{metric_info(area).label} {format_value(d.get(area), 'mu')}，"
                f"低于考核目标 {format_value(goal, 'mu')} {format_value(goal - d.get(area, math.nan), 'mu')}")
        if d.get(flag) == 1:
            text += "（目标与面积的调查口径不一致，按规则集的口径规定比较）"
        return f"{label}：{text}"
    if code == "supervision":
        counts = "、".join(f"{metric_info(m).label} {v:g} 起" for m, v in d.items() if not math.isnan(v) and v > 0)
        return f"{year} 年{label}（{counts}）"
    if code == "major_case":
        return f"{year} 年{label}（{format_value(d.get('events_major_case_count'), 'count')}）"
    return f"{year} 年{label or code}"


def row_note(row, rules: RuleSet) -> str:
    """The Chinese sentence of one trail row (a rule, a CLIP / FOLD adjustment, a trigger)."""
    if row.kind == "clip":
        inputs = row.inputs
        return (f"原始合计 {_f(inputs['raw_total']):.2f} 分超出 0–{_f(inputs['full_marks']):g} 分，"
                f"按 {_f(inputs['phase_total']):.2f} 分计（调整 {_f(row.points):+.2f} 分）")
    if row.kind == "fold":
        return _fold_note(row.inputs)
    if row.kind in ("trigger", "review"):
        code, year = str(row.rule_id).split("@")
        note = trigger_text(code, int(year), row.inputs)
        return note + ("；不计入耕地保护考核得分，供经济社会发展综合考核使用" if row.kind == "trigger" else "")
    return _rule_note(rules.rule(row.rule_id), row)


def annotated_trail(result: ScoreResult) -> pd.DataFrame:
    """The trail with a ``note`` column: each row's Chinese sentence (for CSV, cards, explain)."""
    trail = result.trail.copy()
    trail["note"] = [row_note(row, result.rules) for row in trail.itertuples(index=False)]
    return trail


def unit_rows(trail: pd.DataFrame) -> dict[str, list]:
    """An annotated trail split by unit once: ``{xzqdm: [row, ...]}`` (rows as named tuples).

    Explaining or rendering hundreds of units then costs one split, not a filter per unit.
    """
    rows: dict[str, list] = {}
    # One pass over the rows: a groupby builds an itertuples per unit, ~10 ms each over ~1000 units.
    for code, row in zip(trail["xzqdm"], trail.itertuples(index=False), strict=True):
        if not pd.isna(code):
            rows.setdefault(str(code), []).append(row)
    return rows


def explain_unit(result: ScoreResult, xzqdm: str, rows: list | None = None) -> str:
    """The Chinese text trail of one unit: totals, every rule's points, triggers and evidence.

    ``rows``: the unit's rows of the annotated trail (:func:`unit_rows`), when explaining many
    units of one result.
    """
    table = result.table
    xzqdm = str(xzqdm)
    at = table.index[table["xzqdm"] == xzqdm]
    if len(at) == 0:
        known = ", ".join(table["xzqdm"].head(12))
        raise KeyError(f"no unit {xzqdm!r} in the scores; units: {known}")
    row = table.loc[at[0]]
    if rows is None:
        rows = unit_rows(annotated_trail(result)).get(xzqdm, [])
    rs = result.rules
    year = "" if result.year is None else f"（{result.year} 年数据）"
    unit_word = "乡镇" if result.level == "township" else "县级单位"
    lines = [
        f"{xzqdm} {row['xzqmc']} — {PHASE_LABELS[result.phase]}{year}",
        f"规则集：{rs.title}",
        f"总分 {row['total']:.2f} 分，第 {row['rank']} 名（共 {len(table)} 个{unit_word}）；"
        f"结果：{row['outcome'] or '无'}" + (f"；等次：{row['grade']}" if "grade" in table.columns else ""),
    ]
    ind = sum(row[c] for c in result.indicator_columns)
    calc = f"计分：指标得分 {ind:.2f} + 加分 {row['bonuses']:.2f} − 扣分 {row['deductions']:.2f}"
    if row["clip_adjustment"]:
        calc += f" {row['clip_adjustment']:+.2f}（截断至 0–{rs.full_marks:g}）"
    if "fold_adjustment" in table.columns:
        calc += f" = 期末得分 {row['phase_total']:.2f}"
        calc += f"；纳入年度、期中结果后 {row['total']:.2f}"
    else:
        calc += f" = {row['total']:.2f}"
    lines.append(calc)
    if row["outcome_text"]:
        lines.append(f"结果运用：{row['outcome_text']}")
    lines.append("结果认定标准：" + "；".join(rs.outcomes.criteria_lines(rs.points_label)))
    if row["basis_mismatch"]:
        lines.append(f"口径：{row['basis_mismatch'].replace(';', '、')} 以二调口径目标比较三调口径面积（或相反），"
                     f"已按规则集口径规定（{rs.basis.policy}）处理并标注")
    if "vetoes" in table.columns and row["vetoes"]:
        lines.append(f"否决：{row['vetoes'].replace(';', '、')}（等次定为{rs.fail_grade}）")
    if "caps" in table.columns and row["caps"]:
        lines.append(f"限制评优：{row['caps'].replace(';', '、')}")
    if result.missing_columns:
        lines.append(f"注意：输入中没有以下指标，相关规则按数据缺失处理：{'、'.join(result.missing_columns)}")

    sections = [
        ("指标得分", ("threshold", "proportional", "banded", "checklist")),
        ("加分", ("bonus",)),
        ("扣分", ("deduction",)),
        ("否决与限制", ("veto", "cap")),
        ("总分调整", ("clip", "fold")),
        ("聊政发〔2018〕34号 四（三）问责情形（报送经济社会发展综合考核，不计入本考核得分）", ("trigger",)),
        ("待核实事项", ("review",)),
    ]
    for title, kinds in sections:
        part = [t for t in rows if t.kind in kinds]
        if not part:
            if kinds == ("trigger",):
                lines += ["", f"【{title}】", "  无"]
            continue
        lines.append("")
        lines.append(f"【{title}】")
        for t in part:
            if t.kind in ("trigger", "review"):
                line = f"  {t.rule_id}：{t.note}。"
            else:
                label = KIND_LABELS.get(t.kind, "调整")
                if t.kind in ("threshold", "proportional", "banded", "checklist"):
                    label = "得分"
                mark = "（口径不一致）" if t.basis_mismatch else ""
                line = f"  {label} {t.rule_id}（{t.clause}）{t.name}{mark}：{t.note}。"
            ev = format_evidence(t.evidence)
            if ev:
                line += ev
            lines.append(line)
    return "\n".join(lines)
