"""The load stage: one store per run, and the disk cache of parsed files keyed by content."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from builders import WORKSPACE_TOML, X0, Y0, dltb_frame, square, write_workspace
from click.testing import CliRunner

from farmland.cli import main
from farmland.layers import read_layer
from farmland.load import LayerStore, ReadCache
from farmland.report import Report
from farmland.workspace import Workspace


@pytest.fixture
def parses(monkeypatch):
    """Every file GDAL parses: (file name, columns)."""
    seen = []
    real = pyogrio.read_arrow

    def spy(path, *args, **kwargs):
        seen.append((os.path.basename(path), tuple(kwargs.get("columns") or ())))
        return real(path, *args, **kwargs)

    monkeypatch.setattr("farmland.layers.pyogrio.read_arrow", spy)
    return seen


def _ws(tmp_path, toml=WORKSPACE_TOML):
    return Workspace.load(write_workspace(tmp_path / "ws", years=(2015, 2016), toml=toml))


def test_a_second_run_reads_parsed_files_from_the_cache(tmp_path, parses):
    ws = _ws(tmp_path)
    cache = ReadCache(tmp_path / "cache")
    first = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert len(parses) == 1 and cache.misses == 1
    again = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert len(parses) == 1 and cache.hits == 1  # nothing parsed the second time
    pd.testing.assert_frame_equal(pd.DataFrame(first.drop(columns="geometry")),
                                  pd.DataFrame(again.drop(columns="geometry")))
    assert first.geometry.geom_equals_exact(again.geometry, tolerance=0).all()
    assert again.crs == first.crs
    # Fewer fields and no geometry come from the same entry.
    LayerStore(ws, cache=cache).layer("DLTB", 2015, columns=["TBDLMJ"], geometry=False)
    assert len(parses) == 1 and cache.hits == 2


def test_the_cache_never_serves_a_changed_file(tmp_path, parses):
    ws = _ws(tmp_path)
    cache = ReadCache(tmp_path / "cache")
    before = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    changed = dltb_frame(2015)
    changed.loc[0, "TBDLMJ"] = 1234.5
    changed.to_file(ws.root / "bgdc_2015.gpkg", layer="DLTB", driver="GPKG")
    after = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert before["TBDLMJ"].iloc[0] != 1234.5 and after["TBDLMJ"].iloc[0] == 1234.5
    assert cache.hits == 0 and len(parses) == 2


def test_a_changed_shapefile_sidecar_is_a_changed_file(tmp_path, parses):
    """The .dbf holds the attributes: the key covers every file of the Shapefile, not the .shp alone."""
    toml = WORKSPACE_TOML.replace('DLTB = "bgdc_{year}.gpkg:DLTB"', 'DLTB = "dltb_{year}.shp"')
    root = write_workspace(tmp_path / "ws", years=(2015, 2016), toml=toml)
    for year in (2015, 2016):
        dltb_frame(year).to_file(root / f"dltb_{year}.shp", encoding="UTF-8")
    ws = Workspace.load(root)
    cache = ReadCache(tmp_path / "cache")
    LayerStore(ws, cache=cache).layer("DLTB", 2015)
    shp = (root / "dltb_2015.shp").read_bytes()
    frame = dltb_frame(2015)
    frame.loc[0, "DLBM"] = "031"
    frame.to_file(root / "dltb_2015.shp", encoding="UTF-8")
    assert (root / "dltb_2015.shp").read_bytes() == shp  # only the attributes changed
    after = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert after["DLBM"].iloc[0] == "031" and cache.hits == 0


def test_findings_are_the_same_from_the_cache(tmp_path):
    """Checks run on every read: a cached file reports what a parsed one does."""
    ws = _ws(tmp_path)
    frame = dltb_frame(2015)
    frame.loc[1, "TBDLMJ"] = None
    frame.to_file(ws.root / "bgdc_2015.gpkg", layer="DLTB", driver="GPKG")
    cache = ReadCache(tmp_path / "cache")
    reports = []
    for _ in range(2):
        report = Report(strict=False)
        LayerStore(ws, cache=cache).layer("DLTB", 2015, report=report)
        reports.append([(f.check, f.ids) for f in report.findings])
    assert cache.hits == 1
    assert reports[0] == reports[1] and ("area-filled", ("20150002",)) in reports[0]


def test_an_unreadable_entry_is_parsed_again(tmp_path, parses):
    ws = _ws(tmp_path)
    cache = ReadCache(tmp_path / "cache")
    LayerStore(ws, cache=cache).layer("DLTB", 2015)
    for entry in (tmp_path / "cache").rglob("*.parquet"):
        entry.write_bytes(b"not parquet")
    frame = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert len(frame) == 4 and len(parses) == 2


def test_a_wider_read_replaces_the_entry_for_both(tmp_path, parses):
    ws = _ws(tmp_path)
    cache = ReadCache(tmp_path / "cache")
    LayerStore(ws, cache=cache).layer("DLTB", 2015, columns=["TBDLMJ"], geometry=False)
    LayerStore(ws, cache=cache).layer("DLTB", 2015, columns=["GDDB"], geometry=True)
    assert len(parses) == 2
    both = LayerStore(ws, cache=cache).layer("DLTB", 2015, columns=["TBDLMJ", "GDDB"], geometry=True)
    assert len(parses) == 2 and {"TBDLMJ", "GDDB", "geometry"} <= set(both.columns)


def test_the_cache_stays_under_its_size_limit(tmp_path):
    ws = _ws(tmp_path)
    cache = ReadCache(tmp_path / "cache", max_bytes=1)
    LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert cache.size() == 0  # pruned right after the write: every entry is over one byte


def test_a_cache_folder_that_cannot_exist_only_costs_the_speed(tmp_path, parses):
    """A cache path through a file (a mistyped FARMLAND_CACHE_DIR) cannot be created: the layer
    is parsed and served as without a cache, and nothing is raised."""
    ws = _ws(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = ReadCache(blocker / "cache")
    first = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    again = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert len(first) == len(again) == len(dltb_frame(2015))
    assert len(parses) == 2 and cache.hits == 0


def test_no_cache_parses_everything_and_keeps_nothing(tmp_path, monkeypatch):
    ws = Workspace.load(write_workspace(tmp_path / "ws"))
    folder = tmp_path / "cache"
    monkeypatch.setenv("FARMLAND_CACHE_DIR", str(folder))
    result = CliRunner().invoke(main, ["validate", "--no-cache", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert not folder.exists() or not any(folder.rglob("*.parquet"))
    result = CliRunner().invoke(main, ["validate", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert any(folder.rglob("*.parquet"))


def test_the_store_records_every_file_it_read_with_its_hash(tmp_path):
    from farmland.load.cache import sha256_of

    ws = _ws(tmp_path)
    store = LayerStore(ws, cache=None)
    store.layer("XZQ")
    store.layer("DLTB", 2016)
    store.targets()
    read = store.files_read()
    assert {p.name for p in read} == {"xzq.gpkg", "bgdc_2016.gpkg", "targets.csv"}
    assert all(digest == sha256_of(path) for path, digest in read.items())


def _findings(report):
    return [(f.severity, f.layer, f.check, f.year, f.ids, f.message) for f in report.findings]


def test_reading_ahead_reports_what_reading_in_turn_reports(tmp_path, monkeypatch):
    """Validation reads the next layers on a second thread; the report must not notice.

    Defects in several years and layers (a blank area filled, a missing field, an unreadable
    file) give the same findings, in the same order, with and without reading ahead.
    """
    from farmland.validate import validate_workspace

    ws = Workspace.load(write_workspace(tmp_path / "ws", years=(2015, 2016, 2017)))
    frame = dltb_frame(2016)
    frame.loc[1, "TBDLMJ"] = None
    frame.to_file(ws.root / "bgdc_2016.gpkg", layer="DLTB", driver="GPKG")
    dltb_frame(2015).drop(columns="DLBM").to_file(ws.root / "bgdc_2015.gpkg", layer="DLTB", driver="GPKG")
    (ws.root / "bgdc_2017.gpkg").write_bytes(b"not a database")
    ahead = validate_workspace(ws, store=LayerStore(ws, cache=None))
    monkeypatch.setattr(LayerStore, "read_ahead", lambda self, requests: None)
    in_turn = validate_workspace(ws, store=LayerStore(ws, cache=None))
    assert _findings(ahead) == _findings(in_turn)
    checks = {(f.check, f.year) for f in ahead.findings}
    assert {("area-filled", 2016), ("missing-field", 2015), ("unreadable-file", 2017)} <= checks


def test_a_layer_read_ahead_is_handed_over_once_and_a_strict_reader_gets_its_own_error(tmp_path, parses):
    from farmland.errors import LayerError

    ws = _ws(tmp_path)
    dltb_frame(2016).drop(columns="DLBM").to_file(ws.root / "bgdc_2016.gpkg", layer="DLTB", driver="GPKG")
    store = LayerStore(ws, cache=None)
    store.read_ahead([("DLTB", 2015), ("DLTB", 2016)])
    report = Report(strict=False)
    assert len(store.layer("DLTB", 2015, report=report)) == 4
    store.layer("DLTB", 2015, report=report)
    assert report.findings == []
    with pytest.raises(LayerError, match="DLBM"):  # the read ahead's error is not replayed as another kind
        store.layer("DLTB", 2016)
    store.close()
    assert [name for name, _ in parses] == ["bgdc_2015.gpkg"]  # 2016 is refused before parsing, both times


def test_a_store_that_holds_nothing_reads_again_and_still_records_the_files(tmp_path, parses):
    """``hold=False`` (assess --by-county): each request is its caller's alone, nothing stays."""
    ws = _ws(tmp_path)
    held = LayerStore(ws, cache=None).layer("DLTB", 2015)
    parses.clear()
    store = LayerStore(ws, cache=None, hold=False)
    first = store.layer("DLTB", 2015)
    first.loc[0, "DLBM"] = "9999"  # the caller's own frame: changing it changes no later read
    second = store.layer("DLTB", 2015)
    assert [name for name, _ in parses] == ["bgdc_2015.gpkg", "bgdc_2015.gpkg"]
    pd.testing.assert_frame_equal(pd.DataFrame(second.drop(columns="geometry")),
                                  pd.DataFrame(held.drop(columns="geometry")))
    assert "DLTB" not in repr(store)
    assert {p.name for p in store.files_read()} == {"bgdc_2015.gpkg"}


def test_a_store_that_holds_nothing_hands_a_read_ahead_over_once(tmp_path, parses):
    ws = _ws(tmp_path)
    store = LayerStore(ws, cache=None, hold=False)
    store.read_ahead([("DLTB", 2016)])
    assert len(store.layer("DLTB", 2016)) == 4
    store.close()
    assert "DLTB" not in repr(store)
    store.layer("DLTB", 2016, columns=["TBDLMJ"], geometry=False)
    assert [name for name, _ in parses] == ["bgdc_2016.gpkg", "bgdc_2016.gpkg"]


def test_reading_ahead_holds_one_layer_not_asked_for(tmp_path, parses):
    """Checks are slower than reads: an unbounded read-ahead would hold every snapshot at once."""
    ws = _ws(tmp_path)
    store = LayerStore(ws, cache=None, hold=False)
    store.read_ahead([("DLTB", 2015), ("JBNTTB", 2015), ("DLTB", 2016), ("JBNTTB", 2016)])
    assert list(store._ahead) == [("DLTB", 2015)]
    store.layer("DLTB", 2015)
    assert list(store._ahead) == [("JBNTTB", 2015)]  # the next one starts as this one is handed over
    store.layer("DLTB", 2016)  # JBNTTB 2015 was not asked for: skipped, not held
    assert list(store._ahead) == [("JBNTTB", 2016)]
    store.layer("JBNTTB", 2016)
    store.close()
    assert [name for name, _ in parses].count("bgdc_2016.gpkg") == 2  # DLTB by the caller, JBNTTB ahead


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux: threads listed in /proc")
def test_closing_a_store_waits_for_its_reading_thread_to_leave_the_os(tmp_path):
    """assess forks right after validation closes the store. A reading thread whose Python part
    was joined still ran its native clean-up (GDAL's PROJ closing its SQLite handle) for about a
    millisecond; a fork then copied the SQLite lock it held and the child hung for ever in PROJ's
    after-fork handler (seen in CI). After close() the thread is gone from the process."""
    import threading

    ws = _ws(tmp_path)
    for _ in range(5):  # the window was open after 19 closes in 20
        store = LayerStore(ws, cache=None)
        seen = []
        read = store._read_ahead
        store._read_ahead = lambda layer, year: seen.append(threading.get_native_id()) or read(layer, year)
        store.read_ahead([("XZQ", None), ("DLTB", 2015)])
        store.layer("XZQ")
        store.layer("DLTB", 2015)
        store.close()
        assert seen and not os.path.exists(f"/proc/self/task/{seen[0]}")


def test_a_store_that_holds_its_layers_reads_six_ahead(tmp_path, parses):
    """It keeps them for the later stages anyway; the next year is read while the first
    snapshot is checked."""
    ws = Workspace.load(write_workspace(tmp_path / "ws", years=(2015, 2016, 2017, 2018)))
    store = LayerStore(ws, cache=None)
    order = [(layer, year) for year in (2015, 2016, 2017, 2018) for layer in ("DLTB", "JBNTTB")]
    store.read_ahead(order)
    assert list(store._ahead) == order[:6]
    store.layer("DLTB", 2015)
    assert list(store._ahead) == order[1:7]
    for layer, year in order[1:]:
        store.layer(layer, year)
    store.close()
    assert len(parses) == 8  # each once, all ahead


def _identical(one, two) -> bool:
    return one.crs.equals(two.crs) and bool(shapely.equals_identical(np.asarray(one.geometry.values),
                                                                      np.asarray(two.geometry.values)).all())


def test_a_snapshot_tests_only_the_shapes_the_last_one_did_not_pass(tmp_path, monkeypatch):
    """2016 repeats two parcels' shapes (under new BSMs), changes one and repeats an invalid one:
    the validity test sees the changed and the invalid shape, and the invalid one is reported and
    repaired again, as a fresh read does."""
    root = write_workspace(tmp_path / "ws", years=(2015, 2016))
    bow_tie = shapely.Polygon([(X0 + 300, Y0), (X0 + 400, Y0 + 100), (X0 + 400, Y0), (X0 + 300, Y0 + 100)])
    for year in (2015, 2016):
        frame = dltb_frame(year)
        frame.loc[3, "geometry"] = bow_tie
        if year == 2016:
            frame.loc[2, "geometry"] = square(2).buffer(-1.0, join_style="mitre")
        frame.to_file(root / f"bgdc_{year}.gpkg", layer="DLTB", driver="GPKG")
    ws = Workspace.load(root)
    tested = []
    real = shapely.is_valid
    monkeypatch.setattr(shapely, "is_valid", lambda geoms, **kw: tested.append(len(geoms)) or real(geoms, **kw))
    store = LayerStore(ws, cache=None)
    for year, sizes in ((2015, [4]), (2016, [2])):
        report = Report(strict=False)
        tested.clear()
        kept = store.layer("DLTB", year, report=report)
        assert tested == sizes
        repaired = [f for f in report.findings if f.check == "invalid-geometry-repaired"]
        assert [f.ids for f in repaired] == [(f"{year}0004",)]
        fresh_report = Report(strict=False)
        assert _identical(kept, read_layer(ws, "DLTB", year, report=fresh_report))
        assert report.findings == fresh_report.findings


def test_shapes_placed_from_the_last_snapshot_are_a_fresh_reads(tmp_path):
    """The sample's 371525 is in zone 38 and the run's frame is zone 39: its unchanged parcels take
    their zone-39 shapes from the last snapshot, and those are the shapes reprojecting gives."""
    ws = Workspace.load(Path(__file__).resolve().parent.parent / "sample_data" / "liaocheng")
    store = LayerStore(ws, cache=None)
    for year in ws.period.data_years[:2]:  # the second takes its shapes from the first
        for layer in ("DLTB", "JBNTTB"):
            report, fresh_report = Report(strict=False), Report(strict=False)
            kept = store.layer(layer, year, report=report)
            fresh = read_layer(ws, layer, year, report=fresh_report)
            assert _identical(kept, fresh), (layer, year)
            assert report.findings == fresh_report.findings
    last = store.shapes._last["DLTB"]
    zone_38 = next(passed for key, passed in last.items() if "4526" in key or "zone 38" in key)
    assert zone_38.frame is not None and len(zone_38.keys) > 100


def test_a_caller_that_writes_into_its_frame_leaves_the_others_alone(tmp_path):
    """Frames are served as shallow copies; every kind of write a stage might make stays its own."""
    store = LayerStore(_ws(tmp_path), cache=None)
    one = store.layer("DLTB", 2015)
    before = store.layer("DLTB", 2015).copy(deep=True)  # nothing shared with the store
    one.loc[0, "TBDLMJ"] = -1.0
    one["DLBM"] = "999"
    one.geometry.values[1] = square(9)
    one["source_file"].array[2] = one["source_file"].iloc[0]
    one.attrs["files"].append("elsewhere.gpkg")
    with pytest.raises(ValueError):  # copy-on-write: a column shared with the store is read-only
        one["TBMJ"].to_numpy()[3] = 0.0
    other = store.layer("DLTB", 2015)
    pd.testing.assert_frame_equal(other, before)
    assert other.attrs["files"] == before.attrs["files"]


def test_a_snapshot_decodes_only_the_shapes_the_last_one_did_not_hold(tmp_path, monkeypatch):
    """2016 holds 2015's four shapes byte for byte but one: only that one is decoded, and the
    three that passed the checks are the very objects read in 2015 (a run holds each once)."""
    root = write_workspace(tmp_path / "ws", years=(2015, 2016))
    changed = dltb_frame(2016)
    changed.loc[2, "geometry"] = square(2).buffer(-1.0, join_style="mitre")
    changed.to_file(root / "bgdc_2016.gpkg", layer="DLTB", driver="GPKG")
    decoded = []
    real = shapely.from_wkb
    monkeypatch.setattr(shapely, "from_wkb", lambda wkb, **kw: decoded.append(len(wkb)) or real(wkb, **kw))
    store = LayerStore(Workspace.load(root), cache=None)
    first = store.layer("DLTB", 2015)
    assert decoded == [4]
    decoded.clear()
    second = store.layer("DLTB", 2016)
    assert decoded == [1]
    same = [a is b for a, b in zip(first.geometry.values, second.geometry.values, strict=True)]
    assert same == [True, True, False, True]
    assert _identical(second, read_layer(Workspace.load(root), "DLTB", 2016))


def test_wkb_keys_depend_on_the_bytes_alone():
    """Equal WKB, equal key, wherever it sits (in a slice, binary or large_binary, after a WKB
    shorter than the 16 bytes read); different shapes of a layer, different keys."""
    import pyarrow as pa

    from farmland.load.shapes import wkb_keys

    shapes = [square(col, row) for col in range(20) for row in range(20)] + [shapely.Polygon()]
    wkb = pa.array(shapely.to_wkb(np.array(shapes, dtype=object)), type=pa.binary())
    keys = wkb_keys(wkb)
    assert len(set(keys[:-1].tolist())) == 400
    for other in (wkb.slice(7), wkb.cast(pa.large_binary()).slice(7)):
        np.testing.assert_array_equal(wkb_keys(other), keys[7:])
    reordered = pa.array(shapely.to_wkb(np.array([shapely.Polygon(), *shapes[:-1][::-1]], dtype=object)))
    np.testing.assert_array_equal(wkb_keys(reordered)[1:], keys[:-1][::-1])


def test_a_cached_read_is_the_parsed_read(tmp_path):
    """The cache keeps the shapes as WKB: a read served from it is the read that parsed the file."""
    ws = _ws(tmp_path)
    cache = ReadCache(tmp_path / "cache")
    parsed = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    served = LayerStore(ws, cache=cache).layer("DLTB", 2015)
    assert cache.hits == 1
    pd.testing.assert_frame_equal(pd.DataFrame(served.drop(columns="geometry")),
                                  pd.DataFrame(parsed.drop(columns="geometry")), check_exact=True)
    assert _identical(served, parsed)


def test_a_snapshot_after_one_whose_shapes_all_failed_is_read_as_a_fresh_read(tmp_path):
    """Every 2015 parcel is outside its file's zone (refused and blanked), so the last snapshot
    keeps no shape: 2016 is decoded and checked whole, with a fresh read's findings."""
    root = write_workspace(tmp_path / "ws", years=(2015, 2016))
    for year in (2015, 2016):
        frame = dltb_frame(year)
        frame["geometry"] = frame.geometry.translate(-1_000_000.0)  # zone-38 eastings in a zone-39 file
        frame.to_file(root / f"bgdc_{year}.gpkg", layer="DLTB", driver="GPKG")
    ws = Workspace.load(root)
    store = LayerStore(ws, cache=None)
    for year in (2015, 2016):
        report, fresh_report = Report(strict=False), Report(strict=False)
        kept = store.layer("DLTB", year, report=report)
        fresh = read_layer(ws, "DLTB", year, report=fresh_report)
        assert len(kept) == len(fresh) == 4
        assert report.findings == fresh_report.findings
        assert any(f.severity == "error" for f in report.findings)


def test_a_shape_geos_cannot_build_is_reported_as_an_unreadable_file(tmp_path):
    """A ring left open in the file's bytes: the read reports the file, naming GEOS's reason."""
    import sqlite3
    import struct

    root = write_workspace(tmp_path / "ws", years=(2015,))
    path = root / "bgdc_2015.gpkg"
    open_ring = struct.pack("<bIII6d", 1, 3, 1, 3, X0, Y0, X0 + 10, Y0, X0 + 10, Y0 + 10)
    with sqlite3.connect(path) as db:
        column = db.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = 'DLTB'").fetchone()[0]
        # The spatial index's triggers call GeoPackage functions plain SQLite does not have.
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f'DROP TRIGGER "{trigger}"')
        blob = b"GP\0\x01" + struct.pack("<i", 4527) + open_ring  # header: no envelope, little-endian
        db.execute(f'UPDATE "DLTB" SET "{column}" = ? WHERE rowid = 2', (blob,))
    report = Report(strict=False)
    assert LayerStore(Workspace.load(root), cache=None).layer("DLTB", 2015, report=report) is None
    unreadable = [f for f in report.findings if f.check == "unreadable-file"]
    assert len(unreadable) == 1 and "closed" in unreadable[0].message and "re-export" in unreadable[0].message
    assert unreadable[0].ids == ("20150002",)  # the one feature whose shape is broken, by its BSM


def test_date_times_parse_as_pyogrio_parses_them(tmp_path):
    """Parsed with the shapes left as WKB, a file's date-times are what pyogrio.read_dataframe
    gives: naive ones to the millisecond, mixed offsets in UTC."""
    import geopandas as gpd

    from farmland.layers import parse_with_pyogrio

    path = tmp_path / "dates.gpkg"
    frame = gpd.GeoDataFrame({"naive": pd.to_datetime(["2018-05-03 08:30:00", "2019-12-31 00:00:00", None]),
                              "mixed": pd.Series(["2018-05-03T00:00:00+08:00", "2018-05-03T00:00:00Z", None]),
                              "BSM": ["1", "2", "3"]},
                             geometry=[square(0), square(1), square(2)], crs="EPSG:4527")
    frame["mixed"] = pd.to_datetime(frame["mixed"], format="ISO8601", utc=True)
    frame.to_file(path, layer="T", driver="GPKG")
    expected = pyogrio.read_dataframe(path, layer="T", use_arrow=True)
    parsed = parse_with_pyogrio(path, "T", ["naive", "mixed", "BSM"], True, None)
    pd.testing.assert_frame_equal(parsed.frame, pd.DataFrame(expected.drop(columns="geometry")), check_exact=True)
    assert shapely.equals_identical(shapely.from_wkb(parsed.wkb.to_numpy(zero_copy_only=False)),
                                    expected.geometry.values).all()


def test_a_wkb_column_of_several_chunks_is_one_large_binary_array():
    import pyarrow as pa

    from farmland.layers import wkb_array

    wkb = shapely.to_wkb(np.array([square(i) for i in range(5)], dtype=object))
    column = pa.chunked_array([pa.array(wkb[:2], type=pa.binary()), pa.array(wkb[2:], type=pa.binary()).slice(1)])
    joined = wkb_array(column)
    assert joined.type == pa.large_binary()
    assert joined.to_pylist() == [*wkb[:2], *wkb[3:]]
