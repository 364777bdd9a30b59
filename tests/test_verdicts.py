"""Verdicts faithful to 聊政办发〔2018〕17号 and 聊政发〔2018〕34号.

* The default rule sets have no veto and no grade; the annual self-check and the mid-term are
  reported (通报, 第九、十二条), only the final praises or orders rectification (第十七条).
* The 34号 四(三) triggers are reported in their own column, with year and evidence, and decide
  the final's 整改; they never cost farmland points by themselves.
* One violation is counted once: one more 亩 of illegal occupation moves a total by exactly one
  rule's marginal; a city-level event moves nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmland.metrics.occupation import ILLEGAL_RATIO_THRESHOLD
from farmland.metrics.occupation import illegal_ratio_flag, ratio
from farmland.scoring import explain_unit, find_triggers, load_rules, loads_rules, score, what_if
from farmland.scoring.explain import annotated_trail
from farmland.scoring.rules import default_rules_path

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "liaocheng"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = default_rules_path("final").parent / "examples" / "final_2005_core_items.toml"


def missing_documents(text: str) -> set[str]:
    """Markdown documents cited in ``text`` (``docs/x.md``, ``DESIGN.md`` …) that the repository lacks."""
    cited = set(re.findall(r"[\w./-]*\w\.md\b", text))
    def inside(name):
        return any((base / name).is_file() and (base / name).resolve().is_relative_to(ROOT)
                   for base in (ROOT, ROOT / "docs", ROOT / "notebooks"))

    return {name for name in cited if not inside(name)}


def frame(**columns) -> pd.DataFrame:
    """A wide annual frame of hand-checkable units: every metric the default rules read."""
    n = len(next(iter(columns.values()))) if columns else 2
    base = {
        "xzqdm": [f"3715{21 + i}" for i in range(n)],
        "xzqmc": [f"县{i}" for i in range(n)],
        "year": [2018] * n,
        "arable_mu": [1000.0] * n, "arable_target_mu": [900.0] * n,
        "basic_farmland_mu": [800.0] * n, "basic_farmland_target_mu": [700.0] * n,
        "bf_redesignated_mu": [0.0] * n, "bf_occupied_mu": [0.0] * n,
        "construction_on_arable_mu": [100.0] * n, "illegal_arable_mu": [5.0] * n,
        "derived_construction_on_arable_mu": [100.0] * n, "derived_illegal_arable_mu": [5.0] * n,
        "supplemented_mu": [50.0] * n, "occupied_mu": [50.0] * n, "balance_mu": [0.0] * n,
        "hsf_built_mu": [10.0] * n, "hsf_task_mu": [10.0] * n,
        "checklist.耕地质量保护与提升": [1.0] * n, "checklist.动态监测": [1.0] * n,
        "checklist.补充耕地统筹": [np.nan] * n, "upper_level_involved": [0.0] * n,
        "events_count": [0.0] * n, "events_major_case_count": [0.0] * n,
        "events_provincial_supervised_count": [0.0] * n, "events_provincial_interview_count": [0.0] * n,
        "events_provincial_public_notice_count": [0.0] * n,
    }
    base.update(columns)
    out = pd.DataFrame(base)
    out["illegal_ratio"] = ratio(out["illegal_arable_mu"].to_numpy(), out["construction_on_arable_mu"].to_numpy())
    out["illegal_ratio_flag"] = illegal_ratio_flag(out["illegal_arable_mu"].to_numpy(),
                                                   out["construction_on_arable_mu"].to_numpy())
    return out


def scored(wide: pd.DataFrame, rules=None):
    rules = rules or load_rules(phase="annual")
    triggers = find_triggers(wide, [2018], basis=rules.basis)
    return score(wide, rules, year=2018, triggers=triggers)


# -- the default rule sets say what the method says ---------------------------------------------


@pytest.mark.parametrize("phase", ["annual", "midterm", "final"])
def test_defaults_have_no_veto_no_grade_and_label_their_points(phase):
    rules = load_rules(phase=phase)
    assert rules.grades == () and not rules.of_kind("veto", "cap")
    assert rules.points_label == "建议值" and "建议值" in rules.title and not rules.example
    deductions = [r.id for r in rules.of_kind("deduction")]
    assert deductions == []  # illegal occupation is scored in R-ILLEGAL-RATIO alone
    text = default_rules_path(phase).read_text(encoding="utf-8")
    assert missing_documents(text) == set()


def test_annual_and_midterm_are_reported_not_sanctioned():
    for phase, clause in (("annual", "第九条"), ("midterm", "第十二条")):
        rules = load_rules(phase=phase)
        assert rules.outcomes.default == "通报" and rules.outcomes.clause == clause
        assert rules.outcomes.listed == ()
        assert "暂停" not in rules.outcomes.text


def test_listed_outcomes_belong_to_the_final_only():
    text = default_rules_path("annual").read_text(encoding="utf-8")
    text += '\n[outcomes.rectify]\nlabel = "整改"\ntriggers = ["major_case"]\ntext = "暂停审批"\n'
    with pytest.raises(Exception, match="only a final rule set may list outcomes"):
        loads_rules(text)


def test_final_outcome_follows_triggers_and_the_stated_line():
    wide = frame(
        illegal_arable_mu=[0.0, 15.0, 0.0],  # 15 of 100 亩 reaches 15 %: the second unit has a trigger
        arable_mu=[1000.0, 1000.0, 1000.0],
        supplemented_mu=[50.0, 50.0, 0.0],  # the third is below 90 points: no outcome
    )
    wide["phase"] = "final"
    rules = load_rules(phase="final")
    triggers = find_triggers(wide.assign(phase="annual"), [2018], basis=rules.basis)
    result = score(wide, rules, year=2018, triggers=triggers)
    t = result.table.set_index("xzqdm")
    assert list(t["triggers"]) == ["", "illegal_ratio_15@2018", ""]
    assert list(t["outcome"]) == ["表扬", "整改", ""]
    assert "暂停" in t.iloc[1]["outcome_text"] and "第十七条" in t.iloc[1]["outcome_text"]
    assert t.iloc[2]["total"] < 90 and t.iloc[0]["total"] >= 90
    # The trigger costs nothing by itself: the second unit loses only R-ILLEGAL-RATIO's 20 points.
    assert t.iloc[0]["total"] - t.iloc[1]["total"] == pytest.approx(t.iloc[0]["R-ILLEGAL-RATIO"]
                                                                      - t.iloc[1]["R-ILLEGAL-RATIO"])
    text = explain_unit(result, t.index[1])
    assert "illegal_ratio_15@2018" in text and "不计入本考核得分" in text and "结果认定标准" in text


def test_example_rule_set_is_opt_in_and_labelled():
    rules = load_rules(EXAMPLE)
    assert rules.example == "非本办法规定" and "非本办法规定" in rules.title
    # the second misses its 900 亩 target; the first earns every point
    wide = frame(arable_mu=[1000.0, 800.0], illegal_arable_mu=[0.0, 0.0], **{"checklist.制度建设": [1.0, 1.0]})
    wide["phase"] = "final"
    result = score(wide, rules, year=2018)
    t = result.table
    assert list(t["grade"]) == ["优秀", "不合格"] and t.iloc[1]["vetoes"] == "R-ARABLE-VETO"
    assert t.iloc[1]["outcome"] == "整改" and t.iloc[0]["outcome"] == "表扬"


# -- each violation counted once --------------------------------------------------------------


def test_one_more_mu_of_illegal_occupation_costs_one_rules_marginal():
    before = scored(frame(illegal_arable_mu=[5.0, 5.0]))
    after = scored(frame(illegal_arable_mu=[6.0, 5.0]))
    b, a = before.table, after.table
    # R-ILLEGAL-RATIO: 20 points, linear from 0 % to 15 %: 1 亩 of 100 亩 costs 20 × 0.01 / 0.15.
    assert b.at[0, "total"] - a.at[0, "total"] == pytest.approx(20 * 0.01 / 0.15)
    moved = [c for c in before.indicator_columns + before.bonus_columns + before.deduction_columns
             if not np.isclose(b.at[0, c], a.at[0, c])]
    assert moved == ["R-ILLEGAL-RATIO"]
    assert a.at[1, "total"] == b.at[1, "total"]  # the other county is untouched


@settings(max_examples=40)
@given(occupied=st.floats(1.0, 1e5), share=st.floats(0.0, 0.2), extra=st.floats(0.01, 50.0))
def test_illegal_occupation_moves_the_total_through_one_rule_only(occupied, share, extra):
    illegal = occupied * share
    before = scored(frame(construction_on_arable_mu=[occupied], illegal_arable_mu=[illegal]))
    after = scored(frame(construction_on_arable_mu=[occupied], illegal_arable_mu=[illegal + extra]))
    b, a = before.table.iloc[0], after.table.iloc[0]
    delta = a["total"] - b["total"]
    assert delta == pytest.approx(a["R-ILLEGAL-RATIO"] - b["R-ILLEGAL-RATIO"], abs=1e-9)
    assert delta <= 1e-12


def test_events_are_triggers_not_points_and_only_from_the_province_up():
    plain = scored(frame())
    city_level = scored(frame(events_count=[1.0, 0.0], events_interview_count=[1.0, 0.0]))
    provincial = scored(frame(events_count=[1.0, 0.0], events_provincial_interview_count=[1.0, 0.0]))
    assert list(city_level.table["total"]) == list(plain.table["total"])
    assert list(city_level.table["triggers"]) == ["", ""]
    assert list(provincial.table["total"]) == list(plain.table["total"])
    assert list(provincial.table["triggers"]) == ["supervision@2018", ""]
    assert list(provincial.table["outcome"]) == ["通报", "通报"]


# -- survey basis, reported vs derived --------------------------------------------------------


def test_basis_mismatch_is_marked_on_table_and_trail():
    result = scored(frame(arable_basis_mismatch=[1.0, 0.0]))
    assert list(result.table["basis_mismatch"]) == ["R-ARABLE-TARGET", ""]
    trail = annotated_trail(result)
    row = trail[(trail["xzqdm"] == "371521") & (trail["rule_id"] == "R-ARABLE-TARGET")].iloc[0]
    assert bool(row["basis_mismatch"])
    assert "口径" in explain_unit(result, "371521")


@pytest.mark.parametrize("policy, points, trigger", [
    ("compare", 0.0, "arable_below_target@2018"),
    ("no_verdict", 0.0, ""),  # scored as missing (0 points) and no target trigger
    ("rebase", 25.0, ""),  # 880 亩 against 900 × 0.97 = 873 亩
])
def test_basis_policy(policy, points, trigger):
    rules = load_rules(phase="annual")
    text = default_rules_path("annual").read_text(encoding="utf-8")
    extra = {"compare": "", "no_verdict": '\n[basis]\npolicy = "no_verdict"\n',
             "rebase": '\n[basis]\npolicy = "rebase"\nmethod = "省级换算系数（示例）"\narable_factor = 0.97\n'}[policy]
    rules = loads_rules(text.replace("[outcomes]", extra + "\n[outcomes]", 1))
    result = scored(frame(arable_mu=[880.0, 1000.0], arable_basis_mismatch=[1.0, 0.0]), rules)
    row = result.table.iloc[0]
    assert row["R-ARABLE-TARGET"] == points and row["triggers"] == trigger
    assert row["basis_mismatch"] == "R-ARABLE-TARGET"


def test_reported_and_derived_disagreement_is_said_on_table_trail_and_trigger():
    wide = frame(illegal_arable_mu=[0.0, 5.0], derived_illegal_arable_mu=[20.0, 5.0],
                 derived_illegal_ratio=[0.2, 0.05], illegal_ratio_disagreement=[1.0, 0.0])
    result = scored(wide)
    assert list(result.table["review"]) == ["illegal_ratio_disagreement@2018", ""]
    assert result.table.iloc[0]["triggers"] == ""  # the reported figure stays the official one
    text = explain_unit(result, "371521")
    assert "待核实" in text and "不一致" in text and "20.00%" in text


# -- what-if equals a fresh score ---------------------------------------------------------------


@pytest.mark.parametrize("illegal_after", [14.0, 15.0, 15.000001, 16.0, 0.0])
def test_what_if_equals_a_fresh_score_on_edited_inputs(illegal_after):
    base = frame(illegal_arable_mu=[5.0, 5.0])
    rules = load_rules(phase="annual")
    baseline = scored(base)
    scenario = what_if(base, rules, [f"371521.illegal_arable_mu={illegal_after}"], year=2018,
                       triggers=baseline.triggers)
    fresh = scored(frame(illegal_arable_mu=[illegal_after, 5.0]))
    columns = ["total", "rank", "outcome", "triggers", "R-ILLEGAL-RATIO"]
    pd.testing.assert_frame_equal(scenario.scenario.table[columns], fresh.table[columns])
    expected = "illegal_ratio_15@2018" if illegal_after >= 15 else ""
    assert scenario.scenario.table.iloc[0]["triggers"] == expected


@settings(max_examples=60)
@given(num=st.integers(0, 400), den=st.integers(1, 2000))
def test_what_if_flag_matches_the_metrics_flag_on_exact_ratios(num, den):
    illegal, occupied = num * 0.5, den * 0.5
    base = frame(construction_on_arable_mu=[occupied], illegal_arable_mu=[0.0])
    scenario = what_if(base, load_rules(phase="annual"), [f"371521.illegal_arable_mu={illegal}"], year=2018)
    flag = illegal_ratio_flag(np.array([illegal]), np.array([occupied]))[0]
    assert scenario.scenario.metrics.at[0, "illegal_ratio_flag"] == flag


def test_one_definition_of_the_fifteen_percent_line():
    from farmland.scoring import robust

    assert robust.ILLEGAL_RATIO_LINE is ILLEGAL_RATIO_THRESHOLD
    assert illegal_ratio_flag(np.array([15.0]), np.array([100.0]))[0] == 1


# -- the bundled sample, end to end -------------------------------------------------------------


def test_sample_verdicts(sample_assessed):
    out, _ = sample_assessed
    for name in ["annual_2016", "annual_2017", "annual_2018", "annual_2019", "annual_2020", "midterm"]:
        table = pd.read_csv(out / f"scores_{name}.csv", dtype={"xzqdm": str}, keep_default_na=False)
        assert "grade" not in table.columns and "vetoes" not in table.columns
        assert set(table["outcome"]) == {"通报"}
        assert not table.apply(lambda col: col.astype(str).str.contains("暂停")).any().any(), name
    final = pd.read_csv(out / "scores_final.csv", dtype={"xzqdm": str}, keep_default_na=False)
    triggered = final["triggers"] != ""
    assert triggered.any() and (~triggered).any()
    assert (final.loc[triggered, "outcome"] == "整改").all()
    assert (final.loc[~triggered, "outcome"] != "整改").all()
    triggers = pd.read_csv(out / "triggers.csv", dtype={"xzqdm": str}, keep_default_na=False)
    for row in final[triggered].itertuples(index=False):
        card = (out / "scorecards" / "final" / f"{row.xzqdm}.html").read_text(encoding="utf-8")
        assert "建议值" in card and "结果认定标准" in card and "调查口径" in card
        for code_year in row.triggers.split(";"):
            code, year = code_year.split("@")
            assert f"{year} 年" in card
            mine = triggers[(triggers["assessment"] == "final") & (triggers["xzqdm"] == row.xzqdm)
                            & (triggers["code"] == code) & (triggers["year"] == int(year))]
            assert len(mine) == 1
            for evidence_id in filter(None, mine.iloc[0]["evidence"].split("; ")[:3]):
                assert evidence_id in card
    # every year that reached 15 % is in that year's annual triggers and in the final's
    metrics = pd.read_csv(out / "metrics.csv", dtype={"xzqdm": str}, keep_default_na=False)
    flags = metrics[(metrics["metric"] == "illegal_ratio_flag") & (metrics["phase"] == "annual")
                    & (metrics["level"] == "county") & (metrics["value"] == "1.0")]
    assert len(flags)
    for row in flags.itertuples(index=False):
        annual = pd.read_csv(out / f"scores_annual_{row.year}.csv", dtype={"xzqdm": str}, keep_default_na=False)
        assert f"illegal_ratio_15@{row.year}" in annual.set_index("xzqdm").at[row.xzqdm, "triggers"]
        assert f"illegal_ratio_15@{row.year}" in final.set_index("xzqdm").at[row.xzqdm, "triggers"]


def test_no_repository_file_cites_a_document_outside_it():
    """Every Markdown document a file of the product names is a file of the repository."""
    paths = [*ROOT.glob("farmland/**/*"), *ROOT.glob("docs/*"), ROOT / "README.md", ROOT / "DESIGN.md",
             *ROOT.glob("notebooks/*"), *ROOT.glob("sample_data/*.md"), *ROOT.glob("benchmarks/*")]
    offenders = {}
    for path in paths:
        if path.is_file() and path.suffix in (".py", ".toml", ".md", ".ipynb", ".csv", ".j2"):
            missing = missing_documents(path.read_text(encoding="utf-8", errors="replace"))
            if missing:
                offenders[str(path.relative_to(ROOT))] = sorted(missing)
    assert offenders == {}


def test_township_scores_carry_names_and_targets(tmp_path):
    """第十九条: a county assesses its townships with the same rule sets."""
    import shutil

    from click.testing import CliRunner

    from farmland.cli import main

    workspace = tmp_path / "ws"
    shutil.copytree(SAMPLE, workspace)
    metrics = CliRunner().invoke(main, ["-q", "metrics", str(workspace), "--year", "2018", "--level", "township",
                                        "-o", str(tmp_path / "t.csv")])
    assert metrics.exit_code == 0, metrics.output
    townships = pd.read_csv(tmp_path / "t.csv", dtype={"xzqdm": str})
    chosen = townships.head(3)
    # Targets just below and above each township's arable area: the first two meet it, the third not.
    targets = chosen["arable_mu"].to_numpy() + np.array([-1.0, -1.0, 1.0])
    pd.DataFrame({"xzdm": chosen["xzqdm"], "xzmc": ["甲镇", "乙镇", "丙镇"], "arable_target_mu": targets}).to_csv(
        workspace / "townships.csv", index=False)
    toml = workspace / "farmland.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[townships]\npath = "townships.csv"\n', encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(main, ["-q", "score", str(workspace), "--phase", "annual", "--year", "2018",
                                       "--level", "township", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"xzqdm": str}, keep_default_na=False).set_index("xzqdm")
    assert list(table.loc[chosen["xzqdm"], "xzqmc"]) == ["甲镇", "乙镇", "丙镇"]
    assert list(table.loc[chosen["xzqdm"], "R-ARABLE-TARGET"]) == [25.0, 25.0, 0.0]
    assert set(table["outcome"]) == {"通报"} and "grade" not in table.columns
