"""The Word reports: the city's 考核结果报告 and a county's 自查情况报告, their annex tables and numbers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from farmland.reports.word import ANNEXES


def _number(text: str) -> float:
    text = text.strip()
    if text in ("—", ""):
        return math.nan
    value = float(text.rstrip("%").replace(",", ""))
    return value / 100 if text.endswith("%") else value


def _close(shown: float, expected: float, percent: bool) -> bool:
    if math.isnan(expected):
        return math.isnan(shown)
    return abs(shown - expected) <= (0.00006 if percent else 0.0051)


@pytest.fixture(scope="module")
def outputs(sample_assessed):
    out, _ = sample_assessed
    metrics = pd.read_csv(out / "metrics.csv", dtype={"xzqdm": str})
    return out, metrics


def _value(metrics, code, phase, year, metric):
    rows = metrics[(metrics["xzqdm"] == code) & (metrics["phase"] == phase) & (metrics["year"] == year)
                   & (metrics["metric"] == metric)]
    return float(rows["value"].iloc[0])


@pytest.mark.parametrize("name,phase,year", [("final", "final", 2020), ("annual_2018", "annual", 2018)])
def test_city_report_annexes_equal_the_results(outputs, name, phase, year):
    import docx

    out, metrics = outputs
    scores = pd.read_csv(out / f"scores_{name}.csv", dtype={"xzqdm": str}, keep_default_na=False)
    codes = dict(zip(scores["xzqmc"], scores["xzqdm"], strict=True))
    document = docx.Document(out / "word" / name / "result_report.docx")
    text = "\n".join(p.text for p in document.paragraphs)
    for title, _ in ANNEXES:
        assert title in text
    assert "得分排名表" in text and "草稿" in text
    assert len(document.tables) == len(ANNEXES) + 1
    compared = 0
    for table, (title, columns) in zip(document.tables, ANNEXES, strict=False):
        assert [c.text for c in table.rows[0].cells] == ["单位", *(c[0] for c in columns)]
        for row in table.rows[1:]:
            cells = [c.text for c in row.cells]
            code = codes[cells[0]]
            for (_, metric, _), shown in zip(columns, cells[1:], strict=True):
                expected = _value(metrics, code, phase, year, metric)
                assert _close(_number(shown), expected, shown.endswith("%")), (title, code, metric, shown, expected)
                compared += 1
    ranking = document.tables[-1]
    header = [c.text for c in ranking.rows[0].cells]
    for row in ranking.rows[1:]:
        cells = dict(zip(header, (c.text for c in row.cells), strict=True))
        mine = scores[scores["xzqmc"] == cells["单位"]].iloc[0]
        assert int(cells["排名"]) == int(mine["rank"])
        assert _close(_number(cells["总分"]), float(mine["total"]), False)
        assert cells["结果"] == (mine["outcome"] or "—")
        compared += 3
    assert compared > 100


def test_county_self_check_draft(outputs):
    import docx

    out, metrics = outputs
    latest = 2020
    scores = pd.read_csv(out / f"scores_annual_{latest}.csv", dtype={"xzqdm": str}, keep_default_na=False)
    drafts = sorted((out / "word" / f"annual_{latest}").glob("self_check_*.docx"))
    assert {p.stem.removeprefix("self_check_") for p in drafts} == set(scores["xzqdm"])
    assert not list((out / "word" / "annual_2019").glob("self_check_*.docx"))
    row = scores[scores["xzqdm"] == "371522"].iloc[0]
    document = docx.Document(out / "word" / f"annual_{latest}" / "self_check_371522.docx")
    text = "\n".join(p.text for p in document.paragraphs)
    assert row["xzqmc"] in text and "自查情况报告" in text and "第八、九、十四条" in text
    assert f"{row['total']:,.2f}" in text
    arable = _value(metrics, "371522", "annual", latest, "arable_mu")
    assert f"{arable:,.2f} 亩" in text
    assert len(document.tables) == len(ANNEXES) + 1
    assert all(len(t.rows) == 2 for t in document.tables)  # header + this county


def test_annex_table_rows_are_the_xml_python_docx_writes_cell_by_cell():
    """Cells copied from one header and one body cell carry the same XML as cells set one by one
    (tabs, line breaks, spaces and markup characters included); a row of the wrong width is refused."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.shared import Pt

    from farmland.reports.word import _document, _table

    def cell_by_cell(document, header, rows):
        table = document.add_table(rows=1, cols=len(header))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for cells, texts, bold in [(table.rows[0].cells, header, True),
                                   *((table.add_row().cells, values, None) for values in rows)]:
            for cell, text in zip(cells, texts, strict=True):
                cell.text = text
                for run in cell.paragraphs[0].runs:
                    run.bold = bold
                    run.font.size = Pt(9)
        return table

    header = ["单位", "面积（亩）", "说明"]
    rows = [["东昌府区", "1,234.50", "a\tb"], [" 前后 ", "", "第一行\n第二行"], ["x&y<z>", "—", "无"]]
    for some in (rows, rows[:1], []):
        assert _table(_document(), header, some)._tbl.xml == cell_by_cell(_document(), header, some)._tbl.xml
    with pytest.raises(ValueError):
        _table(_document(), header, [rows[0], ["too", "short"]])
