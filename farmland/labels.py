"""Chinese labels for the stable English column names, for what people read (screens, Excel).

Metric labels come from the metrics catalogue (one place); this module adds the unit columns
and the score columns.
"""

from __future__ import annotations

from .metrics.catalogue import METRICS

_UNIT_SUFFIX = {"mu": "(亩)", "t": "(吨)"}

COLUMN_LABELS = {
    "xzqdm": "行政区代码",
    "xzqmc": "行政区名称",
    "level": "层级",
    "phase": "考核阶段",
    "year": "数据年份",
    "start_year": "起始年份",
    **{name: metric.label + _UNIT_SUFFIX.get(metric.unit, "") for name, metric in METRICS.items()},
    "illegal_ratio_flag": "达到15%",
    "total": "总分",
    "rank": "排名",
    "grade": "等次",
    "outcome": "结果",
    "outcome_text": "结果运用",
    "triggers": "问责情形（34号四（三），不计分）",
    "review": "待核实事项",
    "basis_mismatch": "口径不一致的规则",
    "deductions": "扣分",
    "bonuses": "加分",
    "vetoes": "否决项",
}


def label(column: str) -> str:
    """The Chinese label of a column, or the column name itself when there is none."""
    return COLUMN_LABELS.get(column, column)
