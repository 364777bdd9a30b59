"""Simulating one county: base-year parcels, then five years of changes, written as it goes.

A county is an independent unit of work (DESIGN.md, "Scale by partitioning"): it has its own
random stream, its own delivery CRS, and writes its own ``counties/<xzqdm>/bgdc_<year>.gpkg``.
What the city layers need (monitoring parcels, approvals, projects, ledger rows, totals) is
collected in a :class:`CountyResult`; only those small tables cross county lines.

Every year-end snapshot is the previous one with that year's change records applied, so the
toolkit's reconciliation (Σ arable(Y) − Σ arable(Y−1) = gains − losses in DLTBGXGC, net of
田坎) holds to rounding of the 田坎 deduction (≤ 0.01 m² per split parcel).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..units import M2_TO_MU, round_half_up
from . import _tables as T
from ._boundaries import project
from ._geometry import quad_grid, split_quads
from ._io import date_column, int_column, text_column, write_gpkg


def deduction(tbmj, kcxs):
    """KCMJ = round-half-up(TBMJ × KCXS, 2) and TBDLMJ = TBMJ − KCMJ (m²), as the survey tools do."""
    kcmj = round_half_up(np.asarray(tbmj) * np.asarray(kcxs), 2)
    return kcmj, round_half_up(np.asarray(tbmj) - kcmj, 2)


@dataclass
class Parcels:
    """Column arrays of one county's current year-end snapshot (one entry per parcel)."""

    geom: np.ndarray      # shapely Polygons in the county's delivery CRS
    quad: np.ndarray      # bool: lattice quadrilateral, can be split
    serial: np.ndarray    # int64: BSM serial within the county
    zldwdm: np.ndarray    # 19-character 坐落单位代码
    town: np.ndarray      # township index
    dlbm: np.ndarray      # land class code (text)
    kcxs: np.ndarray      # deduction coefficient
    tbmj: np.ndarray      # official area, m²
    gddb: np.ndarray      # quality grade (NaN off arable)
    zzsx: np.ndarray      # planting attribute code or None
    czcsxm: np.ndarray    # settlement attribute code or None
    bf: np.ndarray        # basic-farmland serial, −1 when not basic farmland
    locked: np.ndarray    # bool: covered by an approval or an illegal case; never changes again
    hsf: np.ndarray       # bool: inside a high-standard-farmland project

    def take(self, idx) -> Parcels:
        return Parcels(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Parcels]) -> Parcels:
        return Parcels(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Parcels)})

    def __len__(self) -> int:
        return len(self.serial)


@dataclass
class CountyResult:
    """What the city-level files need from one county."""

    spec: T.CountySpec
    kzmj: float = 0.0
    arable_m2: dict = field(default_factory=dict)
    bf_m2: dict = field(default_factory=dict)
    wpzf: list = field(default_factory=list)        # DataFrames with a 'geometry' column (EPSG:4527)
    approvals: list = field(default_factory=list)
    hsf: list = field(default_factory=list)
    ledger: list = field(default_factory=list)      # dict rows
    hsf_built_m2: dict = field(default_factory=dict)
    occupation: dict = field(default_factory=dict)  # year -> (arable occupied m², of which illegal m²)
    events: list = field(default_factory=list)
    dev_zone: shapely.Geometry | None = None
    dev_zone_kzmj: float = 0.0
    dev_zone_towns: tuple = ()
    n_parcels: int = 0


class CountySimulation:
    """Build and evolve one county; see the module notes.

    Parameters
    ----------
    spec : CountySpec
    polygon : shapely geometry
        County boundary in its delivery CRS (``spec.epsg``).
    n_parcels : int
        Wanted number of base-year parcels.
    arable_goal_m2 : float
        Gross area (Σ TBMJ, m²) to allocate to arable land in the base year.
    bf_share : float
        Share of the base-year net arable area to designate as basic farmland.
    seed : int
    root : Path
        The workspace being written.
    table : LandClassTable
    canvas : LandcoverCanvas
    area_fn : callable
        ``ellipsoidal_area(geoms, crs)`` → m².
    """

    def __init__(self, spec, polygon, n_parcels, arable_goal_m2, bf_share, seed, root, table, canvas, area_fn):
        self.spec = spec
        self.bf_share = bf_share
        self.polygon = polygon
        self.n_target = n_parcels
        self.arable_goal = arable_goal_m2
        self.rng = np.random.default_rng([seed, 7919, spec.index])
        self.root = Path(root)
        self.table = table
        self.canvas = canvas
        self.area_fn = area_fn
        self.crs = f"EPSG:{spec.epsg}"
        self.result = CountyResult(spec)
        self.next_serial = 1
        self.next_bf = 1
        self.counters = {"approval": 0, "hsf": 0}

    # -- helpers --------------------------------------------------------------------------

    def _serials(self, k: int) -> np.ndarray:
        out = np.arange(self.next_serial, self.next_serial + k, dtype=np.int64)
        self.next_serial += k
        return out

    def _bf_serials(self, k: int) -> np.ndarray:
        out = np.arange(self.next_bf, self.next_bf + k, dtype=np.int64)
        self.next_bf += k
        return out

    def _bsm(self, serial, layer_digit: str) -> np.ndarray:
        # 18 digits: county (6) + layer (1: DLTB, 2: YJJBNTTB) + serial (11).
        return (self.spec.xzqdm + layer_digit + pd.Series(serial).astype(str).str.zfill(11)).to_numpy(object)

    def _to_common(self, geoms):
        if self.spec.epsg == T.COMMON_EPSG:
            return np.asarray(geoms, dtype=object)
        return project(np.asarray(geoms, dtype=object), self.spec.epsg, T.COMMON_EPSG)

    def _choice(self, options, weights, k):
        return np.asarray(options, dtype=object)[self.rng.choice(len(options), size=k, p=weights)]

    def _dates(self, year: int, k: int) -> np.ndarray:
        return np.datetime64(f"{year}-01-01") + self.rng.integers(0, 365, size=k).astype("timedelta64[D]")

    # -- base year ------------------------------------------------------------------------

    def run(self) -> CountyResult:
        self._build_base()
        self._write_snapshot(T.BASE_YEAR, None)
        for year in T.YEARS[1:]:
            if year == T.SANDIAO_FROM:
                self._crosswalk()
            changes = self._simulate_year(year)
            self._write_snapshot(year, changes)
        return self.result

    def _build_base(self) -> None:
        spec, rng = self.spec, self.rng
        geoms, quad = quad_grid(self.polygon, self.n_target, rng)
        n = len(geoms)
        tbmj = round_half_up(np.asarray(self.area_fn(geoms, self.crs), dtype=float), 2)
        xy = shapely.get_coordinates(shapely.centroid(geoms))

        town, town_codes, seat, town_kind = self._townships(xy, tbmj)
        village = self._villages(xy, town, town_kind)
        zldwdm = (spec.xzqdm + np.asarray(town_codes, dtype=object)[town] + village + "0000000").astype(object)

        dlbm = self._base_land_use(xy, tbmj, seat, town, town_kind)
        is_arable = np.isin(dlbm, T.ARABLE_BASE)
        kcxs = np.where(is_arable & (rng.random(n) < T.DEDUCTION_SHARE),
                        rng.choice(T.DEDUCTION_COEFFICIENTS, size=n), 0.0)
        # Quality varies by township (soils follow the old river courses) and parcel.
        town_effect = rng.normal(0.0, 0.8, size=len(town_codes))[town]
        grade = np.clip(np.rint(rng.normal(spec.gddb_mean + town_effect, 0.7)), 2, 11)
        gddb = np.where(is_arable, grade, np.nan)
        czcsxm = pd.Series(dlbm).map(T.CONSTRUCTION_CZC).to_numpy(object)

        self.parcels = Parcels(
            geom=geoms, quad=quad, serial=self._serials(n), zldwdm=zldwdm, town=town, dlbm=dlbm,
            kcxs=kcxs, tbmj=tbmj, gddb=gddb, zzsx=np.full(n, None, dtype=object), czcsxm=czcsxm,
            bf=np.full(n, -1, dtype=np.int64), locked=np.zeros(n, bool), hsf=np.zeros(n, bool),
        )
        self._designate_basic_farmland()
        self.result.kzmj = float(round_half_up(tbmj.sum(), 2))
        self.result.n_parcels = n
        self.town_codes = town_codes
        if spec.xzqdm == T.DEV_ZONE_HOST:
            self._dev_zone(xy, town, town_codes, town_kind, tbmj)

    def _townships(self, xy, weight):
        """Compact townships by weighted k-means on parcel centroids; codes by distance to the seat.

        Township codes follow the national scheme: 街道 001–099 nearest the county seat, then 镇
        101–199, then 乡 201–299 (docs/background.md §1.2, ZLDWDM).
        """
        spec, rng = self.spec, self.rng
        n = len(xy)
        k = int(np.clip(spec.townships, 2, max(2, n // 12)))
        centers = xy[rng.choice(n, size=k, replace=False)]
        for _ in range(8):
            d2 = ((xy[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
            town = d2.argmin(1)
            w = np.bincount(town, weights=weight, minlength=k)
            for axis in range(2):
                s = np.bincount(town, weights=weight * xy[:, axis], minlength=k)
                centers[:, axis] = np.where(w > 0, s / np.where(w > 0, w, 1), centers[:, axis])
        seat_pt = self.polygon.centroid
        if not self.polygon.contains(seat_pt):
            seat_pt = self.polygon.point_on_surface()
        seat = np.array([seat_pt.x, seat_pt.y])
        order = np.argsort(((centers - seat) ** 2).sum(1), kind="stable")
        streets = int(np.clip(spec.streets, 1, k - 1))
        n_towns = int(round(0.75 * (k - streets)))
        kind = np.empty(k, dtype=object)
        codes = np.empty(k, dtype=object)
        for rank, t in enumerate(order):
            if rank < streets:
                kind[t], codes[t] = "street", f"{rank + 1:03d}"
            elif rank < streets + n_towns:
                kind[t], codes[t] = "town", f"{100 + rank - streets + 1:03d}"
            else:
                kind[t], codes[t] = "township", f"{200 + rank - streets - n_towns + 1:03d}"
        self.town_centers = centers
        return town, codes, seat, kind

    def _villages(self, xy, town, town_kind) -> np.ndarray:
        """Village codes (居委会 001–199 in 街道, 村委会 201–399 elsewhere), nearest of random seeds.

        The loop runs over townships (at most a few dozen), each step vectorised over its parcels.
        """
        village = np.empty(len(xy), dtype=object)
        for t in range(len(town_kind)):
            members = np.flatnonzero(town == t)
            if len(members) == 0:
                continue
            m = int(np.clip(len(members) // 8, 1, 60))
            seeds = xy[self.rng.choice(members, size=m, replace=False)]
            nearest = ((xy[members, None, :] - seeds[None]) ** 2).sum(-1).argmin(1)
            base = 1 if town_kind[t] == "street" else 201
            village[members] = np.array([f"{base + v:03d}" for v in range(m)], dtype=object)[nearest]
        return village

    def _base_land_use(self, xy, tbmj, seat, town, town_kind) -> np.ndarray:
        """Base-year (2015) classes in the 二调 scheme with area shares held to within a parcel.

        The county seat grows outward from the seat point and each 镇 has its 建制镇 parcel; all
        other classes are laid on a random permutation of the remaining parcels by cumulative
        area, arable first up to the county's arable goal.
        """
        spec, rng = self.spec, self.rng
        n = len(tbmj)
        total = tbmj.sum()
        dlbm = np.full(n, None, dtype=object)

        by_distance = np.argsort(((xy - seat) ** 2).sum(1), kind="stable")
        cum = np.cumsum(tbmj[by_distance])
        urban = by_distance[: max(1, int(np.searchsorted(cum, T.URBAN_SHARE * total)))]
        dlbm[urban] = spec.urban_code
        for t in np.flatnonzero(town_kind == "town"):
            free = np.flatnonzero((town == t) & (dlbm == None))  # noqa: E711 (object array)
            if len(free):
                near = free[((xy[free] - self.town_centers[t]) ** 2).sum(1).argmin()]
                dlbm[near] = "202"

        free = rng.permutation(np.flatnonzero(dlbm == None))  # noqa: E711
        cum = np.cumsum(tbmj[free])
        n_arable = int(np.argmin(np.abs(cum - self.arable_goal))) + 1
        arable = free[:n_arable]
        codes = list(T.ARABLE_MIX)
        dlbm[arable] = self._choice(codes, list(T.ARABLE_MIX.values()), len(arable))

        rest = free[n_arable:]
        if len(rest):
            other_codes = list(T.OTHER_MIX)
            shares = np.array(list(T.OTHER_MIX.values()))
            bounds = np.cumsum(shares / shares.sum())
            mid = (np.cumsum(tbmj[rest]) - tbmj[rest] / 2) / tbmj[rest].sum()
            slot = np.minimum(np.searchsorted(bounds, mid), len(bounds) - 1)
            dlbm[rest] = np.asarray(other_codes, dtype=object)[slot]
        return dlbm

    def _designate_basic_farmland(self) -> None:
        """Designate basic farmland on arable parcels (better grades first) up to ``bf_share``."""
        P = self.parcels
        arable = np.flatnonzero(self.table.is_arable(P.dlbm))
        _, net = deduction(P.tbmj[arable], P.kcxs[arable])
        key = self.rng.random(len(arable)) + 0.08 * P.gddb[arable]
        order = np.argsort(key, kind="stable")
        cum = np.cumsum(net[order])
        goal = self.bf_share * net.sum()
        chosen = arable[order[: int(np.argmin(np.abs(cum - goal))) + 1]]
        P.bf[chosen] = self._bf_serials(len(chosen))

    def _dev_zone(self, xy, town, town_codes, town_kind, tbmj) -> None:
        """The development zone: the easternmost 街道 (two of them when there are six or more)."""
        streets = np.flatnonzero(town_kind == "street")
        pool = streets if len(streets) >= 2 else np.arange(len(town_kind))
        n_zone = 2 if len(town_kind) >= 6 else 1
        east = pool[np.argsort(-self.town_centers[pool, 0], kind="stable")[:n_zone]]
        inside = np.isin(town, east)
        zone = shapely.union_all(self.parcels.geom[inside])
        self.result.dev_zone = self._to_common([zone])[0]
        self.result.dev_zone_kzmj = float(round_half_up(tbmj[inside].sum(), 2))
        self.result.dev_zone_towns = tuple(sorted(self.spec.xzqdm + town_codes[t] for t in east))

    # -- the 三调 break ----------------------------------------------------------------------

    def _crosswalk(self) -> None:
        """Re-code the 2018 snapshot into the 三调 scheme (docs/background.md §2.4) before 2019's changes.

        One-to-one codes map through the land-class table; 城镇村 parcels (201/202/203) are
        re-surveyed into the 4-digit classes by weighted draw, keeping their settlement code.
        Arable codes map one-to-one, so the arable total does not move at the break.
        """
        P = self.parcels
        new = self.table.crosswalk(P.dlbm).astype(object)
        for old, (options, weights) in T.SETTLEMENT_CROSSWALK.items():
            mask = P.dlbm == old
            if mask.any():
                new[mask] = self._choice(options, weights, int(mask.sum()))
        if (new == "").any():
            raise RuntimeError(f"internal: no 三调 code for {sorted(set(P.dlbm[new == '']))}")
        P.dlbm = new
        arable = self.table.is_arable(new)
        options, weights = T.PLANTING_ATTRIBUTES
        P.zzsx = np.where(arable, self._choice(options, weights, len(new)), None).astype(object)

    # -- one year of change ------------------------------------------------------------------

    def _simulate_year(self, year: int) -> dict:
        spec, rng, table = self.spec, self.rng, self.table
        scheme = "sandiao" if year >= T.SANDIAO_FROM else "erdiao"
        P = self.parcels
        n = len(P)
        group = table.group_of(P.dlbm)
        arable = group == "arable"
        busy = P.locked.copy()
        # Changes prefer land that is neither basic farmland nor in a 高标准农田 project.
        penalty = 2.0 * (P.bf >= 0) + 1.0 * P.hsf

        def ranked(mask, prefer=None):
            """Free parcels of ``mask`` in random order, preferred ones (low penalty) first."""
            key = rng.random(n) + (penalty if prefer is None else prefer)
            key[~mask | busy] = np.inf
            order = np.argsort(key, kind="stable")
            return order[np.isfinite(key[order])]

        def pick(mask, k, prefer=None):
            if k <= 0:
                return np.empty(0, dtype=np.int64)
            idx = ranked(mask, prefer)[:k]
            busy[idx] = True
            return idx

        county_m2 = self.result.kzmj

        def budgeted(kind, mask, prefer=None):
            """Parents for ``kind`` and the share of each that changes, to the kind's area budget.

            The count follows the parcel rate (stochastically rounded, with a floor) and the
            area follows a share of the county, so a sample of 300 or 2 million parcels changes
            about the same land: small parcels change whole, large ones are cut.
            """
            rate, floor, share = T.CHANGES[kind]
            expected = rate * n
            k = max(floor, int(expected) + int(rng.random() < expected - int(expected)))
            budget = share * county_m2 * rng.uniform(0.7, 1.3)
            idx = pick(mask & (P.quad | (P.tbmj <= budget / k / 0.85)), k, prefer)
            weight = rng.uniform(0.5, 1.5, len(idx))
            target = budget * weight / max(weight.sum(), 1e-9)
            split = P.quad[idx] & (P.tbmj[idx] > target / 0.85)
            return idx, split, np.clip(target / P.tbmj[idx], 0.03, 0.85)

        def construction_codes(k):
            codes = self._choice(*T.CONSTRUCTION_TARGETS[scheme], k)
            if spec.urban_code != "201":  # 城市 only where there is a city proper
                codes[codes == "201"] = "202"
            return codes

        orders = _Orders()
        plan = T.ILLEGAL_RATIO_PLAN.get((spec.xzqdm, year))
        if plan is None:
            plan = float(rng.choice([0.0, 0.02, 0.04, 0.06, 0.08], p=[0.2, 0.25, 0.25, 0.2, 0.1]))
        exact = plan == "exact"

        # Legal construction on arable (approved before the change date).
        if exact:
            legal_goal = T.CHANGES["construction_legal"][2] * county_m2 * rng.uniform(0.7, 1.3)
            candidates = arable & P.quad & (P.kcxs == 0)
            big = candidates & (P.tbmj * 0.85 >= legal_goal)
            legal_tuned = pick(big if big.any() else candidates, 1)
        else:
            idx, split, frac = budgeted("construction_legal", arable)
            orders.add(idx, "construction_legal", construction_codes(len(idx)), split=split, frac=frac, legal=True)
        if (spec.xzqdm, year) in T.BASIC_FARMLAND_OCCUPATIONS:
            idx = pick(arable & P.quad & (P.bf >= 0), 1, prefer=np.zeros(n))
            frac = np.clip(T.MAJOR_PROJECT_SHARE * county_m2 / P.tbmj[idx], 0.03, 0.85)
            orders.add(idx, "construction_legal", np.full(len(idx), T.MAJOR_PROJECT_TARGET[scheme], dtype=object),
                       split=np.ones(len(idx), bool), frac=frac, legal=True, major=True)

        # Approved but not (yet) built: in force, occupies nothing (excluded from the 15 % base).
        # The parcel is locked so that nothing else ever happens under the approval.
        if rng.random() < 0.4:
            idx = pick(arable & (P.bf < 0) & P.quad, 1)
            if len(idx):
                frac = np.clip(T.UNBUILT_APPROVAL_SHARE * county_m2 / P.tbmj[idx], 0.03, 0.85)
                west, _, west_m2, _ = split_quads(P.geom[idx], P.tbmj[idx], fraction=frac)
                P.locked[idx] = True
                _, net = deduction(west_m2, P.kcxs[idx])
                self._approvals(year, idx, west, west_m2, net, self._dates(year, len(idx)),
                                major=np.zeros(len(idx), bool), built=False)

        # Restructuring within agriculture: arable → orchard / forest / pond / 设施农用地.
        idx, split, frac = budgeted("restructure", arable)
        codes = self._choice(*T.RESTRUCTURE_TARGETS[scheme], len(idx))
        zzsx = np.full(len(idx), None, dtype=object)
        if scheme == "sandiao":
            recoverable = np.isin(codes, ("0201", "0301", "1104"))
            zzsx[recoverable] = self._choice(("JKHF", "GCHF"), (0.7, 0.3), int(recoverable.sum()))
        orders.add(idx, "restructure", codes, split=split, frac=frac, zzsx=zzsx)

        # Supplementary arable land (补充耕地) from unused land.
        idx, split, frac = budgeted("gain", np.isin(P.dlbm, T.GAIN_SOURCES[scheme]), prefer=np.zeros(n))
        orders.add(idx, "gain", self._choice(*T.GAIN_TARGETS[scheme], len(idx)), split=split, frac=frac,
                   gddb=np.clip(np.rint(rng.normal(spec.gddb_mean + 1.5, 0.6, len(idx))), 2, 12),
                   zzsx=np.full(len(idx), "LS" if scheme == "sandiao" else None, dtype=object))

        # Reclamation of village land (增减挂钩 拆旧复垦): construction → arable.
        idx, split, frac = budgeted("reclaim", np.isin(P.dlbm, T.RECLAIM_SOURCES[scheme]), prefer=np.zeros(n))
        orders.add(idx, "reclaim", self._choice(*T.RECLAIM_TARGETS[scheme], len(idx)), split=split, frac=frac,
                   gddb=np.clip(np.rint(rng.normal(spec.gddb_mean + 2.0, 0.6, len(idx))), 2, 12),
                   zzsx=np.full(len(idx), "LS" if scheme == "sandiao" else None, dtype=object))

        # Construction on non-arable land (counts as new construction land, occupies no arable).
        sources, targets = T.OTHER_TO_CONSTRUCTION[scheme]
        idx, split, frac = budgeted("other_to_construction", np.isin(P.dlbm, sources), prefer=np.zeros(n))
        orders.add(idx, "other_to_construction", self._choice(targets, None, len(idx)), split=split, frac=frac,
                   legal=rng.random(len(idx)) < 0.6)

        # Changes among non-arable classes (whole parcels; no arable involved).
        swaps = T.OTHER_SWAPS[scheme]
        rate, floor, _ = T.CHANGES["other"]
        idx = pick(np.isin(P.dlbm, list(swaps)), max(floor, int(round(rate * n))), prefer=np.zeros(n))
        orders.add(idx, "other", np.array([swaps[c] for c in P.dlbm[idx]], dtype=object))

        pieces = orders.split_all(P)

        # Illegal construction on arable, sized so the county-year hits its planned ratio.
        legal_net = orders.arable_net(P, pieces, arable, kind="construction_legal")
        ill_codes, ill_w = T.ILLEGAL_TARGETS[scheme]
        ill_mask = arable & P.quad & (P.kcxs == 0)  # 田坎-free, so the occupied area is the piece's
        if exact and len(legal_tuned) and ill_mask.any():
            p = legal_tuned[0]
            # illegal = 3/17 × legal must fit in 85 % of the largest parcel that can take it (tiny
            # cities have few such parcels).
            largest = float(P.tbmj[ill_mask].max())
            legal_cents, illegal_cents = _exact_fifteen_percent(
                min(legal_goal, 0.85 * P.tbmj[p], 17 / 3 * 0.85 * largest * 0.999))
            q = pick(ill_mask & (P.tbmj * 85 >= illegal_cents), 1)
            tuned = _Orders()
            tuned.add(legal_tuned, "construction_legal", construction_codes(1),
                      split=np.ones(1, bool), cents=np.array([legal_cents]), legal=True)
            tuned.add(q, "construction_illegal", self._choice(ill_codes, ill_w, 1),
                      split=np.ones(1, bool), cents=np.array([illegal_cents]), legal=False)
        else:
            tuned = _Orders()
            # (An exact case without a parcel to cut, possible only in tiny samples, falls back to
            # the nearest-cent 15 %.)
            ratio = {"just_below": T.JUST_BELOW_RATIO, "exact": 0.15}.get(plan, plan)
            if ratio > 0:
                total_cents = _illegal_cents(ratio, legal_net, plan == "just_below")
                if total_cents == 0:  # nothing legal to measure against: a small illegal case
                    share = T.CHANGES["construction_legal"][2] * rng.uniform(0.05, 0.3)
                    total_cents = int(round(share * county_m2 * 100))
                q, cents = _illegal_pieces(ranked(ill_mask), P.tbmj, total_cents)
                busy[q] = True
                tuned.add(q, "construction_illegal", self._choice(ill_codes, ill_w, len(q)),
                          split=np.ones(len(q), bool), cents=cents, legal=False)
        pieces_tuned = tuned.split_all(P)
        orders.extend(tuned, pieces, pieces_tuned)
        return self._apply(year, scheme, orders, pieces)

    # -- applying the orders -----------------------------------------------------------------

    def _apply(self, year, scheme, orders: _Orders, pieces: dict) -> dict:
        """Apply the year's orders to the snapshot and emit change records and city rows."""
        P, table = self.parcels, self.table
        o = orders.frame()
        k = len(o)
        parent = o["parent"].to_numpy(np.intp)  # an empty year's frame would give floats
        split = o["split"].to_numpy(bool)
        new_code = o["code"].to_numpy(object)
        gxsj = self._dates(year, k)

        before = P.take(parent)
        after_arable = table.is_arable(new_code)
        after_cons = table.is_construction(new_code)
        before_group = table.group_of(before.dlbm)

        # Attributes of the changed piece (west piece of a split, the whole parcel otherwise).
        new_gddb = np.where(after_arable, np.where(np.isnan(o["gddb"]), before.gddb, o["gddb"]), np.nan)
        new_zzsx = o["zzsx"].to_numpy(object, copy=True)
        if scheme == "sandiao":
            keep = after_arable & (new_zzsx == None)  # noqa: E711
            new_zzsx[keep] = before.zzsx[keep]
        czc_of = T.CONSTRUCTION_CZC if scheme == "erdiao" else T.NEW_CZCSXM
        new_czc = pd.Series(new_code).map(czc_of).where(after_cons, None).to_numpy(object)
        new_kcxs = np.where(after_arable & (before_group == "arable"), before.kcxs, 0.0)

        geom_changed = np.where(split, pieces["west"], before.geom)
        changed_m2 = np.where(split, pieces["west_m2"], before.tbmj)
        kept_m2 = pieces["east_m2"]

        west = before.take(np.arange(k))
        west.geom = geom_changed
        west.tbmj = changed_m2
        west.dlbm = new_code
        west.kcxs = new_kcxs
        west.gddb = new_gddb
        west.zzsx = np.where(after_arable | (new_zzsx != None), new_zzsx, None).astype(object)  # noqa: E711
        west.czcsxm = new_czc
        west.bf = np.where(after_arable, before.bf, -1)
        west.locked = before.locked | after_cons
        west.serial = before.serial.copy()
        west.serial[split] = self._serials(int(split.sum()))
        east = before.take(np.flatnonzero(split))
        east.geom = pieces["east"][split]
        east.tbmj = kept_m2[split]
        east.serial = self._serials(int(split.sum()))
        # A basic-farmland parcel cut by a change keeps its designation (and id) on the piece that
        # stays arable; the changed piece leaves the layer.
        west.bf = np.where(split & (west.bf >= 0), -1, west.bf)

        # Change records: one row per overlay piece; the pieces of a parcel sum to its TBMJ.
        gx = pd.DataFrame({
            "BGQTBBSM": self._bsm(before.serial, "1"),
            "BGHTBBSM": self._bsm(west.serial, "1"),
            "BGQDLBM": before.dlbm, "BGHDLBM": new_code,
            "BGQZLDWDM": before.zldwdm, "BGHZLDWDM": before.zldwdm,
            "BGQKCXS": before.kcxs, "BGHKCXS": new_kcxs,
            "TBBGMJ": changed_m2, "GXSJ": gxsj, "geometry": geom_changed,
        })
        if split.any():
            s = np.flatnonzero(split)
            gx_east = pd.DataFrame({
                "BGQTBBSM": self._bsm(before.serial[s], "1"), "BGHTBBSM": self._bsm(east.serial, "1"),
                "BGQDLBM": before.dlbm[s], "BGHDLBM": before.dlbm[s],
                "BGQZLDWDM": before.zldwdm[s], "BGHZLDWDM": before.zldwdm[s],
                "BGQKCXS": before.kcxs[s], "BGHKCXS": before.kcxs[s],
                "TBBGMJ": east.tbmj, "GXSJ": gxsj[s], "geometry": east.geom,
            })
            gx = pd.concat([gx, gx_east], ignore_index=True)

        # The new snapshot: whole-parcel changes in place, split parents replaced by their pieces.
        whole = parent[~split]
        for name in ("dlbm", "kcxs", "gddb", "zzsx", "czcsxm", "bf", "locked"):
            getattr(P, name)[whole] = getattr(west, name)[~split]
        keep = np.ones(len(P), bool)
        keep[parent[split]] = False
        self.parcels = P = Parcels.concat([P.take(np.flatnonzero(keep)), west.take(np.flatnonzero(split)), east])

        # Net arable area of each changed piece before and after (田坎 excluded).
        _, net_before = deduction(changed_m2, before.kcxs)
        arable_before = before_group == "arable"
        occupied = np.where(arable_before & after_cons, net_before, 0.0)
        legal = o["legal"].to_numpy(bool)
        major = o["major"].to_numpy(bool)

        # Basic farmland lost to legal State-Council projects is re-designated (补划) the same year.
        lost_bf = np.where(major & (before.bf >= 0), net_before, 0.0).sum()
        if lost_bf > 0:
            self._redesignate(lost_bf)

        new_cons = after_cons & (before_group != "construction")
        self._monitoring(year, o, geom_changed, changed_m2, occupied, legal, new_cons)
        cons_idx = np.flatnonzero(new_cons & legal)
        self._approvals(year, cons_idx, geom_changed[cons_idx], changed_m2[cons_idx], occupied[cons_idx],
                        gxsj[cons_idx], major=major[cons_idx], built=True)
        self._ledger(year, o, occupied, legal, arable_before, after_arable, changed_m2, major)
        self.result.occupation[year] = (float(occupied[new_cons].sum()), float(occupied[new_cons & ~legal].sum()))
        if (occupied[new_cons & ~legal & (before.bf >= 0)] > 0).any():
            self.result.events.append((year, "挂牌督办", T.EVENT_NOTES["挂牌督办_基本农田"].format(year=year)))
        self._high_standard_farmland(year)
        return {"gxgc": gx}

    def _redesignate(self, lost_m2: float) -> None:
        """补划: designate non-basic arable parcels, closest in size first, until the loss is covered."""
        P = self.parcels
        _, net = deduction(P.tbmj, P.kcxs)
        cand = np.flatnonzero(self.table.is_arable(P.dlbm) & (P.bf < 0) & ~P.locked)
        if len(cand) == 0:
            return
        big_enough = net[cand] >= lost_m2
        if big_enough.any():
            chosen = cand[big_enough][[np.argmin(net[cand][big_enough])]]
        else:
            order = cand[np.argsort(-net[cand], kind="stable")]
            chosen = order[: int(np.searchsorted(np.cumsum(net[order]), lost_m2)) + 1]
        P.bf[chosen] = self._bf_serials(len(chosen))

    # -- rows for city-level layers ----------------------------------------------------------

    def _monitoring(self, year, o, geoms, area_m2, occupied, legal, new_cons) -> None:
        """卫片执法 parcels: one per piece that became construction land this year."""
        idx = np.flatnonzero(new_cons)
        if len(idx) == 0:
            return
        # 监测编号: county + year + serial within the county-year.
        jcbh = f"{self.spec.xzqdm}{year}" + pd.Series(np.arange(1, len(idx) + 1)).astype(str).str.zfill(5)
        self.result.wpzf.append(pd.DataFrame({
            "JCBH": jcbh.to_numpy(object), "XZQDM": self.spec.xzqdm, "JCNF": year,
            "XZJSYDMJ": area_m2[idx], "ZYGDMJ": occupied[idx],
            "WFZYGDMJ": np.where(legal[idx], 0.0, occupied[idx]),
            "HFXSC": np.where(legal[idx], "合法", "违法").astype(object),
            "geometry": self._to_common(geoms[idx]),
        }))

    def _approvals(self, year, idx, geoms, area_m2, arable_m2, change_dates, *, major, built) -> None:
        """农用地转用 approvals: the approved polygon is the piece itself, approved before building."""
        k = len(idx)
        if k == 0:
            return
        lead = self.rng.integers(20, 420, size=k) if built else np.zeros(k, dtype=int)
        pzrq = np.asarray(change_dates, dtype="datetime64[D]") - lead.astype("timedelta64[D]")
        start = self.counters["approval"]
        self.counters["approval"] += k
        years = pd.Series(pzrq.astype("datetime64[Y]").astype(int) + 1970).astype(str)
        number = pd.Series(np.arange(start + 1, start + k + 1)).astype(str)
        serial = str(self.spec.index + 1) + number.str.zfill(3)
        # State-Council approvals (国土资函) for the major projects, provincial (鲁政土字) otherwise.
        pzwh = np.where(major, "国土资函〔" + years + "〕" + serial + "号",
                        "鲁政土字〔" + years + "〕" + serial + "号").astype(object)
        names = np.where(major, f"{self.spec.name}国省道改建工程建设用地",
                         self.spec.name + years + "年度第" + number + "批次城镇建设用地").astype(object)
        self.result.approvals.append(pd.DataFrame({
            "PZWH": pzwh, "XMMC": names, "PZRQ": pzrq, "XZQDM": self.spec.xzqdm,
            "PZMJ": np.asarray(area_m2, float), "ZYGDMJ": np.asarray(arable_m2, float),
            "geometry": self._to_common(geoms),
        }))

    def _ledger(self, year, o, occupied, legal, arable_before, after_arable, area_m2, major) -> None:
        """占补平衡 rows: occupation by approved projects, 补充 by local land development."""
        name = self.spec.name
        occ = np.flatnonzero((occupied > 0) & legal)
        occ_mu = round_half_up(occupied[occ] * M2_TO_MU, 2)
        batch = pd.Series(np.arange(1, len(occ) + 1)).astype(str)
        gains = np.flatnonzero(after_arable & ~arable_before & (o["kind"].to_numpy() == "gain"))
        gain_mu = round_half_up(area_m2[gains] * M2_TO_MU, 2)
        n_gain = pd.Series(np.arange(1, len(gains) + 1)).astype(str)
        frame = pd.DataFrame({
            "xzqdm": self.spec.xzqdm, "year": year,
            "kind": ["占用"] * len(occ) + ["补充"] * len(gains),
            "project": np.concatenate([
                np.where(major[occ], f"{name}国省道改建工程", f"{name}{year}年度第" + batch + "批次城镇建设用地"),
                (f"{name}{year}年土地开发项目（" + n_gain + "）").to_numpy(object),
            ]).astype(object),
            "area_mu": np.concatenate([occ_mu, gain_mu]),
            "paddy_mu": 0.0,  # Liaocheng's arable land is irrigated dry land; hardly any paddy
            # Grain capacity: ~450 kg/亩 on established arable land, less on new land.
            "grain_capacity_t": np.concatenate([round_half_up(occ_mu * 0.45, 2), round_half_up(gain_mu * 0.38, 2)]),
            "source": "本地",
        })
        self.result.ledger.extend(frame.to_dict("records"))

    def _high_standard_farmland(self, year) -> None:
        """高标准农田 projects of the year: arable parcels (basic farmland first), one per township."""
        P, rng = self.parcels, self.rng
        arable = self.table.is_arable(P.dlbm)
        rate, floor = T.HSF_RATE
        k = max(floor, int(round(rate * arable.sum())))
        key = rng.random(len(P)) + 1.0 * (P.bf < 0)
        key[~arable | P.hsf | P.locked] = np.inf
        idx = np.argsort(key, kind="stable")[:k]
        idx = idx[np.isfinite(key[idx])]
        P.hsf[idx] = True
        _, net = deduction(P.tbmj[idx], P.kcxs[idx])
        self.result.hsf_built_m2[year] = float(net.sum())
        towns = P.town[idx]
        rows = []
        for t in np.unique(towns):  # one project per township and year: a few dozen unions at most
            members = idx[towns == t]
            self.counters["hsf"] += 1
            code = self.spec.xzqdm + self.town_codes[t]
            rows.append(dict(
                XMBH=f"GB{code}{year}{self.counters['hsf']:03d}",
                XMMC=f"{self.spec.name}{year}年高标准农田建设项目（{code}片区）",
                XZQDM=self.spec.xzqdm, JSNF=year,
                JSMJ=float(round_half_up(net[towns == t].sum(), 2)),
                # union_all, not coverage_union: split pieces leave T-junctions on their neighbours.
                geometry=shapely.union_all(P.geom[members]),
            ))
        frame = pd.DataFrame(rows)
        frame["geometry"] = self._to_common(frame["geometry"].to_numpy(object))
        self.result.hsf.append(frame)

    # -- writing a snapshot ------------------------------------------------------------------

    def _write_snapshot(self, year: int, changes: dict | None) -> None:
        P, table = self.parcels, self.table
        path = self.root / "counties" / self.spec.xzqdm / f"bgdc_{year}.gpkg"
        kcmj, tbdlmj = deduction(P.tbmj, P.kcxs)
        arable = table.is_arable(P.dlbm)
        sandiao = year >= T.SANDIAO_FROM
        names = table.name_of(P.dlbm)
        cols = {"BSM": text_column(self._bsm(P.serial, "1")), "DLBM": text_column(P.dlbm),
                "DLMC": text_column(names), "ZLDWDM": text_column(P.zldwdm), "TBMJ": P.tbmj}
        if sandiao:
            cols["KCDLBM"] = text_column(np.where(P.kcxs > 0, "1203", None))
            cols.update(KCXS=P.kcxs, KCMJ=kcmj)
        else:  # the 二调-era field names for the 田坎 deduction
            cols.update(TKXS=P.kcxs, TKMJ=kcmj)
        cols["TBDLMJ"] = tbdlmj
        cols["GDDB"] = int_column(P.gddb)
        cols["GDPDJB"] = text_column(np.where(arable, "1", None))
        if sandiao:
            cols["ZZSXDM"] = text_column(P.zzsx)
        cols["CZCSXM"] = text_column(P.czcsxm)
        cols["SJNF"] = int_column(np.full(len(P), year))
        write_gpkg(path, "DLTB", cols, P.geom, self.spec.epsg)

        bf = np.flatnonzero(P.bf >= 0)
        bf_cols = {"BSM": text_column(self._bsm(P.bf[bf], "2")), "ZLDWDM": text_column(P.zldwdm[bf]),
                   "DLBM": text_column(P.dlbm[bf]), "DLMC": text_column(names[bf]),
                   "TBMJ": P.tbmj[bf], "KCMJ": kcmj[bf],
                   ("YJJBNTMJ" if sandiao else "JBNTMJ"): tbdlmj[bf]}
        write_gpkg(path, "YJJBNTTB", bf_cols, P.geom[bf], self.spec.epsg)

        if changes is not None:
            gx = changes["gxgc"]
            gx_cols = {c: text_column(gx[c]) for c in ("BGQTBBSM", "BGHTBBSM", "BGQDLBM")}
            gx_cols["BGQDLMC"] = text_column(table.name_of(gx["BGQDLBM"]))
            gx_cols["BGHDLBM"] = text_column(gx["BGHDLBM"])
            gx_cols["BGHDLMC"] = text_column(table.name_of(gx["BGHDLBM"]))
            gx_cols["BGQZLDWDM"] = text_column(gx["BGQZLDWDM"])
            gx_cols["BGHZLDWDM"] = text_column(gx["BGHZLDWDM"])
            for c in ("BGQKCXS", "BGHKCXS", "TBBGMJ"):
                gx_cols[c] = gx[c].to_numpy(float)
            gx_cols["GXSJ"] = date_column(gx["GXSJ"].to_numpy())
            write_gpkg(path, "DLTBGXGC", gx_cols, gx["geometry"].to_numpy(object), self.spec.epsg)

        self.result.arable_m2[year] = float(tbdlmj[arable].sum())
        self.result.bf_m2[year] = float(tbdlmj[bf].sum())
        classes = np.where(arable, 1, np.where(table.is_construction(P.dlbm), 2, 3)).astype(np.uint8)
        self.canvas.burn(year, self._to_common(P.geom), classes)


def _illegal_cents(ratio: float, legal_net_m2: float, floor: bool) -> int:
    """Illegal arable area (0.01 m²) making illegal ÷ (legal + illegal) equal ``ratio``."""
    exact = ratio / (1.0 - ratio) * legal_net_m2 * 100.0
    return int(np.floor(exact)) if floor else int(round(exact))


def _exact_fifteen_percent(legal_goal_m2: float) -> tuple[int, int]:
    """Legal and illegal areas (0.01 m²) whose ratio is exactly 15 % in decimal and in floating point.

    illegal ÷ (legal + illegal) = 3/20 needs legal = 17k and illegal = 3k hundredths of a m².
    Of the k near the wanted size, take one for which the ratio also evaluates to exactly 0.15
    in binary floating point however a consumer sums (m² or 亩, either order), so that a ``≥ 0.15``
    test cannot miss by one ulp.
    """
    k0 = int(legal_goal_m2 * 100) // 17
    for k in range(k0, max(k0 - 5000, 1), -1):
        legal, illegal = 17 * k / 100.0, 3 * k / 100.0
        ratios = (
            illegal / (legal + illegal), illegal / (illegal + legal),
            (illegal * M2_TO_MU) / ((legal + illegal) * M2_TO_MU),
            (illegal * M2_TO_MU) / (legal * M2_TO_MU + illegal * M2_TO_MU),
            (illegal * M2_TO_MU) / (illegal * M2_TO_MU + legal * M2_TO_MU),
        )
        if all(r == 0.15 for r in ratios):
            return 17 * k, 3 * k
    raise RuntimeError("internal: no exact 15 % split found")


def _illegal_pieces(order: np.ndarray, tbmj: np.ndarray, total_cents: int):
    """Parents (from ``order``, best first) and piece areas (0.01 m²) for ``total_cents`` of illegal use.

    Each parent can give at most 85 % of its area, so that it is really cut; the fewest parents
    whose capacity covers the total are taken, and the total is shared in proportion to their
    capacities (whole hundredths, largest remainders first), so every piece stays within its cap.
    If all free parcels together cannot carry the total, they carry what they can.
    """
    if len(order) == 0 or total_cents <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    cap = np.floor(tbmj[order] * 85.0).astype(np.int64)
    cum = np.cumsum(cap)
    k = min(int(np.searchsorted(cum, total_cents)) + 1, len(order))
    total = min(total_cents, int(cum[k - 1]))
    real = total * cap[:k] / cap[:k].sum()
    cents = np.floor(real).astype(np.int64)
    cents[np.argsort(-(real - cents), kind="stable")[: total - cents.sum()]] += 1
    keep = cents > 0
    return order[:k][keep], cents[keep]


class _Orders:
    """The year's change orders, in batches, before they are applied."""

    COLUMNS = ("parent", "kind", "code", "split", "frac", "cents", "legal", "major", "gddb", "zzsx")

    def __init__(self):
        self.batches = []

    def add(self, idx, kind, codes, *, split=None, frac=None, cents=None, legal=None, major=False,
            gddb=None, zzsx=None):
        k = len(idx)
        if k == 0:
            return
        self.batches.append(pd.DataFrame({
            "parent": np.asarray(idx, dtype=np.int64), "kind": kind,
            "code": np.asarray(codes, dtype=object)[:k],
            "split": np.zeros(k, bool) if split is None else np.asarray(split, bool),
            "frac": np.full(k, np.nan) if frac is None else np.asarray(frac, float),
            "cents": np.full(k, -1, dtype=np.int64) if cents is None else np.asarray(cents, np.int64),
            "legal": np.zeros(k, bool) if legal is None else np.broadcast_to(np.asarray(legal, bool), (k,)).copy(),
            "major": np.full(k, bool(major)),
            "gddb": np.full(k, np.nan) if gddb is None else np.asarray(gddb, float),
            "zzsx": np.full(k, None, dtype=object) if zzsx is None else np.asarray(zzsx, dtype=object),
        }))

    def frame(self) -> pd.DataFrame:
        if not self.batches:
            return pd.DataFrame({c: [] for c in self.COLUMNS})
        return pd.concat(self.batches, ignore_index=True)

    def split_all(self, P: Parcels) -> dict:
        """Cut every split order's parent; returns west/east pieces aligned with :meth:`frame`."""
        o = self.frame()
        k = len(o)
        out = {"west": np.full(k, None, dtype=object), "east": np.full(k, None, dtype=object),
               "west_m2": np.full(k, np.nan), "east_m2": np.full(k, np.nan)}
        for tuned in (False, True):
            sel = np.flatnonzero(o["split"].to_numpy(bool) & ((o["cents"].to_numpy() >= 0) == tuned))
            if len(sel) == 0:
                continue
            parent = o["parent"].to_numpy()[sel]
            kwargs = {"cents": o["cents"].to_numpy()[sel]} if tuned else {"fraction": o["frac"].to_numpy()[sel]}
            w, e, wm, em = split_quads(P.geom[parent], P.tbmj[parent], **kwargs)
            out["west"][sel], out["east"][sel] = w, e
            out["west_m2"][sel], out["east_m2"][sel] = wm, em
        return out

    def arable_net(self, P: Parcels, pieces: dict, arable: np.ndarray, kind: str) -> float:
        """Σ net arable area (m², 田坎 excluded) that orders of ``kind`` take from arable land."""
        o = self.frame()
        if len(o) == 0:
            return 0.0
        parent = o["parent"].to_numpy()
        sel = (o["kind"].to_numpy() == kind) & arable[parent]
        area = np.where(o["split"].to_numpy(bool), pieces["west_m2"], P.tbmj[parent])
        _, net = deduction(area[sel], P.kcxs[parent][sel])
        return float(net.sum())

    def extend(self, other: _Orders, pieces: dict, other_pieces: dict) -> None:
        """Append ``other``'s orders, and their pieces to ``pieces`` (in place)."""
        if not other.batches:
            return
        self.batches.extend(other.batches)
        for key in pieces:
            pieces[key] = np.concatenate([pieces[key], other_pieces[key]])
