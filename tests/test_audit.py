"""The audit (issue 12): planted problems are found, clean parcels stay (almost) clean, runs verify.

One generated workspace (``farmland.sample``, 200 parcels, seed 0: the session's
``generated_workspace``) is copied per case. The planted copy breaks it the way the issue lists: wrong TBMJ on three parcels,
a basic-farmland parcel whose land is recorded as construction, built-up pixels painted over
three arable parcels, and a county (临清市 371581, derived ratio exactly 15 % in 2019) whose
monitoring parcels report no illegal occupation. Every other finding of the planted run is
checked against the raw files by a simpler, independent rule; at most 5 % may fail it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from farmland.audit import AuditOptions, audit_workspace, write_audit
from farmland.audit.landcover import class_fractions
from farmland.audit.manifest import verify_output
from farmland.cli import main

YEAR = 2019
HIDDEN_UNIT = "371581"


@pytest.fixture(scope="session")
def generated(generated_workspace) -> Path:
    return generated_workspace


def copy_of(generated: Path, tmp_path: Path, name: str = "ws") -> Path:
    target = tmp_path / name
    shutil.copytree(generated, target)
    return target


# -- planting ---------------------------------------------------------------------------------------


def rewrite(path: Path, layer: str, change) -> None:
    frame = pyogrio.read_dataframe(path, layer=layer)
    frame = change(frame)
    pyogrio.write_dataframe(frame, path, layer=layer)


def plant(root: Path) -> dict[str, set[str]]:
    """Break the workspace; return the ids of each planted problem."""
    planted: dict[str, set[str]] = {}

    def wrong_tbmj(frame):
        rows = frame.index[frame["TBMJ"] > 1e6][:3]
        frame.loc[rows, "TBMJ"] = (frame.loc[rows, "TBMJ"] * 1.03).round(2)
        frame.loc[rows, "KCMJ"] = (frame.loc[rows, "TBMJ"] * frame.loc[rows, "KCXS"]).round(2)
        frame.loc[rows, "TBDLMJ"] = (frame.loc[rows, "TBMJ"] - frame.loc[rows, "KCMJ"]).round(2)
        planted["area.tbmj"] = {f"DLTB:{b}" for b in frame.loc[rows, "BSM"]}
        return frame

    rewrite(root / "counties/371523/bgdc_2019.gpkg", "DLTB", wrong_tbmj)

    bf_path = root / "counties/371524/bgdc_2019.gpkg"
    bf = pyogrio.read_dataframe(bf_path, layer="YJJBNTTB")

    def built_on_bf(frame):
        under = frame.geometry.values
        tree = shapely.STRtree(under)
        _, hit = tree.query(bf.geometry.values[:1], predicate="intersects")
        areas = shapely.area(shapely.intersection(under[hit], bf.geometry.values[0]))
        row = frame.index[hit[np.argmax(areas)]]
        frame.loc[row, ["DLBM", "DLMC", "ZZSXDM"]] = ["0702", "农村宅基地", None]
        planted["bf.construction"] = {f"DLTB:{frame.loc[row, 'BSM']}"}
        return frame

    rewrite(bf_path, "DLTB", built_on_bf)

    arable_path = root / "counties/371522/bgdc_2019.gpkg"
    parcels = pyogrio.read_dataframe(arable_path, layer="DLTB")
    chosen = parcels[parcels["DLBM"].isin(["0101", "0102", "0103"]) & (parcels["TBMJ"] > 2e6)].iloc[:3]
    planted["landcover.arable_built"] = {f"DLTB:{b}" for b in chosen["BSM"]}
    raster = root / f"landcover_{YEAR}.tif"
    with rasterio.open(raster) as src:
        values, profile = src.read(1), src.profile
        geoms = chosen.to_crs(src.crs).geometry.values
        rows, cols = np.indices(values.shape)
        x, y = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel())
    inside = np.zeros(values.size, dtype=bool)
    for geom in geoms:  # three parcels
        inside |= shapely.contains_xy(geom, np.asarray(x), np.asarray(y))
    values.ravel()[inside] = 2
    with rasterio.open(raster, "w", **profile) as dst:
        dst.write(values, 1)

    def hide(frame):
        frame.loc[frame["XZQDM"] == HIDDEN_UNIT, "WFZYGDMJ"] = 0.0
        return frame

    rewrite(root / f"wpzf_{YEAR}.gpkg", "WPZF", hide)
    planted["occupation.underreported"] = {HIDDEN_UNIT}
    return planted


@pytest.fixture(scope="module")
def planted_run(generated, tmp_path_factory):
    root = copy_of(generated, tmp_path_factory.mktemp("planted"))
    planted = plant(root)
    return root, planted, audit_workspace(root, YEAR)


# -- independent checks of findings on clean parcels ---------------------------------------------------


def raw(root: Path, pattern: str, layer: str) -> pd.DataFrame:
    frames = [pyogrio.read_dataframe(p, layer=layer, read_geometry=False) for p in sorted(root.glob(pattern))]
    return pd.concat(frames, ignore_index=True)


def confirmed(root: Path, row) -> bool:
    """A simpler rule over the raw files agrees with the finding."""
    ids = str(row["ids"]).split(";")
    related = str(row["related_ids"]).split(";")
    check = row["check"]
    if check in ("bf.non_grain", "bf.abandoned"):
        dltb = raw(root, f"counties/*/bgdc_{YEAR}.gpkg", "DLTB").set_index("BSM")
        code = {"bf.non_grain": "FLS", "bf.abandoned": "WG"}[check]
        return all(dltb.loc[i.split(":")[1], "ZZSXDM"] == code for i in ids if i.startswith("DLTB:"))
    if check == "bf.lost":
        before = raw(root, f"counties/*/bgdc_{YEAR - 1}.gpkg", "YJJBNTTB").set_index("BSM")
        after = raw(root, f"counties/*/bgdc_{YEAR}.gpkg", "YJJBNTTB").set_index("BSM")
        bsm = ids[0].split(":")[1]
        net = "YJJBNTMJ" if "YJJBNTMJ" in after else "JBNTMJ"
        return bsm in before.index and (bsm not in after.index or after.loc[bsm, net] < before.loc[bsm, "JBNTMJ"])
    if check == "occupation.unapproved":
        wpzf = pyogrio.read_dataframe(root / f"wpzf_{YEAR}.gpkg", layer="WPZF", read_geometry=False).set_index("JCBH")
        return any(i.startswith("WPZF:") and wpzf.loc[i.split(":")[1], "WFZYGDMJ"] > 0 for i in related)
    if check == "hsf.occupied":
        hsf = pyogrio.read_dataframe(root / "hsf.gpkg", layer="GBZNT", read_geometry=False).set_index("XMBH")
        return all(hsf.loc[i.split(":")[1], "JSNF"] < YEAR for i in related if i.startswith("GBZNT:"))
    return False


def test_every_planted_problem_is_found(planted_run):
    _, planted, result = planted_run
    table = result.table()
    for check, ids in planted.items():
        if check == "occupation.underreported":
            hit = table[(table["check"] == check) & (table["xzqdm"] == HIDDEN_UNIT)]
            assert len(hit) == 1 and hit["severity"].iloc[0] == "error", table[table["check"] == check]
            assert "15%" in hit["explanation"].iloc[0]
            assert "WPZF:" in hit["related_ids"].iloc[0] and "DLTBGXGC:" in hit["ids"].iloc[0]
        else:
            assert ids <= result.ids(check), (check, ids, result.ids(check))


def test_few_false_findings_on_clean_parcels(planted_run):
    root, planted, result = planted_run
    planted_ids = set().union(*planted.values())
    table = result.table()
    on_parcels = table[table["ids"].str.contains("DLTB:|JBNTTB:|DLTBGXGC:", regex=True)]
    # The hidden county's monitoring parcels were emptied: its occupation findings are planted too.
    clean = on_parcels[~on_parcels.apply(
        lambda r: bool(set(f"{r['ids']};{r['related_ids']}".split(";")) & planted_ids)
        or (r["check"].startswith("occupation.") and r["xzqdm"] == HIDDEN_UNIT), axis=1)]
    assert len(clean) >= 10, "the clean parcels should carry the generator's own true findings"
    false = clean[~clean.apply(lambda r: confirmed(root, r), axis=1)]
    assert len(false) <= 0.05 * len(clean), false[["check", "ids", "explanation"]].to_string()


def test_clean_workspace_has_no_area_or_landcover_suspects(generated):
    result = audit_workspace(generated, YEAR, checks=["areas", "landcover"])
    assert result.table().empty, result.table()[["check", "ids", "explanation"]].to_string()
    assert result.landcover_method == "exact"
    assert result.fractions is not None and len(result.fractions) > 100


# -- hand-checked cases on the tiny city -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_city import write_tiny_city

    return write_tiny_city(tmp_path_factory.mktemp("tiny") / "city")


def test_tiny_city_occupation_findings(tiny):
    # The tiny city is a hand-made fixture for metrics, with deliberate data errors: no validation.
    result = audit_workspace(tiny, 2016, checks=["occupation"], validate=False)
    t = result.table()
    # a1 → 202 (x 0–50): approvals J1 (from 2016-03-01) and J1b cover x 0–25; half is unapproved.
    a1 = t[(t["check"] == "occupation.unapproved") & t["ids"].str.startswith("DLTBGXGC:a1")]
    assert len(a1) == 1
    assert a1["value"].iloc[0] == pytest.approx(2250.0)  # 5000 m² × (1 − 0.10) × half
    # b1 → 203 on 2016-09-01; J2 approved 2016-12-01: used before approval.
    late = t[t["check"] == "occupation.before_approval"]
    assert list(late["related_ids"]) == ["JSYDSP:J2"]
    assert late["difference"].iloc[0] == pytest.approx(91.0)


def test_class_fractions_exact_and_centre(tiny):
    # Tiny raster: 10 m cells, cropland (1) west of x = 250 m, built-up (2) east of it.
    from tiny_city import CRS, box

    shapes = np.array([box(0, 0, 100, 100), box(230, 0, 280, 100), box(243, 3, 262, 48), box(251, 1, 259, 9)],
                      dtype=object)
    classes = {"cropland": (1,), "built": (2,)}
    exact = class_fractions(shapes, tiny / "landcover_2016.tif", classes, method="exact", crs=CRS)
    assert exact["cropland_m2"].tolist() == pytest.approx([10000, 2000, 7 * 45, 0])
    assert exact["built_m2"].tolist() == pytest.approx([0, 3000, 12 * 45, 64])
    centre = class_fractions(shapes, tiny / "landcover_2016.tif", classes, method="centre", crs=CRS)
    # Centre rule: whole pixels whose centres are inside (the 8 m square holds one centre).
    assert centre["cropland_m2"].tolist() == pytest.approx([10000, 2000, 500, 0])
    assert centre["built_m2"].tolist() == pytest.approx([0, 3000, 500, 100])
    assert exact.attrs["method"] == "exact" and centre.attrs["method"] == "centre"


def test_class_fractions_match_exactextract(tiny):
    exactextract = pytest.importorskip("exactextract")
    import geopandas as gpd
    from tiny_city import CRS, box

    shapes = [box(0, 0, 100, 100), box(230, 0, 280, 100), box(243, 3, 262, 48),
              shapely.affinity.rotate(box(200, 20, 300, 70), 17)]
    frame = gpd.GeoDataFrame({"i": range(len(shapes))}, geometry=shapes, crs=CRS)
    ours = class_fractions(frame.geometry.values, tiny / "landcover_2016.tif", {"cropland": (1,), "built": (2,)},
                           method="exact", crs=CRS)
    theirs = exactextract.exact_extract(str(tiny / "landcover_2016.tif"), frame, ["unique", "frac", "count"],
                                        output="pandas")
    for value, name in ((1, "cropland"), (2, "built")):
        expected = [dict(zip(u, f, strict=True)).get(value, 0.0) * c * 100.0  # 10 m pixels
                    for u, f, c in zip(theirs["unique"], theirs["frac"], theirs["count"], strict=True)]
        assert ours[f"{name}_m2"].tolist() == pytest.approx(expected, rel=1e-6)



def test_class_fractions_exact_cells_as_geos_clips_them_and_nodata_left_out(tmp_path):
    # Each (parcel, cell) area is the parcel moved to its cell and clipped, as GEOS clips it, for
    # holes, several parts and mixed inputs alike (to rounding: the sums differ in the last bit).
    from rasterio.transform import from_origin

    values = np.array([[1, 2, 0, 1], [2, 1, 1, 0], [1, 1, 2, 2]], dtype="uint8")  # 0 = nodata
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=1, dtype="uint8", nodata=0,
                       transform=from_origin(500000.0, 4000030.0, 10.0, 10.0)) as out:
        out.write(values, 1)
    holed = shapely.Polygon([(500001.3, 4000001.7), (500028.9, 4000002.2), (500027.4, 4000026.6),
                             (500002.1, 4000025.3)], [[(500011.1, 4000011.2), (500016.6, 4000011.9),
                                                       (500015.2, 4000017.7)]])
    parts = shapely.MultiPolygon([shapely.box(500021.5, 4000003.5, 500033.25, 4000008.75),
                                  shapely.affinity.rotate(shapely.box(500031, 4000012, 500038, 4000029), 23)])
    shapes = np.array([holed, None, parts, shapely.Polygon(), shapely.box(500000.5, 4000020.5, 500009.5, 4000029.5)],
                      dtype=object)
    got = class_fractions(shapes, path, {"cropland": (1,), "built": (2,)}, method="exact")

    expected = np.zeros((len(shapes), 3))  # cropland, built, covered: summed cell by cell in turn
    for i, shape in enumerate(shapes):
        if shape is None or shape.is_empty:
            continue
        for row in range(3):
            for col in range(4):
                if values[row, col] == 0:
                    continue
                xmin, ymin = 500000.0 + col * 10.0, 4000030.0 - (row + 1) * 10.0
                moved = shapely.transform(shape, lambda c: c - np.array([xmin, ymin]))  # noqa: B023
                area = shapely.area(shapely.clip_by_rect(moved, 0.0, 0.0, 10.0, 10.0))
                if area > 0:
                    expected[i, values[row, col] - 1] += area
                    expected[i, 2] += area
    for column, want in zip(("cropland_m2", "built_m2", "covered_m2"), expected.T, strict=True):
        np.testing.assert_allclose(got[column], want, rtol=1e-13, atol=1e-9)
    assert got.loc[[1, 3], "covered_m2"].tolist() == [0.0, 0.0]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(-30, 30), st.floats(-30, 30), st.floats(1, 25), st.floats(0, 90),
                          st.booleans()), min_size=1, max_size=4),
       st.floats(-20, 20), st.floats(-20, 20))
def test_cell_areas_are_the_areas_geos_clips(parts, cell_x, cell_y):
    """The numpy clipping gives, for every (parcel, cell) pair at once, the area GEOS's rectangle
    clipping gives one pair at a time: rotated squares, with or without a hole, as polygons and
    multipolygons, in cells they cover, straddle or miss."""
    from farmland.audit.landcover import _cell_areas, _Rings

    polygons = []
    for x, y, size, angle, holed in parts:
        square = shapely.affinity.rotate(shapely.box(x, y, x + size, y + size), angle)
        if holed:
            square = square.difference(square.centroid.buffer(size / 4, quad_segs=2))
        polygons.append(square)
    # The parts of a multipolygon set apart (a valid one), the first where the cells are.
    spread = shapely.MultiPolygon([shapely.affinity.translate(g, 200.0 * i) for i, g in enumerate(polygons)])
    shapes = np.array([*polygons, spread], dtype=object)
    offsets = np.array([(dx, dy) for dx in (-10.0, 0.0, 10.0) for dy in (-10.0, 0.0, 10.0)])
    parcel = np.repeat(np.arange(len(shapes)), len(offsets))
    xmin = cell_x + np.tile(offsets[:, 0], len(shapes))
    ymin = cell_y + np.tile(offsets[:, 1], len(shapes))
    got = _cell_areas(_Rings(shapes), parcel, xmin, ymin, 10.0, 10.0)
    expected = [shapely.area(shapely.clip_by_rect(shapes[p], x, y, x + 10.0, y + 10.0))
                for p, x, y in zip(parcel, xmin, ymin, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


# -- outputs, manifest and verify --------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(generated, tmp_path_factory):
    root = copy_of(generated, tmp_path_factory.mktemp("verify"))
    out = tmp_path_factory.mktemp("verify-out") / "audit"
    result = CliRunner().invoke(main, ["-q", "audit", str(root), "--year", str(YEAR), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return root, out


def test_audit_writes_findings_and_manifest(written):
    import json

    _, out = written
    names = sorted(p.name for p in out.iterdir())
    assert names == ["findings.csv", "findings.gpkg", "findings.xlsx", "landcover_fractions.csv", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "audit" and manifest["parameters"]["year"] == YEAR
    assert manifest["parameters"]["options"]["area_tolerance"] == 0.005
    assert set(manifest["outputs_sha256"]) == set(names) - {"manifest.json"}
    table = pd.read_csv(out / "findings.csv", dtype=str)
    shapes = pyogrio.read_dataframe(out / "findings.gpkg")
    assert len(table) == len(shapes) > 0
    assert list(table["finding_id"]) == list(shapes["finding_id"])


def test_verify_passes_untouched_and_reruns(written):
    _, out = written
    outcome = verify_output(out)
    assert outcome.ok and outcome.rerun, outcome.render()


@pytest.mark.parametrize("target", ["findings.csv", "findings.gpkg", "manifest-input"])
def test_verify_names_a_changed_byte(written, tmp_path, target):
    root, out = written
    folder = tmp_path / "copy"
    shutil.copytree(out, folder)
    if target == "manifest-input":
        path, name = root / "zbph.csv", "zbph.csv"
    else:
        path, name = folder / target, target
    original = path.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    try:
        result = CliRunner().invoke(main, ["verify", str(folder), "--no-rerun"])
    finally:
        path.write_bytes(original)
    assert result.exit_code == 1, result.output
    assert f"{name}: changed" in result.output


def test_verify_rerun_says_how_an_output_differs(written, tmp_path):
    # A published file edited and its manifest hash updated to match: only the re-run can tell.
    import hashlib
    import json

    _, out = written
    folder = tmp_path / "edited"
    shutil.copytree(out, folder)
    csv = folder / "findings.csv"
    text = csv.read_text(encoding="utf-8-sig").replace("error", "info", 1)
    csv.write_text(text, encoding="utf-8-sig")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["outputs_sha256"]["findings.csv"] = hashlib.sha256(csv.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    outcome = verify_output(folder)
    assert not outcome.ok
    assert [d.path for d in outcome.differences] == ["findings.csv"]
    assert "line" in outcome.differences[0].how


def test_missing_raster_skips_or_fails(generated, tmp_path):
    root = copy_of(generated, tmp_path)
    (root / f"landcover_{YEAR}.tif").unlink()
    # The raster's check is skipped with a note, the others run. (Not "ledger": the metrics it reads
    # still treat a missing raster of an assessed year as an error.)
    result = audit_workspace(root, YEAR, checks=["areas", "basic_farmland", "occupation", "landcover"])
    skipped = result.table()[result.table()["category"] == "landcover"]
    assert list(skipped["check"]) == ["landcover.skipped"] and result.fractions is None
    assert not result.table()[result.table()["category"] == "basic_farmland"].empty
    out = CliRunner().invoke(main, ["audit", str(root), "--year", str(YEAR), "--check", "landcover",
                                    "-o", str(tmp_path / "out")])
    assert out.exit_code == 1 and "LANDCOVER" in out.output, out.output
    assert not (tmp_path / "out").exists()


def test_declared_figures_checked(generated, tmp_path):
    from farmland.pipeline import run_metrics

    wide = run_metrics(generated, year=YEAR)
    declared = wide[["xzqdm", "year", "arable_mu", "illegal_arable_mu"]].copy()
    declared.loc[declared["xzqdm"] == "371522", "arable_mu"] += 500.0   # declared 500 亩 too much
    declared.loc[declared["xzqdm"] == "371521", "arable_mu"] += 0.5     # within tolerance
    path = tmp_path / "declared.csv"
    declared.to_csv(path, index=False)
    result = audit_workspace(generated, YEAR, checks=["declared"], declared=path)
    t = result.table()
    assert list(t["check"]) == ["declared.mismatch"] and list(t["xzqdm"]) == ["371522"]
    assert t["difference"].iloc[0] == pytest.approx(500.0)
    with pytest.raises(ValueError, match="arable_muu"):
        audit_workspace(generated, YEAR, checks=["declared"],
                        declared=declared.rename(columns={"arable_mu": "arable_muu"}))


def test_options_are_validated():
    with pytest.raises(ValueError, match="did you mean 'area_tolerance'"):
        AuditOptions.from_dict({"area_tolerence": 0.1})
    with pytest.raises(ValueError, match="landcover_method"):
        AuditOptions(landcover_method="nearest")


def test_write_audit_refuses_existing(planted_run, tmp_path):
    _, _, result = planted_run  # any audit's result: the module's is there already
    out = write_audit(result, tmp_path / "a")
    with pytest.raises(OSError, match="--overwrite"):
        write_audit(result, out)


# -- the field-check sample --------------------------------------------------------------------------


@pytest.mark.parametrize("lot, aql, expected", [
    (1000, 2.5, ("J", 80, 5, 6)),      # Table 2-A: J at 2.5 → 5/6
    (3200, 2.5, ("K", 125, 7, 8)),
    (100, 1.0, ("F", 13, 0, 1)),       # ↑ to E's plan
    (60, 2.5, ("E", 20, 1, 2)),        # ↓ to F's plan
    (10, 2.5, ("B", 5, 0, 1)),         # ↓ to C's plan
    (4, 2.5, ("A", 4, 0, 1)),          # n ≥ N: every parcel
])
def test_sampling_plan(lot, aql, expected):
    from farmland.audit.sampling import sampling_plan

    plan = sampling_plan(lot, aql)
    assert (plan.code_letter, plan.sample_size, plan.accept, plan.reject) == expected


@pytest.fixture(scope="module")
def drawn(generated, tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "draw"
    result = CliRunner().invoke(main, ["-q", "sample-check", str(generated), "--year", str(YEAR), "--seed", "7",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_sample_is_reproducible_from_seed_and_population(generated, drawn):
    import json

    from farmland.audit.sampling import draw_sample

    manifest = json.loads((drawn / "manifest.json").read_text(encoding="utf-8"))
    again = draw_sample(generated, YEAR, seed=7)
    other = draw_sample(generated, YEAR, seed=8, suspects=False)
    recorded = pyogrio.read_dataframe(drawn / "sample.gpkg", read_geometry=False)
    assert manifest["population_sha256"] == again.population_sha256 == other.population_sha256
    assert list(again.drawn["BSM"].astype(str)) == list(recorded["BSM"])
    assert list(other.drawn["BSM"].astype(str)) != list(recorded["BSM"])
    plans = pd.read_csv(drawn / "sample_plan.csv", dtype={"xzqdm": str})
    assert set(plans["stratum"]) <= {"suspect", "changed", "basic_farmland", "arable"}
    counts = recorded.groupby(["xzqdm", "stratum"]).size()
    assert (counts.to_numpy() == plans.set_index(["xzqdm", "stratum"]).loc[counts.index, "sample_size"]).all()
    form = (drawn / "sample_form.html").read_text(encoding="utf-8")
    assert manifest["population_sha256"] in form and "Ac" in form


def test_changing_one_parcel_changes_the_hash_and_is_reported(generated, drawn, tmp_path):
    import json

    from farmland.audit.sampling import draw_sample

    root = copy_of(generated, tmp_path)
    changed = {}

    def nudge(frame):
        changed["BSM"] = str(frame["BSM"].iloc[5])
        frame.loc[frame.index[5], "TBMJ"] += 0.01
        frame.loc[frame.index[5], "TBDLMJ"] += 0.01
        return frame

    rewrite(root / f"counties/371526/bgdc_{YEAR}.gpkg", "DLTB", nudge)
    # The population the draw recorded (whatever its seed and suspects, as tested above).
    before = json.loads((drawn / "manifest.json").read_text(encoding="utf-8"))["population_sha256"]
    after = draw_sample(root, YEAR, seed=7, suspects=False)
    assert before != after.population_sha256
    outcome = verify_output(drawn, workspace=root, rerun=False)
    population = [d for d in outcome.differences if d.where == "population"]
    assert [d.path for d in population] == [f"DLTB:{changed['BSM']}"]
    assert "changed" in population[0].how


def test_field_results_become_findings(drawn, tmp_path):
    from farmland.audit.sampling import field_results

    template = pd.read_csv(drawn / "results_template.csv", dtype=str, keep_default_na=False)
    template["conforming"] = "是"
    lot = template.groupby(["xzqdm", "stratum"]).size().idxmax()
    rows = template.index[(template["xzqdm"] == lot[0]) & (template["stratum"] == lot[1])][:2]
    template.loc[rows, ["conforming", "observed_dlbm"]] = ["否", "0702"]
    path = tmp_path / "filled.csv"
    template.to_csv(path, index=False)
    findings, checklist = field_results(drawn, path)
    assert (findings["check"] == "field.nonconforming").sum() == 2
    rejected = findings[findings["check"] == "field.lot_rejected"]
    assert list(rejected["xzqdm"]) == [lot[0]]     # Ac = 0 or 1 for these small lots: 2 rejects it
    row = checklist.set_index("xzqdm").loc[lot[0]]
    assert row["item"] == "动态监测" and 0 < row["fraction"] < 1


def test_assess_writes_the_audit_of_the_last_year(sample_assessed):
    import json

    out, _ = sample_assessed
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "assess" and manifest["parameters"] == {"rules_dir": None}
    for name in ("findings.csv", "findings.xlsx", "findings.gpkg"):
        assert f"audit_2020/{name}" in manifest["outputs_sha256"]
    table = pd.read_csv(out / "audit_2020" / "findings.csv", dtype={"xzqdm": str})
    assert set(table["year"]) <= {2020}


def test_basic_farmland_touching_a_construction_parcel_is_no_finding(tiny):
    """With overlap_min_m2 = 0 only real overlaps are findings: a basic-farmland parcel that only
    shares an edge with a construction parcel has no area on it."""
    result = audit_workspace(tiny, 2016, checks=["basic_farmland"], validate=False,
                             options=AuditOptions(overlap_min_m2=0.0))
    t = result.table()
    overlay = t[t["check"].isin(["bf.construction", "bf.non_arable", "bf.non_grain", "bf.abandoned"])]
    assert (overlay["value"] > 0).all()
