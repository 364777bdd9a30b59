"""Chinese labels for the stable English column names, for what people read (screens, Excel)."""

from __future__ import annotations

COLUMN_LABELS = {
    "xzqdm": "行政区代码",
    "xzqmc": "行政区名称",
    "level": "层级",
    "phase": "考核阶段",
    "year": "数据年份",
    "start_year": "起始年份",
    "arable_mu": "耕地保有量(亩)",
    "arable_target_mu": "耕地保有量目标(亩)",
    "arable_attainment": "耕地保有量完成率",
    "arable_margin_mu": "耕地保有量超目标(亩)",
    "basic_farmland_mu": "永久基本农田面积(亩)",
    "basic_farmland_target_mu": "永久基本农田目标(亩)",
    "basic_farmland_attainment": "永久基本农田完成率",
    "basic_farmland_margin_mu": "永久基本农田超目标(亩)",
    "arable_change_mu": "耕地面积变化(亩)",
    "construction_on_arable_mu": "新增建设占用耕地(亩)",
    "illegal_arable_mu": "违法占用耕地(亩)",
    "illegal_ratio": "违法占用耕地比例",
    "illegal_ratio_flag": "达到15%",
    "derived_construction_on_arable_mu": "变更调查推算建设占用耕地(亩)",
    "derived_illegal_arable_mu": "变更调查推算违法占用耕地(亩)",
    "derived_illegal_ratio": "变更调查推算违法比例",
    "hsf_built_mu": "高标准农田建成(亩)",
    "hsf_task_mu": "高标准农田任务(亩)",
    "hsf_completion": "高标准农田完成率",
    "occupied_mu": "占用耕地(亩)",
    "supplemented_mu": "补充耕地(亩)",
    "balance_mu": "占补平衡结余(亩)",
    "mean_quality_grade": "耕地平均质量等别",
    "bf_occupied_mu": "永久基本农田占用(亩)",
    "bf_redesignated_mu": "永久基本农田补划(亩)",
    "total": "总分",
    "rank": "排名",
    "grade": "等次",
    "verdict": "结果",
    "deductions": "扣分",
    "bonuses": "加分",
    "vetoes": "否决项",
    "consequence": "奖惩",
}



def label(column: str) -> str:
    """The Chinese label of a column, or the column name itself when there is none."""
    return COLUMN_LABELS.get(column, column)
