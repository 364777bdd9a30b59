"""Word documents an office edits before 审定: the city's 考核结果报告 and each county's 自查情况报告.

Both carry the standard annex tables — 目标完成情况表, 耕地占补平衡情况表, 永久基本农田占用和补划情况表,
高标准农田建设情况表, 得分排名表 — filled from the results table and the scores table. The county
draft (17号 第八、九、十四条: the county reports its self-check by the end of February) holds the same
tables for that county, so a county bureau can run the tool on its own data and edit the text.

Every figure is a value of the results or scores table, formatted; the documents say where the
text is a draft for the office to complete.
"""

from __future__ import annotations

import io
from pathlib import Path

from ..scoring.explain import trigger_text
from .common import PHASE_TITLES, ReportData, fmt_mu, fmt_num, fmt_pct, fmt_signed_mu, span_text, status_text

BODY_FONT = "宋体"  # what county and city offices' templates use; Word substitutes where absent

#: Annex tables: (title, [(column header, metric, formatter)]).
ANNEXES = (
    ("目标完成情况表", [
        ("耕地保有量（亩）", "arable_mu", fmt_num), ("耕地保有量目标（亩）", "arable_target_mu", fmt_num),
        ("超出目标（亩）", "arable_margin_mu", fmt_num), ("完成率", "arable_attainment", fmt_pct),
        ("永久基本农田（亩）", "basic_farmland_mu", fmt_num),
        ("永久基本农田目标（亩）", "basic_farmland_target_mu", fmt_num),
        ("超出目标（亩）", "basic_farmland_margin_mu", fmt_num), ("完成率", "basic_farmland_attainment", fmt_pct),
    ]),
    ("耕地占补平衡情况表", [
        ("占用耕地（亩）", "occupied_mu", fmt_num), ("补充耕地（亩）", "supplemented_mu", fmt_num),
        ("结余（亩）", "balance_mu", fmt_num), ("其中上级统筹/易地补充（亩）", "supplemented_upper_level_mu", fmt_num),
        ("占用水田（亩）", "paddy_occupied_mu", fmt_num), ("补充水田（亩）", "paddy_supplemented_mu", fmt_num),
        ("粮食产能结余（吨）", "grain_capacity_balance_t", fmt_num),
    ]),
    ("永久基本农田占用和补划情况表", [
        ("被建设占用（亩）", "bf_occupied_mu", fmt_num), ("补划（亩）", "bf_redesignated_mu", fmt_num),
        ("补划结余（亩）", "bf_balance_mu", fmt_num), ("永久基本农田面积（亩）", "basic_farmland_mu", fmt_num),
    ]),
    ("高标准农田建设情况表", [
        ("建设任务（亩）", "hsf_task_mu", fmt_num), ("建成面积（亩）", "hsf_built_mu", fmt_num),
        ("完成率", "hsf_completion", fmt_pct),
    ]),
)


def _document():
    import docx
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = docx.Document()
    style = document.styles["Normal"]
    style.font.name = BODY_FONT
    style.font.size = Pt(10.5)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), BODY_FONT)
    for name in ("Title", "Heading 1", "Heading 2"):
        document.styles[name].element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    return document


def _table(document, header: list[str], rows: list[list[str]]):
    """A centred grid table, bold header, 9 pt text.

    One header cell and one body cell are made with python-docx; every other cell is a copy of
    that cell's XML with its text set. The cell-by-cell API (add_row, cell.text, run.font) costs
    ~1 ms a cell: seconds for a run's documents.
    """
    from copy import deepcopy

    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.oxml.ns import qn
    from docx.shared import Pt

    table = document.add_table(rows=1 + len(rows), cols=len(header), style="Table Grid")  # a style lookup is ms
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    template = {}
    for number, (tr, texts) in enumerate(zip(table._tbl.tr_lst, [header, *rows], strict=True)):
        kind = "header" if number == 0 else "body"
        if kind not in template:
            cell = table.cell(number, 0)
            cell.text = ""
            run = cell.paragraphs[0].runs[0]
            if kind == "header":
                run.bold = True
            run.font.size = Pt(9)
            template[kind] = deepcopy(cell._tc)
        cells = tr.tc_lst
        if len(cells) != len(texts):
            raise ValueError(f"a row of {len(texts)} values in a table of {len(cells)} columns")
        for old, text in zip(cells, texts):
            new = deepcopy(template[kind])
            next(new.iter(qn("w:r"))).text = text  # python-docx's setter: tabs and line breaks as Word's
            tr.replace(old, new)
    return table


def annex_rows(data: ReportData, units: list[tuple[str, str]], phase: str, year: int, columns) -> list[list[str]]:
    return [[name, *(fmt(data.value(code, metric, phase, year)) for _, metric, fmt in columns)]
            for code, name in units]


def _ranking_rows(result, codes: set[str] | None = None) -> tuple[list[str], list[list[str]]]:
    table = result.table.sort_values(["rank", "xzqdm"])
    if codes is not None:
        table = table[table["xzqdm"].isin(codes)]
    names = {o.rule.id: o.rule.name for o in result.outcomes}
    items = [*result.indicator_columns, *result.bonus_columns, *result.deduction_columns]
    header = ["排名", "单位", *(f"{names.get(c, c)}" for c in items), "总分", "结果", "问责情形（不计分）"]
    rows = [[str(int(r["rank"])), r["xzqmc"], *(fmt_num(r[c]) for c in items), fmt_num(r["total"]),
             r["outcome"] or "—", (r["triggers"] or "无").replace(";", "；")] for _, r in table.iterrows()]
    return header, rows


def _annexes(document, data: ReportData, result, units: list[tuple[str, str]], codes: set[str] | None) -> None:
    phase, year = result.phase, int(result.year)
    for number, (title, columns) in enumerate(ANNEXES, 1):
        document.add_heading(f"附表{number}  {title}（{span_text(phase, 0, year) if phase == 'annual' else f'截至{year}年末'}）",
                             level=2)
        _table(document, ["单位", *(c[0] for c in columns)], annex_rows(data, units, phase, year, columns))
    document.add_heading(f"附表{len(ANNEXES) + 1}  得分排名表", level=2)
    header, rows = _ranking_rows(result, codes)
    _table(document, header, rows)
    document.add_paragraph(f"分值为{result.rules.points_label or '规则集所定'}；规则集：{result.rules.title}。")


def _save(document, path: Path) -> None:
    from ..output import _normalize_zip  # fixed member dates: same content, same bytes

    core = document.core_properties
    import datetime as dt

    fixed = dt.datetime(2000, 1, 1)
    core.created = core.modified = fixed
    core.last_printed = fixed
    core.revision = 1
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(buffer.getvalue())
    _normalize_zip(path)


def city_report(result, *, data: ReportData, city_code: str, city_name: str, city_targets: dict,
                period_start: int, date: str, path: Path) -> None:
    """The city's 考核结果报告 of one check, with the annex tables of every county."""
    document = _document()
    phase, year = result.phase, int(result.year)
    title = PHASE_TITLES.get(phase, phase)
    document.add_heading(f"{city_name}县级政府耕地保护责任目标{title}结果报告（{span_text(phase, period_start, year)}）", 0)
    document.add_paragraph(f"状态：{status_text(result.rules.points_label)}；生成日期 {date}。"
                           "本报告由 farmland 根据成果表生成，正文为草稿，请考核办公室修改完善后报市政府审定。")
    document.add_heading("一、考核依据和组织", level=1)
    document.add_paragraph("依据《聊城市县级政府耕地保护责任目标考核办法》（聊政办发〔2018〕17号）和《聊城市人民政府关于"
                           "进一步加强土地管理工作的意见》（聊政发〔2018〕34号），对各县（市、区）"
                           f"{span_text(phase, period_start, year)}耕地保护责任目标履行情况进行{title}。"
                           f"规则集：{result.rules.title}。")
    document.add_heading("二、考核结果", level=1)
    ranked = result.table.sort_values(["rank", "xzqdm"])
    for r in ranked.itertuples(index=False):
        document.add_paragraph(f"{r.xzqmc}：总分 {fmt_num(r.total)} 分，第 {int(r.rank)} 名，结果 {r.outcome or '—'}。",
                               style="List Bullet")
    document.add_heading("三、全市耕地保护目标", level=1)
    for label, area, target in (("耕地保有量", "arable_mu", "arable_target_mu"),
                                ("永久基本农田", "basic_farmland_mu", "basic_farmland_target_mu")):
        goal = city_targets.get(target, data.value(city_code, target, phase, year))
        document.add_paragraph(f"{year}年末全市{label} {fmt_mu(data.value(city_code, area, phase, year))}，"
                               f"目标 {fmt_mu(goal)}。")
    document.add_heading("四、聊政发〔2018〕34号 四（三）问责情形", level=1)
    fired = result.triggers[result.triggers["kind"] == "trigger"]
    names = dict(zip(result.table["xzqdm"], result.table["xzqmc"], strict=True))
    if fired.empty:
        document.add_paragraph("考核期内未出现。")
    for r in fired.itertuples(index=False):
        document.add_paragraph(f"{names.get(r.xzqdm, r.xzqdm)}：{trigger_text(r.code, int(r.year), r.details)}",
                               style="List Bullet")
    document.add_paragraph("以上情形报送经济社会发展综合考核，不计入本考核得分。")
    document.add_heading("五、存在的问题和整改要求", level=1)
    document.add_paragraph("（请考核办公室根据检查情况填写。）")
    document.add_heading("附表", level=1)
    units = list(zip(ranked["xzqdm"], ranked["xzqmc"], strict=True))
    _annexes(document, data, result, units, None)
    _save(document, path)


def county_self_check(result, code: str, *, data: ReportData, city_name: str, period_start: int, date: str,
                      path: Path) -> None:
    """A county's 自查情况报告 draft for one check, with the annex tables of that county."""
    document = _document()
    phase, year = result.phase, int(result.year)
    row = result.table[result.table["xzqdm"] == str(code)].iloc[0]
    name = row["xzqmc"]
    document.add_heading(f"{name}耕地保护责任目标{span_text(phase, period_start, year)}自查情况报告（草稿）", 0)
    document.add_paragraph(f"状态：{status_text(result.rules.points_label)}；生成日期 {date}。依据聊政办发〔2018〕17号"
                           "第八、九、十四条，县级政府于次年2月底前将自查情况报送市政府。正文为草稿，请补充完善。")
    document.add_heading("一、自查结果", level=1)
    document.add_paragraph(f"按{result.rules.title}自评，总分 {fmt_num(row['total'])} 分"
                           f"（全市第 {int(row['rank'])} 名），结果 {row['outcome'] or '—'}。")
    document.add_heading("二、耕地保护目标完成情况", level=1)
    for label, area, target, margin in (("耕地保有量", "arable_mu", "arable_target_mu", "arable_margin_mu"),
                                        ("永久基本农田", "basic_farmland_mu", "basic_farmland_target_mu",
                                         "basic_farmland_margin_mu")):
        document.add_paragraph(f"{year}年末{label} {fmt_mu(data.value(code, area, phase, year))}，考核目标 "
                               f"{fmt_mu(data.value(code, target, phase, year))}，超出 "
                               f"{fmt_signed_mu(data.value(code, margin, phase, year))}。")
    document.add_heading("三、问责情形和存在的问题", level=1)
    fired = result.triggers[(result.triggers["xzqdm"] == str(code)) & (result.triggers["kind"] == "trigger")]
    if fired.empty:
        document.add_paragraph("自查期内未出现聊政发〔2018〕34号 四（三）所列情形。")
    for r in fired.itertuples(index=False):
        document.add_paragraph(trigger_text(r.code, int(r.year), r.details), style="List Bullet")
    document.add_paragraph("（问题图斑清单见 problem_parcels 文件夹；请说明整改措施和进度。）")
    document.add_heading("四、下一步工作", level=1)
    document.add_paragraph("（请填写。）")
    document.add_heading("附表", level=1)
    _annexes(document, data, result, [(str(code), name)], {str(code)})
    _save(document, path)
