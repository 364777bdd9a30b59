"""`farmland validate`: clean workspaces pass; each kind of breakage is named with ids and a fix."""

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from farmland.cli import main
from farmland.validate import validate_workspace

from builders import X0, Y0, dltb_frame, write_workspace


@pytest.fixture
def ws(tmp_path):
    return write_workspace(tmp_path / "ws")


def _checks(report, severity="error"):
    return {f.check for f in report.findings if f.severity == severity}


def test_clean_workspace_has_no_errors_or_warnings(ws):
    report = validate_workspace(ws)
    assert report.ok, [f.render() for f in report.errors]
    assert not report.warnings, [f.render() for f in report.warnings]


def _rewrite_dltb(ws, year, change):
    frame = dltb_frame(year)
    change(frame)
    frame.to_file(ws / f"bgdc_{year}.gpkg", layer="DLTB", driver="GPKG")


@pytest.mark.parametrize(
    "change, check, ids",
    [
        (lambda f: f.__setitem__("BSM", ["a", "a", "b", "c"]), "duplicate-id", ("a",)),
        (lambda f: f.__setitem__("DLBM", ["013", "999", "012", "104"]), "unknown-code", ("20170002",)),
        (lambda f: f.__setitem__("KCMJ", [1000.0, 20000.0, 0.0, 0.0]), "deduction-exceeds-area", ("20170002",)),
        (lambda f: f.__setitem__("TBDLMJ", [9000.0, 9999.0, 10000.0, 10000.0]), "net-area-mismatch", ("20170002",)),
        (lambda f: f.__setitem__("TBMJ", [10000.0, -1.0, 10000.0, 10000.0]), "negative-area", ("20170002",)),
        (lambda f: f.__setitem__("ZLDWDM", ["3715021010010000000", "3799991010020000000",
                                            "3715211020010000000", "3715211020010000000"]),
         "unknown-unit", ("20170002",)),
    ],
)
def test_attribute_errors_name_the_ids(ws, change, check, ids):
    _rewrite_dltb(ws, 2017, change)
    report = validate_workspace(ws)
    found = [f for f in report.errors if f.check == check]
    assert found, [f.render() for f in report.findings]
    assert found[0].year == 2017 and found[0].ids[: len(ids)] == ids


def test_overlapping_parcels_are_an_error(ws):
    def overlap(frame):
        frame.loc[1, "geometry"] = shapely.box(X0 + 50, Y0, X0 + 200, Y0 + 100)
    _rewrite_dltb(ws, 2018, overlap)
    report = validate_workspace(ws)
    found = [f for f in report.errors if f.check == "overlap"]
    assert found and found[0].count == 1 and "5000.00 m²" in found[0].message


def test_area_gap_is_a_warning(ws):
    _rewrite_dltb(ws, 2016, lambda f: f.__setitem__("geometry", f.geometry.scale(0.9, 0.9)))
    report = validate_workspace(ws)
    assert report.ok
    assert "area-gap" in _checks(report, "warning")


def test_unit_without_targets_and_year_outside_period(ws):
    targets = pd.read_csv(ws / "targets.csv", dtype=str).iloc[:1]
    targets.to_csv(ws / "targets.csv", index=False)
    (ws / "zbph.csv").write_text("xzqdm,year,kind,area_mu\n371502,2031,占用,1\n", encoding="utf-8")
    report = validate_workspace(ws)
    assert {"missing-target", "year-outside-period"} <= _checks(report)


def test_missing_year_file(ws):
    (ws / "bgdc_2019.gpkg").unlink()
    report = validate_workspace(ws)
    missing = [f for f in report.errors if f.check == "missing-file"]
    assert {f.year for f in missing} == {2019} and "bgdc_2019.gpkg" in missing[0].message


def test_cli_exit_codes_and_no_traceback(ws):
    runner = CliRunner()
    result = runner.invoke(main, ["validate", str(ws), "--no-area-check"])
    assert result.exit_code == 0, result.output
    assert "OK, no errors" in result.output
    _rewrite_dltb(ws, 2017, lambda f: f.__setitem__("DLBM", ["013", "999", "012", "104"]))
    result = runner.invoke(main, ["validate", str(ws), "--no-area-check"])
    assert result.exit_code == 1
    assert "'999' ×1" in result.output and "Traceback" not in result.output


def test_cli_bad_toml_exits_1(ws):
    (ws / "farmland.toml").write_text("[city\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(ws)])
    assert result.exit_code == 1 and "not valid TOML" in result.output and "Traceback" not in result.output


def test_parcels_are_checked_for_overlap_in_their_own_zone(tmp_path):
    """A zone-38 county read beside a zone-39 one: its split edges must not look like overlaps.

    Two 2 km × 1 km parcels share an edge; one carries an extra vertex in the middle of it (as a
    split leaves). Straight in zone 38, that edge bends by ~1 mm in zone 39, which would look like
    a 0.4 m² overlap if checked there.
    """
    import geopandas as gpd
    from builders import WORKSPACE_TOML

    toml = WORKSPACE_TOML.replace('DLTB = "bgdc_{year}.gpkg:DLTB"', 'DLTB = "counties/*/dltb_{year}.gpkg:DLTB"')
    root = write_workspace(tmp_path / "ws", toml=toml)
    x, y = 38_400_000.0, 4_000_000.0  # zone 38, ~112.9°E: well away from CM 114°E and 117°E
    left = shapely.box(x, y, x + 2000, y + 1000)
    right = shapely.Polygon([(x + 2000, y), (x + 4000, y), (x + 4000, y + 1000), (x + 2000, y + 1000),
                             (x + 2000, y + 500)])
    west = dltb_frame(2016).iloc[:2].copy()
    west["geometry"] = [left, right]
    west = west.set_crs("EPSG:4526", allow_override=True)
    east = dltb_frame(2016).iloc[2:]
    for code, part in (("a_371521", east), ("b_371502", west)):  # the zone-39 file sorts first
        (root / "counties" / code).mkdir(parents=True)
        for year in range(2015, 2021):
            part.assign(SJNF=year).to_file(root / "counties" / code / f"dltb_{year}.gpkg", layer="DLTB")
    report = validate_workspace(root, check_areas=False)
    assert "overlap" not in _checks(report), [f.render() for f in report.errors]
    # …while in zone 39 the two really do appear to overlap: the check is not vacuous.
    moved = gpd.GeoSeries([left, right], crs="EPSG:4526").to_crs("EPSG:4527").values
    assert shapely.area(shapely.intersection(moved[0], moved[1])) > 0.3


def test_project_mapped_as_several_features_is_a_warning(ws):
    import geopandas as gpd

    from builders import square

    gpd.GeoDataFrame({"XMBH": ["GB1", "GB1"], "XZQDM": ["371502", "371502"], "JSNF": [2016, 2016],
                      "JSMJ": [5000.0, 5000.0]}, geometry=[square(0), square(1)], crs="EPSG:4527"
                     ).to_file(ws / "hsf.gpkg", layer="GBZNT")
    toml = (ws / "farmland.toml").read_text(encoding="utf-8") + 'GBZNT = "hsf.gpkg:GBZNT"\n'
    (ws / "farmland.toml").write_text(toml, encoding="utf-8")
    report = validate_workspace(ws, check_areas=False)
    assert report.ok and "repeated-project" in _checks(report, "warning")


def test_rectified_area_above_the_illegal_area_is_an_error(tmp_path):
    import geopandas as gpd

    from builders import CRS, WORKSPACE_TOML, square

    root = write_workspace(tmp_path / "ws", toml=WORKSPACE_TOML + 'WPZF = "wpzf.gpkg:WPZF"\n')
    gpd.GeoDataFrame({"JCBH": ["J1", "J2"], "XZQDM": ["371502", "371521"], "JCNF": [2016, 2016],
                      "XZJSYDMJ": [1000.0, 1000.0], "ZYGDMJ": [1000.0, 1000.0],
                      "WFZYGDMJ": [100.0, 100.0], "ZGZT": ["已整改", "整改完毕"],
                      "ZGMJ": [150.0, 100.0]},
                     geometry=[square(0), square(2)], crs=CRS).to_file(root / "wpzf.gpkg", layer="WPZF")
    report = validate_workspace(root, check_areas=False)
    over = [f for f in report.errors if f.check == "rectified-exceeds-illegal"]
    assert len(over) == 1 and over[0].ids == ("J1",) and over[0].year == 2016
    odd = [f for f in report.warnings if f.field == "ZGZT"]
    assert len(odd) == 1 and odd[0].ids == ("J2",)


def test_county_targets_not_adding_up_to_the_city_targets_is_a_warning(tmp_path):
    from builders import WORKSPACE_TOML

    # builders: arable 13 + 16 = 29 亩, basic farmland 13.5 + 0 = 13.5 亩
    toml = WORKSPACE_TOML.replace('name = "聊城市"\n', 'name = "聊城市"\narable_target_mu = 29\n'
                                  'basic_farmland_target_mu = 10013.5\n')
    root = write_workspace(tmp_path / "ws", toml=toml)
    report = validate_workspace(root, check_areas=False)
    gaps = [f for f in report.warnings if f.check == "city-target-mismatch"]
    assert len(gaps) == 1 and gaps[0].field == "basic_farmland_target_mu"
    assert "10,000.00 亩 (1.0000 万亩) below" in gaps[0].message


def test_targets_may_carry_one_row_per_basis(tmp_path):
    root = write_workspace(tmp_path / "ws")
    (root / "targets.csv").write_text(
        "xzqdm,xzqmc,arable_target_mu,basic_farmland_target_mu,basis\n"
        "371502,东昌府区,13,13.5,二调\n371502,东昌府区,12,13,三调\n371521,阳谷县,16,0,\n"
        "371521,阳谷县,16,0,二调\n", encoding="utf-8")
    report = validate_workspace(root, check_areas=False)
    dup = [f for f in report.errors if f.check == "duplicate-id"]
    assert len(dup) == 1 and dup[0].ids == ("371521",)  # blank basis = 二调: twice


def test_unchanged_parcels_keep_last_years_results(generated_workspace, tmp_path, monkeypatch):
    """Later snapshots check only changed parcels, yet report exactly what a full check reports.

    An overlap and a wrong TBMJ planted in every year's file of one county are found in every
    year: the first year by measurement, the later ones (parcels unchanged) by carrying the
    result over. A full check of each year (no parcel recognised as unchanged) agrees.
    """
    import shutil

    import pyogrio

    from farmland.validate import validate_workspace

    ws = shutil.copytree(generated_workspace, tmp_path / "ws")
    files = sorted(ws.glob("counties/371524/bgdc_*.gpkg"))
    assert len(files) >= 3
    for path in files:
        frame = pyogrio.read_dataframe(path, layer="DLTB")
        frame.loc[frame.index[1], "geometry"] = frame.geometry.iloc[0].buffer(-0.5)  # inside parcel 0
        frame.loc[frame.index[2], "TBMJ"] = frame.loc[frame.index[2], "TBMJ"] * 1.2
        pyogrio.write_dataframe(frame, path, layer="DLTB")

    def summary(report):
        return sorted((f.severity, f.check, f.year, f.count, f.ids) for f in report.findings
                      if f.layer == "DLTB" and f.check in ("overlap", "area-gap", "zone-slivers"))

    incremental = summary(validate_workspace(ws))
    years = {year for _, check, year, _, _ in incremental if check == "overlap"}
    assert len(years) == len(files)
    assert {year for _, check, year, _, _ in incremental if check == "area-gap"} == years
    calls = iter(range(1, 100))
    monkeypatch.setattr("farmland.validate._fingerprints",  # every parcel new in every year
                        lambda frame: np.arange(len(frame), dtype=np.uint64) + np.uint64(next(calls) * 10**7))
    assert summary(validate_workspace(ws)) == incremental


def test_rasters_that_say_nothing_are_errors(generated_workspace, tmp_path):
    """All nodata, outside the city, or a single cell: refused with the file named, not an empty figure."""
    import shutil

    import rasterio
    from rasterio.transform import from_origin

    ws = shutil.copytree(generated_workspace, tmp_path / "ws")

    def rewrite(year, change):
        path = ws / f"landcover_{year}.tif"
        with rasterio.open(path) as src:
            profile, data = src.profile, src.read(1)
        profile, data = change(profile, data)
        profile.update(width=data.shape[1], height=data.shape[0])
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)

    def all_nodata(profile, data):
        profile["nodata"] = 0
        return profile, np.zeros_like(data)

    def far_away(profile, data):
        t = profile["transform"]
        profile["transform"] = from_origin(t.c + 2_000_000, t.f, t.a, -t.e)
        return profile, data

    def one_cell(profile, data):
        return profile, data[:1, :1]

    rewrite(2016, all_nodata)
    rewrite(2017, far_away)
    rewrite(2018, one_cell)
    report = validate_workspace(ws, check_areas=False)
    found = {(f.check, f.year) for f in report.errors if f.layer == "LANDCOVER"}
    assert found == {("empty-raster", 2016), ("off-site-raster", 2017), ("degenerate-raster", 2018)}
    assert all(f"landcover_{f.year}.tif" in f.message for f in report.errors if f.layer == "LANDCOVER")


def test_county_codes_are_the_first_six_characters_and_blank_where_missing():
    from farmland.validate import county_codes

    codes = pd.Series(["371521100000", None, "371502", "37152", "371521200001"], index=[5, 6, 7, 8, 9])
    assert county_codes(codes).tolist() == ["371521", "", "371502", "37152", "371521"]
    assert county_codes(codes).index.tolist() == [5, 6, 7, 8, 9]
    assert county_codes(pd.Series([], dtype=object)).tolist() == []


# The attribute checks work on the distinct values of text columns; these pin what they report.

def _report():
    from farmland.report import Report

    return Report(strict=False)


@pytest.mark.parametrize(
    "values, missing, repeated",
    [
        (["a", "b", "c"], 0, ()),
        (["", "a", "b"], 1, ()),  # sorted: only the first can be blank
        ([None], 1, ()),  # a lone id is "increasing" even when missing
        (["b", None, "a", "", "a"], 2, ("a",)),
        (["a", "a", "b", "c"], 0, ("a",)),
    ],
)
def test_ids_checks_count_blank_and_repeated_ids(values, missing, repeated):
    from farmland.validate import _ids_checks

    report = _report()
    _ids_checks(pd.DataFrame({"BSM": pd.Series(values, dtype=object)}), "BSM", "DLTB", 2017, report)
    found = {f.check: f for f in report.findings}
    assert (found["missing-id"].count if "missing-id" in found else 0) == missing
    assert (found["duplicate-id"].ids if "duplicate-id" in found else ()) == repeated


def test_code_checks_name_unknown_codes_and_the_other_scheme(ws):
    from farmland.validate import _code_checks
    from farmland.workspace import Workspace

    codes = pd.Series(["0101", "011", None, " 0101", "0199", "012", "0101"], name="DLBM", dtype=object)
    ids = pd.Series([f"p{i}" for i in range(len(codes))])
    report = _report()
    _code_checks(Workspace.load(ws), codes, ids, "DLTB", "DLBM", 2020, report)
    unknown, other = report.findings
    assert unknown.check == "unknown-code" and unknown.ids == ("p2", "p4") and "'' ×1, '0199' ×1" in unknown.message
    assert other.check == "scheme-mismatch" and other.ids == ("p1", "p5")
    assert other.message.startswith("2 DLBM codes belong to the erdiao scheme")


def test_zldwdm_length_and_one_source_per_county(ws):
    from farmland.layers import SOURCE_COLUMN

    def two_files(frame):
        frame["ZLDWDM"] = ["3715021010010000000", "37150210100100", "3715211020010000000", None]
    _rewrite_dltb(ws, 2017, two_files)
    from farmland.load import LayerStore
    from farmland.validate import _one_source_per_county, _UnitCodes
    from farmland.workspace import Workspace

    report = validate_workspace(ws)
    short = [f for f in report.warnings if f.check == "code-length"]
    assert len(short) == 1 and short[0].year == 2017 and short[0].ids == ("20170002",)
    frame = LayerStore(Workspace.load(ws), cache=None).layer("DLTB", 2017)
    frame[SOURCE_COLUMN] = pd.Categorical(["b.gpkg", "a.gpkg", "a.gpkg", "c.gpkg"])
    report = _report()
    _one_source_per_county(frame, _UnitCodes(frame["ZLDWDM"]), "DLTB", 2017, report)
    (found,) = report.findings  # county "" (the parcel without a code) is not one
    assert found.check == "duplicate-source" and found.ids == ("371502",) and "(a.gpkg, b.gpkg)" in found.message
