"""The Dask path (farmland.distributed) gives the single-process results exactly (issue 10)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from builders import assert_same_assessment

distributed = pytest.importorskip("distributed", reason="the Dask path needs pip install 'farmland[dask]'")

from farmland.distributed import plan_partitions  # noqa: E402
from farmland.errors import WorkspaceError  # noqa: E402
from farmland.pipeline import assess  # noqa: E402
from farmland.report import Report  # noqa: E402
from farmland.sample import generate_province  # noqa: E402
from farmland.workspace import Workspace  # noqa: E402


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    return Workspace.load(generate_province(tmp_path_factory.mktemp("province") / "p", counties=4, parcels=800,
                                            seed=3))


def test_partitions_are_the_county_folders(province):
    partitions = plan_partitions(province, Report(strict=False))
    assert [p.folder for p in partitions] == ["379001", "379002", "379003", "379004"]
    assert all(p.units == (p.folder,) for p in partitions)


def test_a_city_wide_land_use_layer_is_refused(province):
    dltb = dataclasses.replace(province.layers["DLTB"], template="all/DLTB_{year}.parquet")
    ws = dataclasses.replace(province, layers={**province.layers, "DLTB": dltb})
    with pytest.raises(WorkspaceError, match="not stored per county"):
        plan_partitions(ws, Report(strict=False))


@pytest.fixture(scope="module")
def single(province):
    return assess(province)


def test_dask_and_single_process_give_identical_results(province, single):
    one = single
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        two = assess(province, client=client)
    assert_same_assessment(one, two)
    assert len(one.metrics.table.query("level == 'city'")) and len(one.metrics.table.query("level == 'township'"))


def test_assess_workers_on_the_command_line(province, single, tmp_path):
    """``farmland assess --workers 1`` runs a local cluster and writes the single-process scores."""
    from click.testing import CliRunner

    from farmland.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["-q", "assess", str(province.root), "-o", str(out), "--workers", "1",
                                       "--no-pdf"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out / "scores_final.csv", dtype={"xzqdm": str}, encoding="utf-8-sig")
    expected = single.final.table
    assert written["xzqdm"].tolist() == expected["xzqdm"].tolist()
    assert written["total"].tolist() == pytest.approx(expected["total"].tolist(), abs=1e-9)


def test_workers_and_a_scheduler_together_are_a_usage_error(province, tmp_path):
    from click.testing import CliRunner

    from farmland.cli import main

    result = CliRunner().invoke(main, ["assess", str(province.root), "-o", str(tmp_path / "out"), "--workers", "1",
                                       "--dask", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "give one of" in result.output
    assert not (tmp_path / "out").exists()
