"""The bad-input catalogue of issue 5, end to end through the command line.

Every case breaks a copy of one generated workspace (``farmland.sample``, 200 parcels) the way
real deliveries break, then runs ``farmland validate WS`` and, for a good share of the cases,
``farmland assess WS -o OUT --no-pdf`` through click's CliRunner (no assertion here reads a PDF;
tests/test_reports.py reads them, tests/test_pipeline.py checks that they repeat). A case either

* is refused: exit code 1, a message naming the layer, the file or year, the field and the first
  ids with a count, and the fix; no traceback; no OUT and no ``.OUT.*.partial`` folder left; or
* goes on (exit code 0) with a warning that says what was done and how much, where a careful
  analyst would go on (the comment at each such case says why).

The base workspace differs from the generated one in two unit names only, so every run here also
carries hostile text from input data: ``<script>alert(1)</script>`` and ``=HYPERLINK(…)`` in
XZQMC, which must come out escaped in the HTML scorecards and as text cells in the workbooks.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner, Result

from farmland.cli import main

# The base workspace is the session's generated_workspace (tests/conftest.py): 200 parcels, seed 0.

HOSTILE_NAMES = {
    "371524": "<script>alert(1)</script>",
    "371526": '=HYPERLINK("http://example.com/x","点我")',
}


# -- helpers ---------------------------------------------------------------------------------------


def invoke(*args) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path (a changed, added or lost file shows)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def rewrite_layer(root: Path, relative: str, layer: str, change: Callable) -> None:
    """Rewrite one layer of a GeoPackage in place (its other layers are kept) after ``change(frame)``."""
    path = root / relative
    frame = change(pyogrio.read_dataframe(path, layer=layer))
    pyogrio.write_dataframe(frame, path, layer=layer)


def edit_toml(root: Path, old: str, new: str) -> None:
    path = root / "farmland.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in the generated farmland.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def assert_clean_failure(result: Result, out: Path) -> None:
    """Exit 1, no traceback, nothing written: neither OUT nor a ``.OUT.*`` partial beside it."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.*")), list(out.parent.iterdir())


def ids_of(frame: pd.DataFrame, rows) -> list[str]:
    """Quoted BSM ids as the messages preview them."""
    return [repr(str(b)) for b in frame["BSM"].iloc[rows]]


def spike(polygon: shapely.Polygon) -> shapely.Polygon:
    """The polygon with a 5 m spike going in and back out of its first edge: self-intersecting.

    make_valid turns it into the original polygon plus a dangling line, so a correct repair
    changes no area and no figure.
    """
    ring = np.asarray(polygon.exterior.coords)
    middle = (ring[0] + ring[1]) / 2
    inward = np.asarray(polygon.representative_point().coords[0]) - middle
    tip = middle + inward / np.linalg.norm(inward) * 5.0
    return shapely.Polygon(np.vstack([ring[:1], [middle, tip, middle], ring[1:]]))


# -- the catalogue: each break returns extra tokens the message must contain (ids, rows, lines) ----


def missing_file_for_year(root):
    (root / "wpzf_2018.gpkg").unlink()
    return []


def missing_field(root):
    rewrite_layer(root, "counties/371522/bgdc_2018.gpkg", "DLTB", lambda f: f.drop(columns="DLBM"))
    return []


def unknown_land_class_codes(root):
    expected = []

    def change(frame):
        frame.loc[frame.index[:3], "DLBM"] = "999"
        expected.extend(ids_of(frame, [0, 1, 2]))
        return frame

    rewrite_layer(root, "counties/371523/bgdc_2017.gpkg", "DLTB", change)
    return expected


def geographic_crs(root):
    rewrite_layer(root, "counties/371524/bgdc_2019.gpkg", "DLTB", lambda f: f.to_crs("EPSG:4490"))
    return []


def non_cgcs2000_crs(root):
    # Xi'an 1980 Gauss-Krüger zone 39: projected, same zone, wrong datum (the 二调-era frame).
    rewrite_layer(root, "counties/371502/bgdc_2020.gpkg", "DLTB", lambda f: f.to_crs("EPSG:2363"))
    return []


def empty_geometries(root):
    expected = []

    def change(frame):
        frame.loc[frame.index[[0, 1]], "geometry"] = None
        expected.extend(ids_of(frame, [0, 1]))
        return frame

    rewrite_layer(root, "counties/371581/bgdc_2018.gpkg", "DLTB", change)
    return expected


def duplicate_bsm(root):
    expected = []

    def change(frame):
        frame.loc[frame.index[1], "BSM"] = frame["BSM"].iloc[0]
        expected.extend(ids_of(frame, [0]))
        return frame

    rewrite_layer(root, "counties/371502/bgdc_2017.gpkg", "DLTB", change)
    return expected


def overlapping_parcels(root):
    # A parcel digitised twice under a new id: its whole area would count twice.
    expected = []

    def change(frame):
        twin = frame.iloc[[0]].copy()
        twin["BSM"] = "371522999999999999"
        expected.extend([str(frame["BSM"].iloc[0]), "371522999999999999"])
        return pd.concat([frame, twin], ignore_index=True)

    rewrite_layer(root, "counties/371522/bgdc_2019.gpkg", "DLTB", change)
    return expected


def negative_area(root):
    expected = []

    def change(frame):
        row = frame.index[3]
        frame.loc[row, ["TBMJ", "TBDLMJ"]] = -frame.loc[row, "TBMJ"]
        expected.extend(ids_of(frame, [3]))
        return frame

    rewrite_layer(root, "counties/371523/bgdc_2018.gpkg", "DLTB", change)
    return expected


def deduction_exceeds_area(root):
    expected = []

    def change(frame):
        rows = frame.index[[0, 1]]
        frame.loc[rows, "KCMJ"] = frame.loc[rows, "TBMJ"] * 2
        frame["TBDLMJ"] = frame["TBMJ"] - frame["KCMJ"]  # keep the net-area identity: only KCMJ is wrong
        expected.extend(ids_of(frame, [0, 1]))
        return frame

    rewrite_layer(root, "counties/371524/bgdc_2020.gpkg", "DLTB", change)
    return expected


def zldwdm_matching_no_unit(root):
    expected = []

    def change(frame):
        rows = frame.index[:3]
        frame.loc[rows, "ZLDWDM"] = "379999" + frame.loc[rows, "ZLDWDM"].str[6:]
        expected.extend(ids_of(frame, [0, 1, 2]))
        return frame

    rewrite_layer(root, "counties/371525/bgdc_2016.gpkg", "DLTB", change)
    return expected


def truncated_geopackage(root):
    path = root / "counties/371526/bgdc_2019.gpkg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return []


def toml_syntax_error(root):
    lines = (root / "farmland.toml").read_text(encoding="utf-8").splitlines()
    line = next(number for number, text in enumerate(lines, 1) if text.startswith("[period]"))
    edit_toml(root, "[period]", "[period")
    return [f"line {line}"]


def unit_without_targets(root):
    targets = pd.read_csv(root / "targets.csv", dtype=str)
    assert "371524" in set(targets["xzqdm"])
    targets[targets["xzqdm"] != "371524"].to_csv(root / "targets.csv", index=False)
    return []


def year_outside_period(root):
    path = root / "zbph.csv"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("371502,2031,补充,误填年份的项目,10.0,0.0,1.0,本地\n")
    rows = len(path.read_text(encoding="utf-8").splitlines())  # the header is row 1, as a spreadsheet shows
    return [f"'row {rows}'"]


def unreadable_raster(root):
    (root / "landcover_2018.tif").write_bytes(b"II*\x00" + b"\x00" * 100)  # a TIFF header and nothing else
    return []


def raster_in_another_crs(root):
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    path = root / "landcover_2018.tif"
    with rasterio.open(path) as src:
        data, profile, bounds = src.read(1), src.profile, src.bounds
        transform, width, height = calculate_default_transform(src.crs, "EPSG:32650", src.width, src.height,
                                                               *bounds)
        warped = np.zeros((height, width), dtype=data.dtype)
        reproject(data, warped, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                  dst_crs="EPSG:32650", resampling=Resampling.nearest)
    profile.update(crs="EPSG:32650", transform=transform, width=width, height=height)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(warped, 1)
    return []


def invalid_geometries(root):
    expected = []

    def change(frame):
        for row in (0, 1):
            frame.loc[frame.index[row], "geometry"] = spike(frame.geometry.iloc[row])
        expected.extend(ids_of(frame, [0, 1]))
        return frame

    rewrite_layer(root, "counties/371526/bgdc_2016.gpkg", "DLTB", change)
    written = pyogrio.read_dataframe(root / "counties/371526/bgdc_2016.gpkg", layer="DLTB").geometry.values
    assert not shapely.is_valid(written[:2]).any() and shapely.is_valid(written[2:]).all()
    return expected


def gbk_shapefile_without_cpg(root):
    xzq = pyogrio.read_dataframe(root / "xzq.gpkg", layer="XZQ")
    pyogrio.write_dataframe(xzq, root / "xzq.shp", encoding="GBK")
    (root / "xzq.cpg").unlink(missing_ok=True)
    (root / "xzq.gpkg").unlink()
    edit_toml(root, '"xzq.gpkg:XZQ"', '"xzq.shp"')
    assert "东昌府区".encode("gbk") in (root / "xzq.dbf").read_bytes()  # really GBK bytes, really no .cpg
    assert not (root / "xzq.cpg").exists()
    return []


def layers_in_different_crs(root):
    # 东昌府区's 2020 parcels in EPSG:4548 (zone 39 without the zone prefix) while its basic
    # farmland, change records, XZQ and the other counties stay in EPSG:4527 (and 冠县 in 4526).
    rewrite_layer(root, "counties/371502/bgdc_2020.gpkg", "DLTB", lambda f: f.to_crs("EPSG:4548"))
    return []


def empty_layer(root):
    rewrite_layer(root, "wpzf_2019.gpkg", "WPZF", lambda f: f.iloc[:0])
    return []


def missing_county_file_for_year(root):
    (root / "counties/371521/bgdc_2018.gpkg").unlink()
    return []


def empty_county_layer(root):
    rewrite_layer(root, "counties/371581/bgdc_2019.gpkg", "DLTB", lambda f: f.iloc[:0])
    return []


@dataclass(frozen=True)
class Case:
    breaks: Callable[[Path], list[str]]
    tokens: tuple[str, ...]
    """What the message must name: layer (and year), file, field, counts, the fix."""
    assess: bool = False
    """Also run ``farmland assess`` (validate alone shows the behaviour of the others)."""
    validate: bool = True
    """Run ``farmland validate``; a continuing case's assess run validates, prints the same warnings
    and writes them to validation.txt, so one representative is enough there (runtime)."""


REFUSED = {
    "missing_file_for_year": Case(missing_file_for_year, ("WPZF 2018", "wpzf_{year}.gpkg", "Add it")),
    "missing_field": Case(missing_field, ("DLTB 2018", "[DLBM]", "bgdc_2018.gpkg has no field DLBM",
                                          "[fields.DLTB] DLBM ="), assess=True),
    "unknown_land_class_codes": Case(unknown_land_class_codes,
                                     ("DLTB 2017", "[DLBM]", "'999' ×3", "(3 in all)", "Correct the codes")),
    "geographic_crs": Case(geographic_crs, ("DLTB 2019", "bgdc_2019.gpkg", "geographic", "EPSG:4527"),
                           assess=True),
    "non_cgcs2000_crs": Case(non_cgcs2000_crs, ("DLTB 2020", "bgdc_2020.gpkg", "Xian 1980", "CGCS2000",
                                                "EPSG:4527")),
    "empty_geometries": Case(empty_geometries, ("DLTB 2018", "bgdc_2018.gpkg",
                                                "2 features with empty or missing geometry", "(2 in all)",
                                                "Restore their shapes")),
    "duplicate_bsm": Case(duplicate_bsm, ("DLTB 2017", "[BSM]", "1 BSM values occur more than once (2 features)",
                                          "delivered twice")),
    "overlapping_parcels": Case(overlapping_parcels, ("DLTB 2019", "1 pairs of parcels overlap", "(2 in all)",
                                                      "Remove the overlaps")),
    "negative_area": Case(negative_area, ("DLTB 2018", "[TBMJ]", "TBMJ is negative for 1 ",
                                          "below zero")),
    "deduction_exceeds_area": Case(deduction_exceeds_area, ("DLTB 2020", "[KCMJ]", "KCMJ > TBMJ for 2 parcels",
                                                            "(2 in all)", "Check KCXS/KCMJ")),
    "zldwdm_matching_no_unit": Case(zldwdm_matching_no_unit, ("DLTB 2016", "[ZLDWDM]",
                                                              "3 features have ZLDWDM matching no unit", "'379999'",
                                                              "(3 in all)", "add the unit to XZQ")),
    "truncated_geopackage": Case(truncated_geopackage, ("DLTB 2019", "counties/371526/bgdc_2019.gpkg",
                                                        "truncated", "re-export it"), assess=True),
    "toml_syntax_error": Case(toml_syntax_error, ("farmland.toml", "not valid TOML", "Fix the line"), assess=True),
    "unit_without_targets": Case(unit_without_targets, ("TARGETS", "[xzqdm]", "371524", "targets.csv",
                                                        "Add a row per unit")),
    "year_outside_period": Case(year_outside_period, ("ZBPH", "[year]", "2016–2020", "fix the year")),
    "unreadable_raster": Case(unreadable_raster, ("LANDCOVER 2018", "landcover_2018.tif", "re-export it")),
    "raster_in_another_crs": Case(raster_in_another_crs, ("LANDCOVER 2018", "landcover_2018.tif",
                                                          "WGS 84 / UTM zone 50N", "CGCS2000")),
}

# Where a careful analyst goes on: exit 0, with a warning saying what was done and how much.
CONTINUED = {
    # A few self-intersecting rings: make_valid repairs them, the stored TBMJ keeps the figures.
    "invalid_geometries": Case(invalid_geometries, ("DLTB 2016", "bgdc_2016.gpkg", "2 invalid geometries",
                                                    "repaired with make_valid", "(2 in all)"), assess=True),
    # GBK is what Chinese shapefiles without a .cpg hold; detecting it beats garbled names.
    "gbk_shapefile_without_cpg": Case(gbk_shapefile_without_cpg, ("XZQ", "xzq.shp has no .cpg",
                                                                  "GB18030", 'encoding = "GBK"'), assess=True,
                                      validate=False),
    # The contract: each dataset carries its own CGCS2000 CRS; areas come from TBMJ, overlays
    # reproject. Nothing is wrong, so no warning is required (only the usual zone slivers).
    "layers_in_different_crs": Case(layers_in_different_crs, (), assess=True, validate=False),
    # No monitoring parcels in a year is possible; the contract asks for an empty layer then.
    "empty_layer": Case(empty_layer, ("WPZF 2019", "wpzf_2019.gpkg", "has no features"), assess=True,
                        validate=False),
}

# A county database missing or empty in one year: its area would silently count as zero.
COUNTY_MISSING = {
    "missing_county_file_for_year": Case(missing_county_file_for_year, ("DLTB 2018", "371521")),
    "empty_county_layer": Case(empty_county_layer, ("DLTB 2019", "371581")),
}

CASES = {**REFUSED, **CONTINUED, **COUNTY_MISSING}


@dataclass
class Run:
    ws: Path
    out: Path
    tokens: list[str]
    validate: Result | None
    assess: Result | None = None


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(generated_workspace, tmp_path_factory) -> Path:
    """The generated workspace with two hostile unit names in XZQMC (nothing else changed)."""
    root = shutil.copytree(generated_workspace, tmp_path_factory.mktemp("base") / "ws")

    def rename(frame):
        codes = frame["XZQDM"].astype(str)
        assert set(HOSTILE_NAMES) <= set(codes)
        frame["XZQMC"] = [HOSTILE_NAMES.get(c, n) for c, n in zip(codes, frame["XZQMC"])]
        return frame

    rewrite_layer(root, "xzq.gpkg", "XZQ", rename)
    return root


@pytest.fixture(scope="module")
def clean(base, tmp_path_factory):
    """Two assess runs (--no-pdf) of the unbroken workspace into one folder, and a refused one between them.

    Run 1 writes OUT; the next, without --overwrite, must be refused and leave OUT as it was; run 2
    with --overwrite replaces it. Inputs are hashed before and after all of them. The assessment
    computed by run 1 is kept for the interruption tests.
    """
    import farmland.pipeline as pipeline

    folder = tmp_path_factory.mktemp("clean")
    ws = shutil.copytree(base, folder / "ws")
    out = folder / "out"
    inputs_before = tree_digest(ws)
    captured = {}

    def spy(*args, **kwargs):
        captured["assessment"] = real(*args, **kwargs)
        return captured["assessment"]

    real = pipeline.assess
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "assess", spy)
        first = invoke("assess", ws, "-o", out, "--no-pdf")
    assert first.exit_code == 0, first.output
    first_outputs = tree_digest(out)
    first_manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    refused = invoke("assess", ws, "-o", out, "--no-pdf")
    after_refused = tree_digest(out)
    again = invoke("assess", ws, "-o", out, "--overwrite", "--no-pdf")
    assert again.exit_code == 0, again.output
    return SimpleNamespace(
        ws=ws, out=out, first=first, refused=refused, again=again, assessment=captured["assessment"],
        inputs_before=inputs_before, inputs_after=tree_digest(ws), first_outputs=first_outputs,
        after_refused=after_refused, first_manifest=first_manifest,
        second_manifest=json.loads((out / "manifest.json").read_text(encoding="utf-8")),
        folder_listing=sorted(p.name for p in folder.iterdir()),
    )


@pytest.fixture(scope="module")
def run_case(base, tmp_path_factory):
    """Break a fresh copy of the base workspace and run the CLI on it, once per case per module."""
    done: dict[str, Run] = {}

    def run(name: str) -> Run:
        if name not in done:
            case = CASES[name]
            folder = tmp_path_factory.mktemp(name)
            ws = shutil.copytree(base, folder / "ws")
            tokens = [*case.tokens, *case.breaks(ws)]
            out = folder / "out"
            result = Run(ws, out, tokens, validate=invoke("validate", ws) if case.validate else None)
            if case.assess:
                result.assess = invoke("assess", ws, "-o", out, "--no-pdf")
            done[name] = result
        return done[name]

    return run


PROGRESS_LINE = re.compile(r"^\s*\[\s*[\d.]+s\] .*$\n?", re.MULTILINE)


def _missing(tokens, text):
    """Tokens absent from the messages (progress lines such as "[ 0.2s] DLTB 2018" do not count)."""
    messages = PROGRESS_LINE.sub("", text)
    return [t for t in tokens if t not in messages]


# -- the catalogue ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REFUSED))
def test_bad_input_is_refused_naming_what_is_wrong(run_case, name):
    run = run_case(name)
    assert_clean_failure(run.validate, run.out)
    assert not _missing(run.tokens, run.validate.output), run.validate.output
    if run.assess is not None:
        assert_clean_failure(run.assess, run.out)
        assert "nothing was assessed" in run.assess.output or "not valid TOML" in run.assess.output
        assert not _missing(run.tokens, run.assess.output), run.assess.output
        assert sorted(p.name for p in run.out.parent.iterdir()) == ["ws"]


@pytest.mark.parametrize("name", list(CONTINUED))
def test_tolerable_input_goes_on_with_a_counted_warning(run_case, clean, name):
    run = run_case(name)
    for result in (run.validate, run.assess):
        if result is None:
            continue
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        assert not _missing(run.tokens, result.output), result.output
    assert not _missing(run.tokens, (run.out / "validation.txt").read_text(encoding="utf-8"))
    outputs = json.loads((run.out / "manifest.json").read_text(encoding="utf-8"))["outputs_sha256"]
    reference = clean.second_manifest["outputs_sha256"]
    if name == "empty_layer":
        # No monitoring parcels in 2019: occupation and illegal occupation are 0 亩, not missing.
        metrics = pd.read_csv(run.out / "metrics.csv", dtype={"xzqdm": str}, encoding="utf-8-sig")
        monitored = metrics[(metrics["level"] == "county") & (metrics["phase"] == "annual")
                            & (metrics["year"] == 2019)
                            & metrics["metric"].isin(["illegal_arable_mu", "construction_on_arable_mu"])]
        assert len(monitored) == 2 * 9 and (monitored["value"] == 0).all(), monitored
    else:
        # Repair, decoding or reprojection changes no figure: every output but the validation
        # report (which names the workspace and lists the warning) is byte-identical to the clean run,
        # except what draws or stores geometry (the pages' maps and their PDFs, the problem-parcel
        # GeoPackages) and the pages' digest of the input files; once those are set aside the pages
        # are identical too.
        def drawn(name):
            return name.startswith("scorecards/") or name.endswith(".gpkg")

        changed = sorted(k for k in reference if outputs.get(k) != reference[k] and not drawn(k))
        assert changed == ["validation.txt"] and set(outputs) == set(reference)
        for page in sorted(k for k in reference if k.endswith(".html")):
            assert _without_drawing((run.out / page).read_text(encoding="utf-8")) == _without_drawing(
                (clean.out / page).read_text(encoding="utf-8")), page


def _without_drawing(page: str) -> str:
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    return re.sub(r"输入数据 SHA-256 汇总 [0-9a-f]+", "", page)


@pytest.mark.parametrize("name", list(COUNTY_MISSING))
def test_county_missing_from_one_year_is_refused(run_case, name):
    run = run_case(name)
    assert_clean_failure(run.validate, run.out)
    assert not _missing(run.tokens, run.validate.output), run.validate.output


def test_message_names_which_county_file(run_case):
    run = run_case("missing_field")
    assert "371522/bgdc_2018.gpkg" in run.validate.output, run.validate.output


@pytest.mark.parametrize("name, warning", [
    ("invalid_geometries", "2 invalid geometries"),
    ("gbk_shapefile_without_cpg", "xzq.shp has no .cpg"),
    ("empty_layer", "wpzf_2019.gpkg layer 'WPZF' has no features"),
])
def test_assess_reports_each_warning_once(run_case, name, warning):
    run = run_case(name)
    assert run.assess.output.count(warning) == 1, run.assess.output
    assert (run.out / "validation.txt").read_text(encoding="utf-8").count(warning) == 1


# -- outputs: atomic, never clobbered, deterministic, inputs untouched, hostile text inert -----------


def test_inputs_are_byte_identical_after_runs(clean):
    assert clean.inputs_after == clean.inputs_before  # no file changed, added or lost


def test_overwrite_is_required_to_replace_output(clean):
    refused = clean.refused
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "already exists" in refused.output and "--overwrite" in refused.output
    assert clean.after_refused == clean.first_outputs
    assert clean.folder_listing == ["out", "ws"]  # the replacing run left no partial folder


def test_two_runs_give_byte_identical_outputs(clean):
    first = clean.first_manifest
    second = clean.second_manifest
    # Nothing needs excluding: CSV, Excel (fixed zip dates), HTML, text and the manifest's own
    # digests all repeat. The manifest file itself is identical too (same inputs, same software).
    # (These runs print no PDF; tests/test_pipeline.py prints a run's pages again, to the same bytes.)
    assert len(first["outputs_sha256"]) > 100
    assert first["outputs_sha256"] == second["outputs_sha256"]
    assert first == second
    assert tree_digest(clean.out)["metrics.csv"] == clean.first_outputs["metrics.csv"]


def test_hostile_unit_names_are_escaped_in_html(clean):
    cards = clean.out / "scorecards"
    phases = sorted(p.name for p in cards.iterdir() if p.name != "township")
    assert len(phases) == 7  # annual 2016–2020, midterm, final
    if (cards / "township").is_dir():
        phases += [f"township/{p.name}" for p in (cards / "township").iterdir()]
    escaped = {"371524": "&lt;script&gt;alert(1)&lt;/script&gt;",
               "371526": "=HYPERLINK(&quot;http://example.com/x&quot;,&quot;点我&quot;)"}
    for phase in phases:
        for page in sorted((cards / phase).glob("*.html")):
            text = page.read_text(encoding="utf-8")
            assert "<script" not in text.lower(), page  # the pages carry no script of their own either
            assert not any(name in text for name in HOSTILE_NAMES.values()), page
        if phase.startswith("township/"):
            continue  # township pages carry the names too (scanned above); the codes below are counties
        index = (cards / phase / "index.html").read_text(encoding="utf-8")
        for code, shown in escaped.items():
            assert shown in index and shown in (cards / phase / f"{code}.html").read_text(encoding="utf-8")
    # CSV keeps the data as it is (a table for programs, not a page): the name is there verbatim.
    assert HOSTILE_NAMES["371524"] in (clean.out / "scores_final.csv").read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("workbook", ["scores.xlsx", "metrics.xlsx"])
def test_hostile_unit_names_are_text_cells_in_excel(clean, workbook):
    path = clean.out / workbook
    book = openpyxl.load_workbook(path)
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
             if cell.value in HOSTILE_NAMES.values()]
    assert {c.value for c in cells} == set(HOSTILE_NAMES.values())
    assert all(c.data_type == "s" for c in cells), [(c.coordinate, c.data_type) for c in cells]
    with zipfile.ZipFile(path) as archive:  # no formula element anywhere, not only in these cells
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(re.search(rb"<f[ >]", archive.read(n)) for n in sheets)


def test_no_pdf_writes_every_page_as_html_and_no_pdf(clean):
    outputs = clean.second_manifest["outputs_sha256"]
    assert not [name for name in outputs if name.endswith(".pdf")]
    assert not list(clean.out.rglob("*.pdf"))
    checks = [path.name.removeprefix("scores_").removesuffix(".csv") for path in clean.out.glob("scores_*.csv")
              if not path.name.startswith("scores_township_")]
    assert len(checks) == 7  # annual 2016–2020, midterm, final
    for check in checks:
        codes = pd.read_csv(clean.out / f"scores_{check}.csv", dtype={"xzqdm": str}, encoding="utf-8-sig")["xzqdm"]
        pages = {name for name in outputs if name.startswith(f"scorecards/{check}/")}
        assert pages == {f"scorecards/{check}/{code}.html" for code in [*codes, "index"]}, check
    for result in (clean.first, clean.again):  # the HTML pages only, as asked: no notice of a skipped step
        assert "PDF not written" not in result.output and "Chromium" not in result.output, result.output


def test_pdf_without_chromium_is_refused_before_the_computation(base, tmp_path, monkeypatch):
    import farmland.pipeline as pipeline

    def computed(*args, **kwargs):
        raise AssertionError("the assessment was computed before --pdf was refused")

    monkeypatch.setattr(pipeline, "assess", computed)
    monkeypatch.setenv("FARMLAND_CHROMIUM", str(tmp_path / "no-such-chromium"))
    out = tmp_path / "out"
    result = invoke("assess", base, "-o", out, "--pdf")
    assert_clean_failure(result, out)
    assert not _missing(["--pdf", "Chromium was not found", "apt-get install -y chromium", "FARMLAND_CHROMIUM",
                         "nothing was written"], result.output), result.output


def test_reports_asked_to_print_without_chromium_refuse_before_drawing(clean, tmp_path, monkeypatch):
    """The library's pdf=True fails as --pdf does: before any figure is drawn, saying how to
    install Chromium, not that the pages were written."""
    from farmland.reports import write_reports
    from farmland.reports.pdf import BrowserError

    monkeypatch.setenv("FARMLAND_CHROMIUM", str(tmp_path / "no-such-chromium"))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BrowserError) as refused:
        write_reports(clean.assessment, out, pdf=True)
    assert not _missing(["Chromium was not found", "apt-get install -y chromium", "FARMLAND_CHROMIUM",
                         "nothing was written"], str(refused.value)), str(refused.value)
    assert "pages were written" not in str(refused.value)
    assert list(out.iterdir()) == []


def test_a_chromium_that_fails_is_reported_with_the_way_on_not_as_a_bug(clean, tmp_path, monkeypatch):
    """A browser that starts and dies (a broken install, a killed process) stops the run like any
    other refusal: exit 1, what happened and how to go on, nothing written."""
    import farmland.pipeline as pipeline

    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("FARMLAND_CHROMIUM", str(broken))
    monkeypatch.setattr(pipeline, "assess", lambda *a, **k: clean.assessment)
    out = tmp_path / "out"
    result = invoke("assess", clean.ws, "-o", out, "--pdf")
    assert_clean_failure(result, out)
    assert "internal error" not in result.output and "bug" not in result.output, result.output
    assert not _missing(["printing the PDFs failed", "Chromium closed the connection", "--no-pdf",
                         "FARMLAND_CHROMIUM"], result.output), result.output


def test_verify_re_runs_an_assess_without_pdfs_without_printing(clean, monkeypatch):
    """A folder holding no PDF (``--no-pdf``, or no Chromium) is re-run with ``pdf=False``: printing
    would add files the run never wrote."""
    import farmland.pipeline as pipeline
    from farmland.audit.manifest import verify_output

    asked = []

    def write_again(assessment, out, **kwargs):  # the writing itself is the clean runs' (identical) outputs
        asked.append(kwargs.get("pdf"))
        shutil.copytree(clean.out, out)

    monkeypatch.setattr(pipeline, "assess", lambda *a, **k: clean.assessment)
    monkeypatch.setattr(pipeline, "write_assessment", write_again)
    outcome = verify_output(clean.out)
    assert outcome.ok and outcome.rerun, outcome.render()
    assert asked == [False]


@pytest.mark.parametrize("interruption, exit_code, message, previous", [
    (KeyboardInterrupt(), 130, "interrupted; no output was written", True),
    (KeyboardInterrupt(), 130, "interrupted; no output was written", False),
    (OSError(28, "No space left on device"), 1, "No space left on device", True),
], ids=["ctrl-c-over-previous", "ctrl-c-fresh", "disk-full-over-previous"])
def test_interrupted_assess_leaves_previous_output_and_no_partial(clean, tmp_path, monkeypatch, interruption,
                                                                  exit_code, message, previous):
    import farmland.pipeline as pipeline
    import farmland.reports

    out = tmp_path / "out"
    if previous:
        shutil.copytree(clean.out, out)
    before = tree_digest(out) if previous else None

    held = []

    def fail(assessment, folder):
        held.append(sorted(tree_digest(folder)))
        raise interruption

    def write_again(assessment, folder, **kwargs):
        # What the clean runs wrote, byte for byte (the runs repeat, as tested above): the pages,
        # lists, reports and tables, and not the manifest.
        shutil.copytree(clean.out, folder, dirs_exist_ok=True,
                        ignore=lambda where, names: ["manifest.json"] if Path(where) == clean.out else [])

    # Reuse the clean run's computed assessment and its written outputs (the computation and the
    # writing are tested above) and fail at the last step of writing, when the partial folder holds
    # every other output.
    monkeypatch.setattr(pipeline, "assess", lambda *a, **k: clean.assessment)
    monkeypatch.setattr(farmland.reports, "write_reports", write_again)
    monkeypatch.setattr(pipeline, "_write_manifest", fail)
    result = invoke("assess", clean.ws, "-o", out, *(["--overwrite"] if previous else []))
    assert result.exit_code == exit_code, result.output
    assert message in result.output and "Traceback" not in result.output
    assert held == [sorted(name for name in clean.first_outputs if name != "manifest.json")]
    if previous:
        assert tree_digest(out) == before
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if previous else [])


# -- workspace file, paths and usage ----------------------------------------------------------------


def test_layer_path_outside_workspace_needs_permission(base, tmp_path):
    ws = shutil.copytree(base, tmp_path / "ws")
    shutil.move(ws / "hsf.gpkg", tmp_path / "outside.gpkg")
    edit_toml(ws, '"hsf.gpkg:GBZNT"', '"../outside.gpkg:GBZNT"')
    out = tmp_path / "out"
    for command in (["validate", ws], ["assess", ws, "-o", out]):
        result = invoke(*command)
        assert_clean_failure(result, out)
        assert not _missing(["farmland.toml", "layers.GBZNT", "../outside.gpkg", "outside the workspace",
                             "allow_external_paths = true"], result.output), result.output
    text = (ws / "farmland.toml").read_text(encoding="utf-8")
    (ws / "farmland.toml").write_text(text + "\n[options]\nallow_external_paths = true\n", encoding="utf-8")
    result = invoke("validate", ws)
    assert result.exit_code == 0 and "OK, no errors" in result.output, result.output


@pytest.mark.parametrize("args", [
    ["assess", "{ws}"],                          # -o is required
    ["validate", "{ws}/does-not-exist"],         # no such workspace path
    ["metrics", "{ws}"],                         # the annual phase needs --year
    ["metrics", "{ws}", "--level", "province"],  # not a choice
    ["frobnicate"],                              # no such command
])
def test_usage_errors_exit_2(base, args):
    result = invoke(*[a.replace("{ws}", str(base)) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Usage:" in result.output


def test_year_outside_the_period_on_the_command_line(base, tmp_path):
    out = tmp_path / "m.csv"
    result = invoke("metrics", base, "--year", 2031, "-o", out)
    assert_clean_failure(result, out)
    assert "--year 2031" in result.output and "2015–2020" in result.output


def test_verbose_shows_the_traceback_and_plain_does_not(base, tmp_path):
    # A real process: CliRunner keeps re-raised exceptions to itself, the shell does not.
    ws = shutil.copytree(base, tmp_path / "ws", ignore=shutil.ignore_patterns("*.gpkg", "*.tif"))
    edit_toml(ws, "[period]", "[period")
    command = [sys.executable, "-m", "farmland.cli"]
    plain = subprocess.run([*command, "assess", ws, "-o", tmp_path / "out"], capture_output=True, text=True)
    verbose = subprocess.run([*command, "-v", "assess", ws, "-o", tmp_path / "out"], capture_output=True, text=True)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr + plain.stdout
    assert "not valid TOML" in plain.stderr
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr and "WorkspaceError" in verbose.stderr
    assert not (tmp_path / "out").exists()
