"""Reading layers: formats, field aliases, text codes, encodings, CRS checks, clear refusals."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from farmland.errors import CRSError, DataFileError, LayerError, WorkspaceError
from farmland.layers import _as_text, detect_dbf_encoding, read_layer, read_table, read_targets
from farmland.report import Report
from farmland.workspace import Workspace

from builders import WORKSPACE_TOML, X0, Y0, dltb_frame, square, write_workspace


def _workspace(tmp_path, toml=WORKSPACE_TOML, years=(2015, 2016)):
    return Workspace.load(write_workspace(tmp_path, years=years, toml=toml))


def test_reads_standard_fields_as_text_and_numbers(tmp_path):
    ws = _workspace(tmp_path)
    frame = read_layer(ws, "DLTB", 2015)
    assert list(frame["DLBM"]) == ["013", "203", "012", "104"]  # leading zeros kept
    assert frame["BSM"].map(type).eq(str).all()
    assert frame["TBDLMJ"].dtype == np.float64
    assert frame.crs.to_epsg() == 4527
    assert set(frame["source_file"]) == {"bgdc_2015.gpkg"}


@given(st.lists(st.one_of(st.none(), st.text(alphabet=" \t　0123456789ABC东昌府", max_size=6)), max_size=30))
def test_ids_are_the_same_text_as_any_other_column(values):
    """Ids skip the dictionary of distinct values (one str each); what they read as is the same."""
    column = pa.table({"BSM": pa.array(values, type=pa.string())}).to_pandas()["BSM"]  # as the reader makes it
    as_ids, as_text = _as_text(column, ids=True), _as_text(column)
    assert as_ids.dtype == as_text.dtype == object
    assert as_ids.tolist() == as_text.tolist()
    assert all(value is None or type(value) is str for value in as_ids)


def test_columns_subset_without_geometry(tmp_path):
    ws = _workspace(tmp_path)
    frame = read_layer(ws, "DLTB", 2015, columns=["TBDLMJ"], geometry=False)
    assert "geometry" not in frame and "GDDB" not in frame
    assert {"BSM", "DLBM", "ZLDWDM", "TBDLMJ"} <= set(frame.columns)


def test_older_aliases_are_accepted(tmp_path):
    ws = _workspace(tmp_path)
    older = dltb_frame(2015).rename(columns={"KCXS": "TKXS", "KCMJ": "TKMJ"})
    older.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB", driver="GPKG")
    frame = read_layer(ws, "DLTB", 2015)
    assert frame["KCMJ"].tolist() == [1000.0, 0.0, 0.0, 0.0]
    assert frame["KCXS"].tolist() == [0.1, 0.0, 0.0, 0.0]


def test_user_field_map(tmp_path):
    toml = WORKSPACE_TOML + '\n[fields.DLTB]\nDLBM = "DLDM"\n'
    ws = _workspace(tmp_path, toml=toml)
    dltb_frame(2015).rename(columns={"DLBM": "DLDM"}).to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    assert read_layer(ws, "DLTB", 2015)["DLBM"].iloc[0] == "013"


def test_missing_required_field_names_file_field_and_fix(tmp_path):
    ws = _workspace(tmp_path)
    dltb_frame(2015).drop(columns="DLBM").to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    with pytest.raises(LayerError) as info:
        read_layer(ws, "DLTB", 2015)
    text = str(info.value)
    assert "bgdc_2015.gpkg has no field DLBM" in text
    assert '[fields.DLTB] DLBM = "<name in your data>"' in text


def test_derived_net_area_when_absent(tmp_path):
    ws = _workspace(tmp_path)
    dltb_frame(2015).drop(columns=["KCMJ", "TBDLMJ"]).to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    frame = read_layer(ws, "DLTB", 2015)
    # KCMJ = round(10000 × 0.1, 2) = 1000; TBDLMJ = 10000 − 1000
    assert frame["KCMJ"].tolist() == [1000.0, 0.0, 0.0, 0.0]
    assert frame["TBDLMJ"].tolist() == [9000.0, 10000.0, 10000.0, 10000.0]


def test_missing_tbmj_is_computed_by_the_statutory_method(tmp_path):
    ws = _workspace(tmp_path)
    dltb_frame(2015).drop(columns=["TBMJ", "KCMJ", "TBDLMJ"]).to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    report = Report(strict=True)
    frame = read_layer(ws, "DLTB", 2015, geometry=False, report=report)
    # A 100 m square in the plane is slightly smaller on the ellipsoid (scale factor > 1).
    assert np.all((frame["TBMJ"] < 10000.0) & (frame["TBMJ"] > 9990.0))
    assert any(f.check == "area-computed" for f in report.findings)


def test_code_stored_as_number_is_refused(tmp_path):
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015)
    frame["DLBM"] = [13, 203, 12, 104]
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    with pytest.raises(LayerError, match="stored as a number"):
        read_layer(ws, "DLTB", 2015)


def test_ids_stored_as_numbers_are_read_as_text(tmp_path):
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015)
    frame["BSM"] = [1, 2, 3, 4]
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    assert read_layer(ws, "DLTB", 2015)["BSM"].tolist() == ["1", "2", "3", "4"]


def test_shapefile_gbk_without_cpg_is_detected(tmp_path):
    toml = WORKSPACE_TOML.replace('XZQ = "xzq.gpkg:XZQ"', 'XZQ = "xzq.shp"')
    ws = _workspace(tmp_path, toml=toml)
    xzq = gpd.read_file(tmp_path / "xzq.gpkg")
    pyogrio.write_dataframe(xzq, tmp_path / "xzq.shp", encoding="GBK")
    (tmp_path / "xzq.cpg").unlink(missing_ok=True)
    assert detect_dbf_encoding(tmp_path / "xzq.dbf") == "GB18030"
    report = Report(strict=True)
    frame = read_layer(ws, "XZQ", report=report)
    assert frame["XZQMC"].tolist() == ["东昌府区", "阳谷县"]
    assert [f.check for f in report.warnings] == ["encoding-detected"]


def test_shapefile_with_explicit_encoding(tmp_path):
    toml = WORKSPACE_TOML.replace('XZQ = "xzq.gpkg:XZQ"', 'XZQ = { source = "xzq.shp", encoding = "GBK" }')
    ws = _workspace(tmp_path, toml=toml)
    pyogrio.write_dataframe(gpd.read_file(tmp_path / "xzq.gpkg"), tmp_path / "xzq.shp", encoding="GBK")
    (tmp_path / "xzq.cpg").unlink(missing_ok=True)
    report = Report(strict=True)
    assert read_layer(ws, "XZQ", report=report)["XZQMC"].tolist() == ["东昌府区", "阳谷县"]
    assert not report.warnings


@pytest.mark.parametrize("suffix, driver", [(".gdb", "OpenFileGDB"), (".fgb", "FlatGeobuf"), (".parquet", "WKB"),
                                            (".parquet", "geoarrow")])
def test_other_formats(tmp_path, suffix, driver):
    layer = "" if suffix in (".fgb", ".parquet") else ":DLTB"
    toml = WORKSPACE_TOML.replace('DLTB = "bgdc_{year}.gpkg:DLTB"', f'DLTB = "dltb_{{year}}{suffix}{layer}"')
    ws = _workspace(tmp_path, toml=toml)
    frame = dltb_frame(2015)
    if suffix == ".parquet":  # GeoParquet stores shapes as WKB or in GeoArrow's native encoding
        frame.to_parquet(tmp_path / "dltb_2015.parquet", geometry_encoding=driver)
    else:
        pyogrio.write_dataframe(frame, tmp_path / f"dltb_2015{suffix}", layer="DLTB", driver=driver)
    loaded = read_layer(ws, "DLTB", 2015).sort_values("BSM")  # FlatGeobuf reorders features
    assert loaded["DLBM"].tolist() == ["013", "203", "012", "104"]
    assert loaded["TBDLMJ"].sum() == 39000.0
    assert loaded.crs.to_epsg() == 4527
    expected = frame.set_index("BSM").geometry
    assert shapely.equals(loaded.geometry.values, expected.loc[loaded["BSM"]].values).all()  # FileGDB: multipolygons


def test_glob_sources_read_each_file_in_its_own_zone(tmp_path):
    """A county delivered in zone 38 keeps its own statutory areas; geometry joins one CRS."""
    toml = WORKSPACE_TOML.replace('DLTB = "bgdc_{year}.gpkg:DLTB"', 'DLTB = "counties/*/bgdc_{year}.gpkg:DLTB"')
    ws = _workspace(tmp_path, toml=toml)
    east = dltb_frame(2015).iloc[2:]
    west = dltb_frame(2015).iloc[:2].to_crs("EPSG:4526")  # same land, zone 38 coordinates
    for code, part in (("371502", west), ("371521", east)):
        (tmp_path / "counties" / code).mkdir(parents=True)
        part.drop(columns=["TBMJ", "KCMJ", "TBDLMJ"]).to_file(
            tmp_path / "counties" / code / "bgdc_2015.gpkg", layer="DLTB")
    frame = read_layer(ws, "DLTB", 2015)
    assert len(frame) == 4 and frame.crs.to_epsg() == 4526  # the first file's CRS
    assert frame["source_file"].nunique() == 2
    # The zone-38 copy of a 100 m zone-39 square measures the same on the ellipsoid (< 1 mm²·10⁴).
    np.testing.assert_allclose(frame["TBMJ"].iloc[0], frame["TBMJ"].iloc[2], rtol=1e-6)


def test_geographic_crs_is_refused_with_the_fix(tmp_path):
    ws = _workspace(tmp_path)
    dltb_frame(2015).to_crs("EPSG:4490").to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    with pytest.raises(CRSError) as info:
        read_layer(ws, "DLTB", 2015)
    assert "bgdc_2015.gpkg" in str(info.value) and "EPSG:45" in str(info.value)


def test_missing_crs_inferred_from_zone_prefix(tmp_path):
    ws = _workspace(tmp_path)
    dltb_frame(2015).set_crs(None, allow_override=True).to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    report = Report(strict=True)
    frame = read_layer(ws, "DLTB", 2015, report=report)
    assert frame.crs.to_epsg() == 4527
    assert [f.check for f in report.warnings] == ["crs-inferred"]


def test_missing_crs_without_prefix_is_refused(tmp_path):
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015).to_crs("EPSG:4548").set_crs(None, allow_override=True)
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    with pytest.raises(CRSError, match="no coordinate reference system"):
        read_layer(ws, "DLTB", 2015)


def test_truncated_geopackage(tmp_path):
    ws = _workspace(tmp_path)
    path = tmp_path / "bgdc_2015.gpkg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataFileError, match="bgdc_2015.gpkg"):
        read_layer(ws, "DLTB", 2015)


def test_missing_layer_in_file_lists_the_layers(tmp_path):
    toml = WORKSPACE_TOML.replace("bgdc_{year}.gpkg:DLTB", "bgdc_{year}.gpkg:DLTB2")
    ws = _workspace(tmp_path, toml=toml)
    with pytest.raises(WorkspaceError, match=r"has no layer 'DLTB2' \(it has: .*DLTB"):
        read_layer(ws, "DLTB", 2015)


def test_invalid_geometry_repaired_with_a_counted_warning(tmp_path):
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015)
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    frame.loc[0, "geometry"] = bowtie
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    report = Report(strict=True)
    loaded = read_layer(ws, "DLTB", 2015, report=report)
    assert loaded.geometry.is_valid.all()
    warning = report.warnings[0]
    assert warning.check == "invalid-geometry-repaired" and warning.count == 1 and warning.ids == ("20150001",)
    assert loaded.geometry.iloc[0].area == pytest.approx(5000.0)  # two triangles of 2500 m²


def test_empty_geometry_is_an_error_naming_the_ids(tmp_path):
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015)
    frame.loc[1, "geometry"] = shapely.Polygon()
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    with pytest.raises(LayerError, match="'20150002'"):
        read_layer(ws, "DLTB", 2015)


def test_non_numeric_area_names_the_rows(tmp_path):
    ws = _workspace(tmp_path)
    (tmp_path / "zbph.csv").write_text("xzqdm,year,kind,area_mu\n371502,2016,占用,abc\n", encoding="utf-8")
    with pytest.raises(LayerError, match="row 2"):
        read_table(ws, "ZBPH")


def test_csv_in_gbk_is_read_with_a_warning(tmp_path):
    ws = _workspace(tmp_path)
    (tmp_path / "zbph.csv").write_bytes("xzqdm,year,kind,area_mu\n371502,2016,补充,2.5\n".encode("gbk"))
    report = Report(strict=True)
    frame = read_table(ws, "ZBPH", report=report)
    assert frame["kind"].tolist() == ["补充"] and frame["area_mu"].tolist() == [2.5]
    assert report.warnings[0].check == "encoding-detected"


def test_targets(tmp_path):
    ws = _workspace(tmp_path)
    targets = read_targets(ws)
    assert targets["xzqdm"].tolist() == ["371502", "371521"]
    assert targets["arable_target_mu"].tolist() == [13.0, 16.0]


def test_dates_in_both_formats(tmp_path):
    toml = WORKSPACE_TOML + 'JSYDSP = "approvals.gpkg:JSYDSP"\n'
    ws = _workspace(tmp_path, toml=toml)
    gpd.GeoDataFrame({"PZWH": ["鲁政土字〔2016〕1号", "鲁政土字〔2016〕2号"], "PZRQ": ["20160315", "2016-04-01"]},
                     geometry=[square(0), square(1)], crs="EPSG:4527").to_file(tmp_path / "approvals.gpkg",
                                                                               layer="JSYDSP")
    frame = read_layer(ws, "JSYDSP")
    assert frame["PZRQ"].tolist() == [pd.Timestamp("2016-03-15"), pd.Timestamp("2016-04-01")]


def test_inputs_are_not_modified(tmp_path):
    ws = _workspace(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    read_layer(ws, "DLTB", 2015)
    read_table(ws, "ZBPH")
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert before == after


def test_net_area_filled_cell_by_cell(tmp_path):
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015)
    frame["KCMJ"] = [None, 0.0, 0.0, 0.0]
    frame["TBDLMJ"] = [None, 10000.0, None, 10000.0]
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    loaded = read_layer(ws, "DLTB", 2015)
    # row 1: KCMJ = round(10000 × 0.1, 2) = 1000, TBDLMJ = 9000; row 3: TBDLMJ = 10000 − 0
    assert loaded["KCMJ"].tolist() == [1000.0, 0.0, 0.0, 0.0]
    assert loaded["TBDLMJ"].tolist() == [9000.0, 10000.0, 10000.0, 10000.0]


def test_bowtie_with_a_collapsed_hole_is_repaired_not_crashed(tmp_path):
    # make_valid's default turned this into a collection holding a MultiPolygon, which the old
    # repair step could not take apart (TypeError).
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015)
    frame.loc[0, "geometry"] = shapely.Polygon(
        [(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)],
        [[(X0 + 20, Y0 + 20), (X0 + 21, Y0 + 21), (X0 + 20, Y0 + 20)]])
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    report = Report(strict=True)
    loaded = read_layer(ws, "DLTB", 2015, report=report)
    assert loaded.geometry.iloc[0].geom_type == "MultiPolygon" and loaded.geometry.is_valid.all()
    assert loaded.geometry.iloc[0].area == pytest.approx(5000.0)


def test_blank_net_area_cells_are_filled_with_a_counted_warning(tmp_path):
    ws = _workspace(tmp_path)
    frame = dltb_frame(2015)
    frame["TBDLMJ"] = [None, 10000.0, 10000.0, 10000.0]
    frame.to_file(tmp_path / "bgdc_2015.gpkg", layer="DLTB")
    report = Report(strict=True)
    loaded = read_layer(ws, "DLTB", 2015, report=report)
    assert loaded["TBDLMJ"].iloc[0] == 9000.0
    [warning] = [f for f in report.warnings if f.check == "area-filled"]
    assert warning.field == "TBDLMJ" and warning.ids == ("20150001",)


def test_task_that_is_not_a_number_names_the_row(tmp_path):
    ws = _workspace(tmp_path)
    targets = pd.read_csv(tmp_path / "targets.csv", dtype=str)
    targets["hsf_task_mu_2018"] = ["1,200.5", "300"]
    targets.to_csv(tmp_path / "targets.csv", index=False)
    with pytest.raises(LayerError, match=r"hsf_task_mu_2018.*row 2"):
        read_targets(ws)


def test_store_serves_later_requests_from_the_first_read_as_copies(tmp_path, monkeypatch):
    from farmland.load import LayerStore

    ws = _workspace(tmp_path)
    reads = []
    real = pyogrio.read_arrow
    monkeypatch.setattr("farmland.layers.pyogrio.read_arrow",
                        lambda *a, **k: reads.append(k.get("columns")) or real(*a, **k))
    store = LayerStore(ws, cache=None)
    full = store.layer("DLTB", 2015)
    full.loc[0, "TBDLMJ"] = -1.0  # a caller's change must not leak to the next one
    subset = store.layer("DLTB", 2015, columns=["TBDLMJ"], geometry=False)
    assert len(reads) == 1
    assert subset["TBDLMJ"].iloc[0] == 9000.0 and "geometry" not in subset
    store.layer("DLTB", 2016, geometry=False)
    store.layer("DLTB", 2016, geometry=True)  # the first read did not cover geometry
    assert len(reads) == 3
    LayerStore(ws, cache=None).layer("DLTB", 2015)  # another run's store reads again
    assert len(reads) == 4
    assert {p.name for p in store.files_read()} == {"bgdc_2015.gpkg", "bgdc_2016.gpkg"}


def test_geoparquet_fields_differing_only_by_case_are_refused(tmp_path):
    """A GeoParquet with both DLBM and dlbm: which holds the classes is ambiguous, so it is an error."""
    from builders import WORKSPACE_TOML, dltb_frame, write_workspace

    from farmland.validate import validate_workspace

    toml = WORKSPACE_TOML.replace('DLTB = "bgdc_{year}.gpkg:DLTB"', 'DLTB = "dltb_{year}.parquet"')
    root = write_workspace(tmp_path / "ws", toml=toml)
    for year in range(2015, 2021):
        frame = dltb_frame(year)
        if year == 2017:
            frame["dlbm"] = "0101"  # a second land-class column that differs only by case
        frame.to_parquet(root / f"dltb_{year}.parquet")
    report = validate_workspace(root, check_areas=False)
    clash = [f for f in report.errors if f.check == "case-duplicate-field"]
    assert len(clash) == 1 and clash[0].year == 2017
    assert "dltb_2017.parquet" in clash[0].message and "DLBM" in clash[0].message and "dlbm" in clash[0].message


@pytest.mark.parametrize("arrow_type", ["date32", "timestamp_tz"])
def test_dates_stored_as_arrow_types_are_read(arrow_type):
    """GeoParquet keeps dates as Arrow date32 or zoned timestamps; they read as the wall-clock date
    (this crashed with "dt.tz is not supported" before)."""
    import datetime as dt

    import pyarrow as pa

    from farmland.layers import _parse_dates

    if arrow_type == "date32":
        values, typ = [dt.date(2018, 5, 1), None], pa.date32()
    else:
        values, typ = [dt.datetime(2018, 5, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=8))), None], \
            pa.timestamp("ms", tz="Asia/Shanghai")
    column = pd.Series(pd.array(values, dtype=pd.ArrowDtype(typ)))
    parsed = _parse_dates(column)
    assert parsed.dtype == "datetime64[ns]"
    assert parsed.iloc[0].date() == dt.date(2018, 5, 1) and pd.isna(parsed.iloc[1])
    if arrow_type == "timestamp_tz":
        assert parsed.iloc[0].hour == 12  # local time kept, not moved to UTC
