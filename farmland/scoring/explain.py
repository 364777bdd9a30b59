"""Chinese text for scores: one sentence per rule and county, and a county's full trail.

The sentences are what a county official reads in ``farmland explain`` and on a scorecard, so
they state the figure, the rule's arithmetic and the evidence ids, e.g.
"扣分 R-ILLEGAL-DEDUCT（第八条…）：违法占用耕地 12.30 亩，每 100 亩扣 1 分（不足 100 亩按 100 亩计），
扣 1.00 分。证据：WPZF:…".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from farmland.scoring.rules import KIND_LABELS, PHASE_LABELS, RuleSet, metric_info

if TYPE_CHECKING:  # pragma: no cover
    from farmland.scoring.engine import RuleOutcome, ScoreResult

__all__ = ["explain_unit", "rule_note", "format_value", "format_evidence"]

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


def rule_note(o: RuleOutcome, i: int) -> str:
    """The Chinese sentence for rule outcome ``o`` at county row ``i``."""
    r = o.rule
    info = metric_info(r.metric)
    x = float(o.value[i])
    if not r.enabled:
        return "本规则已停用（enabled = false），不计分"
    if o.missing[i]:
        used = "，".join(_labelled(m, v[i]) for m, v in o.inputs.items())
        if r.missing == "full":
            return f"{used}：无数据，视为不涉及，按满分计 {o.points[i]:.2f} 分"
        consequence = "不触发" if r.kind in ("veto", "cap") else "按 0 分计"
        return f"数据缺失（{used}），{consequence}"

    if r.kind in ("threshold", "veto", "cap"):
        ref_value = float(o.reference[i])
        ref_label = metric_info(r.value).label if isinstance(r.value, str) else "阈值"
        if info.unit == "flag" and not isinstance(r.value, str):
            cond = _labelled(r.metric, x)  # "…达到15%：是" reads better than "是 ≥ 是"
        else:
            cond = f"{_labelled(r.metric, x)} {_OP_TEXT[r.op]} {_ref_text(r.value, ref_value, info.unit)}"
        diff = _difference(x, ref_value, ref_label, info.unit)
        if r.kind == "threshold":
            verdict = "达到" if o.fired[i] else "未达到"
            return f"条件“{cond}”{verdict}{diff}，得 {o.points[i]:.2f}/{r.points:g} 分"
        if r.kind == "veto":
            verdict = "成立，一票否决，等次定为最低等" if o.fired[i] else "不成立，未触发否决"
            return f"否决条件“{cond}”{verdict}{diff}"
        verdict = f"成立，等次最高为{r.max_grade}" if o.fired[i] else "不成立，不限制等次"
        return f"限制条件“{cond}”{verdict}{diff}"

    if r.kind == "proportional":
        if r.denominator is not None:
            num = float(o.inputs[r.metric][i])
            den = float(o.reference[i])
            figures = f"{_labelled(r.metric, num)} ÷ {_labelled(r.denominator, den)}"
            if den == 0 and num == 0:
                ratio_text = "无发生（0 ÷ 0）"
                rule_text = {"full": "按满分计", "zero": "按 0 分计"}.get(r.zero_denominator, "")
                return f"{figures}，{ratio_text}，{rule_text}，得 {o.points[i]:.2f}/{r.points:g} 分"
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
        return f"{figures}{sep}{ratio_text}；{scale}，得 {o.points[i]:.2f}/{r.points:g} 分"

    if r.kind == "banded":
        word = "≥" if r.band_side == "min" else "≤"
        bands = "、".join(f"{word}{format_value(b.bound, info.unit)} 得 {b.points:g} 分" for b in r.bands)
        return f"{_labelled(r.metric, x)}；分档：{bands}，其余 0 分；得 {o.points[i]:.2f}/{r.points:g} 分"

    if r.kind == "checklist":
        return f"{_labelled(r.metric, x)}，{r.points:g} 分 × {o.fraction[i] * 100:.0f}% = {o.points[i]:.2f} 分"

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
        counted = f"低于{ref_label}的部分 {format_value(float(o.amount[i]), unit)}"
    elif isinstance(r.above, str):
        counted = f"超出{metric_info(r.above).label}的部分 {format_value(float(o.amount[i]), unit)}"
    elif r.above:
        counted = f"超出 {format_value(float(r.above), unit)} 的部分 {format_value(float(o.amount[i]), unit)}"
    else:
        counted = ""
    used = "，".join(_labelled(m, v[i]) for m, v in o.inputs.items())
    if counted:
        used += f"，{counted}"
    each = f"每 {per}" if unit != "flag" else "触发"
    amount = abs(float(o.points[i]))
    capped = "（已达上限）" if amount >= r.cap - 1e-9 and amount > 0 else ""
    return f"{used}；{each}{verb} {r.points_per:g} 分{rounding}，最多{verb} {r.cap:g} 分；{verb} {amount:.2f} 分{capped}"


def fold_note(rules: RuleSet, weights: np.ndarray, phase_total: float, values: np.ndarray) -> str:
    """How the final total folds in the annual and mid-term results (第九、十二条)."""
    labels = ["期末考核得分", "年度自查平均分", "期中检查得分"]
    comps = [phase_total, values[0], values[1]]
    terms, absent = [], []
    for label, w, v in zip(labels, weights, comps):
        if math.isnan(v):
            absent.append(label)
        else:
            terms.append(f"{label} {v:.2f} × {w:.3g}")
    total = float(np.dot(weights, np.nan_to_num(comps)))
    text = " + ".join(terms) + f" = {total:.2f}"
    if absent:
        text += f"；缺少{'、'.join(absent)}，其权重按比例分配给其余部分"
    return text


def explain_unit(result: ScoreResult, xzqdm: str) -> str:
    """The Chinese text trail of one county: totals, every rule's points, vetoes and evidence."""
    table = result.table
    rows = table.index[table["xzqdm"] == xzqdm]
    if len(rows) == 0:
        known = ", ".join(table["xzqdm"].head(12))
        raise KeyError(f"no county {xzqdm!r} in the scores; counties: {known}")
    row = table.loc[rows[0]]
    trail = result.trail[result.trail["xzqdm"] == xzqdm]
    rs = result.rules
    year = "" if result.year is None else f"（{result.year} 年数据）"
    lines = [
        f"{xzqdm} {row['xzqmc']} — {PHASE_LABELS[result.phase]}{year}",
        f"规则集：{rs.name}（版本 {rs.version}）",
        f"总分 {row['total']:.2f} 分，第 {row['rank']} 名（共 {len(table)} 个县级单位），"
        f"等次：{row['grade']}；结论：{row['verdict']}",
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
    if row["consequence"]:
        lines.append(f"结果运用：{row['consequence']}")
    if row["vetoes"]:
        lines.append(f"否决：{row['vetoes'].replace(';', '、')}（等次定为{rs.fail_grade}）")
    if row["caps"]:
        lines.append(f"限制评优：{row['caps'].replace(';', '、')}")
    if result.missing_columns:
        lines.append(f"注意：输入中没有以下指标，相关规则按数据缺失处理：{'、'.join(result.missing_columns)}")

    sections = [
        ("指标得分", ("threshold", "proportional", "banded", "checklist")),
        ("加分", ("bonus",)),
        ("扣分", ("deduction",)),
        ("否决与限制", ("veto", "cap")),
        ("总分调整", ("clip", "fold")),
    ]
    for title, kinds in sections:
        part = trail[trail["kind"].isin(kinds)]
        if part.empty:
            continue
        lines.append("")
        lines.append(f"【{title}】")
        for t in part.itertuples(index=False):
            label = KIND_LABELS.get(t.kind, "调整")
            if t.kind in ("threshold", "proportional", "banded", "checklist"):
                label = "得分"
            head = f"{label} {t.rule_id}（{t.clause}）{t.name}"
            line = f"  {head}：{t.note}。"
            ev = format_evidence(t.evidence)
            if ev:
                line += ev
            lines.append(line)
    return "\n".join(lines)
