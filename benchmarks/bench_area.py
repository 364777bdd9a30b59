"""Benchmark the statutory ellipsoidal area against a per-geometry pyproj loop.

Run from the repository root::

    python benchmarks/bench_area.py            # 60 000 and 100 000 parcels
    python benchmarks/bench_area.py 20000      # other sizes

It generates a realistic layer in EPSG:4527 (CGCS2000 3° zone 39, eastings with the 39 prefix)
over Liaocheng: a jittered grid of 5–12-vertex parcels, 60–400 m across (about the size of 三调
arable parcels), a fifth of them with a hole. It then times

* ``farmland.area.ellipsoidal_area`` (statutory: 70 m densification, footpoint series, official
  rounding) on the whole array at once;
* the usual per-geometry alternative: for each parcel, a pyproj ``Transformer`` to CGCS2000
  lon/lat (``shapely.transform``; ``shapely.ops.transform`` is deprecated in shapely 2.2 and
  slower), then ``Geod(ellps="GRS80").geometry_area_perimeter`` (geodesic edges, no
  densification);
* the same pyproj loop on pre-transformed coordinates (the floor of any per-geometry loop).

and prints times, ratios and the largest relative difference between the two areas (which is
dominated by the loop's undensified geodesic edges, not by the statutory method: see
tests/test_area.py for the comparison with a 1 m-densified GeographicLib reference).

On a workspace (a generated city, ``farmland sample DIR --parcels N``)::

    python benchmarks/bench_area.py --workspace benchmarks/_data/city_300000_s0 [--repeat 3]

it times, against the read floor of the DLTB layers of every data year (``pyogrio.read_arrow`` of
each county database's whole layer + ``shapely.from_wkb``), on all their parcels:
``ellipsoidal_area`` (statutory), ``scale_corrected_area`` (screening) and ``area_gaps`` against
the stored TBMJ with validation's tolerance (the recomputed-area check). Each round runs the four in
turn, so that all share the machine's load of that minute; the table gives medians and × floor.
This is code, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pyproj
import shapely

from farmland.area import area_gaps, ellipsoidal_area, scale_corrected_area

CRS = "EPSG:4527"


def generate_parcels(n: int, seed: int = 0) -> np.ndarray:
    """Jittered grid of star-shaped 5–12-vertex parcels in EPSG:4527 over Liaocheng."""
    rng = np.random.default_rng(seed)
    forward = pyproj.Transformer.from_crs("EPSG:4490", CRS, always_xy=True)
    # Liaocheng's zone-39 part: about 115.5–116.53°E, 35.8–37.0°N.
    x0, y0 = forward.transform(115.6, 36.0)
    side = int(np.ceil(np.sqrt(n)))
    pitch = 450.0  # m between grid cells, so neighbouring parcels never overlap
    ix, iy = np.divmod(np.arange(n), side)
    cx = x0 + ix * pitch + rng.uniform(-20, 20, n)
    cy = y0 + iy * pitch + rng.uniform(-20, 20, n)
    radius = rng.uniform(30, 200, n)
    n_vertices = rng.integers(5, 13, n)

    # Star-shaped rings (angles jittered around a regular polygon, radii 0.6–1.0 R) are
    # always simple, so every parcel is valid without repair.
    ring_id = np.repeat(np.arange(n), n_vertices)
    k = np.arange(len(ring_id)) - np.repeat(np.cumsum(n_vertices) - n_vertices, n_vertices)
    step = 2 * np.pi / n_vertices[ring_id]
    angle = k * step + rng.uniform(-0.3, 0.3, len(ring_id)) * step
    r = radius[ring_id] * rng.uniform(0.6, 1.0, len(ring_id))
    coords = np.c_[cx[ring_id] + r * np.cos(angle), cy[ring_id] + r * np.sin(angle)]
    shells = shapely.linearrings(coords, indices=ring_id)

    with_hole = rng.random(n) < 0.2
    hole_angle = np.linspace(0, 2 * np.pi, 7)[:-1][::-1]  # clockwise hexagon
    holes = np.full(n, None, dtype=object)
    h = np.flatnonzero(with_hole)
    hole_coords = np.stack(
        [
            cx[h, None] + 0.25 * radius[h, None] * np.cos(hole_angle),
            cy[h, None] + 0.25 * radius[h, None] * np.sin(hole_angle),
        ],
        axis=-1,
    )
    holes[h] = shapely.linearrings(hole_coords)
    polygons = np.array(
        [
            shapely.Polygon(shell, [hole]) if hole is not None else shapely.Polygon(shell)
            for shell, hole in zip(shells, holes)
        ],
        dtype=object,
    )
    return polygons


def pyproj_loop_ops_transform(geoms: np.ndarray) -> np.ndarray:
    """Per-geometry geodesic area as it is most often written: shapely.ops.transform + Geod."""
    import shapely.ops

    geod = pyproj.Geod(ellps="GRS80")
    to_lonlat = pyproj.Transformer.from_crs(CRS, "EPSG:4490", always_xy=True)
    with warnings.catch_warnings():  # deprecated in shapely 2.2, still the common idiom
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.array(
            [abs(geod.geometry_area_perimeter(shapely.ops.transform(to_lonlat.transform, g))[0])
             for g in geoms]
        )


def pyproj_loop(geoms: np.ndarray) -> np.ndarray:
    """Per-geometry geodesic area with the faster shapely.transform (array per geometry)."""
    geod = pyproj.Geod(ellps="GRS80")
    to_lonlat = pyproj.Transformer.from_crs(CRS, "EPSG:4490", always_xy=True)

    def lonlat(xy):
        return np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))

    return np.array(
        [abs(geod.geometry_area_perimeter(shapely.transform(g, lonlat))[0]) for g in geoms]
    )


def pyproj_loop_pretransformed(geoms_lonlat: np.ndarray) -> np.ndarray:
    """The floor of any per-geometry loop: Geod only, on coordinates transformed at once."""
    geod = pyproj.Geod(ellps="GRS80")
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in geoms_lonlat])


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def main(sizes: list[int]) -> None:
    to_lonlat = pyproj.Transformer.from_crs(CRS, "EPSG:4490", always_xy=True)
    ellipsoidal_area(generate_parcels(100), CRS)  # warm-up: imports, PROJ database
    for n in sizes:
        geoms, t_generate = timed(generate_parcels, n)
        n_vertices = int(shapely.get_num_coordinates(geoms).sum())
        # The first call on a fresh layer pays for fresh memory; later calls show the compute.
        statutory, t_first = timed(ellipsoidal_area, geoms, CRS)
        t_best = min(timed(ellipsoidal_area, geoms, CRS)[1] for _ in range(3))
        t_raw = min(
            timed(ellipsoidal_area, geoms, CRS, rounding="none")[1] for _ in range(3)
        )
        _, t_ops = timed(pyproj_loop_ops_transform, geoms)
        geodesic, t_loop = timed(pyproj_loop, geoms)
        xy = shapely.get_coordinates(geoms)
        lonlat = np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
        geoms_lonlat = shapely.set_coordinates(geoms.copy(), lonlat)
        _, t_floor = timed(pyproj_loop_pretransformed, geoms_lonlat)
        rel = np.abs(statutory - geodesic) / geodesic
        print(f"\n{n} parcels, {n_vertices} vertices ({CRS}); generated in {t_generate:.2f} s")
        print(f"  farmland.ellipsoidal_area, statutory   first call {t_first:6.2f} s   "
              f"best of 3 {t_best:6.2f} s")
        print(f"  farmland.ellipsoidal_area, unrounded   best of 3  {t_raw:6.2f} s")
        print(f"  pyproj loop, shapely.ops.transform     {t_ops:6.2f} s   "
              f"{t_ops / t_first:5.1f}x slower than the first call")
        print(f"  pyproj loop, shapely.transform         {t_loop:6.2f} s   "
              f"{t_loop / t_first:5.1f}x slower")
        print(f"  pyproj loop floor (Geod only)          {t_floor:6.2f} s   "
              f"{t_floor / t_first:5.1f}x slower")
        print(f"  end to end (generate + area)           {t_generate + t_first:6.2f} s")
        print(f"  max relative difference vs the (undensified, geodesic-edge) loop: "
              f"{rel.max():.2e}")


def read_dltb(workspace: Path) -> list[tuple[np.ndarray, str, np.ndarray]]:
    """The read floor: (geometries, CRS, TBMJ) of every county's DLTB layer of every data year."""
    import pyogrio

    from farmland import Workspace

    ws = Workspace.load(workspace)
    layer = ws.layers["DLTB"].layer
    parts = []
    for year in ws.period.data_years:
        for path in ws.paths("DLTB", year):
            meta, table = pyogrio.read_arrow(path, layer=layer)
            wkb = table[meta["geometry_name"] or "wkb_geometry"].to_numpy(zero_copy_only=False)
            tbmj = table["TBMJ"].to_numpy(zero_copy_only=False).astype("float64")
            parts.append((shapely.from_wkb(wkb), meta["crs"], tbmj))
    return parts


def city(workspace: Path, repeat: int) -> None:
    from farmland.validate import RECOMPUTED_AREA_TOLERANCE

    stages = {
        "statutory": lambda parts: [ellipsoidal_area(g, crs) for g, crs, _ in parts],
        "screening": lambda parts: [scale_corrected_area(g, crs) for g, crs, _ in parts],
        "gaps": lambda parts: [area_gaps(g, crs, tbmj, RECOMPUTED_AREA_TOLERANCE)
                               for g, crs, tbmj in parts],
    }
    seconds: dict[str, list[float]] = {"floor": [], **{name: [] for name in stages}}
    loads = []
    for _ in range(repeat):
        loads.append(os.getloadavg()[0])
        parts, t_floor = timed(read_dltb, workspace)
        seconds["floor"].append(t_floor)
        for name, stage in stages.items():
            result, t_stage = timed(stage, parts)
            seconds[name].append(t_stage)
        flagged = sum(int((gaps > RECOMPUTED_AREA_TOLERANCE).sum()) for gaps in result)
    n_parcels = sum(len(g) for g, _, _ in parts)
    n_vertices = sum(int(shapely.get_num_coordinates(g).sum()) for g, _, _ in parts)
    floor = statistics.median(seconds["floor"])
    labels = {
        "floor": "read floor: DLTB layers, pyogrio.read_arrow + shapely.from_wkb",
        "statutory": "`ellipsoidal_area` (statutory, 70 m densification, footpoint series)",
        "screening": "`scale_corrected_area` (planar area / k² at the centroid)",
        "gaps": f"`area_gaps` vs TBMJ, tolerance {RECOMPUTED_AREA_TOLERANCE:.1%} "
                f"({flagged} flagged)",
    }
    print(f"\n{workspace}: {len(parts)} DLTB layers, {n_parcels} parcels, {n_vertices} vertices; "
          f"{repeat} rounds, load average (1 min) {min(loads):.1f}–{max(loads):.1f}\n")
    print("| step | median s | × floor | runs (s) |")
    print("|---|---:|---:|---|")
    for name, runs in seconds.items():
        median = statistics.median(runs)
        print(f"| {labels[name]} | {median:.2f} | {median / floor:.2f} | "
              f"{', '.join(f'{t:.2f}' for t in runs)} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[60_000, 100_000],
                        help="synthetic layer sizes for the pyproj comparison")
    parser.add_argument("--workspace", type=Path, help="time the DLTB layers of this workspace")
    parser.add_argument("--repeat", type=int, default=3, help="rounds on a workspace (median)")
    args = parser.parse_args()
    if args.workspace is not None:
        city(args.workspace, args.repeat)
    else:
        main(args.sizes)
