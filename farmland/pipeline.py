"""The whole assessment in one pass: load → validate → metrics → scoring → reports.

Each CLI command is a few lines over one function here; notebooks call the same functions.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import LayerError, WorkspaceError
from .load import LayerStore
from .metrics import MetricsResult, compute_metrics
from .output import atomic_path, write_csv, write_excel
from .report import Report
from .scoring import ScoreResult, annotated_trail, explain_unit, find_triggers, load_rules, score
from .scoring.explain import unit_rows
from .workspace import Workspace

Progress = Callable[[str], None] | None


def load_workspace(workspace: str | os.PathLike | Workspace) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else Workspace.load(workspace)


def _span_years(ws: Workspace, phase: str, year: int | None) -> list[int]:
    """Data years to compute for a phase: one year (annual) or the period up to ``year``."""
    if phase == "annual":
        if year is None:
            raise WorkspaceError("the annual phase needs a data year (--year).")
        if year not in ws.period.data_years:
            raise WorkspaceError(
                f"--year {year} is outside the workspace's years {ws.period.base_year}–{ws.period.end}; "
                "pick a year of the [period] in farmland.toml."
            )
        return [year]
    covered = ws.period.covered_years(phase)
    last = covered[-1] if year is None else year
    if year is not None and not covered[0] <= year <= covered[-1]:
        raise WorkspaceError(
            f"--year {year} is outside the {phase} span {covered[0]}–{covered[-1]}; omit --year to assess "
            "the whole span."
        )
    return [y for y in covered if y <= last]


def _scored_years(ws: Workspace, phase: str, year: int | None) -> list[int]:
    """:func:`_span_years` for scoring: the base year is the period's starting snapshot, never assessed."""
    if phase == "annual" and year == ws.period.base_year:
        raise WorkspaceError(
            f"--year {year} is the base year, the snapshot the period {ws.period.start}–{ws.period.end} starts "
            f"from; it is not assessed. Score a year of {ws.period.start}–{ws.period.end}."
        )
    return _span_years(ws, phase, year)


def _store(ws: Workspace, store: LayerStore | None) -> LayerStore:
    if store is not None and store.ws is not ws and store.ws.file != ws.file:
        raise ValueError(f"the layer store given reads {store.ws.file}, not the workspace {ws.file}; pass "
                         "LayerStore(ws) built for this workspace, or no store.")
    return store if store is not None else LayerStore(ws)


def _validated(ws: Workspace, report: Report | None, progress: Progress, *, nothing: str,
               store: LayerStore | None = None) -> None:
    """Run the checks of ``farmland validate``; refuse with its report when there are errors.

    Every command computes only from data that pass the same checks; pass the run's ``store``
    so the later stages reuse what validation read. Warnings go into ``report``.
    """
    from .validate import render_report, validate_workspace

    checked = validate_workspace(ws, progress=progress, store=store)
    if not checked.ok:
        errors = render_report(Report(strict=False, findings=checked.errors), ws.root)
        raise LayerError(f"the workspace has errors; nothing was {nothing}.\n{errors}")
    if report is not None:
        report.findings.extend(checked.findings)


def run_metrics(workspace, *, year: int | None, level: str = "county", phase: str = "annual",
                report: Report | None = None, progress: Progress = None,
                store: LayerStore | None = None) -> pd.DataFrame:
    """The contract's ``farmland metrics`` table: one row per unit (and a city-total row).

    ``store``: the :class:`~farmland.load.LayerStore` to read through (default: a new one with
    the disk cache; ``LayerStore(ws, cache=None)`` parses every file).
    """
    ws = load_workspace(workspace)
    years = _span_years(ws, phase, year)
    store = _store(ws, store)
    _validated(ws, report, progress, nothing="computed", store=store)
    result = compute_metrics(ws, years, level=level, phases=(phase,), report=report, progress=progress,
                             store=store)
    if report is not None:
        report.findings = list(dict.fromkeys(report.findings))
    wide = result.wide(level=("county", "city") if level == "county" else level, phase=phase)
    if phase == "annual":
        wide = wide[wide["year"] == year]
    return wide.reset_index(drop=True)


@dataclass
class Assessment:
    """Everything one run produced: metrics, scores per phase and year, and the findings."""

    workspace: Workspace
    metrics: MetricsResult
    annual: dict[int, ScoreResult] = field(default_factory=dict)
    midterm: ScoreResult | None = None
    final: ScoreResult | None = None
    report: Report | None = None
    townships: dict[str, ScoreResult] = field(default_factory=dict)  # 第十九条, labelled as results()
    audit: object = None
    """The audit of the period's last year (``farmland.audit.AuditResult``), written to ``audit_<year>/``."""
    parameters: dict = field(default_factory=dict)
    store: LayerStore | None = field(default=None, repr=False)
    """The layers the run read; the reports draw their maps and lists from it. Set it to ``None``
    to free their memory (the reports then read what they need again)."""

    def results(self, level: str = "county") -> list[tuple[str, ScoreResult]]:
        """(label, result) for every scored phase, in calendar order (``level="township"``: 第十九条)."""
        if level == "township":
            return list(self.townships.items())
        out = [(f"annual_{y}", r) for y, r in sorted(self.annual.items())]
        if self.midterm is not None:
            out.append(("midterm", self.midterm))
        if self.final is not None:
            out.append(("final", self.final))
        return out

    def card(self, code: str, check: str = "final"):
        """Unit ``code``'s scorecard of ``check``, shown inline in a notebook (:func:`farmland.reports.unit_card`)."""
        from .reports import unit_card

        return unit_card(self, code, check)

    def explore(self, code: str, check: str = "final", **options):
        """An interactive map of the evidence behind unit ``code``'s score (:func:`farmland.reports.explore`;
        needs ``pip install 'farmland[explore]'``)."""
        from .reports import explore

        return explore(self, code, check, **options)


def _rules_for(phase: str, rules_dir: str | os.PathLike | None):
    """The rule set of ``phase``: ``<rules_dir>/<phase>.toml`` when present, else the shipped one."""
    custom = Path(rules_dir) / f"{phase}.toml" if rules_dir else None
    return load_rules(custom if custom is not None and custom.exists() else None, phase=phase)


def score_workspace(workspace, *, phase: str, year: int | None = None, rules: str | os.PathLike | None = None,
                    rules_dir: str | os.PathLike | None = None, level: str = "county",
                    report: Report | None = None, progress: Progress = None,
                    metrics: MetricsResult | None = None,
                    store: LayerStore | None = None) -> tuple[ScoreResult, MetricsResult]:
    """Score one phase. The final phase folds in the annual and mid-term results (第九、十二条).

    Parameters
    ----------
    rules : path, optional
        A rule-set TOML for this phase; default: ``<rules_dir>/<phase>.toml`` or the shipped one.
    rules_dir : path, optional
        A folder of ``annual.toml``, ``midterm.toml``, ``final.toml``: a custom final folds in
        results scored with the custom annual and mid-term rules (a file absent → shipped one).
    level : {"county", "township"}
        第十九条: a county assesses its townships with the same rule sets.
    metrics : MetricsResult, optional
        Already computed metrics covering the phase (and, for final, the annual years and the
        mid-term), to avoid reading the data twice.
    store : farmland.load.LayerStore, optional
        The layer store to read through (default: a new one with the disk cache).
    """
    ws = load_workspace(workspace)
    report = report if report is not None else Report(strict=True)
    rule_set = load_rules(rules, phase=phase) if rules is not None else _rules_for(phase, rules_dir)
    years = _scored_years(ws, phase, year)
    needs_fold = phase == "final" and rule_set.fold is not None
    if metrics is None:
        # The annual rows of every covered year carry the calendar-year triggers (34号 四(三)).
        phases = ("annual", "midterm", "final") if needs_fold else tuple(dict.fromkeys(("annual", phase)))
        all_years = sorted(set(years) | (set(ws.period.years) if needs_fold else set()))
        levels = ("county",) if level == "county" else (level,)
        store = _store(ws, store)
        _validated(ws, report, progress, nothing="scored", store=store)
        metrics = compute_metrics(ws, all_years, level=levels, phases=phases, report=report,
                                  progress=progress, store=store)
        report.findings = list(dict.fromkeys(report.findings))
    folded = None
    if needs_fold:
        annual = [_score_phase(ws, metrics, "annual", y, _rules_for("annual", rules_dir), level=level)
                  for y in ws.period.years if y <= years[-1]]
        midterm = _score_phase(ws, metrics, "midterm", ws.period.midterm_years[-1],
                               _rules_for("midterm", rules_dir), level=level)
        folded = {"annual": annual, "midterm": midterm}
    result = _score_phase(ws, metrics, phase, years[-1], rule_set, folded=folded, level=level)
    return result, metrics


def _score_phase(ws: Workspace, metrics: MetricsResult, phase: str, year: int, rule_set, *, folded=None,
                 level: str = "county") -> ScoreResult:
    wide, evidence = metrics.for_scoring(phase, year, level=level)
    span = [y for y in ws.period.covered_years(phase, year) if y <= year] if phase != "annual" else [year]
    annual = metrics.wide(level=level, phase="annual", years=span)
    triggers = find_triggers(annual, span, basis=rule_set.basis,
                             evidence=lambda code, metric, y: metrics.evidence(code, metric, "annual", y))
    return score(wide, rule_set, year=year, evidence=evidence, folded=folded, triggers=triggers, level=level)


def assess(workspace, *, progress: Progress = None, rules_dir: str | os.PathLike | None = None,
           store: LayerStore | None = None, client=None, by_county: bool = False) -> Assessment:
    """Validate, compute every metric for every year and level, and score all three phases.

    Validation errors stop the run (a score on broken data would be wrong without saying so);
    warnings are kept in ``Assessment.report``.

    Parameters
    ----------
    rules_dir : path, optional
        A folder with ``annual.toml``, ``midterm.toml`` and ``final.toml`` replacing the shipped
        rule sets (any of them may be absent).
    store : farmland.load.LayerStore, optional
        The layer store every stage reads through (default: a new one with the disk cache). It
        stays on the result (``Assessment.store``) for the reports' maps and lists.
    client : distributed.Client, optional
        Validate and compute the metrics county by county on this Dask cluster
        (:mod:`farmland.distributed`, docs/scale.md); the scores are the same. The audit is not run.
    by_county : bool
        Validate and compute the metrics one county at a time, each in a child process that
        holds one layer-year at a time, so that a city too large for the machine's memory can be
        assessed (docs/scale.md); the scores are the same. The audit is not run. Needs the
        workspace's layout of ``--workers`` (a folder per county).
    """
    ws = load_workspace(workspace)
    say = progress or (lambda message: None)
    say("validate")
    store = _store(ws, store)
    if client is not None or by_county:
        from .distributed import validated_metrics

        if client is not None and by_county:
            raise ValueError("pass a Dask client or by_county=True, not both.")
        report = Report(strict=True)
        metrics = validated_metrics(ws, client, report=report, progress=progress, store=store)
        assessment = _scored(ws, metrics, report, None, rules_dir, say, store)
        if by_county:  # the reports read one county's parcels at a time too
            assessment.parameters["by_county"] = True
        return assessment
    # Validation, metrics, audit and reports read the same layers: through one store, once.
    report = Report(strict=True)
    _validated(ws, report, progress, nothing="assessed", store=store)
    from .audit import audit_workspace
    from .parallel import alongside

    validated = len(report.findings)
    # The metrics and the audit both read only the validated layers: with a second core the
    # metrics are computed in a forked child while the audit runs here (farmland.parallel).
    with alongside(_all_metrics, ws, report, progress, store) as computing:
        computed = functools.cache(lambda: _taken_over(computing, report, store, validated))
        say("audit")
        audited = audit_workspace(ws, ws.period.end, metrics=computed, validate=False, report=report,
                                  progress=progress, store=store)
        metrics = computed()
    # A layer the metrics needed in a form validation did not read (rare) reports its findings again.
    report.findings = list(dict.fromkeys(report.findings))
    return _scored(ws, metrics, report, audited, rules_dir, say, store)


def _all_metrics(ws: Workspace, report: Report, progress: Progress, store: LayerStore):
    """Every metric of ``assess``, with the findings and the store's record of files it added."""
    before = len(report.findings)
    metrics = compute_metrics(ws, ws.period.data_years, level=("county", "township", "city"),
                              phases=("annual", "midterm", "final"), report=report, progress=progress,
                              store=store)
    return metrics, report.findings[before:], store.record()


def _taken_over(computing, report: Report, store: LayerStore, position: int) -> MetricsResult:
    """The metrics of :func:`_all_metrics`, their findings placed where a serial run puts them
    (call once)."""
    metrics, findings, record = computing.result()
    if computing.forked:  # in this process they went into the report and the store already
        report.findings[position:position] = findings
        store.add_record(record)
    return metrics


def _scored(ws: Workspace, metrics: MetricsResult, report: Report, audited, rules_dir, say,
            store: LayerStore) -> Assessment:
    """Score every phase of both levels from computed metrics (ranking needs every county)."""
    say("score")
    annual, midterm, final = _score_all(ws, metrics, rules_dir, "county")
    assessment = Assessment(ws, metrics, annual, midterm, final, report, audit=audited,
                            parameters={"rules_dir": str(Path(rules_dir).resolve()) if rules_dir else None},
                            store=store)
    if not metrics.wide(level="township", phase="annual").empty:
        annual, midterm, final = _score_all(ws, metrics, rules_dir, "township")
        assessment.townships = {f"annual_{y}": r for y, r in annual.items()} | {"midterm": midterm, "final": final}
    return assessment


def _score_all(ws: Workspace, metrics: MetricsResult, rules_dir, level: str):
    """Every annual self-check, the mid-term and the final (folding the others in) of one level."""
    annual = {y: _score_phase(ws, metrics, "annual", y, _rules_for("annual", rules_dir), level=level)
              for y in ws.period.years}
    midterm = _score_phase(ws, metrics, "midterm", ws.period.midterm_years[-1], _rules_for("midterm", rules_dir),
                           level=level)
    final_rules = _rules_for("final", rules_dir)
    folded = {"annual": list(annual.values()), "midterm": midterm} if final_rules.fold is not None else None
    final = _score_phase(ws, metrics, "final", ws.period.end, final_rules, folded=folded, level=level)
    return annual, midterm, final


# -- writing ------------------------------------------------------------------------------------


def flatten_for_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Tuples and dicts (evidence, inputs) as stable text, for CSV and Excel."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            sample = frame[column].dropna()
            if len(sample) and isinstance(sample.iloc[0], (tuple, list)):
                frame[column] = frame[column].map(lambda v: "; ".join(map(str, v)) if v is not None else "")
            elif len(sample) and isinstance(sample.iloc[0], dict):
                frame[column] = frame[column].map(
                    lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True) if v is not None else "")
    return frame


def write_assessment(assessment: Assessment, outdir: str | os.PathLike, *, overwrite: bool = False,
                     pdf: bool | None = None, report_progress=None, notice=None) -> Path:
    """Write every output of a run into ``outdir`` atomically (a new folder replaces the old one).

    Layout: ``metrics.csv`` (tidy, with evidence ids), ``metrics.xlsx`` (wide, one sheet per
    level and phase, Chinese headers), ``scores_<phase>.csv`` and ``scores.xlsx``, ``trail_<phase>.csv``
    (every point with rule, clause, values and evidence), ``scorecards/<phase>/<xzqdm>.html`` (and
    ``.pdf``) with an ``index`` city summary, ``explain/<phase>/<xzqdm>.txt``, ``validation.txt``
    and ``manifest.json`` (SHA-256 of every input, rule set and output; software versions).
    The report products are :func:`farmland.reports.write_reports`'s: ``pdf`` (None: when
    Chromium is installed), ``report_progress(label, done, total)`` and ``notice(text)`` go to it.
    """
    from .reports import write_reports

    outdir = Path(outdir)
    with atomic_path(outdir, overwrite=overwrite, folder=True, inputs=input_paths(assessment.workspace)) as tmp:
        tmp.mkdir()
        # The tables are written while the pages are (by a forked child, with a second core).
        write_reports(assessment, tmp, pdf=pdf, progress=report_progress, notice=notice,
                      beside=functools.partial(_write_tables, assessment, tmp))
        _write_manifest(assessment, tmp)
    return outdir


def _write_tables(assessment: Assessment, folder: Path) -> None:
    """The tables of :func:`write_assessment`, the explanations, the validation report and the
    audit's findings."""
    from .labels import COLUMN_LABELS
    from .validate import render_report

    ws = assessment.workspace
    table = flatten_for_text(assessment.metrics.table)
    write_csv(table, folder / "metrics.csv")
    sheets = {}
    for level in ("county", "township", "city"):
        for phase in ("annual", "midterm", "final"):
            wide = assessment.metrics.wide(level=level, phase=phase)
            if len(wide):
                sheets[f"{level}_{phase}"] = flatten_for_text(wide)
    write_excel(sheets, folder / "metrics.xlsx", headers=COLUMN_LABELS)
    score_sheets = {}
    results = [(name, name, result) for name, result in assessment.results()]
    results += [(f"township_{name}", f"township/{name}", result)
                for name, result in assessment.results("township")]
    for name, subfolder, result in results:
        trail = annotated_trail(result)
        rows = unit_rows(trail)
        write_csv(flatten_for_text(result.table), folder / f"scores_{name}.csv")
        write_csv(flatten_for_text(trail), folder / f"trail_{name}.csv")
        if result.level == "county":
            score_sheets[name] = flatten_for_text(result.table)
        notes = folder / "explain" / subfolder
        notes.mkdir(parents=True)
        for code in result.table["xzqdm"]:
            (notes / f"{_safe_name(code)}.txt").write_text(explain_unit(result, code, rows.get(code, [])) + "\n",
                                                           encoding="utf-8")
    write_excel(score_sheets, folder / "scores.xlsx", headers=COLUMN_LABELS)
    write_csv(flatten_for_text(all_triggers(assessment)), folder / "triggers.csv")
    if assessment.report is not None:
        (folder / "validation.txt").write_text(render_report(assessment.report, ws.root) + "\n", encoding="utf-8")
    if assessment.audit is not None:
        from .audit import write_findings

        (folder / f"audit_{assessment.audit.year}").mkdir()
        write_findings(assessment.audit, folder / f"audit_{assessment.audit.year}")


def all_triggers(assessment: Assessment) -> pd.DataFrame:
    """Every phase's 34号 四(三) triggers and review findings, one row each (``triggers.csv``).

    They feed the comprehensive assessment (经济社会发展综合考核) and are never farmland points.
    """
    from .scoring.explain import trigger_text

    frames = []
    for name, result in [*assessment.results(), *assessment.results("township")]:
        t = result.triggers.copy()
        if t.empty:
            continue
        names = dict(zip(result.table["xzqdm"], result.table["xzqmc"], strict=True))
        t.insert(0, "assessment", name)
        t.insert(1, "level", result.level)
        t.insert(3, "xzqmc", t["xzqdm"].map(names))
        t["text"] = [trigger_text(c, y, d) for c, y, d in zip(t["code"], t["year"], t["details"], strict=True)]
        frames.append(t)
    columns = ["assessment", "level", "xzqdm", "xzqmc", "kind", "code", "year", "label", "text", "evidence", "details"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _safe_name(code: str) -> str:
    # Unit codes come from input data: keep them from naming paths outside the folder.
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(code)) or "_"


def input_paths(ws: Workspace, *extra) -> list[Path]:
    """What an output must keep clear of: the workspace folder, every file it reads, ``extra``."""
    return [ws.root, *_input_files(ws), *(Path(p) for p in extra if p is not None)]


def _input_files(ws: Workspace) -> list[Path]:
    """Every file a run reads: the workspace file, the target tables, and each layer's files of
    every year (a Shapefile with its sidecars, a FileGDB folder's files)."""
    from .layers import layer_exists
    from .load.cache import content_files

    found = {ws.file}
    for table in (ws.targets_path, ws.townships_path, ws.adjustments_path):
        if table is not None and table.exists():
            found.add(table)
    for name, source in ws.layers.items():
        for year in ws.period.data_years if source.per_year else [None]:
            if layer_exists(ws, name, year):
                for path in ws.paths(name, year):
                    found.update(content_files(path))
    return sorted(found)


def _write_manifest(assessment: Assessment, folder: Path) -> None:
    """``manifest.json`` as every command writes it, plus the SHA-256 of each rule set used."""
    from .audit.manifest import write_manifest

    rules = {name: result.rules.sha256 for name, result in assessment.results()}
    write_manifest(folder, assessment.workspace, "assess", assessment.parameters,
                   extra={"rule_sets_sha256": rules}, store=assessment.store)

