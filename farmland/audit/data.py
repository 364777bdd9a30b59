"""Everything one audit year reads, in one CRS and attributed to units, read once.

Layers come through the run's :class:`farmland.load.LayerStore` (standard names, checked CRS, areas per
file in its own zone) and are brought to the CRS of the year's DLTB for overlays. Parcels, basic
farmland, change pieces and monitoring parcels get the unit the metrics give them
(:class:`farmland.metrics.attribution.UnitSet`: county by code, development zones by geometry),
so a finding's unit is the unit whose figure it bears on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..layers import layer_exists
from ..metrics.attribution import UnitSet
from ..report import Report
from ..workspace import Workspace

UNATTRIBUTED = "未归属"
"""Unit shown for features whose code matches no unit (validation reports them as errors)."""


def layer_present(ws: Workspace, layer: str, year: int | None) -> bool:
    """The layer is configured, its files for ``year`` exist and hold the named layer.

    Base-year packages often carry the snapshot but no change records, so a file that exists
    may still lack the DLTBGXGC layer; that is "no records", not an error.
    """
    if not layer_exists(ws, layer, year):
        return False
    name = ws.layers[layer].layer
    if name is None:
        return True
    import pyogrio

    for path in ws.paths(layer, year):
        if path.suffix.lower() in (".csv", ".tif", ".tiff", ".parquet"):
            continue
        try:
            names = {str(n).lower() for n in pyogrio.list_layers(path)[:, 0]}
        except Exception:  # unreadable: read_layer reports it properly
            return True
        if name.lower() not in names:
            return False
    return True


@dataclass
class AuditData:
    """One year's inputs for the audit (GeoDataFrames in ``crs``; ``None`` where absent)."""

    ws: Workspace
    year: int
    report: Report
    crs: object
    units: UnitSet
    xzq: object
    dltb: object
    bf_now: object = None
    bf_prev: object = None
    pieces: object = None
    approvals: object = None
    wpzf: object = None
    gbznt: object = None
    zbph: pd.DataFrame | None = None
    output_crs: object = None
    """CRS the findings are published in: the unit layer's (XZQ), stable across county deliveries."""
    notes: list[str] = field(default_factory=list)
    store: object = None
    """The run's :class:`~farmland.load.LayerStore` the layers came from."""
    _earlier_pieces: dict = field(default_factory=dict)

    @property
    def names(self) -> dict[str, str]:
        return {**self.units.names, UNATTRIBUTED: ""}

    @classmethod
    def load(cls, store, year: int, report: Report, progress=None) -> AuditData:
        """Read ``year``'s layers from the run's :class:`~farmland.load.LayerStore`."""
        ws = store.ws
        say = progress or (lambda message: None)
        say(f"读取 DLTB {year}")
        dltb = store.layer("DLTB", year, geometry=True, report=report, needed_for="the audit")
        crs = dltb.crs
        say("读取 XZQ")
        xzq = store.layer("XZQ", geometry=True, report=report, needed_for="the audit's units")
        output_crs = xzq.crs
        xzq = _to(xzq, crs)
        xzq["XZQDM"] = xzq["XZQDM"].astype(str)
        prefixes = pd.Series(pd.unique(dltb["ZLDWDM"].dropna().astype(str).str.slice(0, 6)))
        units = UnitSet.from_xzq(xzq, city_code=ws.city_code, city_name=ws.city_name,
                                 spatial_units=ws.spatial_units, parcel_codes=prefixes, report=report,
                                 year=year)
        data = cls(ws=ws, year=year, report=report, crs=crs, units=units, xzq=xzq, dltb=dltb,
                   output_crs=output_crs, store=store)
        dltb["code_unit"] = data.code_units(dltb["ZLDWDM"])
        dltb["unit"] = data.place(dltb["code_unit"].to_numpy(dtype=object), dltb)
        if ws.has_layer("JBNTTB"):
            for attr, y in (("bf_now", year), ("bf_prev", year - 1)):
                if y in ws.period.data_years and layer_present(ws, "JBNTTB", y):
                    say(f"读取 JBNTTB {y}")
                    frame = _to(store.layer("JBNTTB", y, geometry=True, report=report), crs)
                    frame["unit"] = data.place(data.code_units(frame["ZLDWDM"]), frame)
                    setattr(data, attr, frame)
        data.pieces = data.change_pieces(year, progress=say)
        if ws.has_layer("JSYDSP"):
            say("读取 JSYDSP")
            data.approvals = _to(store.layer("JSYDSP", geometry=True, report=report), crs)
        if ws.has_layer("WPZF") and layer_present(ws, "WPZF", year):
            say(f"读取 WPZF {year}")
            wpzf = _to(store.layer("WPZF", year, geometry=True, report=report), crs)
            wpzf = wpzf[wpzf["JCNF"] == year].reset_index(drop=True)
            county = data.code_units(wpzf["XZQDM"])
            wpzf["unit"] = _place_coded(data, county, wpzf)
            data.wpzf = wpzf
        if ws.has_layer("GBZNT"):
            say("读取 GBZNT")
            data.gbznt = _to(store.layer("GBZNT", geometry=True, report=report), crs)
        if ws.has_layer("ZBPH"):
            data.zbph = store.table("ZBPH", report=report)
        return data

    # -- attribution ---------------------------------------------------------------------------

    def code_units(self, codes) -> np.ndarray:
        county = self.units.county_of(codes)
        return np.where(pd.isna(pd.Series(county, dtype=object)).to_numpy(), UNATTRIBUTED, county)

    def place(self, county: np.ndarray, frame) -> np.ndarray:
        """Units with development zones taken by geometry, as the metrics attribute them."""
        county = np.asarray(county, dtype=object)
        if not self.units.zones:
            return county
        moved, _ = self.units.move_to_zones(county, frame.geometry.values, frame.crs)
        return np.asarray(moved, dtype=object)

    def change_pieces(self, year: int, progress=None):
        """DLTBGXGC of ``year`` with units (after the change, else before), or None."""
        if year in self._earlier_pieces:
            return self._earlier_pieces[year]
        frame = None
        if (self.ws.has_layer("DLTBGXGC") and year in self.ws.period.data_years
                and layer_present(self.ws, "DLTBGXGC", year)):
            if progress:
                progress(f"读取 DLTBGXGC {year}")
            frame = _to(self.store.layer("DLTBGXGC", year, geometry=True, report=self.report), self.crs)
            after = frame["BGHZLDWDM"] if "BGHZLDWDM" in frame else frame["BGQZLDWDM"]
            after = after.where(after.notna(), frame["BGQZLDWDM"])
            frame["unit"] = self.place(self.code_units(after), frame)
            frame["unit_before"] = self.place(self.code_units(frame["BGQZLDWDM"]), frame)
            n = len(frame)
            bsm = frame["BGQTBBSM"] if "BGQTBBSM" in frame else pd.Series([None] * n, dtype=object)
            # Pieces of one parcel share its BSM: number them so every piece has its own id.
            serial = bsm.fillna("").groupby(bsm.fillna("")).cumcount() + 1
            frame["piece_id"] = ("DLTBGXGC:" + bsm.fillna("?").astype(str) + "#" + serial.astype(str)).to_numpy()
        self._earlier_pieces[year] = frame
        return frame


def _place_coded(data: AuditData, county: np.ndarray, frame) -> np.ndarray:
    """Rows coded with a zone's own code stay there; rows of a host county move by position."""
    if not data.units.zones:
        return county
    counties = [c for c in data.units.codes if c not in data.units.zones]
    host = pd.Series(county, dtype=object).isin(counties).to_numpy()
    return np.where(host, data.place(county, frame), county)


def _to(frame, crs):
    if frame is None:
        return None
    if crs is not None and frame.crs is not None and not frame.crs.equals(crs):
        frame = frame.to_crs(crs)
    return frame
