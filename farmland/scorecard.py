"""Per-county scorecards (HTML) and the city summary, read by officials.

Everything shown comes from the score result and the metrics table (one source for every
number). All text that may come from input data — unit names, notes, evidence ids — is escaped,
so a name such as ``<script>`` in XZQMC is shown, never run. The pages are self-contained (inline
CSS, no scripts, no web fonts) and print cleanly.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from .labels import label

PHASE_TITLES = {"annual": "年度自查", "midterm": "期中检查", "final": "期末考核"}

_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;
margin:2em auto;max-width:60em;color:#222;line-height:1.5}
h1{font-size:1.4em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.92em}th,td{border:1px solid #ccc;padding:.25em .5em;
vertical-align:top}th{background:#f3f3f3;text-align:left}td.num{text-align:right;white-space:nowrap}
.summary{display:flex;gap:2em;font-size:1.1em;margin:.8em 0}.summary b{font-size:1.4em}
.veto{color:#b00020;font-weight:bold}.small{color:#666;font-size:.85em}.ev{font-family:monospace;font-size:.85em}
@media print{body{margin:0}}
"""


def _e(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return html.escape(str(value), quote=True)


def _num(value, digits=2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _metric_cell(column: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if column.endswith(("_attainment", "_ratio", "_completion")):
        return f"{value:.2%}"
    if column.endswith("_flag"):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        return _num(float(value))
    return _e(value)


SCORECARD_METRICS = [
    "arable_mu", "arable_target_mu", "arable_attainment", "basic_farmland_mu", "basic_farmland_target_mu",
    "basic_farmland_attainment", "arable_change_mu", "construction_on_arable_mu", "illegal_arable_mu",
    "illegal_ratio", "illegal_ratio_flag", "derived_illegal_ratio", "occupied_mu", "supplemented_mu",
    "balance_mu", "bf_occupied_mu", "bf_redesignated_mu", "hsf_built_mu", "hsf_task_mu", "hsf_completion",
    "mean_quality_grade",
]


BASIS_WORDS = {"erdiao": "二调口径", "sandiao": "三调口径"}


def bases_of(metrics_table: pd.DataFrame | None, phase: str, year) -> dict[str, dict[str, str]]:
    """Survey basis (口径) of each metric of every unit of one phase and year, from the results table."""
    if metrics_table is None or year is None:
        return {}
    t = metrics_table
    rows = t[(t["phase"] == phase) & (t["year"] == int(year)) & (t["basis"] != "")]
    return {code: dict(zip(part["metric"], part["basis"], strict=True)) for code, part in rows.groupby("xzqdm")}


def _code_year(rule_id: str) -> tuple[str, int]:
    code, year = str(rule_id).split("@")
    return code, int(year)


def _trigger_li(text: str, evidence, shown: int = 8) -> str:
    evidence = tuple(evidence or ())
    ev = ""
    if evidence:
        more = f" 等 {len(evidence)} 项" if len(evidence) > shown else ""
        ev = f"<br><span class=\"ev\">证据：{_e(', '.join(evidence[:shown]))}{_e(more)}</span>"
    return f"<li>{_e(text)}{ev}</li>"


def render_scorecard(result, xzqdm: str, *, city_name: str, period: tuple[int, int] | None = None,
                     evidence_shown: int = 8, basis: dict[str, str] | None = None,
                     rows: list | None = None) -> str:
    """One unit's scorecard as a self-contained HTML page (Chinese).

    Shows the outcome and the criteria that decide it, the 34号 四(三) triggers in words with
    their years and evidence, the survey basis (口径) of the figures and any mismatch with the
    targets', and labels every point 建议值 (or the rule set's own label).
    """
    from .scoring.explain import annotated_trail, trigger_text, unit_rows

    row = result.table[result.table["xzqdm"] == xzqdm]
    if row.empty:
        raise KeyError(f"no score for unit {xzqdm}")
    row = row.iloc[0]
    if rows is None:
        rows = unit_rows(annotated_trail(result)).get(xzqdm, [])
    metrics = result.metrics[result.metrics["xzqdm"] == xzqdm].iloc[0] if "xzqdm" in result.metrics else None
    phase_title = PHASE_TITLES.get(result.phase, result.phase)
    span = f"{period[0]}–{period[1]}年" if period and result.phase != "annual" else f"{result.year}年度"
    rules = result.rules
    points_label = f"（{rules.points_label}）" if rules.points_label else ""
    basis = basis or {}

    parts = [
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(row['xzqmc'])} {phase_title}评分卡</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(city_name)}县级政府耕地保护责任目标考核 · {phase_title}（{span}）</h1>",
        f"<div class=\"small\">依据：聊政办发〔2018〕17号、聊政发〔2018〕34号 · 规则集：{_e(rules.title)}</div>",
    ]
    if rules.example:
        parts.append(f"<p class=\"veto\">示例规则集，{_e(rules.example)}：等次、否决等规定不是聊政办发〔2018〕17号的内容。</p>")
    parts += [
        f"<h2>{_e(row['xzqmc'])}（{_e(xzqdm)}）</h2>",
        "<div class=\"summary\">",
        f"<div>总分 <b>{_num(row['total'])}</b> / 100{_e(points_label)}</div>",
        f"<div>排名 <b>{_e(int(row['rank']))}</b></div>",
        f"<div>结果 <b>{_e(row['outcome'] or '无')}</b></div>",
    ]
    if "grade" in row.index:
        parts.append(f"<div>等次 <b>{_e(row['grade'])}</b></div>")
    parts.append("</div>")
    if row["outcome_text"]:
        parts.append(f"<p>结果运用：{_e(row['outcome_text'])}</p>")
    criteria = "；".join(rules.outcomes.criteria_lines(rules.points_label))
    parts.append(f"<p class=\"small\">结果认定标准：{_e(criteria)}</p>")
    if "vetoes" in row.index and row["vetoes"]:
        parts.append(f"<p class=\"veto\">否决项：{_e(row['vetoes'])}</p>")

    def listed(kind):
        return "".join(_trigger_li(trigger_text(*_code_year(r.rule_id), r.inputs), r.evidence, evidence_shown)
                       for r in rows if r.kind == kind)

    parts.append("<h2>聊政发〔2018〕34号 四（三）问责情形</h2>")
    fired = listed("trigger")
    parts.append(f"<ul>{fired}</ul>" if fired else "<p>考核期内未出现。</p>")
    parts.append("<p class=\"small\">以上情形按意见报送经济社会发展综合考核，不计入本考核得分。</p>")
    review = listed("review")
    if review:
        parts.append(f"<h2>待核实事项</h2><ul>{review}</ul>")

    parts.append("<h2>调查口径</h2>")
    area_basis = "、".join(f"{label(m)}：{BASIS_WORDS.get(basis.get(m, ''), '未注明')}"
                          for m in ("arable_mu", "basic_farmland_mu", "arable_target_mu", "basic_farmland_target_mu")
                          if m in basis)
    parts.append(f"<p>{_e(area_basis or '未注明')}。2019年12月31日（第三次全国国土调查）起面积为三调口径，此前为二调口径。</p>")
    if row["basis_mismatch"]:
        parts.append(f"<p class=\"veto\">口径不一致：{_e(row['basis_mismatch'].replace(';', '、'))} 比较了不同调查口径的"
                     f"目标与面积，按规则集的口径规定（{_e(rules.basis.policy)}）处理。</p>")

    parts.append(f"<h2>评分明细{_e(points_label)}</h2><table><tr><th>规则</th><th>指标</th><th>依据条款</th><th>得分</th>"
                 "<th>满分</th><th>说明</th><th>证据</th></tr>")
    for item in (r for r in rows if r.kind not in ("trigger", "review")):
        evidence = tuple(item.evidence or ())
        shown = ", ".join(evidence[:evidence_shown])
        more = f" 等 {len(evidence)} 项" if len(evidence) > evidence_shown else ""
        mark = "（口径不一致）" if item.basis_mismatch else ""
        parts.append(
            f"<tr><td>{_e(item.rule_id)}</td><td>{_e(item.name)}{_e(mark)}</td><td>{_e(item.clause)}</td>"
            f"<td class=\"num\">{_num(item.points)}</td><td class=\"num\">{_num(item.max_points)}</td>"
            f"<td>{_e(item.note)}</td><td class=\"ev\">{_e(shown)}{_e(more)}</td></tr>"
        )
    parts.append("</table>")

    if metrics is not None:
        parts.append("<h2>主要指标</h2><table><tr><th>指标</th><th>数值</th><th>口径</th></tr>")
        for column in SCORECARD_METRICS:
            if column in metrics.index:
                parts.append(f"<tr><td>{_e(label(column))}</td>"
                             f"<td class=\"num\">{_metric_cell(column, metrics[column])}</td>"
                             f"<td>{_e(BASIS_WORDS.get(basis.get(column, ''), ''))}</td></tr>")
        parts.append("</table>")
    parts.append("<p class=\"small\">面积单位：亩（1 亩 = 1/0.0015 平方米）；官方统计采用图斑地类面积 TBDLMJ。"
                 "完整计算过程见 <code>farmland explain</code>。</p></body></html>")
    return "\n".join(parts)


def render_summary(result, *, city_name: str, period: tuple[int, int] | None = None) -> str:
    """The city summary page: every unit's total, rank, outcome and triggers, best first."""
    from .scoring.explain import trigger_text

    table = result.table.sort_values(["rank", "xzqdm"])
    phase_title = PHASE_TITLES.get(result.phase, result.phase)
    span = f"{period[0]}–{period[1]}年" if period and result.phase != "annual" else f"{result.year}年度"
    has_grade = "grade" in table.columns
    fired = result.triggers[result.triggers["kind"] == "trigger"]
    words = {code: "；".join(trigger_text(r.code, r.year, r.details) for r in part.itertuples(index=False))
             for code, part in fired.groupby("xzqdm")}
    rows = "".join(
        f"<tr><td class=\"num\">{_e(int(r.rank))}</td><td>{_e(r.xzqdm)}</td><td>{_e(r.xzqmc)}</td>"
        f"<td class=\"num\">{_num(r.total)}</td>" + (f"<td>{_e(r.grade)}</td>" if has_grade else "")
        + f"<td>{_e(r.outcome or '—')}</td><td>{_e(words.get(r.xzqdm, '无'))}</td></tr>"
        for r in table.itertuples(index=False)
    )
    rules = result.rules
    criteria = "；".join(rules.outcomes.criteria_lines(rules.points_label))
    return (
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(city_name)} {phase_title}汇总</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(city_name)}县级政府耕地保护责任目标考核 · {phase_title}（{span}）汇总</h1>"
        f"<div class=\"small\">规则集：{_e(rules.title)}</div>"
        f"<p class=\"small\">结果认定标准：{_e(criteria)}</p>"
        "<table><tr><th>排名</th><th>代码</th><th>单位</th><th>总分</th>" + ("<th>等次</th>" if has_grade else "")
        + "<th>结果</th><th>聊政发〔2018〕34号 四（三）问责情形（不计分）</th></tr>"
        f"{rows}</table></body></html>"
    )


def score_display_frame(result) -> pd.DataFrame:
    """The columns of a score table people read first, best rank first."""
    columns = ["rank", "xzqdm", "xzqmc", "total", "outcome", "triggers", "review", "basis_mismatch", "grade", "vetoes"]
    return result.table.sort_values(["rank", "xzqdm"])[[c for c in columns if c in result.table]]
