"""Which unit each parcel, change piece, monitoring parcel or table row belongs to.

Units are counties by code (DESIGN.md, "Units are counties by code"): a parcel belongs to the
unit named by the first 6 characters of its ZLDWDM (坐落单位代码); the township level (county
method 第十九条) uses the first 9. Two exceptions:

* **Development zones** (经开区, 高新区, 度假区) have no administrative code of their own, so their
  land sits inside the host county's codes (docs/background.md §6.1). An XZQ unit whose XZQDM matches no
  parcel's ZLDWDM[:6], or one listed in ``[units] spatial``, is such a zone: features whose
  representative point falls in its polygon move from the host county to the zone.
* **Renamed counties.** 茌平县 371523 became 茌平区 371503 during the period; data of either
  side of the change are attributed to whichever code XZQ uses.

Every DLTB parcel must land in exactly one unit: parcels whose code matches no unit are an error
naming their ids, and the per-unit sums are checked against the layer total (a pandas group-by
silently drops missing keys, so the check is not a formality).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from ..errors import LayerError
from ..report import Report
from ..schema import KNOWN_RENAMES
from .parts import UnitKeys

COUNTY = "county"
TOWNSHIP = "township"
CITY = "city"
LEVELS = (COUNTY, TOWNSHIP, CITY)


@dataclass
class UnitSet:
    """The county-level units of a city (XZQ), its development zones and code aliases.

    Attributes
    ----------
    codes : list of str
        XZQDM of every unit in XZQ order (counties and zones).
    names : dict
        XZQDM → XZQMC.
    zones : tuple of str
        Codes of units attributed by geometry.
    zone_geometries : numpy.ndarray
        Their polygons (shapely), in ``crs``.
    crs : pyproj.CRS or None
    aliases : dict
        Code found in data → unit code (county renames).
    """

    codes: list[str]
    names: dict[str, str]
    city_code: str
    city_name: str
    zones: tuple[str, ...] = ()
    zone_geometries: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    crs: object = None
    aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_xzq(cls, xzq: pd.DataFrame, *, city_code: str, city_name: str,
                 spatial_units=(), parcel_codes=(), report: Report | None = None,
                 year: int | None = None) -> UnitSet:
        """Build the unit set from the XZQ layer and the county codes found among parcels.

        Parameters
        ----------
        xzq : DataFrame or GeoDataFrame
            XZQ with XZQDM, XZQMC (and geometry when zones exist).
        spatial_units : sequence of str
            ``ws.spatial_units``: codes declared as development zones.
        parcel_codes : iterable of str
            Distinct ZLDWDM[:6] of the DLTB parcels (used to detect zones and renames).
        """
        report = report if report is not None else Report(strict=True)
        codes = [str(c) for c in xzq["XZQDM"]]
        dup = sorted({c for c in codes if codes.count(c) > 1})
        if dup:
            report.error("XZQ", "duplicate-unit", "XZQ lists unit codes more than once; each unit "
                         "must be one feature (dissolve multi-part units).", ids=dup, year=year)
        names = dict(zip(codes, (str(n) for n in xzq["XZQMC"]), strict=True))
        unit_set = set(codes)
        parcel_codes = {str(c) for c in parcel_codes}

        aliases: dict[str, str] = {}
        for old, new in KNOWN_RENAMES.items():
            if new in unit_set and old not in unit_set and old in parcel_codes:
                aliases[old] = new
            elif old in unit_set and new not in unit_set and new in parcel_codes:
                aliases[new] = old
        for found, unit in aliases.items():
            report.info("XZQ", "unit-renamed", f"parcels coded {found} are attributed to unit {unit} "
                        f"({names[unit]}): the county was renamed during the period "
                        "(茌平县 371523 → 茌平区 371503).", year=year)
        seen = {aliases.get(c, c) for c in parcel_codes}

        declared = [str(c) for c in spatial_units]
        unknown = [c for c in declared if c not in unit_set]
        if unknown:
            report.error("XZQ", "unknown-spatial-unit", "[units] spatial names codes that are not in "
                         "XZQ; add the zone polygons to XZQ or fix the list.", ids=unknown, year=year)
        detected = [c for c in codes if c not in seen and c not in declared]
        zones = tuple(c for c in codes if c in declared or c in detected)
        zone_geometries = np.empty(0, dtype=object)
        crs = None
        if zones:
            if "geometry" not in xzq:
                raise LayerError("XZQ was read without geometry but development zones need their "
                                 "polygons (internal error).")
            geoms = np.asarray(xzq.geometry.values, dtype=object)
            zone_geometries = geoms[[codes.index(z) for z in zones]]
            crs = xzq.crs
            empty = [z for z, g in zip(zones, zone_geometries, strict=True)
                     if g is None or shapely.is_empty(g)]
            if empty:
                report.error("XZQ", "zone-without-polygon", "development zones need a polygon in XZQ "
                             "to attribute parcels to them.", ids=empty, year=year)
            listed = ", ".join(f"{z} {names[z]}" for z in zones)
            hint = ""
            if detected:
                hint = (" Units whose code matches no parcel's ZLDWDM are treated as zones; list them "
                        "in farmland.toml as [units] spatial = [" + ", ".join(f'"{z}"' for z in detected)
                        + "] to make it explicit.")
            report.info("XZQ", "spatial-units", f"development zones attributed by geometry: {listed}. "
                        "Parcels whose representative point lies in a zone polygon move from their "
                        f"host county to the zone.{hint}", year=year)
        return cls(codes=codes, names=names, city_code=city_code, city_name=city_name, zones=zones,
                   zone_geometries=zone_geometries, crs=crs, aliases=aliases)

    # -- codes ---------------------------------------------------------------------------------

    def county_of(self, codes) -> np.ndarray:
        """Unit code for each code (ZLDWDM, XZQDM or a table's xzqdm); None where none matches.

        A code equal to a unit code (a zone's own code in a table) names that unit; otherwise its
        first 6 characters (after renames) must be a unit code.
        """
        return self._map(codes, self._county_of_unique)[0]

    def township_of(self, codes) -> np.ndarray:
        """9-character township code for each code (renames applied); None where shorter."""
        return self._map(codes, self._township_of_unique)[0]

    def county_and_township_of(self, codes) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`county_of` and :meth:`township_of` of the same codes, which are sorted out once."""
        return self._map(codes, self._county_of_unique, self._township_of_unique)

    def county_and_attributed_township_of(self, codes) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`county_and_township_of`, with no township where no county matches: a code
        outside the city's units names no township of it either. Told apart on the distinct
        codes, not on every parcel."""
        def township(text: pd.Series) -> pd.Series:
            return self._township_of_unique(text).where(self._county_of_unique(text).notna(), None)

        return self._map(codes, self._county_of_unique, township)

    @staticmethod
    def _map(codes, *fns) -> tuple[np.ndarray, ...]:
        # Thousands of distinct codes among millions of parcels: map the distinct ones only.
        inverse, uniques = pd.factorize(pd.Series(codes, copy=False).astype(object), sort=False)
        text = pd.Series(uniques, dtype=object).astype("string").str.strip()
        position = np.where(inverse < 0, len(uniques), inverse)
        return tuple(np.append(fn(text).to_numpy(dtype=object), None)[position] for fn in fns)

    def _county_of_unique(self, codes: pd.Series) -> pd.Series:
        units = pd.Index(self.codes)
        exact = codes.where(codes.isin(units))
        prefix = codes.str.slice(0, 6)
        prefix = prefix.replace(self.aliases) if self.aliases else prefix
        by_prefix = prefix.where(prefix.isin(units))
        out = exact.fillna(by_prefix)
        return out.astype(object).where(out.notna(), None)

    def _township_of_unique(self, codes: pd.Series) -> pd.Series:
        long_enough = codes.str.len() >= 9
        head = codes.str.slice(0, 6)
        head = head.replace(self.aliases) if self.aliases else head
        out = (head + codes.str.slice(6, 9)).where(long_enough)
        return out.astype(object).where(out.notna(), None)

    def county_name(self, township_code: str) -> str:
        return self.names.get(township_code[:6], "")

    # -- geometry ------------------------------------------------------------------------------

    def move_to_zones(self, units: np.ndarray, geometries, crs) -> tuple[np.ndarray, np.ndarray]:
        """Reassign features whose representative point lies in a zone polygon to that zone.

        Parameters
        ----------
        units : ndarray of object
            County-level unit codes from the codes (None where unattributed).
        geometries : array-like of shapely geometries
            The features, in ``crs``; None/empty geometries stay where their code put them.

        Returns
        -------
        units : ndarray
            Updated codes.
        moved : ndarray of bool
            Which features moved into a zone.
        """
        units = np.asarray(units, dtype=object).copy()
        moved = np.zeros(len(units), dtype=bool)
        if not self.zones or len(units) == 0:
            return units, moved
        zone_geoms = self.zone_geometries
        if crs is not None and self.crs is not None and not _same_crs(crs, self.crs):
            import geopandas as gpd

            zone_geoms = np.asarray(gpd.GeoSeries(zone_geoms, crs=self.crs).to_crs(crs).values,
                                    dtype=object)
        geoms = np.asarray(geometries, dtype=object)
        # A point in a zone lies in the zone's bounding box, and so does some of its feature's:
        # representative points (costly) are computed for the few features near a zone only.
        near = np.flatnonzero(_boxes_meet(shapely.bounds(geoms), shapely.bounds(zone_geoms)))
        points = shapely.point_on_surface(geoms[near])
        # The points go in the tree and the few zones ask it: GEOS prepares each zone polygon
        # once, instead of testing every point against an unprepared outline of many vertices.
        zone, feature = shapely.STRtree(points).query(zone_geoms, predicate="contains")
        feature = near[feature]
        # A point in two overlapping zones goes to the zone listed first in XZQ.
        order = np.lexsort((zone, feature))
        feature, zone = feature[order], zone[order]
        first = np.unique(feature, return_index=True)[1]
        feature, zone = feature[first], zone[first]
        zone_codes = np.asarray(self.zones, dtype=object)
        moved[feature] = units[feature] != zone_codes[zone]
        units[feature] = zone_codes[zone]
        return units, moved


def _boxes_meet(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """True where box ``boxes[i]`` (xmin, ymin, xmax, ymax) meets any of ``others``; False for
    the NaN box of a missing or empty geometry. Loops over the few ``others`` only."""
    meet = np.zeros(len(boxes), dtype=bool)
    with np.errstate(invalid="ignore"):
        for xmin, ymin, xmax, ymax in others:
            meet |= ((boxes[:, 0] <= xmax) & (boxes[:, 2] >= xmin)
                     & (boxes[:, 1] <= ymax) & (boxes[:, 3] >= ymin))
    return meet


def _same_crs(a, b) -> bool:
    try:
        return a.equals(b)
    except AttributeError:
        return a == b


def check_attributed(layer: str, year, units: np.ndarray, ids, areas, report: Report, *,
                     what: str = "parcels", field_name: str = "ZLDWDM") -> np.ndarray:
    """Report features attributed to no unit, then check Σ over units = Σ over features.

    Parameters
    ----------
    units : ndarray of object or UnitKeys
        Unit code per feature (None = unattributed).
    ids : array-like
        Feature ids for the message (BSM, JCBH, row numbers).
    areas : ndarray of float
        Area per feature (m² or 亩) for the conservation check.

    Returns
    -------
    ndarray of bool
        True where a feature is attributed.
    """
    units = UnitKeys.of(units)
    code, found = units.codes, units.units
    attributed = code >= 0
    ids = np.asarray(ids, dtype=object)
    if not attributed.all():
        report.error(layer, "unattributed", f"{int((~attributed).sum())} {what} have a {field_name} "
                     "that matches no unit in XZQ; every feature must belong to exactly one unit. "
                     f"Fix {field_name} at the source or add the unit to XZQ.", year=year,
                     field=field_name, ids=ids[~attributed])
    areas = np.nan_to_num(np.asarray(areas, dtype="float64"))
    total = float(areas.sum())
    by_unit = np.bincount(code[attributed], weights=areas[attributed], minlength=len(found))
    counted = float(by_unit.sum()) + float(areas[~attributed].sum())
    if not np.isclose(counted, total, rtol=1e-9, atol=1e-6):
        report.error(layer, "area-not-conserved", f"per-unit sums ({counted:.2f}) differ from the "
                     f"total over {what} ({total:.2f}); some features were lost in attribution "
                     "(internal error, please report it).", year=year)
    return attributed
