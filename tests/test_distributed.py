"""The Dask path (farmland.distributed) gives the single-process results exactly (issue 10)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

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


def test_dask_and_single_process_give_identical_results(province):
    one = assess(province)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        two = assess(province, client=client)
    pd.testing.assert_frame_equal(one.metrics.table, two.metrics.table, check_exact=True)
    for level in ("county", "township"):
        names = [name for name, _ in one.results(level)]
        assert names == [name for name, _ in two.results(level)] and names
        for (name, a), (_, b) in zip(one.results(level), two.results(level), strict=True):
            pd.testing.assert_frame_equal(a.table, b.table, check_exact=True, obj=f"{level} {name}")
            pd.testing.assert_frame_equal(a.trail, b.trail, check_exact=True, obj=f"{level} {name} trail")
    assert len(one.metrics.table.query("level == 'city'")) and len(one.metrics.table.query("level == 'township'"))
