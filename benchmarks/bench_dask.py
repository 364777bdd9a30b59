"""Validation + metrics of a generated province: single process against Dask with 1 and 2 workers.

    /work/venv/bin/python benchmarks/bench_dask.py --counties 30 --parcels 30000 --repeat 1

Generates ``benchmarks/_data/province_<C>_<N>_s<S>/`` once (``farmland.sample.generate_province``),
then times what ``farmland assess`` does before scoring: ``validate_workspace`` + ``compute_metrics``
in this process, and ``farmland.distributed.validated_metrics`` on a ``LocalCluster`` of 1 and of 2
single-threaded worker processes (cluster start-up timed apart). Every Dask run's metrics table is
checked to equal the single-process one. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from farmland.distributed import validated_metrics
from farmland.layers import shared_reads
from farmland.metrics import compute_metrics
from farmland.report import Report
from farmland.sample import generate_province
from farmland.validate import validate_workspace
from farmland.workspace import Workspace

LEVELS = ("county", "township", "city")
PHASES = ("annual", "midterm", "final")


def single(ws: Workspace):
    with shared_reads():
        assert validate_workspace(ws).ok
        return compute_metrics(ws, ws.period.data_years, level=LEVELS, phases=PHASES, report=Report(strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counties", type=int, default=30)
    parser.add_argument("--parcels", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    folder = Path(__file__).parent / "_data" / f"province_{args.counties}_{args.parcels}_s{args.seed}"
    if not (folder / "farmland.toml").exists():
        start = time.perf_counter()
        generate_province(folder, counties=args.counties, parcels=args.parcels, seed=args.seed)
        print(f"generated {folder} in {time.perf_counter() - start:.0f} s")
    ws = Workspace.load(folder)

    times: dict[str, list[float]] = {"single process": []}
    reference = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        reference = single(ws)
        times["single process"].append(time.perf_counter() - start)
    startup = {}
    for n in args.workers:
        label = f"dask, {n} worker{'s' if n > 1 else ''}"
        times[label] = []
        start = time.perf_counter()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            startup[label] = time.perf_counter() - start
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = validated_metrics(ws, client, level=LEVELS, phases=PHASES)
                times[label].append(time.perf_counter() - start)
                pd.testing.assert_frame_equal(result.table, reference.table, check_exact=True)
    base = statistics.median(times["single process"])
    rows = [f"| {label} | {statistics.median(t):.1f} | {' / '.join(f'{x:.1f}' for x in t)} | "
            f"{base / statistics.median(t):.2f}× | {startup.get(label, 0):.1f} |" for label, t in times.items()]
    print(f"\n{args.counties} counties, {args.parcels} parcels, seed {args.seed}, {args.repeat} run(s) each; "
          "metrics tables identical\n")
    print("| run | median s | runs s | speed-up | cluster start s |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
