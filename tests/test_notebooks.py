"""The notebooks run top to bottom on the bundled sample, without Jupyter.

Every code cell of each notebook is run in order in one namespace with ``exec``, from ``notebooks/``
(where Jupyter starts the kernel, so ``../sample_data/liaocheng`` resolves as it does for an
analyst). A cell whose last statement is an expression is evaluated like Jupyter does, so the tables
it shows can be compared with the outputs committed in the file: stale outputs after a library
change fail here. Each notebook runs once per test module; the facts it states are checked on that
run. The quick start and the deep-dive both call ``assess`` on the sample, exactly as written; the
run is shared between them here (:func:`_shared_assess`) to keep the suite short, and neither
notebook changes it.
"""

import ast
import contextlib
import importlib.util
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from farmland.pipeline import assess as _assess  # the real one: notebooks get the shared run

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(path.name for path in FOLDER.glob("*.ipynb"))
NOTEBOOK = FOLDER / "01_liaocheng_assessment.ipynb"
QUICK_START, DEEP_DIVE, CUSTOM_RULES = "00_quick_start.ipynb", "02_county_deep_dive.ipynb", "03_custom_rule_set.ipynb"
COUNTIES = {"371502", "371521", "371522", "371523", "371524", "371525", "371526", "371581", "371571"}
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HAS_FOLIUM = importlib.util.find_spec("folium") is not None and importlib.util.find_spec("mapclassify") is not None
#: Committed size: outputs stay small (truncate long frames). The quick start shows a whole
#: scorecard (its font subset, chart and map inline); the deep-dive a chart and a map.
MAX_BYTES = {"01_liaocheng_assessment.ipynb": 150_000, QUICK_START: 500_000, DEEP_DIVE: 300_000,
             CUSTOM_RULES: 60_000}
#: Plain-text forms that name a memory address differ per run, and IPython drops the word
#: "object" of Python's: ``<folium.folium.Map at 0x7f…>`` against ``<folium.folium.Map object at 0x7f…>``.
_ADDRESS = re.compile(r"<([\w.]+)(?: object)? at 0x[0-9a-fA-F]+>")


def test_every_notebook_is_known():
    assert set(NOTEBOOKS) == set(MAX_BYTES), "add a new notebook to MAX_BYTES and give it its own checks"


def _notebook(name: str = NOTEBOOK.name) -> dict:
    return json.loads((FOLDER / name).read_text(encoding="utf-8"))


def _code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def _run_cell(source: str, name: str, namespace: dict):
    """Run one cell; return (stdout, value of a trailing expression or None), as Jupyter would."""
    tree = ast.parse(source, filename=name)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    value = None
    with contextlib.redirect_stdout(out):
        exec(compile(tree, name, "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), name, "eval"), namespace)
    return out.getvalue(), value


_ASSESSED: dict = {}


def _shared_assess(workspace, **options):
    """``farmland.pipeline.assess``, run once per workspace and options in this module."""
    from farmland.pipeline import load_workspace

    key = (str(load_workspace(workspace).root.resolve()), tuple(sorted(options.items())))
    if key not in _ASSESSED:
        _ASSESSED[key] = _assess(workspace, **options)
    return _ASSESSED[key]


def _execute(name: str):
    """(namespace, [(cell, stdout, value)]) of one run of the whole notebook."""
    if HAS_MATPLOTLIB:
        import matplotlib

        matplotlib.use("Agg")  # no display in tests; the chart cell must still run
    namespace = {"__name__": "__main__"}
    runs = []
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(FOLDER)
        # A cell's `from farmland.pipeline import assess` then picks up the shared run.
        monkeypatch.setattr("farmland.pipeline.assess", _shared_assess)
        for cell in _code_cells(_notebook(name)):
            stdout, value = _run_cell("".join(cell["source"]), f"{name}:{cell['id']}", namespace)
            runs.append((cell, stdout, value))
    if HAS_MATPLOTLIB:
        import matplotlib.pyplot as plt

        plt.close("all")
    return namespace, runs


@pytest.fixture(scope="module")
def run_notebook():
    """``run_notebook(name)``: each notebook executed once per module, on first use."""
    done = {}

    def run(name: str):
        if name not in done:
            if name == DEEP_DIVE and not HAS_FOLIUM:
                pytest.skip("the deep-dive draws its evidence map with folium: pip install 'farmland[explore]'")
            done[name] = _execute(name)
        return done[name]

    return run


@pytest.fixture(scope="module")
def executed(run_notebook):
    return run_notebook(NOTEBOOK.name)


def _stdout(runs) -> str:
    return "".join(stdout for _, stdout, _ in runs)


# -- the files themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_file_is_executed_and_free_of_volatile_metadata(name):
    nb = _notebook(name)
    cells = _code_cells(nb)
    assert 8 <= len(nb["cells"]) <= 30
    # Executed once, top to bottom: counts 1..n with no gaps or re-runs.
    assert [cell["execution_count"] for cell in cells] == list(range(1, len(cells) + 1))
    assert all(cell["metadata"] == {} for cell in nb["cells"]), "cell metadata (execution timestamps) left in"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}
    assert "version" not in nb["metadata"].get("language_info", {})
    outputs = [out for cell in cells for out in cell["outputs"]]
    assert not any(out["output_type"] == "error" for out in outputs)
    assert not any(out.get("name") == "stderr" for out in outputs), "warnings in the committed outputs"
    assert len((FOLDER / name).read_bytes()) < MAX_BYTES[name], "outputs should stay small: truncate long frames"
    # Every notebook works on the bundled sample, relative to notebooks/.
    assert 'WORKSPACE = Path("../sample_data/liaocheng")' in "".join("".join(c["source"]) for c in cells)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_outputs_match_a_fresh_run(name, run_notebook):
    """Printed text and shown tables of every cell equal what the library gives today."""
    _, runs = run_notebook(name)
    for cell, stdout, value in runs:
        if HAS_MATPLOTLIB and "import matplotlib" in "".join(cell["source"]):
            continue  # committed without matplotlib: its branch prints a different line
        committed_stdout = "".join("".join(out["text"]) for out in cell["outputs"]
                                   if out["output_type"] == "stream" and out["name"] == "stdout")
        assert stdout == committed_stdout, f"stale printed output in {name}:{cell['id']}"
        shown = [out for out in cell["outputs"] if out["output_type"] == "execute_result"]
        if value is None:
            assert not shown, f"{name}:{cell['id']} shows a result but its last line is not an expression"
        else:
            committed = _ADDRESS.sub(r"<\1 at 0x…>", "".join(shown[0]["data"]["text/plain"]))
            assert committed == _ADDRESS.sub(r"<\1 at 0x…>", repr(value)), f"stale table in {name}:{cell['id']}"


# -- facts 01_liaocheng_assessment states ----------------------------------------------------


def test_workspace_validates_and_sums_to_the_published_city_total(executed):
    ns, runs = executed
    assert ns["report"].ok
    assert "结果 result: OK, no errors" in _stdout(runs)
    # The sample's 2020 year end (sample_data/liaocheng/README.md): 847.46 万亩 = Σ TBDLMJ × 0.0015 / 10⁴.
    assert round(ns["city_arable_wanmu"], 2) == 847.46
    by_county = ns["by_county"]
    assert set(by_county.index) == COUNTIES - {"371571"}  # the zone has no ZLDWDM code of its own
    # Net arable area never exceeds the gross parcel area it is deducted from.
    assert (by_county["arable_wanmu"] <= by_county["TBMJ_wanmu"]).all()


def test_area_comparison_planar_exceeds_ellipsoidal_by_the_scale_factor(executed):
    areas = executed[0]["areas"]
    assert len(areas) == (executed[0]["dltb"]["source_file"] == "counties/371502/bgdc_2020.gpkg").sum()
    # Zone 39 has its central meridian at 117°E; 东昌府区 spans 115.68°–116.25°E, i.e. y = 67–118 km
    # west of it at 36.5°N (1° ≈ 111.3 km × cos 36.5°). The Gauss-Krüger area scale is ≈ 1 + (y/R)²,
    # R ≈ 6 371 km: (67/6371)² ≈ 111 ppm … (118/6371)² ≈ 343 ppm; allow ~10 % either side.
    assert areas["planar_excess_ppm"].between(100, 380).all()
    # Recomputed areas are checks: within 0.5 % of TBMJ (validate's threshold), most agree to 0.01 m².
    relative = (areas["ellipsoidal_minus_TBMJ_m2"] / areas["TBMJ_m2"]).abs()
    assert (relative < 0.005).all()
    assert (areas["ellipsoidal_minus_TBMJ_m2"].abs() <= 0.01).mean() > 0.5


def test_attainment_and_ratios_for_2020(executed):
    ns, _ = executed
    targets, ratios = ns["targets"], ns["ratios"]
    city = targets.loc["371500"]
    # 聊政发〔2018〕34号 targets: 844.64 and 724.05 万亩.
    assert city["arable_target_wanmu"] == pytest.approx(844.64)
    assert city["basic_farmland_target_wanmu"] == pytest.approx(724.05)
    assert city["arable_attainment"] == pytest.approx(city["arable_wanmu"] / city["arable_target_wanmu"])
    # The notebook says reported and derived ratios agree on the synthetic sample (it prints 0.00 %);
    # they are computed from different layers, so only to floating-point noise.
    assert np.nanmax(np.abs(ratios["derived_illegal_ratio"] - ratios["illegal_ratio"])) < 1e-6
    assert ns["flagged"].loc["371525", 2016] and not ns["flagged"].loc["371525", 2017]
    assert ns["break_years"] == [2019]


def test_evidence_ids_are_found_in_the_wpzf_layer(executed):
    ns, _ = executed
    wpzf_ids = [i for i in ns["ids"] if i.startswith("WPZF:")]
    assert wpzf_ids and len(ns["cases"]) == len(wpzf_ids)
    assert ns["cases"]["WFZYGDMJ"].sum() * 0.0015 == pytest.approx(ns["wide"].at[ns["code"], "illegal_arable_mu"])


def test_final_scores_and_the_county_the_notebook_follows(executed):
    ns, runs = executed
    result, unit = ns["result"], ns["UNIT"]
    table = result.table
    assert len(table) == 9 and set(table["xzqdm"]) == COUNTIES
    assert sorted(table["rank"]) == list(range(1, 10))  # no ties on the sample
    # Neither Liaocheng text has a grade or a veto: the default table has no such columns.
    assert not {"grade", "vetoes", "verdict", "consequence"} & set(table.columns)
    # The outcome criteria the notebook prints (第十七条; the 90-point line is a 建议值) hold for every row.
    out = _stdout(runs)
    assert "\n".join(result.rules.outcomes.criteria_lines(result.rules.points_label)) in out
    assert "建议值" in result.rules.title
    has_trigger = table["triggers"].fillna("") != ""
    assert (table["outcome"].eq("整改") == has_trigger).all()
    assert (table["outcome"].eq("表扬") == (~has_trigger & (table["total"] >= 90))).all()
    assert (table.loc[~table["outcome"].isin(["整改", "表扬"]), "outcome"].fillna("") == "").all()
    # 东阿县: "high on points (≈91, rank 4), yet 整改" — because of the 15 % line in 2018, and only that.
    donge = table.set_index("xzqdm").loc[unit]
    assert unit == "371524" and donge["rank"] == 4 and round(donge["total"]) == 91 and donge["total"] >= 90
    assert donge["outcome"] == "整改" and donge["triggers"].split(";") == ["illegal_ratio_15@2018"]
    own = result.triggers[result.triggers["xzqdm"] == unit]
    assert list(zip(own["code"], own["year"])) == [("illegal_ratio_15", 2018)]
    assert "371524 东阿县 — 期末考核（2020 年数据）" in out
    assert "illegal_ratio_15@2018：2018 年违法占用耕地面积占新增建设用地占用耕地总面积的比例达到15%" in out
    assert "权重扰动下的名次区间" in out and "371524 东阿县 距各条界线" in out


def test_what_if_below_the_15_percent_line_removes_the_trigger(executed):
    ns = executed[0]
    unit, cuts, scenarios = ns["UNIT"], ns["cuts"], ns["scenarios"]
    row = ns["annual_rows"].set_index("xzqdm").loc[unit]
    # 2018: 137.16 亩 ÷ 857.23 亩 = 16.00 %; the 15 % line is 857.23 × 0.15 = 128.59 亩, 8.57 亩 below.
    assert round(row["illegal_ratio"], 4) == 0.16
    excess = row["illegal_arable_mu"] - 0.15 * row["construction_on_arable_mu"]
    assert round(excess, 2) == 8.57 and (cuts["at_or_above"], cuts["below"]) == (8, 9)
    assert "illegal_ratio_15@2018" in ns["annual_2018"].table.set_index("xzqdm").at[unit, "triggers"].split(";")

    def county(s):
        diff = s.diff.set_index("xzqdm").loc[unit]
        points = [r.table.set_index("xzqdm").at[unit, "R-ILLEGAL-RATIO"] for r in (s.baseline, s.scenario)]
        ratio = s.scenario.metrics.set_index("xzqdm").at[unit, "illegal_ratio"]
        return diff, points, ratio

    for s in scenarios.values():  # the baseline is the 2018 annual result as scored on its own
        assert np.allclose(s.baseline.table["total"], ns["annual_2018"].table["total"])
        assert (s.baseline.table["triggers"] == ns["annual_2018"].table["triggers"]).all()
        others = s.diff[s.diff["xzqdm"] != unit]
        assert not others["changed"].any()

    # 8 亩 less: 129.16 / 857.23 = 15.07 %, still at/above the line; R-ILLEGAL-RATIO is 0 there anyway.
    diff, (before, after), ratio = county(scenarios["at_or_above"])
    assert round(ratio, 4) == 0.1507 and ratio >= 0.15
    assert "illegal_ratio_15@2018" in diff["triggers_after"].split(";")
    assert before == after == 0 and diff["delta"] == 0 and diff["rules_changed"] == ""

    # 9 亩 less: 128.16 / 857.23 = 14.95 %: the trigger goes, and only R-ILLEGAL-RATIO moves the total.
    diff, (before, after), ratio = county(scenarios["below"])
    assert round(ratio, 4) == 0.1495 and ratio < 0.15
    assert "illegal_ratio_15@2018" in diff["triggers_before"].split(";")
    assert "illegal_ratio_15@2018" not in diff["triggers_after"].split(";")
    below = scenarios["below"].scenario.triggers
    assert below[(below["xzqdm"] == unit) & (below["code"] == "illegal_ratio_15")].empty
    # R-ILLEGAL-RATIO: 20 points at 0 %, 0 at 15 %, linear between (建议值).
    assert after == pytest.approx(20 * (0.15 - ratio) / 0.15) and before == 0
    assert diff["rules_changed"] == "R-ILLEGAL-RATIO" and diff["delta"] == pytest.approx(after - before)
    assert diff["delta"] > 0 and diff["outcome_after"] == diff["outcome_before"] == "通报"


def test_example_rule_set_with_grades_and_vetoes_is_labelled_not_the_method(executed):
    ns, runs = executed
    example, unit = ns["example"], ns["UNIT"]
    assert "非本办法规定" in example.rules.title and example.rules.title in _stdout(runs)
    table = example.table.set_index("xzqdm")
    assert set(table["grade"]) <= {"优秀", "良好", "合格", "不合格"}
    # The notebook: the example vetoes 东阿县 on the 15 % line and 高唐县 on 占补, which the default
    # rule set does not (高唐县 is 表扬 there: a 占补 shortfall is not a 34号 四(三) case).
    assert table.at[unit, "grade"] == "不合格" and "R-ILLEGAL15-VETO" in table.at[unit, "vetoes"].split(";")
    assert table.at["371526", "grade"] == "不合格" and table.at["371526", "vetoes"] == "R-BALANCE-VETO"
    assert ns["result"].table.set_index("xzqdm").at["371526", "outcome"] == "表扬"


def test_calendar_lists_the_final_assessment(executed):
    out = _stdout(executed[1])
    assert "2016—2020 年规划期耕地保护责任目标考核日程" in out
    assert "2021 年 · 期末考核：检查 2016—2020 年" in out


def test_chart_cell_runs_with_or_without_matplotlib(executed):
    out = _stdout(executed[1])
    if HAS_MATPLOTLIB:
        assert "matplotlib 未安装" not in out
    else:
        assert "matplotlib 未安装，跳过图表" in out
    series = executed[0]["series"]
    assert isinstance(series, pd.DataFrame) and list(series.index) == list(range(2015, 2021))


# -- facts 00_quick_start states ---------------------------------------------------------------


def test_quick_start_assesses_once_and_shows_the_scores_and_a_card(run_notebook):
    ns, runs = run_notebook(QUICK_START)
    from farmland.pipeline import Assessment
    from farmland.reports.jupyter import UnitCard

    assessment = ns["assessment"]
    assert assessment.report.ok and "结果 result: OK, no errors" in _stdout(runs)
    assert isinstance(assessment, Assessment)
    out = _stdout(runs)
    labels = [name for name, _ in assessment.results()]
    assert labels == [f"annual_{y}" for y in range(2016, 2021)] + ["midterm", "final"]
    assert all(label in out for label in labels)
    # The final: 整改 where a 34号 四(三) case occurred, 表扬 for the others (all at or above 90).
    outcomes = assessment.final.table["outcome"].value_counts().to_dict()
    assert outcomes == {"整改": 5, "表扬": 4} and "final        2020：9 个单位，结果 整改 5，表扬 4" in out
    # The scores table and the card display as HTML; the card is the one `farmland assess` writes.
    shown = {cell["id"]: value for cell, _, value in runs if value is not None}
    table = next(v for v in shown.values() if v is assessment.final)._repr_html_()
    assert "<table>" in table and "东阿县" in table and "建议值" in table
    card = ns["card"]
    assert isinstance(card, UnitCard) and card.title == "东阿县 期末考核评分卡（2016–2020年）"
    total = assessment.final.table.set_index("xzqdm").at["371524", "total"]
    assert f"{total:.2f}" in card.page and "整改" in card.page and card._repr_html_().startswith("<iframe")


# -- facts 02_county_deep_dive states ----------------------------------------------------------


def test_deep_dive_follows_one_county_from_its_scores_to_its_evidence(run_notebook):
    ns, runs = run_notebook(DEEP_DIVE)
    unit, final = ns["UNIT"], ns["final"]
    out = _stdout(runs)
    row = final.table.set_index("xzqdm").loc[unit]
    assert unit == "371524" and row["rank"] == 4 and row["total"] >= 90 and row["outcome"] == "整改"
    assert row["triggers"] == "illegal_ratio_15@2018"
    # The fold it prints adds up (第九、十二条, weights from the rule set).
    fold = final.rules.fold
    assert row["total"] == pytest.approx(fold.final * row["phase_total"] + fold.annual_mean * row["annual_mean"]
                                         + fold.midterm * row["midterm_total"])
    checks = ns["checks"]
    assert checks.loc["annual_2018", "triggers"] == "illegal_ratio_15@2018"
    assert (checks.drop(index=["annual_2018", "final"])["triggers"].fillna("") == "").all()
    # The trend chart is the scorecard's (figures.py), drawn for this unit.
    from farmland.reports.jupyter import Chart

    trend = next(value for _, _, value in runs if isinstance(value, Chart))
    assert trend._repr_svg_().lstrip().startswith("<?xml") and "东阿县" in repr(trend)
    assert round(ns["yearly"].at[2018, "illegal_ratio"], 4) == 0.16
    # Most points went in R-ILLEGAL-RATIO: 5.58 % over the period.
    assert ns["items"]["lost"].idxmax() == "R-ILLEGAL-RATIO"
    assert "371524 东阿县 — 期末考核（2020 年数据）" in out
    # The map holds the 2018 parcel behind the trigger, listed with its reason.
    evidence = ns["evidence_2018"]
    assert set(evidence["evidence_id"]) == {"WPZF:371524201800003"}
    assert set(evidence["kind"]) == {"失分", "问责情形（34号 四（三））"}
    page = ns["evidence_map"].get_root().render()
    assert "WPZF:371524201800003" in page and "tile.openstreetmap" not in page.lower()
    # What would move it: 9 亩 less in 2018 removes the trigger; no illegal occupation at all over
    # the period lifts the total to rank 1, yet the 2018 case keeps the outcome at 整改.
    cut = ns["cut"].diff.set_index("xzqdm").loc[unit]
    assert "illegal_ratio_15@2018" not in cut["triggers_after"].split(";")
    after = ns["clean"].scenario.table.set_index("xzqdm").loc[unit]
    assert after["rank"] == 1 and after["outcome"] == "整改" and after["total"] > row["total"]
    assert after["total"] - row["total"] == pytest.approx(fold.final * (20 - final.table.set_index("xzqdm").at[
        unit, "R-ILLEGAL-RATIO"]))
    assert "371524 东阿县 距各条界线" in out


# -- facts 03_custom_rule_set states -----------------------------------------------------------


def test_custom_rule_set_is_scored_tested_and_refused_with_clear_errors(run_notebook):
    ns, runs = run_notebook(CUSTOM_RULES)
    rules, result, moved = ns["rules"], ns["result"], ns["moved"]
    assert rules.ids == ("R-ARABLE", "R-BF", "R-ILLEGAL") and rules.example == "非本办法规定"
    assert result.rules.name == rules.name and result.phase == "annual" and result.year == 2018
    assert [r.points for r in moved.rules.rules] == [30, 30, 40]
    out = _stdout(runs)
    assert "通过：9 个单位，3 条规则" in out and "示例规则集，非本办法规定" in out
    assert "indicator weights sum to 90, not 100" in out
    assert "unknown metric 'ilegal_arable_mu' (did you mean 'illegal_arable_mu'?)" in out
    assert "<RULES_DIR>/three_items.toml: rule set is for phase 'annual'" in out
    assert not ns["RULES_DIR"].exists(), "the notebook removes its scratch folder"
