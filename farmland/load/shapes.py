"""Shapes a run has checked already: a parcel unchanged since the last snapshot is not checked again.

Consecutive year-end snapshots of the land-use and basic-farmland layers differ only by the
year's changes, a few per cent of the parcels. The geometry checks of a read (the validity
test, the type, range and zone tests) and the reprojection into the run's frame are functions
of the shape as stored and of its file's CRS alone, so for a parcel whose shape is *identical*
to one that passed them in the last snapshot read of the same layer (same CRS, and
:func:`shapely.equals_identical`: same type, parts, rings and every coordinate, bit for bit)
their outcome is known: it passed, and its shape in the run's frame is the one computed then.
Candidates are found by their bounding box (a hash of its four numbers); the identity test
decides.

Only shapes that passed every check are remembered, so a repaired or refused shape is checked,
and reported, again in every snapshot that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from ..layers import SOURCE_COLUMN

SNAPSHOT_LAYERS = ("DLTB", "JBNTTB")
"""Layers read once a year as a whole snapshot, most of whose parcels the next snapshot repeats."""


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
                dtype=np.uint64)


def _crs_key(crs) -> str | None:
    return None if crs is None else crs.to_wkt()


def _box_keys(geoms: np.ndarray) -> np.ndarray:
    """A 64-bit key per shape from the bits of its bounding box: cheap, and (for parcels) rarely
    shared by two different shapes; a shared key only costs a failed identity test."""
    bits = np.ascontiguousarray(shapely.bounds(geoms)).view(np.uint64)
    return np.bitwise_xor.reduce(bits * _MIX, axis=1)


@dataclass(frozen=True)
class _Passed:
    """Shapes of one CRS that passed the checks: by box key, as stored, and in the run's frame."""

    keys: pd.Index
    stored: np.ndarray
    placed: np.ndarray
    frame: str | None


@dataclass
class _Part:
    """One file of a read: its shapes as stored, which are known (and where, in the last
    snapshot), which passed this read's checks, and their shapes in the run's frame."""

    crs: object
    keys: np.ndarray
    stored: np.ndarray
    known: np.ndarray
    positions: np.ndarray
    passed: np.ndarray | None = None
    placed: np.ndarray | None = None
    frame: str | None = None


class CheckedShapes:
    """The shapes of the last snapshot of each layer in :data:`SNAPSHOT_LAYERS` that passed the
    geometry checks (one per run, held by the :class:`~farmland.load.LayerStore`)."""

    def __init__(self):
        self._last: dict[str, dict[str | None, _Passed]] = {}

    def reading(self, layer: str) -> ShapeReading | None:
        """What one read of ``layer`` may take from the last snapshot (None: a layer not kept)."""
        if layer not in SNAPSHOT_LAYERS:
            return None
        return ShapeReading(self, layer, self._last.get(layer, {}))

    def _replace(self, layer: str, passed: dict[str | None, _Passed]) -> None:
        # One assignment: a reader on another thread sees the old snapshot or the new, never half.
        self._last[layer] = passed


@dataclass
class ShapeReading:
    """One read of a layer: which of its parts' shapes are known to pass, and their frame."""

    shapes: CheckedShapes
    layer: str
    last: dict[str | None, _Passed]
    parts: dict[str, _Part] = field(default_factory=dict)

    def known(self, source: str, crs, geoms: np.ndarray) -> np.ndarray:
        """Which features of one file have a shape that passed the checks in the last snapshot."""
        passed = self.last.get(_crs_key(crs))
        keys = _box_keys(geoms)
        positions = np.full(len(geoms), -1, dtype=np.intp)
        known = np.zeros(len(geoms), dtype=bool)
        if passed is not None and len(geoms):
            found = passed.keys.get_indexer(keys)
            candidates = np.flatnonzero(found >= 0)
            same = shapely.equals_identical(geoms[candidates], passed.stored[found[candidates]])
            known[candidates[same]] = True
            positions[candidates[same]] = found[candidates[same]]
        self.parts[source] = _Part(crs, keys, geoms, known, positions)
        return known

    def checked(self, source: str, passed: np.ndarray) -> None:
        """Record which features of the file passed the checks (kept unchanged, not blanked)."""
        self.parts[source].passed = passed

    def placed(self, part, target):
        """``part`` (one file's features, checked) in the ``target`` CRS: its known shapes as
        placed in the last snapshot, the others reprojected."""
        import geopandas as gpd

        read = self.parts.get(str(part[SOURCE_COLUMN].iloc[0])) if len(part) else None
        moved = part.crs is not None and not part.crs.equals(target)
        if read is None:
            return part.to_crs(target) if moved else part
        frame = _crs_key(target)
        geoms = np.asarray(part.geometry.values)
        if moved:
            previous = self.last.get(_crs_key(read.crs))
            reuse = read.known if previous is not None and previous.frame == frame else np.zeros(len(geoms), bool)
            geoms = geoms.copy()
            if (~reuse).any():
                geoms[~reuse] = np.asarray(part.geometry.values[~reuse].to_crs(target))
            if reuse.any():
                geoms[reuse] = previous.placed[read.positions[reuse]]
            part = part.set_geometry(gpd.array.from_shapely(geoms, crs=target))
        read.placed, read.frame = geoms, frame
        return part

    def commit(self) -> None:
        """Make this read's passed shapes the layer's last snapshot."""
        by_crs: dict[str | None, list[_Part]] = {}
        for part in self.parts.values():
            if not len(part.keys):
                continue
            if part.passed is None or part.placed is None:
                return  # a read that did not finish: keep the last snapshot
            by_crs.setdefault(_crs_key(part.crs), []).append(part)
        kept = {}
        for key, parts in by_crs.items():
            keys = np.concatenate([p.keys[p.passed] for p in parts])
            stored = np.concatenate([p.stored[p.passed] for p in parts])
            placed = np.concatenate([p.placed[p.passed] for p in parts])
            frames = {p.frame for p in parts}
            single = ~pd.Index(keys).duplicated(keep=False)  # a shared key names no one shape
            kept[key] = _Passed(pd.Index(keys[single]), stored[single], placed[single],
                                frames.pop() if len(frames) == 1 else None)
        self.shapes._replace(self.layer, kept)
