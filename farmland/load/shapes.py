"""Shapes a run has checked already: a parcel unchanged since the last snapshot is neither
decoded nor checked again.

Consecutive year-end snapshots of the land-use and basic-farmland layers differ only by the
year's changes, a few per cent of the parcels. Decoding a shape from its WKB, the geometry checks
of a read (the validity test, the type, range and zone tests) and the reprojection into the run's
frame are functions of the shape as stored and of its file's CRS alone, so for a parcel whose WKB
is *byte for byte* that of one that passed them in the last snapshot read of the same layer (same
CRS) their outcome is known: the shape is the one decoded then, it passed, and its shape in the
run's frame is the one computed then. Candidates are found by a key of the WKB's length and last
16 bytes (for a polygon, the point closing its last ring); the comparison of the bytes decides.

Unchanged parcels therefore share one shape object across the snapshots a run holds, instead of
one decoded copy per year.

Only shapes that passed every check are remembered, so a repaired or refused shape is checked,
and reported, again in every snapshot that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..layers import SOURCE_COLUMN, decode_wkb

SNAPSHOT_LAYERS = ("DLTB", "JBNTTB")
"""Layers read once a year as a whole snapshot, most of whose parcels the next snapshot repeats."""


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
                dtype=np.uint64)
_TAIL = 16
"""Bytes at the end of a WKB that go into its key: one point's x and y (of a 2D shape)."""
_FIRST_X = 13
"""Where a polygon's first x begins in its WKB: byte order, type, ring count, point count."""


def _crs_key(crs) -> str | None:
    return None if crs is None else crs.to_wkt()


def wkb_keys(wkb: pa.Array) -> np.ndarray:
    """A 64-bit key per WKB from its length, its first point and its last 16 bytes: cheap, with
    no copy of the bytes, and (for parcels) rarely shared by two different shapes; a shared key
    only costs a failed comparison. The first point is at a fixed place for a 2D polygon (its
    ring's first x) and the last bytes end the last ring, so shapes with Z or M values, whose last
    bytes may be constant, still differ by their first bytes. A WKB shorter than the bytes read
    takes bytes around it, so an identical one elsewhere may get another key and is decoded
    again."""
    n = len(wkb)
    width = np.int64 if pa.types.is_large_binary(wkb.type) else np.int32
    offsets = np.frombuffer(wkb.buffers()[1], dtype=width, count=n + 1, offset=wkb.offset * width().itemsize)
    ends = offsets[1:].astype(np.int64)
    data = wkb.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    if len(data) < _TAIL:
        data = np.concatenate([data, np.zeros(_TAIL - len(data), np.uint8)])
    # The 8-byte word starting at every byte (a view: overlapping, unaligned, no copy).
    words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    tail = np.maximum(ends - _TAIL, 0)
    head = np.minimum(offsets[:-1].astype(np.int64) + _FIRST_X, len(words) - 1)
    lengths = (ends - offsets[:-1]).astype(np.uint64)
    return ((lengths * _MIX[0]) ^ (words[tail] * _MIX[1]) ^ (words[tail + 8] * _MIX[2])
            ^ (words[head] * _MIX[3]))


@dataclass(frozen=True)
class _Passed:
    """Shapes of one CRS that passed the checks: by key, as WKB, as decoded and in the run's frame."""

    keys: pd.Index
    wkb: pa.Array
    stored: np.ndarray
    placed: np.ndarray
    frame: str | None


@dataclass
class _Part:
    """One file of a read: its shapes as stored, which are known (and where, in the last
    snapshot), which passed this read's checks, and their shapes in the run's frame."""

    crs: object
    keys: np.ndarray
    wkb: pa.Array
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

    def decoded(self, source: str, crs, wkb: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """One file's shapes, and which of them passed the checks in the last snapshot: those
        are the last snapshot's shape objects, the others are decoded."""
        passed = self.last.get(_crs_key(crs))
        keys = wkb_keys(wkb)
        positions = np.full(len(wkb), -1, dtype=np.intp)
        known = np.zeros(len(wkb), dtype=bool)
        geoms = np.empty(len(wkb), dtype=object)
        if passed is not None and len(wkb):
            found = passed.keys.get_indexer(keys)
            candidates = np.flatnonzero(found >= 0)
            # Each candidate's WKB against the last snapshot's under the same key, byte for byte.
            same = pc.equal(wkb.take(candidates), passed.wkb.take(found[candidates]))
            candidates = candidates[same.fill_null(False).to_numpy(zero_copy_only=False)]
            known[candidates] = True
            positions[candidates] = found[candidates]
            geoms[candidates] = passed.stored[positions[candidates]]
        geoms[~known] = decode_wkb(wkb.filter(pa.array(~known)))
        self.parts[source] = _Part(crs, keys, wkb, geoms, known, positions)
        return geoms, known

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
            # A copy on purpose: holding the files' own WKB arrays instead raised a 300k city's peak
            # by 100-150 MB (they belong to GDAL's read batches, whose columns are freed together).
            wkb = pa.concat_arrays([p.wkb if p.passed.all() else p.wkb.filter(pa.array(p.passed)) for p in parts])
            stored = np.concatenate([p.stored[p.passed] for p in parts])
            placed = np.concatenate([p.placed[p.passed] for p in parts])
            frames = {p.frame for p in parts}
            single = ~pd.Index(keys).duplicated(keep=False)  # a shared key names no one shape
            if not single.all():
                keys, wkb, stored, placed = keys[single], wkb.filter(pa.array(single)), stored[single], placed[single]
            if len(keys):
                kept[key] = _Passed(pd.Index(keys), wkb, stored, placed, frames.pop() if len(frames) == 1 else None)
        self.shapes._replace(self.layer, kept)
