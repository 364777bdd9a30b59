"""Per-parcel land-cover class fractions and the remote-sensing suspects (疑似图斑).

Two pixel rules, both vectorised over every (parcel, cell of its bounding box) pair at once:

* ``exact`` — exact cell coverage: each pair's area is the parcel clipped to the cell (every
  ring of every pair clipped at once in numpy: :func:`_cell_areas`), so a parcel smaller than a
  pixel, or one that a pixel straddles, gets the share of each class it really covers (what
  exactextract computes).
* ``centre`` — a pixel belongs wholly to the parcel that contains its centre (the rule of
  ``rasterio.features.rasterize`` without ``all_touched``); each pixel counts one pixel area.
  Cheaper (a point-in-polygon test per pair), and accurate when pixels are small against
  parcels; coarse pixels give small parcels no pixels at all.

``auto`` takes ``exact`` while the number of pairs stays within :data:`EXACT_PAIR_BUDGET`
(coarse rasters, where it matters), else ``centre`` (fine rasters, where it does not). Pixel
areas are planar (the raster's Gauss-Krüger cell size): a plausibility check, never an
official figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from ..units import M2_TO_MU
from .findings import finding_rows, fmt, pct

EXACT_PAIR_BUDGET = 20_000_000
"""Most (parcel, cell) pairs ``auto`` computes exactly; beyond it the centre rule is used."""

CHUNK_PAIRS = 1_000_000
"""Pairs per vectorised batch of the ``centre`` rule, to bound memory (about 200 bytes per pair)."""

CHUNK_VERTICES = 1_000_000
"""Ring vertices (over all pairs) per batch of the ``exact`` rule: about 100 bytes each, in
arrays small enough (8 MB) to be reused from one batch to the next instead of mapped afresh."""

METHODS = ("auto", "exact", "centre")

CORE_SHARE = 0.5
"""A pixel at least this share of which lies in a parcel is one of its core pixels. The
suspects are judged on core pixels only: a classified pixel says what covers most of it, so a
pixel mostly in a neighbour speaks for the neighbour (a parcel of two pixels' area straddling
four pixels would otherwise take its class from the fields around it)."""


def class_fractions(geometries, path, classes: dict[str, tuple], *, method: str = "auto",
                    crs=None) -> pd.DataFrame:
    """Area (m²) of each named class under each geometry, from a classified raster.

    Parameters
    ----------
    geometries : array-like of shapely polygons
        In ``crs`` (brought to the raster's CRS when they differ).
    path : path
        A single-band integer raster.
    classes : dict
        Class name → raster values, e.g. ``{"cropland": (1,), "built": (2,)}`` from ``[landcover]``.
    method : {"auto", "exact", "centre"}
        The pixel rule (see the module notes).

    Returns
    -------
    DataFrame
        One row per geometry: ``<name>_m2`` per class, ``covered_m2`` (area over valid pixels:
        not nodata, inside the raster), the same over core pixels (``core_<name>_m2``,
        ``core_covered_m2``: see :data:`CORE_SHARE`) and ``pixel_m2``; ``attrs["method"]`` the
        rule used.
    """
    import rasterio

    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r}).")
    geoms = np.asarray(geometries, dtype=object)
    with rasterio.open(path) as dataset:
        if crs is not None and dataset.crs is not None:
            import geopandas as gpd

            raster_crs = dataset.crs.to_wkt()
            series = gpd.GeoSeries(geoms, crs=crs)
            if not series.crs.equals(raster_crs):
                geoms = np.asarray(series.to_crs(raster_crs).values, dtype=object)
        transform = dataset.transform
        if transform.b != 0 or transform.d != 0:
            raise ValueError(f"{path}: rotated rasters are not supported; warp it north-up first.")
        values = dataset.read(1)
        nodata = dataset.nodata
    px, py = transform.a, -transform.e
    x0, y0 = transform.c, transform.f
    height, width = values.shape
    valid_geom = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bounds = np.where(valid_geom[:, None], shapely.bounds(np.where(valid_geom, geoms, None)), 0.0)
    c0 = np.clip(np.floor((bounds[:, 0] - x0) / px), 0, width).astype(np.int64)
    c1 = np.clip(np.ceil((bounds[:, 2] - x0) / px), 0, width).astype(np.int64)
    r0 = np.clip(np.floor((y0 - bounds[:, 3]) / py), 0, height).astype(np.int64)
    r1 = np.clip(np.ceil((y0 - bounds[:, 1]) / py), 0, height).astype(np.int64)
    ncols = np.where(valid_geom, c1 - c0, 0)
    nrows = np.where(valid_geom, r1 - r0, 0)
    cells = ncols * nrows
    if method == "auto":
        method = "exact" if cells.sum() <= EXACT_PAIR_BUDGET else "centre"
    pixel_area = px * py
    class_values = {name: np.asarray(list(v), dtype=values.dtype) for name, v in classes.items()}
    sums = {name: np.zeros(len(geoms)) for name in class_values}
    covered = np.zeros(len(geoms))
    core_sums = {name: np.zeros(len(geoms)) for name in class_values}
    core_covered = np.zeros(len(geoms))
    valid_pixel = np.ones_like(values, dtype=bool) if nodata is None else values != nodata
    if method == "exact":
        rings = _Rings(np.where(valid_geom, geoms, None)) if cells.any() else None
        weight, per_batch = cells * (rings.vertices if rings is not None else 0), CHUNK_VERTICES
    else:
        weight, per_batch = cells, CHUNK_PAIRS

    # Batches of whole parcels whose weight adds up to about ``per_batch``. A parcel's pairs all
    # fall in one batch, so its sums do not depend on where the batches break.
    ends = np.cumsum(weight)
    breaks = np.searchsorted(ends, np.arange(per_batch, ends[-1] + per_batch, per_batch)) if len(ends) else []
    start = 0
    for stop in [*np.unique(np.minimum(np.asarray(breaks, dtype=np.int64) + 1, len(geoms))), len(geoms)]:
        if stop <= start:
            continue
        part = np.arange(start, stop)
        start = stop
        k = cells[part]
        if k.sum() == 0:
            continue
        parcel = np.repeat(part, k)
        offset = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
        w = np.repeat(ncols[part], k)
        col = np.repeat(c0[part], k) + offset % np.maximum(w, 1)
        row = np.repeat(r0[part], k) + offset // np.maximum(w, 1)
        # Pairs on nodata count nowhere: leave them out before the costly part, not after.
        on_data = valid_pixel[row, col]
        parcel, col, row = parcel[on_data], col[on_data], row[on_data]
        if method == "exact":
            area = _cell_areas(rings, parcel, x0 + col * px, y0 - (row + 1) * py, px, py)
        else:
            inside = shapely.contains_xy(geoms[parcel], x0 + (col + 0.5) * px, y0 - (row + 0.5) * py)
            area = np.where(inside, pixel_area, 0.0)
        pixel_values = values[row, col]
        good = area > 0
        core = good & (area >= CORE_SHARE * pixel_area)
        covered += np.bincount(parcel[good], weights=area[good], minlength=len(geoms))
        core_covered += np.bincount(parcel[core], weights=area[core], minlength=len(geoms))
        for name, wanted in class_values.items():
            hit = good & np.isin(pixel_values, wanted)
            sums[name] += np.bincount(parcel[hit], weights=area[hit], minlength=len(geoms))
            core_sums[name] += np.bincount(parcel[hit & core], weights=area[hit & core], minlength=len(geoms))
    out = pd.DataFrame({f"{name}_m2": s for name, s in sums.items()})
    out["covered_m2"] = covered
    for name, s in core_sums.items():
        out[f"core_{name}_m2"] = s
    out["core_covered_m2"] = core_covered
    out["pixel_m2"] = pixel_area
    out.attrs["method"] = method
    return out


class _Rings:
    """Every ring of a set of polygons and multipolygons as flat coordinate arrays (GeoArrow's
    layout, without building a shape per ring): ring ``r``'s vertices are ``x[first[r]:][:size[r]]``
    (its closing vertex left out), ``sign[r]`` is +1 for an exterior ring and -1 for a hole, and
    geometry ``g`` owns rings ``ring_first[g]`` … ``ring_first[g] + ring_count[g] - 1``."""

    def __init__(self, geoms):
        kind, coords, offsets = shapely.to_ragged_array(geoms)
        if kind == shapely.GeometryType.POLYGON:
            ring_offsets, polygon_rings = offsets
            geometry_polygons = np.arange(len(geoms) + 1)
        elif kind == shapely.GeometryType.MULTIPOLYGON:
            ring_offsets, polygon_rings, geometry_polygons = offsets
        else:
            raise ValueError(f"land-cover fractions need polygons, not {kind.name}")
        self.x, self.y = np.ascontiguousarray(coords[:, 0]), np.ascontiguousarray(coords[:, 1])
        self.first = ring_offsets[:-1]
        self.size = np.maximum(np.diff(ring_offsets) - 1, 0)
        self.sign = -np.ones(len(self.first))
        shells = polygon_rings[:-1][np.diff(polygon_rings) > 0]
        self.sign[shells] = 1.0
        self.ring_first = polygon_rings[geometry_polygons[:-1]]
        self.ring_count = polygon_rings[geometry_polygons[1:]] - self.ring_first
        per_ring = np.r_[0, np.cumsum(self.size)]
        self.vertices = per_ring[self.ring_first + self.ring_count] - per_ring[self.ring_first]


def _spans(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``first[i]``, ``first[i] + 1``, … ``first[i] + count[i] - 1`` for each ``i`` in turn."""
    return np.repeat(first - (np.cumsum(count) - count), count) + np.arange(count.sum())


def _successors(label: np.ndarray) -> np.ndarray:
    """Position of each vertex's successor around its ring (rings contiguous, labelled)."""
    n = len(label)
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    following = np.arange(1, n + 1)
    following[np.r_[starts[1:], n] - 1] = starts
    return following


def _clip_rings(x, y, label, along_x: bool, bound: float, keep_above: bool):
    """Every ring clipped to one closed half plane (Sutherland–Hodgman, all rings at once).

    For each edge from a vertex to its successor: the crossing point where the edge crosses the
    boundary, then the successor if it is kept. A ring wholly outside vanishes.
    """
    if not len(x):
        return x, y, label
    following = _successors(label)
    c = x if along_x else y
    kept = c >= bound if keep_above else c <= bound
    end_kept = kept[following]
    crossing = kept != end_kept
    count = end_kept.astype(np.int64) + crossing
    at = np.cumsum(count) - count
    out_x, out_y = np.empty(at[-1] + count[-1]), np.empty(at[-1] + count[-1])
    edge = np.flatnonzero(crossing)
    end = following[edge]
    share = (bound - c[edge]) / (c[end] - c[edge])  # the ends lie on either side: no zero division
    if along_x:
        out_x[at[edge]] = bound
        out_y[at[edge]] = y[edge] + share * (y[end] - y[edge])
    else:
        out_x[at[edge]] = x[edge] + share * (x[end] - x[edge])
        out_y[at[edge]] = bound
    edge = np.flatnonzero(end_kept)
    out_x[at[edge] + crossing[edge]] = x[following[edge]]
    out_y[at[edge] + crossing[edge]] = y[following[edge]]
    return out_x, out_y, np.repeat(label, count)


def _cell_areas(rings: _Rings, parcel, xmin, ymin, px: float, py: float) -> np.ndarray:
    """Area of each ``parcel[i]`` inside its own cell [xmin, xmin + px] × [ymin, ymin + py].

    Each pair's rings are moved to put its cell at the origin (areas then come from small
    numbers) and clipped to the cell's four sides in turn. Clipping a ring to a convex window
    this way can leave zero-width bridges along the window's sides, but its shoelace area is
    the area of the ring's inside within the window; a parcel's area in the cell is that of its
    exterior rings less its holes'. No shape is built: GEOS clipping made two shapes per pair.
    """
    ring_count = rings.ring_count[parcel]
    ring = _spans(rings.ring_first[parcel], ring_count)
    pair = np.repeat(np.arange(len(parcel)), ring_count)
    size = rings.size[ring]
    vertex = _spans(rings.first[ring], size)
    label = np.repeat(np.arange(len(ring)), size)
    x = rings.x[vertex] - np.repeat(xmin[pair], size)
    y = rings.y[vertex] - np.repeat(ymin[pair], size)
    del vertex
    for along_x, bound, keep_above in ((True, 0.0, True), (True, px, False), (False, 0.0, True), (False, py, False)):
        x, y, label = _clip_rings(x, y, label, along_x, bound, keep_above)
    ring_area = np.zeros(len(ring))
    if len(x):
        following = _successors(label)
        ring_area = np.abs(np.bincount(label, weights=x * y[following] - x[following] * y, minlength=len(ring))) / 2
    return np.bincount(pair, weights=ring_area * rings.sign[ring], minlength=len(parcel))


def landcover_checks(data, options, *, required: bool = False):
    """Suspect parcels and per-unit raster vs survey; ``(findings, fractions)``.

    A year without a raster is skipped with an ``info`` finding, unless ``required`` (the
    remote-sensing check was asked for explicitly: data contract, Revision 2), which raises.
    """
    from ..errors import WorkspaceError

    ws, year, dltb = data.ws, data.year, data.dltb
    if not ws.has_layer("LANDCOVER"):
        if required:
            raise WorkspaceError(f"the remote-sensing check of {year} needs LANDCOVER; add it to [layers] "
                                 "in farmland.toml, e.g. LANDCOVER = \"landcover_{year}.tif\".")
        return [], None
    try:
        paths = ws.paths("LANDCOVER", year)
    except WorkspaceError as exc:
        if required:
            raise WorkspaceError(f"the remote-sensing check of {year} was asked for, but {exc}") from None
        note = finding_rows("landcover.skipped", year, [ws.city_code], f"LANDCOVER:{year}",
                            explanation=f"{year} 年没有遥感分类影像（{ws.layers['LANDCOVER'].describe()}），"
                            "本年度跳过遥感核查；其他核查照常进行。")
        return [note], None
    classes = {name: tuple(v) for name, v in (ws.landcover_classes or {}).items()}
    if not classes.get("cropland") or not classes.get("built"):
        raise WorkspaceError("[landcover] must name the raster values of cropland and built, e.g. "
                             "cropland = [1], built = [2].")
    frames = [class_fractions(dltb.geometry.values, path, classes, method=options.landcover_method,
                              crs=dltb.crs) for path in paths]
    fractions = frames[0]
    for more in frames[1:]:  # tiles: areas add up
        fractions = fractions.add(more.drop(columns="pixel_m2")).assign(pixel_m2=fractions["pixel_m2"])
    fractions.attrs["method"] = frames[0].attrs["method"]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = {name: np.where(fractions["covered_m2"] > 0, fractions[f"{name}_m2"] / fractions["covered_m2"], np.nan)
                  for name in classes}
        core = fractions["core_covered_m2"].to_numpy()
        core_shares = {name: np.where(core > 0, fractions[f"core_{name}_m2"].to_numpy() / core, np.nan)
                       for name in ("cropland", "built")}
    table = ws.land_classes
    arable = table.is_arable(dltb["DLBM"])
    construction = table.is_construction(dltb["DLBM"])
    planar = shapely.area(dltb.geometry.values)
    enough = core >= options.min_pixels * fractions["pixel_m2"].to_numpy()
    ids = ("DLTB:" + dltb["BSM"].astype(str)).to_numpy(dtype=object)
    unit = dltb["unit"].to_numpy(dtype=object)
    code = dltb["DLBM"].astype(str).to_numpy(dtype=object)
    names = table.name_of(code)
    parts = []
    for check, mask, share, what in (
        ("landcover.arable_built", arable & enough & (core_shares["built"] >= options.built_share),
         core_shares["built"], "建设用地"),
        ("landcover.built_cropland", construction & enough & (core_shares["cropland"] >= options.cropland_share),
         core_shares["cropland"], "耕地"),
    ):
        if mask.any():
            parts.append(finding_rows(
                check, year, unit[mask], ids[mask], value=share[mask],
                reference=options.built_share if what == "建设用地" else options.cropland_share,
                explanation="登记地类 " + code[mask] + " " + names[mask] + "，遥感影像（" + fractions.attrs["method"]
                + " 像元规则，主要落在图斑内的像元）显示 " + pct(share[mask]) + " 为" + what + "（图斑 " + fmt(planar[mask], 0)
                + " m²）。疑似图斑，请实地核实地类。",
                geometry=dltb.geometry.values[mask]))
    parts.append(_unit_check(data, options, fractions, arable, unit))
    fractions.insert(0, "BSM", dltb["BSM"].astype(str).to_numpy(dtype=object))
    fractions.insert(1, "xzqdm", unit)
    fractions.insert(2, "DLBM", code)
    for name in classes:
        fractions[f"{name}_share"] = shares[name]
    return parts, fractions


def _unit_check(data, options, fractions, arable, unit):
    """Per unit: cropland seen over the unit's parcels against the survey's arable Σ TBMJ."""
    tbmj = data.dltb["TBMJ"].to_numpy(dtype="float64", na_value=np.nan)
    survey = pd.Series(np.where(arable, tbmj, 0.0)).groupby(unit).sum()
    seen = pd.Series(fractions["cropland_m2"].to_numpy()).groupby(unit).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = (seen - survey) / survey
    off = (survey > 0) & (gap.abs() > options.landcover_unit_tolerance)
    if not off.any():
        return None
    codes = survey.index[off].to_numpy(dtype=object)
    s, r = seen[off].to_numpy() * M2_TO_MU, survey[off].to_numpy() * M2_TO_MU
    return finding_rows(
        "landcover.unit", data.year, codes, "LANDCOVER:" + str(data.year), value=s, reference=r,
        explanation="遥感影像耕地面积 " + fmt(s) + " 亩，调查耕地（图斑面积合计）" + fmt(r) + " 亩，相差 "
        + pct(gap[off].to_numpy()) + f"，超过 {options.landcover_unit_tolerance:.0%}。请核查影像分类或调查成果。")
