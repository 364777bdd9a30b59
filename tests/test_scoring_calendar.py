"""The assessment calendar (聊政办发〔2018〕17号 第四、九、十一、十二、十四、十六条), from data."""

from __future__ import annotations

import pandas as pd
import pytest

from farmland.errors import RuleError
from farmland.scoring import calendar, calendar_text


@pytest.fixture(scope="module")
def cal():
    return calendar(2016)


def test_annual_self_checks_each_year_due_end_of_february(cal):
    annual = cal[(cal["phase"] == "annual") & cal["deadline"].notna()]
    assert annual["data_year"].tolist() == [2016, 2017, 2018, 2019, 2020]
    assert (annual["held_year"] == annual["data_year"] + 1).all()
    # end of February of Y+1 (第九条); 2020 is a leap year
    assert [d.strftime("%Y-%m-%d") for d in annual["deadline"]] == [
        "2017-02-28", "2018-02-28", "2019-02-28", "2020-02-29", "2021-02-28",
    ]
    assert set(annual["actor"]) == {"县级政府"} and set(annual["recipient"]) == {"市政府"}


def test_midterm_in_year_three_covering_years_one_and_two(cal):
    mid = cal[cal["phase"] == "midterm"]
    assert set(mid["held_year"]) == {2018}
    assert (mid["covers_from"] == 2016).all() and (mid["covers_to"] == 2017).all()
    assert (mid["data_year"] == 2017).all()  # the --year to score it with
    dated = mid[mid["deadline"].notna()]
    assert dated["deadline"].dt.strftime("%Y-%m-%d").tolist() == ["2018-02-28", "2018-03-31"]
    assert dated["clause"].tolist() == ["第十一条", "第十二条"]
    assert dated["recipient"].tolist() == ["考核部门", "省考核部门"]


def test_final_the_year_after_the_period(cal):
    fin = cal[cal["phase"] == "final"]
    assert set(fin["held_year"]) == {2021}
    assert (fin["covers_from"] == 2016).all() and (fin["covers_to"] == 2020).all()
    assert fin["deadline"].dt.strftime("%Y-%m-%d").tolist()[:2] == ["2021-02-28", "2021-03-31"]
    assert pd.isna(fin["deadline"].iloc[2]) and "向社会公告" in fin["step"].iloc[2]
    assert fin["clause"].tolist() == ["第十四条", "第十五条、第十六条", "第十六条"]


def test_rows_in_date_order_and_next_period(cal):
    dated = cal["deadline"].dropna()
    assert dated.is_monotonic_increasing
    nxt = calendar(2021)
    assert nxt[nxt["phase"] == "final"]["held_year"].iloc[0] == 2026
    with pytest.raises(RuleError, match="2018 does not start a planning period.*2016, 2021"):
        calendar(2018)


def test_text_rendering(cal):
    text = calendar_text(frame=cal)
    assert text.startswith("2016—2020 年规划期耕地保护责任目标考核日程")
    assert "2018 年 · 期中检查：检查 2016—2017 年（评分用 --phase midterm --year 2017）" in text
    assert "2018年3月底前：考核部门 → 省考核部门" in text
    assert "2021 年 · 期末考核：检查 2016—2020 年" in text


def test_calendar_file_is_validated(tmp_path):
    path = tmp_path / "cal.toml"
    path.write_text('[period]\nfirst_start = 2016\n[[check]]\nphase = "annual"\nrepeat = "yearly"\ncovers = [0, 0]\nwhen = 1\n', encoding="utf-8")
    with pytest.raises(RuleError, match=r"unknown key\(s\) \['when'\]"):
        calendar(2016, path=path)
