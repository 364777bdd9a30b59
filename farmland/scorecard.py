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


def render_scorecard(result, xzqdm: str, *, city_name: str, period: tuple[int, int] | None = None,
                     evidence_shown: int = 8) -> str:
    """One county's scorecard as a self-contained HTML page (Chinese)."""
    row = result.table[result.table["xzqdm"] == xzqdm]
    if row.empty:
        raise KeyError(f"no score for unit {xzqdm}")
    row = row.iloc[0]
    trail = result.trail[result.trail["xzqdm"] == xzqdm]
    metrics = result.metrics[result.metrics["xzqdm"] == xzqdm].iloc[0] if "xzqdm" in result.metrics else None
    phase_title = PHASE_TITLES.get(result.phase, result.phase)
    span = f"{period[0]}–{period[1]}年" if period and result.phase != "annual" else f"{result.year}年度"
    vetoes = str(row.get("vetoes") or "")

    parts = [
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(row['xzqmc'])} {phase_title}评分卡</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(city_name)}县级政府耕地保护责任目标考核 · {phase_title}（{span}）</h1>",
        f"<div class=\"small\">依据：聊政办发〔2018〕17号、聊政发〔2018〕34号 · 规则集：{_e(result.rules.name)}</div>",
        f"<h2>{_e(row['xzqmc'])}（{_e(xzqdm)}）</h2>",
        "<div class=\"summary\">",
        f"<div>总分 <b>{_num(row['total'])}</b> / 100</div>",
        f"<div>排名 <b>{_e(int(row['rank']))}</b></div>",
        f"<div>等次 <b>{_e(row['grade'])}</b></div>",
        "</div>",
        f"<p>结果：{_e(row.get('verdict'))}。{_e(row.get('consequence'))}</p>",
    ]
    if vetoes:
        parts.append(f"<p class=\"veto\">否决项：{_e(vetoes)}</p>")

    parts.append("<h2>评分明细</h2><table><tr><th>规则</th><th>指标</th><th>依据条款</th><th>得分</th>"
                 "<th>满分</th><th>说明</th><th>证据</th></tr>")
    for item in trail.itertuples(index=False):
        evidence = tuple(item.evidence or ())
        shown = ", ".join(evidence[:evidence_shown])
        more = f" 等 {len(evidence)} 项" if len(evidence) > evidence_shown else ""
        parts.append(
            f"<tr><td>{_e(item.rule_id)}</td><td>{_e(item.name)}</td><td>{_e(item.clause)}</td>"
            f"<td class=\"num\">{_num(item.points)}</td><td class=\"num\">{_num(item.max_points)}</td>"
            f"<td>{_e(item.note)}</td><td class=\"ev\">{_e(shown)}{_e(more)}</td></tr>"
        )
    parts.append("</table>")

    if metrics is not None:
        parts.append("<h2>主要指标</h2><table><tr><th>指标</th><th>数值</th></tr>")
        for column in SCORECARD_METRICS:
            if column in metrics.index:
                parts.append(f"<tr><td>{_e(label(column))}</td>"
                             f"<td class=\"num\">{_metric_cell(column, metrics[column])}</td></tr>")
        parts.append("</table>")
    parts.append("<p class=\"small\">面积单位：亩（1 亩 = 1/0.0015 平方米）；官方统计采用图斑地类面积 TBDLMJ。"
                 "完整计算过程见 <code>farmland explain</code>。</p></body></html>")
    return "\n".join(parts)


def render_summary(result, *, city_name: str, period: tuple[int, int] | None = None) -> str:
    """The city summary page: every county's total, rank, grade and verdict, best first."""
    table = result.table.sort_values(["rank", "xzqdm"])
    phase_title = PHASE_TITLES.get(result.phase, result.phase)
    span = f"{period[0]}–{period[1]}年" if period and result.phase != "annual" else f"{result.year}年度"
    rows = "".join(
        f"<tr><td class=\"num\">{_e(int(r.rank))}</td><td>{_e(r.xzqdm)}</td><td>{_e(r.xzqmc)}</td>"
        f"<td class=\"num\">{_num(r.total)}</td><td>{_e(r.grade)}</td><td>{_e(r.verdict)}</td>"
        f"<td>{_e(r.vetoes or '')}</td></tr>"
        for r in table.itertuples(index=False)
    )
    return (
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{_e(city_name)} {phase_title}汇总</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(city_name)}县级政府耕地保护责任目标考核 · {phase_title}（{span}）汇总</h1>"
        "<table><tr><th>排名</th><th>代码</th><th>县（市、区）</th><th>总分</th><th>等次</th><th>结果</th>"
        f"<th>否决项</th></tr>{rows}</table></body></html>"
    )


def score_display_frame(result) -> pd.DataFrame:
    """The columns of a score table people read first, best rank first."""
    columns = ["rank", "xzqdm", "xzqmc", "total", "grade", "verdict", "vetoes"]
    return result.table.sort_values(["rank", "xzqdm"])[[c for c in columns if c in result.table]]
