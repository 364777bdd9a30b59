"""Validate and compute the metrics county by county: on a Dask cluster, or one at a time (issue 10).

``farmland assess WORKSPACE --workers N`` (a local cluster) or ``--dask tcp://host:8786`` (a
running scheduler) runs the per-county work of :func:`farmland.pipeline.assess` as Dask tasks;
``--by-county`` runs the same tasks one after another, each in a child process holding one
layer-year at a time (a city larger than the machine's memory); see docs/scale.md. The results
are those of the single-process run, to the last bit.

What runs where
---------------
*Planning (client).* A **partition** is one county's folder of the per-county layers (those
whose source has a ``*`` folder, e.g. ``counties/*/DLTB_{year}.parquet``; the folder is named by
the county's XZQDM) together with the XZQ units that have no folder of their own (development
zones), each joined to the county it overlaps most.

*One task per partition (worker).* The task builds the partition's sub-workspace in a scratch
folder: XZQ, the CSV tables, targets, township list and adjustments filtered to the partition's
units, city-wide monitoring and project layers filtered by their XZQDM, the per-county layers
narrowed to its folder; approvals (when city-wide) and rasters unchanged. It runs
:func:`~farmland.validate.validate_workspace` and then the metrics computation of
:func:`~farmland.metrics.compute_metrics` for the county and township levels, and returns their
additive components and evidence (small tables), not the data.

*Merging (client).* The per-unit components are concatenated in the order the single-process
run holds them (XZQ order; townships sorted), the city row is built from them the same way
(``aggregate_units``, city statistics), and the metrics table is derived from them by the same
code. Scoring then runs centrally as before: ranking needs every county.

Cross-county checks
-------------------
Made on the client: unit codes repeated in XZQ, counties overlapping, rows of the shared tables
(ZBPH, CHECKLIST, EVENTS, targets) whose code is no unit's. Made in the task, more strictly than
the single-process run: a parcel coded with another county than its folder's is an error (its
ZLDWDM names no unit of the partition). **Not made** on this path: a BSM repeated in two counties'
files, parcels overlapping across a county border, and whether the county targets add up to the
city's ``[city]`` targets (run ``farmland validate`` for those). The audit of ``assess`` is not
run either (run ``farmland audit``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
import pandas as pd
import shapely

from .errors import LayerError, WorkspaceError
from .load import LayerStore
from .metrics.attribution import CITY, COUNTY, TOWNSHIP, UnitSet
from .metrics.compute import _levels, _Run
from .report import Report
from .schema import KNOWN_RENAMES
from .workspace import ROW_TABLES, LayerSource, Workspace

FILTERED_TABLES = ROW_TABLES
"""CSV layers filtered per partition; their evidence ids are row numbers, mapped back."""
CODED_LAYERS = {"WPZF": "XZQDM", "GBZNT": "XZQDM"}
"""City-wide geometry layers filtered per partition by their unit code."""
CITY_ONLY = ("CITYSTATS",)

_RENAMES = {**KNOWN_RENAMES, **{new: old for old, new in KNOWN_RENAMES.items()}}


def _require_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise WorkspaceError("--workers and --dask need Dask: pip install 'farmland[dask]'.") from None
    return distributed


# -- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """One county's folder and the XZQ units computed with it (the county, zones inside it)."""

    folder: str
    units: tuple[str, ...]

    def owns(self, codes: pd.Series) -> np.ndarray:
        """Which codes (XZQDM, ZLDWDM, a table's xzqdm) belong to this partition's units."""
        text = codes.astype("string").str.strip()
        head = text.str.slice(0, 6)
        units = list(self.units)
        own = text.isin(units) | head.isin(units) | head.map(_RENAMES).isin(units)
        return own.to_numpy(dtype=bool, na_value=False)


def _star_segment(template: str) -> int | None:
    """Index of the folder segment that is exactly ``*`` in a source template (None: city-wide)."""
    parts = PurePath(template).parts
    for i, part in enumerate(parts[:-1]):
        if part == "*":
            return i
    return None


def _narrowed(template: str, folder: str) -> str:
    parts = list(PurePath(template).parts)
    parts[_star_segment(template)] = folder
    return str(PurePath(*parts))


def plan_partitions(ws: Workspace, report: Report, store: LayerStore | None = None) -> list[Partition]:
    """The partitions of a workspace (one per county folder), checking XZQ on the way.

    Raises :class:`WorkspaceError` when DLTB is not stored per county in folders named by XZQDM.
    """
    source = ws.source("DLTB")
    index = _star_segment(source.template)
    if index is None:
        raise WorkspaceError(
            f"layers.DLTB = \"{source.describe()}\" is not stored per county: --workers, --dask and "
            "--by-county work county by county, each on its own folder, so the source needs a folder `*` "
            "named by the county's XZQDM, "
            "e.g. DLTB = \"counties/*/bgdc_{year}.gpkg:DLTB\" with counties/371502/… (docs/scale.md).")
    pattern = str(ws.root / source.template.replace("{year}", "*"))
    folders = sorted({PurePath(p).relative_to(ws.root).parts[index] for p in glob.glob(pattern)})
    store = store if store is not None else LayerStore(ws)
    xzq = store.layer("XZQ", columns=["XZQDM", "XZQMC"], geometry=True, report=report,
                      needed_for="the partitions")
    codes = [str(c) for c in xzq["XZQDM"]]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        report.error("XZQ", "duplicate-id", "XZQDM values repeat; each unit needs one code.",
                     field="XZQDM", ids=repeated)
    unknown = [f for f in folders if f not in codes and _RENAMES.get(f) not in codes]
    if unknown:
        raise WorkspaceError(
            f"county folders {', '.join(unknown[:5])} of layers.DLTB are not XZQDM codes of XZQ: --workers, "
            "--dask and --by-county split the work by these folders, so each must be named by its county's "
            "XZQDM. Rename the folder, or add the county to XZQ (docs/scale.md).")
    unit_of = {f: (f if f in codes else _RENAMES[f]) for f in folders}
    geoms = np.asarray(xzq.geometry.values, dtype=object)
    position = {c: i for i, c in enumerate(codes)}
    members: dict[str, list[str]] = {f: [unit_of[f]] for f in folders}
    counties = [position[unit_of[f]] for f in folders]
    for a, b in zip(*shapely.STRtree(geoms[counties]).query(geoms[counties], predicate="intersects"), strict=True):
        overlap = shapely.area(shapely.intersection(geoms[counties[a]], geoms[counties[b]]))
        if a < b and overlap > 1.0:
            report.error("XZQ", "overlap", f"units {codes[counties[a]]} and {codes[counties[b]]} overlap "
                         f"({overlap * 0.0015:,.1f} 亩); fix the boundaries.", field="XZQDM",
                         ids=[codes[counties[a]], codes[counties[b]]])
    for code in codes:
        if code in unit_of.values():
            continue
        # A unit without a folder is a development zone: computed with the county it lies in.
        overlaps = shapely.area(shapely.intersection(geoms[position[code]], geoms[counties]))
        if not len(overlaps) or overlaps.max() <= 0:
            raise WorkspaceError(f"XZQ unit {code} has no county folder and lies in no county: --workers, "
                                 "--dask and --by-county compute a unit without a folder with the county it "
                                 "overlaps most. Add its folder or fix its polygon in XZQ.")
        members[folders[int(np.argmax(overlaps))]].append(code)
    return [Partition(f, tuple(c for c in codes if c in members[f])) for f in folders]


# -- one partition (runs on a worker) ---------------------------------------------------------


@dataclass
class PartitionResult:
    """What a task sends back: components and evidence per level and year, findings, units."""

    partition: Partition
    findings: list
    ok: bool = True
    components: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    base_stock: pd.DataFrame | None = None
    zones: tuple[str, ...] = ()
    aliases: dict = field(default_factory=dict)


def _read_raw(path: Path, layer: str | None):
    import geopandas as gpd
    import pyogrio

    if path.suffix.lower() in (".parquet", ".geoparquet"):
        return gpd.read_parquet(path)
    return pyogrio.read_dataframe(path, layer=layer)


def _code_column(frame, ws: Workspace, layer: str, standard: str) -> str:
    wanted = ws.field_maps.get(layer, {}).get(standard, standard).upper()
    for column in frame.columns:
        if str(column).upper() == wanted:
            return column
    raise WorkspaceError(f"layer {layer} has no field {wanted}, by which --workers, --dask and "
                         f"--by-county give each county its rows. Add the field, or map it in "
                         f"[fields.{layer}] of farmland.toml.")


def _filter_geometry_layer(ws, name, partition, scratch: Path) -> LayerSource:
    """The partition's rows of a city-wide layer, one GeoParquet per file (and year)."""
    src = ws.layers[name]
    standard = "XZQDM"
    years = ws.period.data_years if src.per_year else [None]
    out = scratch / name
    for year in years:
        try:
            paths = ws.paths(name, year)
        except WorkspaceError:
            continue
        for i, path in enumerate(paths):
            frame = _read_raw(path, src.layer)
            keep = partition.owns(frame[_code_column(frame, ws, name, standard)])
            target = out / (str(year) if year is not None else "all") / f"{i}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            frame[keep].reset_index(drop=True).to_parquet(target)
    template = str(out / ("{year}" if src.per_year else "all") / "*.parquet")
    return LayerSource(name=name, template=template, crs=src.crs)


def _filter_csv(path: Path, code_column: str, partition: Partition, target: Path) -> dict[int, int]:
    """Write the partition's rows of a CSV; returns new row number → original (header = row 1)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    columns = {str(c).strip().lower(): c for c in frame.columns}
    keep = partition.owns(frame[columns[code_column]]) if code_column in columns else np.ones(len(frame), bool)
    rows = np.flatnonzero(keep)
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.iloc[rows].to_csv(target, index=False, encoding="utf-8", lineterminator="\n")
    return {new + 2: int(old) + 2 for new, old in enumerate(rows)}


def _frame_crs(ws: Workspace, name: str) -> str | None:
    """The CRS a read of the whole workspace's ``name`` brings its files into (its first file's,
    of the first year that has it); ``None`` when it cannot tell (the task reports why)."""
    from .layers import _checked_crs, _open_info

    src = ws.layers[name]
    for year in ws.period.data_years if src.per_year else [None]:
        try:
            paths = ws.paths(name, year)
        except WorkspaceError:
            continue
        if not paths or not Path(paths[0]).exists():
            continue
        silent = Report(strict=False)
        opened = _open_info(paths[0], src.layer, name, year, src.encoding, silent)
        if opened is not None:  # else e.g. the base year's database, without change records
            crs = _checked_crs(opened[1], paths[0], name, year, src, silent)
            return None if crs is None else crs.to_string()
    return None


def county_layers(ws: Workspace, partition: Partition) -> dict[str, LayerSource]:
    """The layers stored per county, narrowed to the partition's folder."""
    # Overlays in the frame of the whole run: a county in another zone than the first file's
    # would otherwise overlay in its own, and touching shapes may differ.
    return {name: dataclasses.replace(src, template=_narrowed(src.template, partition.folder),
                                      frame_crs=src.frame_crs or _frame_crs(ws, name), part_of=src.template)
            for name, src in ws.layers.items() if _star_segment(src.template) is not None}


def county_view(ws: Workspace, partition: Partition) -> Workspace:
    """``ws`` with its per-county layers narrowed to the partition's folder, every other input
    as it is (the reports of ``assess --by-county`` read a county's parcels through it)."""
    return dataclasses.replace(ws, layers={**ws.layers, **county_layers(ws, partition)})


def sub_workspace(ws: Workspace, partition: Partition, scratch: Path) -> tuple[Workspace, dict]:
    """The workspace of one partition, its filtered files written under ``scratch``.

    Returns the workspace and, per filtered CSV layer, the map of its row numbers to the original's.
    """
    layers, rows = {}, {}
    own = county_layers(ws, partition)
    for name, src in ws.layers.items():
        if name in CITY_ONLY:
            continue
        if name in own:
            layers[name] = own[name]
        elif name == "XZQ":
            frames = [_read_raw(p, src.layer) for p in ws.paths("XZQ")]
            xzq = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            xzq = xzq[partition.owns(xzq[_code_column(xzq, ws, "XZQ", "XZQDM")])].reset_index(drop=True)
            xzq.to_parquet(scratch / "xzq.parquet")
            layers[name] = LayerSource(name=name, template=str(scratch / "xzq.parquet"), crs=src.crs)
        elif name in CODED_LAYERS:
            layers[name] = _filter_geometry_layer(ws, name, partition, scratch)
        elif name in FILTERED_TABLES:
            target = scratch / f"{name}.csv"
            rows[name] = _filter_csv(ws.paths(name)[0], "xzqdm", partition, target)
            layers[name] = LayerSource(name=name, template=str(target))
        else:
            layers[name] = src  # approvals (city-wide), rasters: every task reads them whole
    paths = {}
    for attribute, column in (("targets_path", "xzqdm"), ("adjustments_path", "xzqdm"), ("townships_path", "xzdm")):
        original = getattr(ws, attribute)
        if original is not None and original.exists():
            paths[attribute] = scratch / original.name
            _filter_csv(original, column, partition, paths[attribute])
    sub = dataclasses.replace(ws, layers=layers, spatial_units=tuple(c for c in ws.spatial_units
                                                                     if c in partition.units),
                              allow_external_paths=True, city_targets={}, **paths)
    return sub, rows


def run_partition(ws: Workspace, partition: Partition, years, levels, phases, *, hold: bool = True,
                  cache="default") -> PartitionResult:
    """Validate and compute one partition (the Dask task). ``levels`` as for compute_metrics;
    ``hold`` and ``cache`` as for :class:`~farmland.load.LayerStore`."""
    from .validate import validate_workspace

    base_levels = tuple(lv for lv in (COUNTY, TOWNSHIP) if lv in levels or (lv == COUNTY and CITY in levels))
    with tempfile.TemporaryDirectory(prefix=f"farmland-{partition.folder}-") as tmp:
        sub, rows = sub_workspace(ws, partition, Path(tmp))
        store = LayerStore(sub, cache=cache, hold=hold)  # default: the worker's own disk cache, if any
        checked = validate_workspace(sub, store=store)
        if not checked.ok:
            return PartitionResult(partition, checked.findings, ok=False)
        report = Report(strict=True, findings=list(checked.findings))
        run = _Run(sub, base_levels, report, None, store)
        run.execute(years, phases)
        base_year = ws.period.base_year
        base = (run._stock_values or {}).get(base_year)
        if base is None and CITY in levels and ws.has_layer("CITYSTATS"):
            snap = run._snapshot(base_year, context=True)
            base = snap.values if snap is not None else None
    return PartitionResult(
        partition, report.findings,
        components={lv: run.components[lv] for lv in base_levels},
        evidence={lv: {y: _original_rows(ev, rows) for y, ev in run.evidence[lv].items()} for lv in base_levels},
        base_stock=None if base is None else base[COUNTY], zones=run.units.zones, aliases=run.units.aliases)


def _original_rows(evidence: pd.DataFrame, rows: dict[str, dict[int, int]]) -> pd.DataFrame:
    """Evidence ids of filtered CSV rows (``ZBPH:5``) as the original file numbers them."""
    if not rows or not len(evidence):
        return evidence
    ids = evidence["id"].astype(str)
    parts = ids.str.partition(":")
    layer, number = parts[0].to_numpy(dtype=object), parts[2].to_numpy(dtype=object)
    out = ids.to_numpy(dtype=object).copy()
    for name, mapping in rows.items():
        select = layer == name
        out[select] = [f"{name}:{mapping[int(n)]}" for n in number[select]]
    return evidence.assign(id=out)


# -- merging (client) -------------------------------------------------------------------------


class _Merged(_Run):
    """A metrics run whose per-unit components come from the partitions instead of the files."""

    def __init__(self, ws, levels, report, progress, parts: list[PartitionResult], store: LayerStore):
        super().__init__(ws, levels, report, progress, store)
        self.parts = parts
        base = [p.base_stock for p in parts if p.base_stock is not None]
        if base and len(base) == len(parts):
            self._stock_values[ws.period.base_year] = {COUNTY: pd.concat(base).sort_index()}

    def _year(self, year: int) -> None:
        if self.units is None:
            codes = [str(c) for c in self.xzq["XZQDM"]]
            zones = {z for p in self.parts for z in p.zones}
            self.units = UnitSet(codes=codes, names=dict(zip(codes, map(str, self.xzq["XZQMC"]), strict=True)),
                                 city_code=self.ws.city_code, city_name=self.ws.city_name,
                                 zones=tuple(c for c in codes if c in zones),
                                 aliases={k: v for p in self.parts for k, v in p.aliases.items()})
        for level in self.base_levels:
            frames = [p.components[level][year] for p in self.parts if year in p.components[level]]
            if not frames:
                continue
            frame = _concat_units(frames)
            if level == TOWNSHIP:
                frame = _county_coded(frame, [p.components[COUNTY].get(year) for p in self.parts],
                                      [p.components[TOWNSHIP][year] for p in self.parts])
            order = self.units.codes if level == COUNTY else sorted(frame.index)
            self.components[level][year] = frame.reindex(pd.Index(order, dtype=object, name="unit"))
            self.evidence[level][year] = pd.concat([p.evidence[level][year] for p in self.parts],
                                                   ignore_index=True)


_CODED_GROUPS = (("wpzf", ("wpzf", "rectification")), ("hsf", ("hsf",)), ("zbph", ("zbph",)),
                 ("events", ("events",)))


def _county_coded(township: pd.DataFrame, counties: list, townships: list) -> pd.DataFrame:
    """Township figures of a layer coded by XZQDM are empty when *any* of its rows of the year
    carries a county code only (``_Run._code_keys``); a partition sees its own rows only, so a
    layer empty at its townships but not at its counties empties it at every township."""
    from .metrics.parts import CHECKLIST_N, CHECKLIST_SUM, components_of

    for flag, groups in _CODED_GROUPS:
        first = components_of(flag)[0]
        if any(c is not None and t[first].isna().all() and not c[first].isna().all()
               for c, t in zip(counties, townships, strict=True) if len(t)):
            columns = [name for group in groups for name in components_of(group)]
            township = township.assign(**{name: np.nan for name in columns})
    checklist = [c for c in township.columns if c.startswith((CHECKLIST_SUM, CHECKLIST_N))]
    if any(c is not None and any(n.startswith(CHECKLIST_SUM) for n in c.columns)
           and not any(n.startswith(CHECKLIST_SUM) for n in t.columns)
           for c, t in zip(counties, townships, strict=True) if len(t)):
        township = township.drop(columns=checklist)
    return township


def _concat_units(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Unit rows of several partitions, columns as one run over all of them would hold them.

    Checklist items are columns named after the items found: a partition without an item has
    no column, where the whole run has 0 (no row of the item) for its units.
    """
    from .metrics.parts import CHECKLIST_N, CHECKLIST_SUM

    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    items = sorted({c.removeprefix(CHECKLIST_SUM) for c in columns if c.startswith(CHECKLIST_SUM)})
    checklist = [c for c in columns if c.startswith((CHECKLIST_SUM, CHECKLIST_N))]
    if checklist:
        at = columns.index(checklist[0])
        rest = [c for c in columns if c not in checklist]
        block = [c for item in items for c in (CHECKLIST_SUM + item, CHECKLIST_N + item)]
        columns = rest[:at] + block + rest[at:]
    fill = {c: 0.0 for c in checklist}
    return pd.concat([f.reindex(columns=columns).fillna(
        {c: 0.0 for c in fill if c not in f.columns}) for f in frames]).astype("float64")


# -- the whole step -------------------------------------------------------------------------------


@contextlib.contextmanager
def dask_client(address: str | None = None, workers: int | None = None):
    """A ``distributed.Client``: to the scheduler at ``address``, or a local cluster of ``workers``
    single-threaded worker processes (closed on exit)."""
    _require_dask()
    from distributed import Client, LocalCluster

    if address is not None:
        with Client(address) as client:
            yield client
        return
    with LocalCluster(n_workers=int(workers or 1), threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _check_shared_rows(ws: Workspace, partitions: list[Partition], report: Report) -> None:
    """Rows of the shared tables that no partition takes (their code is no unit's) would be dropped:
    the single-process run reports them as errors, and so does this."""
    sources = [(name, ws.paths(name)[0], "xzqdm") for name in FILTERED_TABLES if ws.has_layer(name)]
    sources += [("TARGETS", ws.targets_path, "xzqdm")] if ws.targets_path is not None else []
    for name, path, column in sources:
        if path is None or not Path(path).exists():
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        if column not in frame:
            continue
        taken = np.zeros(len(frame), bool)
        for partition in partitions:
            taken |= partition.owns(frame[column])
        if not taken.all():
            report.error(name, "unknown-unit", f"{int((~taken).sum())} rows have an {column} matching no unit "
                         "in XZQ. Fix the codes, or add the unit to XZQ and targets.", field=column,
                         ids=[f"row {i + 2}" for i in np.flatnonzero(~taken)])


def _on_dask(client, ws: Workspace, partitions: list[Partition], years, levels, phases, say):
    """The partitions' results as their tasks finish on the cluster."""
    from distributed import as_completed

    say(f"{len(partitions)} counties on {len(client.scheduler_info().get('workers', {}))} workers")
    futures = [client.submit(run_partition, ws, p, years, levels, phases, pure=False, key=f"county-{p.folder}")
               for p in partitions]
    for future in as_completed(futures):
        yield future.result()


def _one_at_a_time(ws: Workspace, partitions: list[Partition], years, levels, phases, say, cache):
    """The partitions' results, each computed in a child process of its own that holds one
    layer-year at a time (:func:`farmland.parallel.apart`): the run's memory is one county's."""
    from .parallel import apart

    say(f"{len(partitions)} counties, one at a time")
    for partition in partitions:
        yield apart(run_partition, ws, partition, years, levels, phases, hold=False, cache=cache)


def validated_metrics(ws: Workspace, client=None, *, years=None, level=("county", "township", "city"),
                      phases=("annual", "midterm", "final"), report: Report | None = None,
                      progress=None, store: LayerStore | None = None):
    """Validate and compute the metrics of ``ws`` partition by partition: as tasks on the Dask
    ``client``, or (``client=None``) one county after another on this machine.

    The per-county counterpart of ``validate_workspace`` + ``compute_metrics`` in
    :func:`farmland.pipeline.assess`: validation errors of any partition stop the run with a
    :class:`~farmland.errors.LayerError`; warnings go into ``report``. ``store``: the calling
    process's layer store (XZQ and the tables read here); each county reads through a store of
    its own (on this machine: with the calling store's disk cache, holding nothing).
    """
    from .validate import render_report

    report = report if report is not None else Report(strict=True)
    say = progress or (lambda message: None)
    levels = _levels(level)
    years = ws.period.data_years if years is None else years
    checks = Report(strict=False)
    store = store if store is not None else LayerStore(ws)
    partitions = plan_partitions(ws, checks, store)
    _check_shared_rows(ws, partitions, checks)
    if client is not None:
        results = _on_dask(client, ws, partitions, years, levels, phases, say)
    else:
        results = _one_at_a_time(ws, partitions, years, levels, phases, say, store.cache)
    done = {}
    for result in results:
        done[result.partition.folder] = result
        say(f"county {result.partition.folder} ({len(done)}/{len(partitions)})")
    parts = [done[p.folder] for p in partitions]
    findings = list(dict.fromkeys([*checks.findings, *(f for p in parts for f in p.findings)]))
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        text = render_report(Report(strict=False, findings=errors), ws.root)
        raise LayerError(f"the workspace has errors; nothing was assessed.\n{text}")
    report.findings.extend(findings)
    return _Merged(ws, levels, report, progress, parts, store).execute(years, phases)


__all__ = ["Partition", "PartitionResult", "county_view", "dask_client", "plan_partitions", "run_partition",
           "sub_workspace", "validated_metrics"]
