"""``assess --by-county``: one county at a time, each in a child process, the single run's results."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import geopandas as gpd
import pytest
from builders import assert_same_assessment
from click.testing import CliRunner

import farmland.distributed as distributed
from farmland.cli import main
from farmland.distributed import plan_partitions, sub_workspace
from farmland.load import LayerStore
from farmland.parallel import JOBS_ENV
from farmland.pipeline import assess, write_assessment
from farmland.reports import writer
from farmland.report import Report
from farmland.sample import generate_province
from farmland.workspace import Workspace

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "liaocheng"


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    return Workspace.load(generate_province(tmp_path_factory.mktemp("province") / "p", counties=3, parcels=300,
                                            seed=5))


@pytest.fixture(scope="module")
def single(province):
    return assess(province)


@pytest.fixture(scope="module")
def single_written(single, tmp_path_factory):
    """The single run's outputs but its audit, which the by-county path does not make (no PDFs:
    the flag changes which parcels are read, not the pages)."""
    return write_assessment(dataclasses.replace(single, audit=None), tmp_path_factory.mktemp("single") / "out",
                            pdf=False)


def assert_same_files(written: Path, expected: Path) -> None:
    """Every output of a by-county run is the single run's, byte for byte, but the manifest's
    parameter saying how it was run and the validation report, whose notes on the metrics
    (series breaks, target bases) come once per county instead of once naming every county."""
    names = sorted(p.relative_to(written).as_posix() for p in written.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file())
    assert any(name.startswith("problem_parcels/") for name in names)
    different = [name for name in names if (written / name).read_bytes() != (expected / name).read_bytes()]
    assert different == ["manifest.json", "validation.txt"]
    manifest = json.loads((written / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["by_county"] is True


def test_each_county_runs_in_a_child_of_its_own(province, single, single_written, monkeypatch, tmp_path):
    monkeypatch.delenv(JOBS_ENV, raising=False)
    monkeypatch.setattr("farmland.parallel._single_threaded", lambda: True)  # whatever threads the suite left
    monkeypatch.setattr("farmland.parallel._cpus", lambda: 1)  # a child for the memory, even on one core
    pids = tmp_path / "pids"
    real = distributed.run_partition

    def noting_the_process(*args, **kwargs):
        with pids.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(distributed, "run_partition", noting_the_process)
    said = []
    by_county = assess(province, by_county=True, progress=said.append)
    assert_same_assessment(single, by_county)
    assert "3 counties, one at a time" in said and "county 379003 (3/3)" in said
    assert by_county.audit is None  # not made on this path (docs/scale.md)
    children = pids.read_text().split()
    assert len(children) == 3 and len(set(children)) == 3 and str(os.getpid()) not in children
    # The reports read each county's parcels in a child too: its maps, then its problem records.
    pids.unlink()
    real_maps, real_records = writer._county_maps, writer._county_records

    def maps_noting(*args):
        with pids.open("a") as out:
            out.write(f"maps {os.getpid()}\n")
        return real_maps(*args)

    def records_noting(*args):
        with pids.open("a") as out:
            out.write(f"records {os.getpid()}\n")
        return real_records(*args)

    monkeypatch.setattr(writer, "_county_maps", maps_noting)
    monkeypatch.setattr(writer, "_county_records", records_noting)
    assert_same_files(write_assessment(by_county, tmp_path / "out", pdf=False), single_written)
    lines = [line.split() for line in pids.read_text().splitlines()]
    assert sorted(kind for kind, _ in lines) == ["maps"] * 3 + ["records"] * 3
    assert len({pid for _, pid in lines}) == 6 and str(os.getpid()) not in {pid for _, pid in lines}


def test_a_county_in_another_zone_overlays_in_the_whole_runs_frame(tmp_path):
    """The sample's 371525 is in zone 38 (EPSG:4526), the others in zone 39: a whole read brings
    its change records into zone 39, so the county's own read must too. In its own zone an
    approval that only touches a change piece became evidence of the piece (30 metric rows)."""
    ws = Workspace.load(SAMPLE)
    partition = next(p for p in plan_partitions(ws, Report(strict=False)) if p.folder == "371525")
    sub, _ = sub_workspace(ws, partition, tmp_path)
    assert sub.layers["DLTBGXGC"].frame_crs == "EPSG:4527"
    changes = LayerStore(sub, cache=None).layer("DLTBGXGC", 2017)
    assert changes.crs.to_epsg() == 4527
    assert changes.attrs["source_crs"][next(iter(changes.attrs["source_crs"]))].to_epsg() == 4526


def test_the_command_line_writes_the_single_process_outputs(province, single_written, tmp_path):
    """In this process (the suite's FARMLAND_JOBS=1), as on machines that cannot fork."""
    # About the flag, not the reports: the PDFs would take most of the test's time.
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["-q", "assess", str(province.root), "-o", str(out), "--by-county",
                                       "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert_same_files(out, single_written)


def test_by_county_with_workers_is_a_usage_error(province, tmp_path):
    result = CliRunner().invoke(main, ["assess", str(province.root), "-o", str(tmp_path / "out"), "--by-county",
                                       "--workers", "1"])
    assert result.exit_code == 2 and "give one of" in result.output
    assert not (tmp_path / "out").exists()


def test_a_defect_in_one_county_is_refused_with_validates_message(province, tmp_path):
    """The command exits 1 naming the file and ids, as ``farmland validate`` does; nothing is written."""
    import shutil

    root = tmp_path / "p"
    shutil.copytree(province.root, root)
    path = root / "counties" / "379002" / "DLTB_2018.parquet"
    frame = gpd.read_parquet(path)
    frame.loc[1, "BSM"] = frame.loc[0, "BSM"]
    frame.to_parquet(path)
    validated = CliRunner().invoke(main, ["validate", str(root), "--no-cache"])
    assert validated.exit_code == 1
    out = tmp_path / "out"
    assessed = CliRunner().invoke(main, ["assess", str(root), "-o", str(out), "--by-county", "--no-cache"])
    assert assessed.exit_code == 1, assessed.output
    assert "nothing was assessed" in assessed.output
    line = next(line for line in validated.output.splitlines() if "occur more than once" in line)
    assert line.strip() in assessed.output
    assert not out.exists()


def test_a_city_wide_land_use_layer_is_refused_naming_the_flag(tmp_path):
    """One DLTB file for the whole city cannot be split by county: the message says so and how to fix it."""
    from builders import write_workspace

    root = write_workspace(tmp_path / "ws")
    result = CliRunner().invoke(main, ["assess", str(root), "-o", str(tmp_path / "out"), "--by-county"])
    assert result.exit_code == 1, result.output
    assert "is not stored per county" in result.output and "--by-county" in result.output
    assert "counties/*/" in result.output and not (tmp_path / "out").exists()
