"""Geometry and records the reports draw or list, from the run's :class:`farmland.load.LayerStore`.

Maps and problem-parcel lists need the parcels themselves, which the results table names by id
only. Each layer and year is read at most once per report run (few fields), and parcels are
given to a unit the way the metrics stage attributes them: by code (ZLDWDM[:6], XZQDM) for
counties, by geometry for the units listed in ``[units] spatial``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import shapely

from ..layers import layer_exists
from ..report import Report
from ..units import M2_TO_MU
from ..workspace import ROW_TABLES, Workspace

#: Layer → (id field, field holding the unit code, how many characters of it name the county,
#: the area field shown in lists and its unit).
LAYERS = {
    "DLTB": ("BSM", "ZLDWDM", 6, "TBDLMJ", "m2"),
    "JBNTTB": ("BSM", "ZLDWDM", 6, "YJJBNTMJ", "m2"),
    "DLTBGXGC": ("BGQTBBSM", "BGQZLDWDM", 6, "TBBGMJ", "m2"),
    "WPZF": ("JCBH", "XZQDM", 6, "WFZYGDMJ", "m2"),
    "JSYDSP": ("PZWH", "XZQDM", 6, "PZMJ", "m2"),
    "GBZNT": ("XMBH", "XZQDM", 6, "JSMJ", "m2"),
}
_COLUMNS = {
    "DLTB": ["BSM", "DLBM", "ZLDWDM", "TBDLMJ"],
    "JBNTTB": ["BSM", "ZLDWDM", "YJJBNTMJ", "DLBM"],
    "DLTBGXGC": ["BGQTBBSM", "BGQDLBM", "BGHDLBM", "BGQZLDWDM", "TBBGMJ", "GXSJ"],
    "WPZF": ["JCBH", "XZQDM", "JCNF", "ZYGDMJ", "WFZYGDMJ", "ZGZT"],
    "JSYDSP": ["PZWH", "PZRQ", "XZQDM", "PZMJ", "ZYGDMJ"],
    "GBZNT": ["XMBH", "XMMC", "XZQDM", "JSNF", "JSMJ"],
}


class LayerCache:
    """Reads for the reports: each (layer, year) once, with geometry, in the workspace's CRS.

    ``store`` is the run's :class:`~farmland.load.LayerStore` (what validation and the metrics
    read is not read again); without one, the reports read through a store of their own.
    """

    def __init__(self, ws: Workspace, store=None):
        from ..load import LayerStore

        self.ws = ws
        self.store = store if store is not None else LayerStore(ws)
        self._frames: dict = {}
        self._per_frame: dict = {}
        self.report = Report(strict=False)

    def layer(self, name: str, year: int | None = None):
        """The layer (GeoDataFrame) or ``None`` when the workspace has no such layer or year."""
        key = (name, year)
        if key not in self._frames:
            frame = None
            source = self.ws.layers.get(name)
            if source is not None:
                year_used = year if source.per_year else None
                if (not source.per_year or year is not None) and layer_exists(self.ws, name, year_used):
                    frame = self.store.layer(name, year_used, columns=_COLUMNS.get(name), report=self.report)
            self._frames[key] = frame
        return self._frames[key]

    def table(self, name: str):
        key = (name, "table")
        if key not in self._frames:
            frame = None
            if name in self.ws.layers and layer_exists(self.ws, name):
                frame = self.store.table(name, report=self.report)
            self._frames[key] = frame
        return self._frames[key]

    def record_ids(self, name: str, year: int | None = None) -> pd.Series | None:
        """Row position of each record id of a layer or a table (its first row where an id repeats),
        indexed by id as evidence writes it; ``None`` without the layer or its id field. Made once
        per layer and year: every check's problem list looks ids up in it."""
        key = (name, year, "ids")
        if key not in self._frames:
            table = name in ROW_TABLES
            frame = self.table(name) if table else self.layer(name, year)
            field = "row" if table else LAYERS[name][0]
            ids = None
            if frame is not None and len(frame) and field in frame:  # no id field: ids are reported as not found
                keys = (frame[field].astype(int) if table else frame[field]).astype(str).to_numpy()
                first = ~pd.Series(keys).duplicated().to_numpy()
                ids = pd.Series(np.flatnonzero(first), index=keys[first])
            self._frames[key] = ids
        return self._frames[key]

    def let_go(self, year: int) -> None:
        """Forget the layers of ``year`` and what was kept per frame of them (their memory can go)."""
        gone = [key for key in self._frames if key[1] == year]
        frames = {id(self._frames[key]) for key in gone}
        for key in gone:
            del self._frames[key]
        self._per_frame = {key: kept for key, kept in self._per_frame.items() if key[1] not in frames}

    @cached_property
    def adjustments(self):
        """The register of target adjustments (``None`` without one), read once for every card."""
        return self.store.adjustments() if self.ws.adjustments_path is not None else None

    @cached_property
    def xzq(self):
        return self.layer("XZQ")

    def crs(self):
        return None if self.xzq is None else self.xzq.crs

    def unit_outline(self, code: str):
        x = self.xzq
        return x[x["XZQDM"].astype(str) == str(code)]

    def for_unit(self, frame, name: str, code: str):
        """Rows of ``frame`` (layer ``name``) that belong to unit ``code``."""
        if frame is None or not len(frame):
            return frame
        code = str(code)
        if code in self.ws.spatial_units and "geometry" in frame:
            outline = self.unit_outline(code)
            if outline.empty:
                return frame.iloc[0:0]
            shape = outline.geometry.union_all()
            shapely.prepare(shape)
            # A parcel's representative point lies in its bounding box: only parcels whose box
            # meets the zone's can have theirs inside it.
            xmin, ymin, xmax, ymax = shape.bounds
            box = self._bounds(frame)
            near = np.flatnonzero((box[:, 0] <= xmax) & (box[:, 2] >= xmin) & (box[:, 1] <= ymax) & (box[:, 3] >= ymin))
            inside = np.zeros(len(frame), bool)
            points = shapely.point_on_surface(np.asarray(frame.geometry.values, dtype=object)[near])
            inside[near] = shapely.within(points, shape)
            return frame[inside]
        _, field, width, _, _ = LAYERS[name]
        rows = self._unit_rows(frame, field, width).get(code[:width])
        return frame.iloc[0:0] if rows is None else frame.iloc[rows]

    def _bounds(self, frame) -> np.ndarray:
        """Each row's bounding box (every zone's map and list screens the same few layers)."""
        return self._of_frame("bounds", frame, lambda: shapely.bounds(np.asarray(frame.geometry.values, dtype=object)))

    def _unit_rows(self, frame, field: str, width: int) -> dict:
        """Row positions of ``frame`` by unit code (every unit's map and list of a run selects
        from the same few layers)."""
        def split():
            keys = frame[field].astype(str).str[:width].to_numpy()
            return pd.Series(np.arange(len(frame))).groupby(keys, sort=False).indices

        return self._of_frame("unit rows", frame, split)

    def _of_frame(self, what: str, frame, make):
        """``make()`` once per frame; the frame is kept with its value, so its id is not reused."""
        key = (what, id(frame))
        if key not in self._per_frame or self._per_frame[key][0] is not frame:
            self._per_frame[key] = (frame, make())
        return self._per_frame[key][1]


def area_mu(frame: pd.DataFrame, name: str) -> pd.Series:
    """The area shown for each record of a layer, in 亩 (m² × 0.0015, exact)."""
    field, unit = LAYERS[name][3], LAYERS[name][4]
    if field not in frame:
        return pd.Series(np.nan, index=frame.index)
    values = pd.to_numeric(frame[field], errors="coerce")
    return values * M2_TO_MU if unit == "m2" else values
