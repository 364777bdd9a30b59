"""The field-check sample (实地抽查, 聊政办发〔2018〕17号 第十一、十五条): drawn, printed, fed back.

Per county the year's parcels fall into strata, each parcel into the first that holds it:
``suspect`` (named by an audit finding of the areas, basic-farmland or remote-sensing checks),
``changed`` (a parcel the year's change records created or altered: BGHTBBSM), ``basic_farmland``
(overlaps the year's basic farmland) and ``arable``; other parcels are not sampled. Each
(county, stratum) is a lot; its sample size and acceptance number follow ISO 2859-1 single
sampling, normal inspection, general inspection level II at the chosen AQL (as the EU's LPIS
quality assessment samples parcels): :func:`sampling_plan`.

The draw is reproducible and cannot be tidied for: the population (every parcel of the year,
sorted by BSM: its id, codes, areas and geometry) is hashed (SHA-256) before the draw, and the
random stream is seeded with the seed *and* that hash. The same seed and population give the same
sample; a population changed after the fact has another hash, and the per-parcel row hashes kept
in ``population.csv`` name the parcels that changed (:func:`compare_population`).
"""

from __future__ import annotations

import hashlib
import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from ..errors import WorkspaceError

STRATA = ("suspect", "changed", "basic_farmland", "arable")
STRATUM_LABELS = {"suspect": "疑似图斑", "changed": "本年变更图斑", "basic_farmland": "永久基本农田", "arable": "耕地"}
VERIFY = {
    "suspect": "核实地类与图斑面积，对照核查问题说明",
    "changed": "核实变更后地类、范围与变更依据（批准文件）",
    "basic_farmland": "核实是否仍为耕地，有无建设、挖塘、植树、撂荒",
    "arable": "核实是否为耕地（水田/水浇地/旱地）及种植情况",
}

# ISO 2859-1, general inspection level II: lot size (upper bound) → code letter → sample size.
_LOT_UPPER = (8, 15, 25, 50, 90, 150, 280, 500, 1200, 3200, 10000, 35000, 150000, 500000)
_LETTERS = "ABCDEFGHJKLMNPQR"
_SIZES = (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000)
_AQLS = (0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10.0)
# Table 2-A, single sampling, normal inspection: along a diagonal (letter index + AQL index) the
# acceptance number is constant; the cells off these diagonals are arrows to the nearest plan.
_ACCEPT = {14: 0, 17: 1, 18: 2, 19: 3, 20: 5, 21: 7, 22: 10, 23: 14, 24: 21}


@dataclass(frozen=True)
class Plan:
    """A single-sampling plan: code letter, sample size n, acceptance Ac and rejection Re numbers."""

    lot_size: int
    code_letter: str
    sample_size: int
    accept: int
    reject: int
    aql: float


def sampling_plan(lot_size: int, aql: float = 2.5) -> Plan:
    """ISO 2859-1 single sampling plan (normal inspection, general level II) for one lot.

    Parameters
    ----------
    lot_size : int
        Parcels in the lot (one county's stratum).
    aql : float
        Acceptance quality limit, percent nonconforming (one of the standard's series, 0.065–6.5).

    Notes
    -----
    Arrows of Table 2-A are followed to the first plan below (↓, a larger sample) or above (↑);
    when n reaches the lot size every parcel is inspected. E.g. 1 000 parcels at AQL 2.5: letter
    J, n = 80, Ac = 5, Re = 6.
    """
    if aql not in _AQLS or aql < 0.065 or aql > 6.5:
        raise WorkspaceError(f"AQL {aql} is not in the ISO 2859-1 series used here "
                             "(0.065, 0.1, 0.15, 0.25, 0.4, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5).")
    lot_size = int(lot_size)
    letter = int(np.searchsorted(_LOT_UPPER, max(lot_size, 2)))
    j = _AQLS.index(aql)
    i = letter
    k = i + j
    if k < 14 or k == 16:
        i = 14 - j if k < 14 else i + 1        # ↓
    elif k == 15:
        i -= 1                                  # ↑
    elif k > 24:
        i = 24 - j                              # ↑
    accept = _ACCEPT[i + j]
    return Plan(lot_size, _LETTERS[letter], min(_SIZES[i], lot_size), accept, accept + 1, aql)


@dataclass
class Sample:
    """A drawn sample: the population, the lots and their plans, and the parcels drawn."""

    workspace: object
    year: int
    seed: int
    aql: float
    population_sha256: str
    population: pd.DataFrame
    plans: pd.DataFrame
    drawn: object
    suspects: bool = True
    names: dict | None = None

    def parameters(self) -> dict:
        return {"year": self.year, "seed": self.seed, "aql": self.aql, "suspects": self.suspects}


def population_rows(dltb) -> pd.DataFrame:
    """Per parcel (sorted by BSM): BSM and a 64-bit hash of its id, codes, areas and geometry."""
    columns = [c for c in ("BSM", "DLBM", "ZLDWDM", "TBMJ", "KCXS", "KCMJ", "TBDLMJ", "ZZSXDM") if c in dltb]
    frame = pd.DataFrame({c: dltb[c].astype(str).to_numpy(dtype=object) for c in columns})
    frame["wkb"] = shapely.to_wkb(dltb.geometry.values, hex=True)
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key="farmland-sample1")
    out = pd.DataFrame({"BSM": frame["BSM"], "row_hash": [f"{h:016x}" for h in hashed.to_numpy()]})
    return out.sort_values("BSM", kind="stable").reset_index(drop=True)


def population_hash(rows: pd.DataFrame) -> str:
    text = rows[["BSM", "row_hash"]].to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compare_population(recorded: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Parcels added, removed or changed since the draw: BSM and what happened."""
    merged = recorded[["BSM", "row_hash"]].merge(current[["BSM", "row_hash"]], on="BSM", how="outer",
                                                 suffixes=("_recorded", "_now"), indicator=True)
    what = np.select([merged["_merge"] == "left_only", merged["_merge"] == "right_only",
                      merged["row_hash_recorded"] != merged["row_hash_now"]],
                     ["removed", "added", "changed"], "")
    merged["change"] = what
    return merged.loc[merged["change"] != "", ["BSM", "change"]].reset_index(drop=True)


def population_changes(sample_dir: str | os.PathLike, workspace, year: int) -> pd.DataFrame:
    """Parcels of the year added, removed or changed since the sample in ``sample_dir`` was drawn."""
    from ..layers import read_layer
    from ..pipeline import load_workspace

    recorded = pd.read_csv(Path(sample_dir) / "population.csv", dtype=str, keep_default_na=False)
    current = population_rows(read_layer(load_workspace(workspace), "DLTB", year, geometry=True))
    return compare_population(recorded, current)


def draw_sample(workspace, year: int, *, seed: int = 0, aql: float = 2.5, suspects: bool = True,
                progress=None, store=None) -> Sample:
    """Stratify the year's parcels per county and draw each lot's ISO 2859-1 sample.

    Parameters
    ----------
    seed : int
        Random seed; with the population's hash it fixes the draw.
    aql : float
        Acceptance quality limit in percent (default 2.5).
    suspects : bool, default True
        Run the audit's areas, basic-farmland and remote-sensing checks to fill the ``suspect``
        stratum (without them that stratum is empty).
    store : farmland.load.LayerStore, optional
        The layer store to read through (default: one of its own, with the disk cache).
    """
    from ..load import LayerStore
    from ..pipeline import _validated, load_workspace
    from ..report import Report
    from .data import AuditData

    ws = load_workspace(workspace)
    if year not in ws.period.data_years:
        raise WorkspaceError(f"--year {year} is outside the workspace's years {ws.period.base_year}–{ws.period.end}.")
    report = Report(strict=True)
    say = progress or (lambda message: None)
    store = store if store is not None else LayerStore(ws)
    _validated(ws, report, progress, nothing="sampled", store=store)
    data = AuditData.load(store, year, report, say)
    suspect_ids: set[str] = set()
    if suspects:
        from . import audit_workspace

        found = audit_workspace(ws, year, checks=["areas", "basic_farmland", "landcover"], validate=False,
                                report=report, store=store)
        suspect_ids = {i.split(":", 1)[1] for i in found.ids(prefix="DLTB:")}
    dltb = data.dltb
    rows = population_rows(dltb)
    digest = population_hash(rows)
    bsm = dltb["BSM"].astype(str).to_numpy(dtype=object)
    stratum = np.full(len(dltb), "", dtype=object)
    arable = ws.land_classes.is_arable(dltb["DLBM"])
    stratum[arable] = "arable"
    if data.bf_now is not None and len(data.bf_now):
        from ..metrics.occupation import overlaps

        tree = shapely.STRtree(data.bf_now.geometry.values)
        p, b = tree.query(dltb.geometry.values, predicate="intersects")
        real = shapely.area(overlaps(dltb.geometry.values[p], data.bf_now.geometry.values[b])) >= 1.0
        stratum[np.unique(p[real])] = "basic_farmland"
    if data.pieces is not None and "BGHTBBSM" in data.pieces:
        changed = pd.Series(bsm).isin(set(data.pieces["BGHTBBSM"].dropna().astype(str))).to_numpy()
        stratum[changed] = "changed"
    stratum[pd.Series(bsm).isin(suspect_ids).to_numpy()] = "suspect"

    frame = pd.DataFrame({"BSM": bsm, "xzqdm": dltb["unit"].to_numpy(dtype=object), "stratum": stratum})
    order = np.argsort(bsm, kind="stable")  # canonical order: the draw does not depend on file order
    rng = np.random.default_rng([int(seed), int(digest[:16], 16), int(digest[16:32], 16)])
    key = np.empty(len(frame))
    key[order] = rng.random(len(frame))
    frame["key"] = key
    sampled = frame[frame["stratum"] != ""]
    lots = sampled.groupby(["xzqdm", "stratum"], sort=True).size().rename("lot_size").reset_index()
    plans = [sampling_plan(n, aql) for n in lots["lot_size"]]  # one per lot (county × stratum)
    lots["code_letter"] = [p.code_letter for p in plans]
    lots["sample_size"] = [p.sample_size for p in plans]
    lots["aql"] = aql
    lots["accept"] = [p.accept for p in plans]
    lots["reject"] = [p.reject for p in plans]
    rank = sampled.sort_values(["xzqdm", "stratum", "key"], kind="stable").groupby(["xzqdm", "stratum"]).cumcount()
    size = sampled.merge(lots, on=["xzqdm", "stratum"], how="left")["sample_size"].to_numpy()
    chosen_idx = sampled.index[rank.reindex(sampled.index).to_numpy() < size]
    chosen = dltb.loc[chosen_idx].copy()
    chosen["stratum"] = frame.loc[chosen_idx, "stratum"].to_numpy()
    chosen["draw_rank"] = rank.loc[chosen_idx].to_numpy() + 1
    chosen = chosen.sort_values(["unit", "stratum", "draw_rank"], kind="stable").reset_index(drop=True)
    rows = rows.merge(frame[["BSM", "xzqdm", "stratum"]], on="BSM", how="left")
    return Sample(workspace=ws, year=year, seed=int(seed), aql=float(aql), population_sha256=digest,
                  population=rows, plans=lots, drawn=chosen, suspects=suspects, names=data.units.names)


def sample_frame(sample: Sample):
    """The drawn parcels as the GeoPackage and the form show them (one row each)."""
    import geopandas as gpd

    d = sample.drawn
    names = sample.workspace.land_classes.name_of(d["DLBM"])
    points = shapely.point_on_surface(d.geometry.values)
    lonlat = gpd.GeoSeries(points, crs=d.crs).to_crs("EPSG:4490")
    frame = gpd.GeoDataFrame({
        "seq": np.arange(1, len(d) + 1),
        "xzqdm": d["unit"].to_numpy(dtype=object),
        "stratum": d["stratum"].to_numpy(dtype=object),
        "stratum_label": d["stratum"].map(STRATUM_LABELS).to_numpy(dtype=object),
        "draw_rank": d["draw_rank"].to_numpy(),
        "BSM": d["BSM"].astype(str).to_numpy(dtype=object),
        "DLBM": d["DLBM"].astype(str).to_numpy(dtype=object),
        "DLMC": names,
        "TBMJ": d["TBMJ"].to_numpy(dtype="float64", na_value=np.nan),
        "x": shapely.get_x(points), "y": shapely.get_y(points),
        "lon": shapely.get_x(lonlat.values), "lat": shapely.get_y(lonlat.values),
        "verify": d["stratum"].map(VERIFY).to_numpy(dtype=object),
    }, geometry=d.geometry.values, crs=d.crs)
    return frame


def write_sample(sample: Sample, outdir: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """sample.gpkg, sample_form.html (printable), sample_plan.csv, results_template.csv,
    population.csv and manifest.json (seed, AQL, population hash), written atomically."""
    from ..output import atomic_path
    from ..pipeline import input_paths
    from . import write_gpkg
    from .manifest import write_manifest

    outdir = Path(outdir)
    frame = sample_frame(sample)
    with atomic_path(outdir, overwrite=overwrite, folder=True, inputs=input_paths(sample.workspace)) as tmp:
        tmp.mkdir()
        write_gpkg(frame, tmp / "sample.gpkg", layer="sample")
        sample.plans.to_csv(tmp / "sample_plan.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
        sample.population.to_csv(tmp / "population.csv", index=False, encoding="utf-8", lineterminator="\n")
        template = frame[["seq", "xzqdm", "stratum", "BSM", "DLBM"]].copy()
        for column in ("conforming", "observed_dlbm", "note", "inspector", "date"):
            template[column] = ""
        template.to_csv(tmp / "results_template.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
        (tmp / "sample_form.html").write_text(render_form(sample, frame), encoding="utf-8")
        write_manifest(tmp, sample.workspace, "sample-check", sample.parameters(),
                       extra={"population_sha256": sample.population_sha256, "population_size": len(sample.population)})
    return outdir


def render_form(sample: Sample, frame) -> str:
    """A printable field form: per county the lots' plans, then one line per parcel to fill in."""
    ws = sample.workspace
    names = sample.names or {}
    out = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(ws.city_name)} {sample.year} 年实地抽查表</title>",
           "<style>body{font-family:sans-serif;font-size:11pt}table{border-collapse:collapse;width:100%;margin-bottom:1em}"
           "td,th{border:1px solid #444;padding:2px 4px}h2{page-break-before:always}h2:first-of-type{page-break-before:auto}"
           "td.blank{width:7em}</style>",
           f"<h1>{html.escape(ws.city_name)} {sample.year} 年度耕地保护实地抽查表</h1>",
           f"<p>随机种子 {sample.seed}；抽样总体（{len(sample.population)} 个图斑）SHA-256 "
           f"<code>{sample.population_sha256}</code>；按 ISO 2859-1 一次抽样、正常检验、一般检验水平 II，"
           f"AQL = {sample.aql:g}%。不合格数 ≤ Ac 为该批合格，≥ Re 为不合格。</p>"]
    for code, part in frame.groupby("xzqdm", sort=True):
        plans = sample.plans[sample.plans["xzqdm"] == code]
        out.append(f"<h2>{html.escape(str(code))} {html.escape(names.get(code, ''))}</h2><table><tr><th>层</th><th>批量 N</th>"
                   "<th>字码</th><th>样本量 n</th><th>Ac</th><th>Re</th></tr>")
        for p in plans.itertuples(index=False):
            out.append(f"<tr><td>{STRATUM_LABELS[p.stratum]}</td><td>{p.lot_size}</td><td>{p.code_letter}</td>"
                       f"<td>{p.sample_size}</td><td>{p.accept}</td><td>{p.reject}</td></tr>")
        out.append("</table><table><tr><th>序号</th><th>层</th><th>图斑标识码</th><th>地类</th><th>面积 m²</th>"
                   "<th>位置（经度, 纬度）</th><th>核查内容</th><th>合格</th><th>实地地类</th><th>备注</th></tr>")
        for r in part.itertuples(index=False):
            out.append(f"<tr><td>{r.seq}</td><td>{html.escape(r.stratum_label)}</td><td>{html.escape(r.BSM)}</td>"
                       f"<td>{html.escape(r.DLBM)} {html.escape(str(r.DLMC))}</td><td>{r.TBMJ:,.2f}</td>"
                       f"<td>{r.lon:.6f}, {r.lat:.6f}</td><td>{html.escape(r.verify)}</td>"
                       "<td class='blank'></td><td class='blank'></td><td class='blank'></td></tr>")
        out.append("</table><p>核查人：__________ 日期：__________</p>")
    return "\n".join(out) + "\n"


def field_results(sample_dir: str | os.PathLike, results: str | os.PathLike | pd.DataFrame,
                  *, checklist_item: str = "动态监测"):
    """Inspectors' results → findings and checklist rows for the scoring's data-quality item.

    Parameters
    ----------
    sample_dir : path
        The folder ``sample-check`` wrote (its plan and sample are read from there).
    results : path or DataFrame
        ``results_template.csv`` filled in: ``conforming`` is 是/否 (or yes/no, 1/0) per parcel;
        ``observed_dlbm`` and ``note`` say what was found.
    checklist_item : str
        The CHECKLIST item the share of accepted lots feeds (default 动态监测).

    Returns
    -------
    findings : DataFrame
        ``field.nonconforming`` per parcel found wrong, ``field.lot_rejected`` per lot whose
        nonconforming count reaches Re.
    checklist : DataFrame
        xzqdm, year, item, fraction (accepted lots ÷ lots inspected), evidence — rows to append
        to the CHECKLIST table.
    """
    import json

    from .findings import finding_rows

    sample_dir = Path(sample_dir)
    manifest = json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))
    year = int(manifest["parameters"]["year"])
    plans = pd.read_csv(sample_dir / "sample_plan.csv", dtype={"xzqdm": str})
    table = results if isinstance(results, pd.DataFrame) else pd.read_csv(results, dtype=str, keep_default_na=False)
    table = table.copy()
    answer = table["conforming"].astype(str).str.strip().str.lower()
    yes, no = answer.isin(["是", "yes", "y", "1", "true", "合格"]), answer.isin(["否", "no", "n", "0", "false", "不合格"])
    if not (yes | no).all():
        bad = table.loc[~(yes | no), "BSM"].astype(str).tolist()[:5]
        raise WorkspaceError(f"results: conforming must be 是 or 否 for every inspected parcel (not for {', '.join(bad)}).")
    table["nonconforming"] = no.to_numpy()
    bad = table[table["nonconforming"]]
    parts = []
    if len(bad):
        parts.append(finding_rows(
            "field.nonconforming", year, bad["xzqdm"].to_numpy(dtype=object), "DLTB:" + bad["BSM"].astype(str).to_numpy(dtype=object),
            measure_unit="", explanation="实地抽查（" + bad["stratum"].map(STRATUM_LABELS).fillna("").to_numpy(dtype=object)
            + "）：登记地类 " + bad["DLBM"].astype(str).to_numpy(dtype=object) + "，实地为 "
            + bad.get("observed_dlbm", pd.Series("", index=bad.index)).astype(str).to_numpy(dtype=object) + "。"
            + bad.get("note", pd.Series("", index=bad.index)).astype(str).to_numpy(dtype=object)))
    counts = table.groupby(["xzqdm", "stratum"])["nonconforming"].agg(["sum", "size"]).reset_index()
    lots = plans.merge(counts, on=["xzqdm", "stratum"], how="inner")
    lots["rejected"] = lots["sum"] >= lots["reject"]
    rejected = lots[lots["rejected"]]
    if len(rejected):
        parts.append(finding_rows(
            "field.lot_rejected", year, rejected["xzqdm"].to_numpy(dtype=object),
            "LOT:" + rejected["stratum"].to_numpy(dtype=object), value=rejected["sum"].to_numpy(),
            reference=rejected["accept"].to_numpy(),
            explanation=rejected["stratum"].map(STRATUM_LABELS).to_numpy(dtype=object) + "批（N = "
            + rejected["lot_size"].astype(str).to_numpy(dtype=object) + "，n = " + rejected["sample_size"].astype(str).to_numpy(dtype=object)
            + "）抽查不合格 " + rejected["sum"].astype(int).astype(str).to_numpy(dtype=object) + " 个，达到拒收数 Re = "
            + rejected["reject"].astype(str).to_numpy(dtype=object) + "，该批判为不合格。"))
    findings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    share = lots.groupby("xzqdm")["rejected"].agg(lambda r: 1.0 - r.mean()).rename("fraction").reset_index()
    share.insert(1, "year", year)
    share.insert(2, "item", checklist_item)
    share["evidence"] = f"实地抽查 {year}（种子 {manifest['parameters']['seed']}）"
    return findings, share
