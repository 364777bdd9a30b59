"""Benchmark ``farmland assess`` against the read floor and a straightforward geopandas version.

Run from the repository root::

    python benchmarks/bench_assess.py                                 # 300 000 parcels, 3 runs
    python benchmarks/bench_assess.py --parcels 1000000 --repeat 1
    python benchmarks/bench_assess.py --workdir /tmp/city --skip-naive

It generates (once; reused afterwards) a city with ``farmland sample DIR --parcels N --seed S``
under ``benchmarks/_data/`` (or ``--workdir``), then measures, each run in a fresh process so
that every peak is its own (``os.wait4``: the child's ``ru_maxrss``, the largest single process;
and the peak of the summed PSS of the child and the processes it forks, sampled every second (≈2 ms a reading), which
counts memory the forked helper shares with its parent once):

(a) ``floor`` — reading every input ``assess`` reads (each layer of each year, all county files,
    the tables and the rasters) with ``pyogrio.read_arrow`` + ``shapely.from_wkb`` into geometry
    arrays, CSV with pyarrow and rasters with rasterio; nothing else;
(b) ``naive`` — ``benchmarks/naive.py``: the main figures with geopandas as a user would write them
    (read_file, to_crs, per-geometry pyproj Geod area, geopandas.overlay, rasterio.mask);
(c) farmland: ``validate_workspace`` alone; ``compute_metrics`` alone (every year, level and phase,
    as ``assess`` asks for them, without the reads validation shares with it inside ``assess``);
    ``farmland.pipeline.assess`` with its phases timed in place: validation, then the metrics and
    the audit (side by side in a forked child and this process, ``farmland.parallel``), then the
    scoring of both levels; ``write_assessment`` of a pickled assessment; ``farmland.area.ellipsoidal_area`` of
    every DLTB parcel of every year (the recomputed-area part of validation); and the whole
    ``farmland assess`` command as a subprocess (wall time including interpreter start), and the
    same with ``--no-pdf`` (what Chromium's printing adds).

Seconds are the median over ``--repeat`` runs (times inside the child, imports excluded, except
for the CLI); the 1-minute load average is recorded before every run, because other jobs may be
sharing the machine. The table is printed and written as Markdown to
``benchmarks/_data/bench_assess_<N>.md``. This is code, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FARMLAND = Path(sys.executable).with_name("farmland")


# -- the measured stages (each runs in its own process: ``--measure STAGE``) ------------------------


def read_floor(root: Path) -> dict:
    """Read every input file of the workspace once into Arrow tables and geometry arrays."""
    import pyarrow.csv
    import pyarrow.parquet
    import rasterio
    import shapely

    from farmland import Workspace
    from farmland.layers import layer_exists

    ws = Workspace.load(root)
    decoded = files = features = 0
    for name, src in ws.layers.items():
        for year in (ws.period.data_years if src.per_year else [None]):
            if not layer_exists(ws, name, year):
                continue
            for path in ws.paths(name, year):
                suffix = path.suffix.lower()
                files += 1
                if suffix in (".tif", ".tiff"):
                    with rasterio.open(path) as raster:
                        decoded += raster.read(1).nbytes
                elif suffix in (".csv", ".txt"):
                    decoded += pyarrow.csv.read_csv(path).nbytes
                elif suffix == ".parquet":
                    table = pyarrow.parquet.read_table(path)
                    shapely.from_wkb(table["geometry"].to_numpy(zero_copy_only=False))
                    decoded += table.nbytes
                    features += table.num_rows
                else:
                    import pyogrio

                    if src.layer and src.layer not in pyogrio.list_layers(path)[:, 0]:
                        continue  # e.g. no change records in the base year's database
                    meta, table = pyogrio.read_arrow(path, layer=src.layer)
                    column = meta["geometry_name"] or "wkb_geometry"
                    shapely.from_wkb(table[column].to_numpy(zero_copy_only=False))
                    decoded += table.nbytes
                    features += table.num_rows
    for table in (ws.targets_path,):
        if table is not None and table.exists():
            files += 1
            decoded += pyarrow.csv.read_csv(table).nbytes
    return {"files": files, "features": features, "decoded_mib": decoded / 2**20}


def dltb_areas(root: Path) -> dict:
    """``ellipsoidal_area`` of every DLTB parcel of every year (read untimed, area timed)."""
    import pyogrio
    import shapely

    from farmland import Workspace
    from farmland.area import ellipsoidal_area

    ws = Workspace.load(root)
    parts = []
    for year in ws.period.data_years:
        for path in ws.paths("DLTB", year):
            meta, table = pyogrio.read_arrow(path, layer=ws.layers["DLTB"].layer, columns=[])
            parts.append((shapely.from_wkb(table[meta["geometry_name"] or "wkb_geometry"]
                                           .to_numpy(zero_copy_only=False)), meta["crs"]))
    start = time.perf_counter()
    parcels = sum(len(ellipsoidal_area(geoms, crs)) for geoms, crs in parts)
    return {"seconds": time.perf_counter() - start, "parcels": parcels}


def measure(stage: str, root: Path, scratch: Path) -> dict:
    """Run one stage; return its seconds (imports and untimed setup excluded) and notes."""
    if stage == "area":
        return dltb_areas(root)
    start = time.perf_counter()
    notes: dict = {}
    if stage == "floor":
        notes = read_floor(root)
    elif stage == "naive":
        sys.path.insert(0, str(HERE))
        import naive

        figures, clock = naive.run(root)
        notes = {"parts": {k: round(v, 1) for k, v in clock.items()},
                 "city_arable_mu_last_year": round(float(figures.groupby("year")["arable_mu"].sum().iloc[-1]), 2)}
    elif stage == "validate":
        from farmland.validate import validate_workspace

        report = validate_workspace(root)
        notes = {"ok": report.ok, "findings": len(report.findings)}
    elif stage == "metrics":
        from farmland import Workspace
        from farmland.metrics import compute_metrics
        from farmland.report import Report

        ws = Workspace.load(root)
        result = compute_metrics(ws, ws.period.data_years, level=("county", "township", "city"),
                                 phases=("annual", "midterm", "final"), report=Report(strict=True))
        notes = {"rows": len(result.table)}
    elif stage == "assess":
        import farmland.pipeline as pipeline

        parts = {"validate": 0.0, "scoring": 0.0}

        def timing(name, fn):
            def wrapper(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    parts[name] += time.perf_counter() - t0
            return wrapper

        # Timed here, in the parent: the metrics may run in a forked child (farmland.parallel).
        pipeline._validated = timing("validate", pipeline._validated)
        pipeline._scored = timing("scoring", pipeline._scored)
        start = time.perf_counter()
        assessment = pipeline.assess(root)
        seconds = time.perf_counter() - start
        pickled = scratch / "assessment.pkl"
        if not pickled.exists():
            assessment.store = None  # the layers themselves: write_assessment reads its maps' again
            pickled.write_bytes(pickle.dumps(assessment))
        parts["metrics_audit"] = seconds - parts["validate"] - parts["scoring"]
        return {"seconds": seconds, "parts": parts}
    elif stage == "by_county":
        from farmland.pipeline import assess

        start = time.perf_counter()
        assessment = assess(root, by_county=True)
        notes = {"counties": len(assessment.final.table)}
    elif stage == "write":
        from farmland.pipeline import write_assessment

        assessment = pickle.loads((scratch / "assessment.pkl").read_bytes())
        start = time.perf_counter()
        write_assessment(assessment, scratch / "out_write", overwrite=True)
    else:
        raise ValueError(stage)
    return {"seconds": time.perf_counter() - start, **notes}


# -- the driver -------------------------------------------------------------------------------------


def _tree_pss_mib(pid: int) -> float:
    """Summed proportional set size of ``pid`` and its descendants (Linux; 0 elsewhere)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024.0


class _TreeMemory(threading.Thread):
    """Samples the summed PSS of a process tree until stopped; ``peak`` in MiB."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._finished = pid, 0.0, threading.Event()

    def run(self):
        while not self._finished.wait(1.0):
            self.peak = max(self.peak, _tree_pss_mib(self.pid))

    def stop(self) -> float:
        self._finished.set()
        self.join()
        return self.peak


def run_child(command: list[str], env: dict | None = None) -> tuple[dict, float, float, float, float]:
    """Run ``command``; return (its JSON result or {}, wall seconds, peak RSS MiB of its largest
    process, peak summed PSS MiB of its process tree, CPU seconds: user + system of every thread
    and of the processes it waited for, so CPU above wall means the second core worked too)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        memory = _TreeMemory(child.pid)
        memory.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        tree_peak = memory.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({child.returncode}):\n{stderr[-3000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return ((json.loads(lines[-1]) if lines else {}), wall, usage.ru_maxrss / 1024.0, tree_peak,
            usage.ru_utime + usage.ru_stime)


def generate(root: Path, parcels: int, seed: int) -> None:
    if (root / "farmland.toml").exists():
        print(f"reusing {root}", flush=True)
        return
    print(f"generating {parcels} parcels (seed {seed}) in {root} … load {os.getloadavg()[0]:.2f}", flush=True)
    start = time.perf_counter()
    subprocess.run([str(FARMLAND), "sample", str(root), "--parcels", str(parcels), "--seed", str(seed)],
                   check=True)
    print(f"generated in {time.perf_counter() - start:.0f} s", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage (median reported)")
    parser.add_argument("--naive-repeat", type=int, default=None,
                        help="runs of the naive version (default: --repeat, or 1 when the first run "
                             "takes more than 10 minutes)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="the city's folder (reused when it holds a farmland.toml)")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--stages", default=None,
                        help="comma-separated stages to run (default: all): floor, naive, validate, metrics, "
                             "assess, assess_cold, assess_warm, by_county, write, area, cli, cli_no_pdf, "
                             "cli_by_county")
    parser.add_argument("--markdown", type=Path, default=None, help="where to write the Markdown table")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = (args.workdir or HERE / "_data" / f"city_{args.parcels}_s{args.seed}").resolve()
    if args.measure:
        print(json.dumps(measure(args.measure, root, args.scratch)))
        return

    generate(root, args.parcels, args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="bench_assess_", dir=HERE / "_data"))
    me = [sys.executable, __file__, "--workdir", str(root), "--scratch", str(scratch), "--measure"]
    runs: dict[str, list[dict]] = {}

    # Every stage parses its inputs (no cache of parsed files), except the two cache rows.
    parse = {**os.environ, "FARMLAND_NO_CACHE": "1"}
    cache_dir = scratch / "cache"
    cached = {**{k: v for k, v in os.environ.items() if k != "FARMLAND_NO_CACHE"},
              "FARMLAND_CACHE_DIR": str(cache_dir)}

    wanted = set(args.stages.split(",")) if args.stages else None

    def run(stage: str, command: list[str], times: int, env=parse, before=None) -> None:
        if wanted is not None and stage not in wanted:
            return
        for k in range(times):
            if before is not None:
                before()
            load = os.getloadavg()[0]
            result, wall, peak, tree_peak, cpu = run_child(command, env)
            seconds = result.get("seconds", wall)
            runs.setdefault(stage, []).append({**result, "seconds": seconds, "wall": wall, "peak_mib": peak,
                                               "tree_pss_mib": tree_peak, "cpu": cpu, "load": load})
            extra = {k: v for k, v in result.items() if k not in ("seconds",)}
            print(f"  {stage:>9} run {k + 1}/{times}: {seconds:8.1f} s, CPU {cpu:7.1f} s (whole process), "
                  f"peak {peak:7.0f} MiB (tree PSS {tree_peak:7.0f}), load {load:.2f}"
                  + (f"  {json.dumps(extra, ensure_ascii=False)}" if extra else ""), flush=True)

    try:
        run("floor", [*me, "floor"], args.repeat)
        if not args.skip_naive and (wanted is None or "naive" in wanted):
            first = args.naive_repeat or args.repeat
            run("naive", [*me, "naive"], 1)
            more = (args.naive_repeat - 1 if args.naive_repeat
                    else (0 if runs["naive"][0]["seconds"] > 600 else first - 1))
            if more:
                run("naive", [*me, "naive"], more)
        run("validate", [*me, "validate"], args.repeat)
        run("metrics", [*me, "metrics"], args.repeat)
        run("assess", [*me, "assess"], args.repeat)
        # The cache of parsed files: a first run parses and keeps them; later runs read them back.
        run("assess_cold", [*me, "assess"], args.repeat, env=cached,
            before=lambda: shutil.rmtree(cache_dir, ignore_errors=True))
        run("assess_warm", [*me, "assess"], args.repeat, env=cached)
        run("by_county", [*me, "by_county"], args.repeat)
        run("write", [*me, "write"], args.repeat)
        run("area", [*me, "area"], args.repeat)
        run("cli", [str(FARMLAND), "assess", str(root), "-o", str(scratch / "out_cli"), "--overwrite"],
            args.repeat)
        run("cli_no_pdf", [str(FARMLAND), "assess", str(root), "-o", str(scratch / "out_cli"), "--overwrite",
                           "--no-pdf"], args.repeat)
        run("cli_by_county", [str(FARMLAND), "assess", str(root), "-o", str(scratch / "out_cli"), "--overwrite",
                              "--by-county"], args.repeat)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    table = summarise(runs)
    print()
    print(table)
    target = args.markdown or HERE / "_data" / f"bench_assess_{args.parcels}.md"
    target.write_text(table + "\n", encoding="utf-8")
    raw = target.with_suffix(".json")
    raw.write_text(json.dumps(runs, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {target} (raw runs: {raw})")


LABELS = {
    "floor": "(a) read floor: pyogrio.read_arrow + shapely.from_wkb, rasterio, CSV",
    "naive": "(b) straightforward geopandas (benchmarks/naive.py)",
    "validate": "(c) validate_workspace, alone",
    "metrics": "(c) compute_metrics, alone (all years, levels, phases)",
    "assess.validate": "(c) assess(): validation",
    "assess.metrics_audit": "(c) assess(): compute_metrics beside the audit of the last year",
    "assess.scoring": "(c) assess(): scoring of both levels",
    "assess": "(c) assess() total",
    "assess_cold": "(c) assess() total, empty cache (parses and keeps the parsed files)",
    "assess_warm": "(c) assess() total, warm cache (a second run on the same data)",
    "by_county": "(c) assess(by_county=True): one county at a time (no audit)",
    "write": "(c) write_assessment of the pickled assessment (no layers held: maps and lists read theirs again)",
    "area": "(c) ellipsoidal_area of every DLTB parcel, all years",
    "cli": "(c) `farmland assess` CLI (wall, incl. start-up and writing)",
    "cli_no_pdf": "(c) `farmland assess --no-pdf` CLI (everything but Chromium's printing)",
    "cli_by_county": "(c) `farmland assess --by-county` CLI",
}


def summarise(runs: dict[str, list[dict]]) -> str:
    rows = dict(runs)
    if "assess" in runs:  # the parts timed inside the same assess() runs; the peak is the whole run's
        for part in ("validate", "metrics_audit", "scoring"):
            rows[f"assess.{part}"] = [{**r, "seconds": r["parts"][part], "peak_mib": None, "tree_pss_mib": None,
                                       "cpu": None} for r in runs["assess"]]
    median = {k: statistics.median(r["seconds"] for r in v) for k, v in rows.items()}
    floor, naive = median.get("floor"), median.get("naive")
    lines = ["| stage | median s | runs | × floor | × naive | CPU s (process) | peak MiB (largest process) "
             "| peak MiB (PSS of the tree) | load (1 min) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for key, label in LABELS.items():
        if key not in rows:
            continue
        peaks = [r["peak_mib"] for r in rows[key] if r["peak_mib"] is not None]
        tree = [r["tree_pss_mib"] for r in rows[key] if r.get("tree_pss_mib") is not None]
        cpus = [r["cpu"] for r in rows[key] if r.get("cpu") is not None]
        loads = [r["load"] for r in rows[key]]
        lines.append(
            f"| {label} | {median[key]:.1f} | {len(rows[key])} | "
            + (f"{median[key] / floor:.2f}" if floor else "–") + " | "
            + (f"{median[key] / naive:.2f}" if naive else "–") + " | "
            + (f"{statistics.median(cpus):.1f}" if cpus else "–") + " | "
            + (f"{max(peaks):.0f}" if peaks else "(in assess)") + " | "
            + (f"{max(tree):.0f}" if tree else "–") + " | "
            + (f"{min(loads):.1f}–{max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}") + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
