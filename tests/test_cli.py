"""End-to-end CLI behaviour: help, exit codes, no tracebacks, outputs."""

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner

from farmland.area import ellipsoidal_area
from farmland.cli import main

from builders import dltb_frame


@pytest.mark.parametrize("command", ["validate", "area", "metrics", "sample"])
def test_help_has_chinese_description_and_example(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert any("\u4e00" <= ch <= "\u9fff" for ch in result.output)


def test_area_adds_column_and_keeps_attributes(tmp_path):
    source = tmp_path / "dltb.gpkg"
    frame = dltb_frame(2020)
    frame.to_file(source, layer="DLTB")
    out = tmp_path / "out.gpkg"
    result = CliRunner().invoke(main, ["area", f"{source}:DLTB", "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = gpd.read_file(out, layer="DLTB")
    assert list(written.columns[:-1]) == [*frame.columns[:-1], "area_m2"]
    np.testing.assert_array_equal(written["area_m2"], ellipsoidal_area(frame.geometry.values, frame.crs))
    assert written["DLBM"].tolist() == frame["DLBM"].tolist()


def test_area_refuses_overwrite_and_geographic_crs(tmp_path):
    source = tmp_path / "dltb.gpkg"
    dltb_frame(2020).to_crs("EPSG:4490").to_file(source, layer="DLTB")
    out = tmp_path / "out.gpkg"
    result = CliRunner().invoke(main, ["area", str(source), "-o", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "geographic" in result.output.lower()
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dltb.gpkg"]
    out.write_text("keep me")
    dltb_frame(2020).to_file(source, layer="DLTB")
    result = CliRunner().invoke(main, ["area", str(source), "-o", str(out)])
    assert result.exit_code == 1 and "--overwrite" in result.output and out.read_text() == "keep me"


def test_area_shapefile_output_moves_all_sidecars(tmp_path):
    source = tmp_path / "dltb.gpkg"
    dltb_frame(2020).to_file(source, layer="DLTB")
    out = tmp_path / "out" / "dltb.shp"
    out.parent.mkdir()
    result = CliRunner().invoke(main, ["area", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.suffix for p in out.parent.iterdir()} >= {".shp", ".dbf", ".shx", ".prj"}
    assert pyogrio.read_dataframe(out)["DLBM"].tolist() == ["0103", "0702", "0102", "1006"]


def test_usage_error_exits_2():
    result = CliRunner().invoke(main, ["metrics"])
    assert result.exit_code == 2
