"""The audit stage: findings an inspector acts on, a field-check sample, runs anyone can verify.

The county method has the assessors check the counties' data against the remote-sensing
"一张图" and the supervision platform, draw samples and inspect in the field (聊政办发〔2018〕17号
第六、十一、十五条), and the counties answer for the truth of their data (第十四条).
:func:`audit_workspace` runs the checks of one data year over the workspace's layers and returns
an :class:`AuditResult` whose findings table has one row per finding (unit, year, check,
severity, ids, measured values, a plain Chinese explanation, the clause) and the findings'
geometries; :func:`write_audit` writes it as findings.csv / .xlsx / .gpkg with a manifest that
``farmland verify`` re-checks.

Check catalogue: :data:`farmland.audit.findings.CHECKS`. Categories: ``areas``,
``basic_farmland``, ``occupation``, ``landcover``, ``ledger`` (with ``hsf``), ``declared``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import WorkspaceError
from ..report import Report
from .findings import CHECKS, COLUMN_LABELS, COLUMNS, SEVERITY_LABELS, assemble

__all__ = ["AuditOptions", "AuditResult", "CATEGORIES", "CHECKS", "audit_workspace", "write_audit"]

CATEGORIES = ("areas", "basic_farmland", "occupation", "landcover", "ledger", "declared")


@dataclass(frozen=True)
class AuditOptions:
    """Tolerances and thresholds of the checks (recorded in the manifest of every run).

    Areas in m² unless the name says 亩 (``_mu``); shares are fractions (0.005 = 0.5 %).
    """

    area_tolerance: float = 0.005
    """Relative gap between TBMJ and the statutory area that is a finding (docs/background.md §3.3) …"""
    area_tolerance_m2: float = 1.0
    """… unless the gap is within this many m² (small parcels)."""
    max_kcxs: float = 0.25
    """Highest plausible 田坎 coefficient on the North China Plain."""
    control_tolerance: float = 0.001
    """Relative gap between a unit's Σ TBMJ and its control area KZMJ."""
    overlap_min_m2: float = 1.0
    """Overlaps (basic farmland × parcels, projects) smaller than this are ignored."""
    bf_tolerance_m2: float = 1.0
    """Net basic-farmland loss of a unit (lost − newly designated) tolerated."""
    piece_tolerance: float = 0.01
    """Share of a change piece left uncovered by approvals that is ignored (delineation) …"""
    piece_tolerance_m2: float = 1.0
    """… or this many m², whichever is larger."""
    illegal_gap_mu: float = 1.0
    """Derived minus reported illegal arable occupation (亩) that makes a unit a finding …"""
    illegal_gap_share: float = 0.2
    """… when it is also this share of the derived figure."""
    landcover_method: str = "auto"
    """Pixel rule of the class fractions: auto, exact or centre (farmland.audit.landcover)."""
    built_share: float = 0.5
    """Share of built-up cover that makes an arable parcel a suspect."""
    cropland_share: float = 0.5
    """Share of cropland cover that makes a construction parcel a suspect."""
    min_pixels: float = 1.0
    """A parcel must cover at least this many pixels' area to be judged from the raster."""
    landcover_unit_tolerance: float = 0.10
    """Relative gap between raster cropland and surveyed arable of a unit."""
    ledger_tolerance_mu: float = 1.0
    ledger_tolerance_share: float = 0.05
    declared_tolerance_mu: float = 1.0
    """A declared area may differ from the computed one by this many 亩 …"""
    declared_tolerance_share: float = 0.0
    """… or this share of it, whichever is larger (0: declared areas are exact to 1 亩)."""
    declared_tolerance_ratio: float = 0.001
    """A declared ratio may differ by this much (absolute)."""

    def __post_init__(self):
        from .landcover import METHODS

        if self.landcover_method not in METHODS:
            raise WorkspaceError(f"landcover_method must be one of {', '.join(METHODS)} "
                                 f"(got {self.landcover_method!r}).")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not (np.isfinite(value) and value >= 0):
                raise WorkspaceError(f"audit option {f.name} must be a number ≥ 0 (got {value!r}).")

    @classmethod
    def from_dict(cls, values: dict) -> AuditOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            from ..errors import closest_match

            hint = closest_match(unknown[0], known)
            raise WorkspaceError(f"unknown audit option {unknown[0]!r}"
                                 + (f" (did you mean {hint!r}?)" if hint else "") + ".")
        return cls(**{k: (float(v) if isinstance(getattr(cls, k, None), float) else v) for k, v in values.items()})


@dataclass
class AuditResult:
    """Findings of one audit year.

    Attributes
    ----------
    findings : geopandas.GeoDataFrame
        Columns :data:`farmland.audit.findings.COLUMNS` and ``geometry`` (in the CRS of the
        year's DLTB; empty geometry where a finding has no place, e.g. a declared figure).
    fractions : DataFrame or None
        Per-parcel land-cover areas and shares (None without a raster for the year).
    landcover_method : str or None
        The pixel rule used for ``fractions``.
    """

    workspace: object
    year: int
    findings: object
    options: AuditOptions
    fractions: pd.DataFrame | None = None
    landcover_method: str | None = None
    report: Report | None = field(default=None, repr=False)
    checks: tuple[str, ...] = CATEGORIES

    def table(self) -> pd.DataFrame:
        """The findings without geometry."""
        return pd.DataFrame(self.findings[COLUMNS])

    def summary(self) -> pd.DataFrame:
        """Counts of findings per unit, check and severity."""
        t = self.table()
        if t.empty:
            return pd.DataFrame(columns=["xzqdm", "xzqmc", "check", "title", "severity", "count"])
        return (t.groupby(["xzqdm", "xzqmc", "check", "title", "severity"], sort=True).size()
                .rename("count").reset_index())

    def ids(self, check: str | None = None, prefix: str = "DLTB:") -> set[str]:
        """Feature ids named by the findings (of one check), e.g. every ``DLTB:<BSM>``."""
        t = self.table()
        if check is not None:
            t = t[t["check"] == check]
        out = set()
        for column in ("ids", "related_ids"):
            for text in t[column].dropna():
                out.update(i for i in str(text).split(";") if i.startswith(prefix))
        return out


def audit_workspace(workspace, year: int, *, options: AuditOptions | None = None,
                    checks: Iterable[str] | None = None, declared=None, metrics=None,
                    landcover_required: bool = False, validate: bool = True, report: Report | None = None,
                    progress: Callable[[str], None] | None = None, store=None) -> AuditResult:
    """Run the audit checks of one data year.

    Parameters
    ----------
    workspace : path or Workspace
    year : int
        The data year audited (its year-end snapshot; the previous one for basic-farmland
        losses; its change records, monitoring parcels, ledger rows and raster).
    options : AuditOptions, optional
        Tolerances and thresholds (defaults as documented there).
    checks : iterable of str, optional
        Categories to run (:data:`CATEGORIES`); default all.
    landcover_required : bool, default False
        The remote-sensing check was asked for explicitly (``--check landcover``): a year without
        a raster is then an error instead of a skipped check (data contract, Revision 2).
    declared : path or DataFrame, optional
        Figures declared by the counties (:mod:`farmland.audit.declared`).
    metrics : MetricsResult or callable, optional
        Metrics already computed for ``year`` (``assess`` passes its own), or a function returning
        them, called only when a check needs them (``assess`` computes them meanwhile);
        otherwise computed.
    validate : bool, default True
        Run ``farmland validate``'s checks first and refuse data with errors, as every command
        does (``assess`` has validated already and passes False).
    report : Report, optional
        Where reading findings go (strict by default: unreadable data stops the audit).
    store : farmland.load.LayerStore, optional
        The run's layer store (``assess`` passes its own, so nothing is read twice).

    Returns
    -------
    AuditResult
    """
    from ..load import LayerStore
    from ..pipeline import load_workspace
    from .areas import area_checks
    from .basic_farmland import bf_checks
    from .data import AuditData
    from .declared import declared_checks, read_declared
    from .landcover import landcover_checks
    from .ledger import ledger_checks
    from .occupation import occupation_checks

    ws = load_workspace(workspace)
    options = options or AuditOptions()
    checks = tuple(CATEGORIES if checks is None else dict.fromkeys(checks))
    bad = [c for c in checks if c not in CATEGORIES]
    if bad:
        raise WorkspaceError(f"unknown audit check {bad[0]!r}: use {', '.join(CATEGORIES)}.")
    if year not in ws.period.data_years:
        raise WorkspaceError(f"--year {year} is outside the workspace's years {ws.period.base_year}–"
                             f"{ws.period.end}; pick a year of the [period] in farmland.toml.")
    declared_rows = read_declared(declared) if declared is not None else None
    if declared_rows is not None and "declared" not in checks:
        checks = (*checks, "declared")
    report = report if report is not None else Report(strict=True)
    say = progress or (lambda message: None)
    parts = []
    fractions = None
    store = store if store is not None else LayerStore(ws)
    if validate:
        from ..pipeline import _validated

        _validated(ws, report, progress, nothing="audited", store=store)
    data = AuditData.load(store, year, report, say)
    if "areas" in checks:
        say("核查 面积")
        parts += area_checks(data, options)
    if "basic_farmland" in checks:
        say("核查 永久基本农田")
        parts += bf_checks(data, options)
    if "occupation" in checks:
        say("核查 违法占用")
        parts += occupation_checks(data, options)
    if "landcover" in checks:
        say("核查 遥感")
        found, fractions = landcover_checks(data, options, required=landcover_required)
        parts += found
    needs_metrics = "ledger" in checks or declared_rows is not None
    if needs_metrics and callable(metrics):
        metrics = metrics()
    if needs_metrics and metrics is None:
        from ..metrics import compute_metrics

        say("计算 指标")
        metrics = compute_metrics(ws, [year], level=("county", "city"), phases=("annual",), report=report,
                                  store=store)
    if "ledger" in checks:
        say("核查 台账")
        parts += ledger_checks(data, options, metrics)
    if declared_rows is not None:
        parts += declared_checks(declared_rows, metrics, year, options)
    frame = assemble(parts, data.names)
    import geopandas as gpd
    import shapely

    geoms = np.array([g if isinstance(g, shapely.Geometry) else None for g in frame["geometry"]], dtype=object)
    # Published in the CRS of the city's unit layer, to 0.1 mm (the survey's coordinate step),
    # without collinear vertices and in normal form: the overlay frame is the first county file's,
    # which a re-delivered county may change, and the same overlap computed there may carry its
    # nodes at other points of the same straight edges.
    shapes = gpd.GeoSeries(geoms, crs=data.crs)
    if data.output_crs is not None and data.crs is not None and not data.crs.equals(data.output_crs):
        shapes = shapes.to_crs(data.output_crs)
    tidy = shapely.simplify(shapely.set_precision(shapes.values, 1e-4), 1e-4, preserve_topology=True)
    shapes = gpd.GeoSeries(shapely.normalize(tidy), crs=shapes.crs)
    findings = gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=shapes, crs=shapes.crs)
    return AuditResult(workspace=ws, year=year, findings=findings, options=options, fractions=fractions,
                       landcover_method=None if fractions is None else fractions.attrs.get("method"),
                       report=report, checks=checks)


def write_audit(result: AuditResult, outdir: str | os.PathLike, *, overwrite: bool = False,
                parameters: dict | None = None) -> Path:
    """Write findings.csv, findings.xlsx, findings.gpkg (and landcover_fractions.csv) atomically,
    with ``manifest.json`` (inputs, parameters, outputs: SHA-256).

    ``parameters`` are what ``farmland verify`` needs to run the audit again (year, checks,
    options, the declared file); they are recorded as given plus the options.
    """
    from ..output import atomic_path
    from ..pipeline import input_paths
    from .manifest import write_manifest

    outdir = Path(outdir)
    with atomic_path(outdir, overwrite=overwrite, folder=True, inputs=input_paths(result.workspace)) as tmp:
        tmp.mkdir()
        write_findings(result, tmp)
        params = {"year": result.year, "checks": list(result.checks), "options": asdict(result.options),
                  **(parameters or {})}
        declared = params.get("declared")
        if declared is not None:
            params["declared"] = str(Path(declared).resolve())
        write_manifest(tmp, result.workspace, "audit", params, extra_inputs=[declared] if declared else [])
    return outdir


def write_findings(result: AuditResult, folder: Path, *, stem: str = "findings") -> None:
    """The findings table as CSV, Excel (findings + summary sheets) and GeoPackage in ``folder``."""
    from ..output import write_csv, write_excel

    # Formula-safe like every other CSV of a run: unit names and ids come from the input data.
    table = result.table()
    write_csv(table, folder / f"{stem}.csv")
    summary = result.summary()
    summary["severity"] = summary["severity"].map(lambda s: f"{SEVERITY_LABELS.get(s, s)} {s}")
    write_excel({"findings": table, "summary": summary}, folder / f"{stem}.xlsx",
                headers={**COLUMN_LABELS, "count": "条数"})
    write_gpkg(result.findings, folder / f"{stem}.gpkg", layer="findings")
    if result.fractions is not None:
        fractions = result.fractions.copy()
        for column in fractions.columns:  # 0.01 m² and 1e-4 shares, as the findings (see assemble)
            if column.endswith("_m2"):
                fractions[column] = fractions[column].round(2)
            elif column.endswith("_share"):
                fractions[column] = fractions[column].round(4)
        write_csv(fractions, folder / "landcover_fractions.csv")


def write_gpkg(frame, path: Path, *, layer: str) -> None:
    """A GeoPackage whose bytes depend only on its content (fixed timestamps, no R-tree)."""
    import pyogrio

    from ..sample._io import reproducible_gdal

    with reproducible_gdal():
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", geometry_type="Unknown",
                                layer_options={"SPATIAL_INDEX": "NO"})
