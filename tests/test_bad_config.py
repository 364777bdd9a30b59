"""Issue 9, options and configuration: every command refuses what validate refuses, with no traceback.

Each case edits a copy of the session's generated workspace (farmland.toml or one file), runs the
CLI and checks the exit code, the message (key and type named, or the finding) and that the inputs
are byte-identical afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyogrio
import pytest

from test_bad_inputs import edit_toml, invoke, rewrite_layer, tree_digest
from test_output_safety import refused


@pytest.fixture
def ws(generated_workspace, tmp_path) -> Path:
    return shutil.copytree(generated_workspace, tmp_path / "ws")


@pytest.mark.parametrize("value, shown", [
    ("{ text = \"371500\" }", "a table"),
    ("371500", "a number"),
    ("[\"371500\"]", "a list"),
])
def test_city_code_of_the_wrong_type_names_key_and_type(ws, value, shown):
    edit_toml(ws, 'code = "371500"', f"code = {value}")
    before = tree_digest(ws)
    result = invoke("validate", ws)
    refused(result, "city.code", shown, "text in quotes")
    assert tree_digest(ws) == before


def test_layer_crs_of_the_wrong_type_is_refused(ws):
    text = (ws / "farmland.toml").read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.startswith("GBZNT"))
    edit_toml(ws, line, 'GBZNT = { source = "hsf.gpkg:GBZNT", crs = 4527 }')
    refused(invoke("validate", ws), "layers.GBZNT")


def test_field_map_onto_another_standard_field_is_refused(ws):
    (ws / "farmland.toml").write_text((ws / "farmland.toml").read_text(encoding="utf-8")
                                      + '\n[fields.DLTB]\nTBDLMJ = "TBMJ"\n', encoding="utf-8")
    refused(invoke("validate", ws), "[fields.DLTB] TBDLMJ = 'TBMJ'", "standard field TBMJ")


def test_field_map_of_an_unknown_standard_field_says_did_you_mean(ws):
    (ws / "farmland.toml").write_text((ws / "farmland.toml").read_text(encoding="utf-8")
                                      + '\n[fields.DLTB]\nZLDWMD = "ZL"\n', encoding="utf-8")
    refused(invoke("validate", ws), "'ZLDWMD'", "Did you mean 'ZLDWDM'?")


def test_regrouping_arable_land_as_non_arable_is_refused(ws):
    (ws / "farmland.toml").write_text((ws / "farmland.toml").read_text(encoding="utf-8")
                                      + '\n[landclass]\ngroups = { "0101" = "construction" }\n', encoding="utf-8")
    refused(invoke("validate", ws), "0101", "arable land (耕地)")


def test_bom_in_farmland_toml_and_extra_landcover_classes_are_accepted(ws):
    text = (ws / "farmland.toml").read_text(encoding="utf-8")
    assert "[landcover]" in text
    text = text.replace("[landcover]\n", "[landcover]\nwater = [3]\nforest = [4, 5]\n")
    (ws / "farmland.toml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = invoke("validate", ws)
    assert result.exit_code == 0, result.output
    assert "Invalid statement" not in result.output


def test_landcover_without_built_is_refused(ws):
    text = (ws / "farmland.toml").read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.startswith("built"))
    edit_toml(ws, line + "\n", "")
    refused(invoke("validate", ws), "[landcover] has no built")


def test_a_table_path_that_is_a_folder(ws):
    (ws / "zbph.csv").unlink()
    (ws / "zbph.csv").mkdir()
    refused(invoke("validate", ws), "ZBPH", "zbph.csv is a folder")


def test_area_on_a_csv_is_refused(ws, tmp_path):
    result = invoke("area", ws / "zbph.csv", "-o", tmp_path / "a.gpkg")
    refused(result, "zbph.csv has no geometries")
    assert not (tmp_path / "a.gpkg").exists()


def test_area_on_points_names_the_file_not_a_row_position(ws, tmp_path):
    source = ws / "counties" / "371521" / "bgdc_2020.gpkg"
    frame = pyogrio.read_dataframe(source, layer="DLTB")
    frame.loc[frame.index[3], "geometry"] = frame.geometry.iloc[3].centroid
    pyogrio.write_dataframe(frame, tmp_path / "mixed.gpkg", layer="DLTB")
    result = invoke("area", f"{tmp_path / 'mixed.gpkg'}:DLTB", "-o", tmp_path / "a.gpkg")
    refused(result, "Point")
    assert not (tmp_path / "a.gpkg").exists()


@pytest.mark.parametrize("args, message", [
    (["--phase", "midterm", "--year", 2030], "outside the midterm span 2016–2017"),
    (["--phase", "final", "--year", 2021], "outside the final span 2016–2020"),
    (["--phase", "annual", "--year", 2015], "is the base year"),
])
def test_score_refuses_a_year_it_cannot_score(ws, args, message):
    refused(invoke("score", ws, *args), message)


@pytest.fixture(scope="module")
def broken(generated_workspace, tmp_path_factory):
    """One workspace with a validation error (a parcel in a wrong zone), and validate's verdict on it."""
    ws = shutil.copytree(generated_workspace, tmp_path_factory.mktemp("broken") / "ws")

    def shift(frame):
        frame.loc[frame.index[0], "geometry"] = frame.geometry.iloc[0].buffer(0).__class__(
            [(x - 1_000_000, y) for x, y in frame.geometry.iloc[0].exterior.coords])
        return frame

    rewrite_layer(ws, "counties/371521/bgdc_2018.gpkg", "DLTB", shift)
    return ws, invoke("validate", ws)


def test_validate_names_file_year_and_bsm_of_a_wrong_zone_parcel(broken):
    ws, result = broken
    refused(result, "DLTB 2018", "counties/371521/bgdc_2018.gpkg", "1 features have eastings", "x and y are swapped")
    assert "internal error" not in result.output


@pytest.mark.parametrize("command", [
    ["metrics", "{ws}", "--year", "2018", "-o", "{out}.csv"],
    ["score", "{ws}", "--phase", "final", "-o", "{out}.csv"],
    ["explain", "{ws}", "--phase", "final", "--unit", "371521"],
    ["assess", "{ws}", "-o", "{out}"],
    ["audit", "{ws}", "--year", "2018", "-o", "{out}"],
    ["sample-check", "{ws}", "--year", "2018", "-o", "{out}"],
])
def test_every_command_refuses_what_validate_refuses_with_its_message(broken, command, tmp_path):
    """Each command reads through the same load stage and validation: exit 1, validate's own error
    lines, nothing written, the workspace untouched."""
    ws, validated = broken
    section = validated.output.split("错误 error (", 1)[1].split("\n\n", 1)[0]
    errors = [line.strip() for line in section.splitlines() if line.startswith("  - ")]
    assert len(errors) == 1
    before = tree_digest(ws)
    out = tmp_path / "out"
    result = invoke(*[a.replace("{ws}", str(ws)).replace("{out}", str(out)) for a in command])
    refused(result, "the workspace has errors; nothing was", *errors)
    assert not list(tmp_path.iterdir()) and tree_digest(ws) == before
