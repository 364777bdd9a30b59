"""Issue 9, values: wrong data never becomes a quiet number.

Every break below is made in a different county, year or table of one copy of the session's
generated workspace, so a single ``farmland validate`` run must list them all (the report goes on
after each); each case is its own test on that run's output: exit 1, the layer and year, the field,
the message, and the inputs byte-identical. A second copy checks the Revision 2 leniencies
(LANDCOVER and an hsf task missing for one year) through ``farmland metrics``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from test_bad_inputs import _missing, invoke, rewrite_layer, tree_digest


def _set(relative, layer, field, value, rows=(0,)):
    def change(root):
        def edit(frame):
            for row in rows:
                frame.loc[frame.index[row], field] = value
            return frame
        rewrite_layer(root, relative, layer, edit)
    return change


def _scale(relative, layer, fields, factor):
    def change(root):
        def edit(frame):
            for field in fields:
                frame[field] = frame[field] * factor
            return frame
        rewrite_layer(root, relative, layer, edit)
    return change


def _arable_parcel_zero(root):
    def edit(frame):
        row = frame.index[frame["DLBM"].isin(["011", "012", "013", "0101", "0102", "0103"])][0]
        frame.loc[row, ["TBMJ", "TBDLMJ", "TKMJ"]] = 0.0
        return frame
    rewrite_layer(root, "counties/371526/bgdc_2016.gpkg", "DLTB", edit)


def _table(name, change):
    def apply(root):
        path = root / name
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(frame).to_csv(path, index=False)
    return apply


def _repeat_ledger_line(frame):
    return pd.concat([frame, frame.iloc[[0]]], ignore_index=True)


def _blank_area(frame):
    frame.loc[3, "area_mu"] = ""
    return frame


def _checklist_typo(frame):
    frame.loc[frame["item"] == "动态监测", "item"] = "动态检测"
    return frame


def _checklist_twice(frame):
    extra = frame.iloc[[2]].copy()
    extra["fraction"] = "0.1"
    return pd.concat([frame, extra], ignore_index=True)


def _county_copy(root):
    shutil.copytree(root / "counties" / "371521", root / "counties" / "371521_copy")


def _overlapping_unit(root):
    def edit(frame):
        extra = frame.iloc[[0]].copy()
        extra["XZQDM"], extra["XZQMC"] = "371599", "某园区"
        extra["geometry"] = extra.geometry.buffer(-1000)
        return pd.concat([frame, extra], ignore_index=True)
    rewrite_layer(root, "xzq.gpkg", "XZQ", edit)


def _no_basic_farmland(root):
    rewrite_layer(root, "counties/371522/bgdc_2018.gpkg", "YJJBNTTB", lambda f: f.iloc[:0])


def _bsm_as_real(root):
    def edit(frame):
        frame["BSM"] = frame["BSM"].astype("float64")
        return frame
    rewrite_layer(root, "counties/371581/bgdc_2017.gpkg", "DLTB", edit)


# name → (break, tokens the report must hold for it)
CASES = {
    "illegal_area_null": (_set("wpzf_2018.gpkg", "WPZF", "WFZYGDMJ", None),
                          ["WPZF 2018 [WFZYGDMJ]", "WFZYGDMJ is empty (NULL) for 1 features"]),
    "occupied_area_null": (_set("wpzf_2019.gpkg", "WPZF", "ZYGDMJ", None),
                           ["WPZF 2019 [ZYGDMJ]", "ZYGDMJ is empty (NULL) for 1 features"]),
    "basic_farmland_in_mu": (_scale("counties/371523/bgdc_2020.gpkg", "YJJBNTTB", ["TBMJ", "KCMJ", "YJJBNTMJ"],
                                    0.0015), ["JBNTTB 2020 [TBMJ]", "stored in 亩", "371523/bgdc_2020.gpkg"]),
    "land_use_in_hectares": (_scale("counties/371524/bgdc_2017.gpkg", "DLTB", ["TBMJ", "TKMJ", "TBDLMJ"], 1e-4),
                             ["DLTB 2017 [TBMJ]", "stored in 公顷 (ha)", "371524/bgdc_2017.gpkg"]),
    "arable_parcel_of_zero_area": (_arable_parcel_zero, ["DLTB 2016 [TBMJ]", "TBMJ is 0 for 1 features"]),
    "parcel_area_null": (_set("counties/371581/bgdc_2016.gpkg", "DLTB", "TBMJ", None),
                         ["DLTB 2016 [TBMJ]", "TBMJ is empty (NULL) for 1 features"]),
    "parcel_area_infinite": (_set("counties/371502/bgdc_2019.gpkg", "DLTB", "TBMJ", np.inf),
                             ["DLTB 2019 [TBMJ]", "TBMJ is infinite for 1 features"]),
    "net_area_null_falls_back": (_set("counties/371521/bgdc_2020.gpkg", "DLTB", "TBDLMJ", None, rows=(0, 1)),
                                 ["DLTB 2020 [TBDLMJ]", "2 features have no TBDLMJ", "TBDLMJ = TBMJ − KCMJ"]),
    "hsf_built_area_null": (_set("hsf.gpkg", "GBZNT", "JSMJ", None),
                            ["GBZNT [JSMJ]", "JSMJ is empty (NULL) for 1 features"]),
    "ledger_line_repeated": (_table("zbph.csv", _repeat_ledger_line), ["ZBPH", "1 rows repeat an earlier row"]),
    "ledger_area_blank": (_table("zbph.csv", _blank_area), ["ZBPH [area_mu]", "area_mu is empty (NULL)", "row 5"]),
    "checklist_item_typo": (_table("checklist.csv", _checklist_typo),
                            ["CHECKLIST [item]", "item '动态检测' is scored by no rule set", "Did you mean '动态监测'?"]),
    "checklist_row_twice": (_table("checklist.csv", _checklist_twice),
                            ["CHECKLIST [item]", "listed more than once"]),
    "county_folder_copied": (_county_copy, ["DLTB 2018 [ZLDWDM]", "county 371521 has parcels in 2 files",
                                            "371521_copy/bgdc_2018.gpkg"]),
    "unit_overlapping_a_county": (_overlapping_unit, ["XZQ [XZQDM]", "1 pairs of units overlap", "371599",
                                                      "[units] spatial"]),
    "county_without_basic_farmland": (_no_basic_farmland, ["JBNTTB 2018 [ZLDWDM]", "counties 371522 have",
                                                           "no basic-farmland parcels"]),
    "quality_grade_99": (_set("counties/371525/bgdc_2018.gpkg", "DLTB", "GDDB", 99), ["DLTB 2018 [GDDB]", "1–15"]),
    "deduction_coefficient_negative": (_set("counties/371526/bgdc_2019.gpkg", "DLTB", "KCXS", -0.1),
                                       ["DLTB 2019 [KCXS]", "outside 0–1"]),
    "bsm_stored_as_real": (_bsm_as_real, ["DLTB 2017 [BSM]", "stored as a real number", "Re-export BSM as text"]),
}


@pytest.fixture(scope="module")
def broken(generated_workspace, tmp_path_factory):
    ws = shutil.copytree(generated_workspace, tmp_path_factory.mktemp("values") / "ws")
    for change, _ in CASES.values():
        change(ws)
    before = tree_digest(ws)
    result = invoke("validate", ws)
    return ws, result, before


@pytest.mark.parametrize("name", list(CASES))
def test_wrong_value_is_named(broken, name):
    ws, result, before = broken
    assert result.exit_code == 1 and "Traceback" not in result.output and "internal error" not in result.output
    assert not _missing(CASES[name][1], result.output), result.output
    assert tree_digest(ws) == before


def test_fallback_is_a_warning_not_an_error(broken):
    _, result, _ = broken
    errors, _, warnings = result.output.partition("警告 warning")
    assert "no TBDLMJ" in warnings and "no TBDLMJ" not in errors


@pytest.fixture(scope="module")
def partial_years(generated_workspace, tmp_path_factory):
    """No land-cover raster and no hsf task for 2018 (Revision 2): metrics go on, those figures empty."""
    folder = tmp_path_factory.mktemp("partial")
    ws = shutil.copytree(generated_workspace, folder / "ws")
    (ws / "landcover_2018.tif").unlink()
    targets = pd.read_csv(ws / "targets.csv", dtype=str)
    targets.drop(columns="hsf_task_mu_2018").to_csv(ws / "targets.csv", index=False)
    before = tree_digest(ws)
    out = folder / "m.csv"
    result = invoke("metrics", ws, "--year", 2018, "-o", out)
    assert tree_digest(ws) == before
    return result, out


def test_landcover_missing_for_a_year_is_one_warning_and_empty_figures(partial_years):
    result, out = partial_years
    assert result.exit_code == 0, result.output
    assert result.output.count("no LANDCOVER raster for 2018") == 1, result.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert table["landcover_built_mu"].isna().all() and table["arable_mu"].notna().all()


def test_hsf_task_column_missing_is_a_warning_and_empty(partial_years):
    result, out = partial_years
    assert "hsf_task_mu and hsf_completion of 2018 are empty" in result.output, result.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert table["hsf_task_mu"].isna().all() and table["hsf_completion"].isna().all()
